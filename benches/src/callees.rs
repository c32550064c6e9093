//! The scripted-callee corpus: calls placed from a prompt and answered by a callee who says
//! scripted lines, and the rules that say whether the agent did what the prompt asked.
//!
//! Two parts live in `benches/callees/`: `dev.toml`, which the agent is tuned on, and
//! `heldout.toml`, written before any tuning by a session that never saw the agent's code and
//! never tuned on since. The callee bench (`benches/callee_eval.rs`) runs each case two ways: as
//! text straight into the conversation engine ([`simulate`], which isolates the compiler and the
//! engine from speech), and as a real call through kamailio and baresip with the lines rendered in
//! the case's voice (what a caller would get).
//!
//! The callee ([`ScriptedCallee`]) picks its line the way a person answers what is asked: after
//! each agent turn, the first unused line whose `when` words the agent just said, else the next
//! unused line without `when`; an answer read back to it ("Just to confirm: Monday?") gets the
//! case's `confirm_reply`. A case succeeds when every expected field holds the expected value,
//! the outcome (and end reason, keys pressed, voicemail words, when given) are right, and the AI
//! disclosure was the agent's first words ([`score`]).

use agent_runtime::conversation::{Action, Conversation, ConversationConfig, Input};
use agent_runtime::transcript::{Role, Turn};
use agent_runtime::workflow::{DISCLOSURE, FieldKind, Workflow, compile};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use time::Date;

/// One file of the corpus.
#[derive(Debug, Deserialize)]
pub struct Corpus {
    /// Its cases.
    pub case: Vec<Case>,
}

/// One call: the prompt, the callee and what should come of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id.
    pub id: String,
    /// confirmation | reminder | lead | payment | survey | follow_up | ivr | voicemail | callback.
    pub kind: String,
    /// What the callee does that is hard (`plain`, `corrects_self`, `two_at_once`, ...).
    #[serde(default)]
    pub behaviours: Vec<String>,
    /// The prompt the application sends.
    pub prompt: String,
    /// The callee's voice, `<engine>:<name>` (`piper:joe`, `espeak:en-gb`, `flite:slt`).
    pub voice: String,
    /// Speaking-rate factor.
    pub rate: Option<f32>,
    /// Piper's sampling seed.
    pub seed: Option<u32>,
    /// Line noise.
    pub noise: Option<Noise>,
    /// What the callee says to an answer read back to it.
    pub confirm_reply: Option<String>,
    /// The callee's lines.
    #[serde(default)]
    pub line: Vec<Line>,
    /// What should come of the call.
    pub expect: Expect,
}

/// Noise on the callee's line.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// white | pink | brown | babble.
    pub kind: String,
    /// Signal-to-noise ratio against the speech's active level.
    pub snr_db: f32,
    /// The noise generator's seed.
    #[serde(default)]
    pub seed: u32,
}

/// One thing the callee says (or pointedly does not).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The words.
    pub say: Option<String>,
    /// Said in answer to an agent turn that contains one of these words.
    #[serde(default)]
    pub when: Vec<String>,
    /// Says nothing to this turn.
    #[serde(default)]
    pub silent: bool,
    /// Said as soon as the call is answered (first line only: menus, receptionists, machines).
    #[serde(default)]
    pub at_answer: bool,
    /// Said once the agent has pressed a key.
    #[serde(default)]
    pub after_dtmf: bool,
    /// A beep follows the words (an answering machine).
    #[serde(default)]
    pub beep: bool,
}

/// What should come of a call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The native outcome word.
    pub outcome: String,
    /// The agent's end reason, when it matters.
    pub end_reason: Option<String>,
    /// The keys the agent must press, in order.
    pub dtmf: Option<String>,
    /// Words the voicemail message must contain.
    #[serde(default)]
    pub voicemail_mentions: Vec<String>,
    /// The fields.
    #[serde(default)]
    pub field: Vec<ExpectedValue>,
}

/// A field the call should (or should not) collect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedValue {
    /// Words of the agent's question for it (or of the field's name).
    pub about: Vec<String>,
    /// The value: a bool, a number, or words that must all be in the collected value.
    pub value: Option<toml::Value>,
    /// The field must not be collected.
    #[serde(default)]
    pub absent: bool,
}

/// Why the corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CalleeCorpusError {
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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("callees")
}

/// Loads one part (`dev` or `heldout`).
pub fn load(part: &str) -> Result<Vec<Case>, CalleeCorpusError> {
    let path = corpus_dir().join(format!("{part}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|source| CalleeCorpusError::Read {
        path: path.clone(),
        source,
    })?;
    let corpus: Corpus = toml::from_str(&text).map_err(|source| CalleeCorpusError::Parse { path, source })?;
    Ok(corpus.case)
}

/// What the callee does after an agent turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Says these words (line `index` of the case; `None` for the confirm reply).
    Say {
        /// The line, if it is one.
        index: Option<usize>,
        /// The words.
        text: String,
        /// A beep follows.
        beep: bool,
    },
    /// Stays silent this turn on purpose.
    Silent,
    /// Has nothing left to say.
    Nothing,
}

/// The words that mark an answer read back for confirmation.
const READBACK_MARKS: [&str; 6] = [
    "just to confirm",
    "did you say",
    "is that right",
    "is that correct",
    "to confirm:",
    "did i get that right",
];

/// A callee following a case's lines, sans-IO: told what the agent said, it says what comes next.
#[derive(Debug)]
pub struct ScriptedCallee<'a> {
    case: &'a Case,
    used: Vec<bool>,
}

impl<'a> ScriptedCallee<'a> {
    /// A callee with every line unused.
    pub fn new(case: &'a Case) -> Self {
        Self {
            case,
            used: vec![false; case.line.len()],
        }
    }

    fn take(&mut self, index: usize) -> Reply {
        self.used[index] = true;
        let line = &self.case.line[index];
        match &line.say {
            Some(text) if !line.silent => Reply::Say {
                index: Some(index),
                text: text.clone(),
                beep: line.beep,
            },
            _ => Reply::Silent,
        }
    }

    /// What the callee says as soon as it answers (a menu, a greeting), if anything.
    pub fn at_answer(&mut self) -> Reply {
        match self.case.line.first() {
            Some(line) if line.at_answer && !self.used[0] => self.take(0),
            _ => Reply::Nothing,
        }
    }

    /// What the callee says once the agent pressed keys, if anything.
    pub fn after_dtmf(&mut self) -> Reply {
        match (0..self.case.line.len()).find(|&i| !self.used[i] && self.case.line[i].after_dtmf) {
            Some(i) => self.take(i),
            None => Reply::Nothing,
        }
    }

    /// What the callee says to the agent's turn `agent_words`.
    pub fn reply_to(&mut self, agent_words: &str) -> Reply {
        let heard = agent_words.to_lowercase();
        let free = |line: &Line| !line.at_answer && !line.after_dtmf;
        let keyed = (0..self.case.line.len()).find(|&i| {
            let line = &self.case.line[i];
            !self.used[i]
                && free(line)
                && line
                    .when
                    .iter()
                    .any(|w| !w.trim().is_empty() && heard.contains(&w.to_lowercase()))
        });
        if let Some(i) = keyed {
            return self.take(i);
        }
        if READBACK_MARKS.iter().any(|m| heard.contains(m)) {
            return Reply::Say {
                index: None,
                text: self
                    .case
                    .confirm_reply
                    .clone()
                    .unwrap_or_else(|| "Yes, that's right.".to_owned()),
                beep: false,
            };
        }
        let next = (0..self.case.line.len()).find(|&i| {
            let line = &self.case.line[i];
            !self.used[i] && free(line) && line.when.is_empty()
        });
        match next {
            Some(i) => self.take(i),
            None => Reply::Nothing,
        }
    }
}

/// What a finished call came to, as the scorer needs it.
#[derive(Debug, Clone, Default)]
pub struct CallResult {
    /// The compiled workflow, when the prompt compiled.
    pub workflow: Option<Workflow>,
    /// Why it did not compile.
    pub refused: Option<String>,
    /// The native outcome word.
    pub outcome: String,
    /// The agent's end reason.
    pub end_reason: Option<String>,
    /// `form_fills`.
    pub fields: Map<String, Value>,
    /// The transcript.
    pub transcript: Vec<Turn>,
    /// The keys the agent pressed.
    pub dtmf_sent: String,
    /// What the agent said after the beep (or to the machine), when a machine answered.
    pub voicemail_said: String,
}

/// Everything wrong with a call, against its case; empty when the task succeeded.
pub fn score(case: &Case, result: &CallResult) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(workflow) = &result.workflow else {
        return vec![format!(
            "prompt refused: {}",
            result.refused.as_deref().unwrap_or("?")
        )];
    };
    let first_agent = result.transcript.iter().find(|t| t.role == Role::Agent);
    if !first_agent.is_some_and(|t| t.text.starts_with(DISCLOSURE)) {
        problems.push(format!(
            "the first agent words are not the disclosure: {:?}",
            first_agent.map(|t| &t.text)
        ));
    }
    if result.outcome != case.expect.outcome {
        problems.push(format!(
            "outcome {} (want {})",
            result.outcome, case.expect.outcome
        ));
    }
    if let Some(want) = &case.expect.end_reason
        && result.end_reason.as_deref() != Some(want.as_str())
    {
        problems.push(format!("end_reason {:?} (want {want})", result.end_reason));
    }
    if let Some(want) = &case.expect.dtmf
        && &result.dtmf_sent != want
    {
        problems.push(format!("keys pressed {:?} (want {want})", result.dtmf_sent));
    }
    let said = result.voicemail_said.to_lowercase();
    for word in &case.expect.voicemail_mentions {
        if !said.contains(&word.to_lowercase()) {
            problems.push(format!("voicemail lacks {word:?}: {:?}", result.voicemail_said));
        }
    }
    for want in &case.expect.field {
        if let Some(problem) = check_field(want, workflow, &result.fields) {
            problems.push(problem);
        }
    }
    problems
}

/// The fields a want is about: steps whose question or name has an `about` word, and collected
/// keys outside the steps (`callback_time`) whose name has one.
fn candidates(
    want: &ExpectedValue,
    workflow: &Workflow,
    fields: &Map<String, Value>,
) -> Vec<(String, FieldKind)> {
    let about: Vec<String> = want.about.iter().map(|a| a.to_lowercase()).collect();
    let hit = |text: &str| {
        let text = text.to_lowercase().replace('_', " ");
        about.iter().any(|a| text.contains(a.as_str()))
    };
    let mut out: Vec<(String, FieldKind)> = workflow
        .steps
        .iter()
        .filter(|s| hit(&s.question) || hit(&s.field.name))
        .map(|s| (s.field.name.clone(), s.field.kind.clone()))
        .collect();
    for key in fields.keys() {
        let in_steps = workflow.steps.iter().any(|s| &s.field.name == key);
        if !in_steps && hit(key) && !out.iter().any(|(n, _)| n == key) {
            let kind = if key.contains("time") || key.contains("date") {
                FieldKind::DateTime
            } else {
                FieldKind::Text
            };
            out.push((key.clone(), kind));
        }
    }
    out
}

fn check_field(want: &ExpectedValue, workflow: &Workflow, fields: &Map<String, Value>) -> Option<String> {
    let about = want.about.join("|");
    let found = candidates(want, workflow, fields);
    if want.absent {
        let kept: Vec<&String> = found
            .iter()
            .map(|(n, _)| n)
            .filter(|n| fields.contains_key(n.as_str()))
            .collect();
        return (!kept.is_empty()).then(|| format!("[{about}] should be absent, got {kept:?}"));
    }
    if found.is_empty() {
        return Some(format!("[{about}] no question about it"));
    }
    let Some(expected) = &want.value else {
        return found
            .iter()
            .all(|(n, _)| !fields.contains_key(n.as_str()))
            .then(|| format!("[{about}] not collected"));
    };
    let got: Vec<(&String, &Value)> = found
        .iter()
        .filter_map(|(n, k)| fields.get(n.as_str()).map(|v| (n, v, k)))
        .filter_map(|(n, v, k)| value_matches(expected, v, k).then_some((n, v)))
        .collect();
    if got.is_empty() {
        let seen: Vec<String> = found
            .iter()
            .map(|(n, _)| {
                format!(
                    "{n}={}",
                    fields.get(n.as_str()).map_or("-".to_owned(), Value::to_string)
                )
            })
            .collect();
        return Some(format!("[{about}] want {expected}, got {}", seen.join(", ")));
    }
    None
}

/// Whether a collected value is the expected one (see the module docs).
pub fn value_matches(expected: &toml::Value, got: &Value, kind: &FieldKind) -> bool {
    match expected {
        toml::Value::Boolean(b) => got.as_bool() == Some(*b),
        toml::Value::Integer(i) => number_of(got).is_some_and(|n| (n - *i as f64).abs() < 1e-6),
        toml::Value::Float(f) => number_of(got).is_some_and(|n| (n - f).abs() < 1e-6),
        toml::Value::String(s) => {
            let got_text = match got {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            string_matches(s, &got_text, kind)
        }
        _ => false,
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == ':'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn string_matches(want: &str, got: &str, kind: &FieldKind) -> bool {
    match kind {
        FieldKind::Email => want.trim().eq_ignore_ascii_case(got.trim()),
        FieldKind::Phone | FieldKind::Digits => {
            let (w, g) = (digits(want), digits(got));
            !w.is_empty() && (w == g || (g.len() == w.len() + 1 && g.starts_with('1') && g.ends_with(&w)))
        }
        FieldKind::Date | FieldKind::DateTime | FieldKind::Time => {
            let have = when_words(got);
            words(want).iter().all(|w| have.contains(w))
        }
        _ => {
            // An option said as "Wednesday at 3 PM" holds the time 15:00 too.
            let mut have = words(got);
            if let Some((h, m)) = agent_runtime::extract::time(got) {
                have.push(format!("{h:02}:{m:02}"));
                have.push(format!("{h}:{m:02}"));
            }
            words(want).iter().all(|w| have.contains(w))
        }
    }
}

/// "2026-12-08T15:00" -> ["tuesday", "december", "8", "15:00"]; a date or a time alone likewise.
fn when_words(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (date, clock) = match value.split_once('T') {
        Some((d, t)) => (Some(d), Some(t)),
        None if value.contains(':') => (None, Some(value)),
        None => (Some(value), None),
    };
    if let Some(d) = date
        && let Ok(date) = Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
    {
        out.push(date.weekday().to_string().to_lowercase());
        out.push(date.month().to_string().to_lowercase());
        out.push(date.day().to_string());
    } else if let Some(d) = date
        && let Some((_, m)) = d.split_once('-')
        && let Ok(m) = m.parse::<u8>()
        && let Ok(month) = time::Month::try_from(m)
    {
        // A month alone ("2027-05").
        out.push(month.to_string().to_lowercase());
    }
    if let Some(t) = clock {
        let t: String = t.chars().take(5).collect();
        out.push(t.clone());
        // "9:00" as well as "09:00".
        out.push(t.trim_start_matches('0').to_owned());
    }
    out
}

/// How long a silent callee lets the engine wait in [`simulate`], in ms: past its no-input time.
const SILENCE_MS: u64 = 10_000;
/// Simulated time an agent utterance or a callee line takes.
const UTTERANCE_MS: u64 = 2_000;
/// Agent turns after which [`simulate`] gives up on a call that does not end.
const MAX_TURNS: usize = 40;

/// Runs a case as text straight into the conversation engine (no audio, no recognizer): the
/// callee's lines arrive as the words heard, the agent's words are heard exactly.
pub fn simulate(case: &Case, today: Date) -> CallResult {
    let workflow = match compile(&case.prompt) {
        Ok(w) => w,
        Err(e) => {
            return CallResult {
                refused: Some(e.to_string()),
                ..CallResult::default()
            };
        }
    };
    let mut conversation = Conversation::new(workflow.clone(), ConversationConfig::new(today));
    let mut callee = ScriptedCallee::new(case);
    let mut sim = Sim {
        now: 0,
        dtmf: String::new(),
        voicemail_said: String::new(),
        beeped: false,
    };
    conversation.handle(Input::Answered { now_ms: 0 });
    let mut next = callee.at_answer();
    for _ in 0..MAX_TURNS {
        if conversation.is_done() {
            break;
        }
        let pressed_before = sim.dtmf.len();
        let agent_words = match next {
            Reply::Say { text, beep, .. } => {
                sim.caller_says(&mut conversation, &text, beep, case.kind == "voicemail")
            }
            Reply::Silent | Reply::Nothing => sim.wait(&mut conversation),
        };
        if conversation.is_done() {
            break;
        }
        next = if sim.dtmf.len() > pressed_before {
            match callee.after_dtmf() {
                Reply::Nothing => callee.reply_to(&agent_words),
                reply => reply,
            }
        } else if agent_words.trim().is_empty() {
            Reply::Nothing
        } else {
            callee.reply_to(&agent_words)
        };
        if next == Reply::Nothing && agent_words.trim().is_empty() && sim.now > 600_000 {
            break;
        }
    }
    let outcome = if conversation.reached_machine() {
        "voicemail"
    } else {
        "completed"
    };
    CallResult {
        workflow: Some(workflow),
        refused: None,
        outcome: outcome.to_owned(),
        end_reason: conversation.end_reason().map(|r| r.as_str().to_owned()),
        fields: conversation.fields().clone(),
        transcript: conversation.transcript(),
        dtmf_sent: sim.dtmf,
        voicemail_said: sim.voicemail_said,
    }
}

/// The simulated line between the engine and the callee.
struct Sim {
    now: u64,
    dtmf: String,
    voicemail_said: String,
    beeped: bool,
}

impl Sim {
    /// The callee speaks (a machine's greeting ends in a beep); returns what the agent says next.
    fn caller_says(
        &mut self,
        conversation: &mut Conversation,
        text: &str,
        beep: bool,
        machine: bool,
    ) -> String {
        let start = self.now;
        conversation.handle(Input::CallerSpeaking { now_ms: start });
        let mut said = self.drain(conversation);
        self.now += UTTERANCE_MS;
        if machine && !self.beeped {
            // The detector decides on the greeting's cadence before its end.
            conversation.handle(Input::Amd {
                verdict: media_core::analysis::amd::Verdict::Machine,
                confidence: 0.8,
                now_ms: self.now,
            });
            said.push_str(&self.drain(conversation));
        }
        conversation.handle(Input::CallerSaid {
            text: text.to_owned(),
            start_ms: start,
            end_ms: self.now,
            now_ms: self.now,
        });
        said.push(' ');
        said.push_str(&self.drain(conversation));
        if beep {
            self.beeped = true;
            self.now += 500;
            conversation.handle(Input::Beep { now_ms: self.now });
            let after = self.drain(conversation);
            self.voicemail_said.push_str(&after);
            said.push(' ');
            said.push_str(&after);
        }
        said.trim().to_owned()
    }

    /// The callee says nothing: time passes until the agent speaks again or gives up.
    fn wait(&mut self, conversation: &mut Conversation) -> String {
        let mut said = String::new();
        for _ in 0..(SILENCE_MS / 500) {
            self.now += 500;
            conversation.handle(Input::Tick { now_ms: self.now });
            said.push_str(&self.drain(conversation));
            if !said.is_empty() || conversation.is_done() {
                break;
            }
        }
        said
    }

    /// Plays everything the agent wants said to its end; returns the words, in order.
    fn drain(&mut self, conversation: &mut Conversation) -> String {
        let mut words: Vec<String> = Vec::new();
        while let Some(action) = conversation.poll_action() {
            match action {
                Action::Say { id, text } => {
                    conversation.started_playing(id, self.now);
                    self.now += UTTERANCE_MS;
                    if self.beeped {
                        self.voicemail_said.push_str(&text);
                        self.voicemail_said.push(' ');
                    }
                    words.push(text);
                    conversation.handle(Input::PlaybackFinished {
                        id,
                        played_ms: UTTERANCE_MS,
                        interrupted: false,
                        total_ms: UTTERANCE_MS,
                        now_ms: self.now,
                    });
                }
                Action::SendDtmf { digits } => self.dtmf.push_str(&digits),
                Action::Hangup { .. } | Action::StopSpeaking | Action::Transfer | Action::Think { .. } => {}
            }
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn case(lines: &str) -> Case {
        toml::from_str(&format!(
            "id = \"t\"\nkind = \"lead\"\nprompt = \"p\"\nvoice = \"piper:joe\"\n{lines}\n[expect]\noutcome = \"completed\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_callee_answers_what_is_asked_then_goes_in_order() {
        let c = case(
            "[[line]]\nsay = \"Yes.\"\n[[line]]\nwhen = [\"email\"]\nsay = \"a at b dot com\"\n[[line]]\nsilent = true\n",
        );
        let mut callee = ScriptedCallee::new(&c);
        assert_eq!(callee.at_answer(), Reply::Nothing);
        let said = |r: Reply| match r {
            Reply::Say { text, .. } => text,
            other => format!("{other:?}"),
        };
        assert_eq!(said(callee.reply_to("What is your email?")), "a at b dot com");
        assert_eq!(
            said(callee.reply_to("Just to confirm: a at b dot com?")),
            "Yes, that's right."
        );
        assert_eq!(said(callee.reply_to("Is this Sam?")), "Yes.");
        assert_eq!(callee.reply_to("Anything else?"), Reply::Silent);
        assert_eq!(callee.reply_to("Hello?"), Reply::Nothing);
    }

    #[test]
    fn dates_match_by_weekday_month_day_and_time() {
        let dt = FieldKind::DateTime;
        let v = Value::String("2026-12-08T15:00".into());
        assert!(value_matches(
            &toml::Value::String("tuesday 15:00".into()),
            &v,
            &dt
        ));
        assert!(value_matches(&toml::Value::String("december 8".into()), &v, &dt));
        assert!(!value_matches(&toml::Value::String("wednesday".into()), &v, &dt));
        assert!(!value_matches(
            &toml::Value::String("tuesday 10:00".into()),
            &v,
            &dt
        ));
        let nine = Value::String("09:00".into());
        assert!(value_matches(
            &toml::Value::String("9:00".into()),
            &nine,
            &FieldKind::Time
        ));
        let phone = Value::String("15551234567".into());
        assert!(value_matches(
            &toml::Value::String("555-123-4567".into()),
            &phone,
            &FieldKind::Phone
        ));
        assert!(value_matches(
            &toml::Value::Integer(40),
            &serde_json::json!(40),
            &FieldKind::Number
        ));
        assert!(!value_matches(
            &toml::Value::Boolean(true),
            &Value::Bool(false),
            &FieldKind::YesNo
        ));
    }
}
