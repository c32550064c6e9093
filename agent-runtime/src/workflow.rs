//! The workflow: the script the agent follows on a call, compiled from a natural-language prompt
//! and stored for reuse. The built-in deterministic compiler lives in [`crate::compiler`]; an LLM
//! can produce the same model as structured output (`llm::compile_workflow`), checked by
//! [`Workflow::validate`]. The AI disclosure opens every workflow and is not optional.

use serde::{Deserialize, Serialize};

pub use crate::compiler::compile;

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
    /// No goal, question or message could be found: the agent would not know what to do.
    #[error(
        "the prompt does not say what the call is for: add what to ask (\"Ask if they can come on Tuesday at 3 PM\"), what to collect (\"Collect their email\") or what to tell them (\"Remind them that their order ships Friday\")"
    )]
    TooVague,
    /// The prompt is not in English, the only language the on-box agent speaks.
    #[error(
        "the prompt is not in English: the on-box agent speaks and understands English only, so write the prompt in English (the call itself will be in English too)"
    )]
    NotEnglish,
    /// The prompt has hardly any words (binary data, markup, noise).
    #[error("the prompt is not readable text: write in plain English what the call should do")]
    Unreadable,
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
    /// A day and a time ("Tuesday at 3", "tomorrow afternoon"): a date, a time or both.
    DateTime,
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
    /// A score on a scale ("from 1 to 10"; recommendation scores are 0 to 10).
    Rating {
        /// The lowest score.
        min: u8,
        /// The highest score.
        max: u8,
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

/// Something the prompt says the agent may tell a callee who asks ("If they ask about parking,
/// tell them it is free"), or a fact it stated ("The invoice is for $1,200"): the only material
/// the engine answers off-script questions from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// Words a question about it would use ("parking").
    #[serde(default)]
    pub topic: Vec<String>,
    /// What the agent says, addressed to the callee.
    pub answer: String,
}

/// Words the agent says once an answer satisfies a condition ("If they say yes, tell them a
/// confirmation email is on its way").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// When.
    pub when: Condition,
    /// What.
    pub say: String,
}

/// Something to put in the summary when the callee mentions it ("If they mention financial
/// difficulty, note it in the summary").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Any of these words in the callee's words triggers it.
    pub mentions: Vec<String>,
    /// The sentence for the summary.
    pub note: String,
}

fn leave_voicemail_default() -> bool {
    true
}

/// What the agent does on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// The prompt as given.
    pub prompt: String,
    /// Who the call is made for, if the prompt says.
    pub organization: Option<String>,
    /// Whom the call is for ("Sarah Kim"), if the prompt names them: the agent asks for them first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee: Option<String>,
    /// The goal in one sentence, for summaries and the LLM.
    pub goal: String,
    /// What the call is about, addressed to the callee ("your appointment on Friday at 3 PM").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The first words: the AI disclosure.
    pub opening: String,
    /// Said after the opening (and the callee's name check), before the first question: the
    /// reminder or notice the call delivers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The questions, in order.
    pub steps: Vec<Step>,
    /// Said when an answer satisfies a condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<Reply>,
    /// What the agent may tell a callee who asks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<Fact>,
    /// What goes into the summary when mentioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// Things the prompt says not to do (kept for the language model; the built-in engine never
    /// does anything beyond its script).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Said before hanging up.
    pub closing: String,
    /// Whether to leave a message on an answering machine (the prompt may say not to).
    #[serde(default = "leave_voicemail_default")]
    pub leave_voicemail: bool,
    /// Left after the beep when a machine answers.
    pub voicemail_message: String,
    /// Longest the call may last once answered.
    pub max_duration_secs: u32,
    /// What to look for in phone menus ("billing"), if the prompt asks to navigate one.
    pub ivr_target: Option<String>,
    /// Hand the call to a human (the call's bridge number) when the callee asks for one.
    pub transfer_on_request: bool,
    /// The language model to use on calls of this workflow (the configured one when absent); it
    /// is only used when a language model is configured at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::llm::ModelName>,
}

impl Workflow {
    /// The same workflow for answering calls rather than placing them: the opening says whom the
    /// agent answers for ("Hello, this is an AI assistant for Bright Dental."), not that it calls.
    pub fn answering(mut self) -> Self {
        self.opening = match &self.organization {
            Some(org) => format!("{DISCLOSURE} for {org}."),
            None => format!("{DISCLOSURE}."),
        };
        // Whoever calls in is the callee: there is nobody to ask for.
        self.callee = None;
        self
    }

    /// The question that checks we reached the right person ("Is this Sarah?"), if the workflow
    /// names one.
    pub fn identity_question(&self) -> Option<String> {
        self.callee
            .as_deref()
            .map(|name| format!("Am I speaking with {}?", crate::compiler::greeting_name(name)))
    }

    /// What the deterministic engine says first, utterance by utterance, so the call runner can
    /// render it while the phone rings: the opening, then the identity check or the message with
    /// the first question (as `Conversation` greets).
    pub fn first_words(&self) -> Vec<String> {
        let mut words = vec![self.opening.clone()];
        if let Some(q) = self.identity_question() {
            words.push(q);
            return words;
        }
        let first: Vec<String> = self
            .message
            .iter()
            .cloned()
            .chain(
                self.steps
                    .iter()
                    .find(|s| s.when.is_none())
                    .map(|s| s.question.clone()),
            )
            .collect();
        if !first.is_empty() {
            words.push(first.join(" "));
        }
        words
    }

    /// Checks the rules every workflow must follow (LLM output goes through this too).
    pub fn validate(&self) -> Result<(), WorkflowError> {
        if !self.opening.starts_with(DISCLOSURE) {
            return Err(WorkflowError::Invalid(
                "the opening must start with the AI disclosure",
            ));
        }
        if self.steps.is_empty() && self.ivr_target.is_none() && self.message.is_none() {
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
            match &step.field.kind {
                FieldKind::Choice { options } if options.len() < 2 => {
                    return Err(WorkflowError::Invalid("a choice needs at least two options"));
                }
                FieldKind::Rating { min, max } if min >= max || *max > 100 => {
                    return Err(WorkflowError::Invalid("a rating needs min < max <= 100"));
                }
                _ => {}
            }
            if let Some(c) = &step.when
                && !names.contains(c.field.as_str())
            {
                return Err(WorkflowError::Invalid(
                    "a step's condition names a field that is not asked before it",
                ));
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
