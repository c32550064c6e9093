//! The conversation engine, sans-IO: it is told what happened on the call (audio finished playing,
//! the caller started talking, said something, pressed a key, a machine or a beep was detected, time
//! passed) and says what to do next (speak, stop speaking, press keys, transfer, hang up). It keeps
//! the transcript, each agent turn cut to what was actually played, and the collected fields.
//!
//! Rules it never breaks: the AI disclosure is the first thing the agent says and cannot be talked
//! over; everything after it can (barge-in stops the agent within one frame, in the media layer).
//! Time is call-relative milliseconds, passed in.

mod answers;
mod backchannel;
mod intents;
mod llm_mode;
mod offscript;
mod script;
mod summary;
mod vocabulary;

pub use answers::spoken_email;
pub use backchannel::{is_backchannel, takes_the_turn};
pub use intents::{Intent, intent, introduced_name, is_greeting, is_menu, menu_choice};
pub use llm_mode::{ThinkRequest, Thought};
pub use vocabulary::{Expecting, turn_hints};

use crate::transcript::{Role, Turn};
use crate::workflow::{FieldKind, Workflow};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use time::Date;

pub use crate::amd::MACHINE_CONFIRM_MS;
use crate::amd::{AmdJudge, JudgeConfig, Judgement};
use media_core::analysis::amd::Verdict;

/// Identifies one thing the agent says, so playback reports can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SayId(pub u64);

/// Identifies one turn of the language model, so a stale stream (after barge-in) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThoughtId(pub u64);

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
    /// The caller started talking (speech detected, not yet transcribed).
    CallerSpeaking {
        /// Now.
        now_ms: u64,
    },
    /// What looked like the caller's speech was too short to keep.
    CallerNoise {
        /// Now.
        now_ms: u64,
    },
    /// The caller said something (transcribed).
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
    /// The caller pressed a key.
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// Now.
        now_ms: u64,
    },
    /// The answering-machine detector gave its verdict on the audio (cadence, silence, its
    /// beep). A machine verdict is a suspicion until the greeting's words or a beep confirm it
    /// (see [`crate::amd`]).
    Amd {
        /// Human, machine or unknown.
        verdict: Verdict,
        /// The detector's confidence, 0..=1.
        confidence: f32,
        /// Now.
        now_ms: u64,
    },
    /// The caller's words for the answering-machine judge, as soon as they are transcribed: a
    /// whole turn (before it is known whether the caller goes on, which [`Input::CallerSaid`]
    /// waits for), or the turn so far, transcribed at a pause inside it while the judge suspects
    /// a machine (see [`Conversation::suspects_machine`]): a recording's language confirms it
    /// before a long greeting ends. Not a turn of the transcript.
    GreetingSoFar {
        /// The words.
        text: String,
        /// How long their speech went on, ms.
        speech_ms: u64,
        /// Whether the turn ended (its end-of-turn silence) or goes on.
        complete: bool,
        /// Now.
        now_ms: u64,
    },
    /// A voicemail beep ended: the recording has started.
    Beep {
        /// Now.
        now_ms: u64,
    },
    /// The hand-off asked for by [`Action::Transfer`] is over: the human answered and the call is
    /// theirs (`connected`), or nobody could be reached and the call is still ours.
    TransferResult {
        /// Whether the human took the call.
        connected: bool,
        /// Now.
        now_ms: u64,
    },
    /// A piece of the language model's turn.
    Thought {
        /// Which turn.
        id: ThoughtId,
        /// What it produced.
        thought: Thought,
        /// Now.
        now_ms: u64,
    },
    /// Time passed.
    Tick {
        /// Now.
        now_ms: u64,
    },
}

/// Why the agent ends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The script ran to its end.
    Completed,
    /// The caller stayed silent.
    NoInput,
    /// A voicemail message was left.
    Voicemail,
    /// The caller asked not to be called again.
    DoNotCall,
    /// The caller said goodbye.
    CallerDone,
    /// The maximum duration was reached.
    MaxDuration,
    /// The agent could not continue (e.g. speech synthesis failed).
    Error,
    /// The call was handed to a human.
    Transferred,
    /// A human was asked for but could not be reached.
    TransferFailed,
    /// Someone other than the callee answered (or a wrong number).
    WrongPerson,
    /// The callee said they are not interested.
    NotInterested,
    /// The callee asked to be called back another time.
    CallbackRequested,
}

impl EndReason {
    /// The word kept on the call.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::NoInput => "no_input",
            EndReason::Voicemail => "voicemail",
            EndReason::DoNotCall => "do_not_call",
            EndReason::CallerDone => "caller_done",
            EndReason::MaxDuration => "max_duration",
            EndReason::Error => "error",
            EndReason::Transferred => "transferred",
            EndReason::TransferFailed => "transfer_failed",
            EndReason::WrongPerson => "wrong_person",
            EndReason::NotInterested => "not_interested",
            EndReason::CallbackRequested => "callback_requested",
        }
    }
}

/// What the conversation wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Synthesize and play this text after whatever is queued.
    Say {
        /// Its id, echoed back in `PlaybackFinished`.
        id: SayId,
        /// The words.
        text: String,
    },
    /// Stop all agent audio now (barge-in).
    StopSpeaking,
    /// Press keys (RFC 4733) on the call.
    SendDtmf {
        /// The keys.
        digits: String,
    },
    /// Hand the call to a human (the bridge number).
    Transfer,
    /// Ask the language model for its turn; its output comes back as [`Input::Thought`].
    Think {
        /// The turn.
        id: ThoughtId,
        /// What to send.
        request: ThinkRequest,
    },
    /// End the call.
    Hangup {
        /// Why.
        reason: EndReason,
    },
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct ConversationConfig {
    /// Today's date, for "tomorrow" and "Tuesday".
    pub today: Date,
    /// Whether a human can be bridged in (the call has a bridge number).
    pub can_transfer: bool,
    /// Whether a language model answers the caller (with this engine as the fallback).
    pub llm: bool,
    /// Silence after a question before asking again.
    pub no_input_ms: u64,
    /// How many silences in a row end the call.
    pub max_no_inputs: u32,
    /// How many unclear answers to one question before moving on.
    pub max_clarifications: u32,
    /// How long to listen for a phone menu before speaking, when the workflow navigates one.
    pub menu_wait_ms: u64,
    /// How long to wait for a beep after a machine answered before leaving the message anyway.
    pub beep_wait_ms: u64,
    /// Pause in keypresses that ends a multi-digit entry.
    pub keys_pause_ms: u64,
}

impl ConversationConfig {
    /// Defaults for a call made on `today`.
    pub fn new(today: Date) -> Self {
        Self {
            today,
            can_transfer: false,
            llm: false,
            no_input_ms: 8_000,
            max_no_inputs: 2,
            max_clarifications: 2,
            menu_wait_ms: 6_000,
            beep_wait_ms: 15_000,
            keys_pause_ms: 3_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Listen,
    Hangup(EndReason),
    Transfer,
    /// Wait for the beep and leave the voicemail message (the model said a machine answered).
    Voicemail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    /// Listening for a phone menu before saying anything.
    Navigating {
        since_ms: u64,
        hearing: bool,
    },
    /// Playing agent audio; then `then`.
    Speaking {
        then: After,
    },
    /// Waiting for the caller.
    Listening {
        since_ms: u64,
        hearing: bool,
    },
    /// The language model is writing its turn.
    Thinking {
        id: ThoughtId,
        spoke: bool,
        /// A tool call of this turn did something (a field collected, keys, an ending).
        acted: bool,
        then: After,
        since_ms: u64,
    },
    /// A machine answered: waiting for its beep.
    AwaitingBeep {
        since_ms: u64,
    },
    /// The caller is on hold while the human is called.
    Transferring,
    Done,
}

/// One call's conversation.
#[derive(Debug)]
pub struct Conversation {
    workflow: Workflow,
    config: ConversationConfig,
    state: State,
    next_id: u64,
    /// Utterances queued or playing, in order, with whether they may be talked over.
    playing: VecDeque<(SayId, bool)>,
    /// Transcript index of each agent utterance.
    turn_of: Vec<(SayId, usize)>,
    transcript: Vec<Turn>,
    fields: Map<String, Value>,
    /// The step being asked, if any.
    step: Option<usize>,
    /// A yes-like acknowledgement ("yeah", "mm-hm") heard over a yes/no question that was still
    /// playing: the answer, if the caller says nothing else before the question ends.
    early_ack: Option<String>,
    clarifications: u32,
    no_inputs: u32,
    keys: String,
    last_key_ms: u64,
    reached_machine: bool,
    /// When the last beep ended, if one was heard (the machine may beep before we know it is one).
    beep_ms: Option<u64>,
    transferred: bool,
    transfer_failed: bool,
    ending: bool,
    next_thought: u64,
    /// The model failed once: the rest of the call is deterministic.
    llm_failed: bool,
    last_caller_text: String,
    /// The name check ("Am I speaking with Sarah?") waits for its answer.
    asking_identity: bool,
    /// An uncertain answer being read back.
    readback: Option<script::Readback>,
    /// Greetings answered with the question again (a business picking up says its name first).
    greetings_answered: u32,
    /// The answering-machine verdict: the audio detector's, weighed with the greeting's words
    /// and beeps (a receptionist's greeting has a machine's cadence).
    amd: AmdJudge,
    /// Summary notes the caller's words triggered.
    notes: Vec<String>,
    /// Why the agent ends the call, once it decided.
    end_reason: Option<EndReason>,
    actions: VecDeque<Action>,
}

impl Conversation {
    /// A conversation following `workflow`.
    pub fn new(workflow: Workflow, config: ConversationConfig) -> Self {
        // With a language model, the model hears the greeting and may call `leave_voicemail`.
        let words_alone = !config.llm;
        Self {
            workflow,
            config,
            state: State::NotStarted,
            next_id: 1,
            playing: VecDeque::new(),
            turn_of: Vec::new(),
            transcript: Vec::new(),
            fields: Map::new(),
            step: None,
            early_ack: None,
            clarifications: 0,
            no_inputs: 0,
            keys: String::new(),
            last_key_ms: 0,
            reached_machine: false,
            beep_ms: None,
            transferred: false,
            transfer_failed: false,
            ending: false,
            next_thought: 1,
            llm_failed: false,
            last_caller_text: String::new(),
            asking_identity: false,
            readback: None,
            greetings_answered: 0,
            amd: AmdJudge::new(JudgeConfig {
                words_alone,
                ..JudgeConfig::default()
            }),
            notes: Vec::new(),
            end_reason: None,
            actions: VecDeque::new(),
        }
    }

    /// Feeds an input; the resulting actions are drained with [`Conversation::poll_action`].
    pub fn handle(&mut self, input: Input) {
        match input {
            Input::Answered { now_ms } => self.on_answered(now_ms),
            Input::PlaybackFinished {
                id,
                played_ms,
                interrupted,
                total_ms,
                now_ms,
            } => {
                self.on_playback_finished(id, played_ms, interrupted, total_ms, now_ms);
            }
            Input::CallerSpeaking { now_ms } => self.on_caller_speaking(now_ms),
            Input::CallerNoise { now_ms } => match self.state {
                State::Listening { .. } => {
                    self.state = State::Listening {
                        since_ms: now_ms,
                        hearing: false,
                    }
                }
                State::Navigating { since_ms, .. } => {
                    self.state = State::Navigating {
                        since_ms,
                        hearing: false,
                    }
                }
                _ => {}
            },
            Input::CallerSaid {
                text,
                start_ms,
                end_ms,
                now_ms,
            } => self.on_caller_said(text, start_ms, end_ms, now_ms),
            Input::Dtmf { digit, now_ms } => self.on_key(digit, now_ms),
            Input::Amd {
                verdict,
                confidence,
                now_ms,
            } => self.on_amd(verdict, confidence, now_ms),
            Input::GreetingSoFar {
                text,
                speech_ms,
                complete,
                now_ms,
            } => {
                if self.judging()
                    && self.fields.is_empty()
                    && !is_menu(&text)
                    && self.judged_machine(|j| {
                        if complete {
                            j.heard(now_ms, &text, speech_ms)
                        } else {
                            j.heard_so_far(now_ms, &text, speech_ms)
                        }
                    })
                {
                    self.confirm_machine(now_ms);
                }
            }
            Input::Beep { now_ms } => {
                self.beep_ms = Some(now_ms);
                if self.reached_machine && !self.ending {
                    self.leave_voicemail(now_ms);
                } else if self.judging() && self.heard_greeting() && self.judged_machine(|j| j.beep(now_ms)) {
                    // A beep after a greeting: a machine, whatever the greeting sounded like.
                    self.confirm_machine(now_ms);
                }
            }
            Input::TransferResult { connected, now_ms } => self.on_transfer_result(connected, now_ms),
            Input::Thought { id, thought, now_ms } => self.on_thought(id, thought, now_ms),
            Input::Tick { now_ms } => self.on_tick(now_ms),
        }
    }

    fn on_answered(&mut self, now_ms: u64) {
        if self.state != State::NotStarted {
            return;
        }
        if self.workflow.ivr_target.is_some() {
            self.state = State::Navigating {
                since_ms: now_ms,
                hearing: false,
            };
        } else {
            self.greet(now_ms);
        }
    }

    fn on_playback_finished(
        &mut self,
        id: SayId,
        played_ms: u64,
        interrupted: bool,
        total_ms: u64,
        now_ms: u64,
    ) {
        self.finish_turn(id, played_ms, total_ms, interrupted);
        self.playing.retain(|(p, _)| *p != id);
        if !self.playing.is_empty() {
            return;
        }
        self.after_speaking(now_ms);
    }

    /// Everything queued has played: do what was to follow.
    fn after_speaking(&mut self, now_ms: u64) {
        if let State::Speaking { then } = self.state {
            match then {
                After::Listen => {
                    self.state = State::Listening {
                        since_ms: now_ms,
                        hearing: false,
                    };
                    // "Yeah" said over the end of "... can you still make it?" was the answer.
                    if let Some(ack) = self.early_ack.take() {
                        self.last_caller_text.clone_from(&ack);
                        self.on_words(&ack, now_ms);
                    }
                }
                After::Hangup(reason) => {
                    self.state = State::Done;
                    self.end_reason = Some(reason);
                    self.actions.push_back(Action::Hangup { reason });
                }
                After::Transfer => {
                    self.state = State::Transferring;
                    self.ending = true;
                    self.transferred = true;
                    self.actions.push_back(Action::Transfer);
                }
                After::Voicemail => self.machine_answered(now_ms),
            }
        }
    }

    fn on_caller_speaking(&mut self, now_ms: u64) {
        // The caller goes on: an acknowledgement kept for the question's end is not the answer.
        self.early_ack = None;
        match self.state {
            State::Speaking { then }
                if self
                    .playing
                    .front()
                    .is_some_and(|(_, interruptible)| *interruptible) =>
            {
                // Barge-in: stop talking and listen. A goodbye that is talked over is still a goodbye.
                self.actions.push_back(Action::StopSpeaking);
                self.state = match then {
                    After::Listen => State::Listening {
                        since_ms: now_ms,
                        hearing: true,
                    },
                    other => State::Speaking { then: other },
                };
            }
            State::Thinking {
                spoke: true,
                then: After::Listen,
                ..
            } if self
                .playing
                .front()
                .is_some_and(|(_, interruptible)| *interruptible) =>
            {
                // Barge-in while the model still writes: stop, and ignore the rest of its turn.
                self.actions.push_back(Action::StopSpeaking);
                self.state = State::Listening {
                    since_ms: now_ms,
                    hearing: true,
                };
            }
            State::Listening { .. } => {
                self.state = State::Listening {
                    since_ms: now_ms,
                    hearing: true,
                }
            }
            State::Navigating { since_ms, .. } => {
                self.state = State::Navigating {
                    since_ms,
                    hearing: true,
                }
            }
            _ => {}
        }
    }

    /// The step being asked is a yes/no question.
    fn asking_yes_no(&self) -> bool {
        self.step
            .is_some_and(|i| self.workflow.steps[i].field.kind == FieldKind::YesNo)
    }

    /// The agent is saying something the caller may cut short, and will listen after it.
    fn interruptible_for_words(&self) -> bool {
        let listens_next = matches!(
            self.state,
            State::Speaking { then: After::Listen }
                | State::Thinking {
                    spoke: true,
                    then: After::Listen,
                    ..
                }
        );
        listens_next
            && self
                .playing
                .front()
                .is_some_and(|(_, interruptible)| *interruptible)
    }

    fn on_caller_said(&mut self, text: String, start_ms: u64, end_ms: u64, now_ms: u64) {
        let text = text.trim().to_owned();
        if !text.is_empty() {
            self.transcript.push(Turn {
                role: Role::Caller,
                text: text.clone(),
                start_ms,
                end_ms,
                interrupted: false,
            });
        }
        // The greeting's words settle a suspected machine: a recording's language confirms it,
        // a person's words clear it (see `crate::amd`). Once the caller has answered something,
        // the greeting is over.
        if !text.is_empty()
            && self.judging()
            && self.fields.is_empty()
            && !is_menu(&text)
            && self.judged_machine(|j| j.heard(now_ms, &text, end_ms.saturating_sub(start_ms)))
        {
            self.confirm_machine(now_ms);
            return;
        }
        // A phone menu where a person was expected (a business's switchboard): navigate it toward
        // what the call is about, then start over with whoever answers.
        if is_menu(&text)
            && self.fields.is_empty()
            && !self.ending
            && matches!(
                self.state,
                State::Listening { .. } | State::Speaking { .. } | State::AwaitingBeep { .. }
            )
        {
            if !self.playing.is_empty() {
                self.actions.push_back(Action::StopSpeaking);
            }
            self.reached_machine = false;
            self.asking_identity = false;
            self.readback = None;
            self.state = State::Navigating {
                since_ms: now_ms,
                hearing: false,
            };
        }
        // Words heard over the agent without a barge-in (too short for one): a sentence or a cue
        // ("no", "stop") takes the turn now; an acknowledgement ("mm-hm") does not, but over a
        // yes/no question it is kept as the answer in case the caller says nothing more.
        self.early_ack = None;
        if self.interruptible_for_words() {
            if takes_the_turn(&text) {
                self.actions.push_back(Action::StopSpeaking);
                self.state = State::Listening {
                    since_ms: now_ms,
                    hearing: false,
                };
            } else if self.asking_yes_no() && crate::extract::yes_no(&text) == Some(true) {
                self.early_ack = Some(text.clone());
            }
        }
        match self.state {
            State::Navigating { since_ms, .. } => {
                if is_menu(&text) {
                    // The prompt's own target, else what the call is about.
                    let target = self
                        .workflow
                        .ivr_target
                        .clone()
                        .unwrap_or_else(|| self.workflow.prompt.clone());
                    if let Some(key) = menu_choice(&text, &target) {
                        self.actions.push_back(Action::SendDtmf {
                            digits: key.to_string(),
                        });
                    }
                    // Keep listening: the next menu level, or a person, follows.
                    self.state = State::Navigating {
                        since_ms: now_ms.max(since_ms),
                        hearing: false,
                    };
                } else if !text.is_empty() {
                    self.greet(now_ms);
                } else {
                    self.state = State::Navigating {
                        since_ms,
                        hearing: false,
                    };
                }
            }
            State::Listening { .. } => {
                if text.is_empty() {
                    self.state = State::Listening {
                        since_ms: now_ms,
                        hearing: false,
                    };
                    return;
                }
                self.no_inputs = 0;
                self.last_caller_text.clone_from(&text);
                self.on_words(&text, now_ms);
            }
            _ => {}
        }
    }

    /// Asks the model for its turn.
    fn think(&mut self, now_ms: u64) {
        let id = ThoughtId(self.next_thought);
        self.next_thought += 1;
        let request = llm_mode::request(
            &self.workflow,
            &self.fields,
            &self.transcript(),
            self.config.can_transfer && self.workflow.transfer_on_request,
        );
        self.state = State::Thinking {
            id,
            spoke: false,
            acted: false,
            then: After::Listen,
            since_ms: now_ms,
        };
        self.actions.push_back(Action::Think { id, request });
    }

    fn on_thought(&mut self, id: ThoughtId, thought: Thought, now_ms: u64) {
        let State::Thinking {
            id: current,
            spoke,
            acted,
            then,
            since_ms,
        } = self.state
        else {
            return;
        };
        if current != id {
            return;
        }
        match thought {
            Thought::Sentence(text) if llm_mode::unspeakable(&text) => {
                // Markup or a tool call written out as text: the model's output is unusable.
                self.model_failed("the model wrote text that is not speech", spoke, then, now_ms);
            }
            Thought::Sentence(text) => {
                self.say(now_ms, text, true);
                self.state = State::Thinking {
                    id,
                    spoke: true,
                    acted,
                    then,
                    since_ms,
                };
            }
            Thought::Tool(call) => {
                let (then, used) = self.on_tool(&call, then);
                self.state = State::Thinking {
                    id,
                    spoke,
                    acted: acted || used,
                    then,
                    since_ms,
                };
            }
            // Neither words nor a usable tool call: as good as no answer.
            Thought::Done if !spoke && !acted => {
                self.model_failed("the model's turn was empty", spoke, then, now_ms)
            }
            Thought::Done => self.thought_done(spoke, then, now_ms),
            Thought::Failed(reason) => self.model_failed(&reason, spoke, then, now_ms),
        }
    }

    /// The model failed (an error, a timeout, an empty or unusable turn): the deterministic engine
    /// answers this turn, if nothing was said yet, and the rest of the call.
    fn model_failed(&mut self, reason: &str, spoke: bool, then: After, now_ms: u64) {
        tracing::warn!(%reason, "the language model failed; continuing without it");
        self.llm_failed = true;
        if spoke {
            self.thought_done(true, then, now_ms);
        } else {
            let text = self.last_caller_text.clone();
            self.answer(&text, None, now_ms);
        }
    }

    /// Carries out one tool call; returns what follows the model's words, and whether the call did
    /// anything (an unknown tool or field does not).
    fn on_tool(&mut self, call: &crate::llm::ToolCall, then: After) -> (After, bool) {
        let args = call.args();
        match call.function.name.as_str() {
            "collect_field" => {
                let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
                let value = args
                    .get("value")
                    .map(|v| match v {
                        Value::String(s) => s.trim().to_owned(),
                        other => other.to_string(),
                    })
                    .filter(|v| !v.is_empty());
                let step = self.workflow.steps.iter().position(|s| s.field.name == name);
                let (Some(i), Some(value)) = (step, value) else {
                    tracing::warn!(name, "the model collected an unknown field, or no value");
                    return (then, false);
                };
                let kind = self.workflow.steps[i].field.kind.clone();
                // The model's value counts only when it reads as the field's kind; else the
                // caller's own words may; else what the caller said is kept as unparsed and the
                // question stays open. A model's made-up or injected text is never a value.
                let today = self.config.today;
                let said = self.last_caller_text.clone();
                // A yes/no may come as JSON `true`/`false` (or those words): the model's structured
                // answer, not speech.
                let structured = match (&kind, value.to_ascii_lowercase().as_str()) {
                    (FieldKind::YesNo, "true") => Some(Value::Bool(true)),
                    (FieldKind::YesNo, "false") => Some(Value::Bool(false)),
                    _ => None,
                };
                match structured
                    .or_else(|| answers::from_speech(&kind, &value, today))
                    .or_else(|| answers::from_speech(&kind, &said, today))
                {
                    Some(typed) => {
                        self.fields.insert(name.to_owned(), typed);
                    }
                    None => {
                        tracing::warn!(
                            name,
                            "the model's value for a field does not parse; kept as unparsed"
                        );
                        if !said.trim().is_empty() {
                            self.fields
                                .insert(format!("{name}_unparsed"), Value::String(said.trim().to_owned()));
                        }
                    }
                }
                // Keep the deterministic pointer on the first unanswered question, for a fallback.
                self.step = self.next_unanswered();
                (then, true)
            }
            "end_call" => (After::Hangup(EndReason::Completed), true),
            "transfer" if self.config.can_transfer && self.workflow.transfer_on_request => {
                (After::Transfer, true)
            }
            "leave_voicemail" => (After::Voicemail, true),
            "send_dtmf" => {
                let digits: String = args
                    .get("digits")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
                    .take(20)
                    .collect();
                if let Err(refused) = dtmf_allowed(&self.workflow, &self.last_caller_text, &digits) {
                    tracing::warn!(%digits, %refused, "the model's key presses were refused");
                    return (then, false);
                }
                self.actions.push_back(Action::SendDtmf { digits });
                (then, true)
            }
            other => {
                tracing::warn!(tool = other, "the model called a tool it was not offered");
                (then, false)
            }
        }
    }

    fn thought_done(&mut self, spoke: bool, then: After, now_ms: u64) {
        match (spoke, then) {
            (false, After::Hangup(reason)) => self.close(now_ms, None, reason),
            (_, After::Voicemail) => {
                // Whatever the model said to a machine is not worth finishing.
                if !self.playing.is_empty() {
                    self.actions.push_back(Action::StopSpeaking);
                }
                self.machine_answered(now_ms);
            }
            (false, After::Transfer) => {
                self.say(
                    now_ms,
                    "I will connect you with a person now. Please hold.".to_owned(),
                    false,
                );
                self.state = State::Speaking {
                    then: After::Transfer,
                };
            }
            // Only fields were collected: continue with the script.
            (false, After::Listen) => match self.next_unanswered() {
                Some(i) => {
                    self.step = Some(i);
                    let q = self.workflow.steps[i].question.clone();
                    self.ask(now_ms, format!("Thank you. {q}"));
                }
                None => self.close(now_ms, Some("Thank you.".to_owned()), EndReason::Completed),
            },
            (true, then) => {
                if matches!(then, After::Hangup(_) | After::Transfer) {
                    self.ending = true;
                }
                if self.playing.is_empty() {
                    self.state = State::Speaking { then };
                    self.after_speaking(now_ms);
                } else {
                    self.state = State::Speaking { then };
                }
            }
        }
    }

    /// The first applicable step whose field is not collected yet.
    fn next_unanswered(&self) -> Option<usize> {
        (0..self.workflow.steps.len()).find(|&i| {
            let step = &self.workflow.steps[i];
            !self.fields.contains_key(&step.field.name)
                && step
                    .when
                    .as_ref()
                    .is_none_or(|c| self.fields.get(&c.field) == Some(&c.equals))
        })
    }

    fn on_key(&mut self, digit: char, now_ms: u64) {
        if !matches!(self.state, State::Listening { .. }) {
            return;
        }
        self.last_key_ms = now_ms;
        let kind = self.step.map(|i| self.workflow.steps[i].field.kind.clone());
        if digit == '#' {
            self.submit_keys(now_ms);
            return;
        }
        if digit != '*' {
            self.keys.push(digit);
        }
        // One key is a whole answer for yes/no and choices.
        if matches!(kind, Some(FieldKind::YesNo | FieldKind::Choice { .. })) {
            self.submit_keys(now_ms);
        }
    }

    fn submit_keys(&mut self, now_ms: u64) {
        let keys = std::mem::take(&mut self.keys);
        if keys.is_empty() {
            return;
        }
        self.transcript.push(Turn {
            role: Role::Caller,
            text: format!("(pressed {keys})"),
            start_ms: self.last_key_ms,
            end_ms: now_ms,
            interrupted: false,
        });
        self.no_inputs = 0;
        self.answer("", Some(&keys), now_ms);
    }

    /// The audio detector's verdict. A live business greeting ("Good morning, Lakeside Dental,
    /// this is Maria.") has a machine's cadence, so a machine verdict waits for the greeting's
    /// words, a beep, or [`MACHINE_CONFIRM_MS`] without a word from a person; the disclosure
    /// plays on meanwhile.
    fn on_amd(&mut self, verdict: Verdict, confidence: f32, now_ms: u64) {
        // A phone menu is a machine too, and the one the workflow asked to navigate.
        if !self.judging() || matches!(self.state, State::Navigating { .. }) {
            return;
        }
        if self.judged_machine(|j| j.audio(now_ms, verdict, confidence)) {
            self.confirm_machine(now_ms);
        }
    }

    /// Whether the answering-machine verdict is still open to the judge.
    fn judging(&self) -> bool {
        !self.reached_machine && !self.ending && self.state != State::Done
    }

    /// Whether the caller has been heard (the greeting a beep would follow).
    fn heard_greeting(&self) -> bool {
        self.amd.judgement().is_some() || self.amd.suspects_machine()
    }

    /// Puts one input to the judge; whether it made the verdict "machine".
    fn judged_machine(&mut self, input: impl FnOnce(&mut AmdJudge) -> Option<Judgement>) -> bool {
        input(&mut self.amd).is_some_and(|j| j.verdict == Verdict::Machine)
    }

    /// Whether the audio detector's machine verdict waits for the greeting's words: the driver
    /// then transcribes the greeting so far at its pauses ([`Input::GreetingSoFar`]).
    pub fn suspects_machine(&self) -> bool {
        self.judging() && self.amd.suspects_machine()
    }

    /// The answering-machine verdict the call acted on, if any (a suspicion from the audio
    /// alone is none).
    pub fn amd_judgement(&self) -> Option<Judgement> {
        self.amd.judgement()
    }

    /// A machine it is: stop talking to it and wait for its beep.
    fn confirm_machine(&mut self, now_ms: u64) {
        if !self.playing.is_empty() {
            self.actions.push_back(Action::StopSpeaking);
        }
        self.machine_answered(now_ms);
    }

    /// A machine answered (the detector or the model said so): leave the message after its beep,
    /// at once if the beep has already sounded.
    fn machine_answered(&mut self, now_ms: u64) {
        if self.reached_machine || self.ending || self.state == State::Done {
            return;
        }
        self.reached_machine = true;
        if self.beep_ms.is_some() {
            self.leave_voicemail(now_ms);
        } else {
            self.state = State::AwaitingBeep { since_ms: now_ms };
        }
    }

    fn on_transfer_result(&mut self, connected: bool, now_ms: u64) {
        if self.state != State::Transferring {
            return;
        }
        if connected {
            // The human has the call: nothing more is ours to say, and hanging up is theirs.
            self.state = State::Done;
        } else {
            self.transferred = false;
            self.transfer_failed = true;
            self.close(
                now_ms,
                Some(
                    "I am sorry, I could not reach anyone right now. Someone will call you back.".to_owned(),
                ),
                EndReason::TransferFailed,
            );
        }
    }

    fn leave_voicemail(&mut self, now_ms: u64) {
        self.ending = true;
        if !self.workflow.leave_voicemail {
            // The prompt said not to leave a message: hang up at the beep.
            self.state = State::Done;
            self.end_reason = Some(EndReason::Voicemail);
            self.actions.push_back(Action::Hangup {
                reason: EndReason::Voicemail,
            });
            return;
        }
        let message = self.workflow.voicemail_message.clone();
        self.say(now_ms, message, false);
        self.state = State::Speaking {
            then: After::Hangup(EndReason::Voicemail),
        };
    }

    fn on_tick(&mut self, now_ms: u64) {
        let max_ms = u64::from(self.workflow.max_duration_secs) * 1000;
        if now_ms >= max_ms && !self.ending && self.state != State::Done {
            if !self.playing.is_empty() {
                self.actions.push_back(Action::StopSpeaking);
            }
            let closing = format!("I am sorry, we are out of time. {}", self.workflow.closing);
            self.ending = true;
            self.say(now_ms, closing, false);
            self.state = State::Speaking {
                then: After::Hangup(EndReason::MaxDuration),
            };
            return;
        }
        match self.state {
            State::Listening { .. }
                if !self.keys.is_empty() && now_ms >= self.last_key_ms + self.config.keys_pause_ms =>
            {
                self.submit_keys(now_ms);
            }
            State::Listening {
                since_ms,
                hearing: false,
            } if now_ms >= since_ms + self.config.no_input_ms => {
                self.no_inputs += 1;
                if self.no_inputs >= self.config.max_no_inputs {
                    self.ending = true;
                    self.say(now_ms, "I will let you go for now. Goodbye!".to_owned(), false);
                    self.state = State::Speaking {
                        then: After::Hangup(EndReason::NoInput),
                    };
                } else {
                    let text = format!("Are you still there? {}", self.current_question());
                    self.ask(now_ms, text);
                }
            }
            State::Navigating {
                since_ms,
                hearing: false,
            } if now_ms >= since_ms + self.config.menu_wait_ms => {
                self.greet(now_ms);
            }
            State::AwaitingBeep { since_ms } if now_ms >= since_ms + self.config.beep_wait_ms => {
                self.leave_voicemail(now_ms);
            }
            _ => {}
        }
        if self.judging() && self.judged_machine(|j| j.tick(now_ms)) {
            self.confirm_machine(now_ms);
        }
    }

    /// Says `text` (interruptible) and listens afterwards.
    fn ask(&mut self, now_ms: u64, text: String) {
        self.say(now_ms, text, true);
        self.state = State::Speaking { then: After::Listen };
    }

    /// Says an optional acknowledgement and the closing, then hangs up.
    fn close(&mut self, now_ms: u64, ack: Option<String>, reason: EndReason) {
        let closing = match ack {
            Some(ack) => format!("{ack} {}", self.workflow.closing),
            None => self.workflow.closing.clone(),
        };
        self.ending = true;
        self.end_reason = Some(reason);
        self.say(now_ms, closing, false);
        self.state = State::Speaking {
            then: After::Hangup(reason),
        };
    }

    fn current_question(&self) -> String {
        self.step
            .map(|i| self.workflow.steps[i].question.clone())
            .unwrap_or_default()
    }

    /// The first step after `after` whose condition holds.
    fn next_step(&self, after: Option<usize>) -> Option<usize> {
        let start = after.map_or(0, |i| i + 1);
        (start..self.workflow.steps.len()).find(|&i| match &self.workflow.steps[i].when {
            None => true,
            Some(c) => self.fields.get(&c.field) == Some(&c.equals),
        })
    }

    fn say(&mut self, now_ms: u64, text: String, interruptible: bool) {
        let id = SayId(self.next_id);
        self.next_id += 1;
        self.turn_of.push((id, self.transcript.len()));
        self.transcript.push(Turn {
            role: Role::Agent,
            text: text.clone(),
            start_ms: now_ms,
            end_ms: now_ms,
            interrupted: false,
        });
        self.playing.push_back((id, interruptible));
        self.actions.push_back(Action::Say { id, text });
    }

    /// Cuts an agent turn to what was played: its end time, and when interrupted, its words in
    /// proportion to the time heard (nothing heard: the turn is dropped).
    fn finish_turn(&mut self, id: SayId, played_ms: u64, total_ms: u64, interrupted: bool) {
        let Some(&(_, index)) = self.turn_of.iter().find(|(i, _)| *i == id) else {
            return;
        };
        let Some(turn) = self.transcript.get_mut(index) else {
            return;
        };
        turn.end_ms = turn.start_ms + played_ms;
        if interrupted && total_ms > 0 {
            let words: Vec<&str> = turn.text.split_whitespace().collect();
            let heard = usize::try_from(words.len() as u64 * played_ms / total_ms).unwrap_or(words.len());
            turn.text = words[..heard.min(words.len())].join(" ");
            turn.interrupted = true;
        }
    }

    /// Records when an utterance actually started playing (the first audio packet), so turn times
    /// follow the audio rather than the request.
    pub fn started_playing(&mut self, id: SayId, now_ms: u64) {
        if let Some(&(_, index)) = self.turn_of.iter().find(|(i, _)| *i == id)
            && let Some(turn) = self.transcript.get_mut(index)
        {
            turn.start_ms = now_ms;
            turn.end_ms = now_ms;
        }
    }

    /// The transcript turn of an agent utterance, as it stands.
    pub fn turn_for(&self, id: SayId) -> Option<Turn> {
        let &(_, index) = self.turn_of.iter().find(|(i, _)| *i == id)?;
        self.transcript
            .get(index)
            .filter(|t| !(t.interrupted && t.text.is_empty()))
            .cloned()
    }

    /// The caller's latest turn.
    pub fn last_caller_turn(&self) -> Option<&Turn> {
        self.transcript.iter().rev().find(|t| t.role == Role::Caller)
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Whether the conversation has finished.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Why the agent ended (or is ending) the call, once it decided.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// Whether a machine answered.
    pub fn reached_machine(&self) -> bool {
        self.reached_machine
    }

    /// Whether the call was handed to a human (asked for, and not failed).
    pub fn transferred(&self) -> bool {
        self.transferred
    }

    /// Whether a hand-off to a human was tried and failed.
    pub fn transfer_failed(&self) -> bool {
        self.transfer_failed
    }

    /// The transcript so far, without turns that were never heard.
    pub fn transcript(&self) -> Vec<Turn> {
        let mut turns: Vec<Turn> = self
            .transcript
            .iter()
            .filter(|t| !(t.interrupted && t.text.is_empty()))
            .cloned()
            .collect();
        // A caller's turn is written once transcribed, which can be after the agent spoke over
        // its end (a machine's greeting, then our message): the transcript reads in the order
        // things were said (a stable sort keeps turns that start together as written).
        turns.sort_by_key(|t| t.start_ms);
        turns
    }

    /// The fields collected so far.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// A short summary of the call: what was agreed and collected, in a sentence or two.
    pub fn summary(&self) -> String {
        summary::summarize(
            &self.workflow,
            &self.fields,
            &summary::Happened {
                machine: self.reached_machine,
                end: self.end_reason,
                transferred: self.transferred,
                transfer_failed: self.transfer_failed,
                notes: &self.notes,
            },
        )
    }
}

/// Why a model's key presses were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfRefusal {
    /// The workflow navigates no phone menu, so the tool was never offered.
    #[error("this workflow has no phone-menu goal")]
    NotOffered,
    /// No keys.
    #[error("no keys to press")]
    Empty,
    /// A key the menu just heard does not offer, and the operator's prompt does not give.
    #[error("key {0:?} is not offered by the menu heard")]
    NotInMenu(char),
}

/// Whether a language model may press `digits` now. A callee's words must not be able to make
/// the agent dial through their switchboard: keys are pressed only for a workflow with a
/// phone-menu goal, and only keys the menu just `heard` offers, or a sequence the operator's
/// prompt spells out (an extension, an account number).
pub fn dtmf_allowed(workflow: &Workflow, heard: &str, digits: &str) -> Result<(), DtmfRefusal> {
    if workflow.ivr_target.is_none() {
        return Err(DtmfRefusal::NotOffered);
    }
    if digits.is_empty() {
        return Err(DtmfRefusal::Empty);
    }
    let prompt_digits: String = workflow
        .prompt
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
        .collect();
    if digits.len() > 1 && prompt_digits.contains(digits) {
        return Ok(());
    }
    let offered = intents::menu_keys(heard);
    match digits.chars().find(|k| !offered.contains(k)) {
        Some(k) => Err(DtmfRefusal::NotInMenu(k)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
