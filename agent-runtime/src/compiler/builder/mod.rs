//! The compiler's builder: it takes the prompt's sentences one by one, sorts each clause into
//! what it asks for (instructions, conditions, context), and assembles the workflow at the end.
//!
//! The clause readers live in `asks` (questions and fields) and `branches` (conditions and the
//! voicemail); the word lists and phrase helpers they share in `wording`, `conditions` and
//! `directives`.

mod annotations;
mod asks;
mod branches;
mod conditions;
mod directives;
mod notice;
mod wording;

use super::names::greeting_name;
use super::question::{
    self, Ask, ask_for, invert, kind_of, name_of, options_in, options_listed, scale_in, split_list,
    wh_question,
};
use super::text::{
    CONDITION_OPENERS, address_callee, capitalize, clauses, sentence_case, split_trailing_punct, strip_any,
    strip_word, terminate, words,
};
use super::topics;
use crate::workflow::{
    Condition, DISCLOSURE, Fact, Field, FieldKind, Note, Reply, Step, Workflow, WorkflowError,
};
use conditions::*;
use directives::*;
use serde_json::Value;
use wording::*;

/// Default longest call.
const DEFAULT_MAX_DURATION_SECS: u32 = 600;

/// What to do about answering machines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Voicemail {
    /// Nothing said: a short message from the call's content.
    Default,
    /// A message built from the call's content (with a callback number, if given).
    Generated { callback: Option<String> },
    /// This message.
    Exact(String),
    /// Hang up without a message.
    Skip,
}

/// The workflow as it is being built.
pub struct Builder {
    callee: Option<String>,
    organization: Option<String>,
    /// Whether the organization was named as such ("on behalf of X"), not just seen ("at X").
    organization_named: bool,
    steps: Vec<Step>,
    /// A confirmation taken from a purpose ("... to confirm an appointment"), to be replaced by
    /// an explicit question on the same thing.
    implicit: Option<usize>,
    messages: Vec<String>,
    /// An event a reminder is about ("your meeting on Thursday"), for the attendance question.
    reminded_event: Option<String>,
    replies: Vec<Reply>,
    facts: Vec<Fact>,
    notes: Vec<Note>,
    rules: Vec<String>,
    voicemail: Voicemail,
    ivr_target: Option<String>,
    transfer: bool,
    max_duration_secs: Option<u32>,
    closing: Option<String>,
    subject: Option<String>,
    goal: Option<String>,
    /// Whether the last clause's steps were a branch (an "otherwise" follows it).
    last_condition: Option<Condition>,
    /// What the prompt said the call is about ("Call about invoice #4521"), said before the
    /// first question when there is no other message.
    stated_subject: Option<String>,
    /// Facts the prompt states before its first instruction ("The customer's autopay for
    /// October ($74.99) failed"), addressed to the callee: why we call, said before the first
    /// question when no reminder or notice says it.
    background: Vec<String>,
    /// Whether the voicemail instruction asks for "the same" as the live call ("leave the same
    /// information"): only then does the background go on a machine, since a balance or a
    /// diagnosis left on a shared answering machine is not ours to disclose.
    pub(super) voicemail_same: bool,
    /// Whether the prompt is a notice under a label ("Reminder for our tutors: ..."), whose
    /// lines are told to the callee until an instruction to the agent.
    notice: bool,
}

impl Builder {
    /// A builder for a call to `callee` on behalf of `organization`.
    pub fn new(callee: Option<String>, organization: Option<(String, bool)>) -> Self {
        let organization_named = organization.as_ref().is_some_and(|(_, strong)| *strong);
        Self {
            callee,
            organization: organization.map(|(o, _)| o),
            organization_named,
            steps: Vec::new(),
            implicit: None,
            messages: Vec::new(),
            reminded_event: None,
            replies: Vec::new(),
            facts: Vec::new(),
            notes: Vec::new(),
            rules: Vec::new(),
            voicemail: Voicemail::Default,
            ivr_target: None,
            transfer: false,
            max_duration_secs: None,
            closing: None,
            subject: None,
            goal: None,
            last_condition: None,
            stated_subject: None,
            background: Vec::new(),
            voicemail_same: false,
            notice: false,
        }
    }

    /// Reads one sentence of the prompt.
    pub fn sentence(&mut self, sentence: &str) {
        let sentence = &sentence.replace(super::text::MESSAGE_BREAK, " ");
        let first = self.goal.is_none();
        self.goal.get_or_insert_with(|| terminate(sentence, '.'));
        // "Courtesy reminder from the Jury Office: you report Monday. Bring a photo ID.": the
        // prompt is the message.
        if first && let Some(told) = notice::after_label(sentence) {
            self.notice = true;
            self.tell(told);
            return;
        }
        if self.notice {
            if notice::is_message_line(sentence) {
                self.tell(sentence);
                return;
            }
            self.notice = false;
        }
        // "Could you please give Mr. Brooks a call?" asks the agent to call, not the callee.
        let lower = sentence.to_lowercase();
        let request = strip_any(
            &lower,
            &[
                "could you please",
                "can you please",
                "would you please",
                "would you mind",
                "do you mind",
                "could you",
                "can you",
                "would you",
                "please",
            ],
        )
        .map(|r| strip_any(r, &["please"]).unwrap_or(r).to_owned());
        if let Some(r) = request
            && sentence.trim_end().ends_with('?')
            && (r.starts_with("giv")
                && [
                    " a call",
                    " a ring",
                    " a buzz",
                    " a shout",
                    " a quick call",
                    " a quick ring",
                ]
                .iter()
                .any(|k| r.contains(k))
                || r.starts_with("call ")
                || r.starts_with("ring ")
                || r.starts_with("phone ")
                || r.starts_with("reach out")
                || r.starts_with("contact ")
                || r.starts_with("make a call")
                || r.starts_with("place a call"))
        {
            // "Could you please call Mr. Henderson and confirm his cleaning on Friday?": the
            // request is the instruction, said politely.
            let body = &sentence[sentence.len() - r.len().min(sentence.len())..];
            let body = format!("{}.", body.trim().trim_end_matches('?').trim());
            for clause in clauses(&body) {
                self.clause(&clause);
            }
            return;
        }
        // "Ask riders: How often do you ride?": whom to ask is the callee; the question follows.
        if let Some(rest) = lower.strip_prefix("ask ")
            && let Some(colon) = rest.find(':')
        {
            let audience: Vec<&str> = rest[..colon].split_whitespace().collect();
            let plain = (1..=3).contains(&audience.len())
                && audience.iter().all(|w| {
                    w.chars().all(|c| c.is_alphabetic() || c == '\'')
                        && !matches!(
                            *w,
                            "how"
                                | "what"
                                | "which"
                                | "whether"
                                | "when"
                                | "where"
                                | "who"
                                | "why"
                                | "if"
                                | "about"
                        )
                });
            if plain {
                // A header over a list ("Ask visitors:") says nothing more.
                let question = sentence[4 + colon + 1..].trim();
                if !question.is_empty() {
                    self.sentence(&format!("Ask: {question}"));
                }
                return;
            }
        }
        // "using a POS now y/n?": a note-form question with its answer marked is an ask.
        let trimmed_lower = lower.trim_end().trim_end_matches('?').trim_end();
        if sentence.trim_end().ends_with('?')
            && ["y/n", "(y/n)", "yes/no", "(yes/no)"]
                .iter()
                .any(|m| trimmed_lower.ends_with(m))
            && !starts_instruction(sentence)
        {
            let body = sentence.trim().trim_end_matches('?').trim_end();
            self.sentence(&format!("Ask about {}.", super::lists::lowercase_first(body)));
            return;
        }
        // A direct question the writer wants asked, as written ("Would you like a reminder text?").
        if sentence.trim_end().ends_with('?') && (!starts_instruction(sentence) || is_when_question(sentence))
        {
            let q = self.address(
                strip_any(sentence.trim(), &["please", "also", "then", "and", "finally"])
                    .unwrap_or(sentence.trim()),
            );
            let q = sentence_case(&q, '?');
            if question::invert(&q).is_none() || is_question_start(&q) {
                self.push_asks(vec![ask_from_question(&q)], None);
                return;
            }
        }
        for clause in clauses(sentence) {
            self.clause(&clause);
        }
    }

    /// One line of a notice, said to the callee as written (addressed to them).
    fn tell(&mut self, line: &str) {
        let line = sentence_case(&self.address(line.trim()), '.');
        if self.messages.is_empty() && looks_like_clause(&line) {
            let line = super::lists::lowercase_first(&line);
            self.messages.push(format!("This is a reminder that {line}"));
        } else if self.messages.is_empty() {
            self.messages.push(format!("This is a reminder. {line}"));
        } else {
            self.messages.push(line);
        }
    }

    fn address(&self, text: &str) -> String {
        address_callee(text, self.callee.as_deref())
    }

    /// Reads one clause.
    fn clause(&mut self, raw: &str) {
        let c = strip_lead_ins(raw.trim());
        if c.is_empty() {
            return;
        }
        let lower = c.to_lowercase();
        let first = words(&lower).into_iter().next().unwrap_or_default();
        if first == "otherwise" || lower.starts_with("if not") || lower.starts_with("if no,") {
            let rest = strip_any(c, &["otherwise", "if not", "if no"]).unwrap_or("");
            self.conditional("no", rest.trim_start_matches(',').trim());
            return;
        }
        if lower.starts_with("if so") || lower.starts_with("if yes") {
            let rest = strip_any(c, &["if so", "if yes"]).unwrap_or("");
            self.conditional("yes", rest.trim_start_matches(',').trim());
            return;
        }
        // "When would you want the installation done?" asks; "When they answer, ..." conditions.
        if CONDITION_OPENERS.contains(&first.as_str()) && is_condition_start(&lower) && !is_when_question(c) {
            let (cond, cons) = split_condition(c);
            self.conditional(&cond, &cons);
            return;
        }
        if let Some((cons, cond)) = trailing_condition(c) {
            // A run-on "confirm X if they need to move it offer A or B": the condition has its
            // own consequence, and the words before it are an instruction of their own.
            let (inner_cond, inner_cons) = split_condition(&format!("if {cond}"));
            if !inner_cons.is_empty() && !cond.contains(',') && inner_cond.split_whitespace().count() >= 2 {
                self.instruction(&cons);
                self.conditional(&inner_cond, &inner_cons);
            } else {
                self.conditional(&cond, &cons);
            }
            return;
        }
        self.instruction(c);
    }

    /// An unconditional instruction or context.
    fn instruction(&mut self, c: &str) {
        let lower = c.to_lowercase();
        if self.voicemail_instruction(c) {
            return;
        }
        if let Some(target) = menu_target(c) {
            self.ivr_target = Some(target);
            return;
        }
        // "Ask if the wait was under 30 minutes" is a question, not a limit or a hand-off.
        let opener = words(&lower).into_iter().next().unwrap_or_default();
        let asking = matches!(
            opener.as_str(),
            "ask"
                | "find"
                | "collect"
                | "get"
                | "check"
                | "see"
                | "inquire"
                | "request"
                | "gather"
                | "verify"
                | "confirm"
        ) || is_question_start(c);
        if !asking && let Some(secs) = duration_limit(&lower) {
            self.max_duration_secs = Some(secs);
            return;
        }
        if !asking && transfer_instruction(&lower) {
            self.transfer = true;
            return;
        }
        if is_rule(&lower) {
            self.rules.push(sentence_case(c, '.'));
            return;
        }
        if let Some(closing) = closing_instruction(c) {
            if closing.is_some() {
                self.closing = closing;
            }
            return;
        }
        if self.inform(c) || self.confirm(c) || self.ask(c) || self.offer(c) || self.schedule(c) {
            return;
        }
        self.context(c);
    }

    /// "Remind them that ...", "Let them know ...", "Tell whoever answers ...".
    fn inform(&mut self, c: &str) -> bool {
        let lower = c.to_lowercase();
        let ws: Vec<&str> = lower.split_whitespace().collect();
        let Some(&verb) = ws.first() else {
            return false;
        };
        let verb = verb.trim_end_matches(',');
        if !matches!(
            verb,
            "remind"
                | "tell"
                | "let"
                | "inform"
                | "notify"
                | "mention"
                | "explain"
                | "say"
                | "share"
                | "announce"
                | "advise"
                | "alert"
                | "read"
                | "deliver"
                | "relay"
                | "pass"
                | "give"
                | "update"
        ) {
            return false;
        }
        let rest = &c[verb.len()..].trim_start();
        // The listener: "them", "her", "the customer", "whoever answers", the callee's name.
        let rest = self.strip_listener(rest);
        let rest_lower = rest.to_lowercase();
        let message = match verb {
            "remind" => {
                if let Some(r) = strip_any(rest, &["that"]) {
                    format!("This is a reminder that {}", self.address(r))
                } else if let Some(r) = strip_any(rest, &["about", "of", "regarding"]) {
                    let r = self.address(r);
                    self.note_event(&r);
                    format!("This is a reminder about {}", ensure_possessive(&r))
                } else if let Some(r) = strip_word(rest, "to") {
                    format!("Please remember to {}", self.address(r))
                } else if rest.is_empty() {
                    return true;
                } else if looks_like_clause(&self.address(rest)) {
                    // "Remind the customer their water bill is 30 days overdue."
                    format!("This is a reminder that {}", self.address(rest))
                } else {
                    let r = self.address(rest);
                    self.note_event(&r);
                    format!("This is a reminder about {}", ensure_possessive(&r))
                }
            }
            "let" => {
                let Some(r) = strip_any(rest, &["know"]) else {
                    return false;
                };
                let r = strip_any(r, &["that"]).unwrap_or(r);
                if r.is_empty() {
                    return true;
                }
                format!("I'm calling to let you know that {}", self.address(r))
            }
            "tell" | "inform" | "notify" | "advise" | "alert" | "update" | "explain" | "mention" | "say"
            | "share" | "announce" | "relay" | "pass" | "deliver" | "read" | "give" => {
                // "Give them the address" is informing; "give them a choice" is not.
                if verb == "give" && !rest_lower.contains("message") {
                    return false;
                }
                if matches!(verb, "say")
                    && matches!(rest_lower.as_str(), "goodbye" | "bye" | "thanks" | "thank you")
                {
                    return false;
                }
                let r = strip_any(
                    rest,
                    &[
                        "that",
                        "about",
                        "of",
                        "on",
                        "them",
                        "along",
                        "the message that",
                        "the message:",
                        "the message",
                    ],
                )
                .unwrap_or(rest);
                let r = strip_any(r, &["that", ":"]).unwrap_or(r);
                if let Some(todo) = strip_word(r, "to")
                    && verb == "tell"
                {
                    format!("Please {}", self.address(todo))
                } else if r.is_empty() {
                    return true;
                } else {
                    let addressed = self.address(r.trim_matches('"'));
                    if verb == "tell" || verb == "say" || verb == "mention" || verb == "explain" {
                        capitalize(&addressed)
                    } else {
                        format!("I'm calling to let you know that {addressed}")
                    }
                }
            }
            _ => return false,
        };
        // A message said in a question ("can you remind them that ... by Friday?") is a statement.
        let message = sentence_case(message.trim_end_matches('?'), '.');
        // "Remind them their appointment is tomorrow" is about an event; "remind them their bill
        // is overdue and service may stop" is not (the event word must open the reminder).
        let head: String = rest_lower
            .trim_start_matches("that ")
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        // ("Minh's field trip permission slip is due Friday" is a deadline, not an event.)
        let deadline = ["due", "expire", "overdue", "ready", "past due", "renew", "late"]
            .iter()
            .any(|k| rest_lower.contains(k));
        if verb == "remind" && self.reminded_event.is_none() && event_noun(&head).is_some() && !deadline {
            self.note_event(&message);
        }
        self.messages.push(message);
        true
    }

    /// Drops "them", "her", "the customer", "whoever answers", "<name>" after a verb of speech.
    fn strip_listener<'a>(&self, rest: &'a str) -> &'a str {
        let mut r = rest.trim_start();
        let mut r2 = r;
        for the in ["the ", "our ", "this "] {
            if let Some(after) = strip_word(r2, the.trim()) {
                let role = words(after).into_iter().next().unwrap_or_default();
                if super::names::is_role(&role) {
                    r2 = after[after.find(' ').unwrap_or(after.len())..].trim_start();
                    return r2.trim_start_matches(',').trim_start();
                }
            }
        }
        // "customers", "all residents", "parents": the listeners named by their role.
        {
            let ws: Vec<&str> = r.split_whitespace().collect();
            let skip = usize::from(
                ws.first()
                    .is_some_and(|w| matches!(w.to_lowercase().as_str(), "all" | "our" | "the")),
            );
            if let Some(role) = ws.get(skip)
                && super::names::is_role(role.to_lowercase().trim_end_matches(','))
                && ws.get(skip + 1).is_some_and(|n| {
                    matches!(
                        n.to_lowercase().as_str(),
                        "know"
                            | "that"
                            | "about"
                            | "of"
                            | "to"
                            | "whether"
                            | "if"
                            | "what"
                            | "how"
                            | "when"
                            | "which"
                            | "for"
                    )
                })
            {
                let cut: usize = ws[..=skip].iter().map(|w| w.len() + 1).sum();
                r = r[cut.min(r.len())..].trim_start();
            }
        }
        for l in [
            "whoever answers the phone",
            "whoever answers",
            "whoever picks up",
            "the person who answers",
            "them all",
            "them",
            "him",
            "her",
            "everyone",
            "you",
        ] {
            if let Some(after) = strip_word(r, l) {
                // "her appointment" is not the listener "her".
                if l == "her"
                    && !matches!(
                        words(after).first().map(String::as_str),
                        Some(
                            "that"
                                | "about"
                                | "of"
                                | "to"
                                | "know"
                                | "we"
                                | "the"
                                | "our"
                                | "this"
                                | "it"
                                | "there"
                        )
                    )
                {
                    continue;
                }
                r = after;
                break;
            }
        }
        if let Some(name) = &self.callee {
            for n in [name.as_str(), greeting_name(name)] {
                if let Some(after) = strip_word(r, n) {
                    // "confirm Abena Mensah's pickup": the pickup is theirs; the name stays for
                    // the addressing that makes it "your pickup".
                    let first = after.split_whitespace().next().unwrap_or("");
                    if after.starts_with("'s") || first.ends_with("'s") {
                        break;
                    }
                    return after.trim_start_matches(',').trim_start();
                }
            }
        }
        r.trim_start_matches(',').trim_start()
    }

    /// Records the event a reminder or confirmation is about ("your meeting on Thursday").
    fn note_event(&mut self, text: &str) {
        if let Some(event) = event_phrase(text) {
            self.reminded_event.get_or_insert(event.clone());
            self.subject.get_or_insert(event);
        }
    }

    /// Context: who, for whom, what about; a purpose ("... to confirm an appointment") becomes a
    /// replaceable step.
    fn context(&mut self, c: &str) {
        let lower = c.to_lowercase();
        // A purpose: "Call Dana to confirm her oil change", "You're calling to remind them ...".
        for marker in [" to ", " in order to "] {
            let mut from = 0;
            while let Some(at) = lower[from..].find(marker).map(|a| a + from) {
                from = at + marker.len();
                let tail = &c[at + marker.len()..];
                let verb = words(tail).into_iter().next().unwrap_or_default();
                if !matches!(
                    verb.as_str(),
                    "confirm"
                        | "remind"
                        | "ask"
                        | "collect"
                        | "get"
                        | "find"
                        | "see"
                        | "check"
                        | "verify"
                        | "let"
                        | "tell"
                        | "inform"
                        | "notify"
                        | "follow"
                        | "offer"
                        | "schedule"
                        | "book"
                        | "survey"
                        | "gather"
                        | "request"
                        | "reschedule"
                        | "discuss"
                ) {
                    continue;
                }
                if verb == "follow" {
                    // "to follow up on their visit": what it is about.
                    if let Some(topic) = strip_any(
                        tail,
                        &[
                            "follow up on",
                            "follow up about",
                            "follow up regarding",
                            "follow up after",
                            "follow up",
                        ],
                    ) {
                        let t = self.address(topic);
                        if !t.is_empty() {
                            self.subject.get_or_insert(terminate(&t, ' ').trim().to_owned());
                        }
                    }
                    return;
                }
                if verb == "discuss" {
                    let t = self.address(strip_word(tail, "discuss").unwrap_or(""));
                    if !t.is_empty() {
                        self.subject.get_or_insert(t);
                    }
                    return;
                }
                let before = self.steps.len();
                self.clause(tail);
                if verb == "confirm" && self.steps.len() == before + 1 {
                    self.implicit = Some(before);
                }
                return;
            }
        }
        // "Call about invoice #4521", "This call is about their renewal", "regarding their order".
        for marker in ["about ", "regarding ", "concerning ", "re: "] {
            if let Some(at) = lower.find(marker)
                && (lower.starts_with("call")
                    || lower.contains("calling")
                    || lower.contains("this call")
                    || lower.contains("this is"))
            {
                let t = self.address(&c[at + marker.len()..]);
                let t = t.trim_end_matches(['.', '!']).to_owned();
                if !t.is_empty() {
                    self.subject.get_or_insert(ensure_possessive(&t));
                    self.stated_subject.get_or_insert(ensure_possessive(&t));
                    self.facts.push(Fact {
                        topic: Vec::new(),
                        answer: sentence_case(&format!("I'm calling about {}", ensure_possessive(&t)), '.'),
                    });
                }
                return;
            }
        }
        // A fact the agent may repeat when asked ("They expressed interest in our $299/month plan").
        let addressed = self.address(c);
        let informative = c.chars().any(|ch| ch.is_ascii_digit() || ch == '$')
            || c.split_whitespace()
                .skip(1)
                .any(|w| w.chars().next().is_some_and(char::is_uppercase));
        if informative
            && !lower.starts_with("call ")
            && !lower.starts_with("you are")
            && !lower.starts_with("you're")
        {
            let answer = sentence_case(&addressed, '.');
            let introduces_us = [
                "this is ", "we're ", "we are ", "i'm ", "i am ", "our ", "calling ",
            ]
            .iter()
            .any(|p| lower.starts_with(p))
                || self
                    .organization
                    .as_deref()
                    .is_some_and(|o| lower.contains(&o.to_lowercase()));
            let early = self.steps.is_empty() && self.messages.is_empty();
            // A fact of theirs (an amount, a date), not a sentence introducing them ("A parent,
            // Mr. Ibsen, asked about lessons").
            let dated = c.chars().any(|ch| ch.is_ascii_digit() || ch == '$')
                || words(&lower).iter().any(|w| crate::extract::weekday_or_month(w));
            if early && dated && !introduces_us && self.background.len() < 2 && answer.len() <= 200 {
                self.background.push(answer.clone());
            }
            self.facts.push(Fact {
                topic: Vec::new(),
                answer,
            });
        }
    }

    /// Adds questions, naming their fields uniquely. A confirmation replaces the implicit one
    /// taken from the prompt's purpose when both are about the same thing.
    fn push_asks(&mut self, asks: Vec<Ask>, when: Option<Condition>) {
        for ask in asks {
            if ask.question.trim().is_empty() {
                continue;
            }
            // The same question twice ("confirm the appointment ... Ask if they can make the
            // appointment"): keep the more specific one where the first was.
            if let Some(i) = self.implicit
                && ask.kind == FieldKind::YesNo
                && self.steps.get(i).is_some_and(|s| {
                    s.when.is_none()
                        && (is_confirmation(&ask.question)
                            || shares_content(&ask.question.to_lowercase(), &s.question.to_lowercase()))
                })
                && self.steps[i + 1..].iter().all(|s| {
                    s.when
                        .as_ref()
                        .is_none_or(|c| c.field != self.steps[i].field.name)
                })
            {
                let name = self.steps[i].field.name.clone();
                self.steps[i].question = ask.question;
                self.steps[i].field = Field {
                    name,
                    kind: FieldKind::YesNo,
                };
                self.implicit = None;
                continue;
            }
            if self.steps.iter().any(|s| s.question == ask.question) {
                continue;
            }
            let mut name = ask.name.clone();
            // The question that confirms the call's appointment, reservation or delivery is
            // `confirmed`, however the prompt phrased it.
            if ask.kind == FieldKind::YesNo
                && when.is_none()
                && is_confirmation(&ask.question)
                && !self.steps.iter().any(|s| s.field.name == "confirmed")
            {
                name = "confirmed".into();
            }
            if name == "confirmed" && self.steps.iter().any(|s| s.field.name == "confirmed") {
                name = format!(
                    "{}_confirmed",
                    topics::field_name_from(&ask.question)
                        .split('_')
                        .next()
                        .unwrap_or("also")
                );
            }
            if name == "choice" && self.steps.iter().any(|s| s.field.name == "confirmed") {
                name = "reschedule_to".into();
            }
            let name = self.unique_name(&name);
            self.steps.push(Step {
                question: ask.question,
                field: Field { name, kind: ask.kind },
                when: when.clone(),
            });
        }
    }

    fn unique_name(&self, base: &str) -> String {
        let base = if base.is_empty() { "answer" } else { base };
        let taken = |n: &str| self.steps.iter().any(|s| s.field.name == n);
        if !taken(base) {
            return base.to_owned();
        }
        (2..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| !taken(n))
            .unwrap_or_else(|| base.to_owned())
    }

    /// The workflow.
    pub fn finish(mut self, prompt: &str) -> Result<Workflow, WorkflowError> {
        // Calling into a phone menu, the names seen are the business called, not the callee or
        // whom we call for.
        if self.ivr_target.is_some() {
            self.callee = None;
            if !self.organization_named {
                self.organization = None;
            }
        }
        // "Call Agnes about her overdue account ($312)" and nothing more: the call is a notice of
        // what it is about.
        if self.steps.is_empty()
            && self.messages.is_empty()
            && self.ivr_target.is_none()
            && let Some(s) = self.stated_subject.clone()
        {
            self.messages
                .push(sentence_case(&format!("I'm calling about {s}"), '.'));
        }
        // A reminder about an event asks whether they will make it, unless a question already
        // confirms it.
        if let Some(event) = self.reminded_event.clone()
            && !self.steps.iter().any(|s| {
                s.field.kind == FieldKind::YesNo && s.when.is_none() && mentions_event(&s.question, &event)
            })
        {
            let ack = Step {
                question: format!("Will you be able to make it to {event}?"),
                field: Field {
                    name: self.unique_name("attending"),
                    kind: FieldKind::YesNo,
                },
                when: None,
            };
            self.steps.insert(0, ack);
        } else if self.steps.is_empty() && !self.messages.is_empty() {
            self.steps.push(Step {
                question: "Can you confirm you got this message?".to_owned(),
                field: Field {
                    name: "acknowledged".into(),
                    kind: FieldKind::YesNo,
                },
                when: None,
            });
        }
        if self.steps.is_empty() && self.ivr_target.is_none() && self.messages.is_empty() {
            return Err(WorkflowError::TooVague);
        }
        let org_part = self
            .organization
            .as_ref()
            .map(|o| format!(" calling on behalf of {o}"))
            .unwrap_or_else(|| " calling".into());
        let opening = format!("{DISCLOSURE}{org_part}.");
        let mut background_only = false;
        // Nothing to deliver but a stated subject ("Call about the outstanding balance of $240"):
        // say why we call before asking.
        if self.messages.is_empty()
            && let Some(s) = self.stated_subject.clone()
        {
            self.messages
                .push(sentence_case(&format!("I'm calling about {s}"), '.'));
        } else if self.messages.is_empty() && !self.background.is_empty() {
            // What the prompt told us of their situation is why we call: say it first.
            self.messages.append(&mut self.background);
            background_only = true;
        }
        let message = (!self.messages.is_empty()).then(|| self.messages.join(" "));
        let voicemail_core = message
            .as_deref()
            .filter(|_| !background_only || self.voicemail_same);
        let voicemail_message = self.voicemail_message(&org_part, voicemail_core);
        let subject = self.subject.clone();
        if let Some(s) = &subject {
            self.facts.insert(
                0,
                Fact {
                    topic: vec!["about".into()],
                    answer: sentence_case(&format!("I'm calling about {s}"), '.'),
                },
            );
        }
        if let Some(m) = &message {
            self.facts.push(Fact {
                topic: Vec::new(),
                answer: m.clone(),
            });
        }
        let goal = self.goal.clone().unwrap_or_else(|| {
            message
                .clone()
                .or_else(|| self.steps.first().map(|s| s.question.clone()))
                .unwrap_or_default()
        });
        let workflow = Workflow {
            prompt: prompt.to_owned(),
            organization: self.organization,
            callee: self.callee,
            goal,
            subject,
            opening,
            message,
            steps: self.steps,
            replies: self.replies,
            facts: self.facts,
            notes: self.notes,
            rules: self.rules,
            closing: self
                .closing
                .unwrap_or_else(|| "Thank you for your time. Goodbye!".to_owned()),
            leave_voicemail: self.voicemail != Voicemail::Skip,
            voicemail_message,
            max_duration_secs: self
                .max_duration_secs
                .or_else(|| directives::sized_call(&prompt.to_lowercase()))
                .unwrap_or(DEFAULT_MAX_DURATION_SECS),
            ivr_target: self.ivr_target,
            transfer_on_request: self.transfer,
            model: None,
        };
        workflow.validate()?;
        Ok(workflow)
    }

    /// The message for an answering machine: the prompt's own words, or one built from what the
    /// call is about (the reminder, the subject) and a callback number.
    fn voicemail_message(&self, org_part: &str, message: Option<&str>) -> String {
        let for_whom = self
            .callee
            .as_deref()
            .map(|n| format!(" for {}", greeting_name(n)))
            .unwrap_or_default();
        match &self.voicemail {
            Voicemail::Exact(text) => {
                // "They're ready to pick up": the words point back at the call's message, which
                // goes first so the machine's owner knows what "they" are.
                let points_back = ["They", "It ", "It's", "That", "These", "Those"]
                    .iter()
                    .any(|p| text.starts_with(p));
                let text = match message {
                    Some(m) if points_back => format!("{m} {text}"),
                    _ => text.clone(),
                };
                if text.starts_with(DISCLOSURE) {
                    text
                } else {
                    format!("{DISCLOSURE}{org_part}{for_whom}. {text}")
                }
            }
            Voicemail::Skip | Voicemail::Default | Voicemail::Generated { .. } => {
                let callback = match &self.voicemail {
                    Voicemail::Generated {
                        callback: Some(number),
                    } => format!("Please call us back at {number}."),
                    _ => "Please call us back at your convenience.".to_owned(),
                };
                let core = match (message, &self.subject) {
                    (Some(m), _) => m.to_owned(),
                    (None, Some(s)) => sentence_case(&format!("I'm calling about {s}"), '.'),
                    (None, None) => String::new(),
                };
                let core = if core.is_empty() {
                    String::new()
                } else {
                    format!(" {core}")
                };
                format!("{DISCLOSURE}{org_part}{for_whom}.{core} {callback} Thank you, goodbye.")
            }
        }
    }
}
