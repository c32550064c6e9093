//! The workflow compiler: a natural-language prompt becomes the script the agent follows, stored and
//! reusable. This file holds the workflow model and the built-in deterministic compiler (no model);
//! an LLM can produce the same model as structured output (`llm::compile_workflow`), checked by
//! [`Workflow::validate`]. The AI disclosure opens every workflow and is not optional.

use serde::{Deserialize, Serialize};

/// Why a prompt cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The prompt is empty or whitespace.
    #[error("the prompt is empty")]
    Empty,
    /// The prompt is longer than the limit.
    #[error("the prompt is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// No goal or question could be found: the agent would not know what to ask.
    #[error(
        "the prompt has no question to ask or goal to pursue (say what to ask, e.g. \"Ask if they can attend on Tuesday\")"
    )]
    TooVague,
    /// A workflow (e.g. from an LLM) breaks a rule.
    #[error("invalid workflow: {0}")]
    Invalid(&'static str),
}

/// The most characters a prompt may have.
pub const MAX_PROMPT_CHARS: usize = 8_000;

/// The disclosure every call starts with (the organization, if any, follows it).
pub const DISCLOSURE: &str = "Hello, this is an AI assistant";

/// What kind of answer a field takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    /// Yes or no.
    YesNo,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A number.
    Number,
    /// Digits (account numbers, codes).
    Digits,
    /// One of the offered options.
    Choice {
        /// The options, as said to the caller.
        options: Vec<String>,
    },
    /// Free text.
    Text,
}

/// A value the agent collects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Key in `form_fills`.
    pub name: String,
    /// Kind of answer.
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// When a step applies: a field collected earlier has a given value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The field.
    pub field: String,
    /// The value it must have.
    pub equals: serde_json::Value,
}

/// One question of the script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the agent asks.
    pub question: String,
    /// What it collects from the answer.
    pub field: Field,
    /// Only asked when this holds (a branch); always asked when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
}

/// What the agent does on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// The prompt as given.
    pub prompt: String,
    /// Who the call is made for, if the prompt says.
    pub organization: Option<String>,
    /// The goal in one sentence, for summaries and the LLM.
    pub goal: String,
    /// The first words: the AI disclosure.
    pub opening: String,
    /// The questions, in order.
    pub steps: Vec<Step>,
    /// Said before hanging up.
    pub closing: String,
    /// Left after the beep when a machine answers.
    pub voicemail_message: String,
    /// Longest the call may last once answered.
    pub max_duration_secs: u32,
    /// What to look for in phone menus ("billing"), if the prompt asks to navigate one.
    pub ivr_target: Option<String>,
    /// Hand the call to a human (the call's bridge number) when the callee asks for one.
    pub transfer_on_request: bool,
}

impl Workflow {
    /// The same workflow for answering calls rather than placing them: the opening says whom the
    /// agent answers for ("Hello, this is an AI assistant for Bright Dental."), not that it calls.
    pub fn answering(mut self) -> Self {
        self.opening = match &self.organization {
            Some(org) => format!("{DISCLOSURE} for {org}."),
            None => format!("{DISCLOSURE}."),
        };
        self
    }

    /// Checks the rules every workflow must follow (LLM output goes through this too).
    pub fn validate(&self) -> Result<(), WorkflowError> {
        if !self.opening.starts_with(DISCLOSURE) {
            return Err(WorkflowError::Invalid(
                "the opening must start with the AI disclosure",
            ));
        }
        if self.steps.is_empty() && self.ivr_target.is_none() {
            return Err(WorkflowError::TooVague);
        }
        let mut names = std::collections::HashSet::new();
        for step in &self.steps {
            if step.question.trim().is_empty() {
                return Err(WorkflowError::Invalid("a step has no question"));
            }
            if !names.insert(step.field.name.as_str()) {
                return Err(WorkflowError::Invalid("two steps collect the same field"));
            }
            if let FieldKind::Choice { options } = &step.field.kind
                && options.len() < 2
            {
                return Err(WorkflowError::Invalid("a choice needs at least two options"));
            }
        }
        if !(10..=7200).contains(&self.max_duration_secs) {
            return Err(WorkflowError::Invalid(
                "max_duration_secs must be between 10 and 7200",
            ));
        }
        Ok(())
    }
}

/// Default longest call.
const DEFAULT_MAX_DURATION_SECS: u32 = 600;

/// Compiles a prompt with the deterministic compiler.
pub fn compile(prompt: &str) -> Result<Workflow, WorkflowError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(WorkflowError::Empty);
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(WorkflowError::TooLong {
            max: MAX_PROMPT_CHARS,
        });
    }
    let sentences = sentences(prompt);
    let organization = sentences.iter().find_map(|s| organization(s));
    let mut steps: Vec<Step> = Vec::new();
    let mut voicemail = None;
    let mut ivr_target = None;
    let mut transfer_on_request = false;
    let mut max_duration_secs = DEFAULT_MAX_DURATION_SECS;
    let mut goal = None;
    for sentence in &sentences {
        let lower = sentence.to_lowercase();
        if let Some(secs) = duration_limit(&lower) {
            max_duration_secs = secs;
            continue;
        }
        if let Some(target) = menu_target(sentence) {
            ivr_target = Some(target);
            continue;
        }
        if let Some(rest) = strip_prefix_ci(sentence, "if ") {
            let (condition, consequence) = split_condition(rest);
            let condition_lower = condition.to_lowercase();
            if [
                "voicemail",
                "answering machine",
                "machine",
                "no one answers",
                "nobody answers",
            ]
            .iter()
            .any(|k| condition_lower.contains(k))
            {
                voicemail = voicemail_text(consequence).or(voicemail);
                continue;
            }
            if ["human", "person", "real person", "representative", "someone"]
                .iter()
                .any(|k| condition_lower.contains(k))
                && ["transfer", "connect", "bridge", "put them through"]
                    .iter()
                    .any(|k| consequence.to_lowercase().contains(k))
            {
                transfer_on_request = true;
                continue;
            }
            let Some(step) = step_from(consequence, &steps) else {
                continue;
            };
            let when = branch_condition(&condition_lower, &steps);
            steps.push(Step { when, ..step });
            continue;
        }
        if let Some(step) = step_from(sentence, &steps) {
            steps.push(step);
        } else if goal.is_none() && !sentence.ends_with('?') {
            goal = Some(sentence.to_string());
        }
    }
    if steps.is_empty() && ivr_target.is_none() {
        return Err(WorkflowError::TooVague);
    }
    let org_part = organization
        .as_ref()
        .map(|o| format!(" calling on behalf of {o}"))
        .unwrap_or_else(|| " calling".into());
    let goal = goal.unwrap_or_else(|| steps.first().map(|s| s.question.clone()).unwrap_or_default());
    let voicemail_message = voicemail.unwrap_or_else(|| {
        format!("{DISCLOSURE}{org_part}. Please call us back at your convenience. Thank you, goodbye.")
    });
    let workflow = Workflow {
        prompt: prompt.to_owned(),
        opening: format!("{DISCLOSURE}{org_part}."),
        organization,
        goal,
        steps,
        closing: "Thank you for your time. Goodbye!".to_owned(),
        voicemail_message,
        max_duration_secs,
        ivr_target,
        transfer_on_request,
    };
    workflow.validate()?;
    Ok(workflow)
}

/// Splits at `.`, `?` and `!` followed by whitespace, keeping the terminator.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ends =
            matches!(b, b'.' | b'?' | b'!') && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
        // "3 p.m. on Tuesday": a period after a single letter is an abbreviation, not an end.
        let abbreviation = *b == b'.' && i >= 2 && bytes[i - 2] == b'.';
        if ends && !abbreviation {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &s[prefix.len()..])
}

/// "on behalf of Bright Dental", "calling from Acme Corp", "for Bright Dental" (capitalized words).
fn organization(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    for marker in [
        "on behalf of ",
        "calling from ",
        "calling for ",
        "calls for ",
        "answering for ",
        "you work for ",
        "you represent ",
    ] {
        if let Some(at) = lower.find(marker) {
            let rest = &sentence[at + marker.len()..];
            let name: Vec<&str> = rest
                .split_whitespace()
                .take_while(|w| {
                    w.chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                        || *w == "&"
                })
                .collect();
            let name = name.join(" ").trim_end_matches(['.', ',', '!', '?']).to_owned();
            if !name.is_empty() {
                return Some(name);
            }
        }
    }
    None
}

/// "keep the call under 2 minutes", "no longer than 90 seconds".
fn duration_limit(lower: &str) -> Option<u32> {
    if ![
        "under",
        "less than",
        "no longer than",
        "at most",
        "maximum",
        "max",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        return None;
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let n = crate::extract::number(w[0])?;
        let unit = w[1].trim_end_matches(['.', ',']);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small positive durations
        let n = n as u32;
        match unit {
            "minute" | "minutes" | "min" | "mins" => Some(n * 60),
            "second" | "seconds" | "secs" => Some(n),
            _ => None,
        }
    })
}

/// "Navigate the menu to billing", "press the option for billing", "choose billing in the menu".
fn menu_target(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    if !["menu", "ivr", "press", "option"]
        .iter()
        .any(|k| lower.contains(k))
    {
        return None;
    }
    for marker in [" to the ", " for the ", " to ", " for ", " choose ", " select "] {
        if let Some(at) = lower.rfind(marker) {
            let target = lower[at + marker.len()..]
                .trim_end_matches(['.', '!', '?'])
                .trim_end_matches(" menu")
                .trim_end_matches(" option")
                .trim_end_matches(" department")
                .trim();
            if !target.is_empty() && target.split_whitespace().count() <= 4 {
                return Some(target.to_owned());
            }
        }
    }
    None
}

/// "If they need to reschedule, offer Monday or Tuesday" -> ("they need to reschedule", "offer ...").
fn split_condition(rest: &str) -> (&str, &str) {
    match rest.split_once(',') {
        Some((c, q)) => (c.trim(), q.trim()),
        None => match rest.to_lowercase().find(" then ") {
            Some(at) => (rest[..at].trim(), rest[at + 6..].trim()),
            None => (rest, ""),
        },
    }
}

/// "leave a message saying X", "say: X", "tell them X".
fn voicemail_text(consequence: &str) -> Option<String> {
    let lower = consequence.to_lowercase();
    for marker in ["saying ", "say ", "that says ", ": ", "message: ", "tell them "] {
        if let Some(at) = lower.find(marker) {
            let text = consequence[at + marker.len()..].trim().trim_matches('"').trim();
            if !text.is_empty() {
                let mut text = text.to_owned();
                if !text.ends_with(['.', '!', '?']) {
                    text.push('.');
                }
                return Some(text);
            }
        }
    }
    None
}

/// The condition of a branch, on the latest yes/no field: "they can't make it" -> false.
fn branch_condition(condition: &str, steps: &[Step]) -> Option<Condition> {
    let field = steps
        .iter()
        .rev()
        .find(|s| s.field.kind == FieldKind::YesNo)?
        .field
        .name
        .clone();
    let negative = [
        "reschedule",
        "can't",
        "cannot",
        "can not",
        "not ",
        "no",
        "decline",
        "unable",
        "won't",
        "busy",
    ]
    .iter()
    .any(|k| condition.contains(k));
    Some(Condition {
        field,
        equals: serde_json::Value::Bool(!negative),
    })
}

/// A step from an instruction ("Ask if ...", "Get their email") or a question sentence.
fn step_from(sentence: &str, existing: &[Step]) -> Option<Step> {
    let question = if sentence.ends_with('?') {
        Some(sentence.trim().to_owned())
    } else {
        question_from_instruction(sentence)
    }?;
    // "Offer Monday or Tuesday": the options are in the instruction, as written.
    let offered = sentence
        .split_whitespace()
        .next()
        .is_some_and(|w| matches!(w.to_lowercase().as_str(), "offer" | "propose" | "suggest"));
    let kind = match offered
        .then(|| options_in(sentence.split_once(' ').map_or("", |(_, r)| r)))
        .flatten()
    {
        Some(options) => FieldKind::Choice { options },
        None => field_kind(&question, sentence),
    };
    let name = field_name(&question, &kind, existing);
    Some(Step {
        question,
        field: Field { name, kind },
        when: None,
    })
}

const LEAD_IN: &[&str] = &[
    "please", "then", "and", "also", "politely", "kindly", "first", "next", "finally", "after", "that",
];

/// Turns "Ask (them) if ...", "Confirm (that) ...", "Get their email", "Offer A or B" into a question
/// addressed to the callee, third-person pronouns swapped for "you".
fn question_from_instruction(sentence: &str) -> Option<String> {
    let words: Vec<&str> = sentence.trim_end_matches(['.', '!']).split_whitespace().collect();
    let lower: Vec<String> = words
        .iter()
        .map(|w| w.trim_end_matches(',').to_lowercase())
        .collect();
    let verb = lower.iter().position(|w| !LEAD_IN.contains(&w.as_str()))?;
    let rest: Vec<String> = words[verb + 1..].iter().map(|w| second_person(w)).collect();
    let rest_lower = rest.join(" ").to_lowercase();
    let object = |w: &str| rest_lower.contains(w);
    match lower[verb].as_str() {
        "get" | "collect" | "obtain" | "request" | "ask" | "find" if object("email") => {
            Some("What is the best email address to reach you?".to_owned())
        }
        "get" | "collect" | "obtain" | "request" | "ask" | "find"
            if object("phone") || object("number to reach") =>
        {
            Some("What is the best phone number to reach you?".to_owned())
        }
        "offer" | "propose" | "suggest" => {
            let options = options_in(&rest.join(" "))?;
            Some(format!("Would {} work better for you?", options.join(" or ")))
        }
        "ask" | "find" | "confirm" | "check" | "verify" => {
            let mut clause: &[String] = &rest;
            // "ask them whether", "ask the patient if", "find out when"
            if lower[verb] == "find" && clause.first().is_some_and(|w| w.eq_ignore_ascii_case("out")) {
                clause = &clause[1..];
            }
            let starts = |w: &str| {
                matches!(
                    w.to_lowercase().as_str(),
                    "if" | "whether"
                        | "what"
                        | "when"
                        | "which"
                        | "how"
                        | "who"
                        | "where"
                        | "why"
                        | "about"
                        | "that"
                        | "for"
                )
            };
            if lower[verb] == "ask" {
                let skip = clause
                    .iter()
                    .position(|w| starts(w))
                    .filter(|p| *p <= 3)
                    .unwrap_or(0);
                clause = &clause[skip..];
            }
            if clause.is_empty() {
                return None;
            }
            let text = clause.join(" ");
            Some(match lower[verb].as_str() {
                "confirm" | "check" | "verify" => {
                    let text = text.strip_prefix("that ").unwrap_or(&text);
                    let text = text
                        .strip_prefix("whether ")
                        .or_else(|| text.strip_prefix("if "))
                        .unwrap_or(text);
                    format!("Can you confirm {text}?")
                }
                _ => match clause.first().map(|w| w.to_lowercase()) {
                    Some(w) if w == "if" || w == "whether" => {
                        yes_no_question(&text).unwrap_or(format!("Could you tell me {text}?"))
                    }
                    Some(w) if w == "for" => format!("Could you give me {}?", clause[1..].join(" ")),
                    _ => format!("Could you tell me {text}?"),
                },
            })
        }
        _ => None,
    }
}

/// "if you can come on Tuesday" -> "Can you come on Tuesday?"
fn yes_no_question(clause: &str) -> Option<String> {
    let mut words = clause.split_whitespace().skip(1);
    let subject = words.next()?;
    let aux = words.next()?;
    const AUX: &[&str] = &[
        "can", "could", "will", "would", "are", "have", "should", "did", "do", "is",
    ];
    if subject != "you" || !AUX.contains(&aux) {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    let mut aux = aux.to_owned();
    if let Some(first) = aux.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    Some(format!("{aux} you {}?", rest.join(" ")))
}

fn second_person(word: &str) -> String {
    let (core, tail) = word.split_at(word.trim_end_matches([',', ';', ':']).len());
    let swapped = match core.to_lowercase().as_str() {
        "they" | "he" | "she" | "them" | "him" => "you",
        "their" | "his" => "your",
        "theirs" => "yours",
        "themselves" | "himself" | "herself" => "yourself",
        "they're" => "you're",
        "they've" => "you've",
        "they'll" => "you'll",
        _ => return word.to_owned(),
    };
    format!("{swapped}{tail}")
}

/// "Monday or Tuesday", "Monday, Tuesday or Wednesday" -> the options.
fn options_in(text: &str) -> Option<Vec<String>> {
    let text = text.trim_end_matches(['.', '?', '!']);
    let (head, last) = text.rsplit_once(" or ")?;
    let head = head.rsplit(" between ").next().unwrap_or(head);
    let head = ["either ", "them ", "you "]
        .iter()
        .fold(head, |h, p| h.strip_prefix(p).unwrap_or(h));
    let mut options: Vec<String> = head
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    options.push(last.trim().to_owned());
    (options.len() >= 2 && options.iter().all(|o| o.split_whitespace().count() <= 4)).then_some(options)
}

fn field_kind(question: &str, instruction: &str) -> FieldKind {
    let q = question.to_lowercase();
    let i = instruction.to_lowercase();
    let has = |k: &str| q.contains(k) || i.contains(k);
    if has("email") {
        return FieldKind::Email;
    }
    if has("phone number") || has("number to reach") || has("callback number") {
        return FieldKind::Phone;
    }
    if let Some(options) = options_in(question).filter(|o| o.len() <= 5) {
        return FieldKind::Choice { options };
    }
    if has("what time") || has("which time") || has("what hour") {
        return FieldKind::Time;
    }
    if has("what date")
        || has("which day")
        || has("what day")
        || has("when is")
        || has("birthday")
        || has("date of")
    {
        return FieldKind::Date;
    }
    if has("how many") || has("how much") || has("number of") || has("how old") {
        return FieldKind::Number;
    }
    if has("account number")
        || has("zip")
        || has("postal code")
        || has(" pin")
        || has("digits")
        || has(" code")
    {
        return FieldKind::Digits;
    }
    // "Could you tell me ..." asks for information, not for a yes.
    let embedded = [
        "could you tell me",
        "can you tell me",
        "could you give me",
        "can you give me",
    ]
    .iter()
    .any(|p| q.starts_with(p));
    let first = q.split_whitespace().next().unwrap_or("");
    const YES_NO: &[&str] = &[
        "can", "could", "will", "would", "do", "does", "did", "is", "are", "have", "has", "should", "may",
        "shall",
    ];
    if YES_NO.contains(&first) && !embedded {
        return FieldKind::YesNo;
    }
    if embedded && (q.contains(" if ") || q.contains(" whether ")) {
        return FieldKind::YesNo;
    }
    FieldKind::Text
}

fn field_name(question: &str, kind: &FieldKind, existing: &[Step]) -> String {
    let base = match kind {
        FieldKind::Email => "email".to_owned(),
        FieldKind::Phone => "phone".to_owned(),
        FieldKind::Date => "date".to_owned(),
        FieldKind::Time => "time".to_owned(),
        FieldKind::YesNo if existing.iter().all(|s| s.field.kind != FieldKind::YesNo) => {
            "confirmed".to_owned()
        }
        FieldKind::Choice { .. } => "choice".to_owned(),
        _ => {
            const STOP: &[&str] = &[
                "can", "could", "you", "your", "tell", "me", "what", "is", "are", "the", "a", "an", "to",
                "of", "if", "do", "does", "would", "will", "confirm", "whether", "how", "many", "much",
                "which", "when", "for", "on", "at", "in", "have", "has", "be", "please", "still", "about",
                "any", "there", "it", "that", "this", "with", "give",
            ];
            let words: Vec<String> = question
                .to_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty() && !STOP.contains(w))
                .take(3)
                .map(str::to_owned)
                .collect();
            if words.is_empty() {
                "answer".to_owned()
            } else {
                words.join("_")
            }
        }
    };
    let taken = |n: &str| existing.iter().any(|s| s.field.name == n);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_appointment_prompt() {
        let w = compile(
            "You are calling on behalf of Bright Dental to confirm an appointment. \
             Ask if they can come to their appointment on Tuesday at 3 PM. \
             If they need to reschedule, offer Monday or Wednesday. \
             Get their email address for the reminder. \
             If you reach voicemail, leave a message saying Bright Dental called about your appointment, please call back.",
        )
        .expect("compiles");
        assert_eq!(w.organization.as_deref(), Some("Bright Dental"));
        assert_eq!(
            w.opening,
            "Hello, this is an AI assistant calling on behalf of Bright Dental."
        );
        assert_eq!(w.steps.len(), 3, "{:#?}", w.steps);
        assert_eq!(
            w.steps[0].question,
            "Can you come to your appointment on Tuesday at 3 PM?"
        );
        assert_eq!(
            w.steps[0].field,
            Field {
                name: "confirmed".into(),
                kind: FieldKind::YesNo
            }
        );
        assert_eq!(
            w.steps[1].question,
            "Would Monday or Wednesday work better for you?"
        );
        assert_eq!(
            w.steps[1].field.kind,
            FieldKind::Choice {
                options: vec!["Monday".into(), "Wednesday".into()]
            }
        );
        assert_eq!(
            w.steps[1].when,
            Some(Condition {
                field: "confirmed".into(),
                equals: false.into()
            })
        );
        assert_eq!(
            w.steps[2].field,
            Field {
                name: "email".into(),
                kind: FieldKind::Email
            }
        );
        assert_eq!(
            w.voicemail_message,
            "Bright Dental called about your appointment, please call back."
        );
        assert_eq!(
            w.goal,
            "You are calling on behalf of Bright Dental to confirm an appointment."
        );
    }

    #[test]
    fn questions_and_instructions() {
        let w = compile("Can you attend on Tuesday at 3 p.m. tomorrow? Find out how many people will come.")
            .expect("compiles");
        assert_eq!(
            w.steps[0].question,
            "Can you attend on Tuesday at 3 p.m. tomorrow?"
        );
        assert_eq!(w.steps[0].field.kind, FieldKind::YesNo);
        assert_eq!(
            w.steps[1].question,
            "Could you tell me how many people will come?"
        );
        assert_eq!(w.steps[1].field.kind, FieldKind::Number);
        let w = compile("Confirm that their order ships on Friday").expect("compiles");
        assert_eq!(w.steps[0].question, "Can you confirm your order ships on Friday?");
        let w = compile("Ask them what time works best for the delivery.").expect("compiles");
        assert_eq!(
            (w.steps[0].question.as_str(), &w.steps[0].field.kind),
            (
                "Could you tell me what time works best for the delivery?",
                &FieldKind::Time
            )
        );
    }

    #[test]
    fn an_answering_agent_says_whom_it_answers_for() {
        let w = compile("You answer calls for Bright Dental. Ask for the caller's name.")
            .expect("compiles")
            .answering();
        assert_eq!(w.organization.as_deref(), Some("Bright Dental"));
        assert_eq!(w.opening, "Hello, this is an AI assistant for Bright Dental.");
        w.validate().expect("still discloses");
        let w = compile("Ask for the caller's name.")
            .expect("compiles")
            .answering();
        assert_eq!(w.opening, "Hello, this is an AI assistant.");
    }

    #[test]
    fn menus_limits_and_transfers() {
        let w = compile(
            "Call the utility company. Navigate the phone menu to billing. Ask whether the late fee can be waived. \
             If they want to speak to a person, transfer them. Keep the call under 3 minutes.",
        )
        .expect("compiles");
        assert_eq!(w.ivr_target.as_deref(), Some("billing"));
        assert!(w.transfer_on_request);
        assert_eq!(w.max_duration_secs, 180);
        assert_eq!(w.steps.len(), 1);
    }

    #[test]
    fn vague_or_empty_prompts_are_refused() {
        assert_eq!(compile("   "), Err(WorkflowError::Empty));
        assert_eq!(compile("Be nice."), Err(WorkflowError::TooVague));
        assert!(matches!(
            compile(&"a".repeat(MAX_PROMPT_CHARS + 1)),
            Err(WorkflowError::TooLong { .. })
        ));
    }

    #[test]
    fn validation_catches_broken_workflows() {
        let mut w = compile("Ask if they can come on Tuesday.").expect("compiles");
        assert_eq!(w.validate(), Ok(()));
        w.opening = "Hi there!".into();
        assert!(matches!(w.validate(), Err(WorkflowError::Invalid(_))));
        let json =
            serde_json::to_value(compile("Offer Monday or Tuesday.").expect("compiles")).expect("serializes");
        assert_eq!(json["steps"][0]["field"]["type"], "choice");
        let back: Workflow = serde_json::from_value(json).expect("round trips");
        assert_eq!(back.steps[0].field.name, "choice");
    }
}
