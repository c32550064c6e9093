//! The deterministic engine's side of a turn: checking we reached the right person, reading the
//! caller's words for the current question (and for questions they answered before being asked),
//! reading uncertain answers back, answering their own questions from the prompt's facts, and
//! moving along the script.

use super::answers::{self, Heard};
use super::intents::{Intent, intent, introduced_name, is_greeting};
use super::offscript;
use super::{After, Conversation, EndReason, State};
use crate::extract;
use crate::workflow::FieldKind;
use serde_json::Value;

/// How many times an uncertain answer is read back before it is given up.
const MAX_READBACKS: u32 = 2;

/// "Hi, Ana!" to someone who gave their name, "Hi!" otherwise.
fn greeting_back(text: &str) -> String {
    match introduced_name(text) {
        Some(name) => format!("Hi, {name}!"),
        None => "Hi!".to_owned(),
    }
}

/// An answer waiting for the caller's "yes" before it is kept.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Readback {
    /// The step it answers.
    pub step: usize,
    /// The value heard.
    pub value: Value,
    /// How many times it was read back.
    pub times: u32,
}

impl Conversation {
    /// The disclosure (never interruptible), then the name check or the first question.
    pub(super) fn greet(&mut self, now_ms: u64) {
        let opening = self.workflow.opening.clone();
        self.say(now_ms, opening, false);
        if let Some(q) = self.workflow.identity_question() {
            self.asking_identity = true;
            self.ask(now_ms, q);
            return;
        }
        self.begin_script(now_ms, None);
    }

    /// The message, if any, and the first question, after `prefix` ("Thanks, Sarah.").
    pub(super) fn begin_script(&mut self, now_ms: u64, prefix: Option<String>) {
        let mut parts: Vec<String> = prefix.into_iter().collect();
        parts.extend(self.workflow.message.clone());
        match self.next_unanswered() {
            Some(i) => {
                self.step = Some(i);
                parts.push(self.workflow.steps[i].question.clone());
                self.ask(now_ms, parts.join(" "));
            }
            None => {
                self.step = None;
                let ack = (!parts.is_empty()).then(|| parts.join(" "));
                self.close(now_ms, ack, EndReason::Completed);
            }
        }
    }

    /// What the caller said while we listened, for the deterministic engine or the model.
    pub(super) fn on_words(&mut self, text: &str, now_ms: u64) {
        self.check_notes(text);
        if self.asking_identity {
            self.identity_answer(text, now_ms);
            return;
        }
        if let Some(rb) = self.readback.take() {
            self.readback_answer(rb, text, now_ms);
            return;
        }
        // "Dockside Bakery, good morning, this is Ana!" over our first question: greet, ask again.
        if self.greetings_answered < 2 && is_greeting(text) && self.no_answer_in(text) {
            self.greetings_answered += 1;
            let hi = greeting_back(text);
            let question = self.current_question();
            self.ask(now_ms, format!("{hi} {question}").trim().to_owned());
            return;
        }
        if let Some(found) = intent(text) {
            // "No thanks, I'm not interested" to "Are you interested ...?" is an answer.
            let asks_interest = self.current_question().to_lowercase().contains("interest");
            // "Let me see... hold on... yes, it's been assigned": the answer came after the wait.
            let answered_after_wait = found == Intent::Wait && !self.no_answer_in(text);
            if !(answered_after_wait || found == Intent::NotInterested && asks_interest) {
                self.on_intent(found, text, now_ms);
                return;
            }
        }
        if self.config.llm && !self.llm_failed {
            self.think(now_ms);
        } else {
            self.answer(text, None, now_ms);
        }
    }

    /// Whether `text` holds no answer to the current question (a greeting never answers free text).
    fn no_answer_in(&self, text: &str) -> bool {
        let Some(step) = self.step.and_then(|i| self.workflow.steps.get(i)) else {
            return true;
        };
        match &step.field.kind {
            FieldKind::Text => true,
            kind => answers::read(kind, text, self.config.today).is_none(),
        }
    }

    /// Whether the words name the callee ("Yes, this is Sarah", "Sarah speaking").
    fn names_callee(&self, text: &str) -> bool {
        let Some(callee) = self.workflow.callee.as_deref() else {
            return false;
        };
        let first = crate::compiler::greeting_name(callee).to_lowercase();
        let ws = extract::words(text);
        // A misheard name is close in sound and shape ("Donna" for "Dana"), not any word that
        // starts alike ("Dental").
        ws.iter().any(|w| {
            *w == first
                || extract::close(w, &first)
                    && w.len().abs_diff(first.len()) <= 1
                    && w.chars().take(2).eq(first.chars().take(2))
        })
    }

    /// The answer to "Am I speaking with Sarah?".
    fn identity_answer(&mut self, text: &str, now_ms: u64) {
        let lower = text.to_lowercase();
        // "Hang on, let me get him": whoever answered fetches the callee; wait for them.
        let fetching = [
            "let me get",
            "i'll get",
            "let me grab",
            "i'll grab",
            "i'll go get",
            "let me see if",
            "i'll see if",
            "i'll put",
            "let me put",
            "putting you through",
            "hang on",
        ]
        .iter()
        .any(|k| lower.contains(k));
        if fetching {
            self.greetings_answered += 1;
            self.say(now_ms, "Sure, thank you.".to_owned(), true);
            self.state = State::Speaking { then: After::Listen };
            return;
        }
        // "Speaking.", "This is she.", "That's me": the callee.
        let self_named = [
            "speaking",
            "this is she",
            "this is he",
            "this is me",
            "it's me",
            "that's me",
            "that is me",
        ]
        .iter()
        .any(|k| lower.contains(k))
            && introduced_name(text).is_none_or(|_| self.names_callee(text));
        // Someone else picking up with a greeting ("Hartwell Dental, this is Ana"): ask for the
        // callee by name, once, before taking whoever it is as them.
        if !self_named && self.greetings_answered < 1 && is_greeting(text) && !self.names_callee(text) {
            self.greetings_answered += 1;
            let name = self
                .workflow
                .callee
                .as_deref()
                .map(crate::compiler::greeting_name)
                .unwrap_or("them")
                .to_owned();
            let hi = greeting_back(text);
            self.ask(
                now_ms,
                format!("{hi} May I speak with {name}, please?").trim().to_owned(),
            );
            return;
        }
        if let Some(found) = intent(text) {
            match found {
                Intent::WhoIsThis
                | Intent::AreYouAi
                | Intent::Repeat
                | Intent::About
                | Intent::Question
                | Intent::Wait => {
                    let q = self.workflow.identity_question().unwrap_or_default();
                    let reply = match found {
                        Intent::AreYouAi => "Yes, I am an AI assistant.".to_owned(),
                        Intent::WhoIsThis => self.workflow.opening.clone(),
                        Intent::About => offscript::about(&self.workflow),
                        Intent::Wait => {
                            self.say(now_ms, "Sure, take your time.".to_owned(), true);
                            self.state = State::Speaking { then: After::Listen };
                            return;
                        }
                        _ => String::new(),
                    };
                    let text = if reply.is_empty() {
                        q
                    } else {
                        format!("{reply} {q}")
                    };
                    self.ask(now_ms, text);
                    return;
                }
                _ => {
                    self.asking_identity = false;
                    self.on_intent(found, text, now_ms);
                    return;
                }
            }
        }
        let wrong = [
            "wrong number",
            "not here",
            "isn't here",
            "is not here",
            "not available",
            "isn't available",
            "not home",
            "isn't home",
            "no one by that name",
            "nobody by that name",
            "no one here by",
            "nobody here by",
            "he's out",
            "she's out",
            "they're out",
            "not in right now",
            "isn't in",
            "doesn't live here",
            "does not live here",
            "you have the wrong",
            "doesn't work here",
            "does not work here",
            "no longer works",
            "not with us",
            "not with the company",
            "left the company",
            "she left",
            "he left",
            "passed away",
            "is away",
            "she's away",
            "he's away",
            "they're away",
            "away until",
            "out of town",
            "on vacation",
            "on holiday",
            "not around",
            "she's not in",
            "he's not in",
        ]
        .iter()
        .any(|k| lower.contains(k))
            || someone_of_theirs(&lower)
            || extract::yes_no(text) == Some(false) && !lower.contains("speaking") && !self_named;
        // "Doctor Amari is with a patient, but I can help you": someone who can answer for them.
        let offers_help = [
            "i can help",
            "can help you",
            "i could help",
            "maybe i can help",
            "what can i do for you",
            "how can i help",
            "i handle that",
            "i can answer",
        ]
        .iter()
        .any(|k| lower.contains(k));
        self.asking_identity = false;
        if wrong && offers_help {
            self.fill_ahead(text, None);
            self.begin_script(now_ms, Some("Thank you.".to_owned()));
            return;
        }
        if wrong {
            let name = self
                .workflow
                .callee
                .as_deref()
                .map(crate::compiler::greeting_name)
                .unwrap_or("them")
                .to_owned();
            let from = self
                .workflow
                .organization
                .as_deref()
                .map(|o| format!("{o} called"))
                .unwrap_or_else(|| "we called".to_owned());
            let about = self
                .workflow
                .subject
                .as_deref()
                .map(|s| {
                    format!(
                        " about {}",
                        s.replace("your ", "their ").trim_end_matches(['.', '!', '?'])
                    )
                })
                .unwrap_or_default();
            let text = format!(
                "I'm sorry for the trouble. Could you please let {name} know that {from}{about}? Thank you, goodbye."
            );
            self.ending = true;
            self.say(now_ms, text, false);
            self.end_reason = Some(EndReason::WrongPerson);
            self.state = State::Speaking {
                then: After::Hangup(EndReason::WrongPerson),
            };
            return;
        }
        // Anything else is the callee (a "yes", "speaking", "this is Sam, and ..."): keep what
        // they already answered, then go on.
        self.fill_ahead(text, None);
        let name = self
            .workflow
            .callee
            .as_deref()
            .map(crate::compiler::greeting_name)
            .unwrap_or("")
            .to_owned();
        let thanks = if name.is_empty() {
            "Thank you.".to_owned()
        } else {
            format!("Thanks, {name}.")
        };
        self.begin_script(now_ms, Some(thanks));
    }

    /// Something the caller asked for that comes before the current question.
    pub(super) fn on_intent(&mut self, found: Intent, text: &str, now_ms: u64) {
        let question = self.current_question();
        match found {
            Intent::Human if self.config.can_transfer && self.workflow.transfer_on_request => {
                self.say(
                    now_ms,
                    "Of course, I will connect you with a person now. Please hold.".to_owned(),
                    false,
                );
                self.state = State::Speaking {
                    then: After::Transfer,
                };
            }
            Intent::Human => {
                let text = format!("I am sorry, I cannot connect you with a person on this call. {question}");
                self.ask(now_ms, text);
            }
            Intent::AreYouAi => self.ask(now_ms, format!("Yes, I am an AI assistant. {question}")),
            Intent::WhoIsThis => {
                let text = format!("{} {}", self.workflow.opening, question);
                self.ask(now_ms, text);
            }
            Intent::About => {
                let text = format!("{} {question}", offscript::about(&self.workflow));
                self.ask(now_ms, text);
            }
            Intent::Question => {
                let reply = offscript::answer(text, &self.workflow)
                    .unwrap_or_else(|| offscript::no_answer(&self.workflow));
                self.ask(now_ms, format!("{reply} {question}"));
            }
            Intent::Repeat => self.ask(now_ms, question),
            Intent::Wait => {
                self.say(now_ms, "Sure, take your time.".to_owned(), true);
                self.state = State::Speaking { then: After::Listen };
            }
            Intent::DoNotCall => {
                self.fields.insert("do_not_call".to_owned(), Value::Bool(true));
                let text =
                    "Understood. I am sorry for the trouble, we will not call you again. Goodbye.".to_owned();
                self.say(now_ms, text, false);
                self.ending = true;
                self.end_reason = Some(EndReason::DoNotCall);
                self.state = State::Speaking {
                    then: After::Hangup(EndReason::DoNotCall),
                };
            }
            Intent::CallBack => {
                // "We submit about four hundred a month. Can you call me Wednesday at two?": the
                // answer given on the way out is kept.
                if let Some(i) = self.step {
                    let field = &self.workflow.steps[i].field;
                    if !matches!(field.kind, FieldKind::Text | FieldKind::YesNo)
                        && !self.fields.contains_key(&field.name)
                        && let Some(heard) = answers::read(&field.kind.clone(), text, self.config.today)
                    {
                        self.keep(i, heard.value);
                    }
                }
                // The prompt's own "ask when to call back" question holds the time, when it has one.
                let callback_field = self
                    .workflow
                    .steps
                    .iter()
                    .find(|s| {
                        let q = s.question.to_lowercase();
                        matches!(
                            s.field.kind,
                            FieldKind::Date | FieldKind::DateTime | FieldKind::Time
                        ) && (s.field.name.contains("call")
                            || q.contains("call back")
                            || q.contains("callback"))
                    })
                    .map(|s| s.field.name.clone());
                // The time is in the words about calling back, not in an answer said before
                // them ("about four hundred claims ... call me Wednesday at two").
                // ASCII lowering keeps byte offsets, so the slice below stays on a boundary.
                let lower = text.to_ascii_lowercase();
                let tail = lower.rfind("call").map_or(text, |at| &text[at..]);
                let when = answers::from_speech(&FieldKind::DateTime, tail, self.config.today)
                    .or_else(|| answers::from_speech(&FieldKind::DateTime, text, self.config.today));
                let said = match &when {
                    Some(v) => format!(" {}", answers::spoken(&FieldKind::DateTime, v)),
                    None => " later".to_owned(),
                };
                match when {
                    Some(v) => self
                        .fields
                        .insert(callback_field.unwrap_or_else(|| "callback_time".to_owned()), v),
                    None => self
                        .fields
                        .insert("callback_requested".to_owned(), Value::Bool(true)),
                };
                let text = format!("Of course, we will call you back{said}. Thank you, goodbye.");
                self.ending = true;
                self.say(now_ms, text, false);
                self.end_reason = Some(EndReason::CallbackRequested);
                self.state = State::Speaking {
                    then: After::Hangup(EndReason::CallbackRequested),
                };
            }
            Intent::Decline => self.skip_step(now_ms, "No problem."),
            Intent::NotInterested => {
                // "Cancel it, we sold the house" to "Can you still make it?": a no, kept.
                if let Some(i) = self.step
                    && self.workflow.steps[i].field.kind == FieldKind::YesNo
                    && !self.fields.contains_key(&self.workflow.steps[i].field.name)
                {
                    self.keep(i, Value::Bool(false));
                }
                self.ending = true;
                let text = format!("I understand. {}", self.workflow.closing);
                self.say(now_ms, text, false);
                self.end_reason = Some(EndReason::NotInterested);
                self.state = State::Speaking {
                    then: After::Hangup(EndReason::NotInterested),
                };
            }
            Intent::Goodbye => self.close(now_ms, None, EndReason::CallerDone),
        }
    }

    /// Reads the current step's answer from speech (`text`) or keys (`keys`), and moves on.
    pub(super) fn answer(&mut self, text: &str, keys: Option<&str>, now_ms: u64) {
        let Some(i) = self.step else {
            self.close(now_ms, None, EndReason::Completed);
            return;
        };
        let kind = self.workflow.steps[i].field.kind.clone();
        // "The doctor, a nine. And the front desk... make that a five.": each part to its question.
        let parts = if keys.is_none() {
            self.topic_parts(text, i)
        } else {
            Vec::new()
        };
        let own = parts.first().map_or(text, |&(_, start, _)| &text[..start]);
        let heard = match keys {
            Some(k) => answers::from_keys(&kind, k).map(|value| Heard { value, sure: true }),
            None if kind == FieldKind::YesNo
                && answers::denies_topic(&self.workflow.steps[i].question, own) =>
            {
                Some(Heard {
                    value: Value::Bool(false),
                    sure: true,
                })
            }
            None => answers::read(&kind, own, self.config.today)
                .or_else(|| answers::read(&kind, text, self.config.today)),
        };
        if heard.as_ref().is_some_and(|h| h.sure) {
            for &(j, start, end) in &parts {
                let later = self.workflow.steps[j].field.kind.clone();
                if let Some(h) = answers::read(&later, &text[start..end], self.config.today)
                    && h.sure
                {
                    let name = self.workflow.steps[j].field.name.clone();
                    self.fields.insert(name, h.value);
                }
            }
        }
        match heard {
            Some(Heard { value, sure: false }) => {
                let said = answers::spoken(&kind, &value);
                self.readback = Some(Readback {
                    step: i,
                    value,
                    times: 1,
                });
                self.ask(now_ms, format!("Just to confirm: {said}?"));
            }
            Some(Heard { value, sure: true }) => {
                self.keep(i, value.clone());
                let ahead = if keys.is_none() {
                    self.fill_ahead(text, Some(i))
                } else {
                    0
                };
                let ack = self.acknowledgement(i, &value, ahead);
                self.next_question(now_ms, ack);
            }
            None if self.clarifications < self.config.max_clarifications => {
                self.clarifications += 1;
                let question = self.workflow.steps[i].question.clone();
                let text = if self.clarifications == 1 {
                    format!("{} {question}", answers::clarification(&kind))
                } else {
                    answers::clarification(&kind).to_owned()
                };
                self.ask(now_ms, text);
            }
            None => {
                // Give up on this question rather than loop; keep what was said as free text.
                if !text.is_empty() {
                    let name = self.workflow.steps[i].field.name.clone();
                    self.fields
                        .insert(format!("{name}_unparsed"), Value::String(text.to_owned()));
                }
                self.skip_step(now_ms, "No problem, let's move on.");
            }
        }
    }

    /// Where the caller's words turn to a later question's topic: (step, start, end) byte ranges
    /// of `text`, in order, for unanswered later steps whose distinctive words are said.
    fn topic_parts(&self, text: &str, current: usize) -> Vec<(usize, usize, usize)> {
        const COMMON: &[&str] = &[
            "what",
            "which",
            "when",
            "where",
            "who",
            "how",
            "is",
            "are",
            "was",
            "were",
            "your",
            "you",
            "the",
            "a",
            "an",
            "of",
            "to",
            "on",
            "in",
            "for",
            "with",
            "and",
            "or",
            "do",
            "does",
            "did",
            "have",
            "has",
            "any",
            "us",
            "would",
            "could",
            "can",
            "will",
            "rate",
            "scale",
            "out",
            "like",
            "much",
            "many",
            "that",
            "this",
            "it",
            "be",
            "we",
            "our",
            "from",
            "at",
            "by",
            "best",
            "good",
            "there",
            "yes",
            "no",
            "please",
            "today",
            "now",
            "still",
            "able",
            "get",
            "got",
            "about",
            "overall",
            "experience",
        ];
        let content = |q: &str| -> Vec<String> {
            extract::words(q)
                .into_iter()
                .filter(|w| {
                    w.len() > 2 && !COMMON.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit())
                })
                .collect()
        };
        let mine = content(&self.workflow.steps[current].question);
        let lower = text.to_lowercase();
        let mut anchors: Vec<(usize, usize)> = Vec::new();
        for j in current + 1..self.workflow.steps.len() {
            let step = &self.workflow.steps[j];
            if self.fields.contains_key(&step.field.name) {
                continue;
            }
            if let Some(c) = &step.when
                && self.fields.get(&c.field) != Some(&c.equals)
            {
                continue;
            }
            let own: Vec<String> = content(&step.question)
                .into_iter()
                .filter(|w| !mine.contains(w))
                .collect();
            let at = own
                .iter()
                .filter_map(|w| {
                    lower.match_indices(w.as_str()).find_map(|(at, _)| {
                        let before = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
                        let end = at + w.len();
                        let after = end == lower.len() || !lower.as_bytes()[end].is_ascii_alphanumeric();
                        (before && after).then_some(at)
                    })
                })
                .min();
            if let Some(at) = at.filter(|&a| a > 0) {
                anchors.push((j, at));
            }
        }
        anchors.sort_by_key(|&(_, at)| at);
        anchors
            .iter()
            .enumerate()
            .map(|(k, &(j, at))| {
                let end = anchors.get(k + 1).map_or(text.len(), |&(_, next)| next);
                (j, at, end)
            })
            .collect()
    }

    /// The caller's answer to "Just to confirm: Monday?".
    fn readback_answer(&mut self, rb: Readback, text: &str, now_ms: u64) {
        let kind = self.workflow.steps[rb.step].field.kind.clone();
        // "No, Tuesday": a new value in the same breath.
        let corrected = answers::read(&kind, text, self.config.today).filter(|h| h.value != rb.value);
        match (extract::yes_no(text), corrected) {
            (_, Some(h)) if h.sure => {
                self.step = Some(rb.step);
                self.keep(rb.step, h.value.clone());
                let ack = self.acknowledgement(rb.step, &h.value, 0);
                self.next_question(now_ms, ack);
            }
            (_, Some(h)) if rb.times < MAX_READBACKS => {
                let said = answers::spoken(&kind, &h.value);
                self.readback = Some(Readback {
                    step: rb.step,
                    value: h.value,
                    times: rb.times + 1,
                });
                self.ask(now_ms, format!("Sorry, just to confirm: {said}?"));
            }
            (Some(true), _) => {
                self.keep(rb.step, rb.value.clone());
                let ack = self.acknowledgement(rb.step, &rb.value, 0);
                self.next_question(now_ms, ack);
            }
            _ => {
                self.step = Some(rb.step);
                let question = self.workflow.steps[rb.step].question.clone();
                if rb.times < MAX_READBACKS {
                    self.ask(now_ms, format!("Sorry about that. {question}"));
                } else {
                    self.skip_step(now_ms, "Sorry about that, let's move on.");
                }
            }
        }
    }

    /// Stores an answer.
    fn keep(&mut self, step: usize, value: Value) {
        let name = self.workflow.steps[step].field.name.clone();
        self.fields.insert(name, value);
        self.clarifications = 0;
    }

    /// Answers to later questions given in the same breath ("Yes, and my email is ..."): only
    /// answers that cannot be mistaken for something else (an email address, a phone number, an
    /// offered option said plainly). Returns how many were kept.
    pub(super) fn fill_ahead(&mut self, text: &str, after: Option<usize>) -> usize {
        let mut kept = 0;
        let start = after.map_or(0, |i| i + 1);
        for i in start..self.workflow.steps.len() {
            let step = &self.workflow.steps[i];
            if self.fields.contains_key(&step.field.name) {
                continue;
            }
            if let Some(c) = &step.when
                && self.fields.get(&c.field) != Some(&c.equals)
            {
                continue;
            }
            let value = match &step.field.kind {
                FieldKind::Email => extract::email(text).map(Value::String),
                FieldKind::Phone => extract::phone(text).filter(|p| p.len() >= 10).map(Value::String),
                FieldKind::Choice { options } => extract::choice_stated(text, options).map(Value::String),
                _ => None,
            };
            if let Some(v) = value {
                let name = step.field.name.clone();
                self.fields.insert(name, v);
                kept += 1;
            }
        }
        kept
    }

    /// Moves to the next applicable unanswered question after saying `ack`, or closes.
    fn next_question(&mut self, now_ms: u64, ack: String) {
        match self.next_unanswered() {
            Some(next) => {
                self.step = Some(next);
                let q = self.workflow.steps[next].question.clone();
                self.ask(now_ms, format!("{ack} {q}").trim().to_owned());
            }
            None => {
                self.step = None;
                self.close(now_ms, Some(ack), EndReason::Completed);
            }
        }
    }

    /// Leaves the current question unanswered and goes on.
    fn skip_step(&mut self, now_ms: u64, ack: &str) {
        self.clarifications = 0;
        let Some(i) = self.step else {
            self.close(now_ms, Some(ack.to_owned()), EndReason::Completed);
            return;
        };
        let next = self
            .next_step(Some(i))
            .filter(|n| !self.fields.contains_key(&self.workflow.steps[*n].field.name));
        match next.or_else(|| self.next_unanswered().filter(|n| *n > i)) {
            Some(n) => {
                self.step = Some(n);
                let q = self.workflow.steps[n].question.clone();
                self.ask(now_ms, format!("{ack} {q}"));
            }
            None => {
                self.step = None;
                self.close(now_ms, Some(ack.to_owned()), EndReason::Completed);
            }
        }
    }

    /// What the agent says on an answer: the prompt's reply for it, or a short acknowledgement.
    fn acknowledgement(&self, step: usize, value: &Value, ahead: usize) -> String {
        let field = &self.workflow.steps[step].field;
        let replies: Vec<&str> = self
            .workflow
            .replies
            .iter()
            .filter(|r| r.when.field == field.name && &r.when.equals == value)
            .map(|r| r.say.as_str())
            .collect();
        let base = answers::acknowledgement(&field.kind, value);
        let mut parts = vec![base];
        parts.extend(replies.into_iter().map(str::to_owned));
        if ahead > 0 {
            parts.push("I have noted the rest too.".to_owned());
        }
        parts.join(" ")
    }

    /// Records the summary notes the prompt asked for when the caller mentions them.
    fn check_notes(&mut self, text: &str) {
        let lower = text.to_lowercase();
        let words = extract::words(&lower);
        for note in &self.workflow.notes {
            let hit = note.mentions.iter().any(|m| {
                if m.contains(' ') {
                    lower.contains(m.as_str())
                } else {
                    words.iter().any(|w| w == m)
                }
            });
            if hit && !self.notes.contains(&note.note) {
                self.notes.push(note.note.clone());
            }
        }
    }
}

/// "This is her neighbor", "I'm his wife", "it's their son": whoever answered says whose they
/// are, so they are not the callee.
fn someone_of_theirs(lower: &str) -> bool {
    ["this is ", "i'm ", "i am ", "it's ", "you've got ", "you got "]
        .iter()
        .any(|lead| {
            lower.match_indices(lead).any(|(at, _)| {
                let rest = &lower[at + lead.len()..];
                let mut words = rest.split_whitespace();
                matches!(words.next(), Some("her" | "his" | "their"))
                    && words.next().is_some_and(|w| {
                        w.trim_matches(|c: char| !c.is_alphabetic())
                            .chars()
                            .all(char::is_alphabetic)
                    })
            })
        })
}
