//! The conversation engine, sans-IO: it takes what happened on the call (audio finished playing, the
//! caller said something, time passed) and says what to do next (speak, listen, hang up). It keeps the
//! transcript, with each agent turn cut to what was actually played. Time is call-relative
//! milliseconds, passed in.

use crate::transcript::{Role, Turn};
use crate::workflow::Workflow;
use serde_json::{Map, Value};

/// Identifies one thing the agent says, so playback reports can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SayId(pub u64);

/// What the conversation is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The callee answered; the conversation starts.
    Answered {
        /// Now, in call-relative ms.
        now_ms: u64,
    },
    /// Something the agent said finished playing (or was cut short).
    PlaybackFinished {
        /// Which utterance.
        id: SayId,
        /// How much of it was heard, in ms.
        played_ms: u64,
        /// Whether it was cut short (barge-in).
        interrupted: bool,
        /// Its full duration in ms.
        total_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// The caller said something (already transcribed).
    CallerSaid {
        /// The transcript of the utterance.
        text: String,
        /// When the caller started speaking.
        start_ms: u64,
        /// When the caller stopped.
        end_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// The caller started talking (speech detected, not yet transcribed): the no-input timer stops.
    CallerSpeaking {
        /// Now.
        now_ms: u64,
    },
    /// What looked like the caller's speech was too short to keep: the no-input timer restarts.
    CallerNoise {
        /// Now.
        now_ms: u64,
    },
    /// Time passed without anything else happening.
    Tick {
        /// Now.
        now_ms: u64,
    },
}

/// What the conversation wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Synthesize and play this text.
    Say {
        /// Its id, echoed back in `PlaybackFinished`.
        id: SayId,
        /// The words.
        text: String,
    },
    /// Start or stop listening for the caller.
    Listen(bool),
    /// End the call.
    Hangup {
        /// Why, for the record.
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum After {
    Listen { reprompts: u32 },
    Hangup(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    NotStarted,
    Speaking {
        id: SayId,
        then: After,
    },
    Listening {
        since_ms: u64,
        reprompts: u32,
        hearing: bool,
    },
    Done,
}

/// How long the agent waits for an answer before asking again.
const NO_INPUT_MS: u64 = 8_000;
/// How many times it asks again before giving up politely.
const MAX_REPROMPTS: u32 = 1;

/// One call's conversation.
#[derive(Debug)]
pub struct Conversation {
    workflow: Workflow,
    state: State,
    next_id: u64,
    transcript: Vec<Turn>,
    fields: Map<String, Value>,
    actions: Vec<Action>,
}

impl Conversation {
    /// A conversation following `workflow`.
    pub fn new(workflow: Workflow) -> Self {
        Self {
            workflow,
            state: State::NotStarted,
            next_id: 1,
            transcript: Vec::new(),
            fields: Map::new(),
            actions: Vec::new(),
        }
    }

    /// Feeds an input; the resulting actions are drained with [`Conversation::poll_action`].
    pub fn handle(&mut self, input: Input) {
        match (std::mem::replace(&mut self.state, State::Done), input) {
            (State::NotStarted, Input::Answered { now_ms }) => {
                let text = format!("{} {}", self.workflow.opening, self.workflow.question);
                self.say(now_ms, text, After::Listen { reprompts: 0 });
            }
            (
                State::Speaking { id, then },
                Input::PlaybackFinished {
                    id: done,
                    played_ms,
                    interrupted,
                    total_ms,
                    now_ms,
                },
            ) if id == done => {
                self.finish_turn(played_ms, total_ms, interrupted);
                match then {
                    After::Listen { reprompts } => {
                        self.state = State::Listening {
                            since_ms: now_ms,
                            reprompts,
                            hearing: false,
                        };
                        self.actions.push(Action::Listen(true));
                    }
                    After::Hangup(reason) => {
                        self.state = State::Done;
                        self.actions.push(Action::Hangup { reason });
                    }
                }
            }
            (State::Listening { reprompts, .. }, Input::CallerSpeaking { now_ms }) => {
                self.state = State::Listening {
                    since_ms: now_ms,
                    reprompts,
                    hearing: true,
                };
            }
            (State::Listening { reprompts, .. }, Input::CallerNoise { now_ms }) => {
                self.state = State::Listening {
                    since_ms: now_ms,
                    reprompts,
                    hearing: false,
                };
            }
            (
                State::Listening { reprompts, .. },
                Input::CallerSaid {
                    text,
                    start_ms,
                    end_ms,
                    now_ms,
                },
            ) => {
                let text = text.trim().to_owned();
                if text.is_empty() {
                    self.no_input(now_ms, reprompts);
                    return;
                }
                self.transcript.push(Turn {
                    role: Role::Caller,
                    text: text.clone(),
                    start_ms,
                    end_ms,
                    interrupted: false,
                });
                self.actions.push(Action::Listen(false));
                let reply = self.record_answer(&text);
                let closing = format!("{reply} {}", self.workflow.closing);
                self.say(now_ms, closing, After::Hangup("completed"));
            }
            (
                State::Listening {
                    since_ms,
                    reprompts,
                    hearing: false,
                },
                Input::Tick { now_ms },
            ) if now_ms >= since_ms + NO_INPUT_MS => {
                self.no_input(now_ms, reprompts);
            }
            (state, _) => self.state = state,
        }
    }

    fn no_input(&mut self, now_ms: u64, reprompts: u32) {
        self.actions.push(Action::Listen(false));
        if reprompts < MAX_REPROMPTS {
            let text = self.workflow.reprompt.clone();
            self.say(
                now_ms,
                text,
                After::Listen {
                    reprompts: reprompts + 1,
                },
            );
        } else {
            self.say(
                now_ms,
                "I will let you go for now. Goodbye!".to_owned(),
                After::Hangup("no_input"),
            );
        }
    }

    fn say(&mut self, now_ms: u64, text: String, then: After) {
        let id = SayId(self.next_id);
        self.next_id += 1;
        self.transcript.push(Turn {
            role: Role::Agent,
            text: text.clone(),
            start_ms: now_ms,
            end_ms: now_ms,
            interrupted: false,
        });
        self.state = State::Speaking { id, then };
        self.actions.push(Action::Say { id, text });
    }

    /// Cuts the last agent turn to what was played: its end time, and when interrupted, its words in
    /// proportion to the time heard.
    fn finish_turn(&mut self, played_ms: u64, total_ms: u64, interrupted: bool) {
        let Some(turn) = self.transcript.iter_mut().rev().find(|t| t.role == Role::Agent) else {
            return;
        };
        turn.end_ms = turn.start_ms + played_ms;
        if interrupted && total_ms > 0 {
            let words: Vec<&str> = turn.text.split_whitespace().collect();
            let heard = (words.len() as u64 * played_ms / total_ms) as usize;
            turn.text = words[..heard.min(words.len())].join(" ");
            turn.interrupted = true;
        }
    }

    /// Stores the answer in the fields and picks the acknowledgement.
    fn record_answer(&mut self, text: &str) -> &'static str {
        self.fields
            .insert("answer".to_owned(), Value::String(text.to_owned()));
        match yes_or_no(text) {
            Some(yes) => {
                self.fields.insert("confirmed".to_owned(), Value::Bool(yes));
                if yes {
                    "Great, thank you for confirming."
                } else {
                    "I understand, thank you for letting me know."
                }
            }
            None => "Thank you, I have noted that.",
        }
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        (!self.actions.is_empty()).then(|| self.actions.remove(0))
    }

    /// Whether the conversation has finished.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The transcript so far.
    pub fn transcript(&self) -> &[Turn] {
        &self.transcript
    }

    /// The fields collected so far.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// A one-paragraph summary of the call so far.
    pub fn summary(&self) -> String {
        let answer = self.fields.get("answer").and_then(Value::as_str);
        match (answer, self.fields.get("confirmed").and_then(Value::as_bool)) {
            (Some(a), Some(true)) => {
                format!("Asked: {} The callee confirmed: \"{a}\"", self.workflow.question)
            }
            (Some(a), Some(false)) => {
                format!("Asked: {} The callee declined: \"{a}\"", self.workflow.question)
            }
            (Some(a), None) => format!("Asked: {} The callee answered: \"{a}\"", self.workflow.question),
            (None, _) => format!("Asked: {} No answer was given.", self.workflow.question),
        }
    }
}

/// A yes/no reading of an answer, or `None` when it is neither.
pub fn yes_or_no(text: &str) -> Option<bool> {
    let normalized = text.to_lowercase().replace(['.', ',', '!', '?'], " ");
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(w));
    let negative = has(&[
        "no", "nope", "not", "never", "cannot", "can't", "won't", "don't", "doesn't", "unable",
    ]);
    let positive = has(&[
        "yes",
        "yeah",
        "yep",
        "sure",
        "correct",
        "absolutely",
        "definitely",
        "okay",
        "ok",
        "fine",
        "certainly",
        "works",
    ]);
    match (positive, negative) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::compile;

    fn drain(c: &mut Conversation) -> Vec<Action> {
        std::iter::from_fn(|| c.poll_action()).collect()
    }

    fn conversation() -> Conversation {
        Conversation::new(compile("Ask if they can attend on Tuesday.").expect("compiles"))
    }

    #[test]
    fn discloses_asks_listens_answers_and_hangs_up() {
        let mut c = conversation();
        c.handle(Input::Answered { now_ms: 100 });
        let actions = drain(&mut c);
        let [Action::Say { id, text }] = actions.as_slice() else {
            panic!("{actions:?}")
        };
        assert!(
            text.starts_with("Hello, this is an AI assistant calling."),
            "disclosure first: {text}"
        );
        assert!(text.ends_with("Could you tell me if you can attend on Tuesday?"));
        c.handle(Input::PlaybackFinished {
            id: *id,
            played_ms: 4000,
            interrupted: false,
            total_ms: 4000,
            now_ms: 4100,
        });
        assert_eq!(drain(&mut c), vec![Action::Listen(true)]);
        c.handle(Input::CallerSaid {
            text: "Yes, Tuesday works.".into(),
            start_ms: 5000,
            end_ms: 6200,
            now_ms: 7000,
        });
        let actions = drain(&mut c);
        assert_eq!(actions[0], Action::Listen(false));
        let Action::Say { id, text } = &actions[1] else {
            panic!("{actions:?}")
        };
        assert!(text.contains("thank you for confirming") && text.contains("Goodbye"));
        c.handle(Input::PlaybackFinished {
            id: *id,
            played_ms: 3000,
            interrupted: false,
            total_ms: 3000,
            now_ms: 10_000,
        });
        assert_eq!(drain(&mut c), vec![Action::Hangup { reason: "completed" }]);
        assert!(c.is_done());
        assert_eq!(c.fields().get("confirmed"), Some(&Value::Bool(true)));
        let roles: Vec<Role> = c.transcript().iter().map(|t| t.role).collect();
        assert_eq!(roles, vec![Role::Agent, Role::Caller, Role::Agent]);
        assert_eq!(
            (c.transcript()[0].start_ms, c.transcript()[0].end_ms),
            (100, 4100)
        );
    }

    #[test]
    fn silence_gets_one_reprompt_then_a_polite_goodbye() {
        let mut c = conversation();
        c.handle(Input::Answered { now_ms: 0 });
        let Some(Action::Say { id, .. }) = c.poll_action() else {
            panic!()
        };
        c.handle(Input::PlaybackFinished {
            id,
            played_ms: 3000,
            interrupted: false,
            total_ms: 3000,
            now_ms: 3000,
        });
        drain(&mut c);
        c.handle(Input::Tick { now_ms: 10_000 });
        assert!(drain(&mut c).is_empty(), "not yet");
        c.handle(Input::Tick { now_ms: 11_000 });
        let actions = drain(&mut c);
        let Some(Action::Say { id, text }) = actions.last() else {
            panic!("{actions:?}")
        };
        assert!(text.starts_with("Sorry, I did not catch that."));
        c.handle(Input::PlaybackFinished {
            id: *id,
            played_ms: 2000,
            interrupted: false,
            total_ms: 2000,
            now_ms: 13_000,
        });
        drain(&mut c);
        c.handle(Input::Tick { now_ms: 21_000 });
        let actions = drain(&mut c);
        let Some(Action::Say { id, text }) = actions.last() else {
            panic!("{actions:?}")
        };
        assert!(text.contains("Goodbye"));
        c.handle(Input::PlaybackFinished {
            id: *id,
            played_ms: 2000,
            interrupted: false,
            total_ms: 2000,
            now_ms: 23_000,
        });
        assert_eq!(drain(&mut c), vec![Action::Hangup { reason: "no_input" }]);
    }

    #[test]
    fn the_no_input_timer_waits_while_the_caller_talks() {
        let mut c = conversation();
        c.handle(Input::Answered { now_ms: 0 });
        let Some(Action::Say { id, .. }) = c.poll_action() else {
            panic!()
        };
        c.handle(Input::PlaybackFinished {
            id,
            played_ms: 3000,
            interrupted: false,
            total_ms: 3000,
            now_ms: 3000,
        });
        drain(&mut c);
        c.handle(Input::CallerSpeaking { now_ms: 9000 });
        c.handle(Input::Tick { now_ms: 20_000 });
        assert!(
            drain(&mut c).is_empty(),
            "no reprompt while speech is being heard and transcribed"
        );
        c.handle(Input::CallerNoise { now_ms: 20_000 });
        c.handle(Input::Tick { now_ms: 27_000 });
        assert!(drain(&mut c).is_empty(), "the timer restarted at the noise");
        c.handle(Input::Tick { now_ms: 28_000 });
        assert!(matches!(drain(&mut c).last(), Some(Action::Say { .. })));
    }

    #[test]
    fn an_interrupted_turn_keeps_only_what_was_played() {
        let mut c = conversation();
        c.handle(Input::Answered { now_ms: 0 });
        let Some(Action::Say { id, text }) = c.poll_action() else {
            panic!()
        };
        let words = text.split_whitespace().count();
        c.handle(Input::PlaybackFinished {
            id,
            played_ms: 1000,
            interrupted: true,
            total_ms: 4000,
            now_ms: 1000,
        });
        let turn = &c.transcript()[0];
        assert!(turn.interrupted);
        assert_eq!(turn.text.split_whitespace().count(), words / 4);
        assert_eq!(turn.end_ms, 1000);
    }

    #[test]
    fn yes_and_no_are_read_from_answers() {
        assert_eq!(yes_or_no("Yes, Tuesday at three works for me."), Some(true));
        assert_eq!(yes_or_no("No, I can't make it."), Some(false));
        assert_eq!(yes_or_no("Maybe next week."), None);
    }
}
