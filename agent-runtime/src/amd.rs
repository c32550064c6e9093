//! The call's answering-machine verdict: the audio detector's cascade (media-core's
//! `analysis::amd`, cadence and beep) combined with the greeting's words.
//!
//! The audio alone mistakes a receptionist for a machine: "Good morning, Harbor Dental, this is
//! Maria." runs past the longest greeting a person says to a caller they know and has as many
//! words as a short recording. So a machine verdict from the audio is only a suspicion here:
//! - the greeting's words settle it (see [`classify_transcript`]): a recording's language ("leave
//!   a message", "after the tone", "not available") makes it a machine, and so do a
//!   receptionist's phrases ("you've reached") when the audio agrees; words a person says who
//!   waits for us ("... this is Maria, how can I help?", "Hello?") make it a person;
//! - a beep in the greeting makes it a machine, even after words that sounded like a person ("Hi,
//!   this is Dana." | "Leave a message after the beep.");
//! - with neither, the suspicion stands after [`MACHINE_CONFIRM_MS`].
//!
//! A recording's greeting is long, and its turn ends only when it does; so while the audio
//! suspects a machine, the runtime also transcribes the greeting so far at its pauses
//! ([`AmdJudge::heard_so_far`]): a recording's language there confirms the machine seconds
//! earlier. Half a greeting never clears a suspicion ("You've reached Harbor Dental" | "this is
//! Maria, how can I help?"): only whole turns do.
//!
//! The judge is sans-IO: the runtime's conversation feeds it the detector's verdicts, beeps, the
//! caller's transcribed turns and ticks, with the time (ms since the answer) passed in, and acts
//! on what it returns. The AMD evaluation (`benches/benches/analysis_eval.rs`) drives the same
//! judge over its corpus, so its figures measure this code.

use media_core::analysis::amd::{Verdict, classify_transcript};

/// How long a machine verdict from the audio alone waits for the greeting's words or a beep
/// before it is taken: long enough for a business greeting to be heard and transcribed.
pub const MACHINE_CONFIRM_MS: u64 = 8_000;

/// How long after the answer the greeting's words still decide, ms (a carrier's announcement
/// with the number spelled out runs 15 s). Past it the conversation is under way and a person
/// may well say "not available" ("she's not available today"); the conversation's own logic
/// (menus, the model's `leave_voicemail`) takes over.
pub const GREETING_WINDOW_MS: u64 = 20_000;

/// How long after the answer a beep still means a machine, ms: it follows the longest greeting.
pub const BEEP_WINDOW_MS: u64 = 30_000;

/// A greeting that goes on this long without a pause for the caller (ms of its turn's speech)
/// is a recording's, unless its words say a person waits ("how can I help?"): people answering
/// the phone say a few seconds (2-5 s for a business) and wait.
pub const LONG_GREETING_MS: u64 = 7_000;

/// Confidence of the words from which a machine verdict needs no other evidence.
const STRONG_WORDS: f32 = 0.8;

/// Confidence of a person from a whole turn whose words say neither person nor recording.
const UNCLEAR_WORDS: f32 = 0.5;

/// Settings of the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JudgeConfig {
    /// See [`MACHINE_CONFIRM_MS`].
    pub confirm_after_ms: u64,
    /// See [`GREETING_WINDOW_MS`].
    pub greeting_window_ms: u64,
    /// See [`BEEP_WINDOW_MS`].
    pub beep_window_ms: u64,
    /// See [`LONG_GREETING_MS`].
    pub long_greeting_ms: u64,
    /// Whether a recording's language decides "machine" on its own, without the audio's
    /// suspicion or a beep. Off when a language model hears the greeting (it may call
    /// `leave_voicemail` itself).
    pub words_alone: bool,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            confirm_after_ms: MACHINE_CONFIRM_MS,
            greeting_window_ms: GREETING_WINDOW_MS,
            beep_window_ms: BEEP_WINDOW_MS,
            long_greeting_ms: LONG_GREETING_MS,
            words_alone: true,
        }
    }
}

/// What settled a judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JudgeCause {
    /// The audio detector's verdict (a short greeting then silence, initial silence, no
    /// decision in time).
    Audio,
    /// A beep.
    Beep,
    /// The greeting's words.
    Words,
    /// The audio's machine verdict, unchallenged for [`MACHINE_CONFIRM_MS`].
    Unchallenged,
    /// A suspected greeting went on past [`LONG_GREETING_MS`] without a person's words.
    LongGreeting,
}

impl JudgeCause {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeCause::Audio => "audio",
            JudgeCause::Beep => "beep",
            JudgeCause::Words => "words",
            JudgeCause::Unchallenged => "unchallenged",
            JudgeCause::LongGreeting => "long_greeting",
        }
    }
}

/// A verdict the call acts on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// Human, machine, or unknown.
    pub verdict: Verdict,
    /// Confidence, 0..=1.
    pub confidence: f32,
    /// When it was reached, ms since the answer.
    pub decided_ms: u64,
    /// What settled it.
    pub cause: JudgeCause,
}

/// Where the judge stands; each state carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Nothing heard that decides.
    Open,
    /// The audio said machine at `since_ms`, with this confidence; nothing has confirmed it.
    Suspected { since_ms: u64, confidence: f32 },
    /// A verdict; a machine verdict is final, a person or unknown may still turn out a machine
    /// within the greeting window.
    Decided(Judgement),
}

/// The answering-machine judge of one call (see the module documentation).
#[derive(Debug, Clone)]
pub struct AmdJudge {
    config: JudgeConfig,
    state: State,
}

impl AmdJudge {
    /// A judge for a call answered at time 0.
    pub fn new(config: JudgeConfig) -> Self {
        AmdJudge {
            config,
            state: State::Open,
        }
    }

    /// The verdict the call acts on, once there is one (a suspicion is none).
    pub fn judgement(&self) -> Option<Judgement> {
        match self.state {
            State::Decided(j) => Some(j),
            _ => None,
        }
    }

    /// Whether the audio's machine verdict waits for confirmation.
    pub fn suspects_machine(&self) -> bool {
        matches!(self.state, State::Suspected { .. })
    }

    /// Whether a machine verdict has been reached (final).
    pub fn is_machine(&self) -> bool {
        matches!(self.state, State::Decided(j) if j.verdict == Verdict::Machine)
    }

    /// The audio detector's verdict at `now_ms`. A machine verdict becomes a suspicion (unless
    /// the greeting's words already said a person); a person or unknown is taken while nothing
    /// else has decided. Returns the new judgement when this changes it.
    pub fn audio(&mut self, now_ms: u64, verdict: Verdict, confidence: f32) -> Option<Judgement> {
        match (self.state, verdict) {
            (State::Decided(j), _) if j.verdict == Verdict::Machine || j.cause == JudgeCause::Words => None,
            (State::Suspected { .. }, _) => None,
            (_, Verdict::Machine) => {
                self.state = State::Suspected {
                    since_ms: now_ms,
                    confidence,
                };
                None
            }
            (State::Open, _) => self.decide(verdict, confidence, now_ms, JudgeCause::Audio),
            // The audio does not revise its own person or unknown, except through a machine.
            (State::Decided(_), _) => None,
        }
    }

    /// A beep at `now_ms`: a machine, within [`BEEP_WINDOW_MS`], whatever was said before it.
    pub fn beep(&mut self, now_ms: u64) -> Option<Judgement> {
        if self.is_machine() || now_ms > self.config.beep_window_ms {
            return None;
        }
        self.decide(Verdict::Machine, 0.95, now_ms, JudgeCause::Beep)
    }

    /// The words of one of the caller's turns, transcribed, offered at `now_ms`. Within the
    /// greeting window: a recording's language makes a machine (on its own when
    /// [`JudgeConfig::words_alone`], else only with the audio's suspicion); a receptionist's
    /// phrases make one only with the audio's suspicion; anything else a whole turn says (a
    /// person's words, or words that sound like neither: a long greeting without a recording's
    /// language, a garbled transcript) makes a person and clears the suspicion, as people finish
    /// their greeting and wait while recordings say what they are.
    ///
    /// `speech_ms` is how long the turn's speech went on (first to last word): a suspected
    /// greeting of [`LONG_GREETING_MS`] or more whose words do not say a person waits is a
    /// machine.
    pub fn heard(&mut self, now_ms: u64, text: &str, speech_ms: u64) -> Option<Judgement> {
        if self.is_machine() || now_ms > self.config.greeting_window_ms || text.trim().is_empty() {
            return None;
        }
        let (verdict, confidence) = classify_transcript(text).unwrap_or((Verdict::Human, UNCLEAR_WORDS));
        let suspected = self.suspects_machine();
        if suspected && speech_ms >= self.config.long_greeting_ms && !waits_for_us(verdict, confidence) {
            return self.decide(Verdict::Machine, 0.7, now_ms, JudgeCause::LongGreeting);
        }
        match verdict {
            Verdict::Machine if suspected || (confidence >= STRONG_WORDS && self.config.words_alone) => {
                self.decide(Verdict::Machine, confidence, now_ms, JudgeCause::Words)
            }
            Verdict::Human => match self.state {
                // A person already: the first words that said so stand.
                State::Decided(j) if j.verdict == Verdict::Human && j.cause == JudgeCause::Words => None,
                _ => self.decide(Verdict::Human, confidence, now_ms, JudgeCause::Words),
            },
            Verdict::Machine | Verdict::Unknown => None,
        }
    }

    /// The words of the caller's turn so far (transcribed at a pause inside it), offered at
    /// `now_ms` while the audio suspects a machine: only a recording's language counts here, and
    /// it confirms the machine. Returns the new judgement when it does.
    ///
    /// `speech_ms` is how long the greeting has gone on: [`LONG_GREETING_MS`] or more without
    /// words that say a person waits is a machine, as for a whole turn.
    pub fn heard_so_far(&mut self, now_ms: u64, text: &str, speech_ms: u64) -> Option<Judgement> {
        if !self.suspects_machine() || now_ms > self.config.greeting_window_ms {
            return None;
        }
        let words = classify_transcript(text);
        match words {
            Some((Verdict::Machine, confidence)) if confidence >= STRONG_WORDS => {
                self.decide(Verdict::Machine, confidence, now_ms, JudgeCause::Words)
            }
            Some((v, c)) if waits_for_us(v, c) => None,
            _ if speech_ms >= self.config.long_greeting_ms => {
                self.decide(Verdict::Machine, 0.7, now_ms, JudgeCause::LongGreeting)
            }
            _ => None,
        }
    }

    /// The time is `now_ms`: an unchallenged suspicion becomes a machine verdict.
    pub fn tick(&mut self, now_ms: u64) -> Option<Judgement> {
        match self.state {
            State::Suspected { since_ms, confidence }
                if now_ms >= since_ms + self.config.confirm_after_ms =>
            {
                self.decide(Verdict::Machine, confidence, now_ms, JudgeCause::Unchallenged)
            }
            _ => None,
        }
    }

    fn decide(
        &mut self,
        verdict: Verdict,
        confidence: f32,
        now_ms: u64,
        cause: JudgeCause,
    ) -> Option<Judgement> {
        let j = Judgement {
            verdict,
            confidence: if confidence.is_finite() {
                confidence.clamp(0.0, 1.0)
            } else {
                0.0
            },
            decided_ms: now_ms,
            cause,
        };
        self.state = State::Decided(j);
        Some(j)
    }
}

/// Whether the words say a person is there waiting for the caller ("how can I help?", "who's
/// calling?"): [`classify_transcript`]'s confident "human".
fn waits_for_us(verdict: Verdict, confidence: f32) -> bool {
    verdict == Verdict::Human && confidence >= 0.85
}

impl Default for AmdJudge {
    fn default() -> Self {
        AmdJudge::new(JudgeConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(j: Option<Judgement>) -> Option<(Verdict, JudgeCause)> {
        j.map(|j| (j.verdict, j.cause))
    }

    #[test]
    fn a_receptionist_clears_the_cadence_s_suspicion() {
        let mut judge = AmdJudge::default();
        assert_eq!(judge.audio(2_000, Verdict::Machine, 0.8), None);
        assert!(judge.suspects_machine());
        let j = judge.heard(3_600, "Good morning, Harbor Dental, this is Maria.", 3_000);
        assert_eq!(verdict(j), Some((Verdict::Human, JudgeCause::Words)));
        assert_eq!(judge.judgement().map(|j| j.decided_ms), Some(3_600));
        // Time passes; the person waits for us: still a person.
        assert_eq!(judge.tick(2_000 + MACHINE_CONFIRM_MS + 1), None);
        assert_eq!(judge.judgement().map(|j| j.verdict), Some(Verdict::Human));
    }

    #[test]
    fn a_voicemail_is_confirmed_by_its_words_by_its_beep_or_by_time() {
        let mut words = AmdJudge::default();
        words.audio(2_000, Verdict::Machine, 0.8);
        let j = words.heard(
            6_000,
            "Hi, you've reached Sam. Leave a message after the tone.",
            3_000,
        );
        assert_eq!(verdict(j), Some((Verdict::Machine, JudgeCause::Words)));
        // Final: later words or beeps change nothing.
        assert_eq!(words.heard(7_000, "Hello?", 3_000), None);
        assert_eq!(words.beep(7_500), None);

        let mut beep = AmdJudge::default();
        beep.audio(2_000, Verdict::Machine, 0.8);
        assert_eq!(
            verdict(beep.beep(5_000)),
            Some((Verdict::Machine, JudgeCause::Beep))
        );

        let mut quiet = AmdJudge::default();
        quiet.audio(2_000, Verdict::Machine, 0.8);
        assert_eq!(quiet.tick(2_000 + MACHINE_CONFIRM_MS - 1), None);
        let j = quiet.tick(2_000 + MACHINE_CONFIRM_MS).expect("stands");
        assert_eq!((j.verdict, j.cause), (Verdict::Machine, JudgeCause::Unchallenged));
    }

    #[test]
    fn a_short_greeting_then_its_beep_or_its_words_is_a_machine() {
        // "Hi, this is Dana." | "Sorry I missed you. Leave a message after the beep."
        let mut judge = AmdJudge::default();
        assert_eq!(
            verdict(judge.audio(2_100, Verdict::Human, 0.7)),
            Some((Verdict::Human, JudgeCause::Audio))
        );
        assert_eq!(
            verdict(judge.heard(2_500, "Hi, this is Dana.", 3_000)),
            Some((Verdict::Human, JudgeCause::Words))
        );
        assert_eq!(
            verdict(judge.heard(
                5_800,
                "Sorry I missed you. Leave a message after the beep.",
                3_000
            )),
            Some((Verdict::Machine, JudgeCause::Words))
        );
        let mut beep = AmdJudge::default();
        beep.audio(2_100, Verdict::Human, 0.7);
        beep.heard(2_500, "Hey, it's Jo.", 3_000);
        assert_eq!(
            verdict(beep.beep(3_400)),
            Some((Verdict::Machine, JudgeCause::Beep))
        );
    }

    #[test]
    fn half_a_greeting_confirms_a_machine_but_never_clears_one() {
        let mut judge = AmdJudge::default();
        // Not suspected: the greeting so far is not listened to.
        assert_eq!(
            judge.heard_so_far(1_500, "The person you are calling is not available.", 2_000),
            None
        );
        judge.audio(2_000, Verdict::Machine, 0.8);
        // A receptionist's phrase or a person's words, half said: nothing yet.
        assert_eq!(
            judge.heard_so_far(2_400, "You've reached Harbor Dental,", 2_000),
            None
        );
        assert_eq!(
            judge.heard_so_far(2_600, "Good morning, Harbor Dental,", 2_000),
            None
        );
        assert!(judge.suspects_machine());
        let j = judge.heard_so_far(3_100, "The person you are calling is not available.", 2_000);
        assert_eq!(verdict(j), Some((Verdict::Machine, JudgeCause::Words)));
    }

    #[test]
    fn a_whole_turn_that_sounds_like_neither_is_a_person() {
        // A long live greeting garbled by the recognizer, no recording's language in it.
        let mut judge = AmdJudge::default();
        judge.audio(2_900, Verdict::Machine, 0.8);
        let j = judge.heard(
            4_900,
            "Don't leave me in the mail at you, you know, will you like the make a mail information?",
            3_000,
        );
        assert_eq!(verdict(j), Some((Verdict::Human, JudgeCause::Words)));
        assert_eq!(judge.tick(2_900 + MACHINE_CONFIRM_MS), None);
        // Nothing heard is nothing.
        let mut quiet = AmdJudge::default();
        quiet.audio(2_900, Verdict::Machine, 0.8);
        assert_eq!(quiet.heard(4_900, "  ", 3_000), None);
        assert!(quiet.suspects_machine());
    }

    #[test]
    fn a_greeting_that_goes_on_is_a_recording_unless_a_person_offers_help() {
        let mut judge = AmdJudge::default();
        judge.audio(2_400, Verdict::Machine, 0.8);
        // Garbled words, no recording's language: the length decides.
        assert_eq!(
            judge.heard_so_far(6_000, "It is not the rain, I am happy to", 5_500),
            None
        );
        let j = judge.heard_so_far(
            8_000,
            "It is not the rain, I am happy to come to the moment.",
            7_500,
        );
        assert_eq!(verdict(j), Some((Verdict::Machine, JudgeCause::LongGreeting)));
        // A long receptionist's greeting that offers help is a person.
        let mut desk = AmdJudge::default();
        desk.audio(2_400, Verdict::Machine, 0.8);
        let words = "Thank you for calling Northside Pharmacy, this is Alicia, how can I help you today?";
        assert_eq!(desk.heard_so_far(8_000, words, 7_500), None);
        assert_eq!(
            verdict(desk.heard(8_600, words, 7_600)),
            Some((Verdict::Human, JudgeCause::Words))
        );
        // The whole turn's length counts too.
        let mut turn = AmdJudge::default();
        turn.audio(2_400, Verdict::Machine, 0.8);
        assert_eq!(
            verdict(turn.heard(9_000, "The", 8_200)),
            Some((Verdict::Machine, JudgeCause::LongGreeting))
        );
    }

    #[test]
    fn the_greeting_window_closes() {
        let mut judge = AmdJudge::default();
        judge.audio(1_500, Verdict::Human, 0.9);
        judge.heard(2_000, "Hello?", 3_000);
        // Well into the conversation, "not available" is a person's answer.
        assert_eq!(
            judge.heard(GREETING_WINDOW_MS + 1, "Sorry, she's not available today.", 3_000),
            None
        );
        assert_eq!(judge.beep(BEEP_WINDOW_MS + 1), None);
        // A beep after a long carrier announcement is still a machine's.
        let mut late = AmdJudge::default();
        late.audio(2_000, Verdict::Machine, 0.8);
        assert_eq!(
            verdict(late.beep(GREETING_WINDOW_MS + 2_000)),
            Some((Verdict::Machine, JudgeCause::Beep))
        );
        assert_eq!(judge.judgement().map(|j| j.verdict), Some(Verdict::Human));
    }

    #[test]
    fn weak_or_lone_words_need_the_audio() {
        // A receptionist's phrase alone decides nothing...
        let mut judge = AmdJudge::default();
        assert_eq!(
            judge.heard(
                3_000,
                "You have reached the Lee family and we will call you back soon enough",
                3_000
            ),
            None
        );
        // ...but with the audio's suspicion it is a machine.
        let mut suspected = AmdJudge::default();
        suspected.audio(2_000, Verdict::Machine, 0.8);
        assert_eq!(
            verdict(suspected.heard(
                3_000,
                "You have reached the Lee family and we will call you back soon enough",
                3_000
            )),
            Some((Verdict::Machine, JudgeCause::Words))
        );
        // Without words alone (a model hears the greeting), a recording's language waits for
        // the audio too.
        let mut model = AmdJudge::new(JudgeConfig {
            words_alone: false,
            ..JudgeConfig::default()
        });
        assert_eq!(model.heard(3_000, "Leave a message after the tone.", 3_000), None);
    }

    #[test]
    fn the_audio_s_person_or_unknown_is_taken_when_nothing_else_decided() {
        let mut judge = AmdJudge::default();
        assert_eq!(
            verdict(judge.audio(2_500, Verdict::Unknown, 0.5)),
            Some((Verdict::Unknown, JudgeCause::Audio))
        );
        // A later machine verdict from the audio (its own beep) is a suspicion again.
        assert_eq!(judge.audio(4_000, Verdict::Machine, 0.95), None);
        assert!(judge.suspects_machine());
        let mut words_first = AmdJudge::default();
        words_first.heard(1_500, "Hello?", 3_000);
        assert_eq!(words_first.audio(2_500, Verdict::Machine, 0.8), None);
        assert!(
            !words_first.suspects_machine(),
            "a person's words outrank the cadence"
        );
    }
}
