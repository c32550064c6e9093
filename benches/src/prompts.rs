//! The prompt corpus: realistic prompts, each with the workflow an experienced user would expect,
//! and the rules that say whether a compiled workflow matches it.
//!
//! Two parts live in `benches/prompts/`: `dev.toml`, which the compiler is tuned on, and
//! `heldout.toml`, written by a separate session that never saw the compiler and never tuned on.
//!
//! A workflow matches its case when:
//! - a case marked `refused` is refused with that reason (`too_vague`, `not_english`), and any
//!   other case compiles;
//! - `callee`, `organization` and `ivr_target` are found when given and absent when not (the
//!   callee by first name, title or full name; the others sharing a word, case-insensitively);
//!   `transfer` and `max_duration_secs` are equal when given;
//! - the fields are the same number, in order, and each has one of its accepted `type`s, the same
//!   `options` (as a set, ignoring case, spaces and punctuation), the same `min`/`max`, the same
//!   branch (`when` names the field at that position and the value), and one of its `about` words
//!   in what the agent says when asking it (the question, and before the first question the
//!   workflow's message) or in the field's name;
//! - every `voicemail.mentions` word is in the voicemail message and every `message.mentions`
//!   word is in what the agent says (message, questions, replies).

use agent_runtime::workflow::{FieldKind, Workflow, WorkflowError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One file of the corpus.
#[derive(Debug, Deserialize)]
pub struct Corpus {
    /// Its cases.
    pub case: Vec<Case>,
}

/// One prompt and its expected workflow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id.
    pub id: String,
    /// confirmation | reminder | lead | payment | survey | follow_up | ivr | vague | not_english.
    pub kind: String,
    /// The prompt.
    pub prompt: String,
    /// The callee's name, when the prompt names them.
    pub callee: Option<String>,
    /// Who the call is made for.
    pub organization: Option<String>,
    /// The menu option to reach.
    pub ivr_target: Option<String>,
    /// Whether a hand-off to a human is allowed.
    #[serde(default)]
    pub transfer: bool,
    /// Why the prompt must be refused.
    pub refused: Option<String>,
    /// A time limit the prompt sets.
    pub max_duration_secs: Option<u32>,
    /// The fields, in order.
    #[serde(default)]
    pub field: Vec<ExpectedField>,
    /// What the voicemail must contain.
    pub voicemail: Option<Mentions>,
    /// What the agent must say.
    pub message: Option<Mentions>,
}

/// An expected field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedField {
    /// Accepted kinds.
    #[serde(rename = "type")]
    pub kind: OneOrMany,
    /// Words one of which is in the question or the field's name.
    #[serde(default)]
    pub about: Vec<String>,
    /// A canonical name, when given.
    pub name: Option<String>,
    /// A choice's options.
    pub options: Option<Vec<String>>,
    /// A rating's lowest score.
    pub min: Option<u8>,
    /// A rating's highest score.
    pub max: Option<u8>,
    /// The branch.
    pub when: Option<ExpectedWhen>,
}

/// One type or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, kind: &str) -> bool {
        match self {
            Self::One(k) => k == kind,
            Self::Many(ks) => ks.iter().any(|k| k == kind),
        }
    }
}

/// A branch: asked only when the field at `field` (1-based) equals `equals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedWhen {
    /// 1-based position of the field.
    pub field: usize,
    /// The value.
    pub equals: toml::Value,
}

/// Words that must be said.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mentions {
    /// The words.
    pub mentions: Vec<String>,
}

/// Why the corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file.
    #[error("reading {path}: {source}")]
    Read {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Its contents.
    #[error("parsing {path}: {source}")]
    Parse {
        /// Which.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
}

/// The directory of the corpus files.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

/// Loads one part (`dev` or `heldout`).
pub fn load(part: &str) -> Result<Vec<Case>, CorpusError> {
    let path = corpus_dir().join(format!("{part}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|source| CorpusError::Read {
        path: path.clone(),
        source,
    })?;
    let corpus: Corpus = toml::from_str(&text).map_err(|source| CorpusError::Parse { path, source })?;
    Ok(corpus.case)
}

/// The type word of a field kind.
pub fn kind_word(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::YesNo => "yes_no",
        FieldKind::Date => "date",
        FieldKind::Time => "time",
        FieldKind::DateTime => "datetime",
        FieldKind::Email => "email",
        FieldKind::Phone => "phone",
        FieldKind::Number => "number",
        FieldKind::Digits => "digits",
        FieldKind::Choice { .. } => "choice",
        FieldKind::Rating { .. } => "rating",
        FieldKind::Text => "text",
    }
}

fn norm(s: &str) -> String {
    s.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect()
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// What differs between a compiled prompt and its case; empty when it matches.
pub fn check(case: &Case, compiled: &Result<Workflow, WorkflowError>) -> Vec<String> {
    let mut problems = Vec::new();
    let workflow = match (compiled, case.refused.as_deref()) {
        (Err(WorkflowError::TooVague), Some("too_vague"))
        | (Err(WorkflowError::NotEnglish), Some("not_english")) => {
            return problems;
        }
        (Err(e), Some(want)) => return vec![format!("refused ({e}) but for the wrong reason (want {want})")],
        (Err(e), None) => return vec![format!("refused: {e}")],
        (Ok(_), Some(want)) => return vec![format!("compiled, but should be refused as {want}")],
        (Ok(w), None) => w,
    };
    match (&case.callee, &workflow.callee) {
        (Some(want), Some(got)) => {
            let first = want.split_whitespace().next().unwrap_or(want);
            let titled = ["Mr.", "Mrs.", "Ms.", "Dr.", "Miss", "Mr", "Mrs", "Ms", "Dr"].contains(&first);
            let ok = contains_ci(got, want)
                || contains_ci(want, got)
                    && (titled || got.split_whitespace().count() >= 1 && contains_ci(want, got));
            if !ok {
                problems.push(format!("callee {got:?}, want {want:?}"));
            }
        }
        (Some(want), None) => problems.push(format!("no callee, want {want:?}")),
        (None, Some(got)) => problems.push(format!("callee {got:?}, want none")),
        (None, None) => {}
    }
    match (&case.organization, &workflow.organization) {
        (Some(want), Some(got)) if norm(got).contains(&norm(want)) || norm(want).contains(&norm(got)) => {}
        (Some(want), got) => problems.push(format!("organization {got:?}, want {want:?}")),
        (None, Some(got)) => problems.push(format!("organization {got:?}, want none")),
        (None, None) => {}
    }
    match (&case.ivr_target, &workflow.ivr_target) {
        (Some(want), Some(got)) => {
            let shared = want
                .split_whitespace()
                .any(|w| got.to_lowercase().split_whitespace().any(|g| norm(g) == norm(w)));
            if !shared {
                problems.push(format!("ivr_target {got:?}, want {want:?}"));
            }
        }
        (Some(want), None) => problems.push(format!("no ivr_target, want {want:?}")),
        (None, Some(got)) => problems.push(format!("ivr_target {got:?}, want none")),
        (None, None) => {}
    }
    if case.transfer != workflow.transfer_on_request {
        problems.push(format!(
            "transfer_on_request {}, want {}",
            workflow.transfer_on_request, case.transfer
        ));
    }
    if let Some(secs) = case.max_duration_secs
        && secs != workflow.max_duration_secs
    {
        problems.push(format!(
            "max_duration_secs {}, want {secs}",
            workflow.max_duration_secs
        ));
    }
    let steps = &workflow.steps;
    if steps.len() != case.field.len() {
        problems.push(format!(
            "{} fields, want {}: {:?}",
            steps.len(),
            case.field.len(),
            steps
                .iter()
                .map(|s| format!("{} [{}] {}", s.field.name, kind_word(&s.field.kind), s.question))
                .collect::<Vec<_>>()
        ));
    }
    for (i, (want, step)) in case.field.iter().zip(steps).enumerate() {
        let at = format!("field {} ({})", i + 1, step.field.name);
        let got_kind = kind_word(&step.field.kind);
        if !want.kind.contains(got_kind) {
            problems.push(format!(
                "{at}: type {got_kind}, want {:?} [{}]",
                want.kind, step.question
            ));
        }
        let said = if i == 0 {
            format!("{} {}", workflow.message.as_deref().unwrap_or(""), step.question)
        } else {
            step.question.clone()
        };
        let name = step.field.name.replace('_', " ");
        if !want.about.is_empty()
            && !want
                .about
                .iter()
                .any(|a| contains_ci(&said, a) || contains_ci(&name, a))
        {
            problems.push(format!(
                "{at}: asks {:?}, want it about {:?}",
                step.question, want.about
            ));
        }
        if let Some(name) = &want.name
            && name != &step.field.name
        {
            problems.push(format!("{at}: named {}, want {name}", step.field.name));
        }
        if let Some(options) = &want.options {
            let mut want_set: Vec<String> = options.iter().map(|o| norm(o)).collect();
            want_set.sort();
            match &step.field.kind {
                FieldKind::Choice { options: got } => {
                    let mut got_set: Vec<String> = got.iter().map(|o| norm(o)).collect();
                    got_set.sort();
                    if got_set != want_set {
                        problems.push(format!("{at}: options {got:?}, want {options:?}"));
                    }
                }
                _ => problems.push(format!("{at}: no options, want {options:?}")),
            }
        }
        if want.min.is_some() || want.max.is_some() {
            match &step.field.kind {
                FieldKind::Rating { min, max } if Some(*min) == want.min && Some(*max) == want.max => {}
                other => problems.push(format!(
                    "{at}: scale {other:?}, want {:?}-{:?}",
                    want.min, want.max
                )),
            }
        }
        match (&want.when, &step.when) {
            (None, None) => {}
            (Some(w), Some(got)) => {
                let target = steps.get(w.field.wrapping_sub(1)).map(|s| s.field.name.as_str());
                let value_ok = match (&w.equals, &got.equals) {
                    (toml::Value::Boolean(a), serde_json::Value::Bool(b)) => a == b,
                    (toml::Value::String(a), serde_json::Value::String(b)) => norm(a) == norm(b),
                    _ => false,
                };
                if target != Some(got.field.as_str()) || !value_ok {
                    problems.push(format!(
                        "{at}: when {} = {}, want field {} = {}",
                        got.field, got.equals, w.field, w.equals
                    ));
                }
            }
            (Some(w), None) => problems.push(format!(
                "{at}: always asked, want it only when field {} = {}",
                w.field, w.equals
            )),
            (None, Some(got)) => problems.push(format!(
                "{at}: asked only when {} = {}, want always",
                got.field, got.equals
            )),
        }
    }
    if let Some(vm) = &case.voicemail {
        for m in &vm.mentions {
            if !contains_ci(&workflow.voicemail_message, m) {
                problems.push(format!(
                    "voicemail {:?} does not mention {m:?}",
                    workflow.voicemail_message
                ));
            }
        }
    }
    if let Some(msg) = &case.message {
        let mut said = workflow.message.clone().unwrap_or_default();
        for s in &workflow.steps {
            said.push(' ');
            said.push_str(&s.question);
        }
        for r in &workflow.replies {
            said.push(' ');
            said.push_str(&r.say);
        }
        for m in &msg.mentions {
            if !contains_ci(&said, m) {
                problems.push(format!("the agent never says {m:?} ({:?})", workflow.message));
            }
        }
    }
    problems
}
