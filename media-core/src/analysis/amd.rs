//! Answering-machine detection (AMD) as a cascade, after the call is answered:
//!
//! 1. **Beep.** A beep means a machine, with high confidence: before a verdict, and also after a
//!    `human` or `unknown` one (a short voicemail greeting, "Hey, it's Sam, leave a message",
//!    passes for a person until its beep), which is then revised.
//! 2. **Greeting cadence**, in the manner of Asterisk's `AMD()`: people answer with a short
//!    greeting ("Hello?", "Hi, this is Dana") and then wait for the caller; machines play a long
//!    greeting without waiting. So:
//!    - speech that goes on for `max_greeting_ms` (counting pauses shorter than
//!      `after_greeting_silence_ms`) is a machine;
//!    - more than `max_words` words (speech bursts) before such a pause is a machine;
//!    - a greeting followed by `after_greeting_silence_ms` of silence is a human;
//!    - no speech within `initial_silence_ms` gives `initial_silence_verdict`;
//!    - no decision within `total_analysis_ms` gives `unknown`.
//! 3. **Transcript.** The agent runtime transcribes the greeting anyway; through
//!    [`AmdDetector::offer_transcript`] it can add a verdict of its own (for example from
//!    [`classify_transcript`], or a language model), which settles an undecided or `unknown`
//!    call.
//!
//! Times are ms since the answer (the analyzer's origin). Each decision carries a confidence in
//! 0..=1 that grows with the margin by which the evidence passed its threshold.

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// A person answered.
    Human,
    /// An answering machine or voicemail answered.
    Machine,
    /// Could not tell.
    Unknown,
}

impl Verdict {
    /// The word used in JSON: `human`, `machine`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Human => "human",
            Verdict::Machine => "machine",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What settled the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AmdCause {
    /// A beep was heard.
    Beep,
    /// The greeting went on too long.
    LongGreeting,
    /// The greeting had too many words.
    ManyWords,
    /// A short greeting, then silence.
    ShortGreeting,
    /// Nothing was said for the initial-silence time.
    InitialSilence,
    /// The analysis time ran out.
    Timeout,
    /// The transcript-based verdict offered by the runtime.
    Transcript,
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmdDecision {
    /// The verdict.
    pub verdict: Verdict,
    /// Confidence, 0..=1.
    pub confidence: f32,
    /// When it was decided, in ms since the answer.
    pub decided_ms: u64,
    /// What settled it.
    pub cause: AmdCause,
}

/// Settings of the cascade (Asterisk's names where they exist).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmdConfig {
    /// Silence at the start that settles the call, in ms.
    pub initial_silence_ms: u64,
    /// What that silence means. Asterisk says machine; a silent person is as likely, so the
    /// default is `Unknown` and the agent speaks first.
    pub initial_silence_verdict: Verdict,
    /// Longest human greeting, in ms from its first speech, pauses included.
    pub max_greeting_ms: u64,
    /// Silence after a greeting that means a person is waiting, in ms.
    pub after_greeting_silence_ms: u64,
    /// Silence between two words, in ms (shorter gaps join words).
    pub between_words_silence_ms: u64,
    /// Shortest word, in ms.
    pub min_word_ms: u64,
    /// Most words in a human greeting.
    pub max_words: u32,
    /// When to give up, in ms.
    pub total_analysis_ms: u64,
    /// Weakest transcript verdict that is taken.
    pub min_transcript_confidence: f32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            initial_silence_ms: 2500,
            initial_silence_verdict: Verdict::Unknown,
            max_greeting_ms: 2000,
            after_greeting_silence_ms: 700,
            between_words_silence_ms: 64,
            min_word_ms: 96,
            max_words: 6,
            total_analysis_ms: 5000,
            min_transcript_confidence: 0.6,
        }
    }
}

/// Cadence state; each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Waiting for the first speech.
    Waiting,
    /// Inside the greeting.
    Greeting {
        start: u64,
        last_speech_end: u64,
        words: u32,
        /// Speech since the current word began (0 when in a gap).
        word_ms: u64,
        in_word: bool,
    },
    /// Decided.
    Decided(AmdDecision),
}

/// The AMD cascade of one call.
#[derive(Debug, Clone)]
pub struct AmdDetector {
    config: AmdConfig,
    origin_ms: u64,
    state: State,
}

impl AmdDetector {
    /// A detector for a call answered at `origin_ms` of the analyzer's timeline.
    pub fn new(config: AmdConfig, origin_ms: u64) -> Self {
        AmdDetector {
            config,
            origin_ms,
            state: State::Waiting,
        }
    }

    /// The decision, once made.
    pub fn decision(&self) -> Option<AmdDecision> {
        match self.state {
            State::Decided(d) => Some(d),
            _ => None,
        }
    }

    /// Feeds one chunk `[start_ms, end_ms)` and whether it is speech; returns the decision when
    /// this chunk settles it.
    pub fn process(&mut self, start_ms: u64, end_ms: u64, speech: bool) -> Option<AmdDecision> {
        let c = self.config;
        let t = end_ms.saturating_sub(self.origin_ms);
        let start = start_ms.saturating_sub(self.origin_ms);
        let decision = match self.state {
            State::Decided(_) => return None,
            State::Waiting if speech => {
                self.state = State::Greeting {
                    start,
                    last_speech_end: t,
                    words: 0,
                    word_ms: t - start,
                    in_word: true,
                };
                None
            }
            State::Waiting if t >= c.initial_silence_ms => {
                Some(self.decide(c.initial_silence_verdict, 0.5, t, AmdCause::InitialSilence))
            }
            State::Waiting => None,
            State::Greeting {
                start: g_start,
                last_speech_end,
                mut words,
                mut word_ms,
                mut in_word,
            } => {
                let len = t - start;
                if speech {
                    if !in_word {
                        in_word = true;
                        word_ms = 0;
                    }
                    word_ms += len;
                    self.state = State::Greeting {
                        start: g_start,
                        last_speech_end: t,
                        words,
                        word_ms,
                        in_word,
                    };
                } else if in_word && t >= last_speech_end + c.between_words_silence_ms {
                    if word_ms >= c.min_word_ms {
                        words += 1;
                    }
                    self.state = State::Greeting {
                        start: g_start,
                        last_speech_end,
                        words,
                        word_ms: 0,
                        in_word: false,
                    };
                }
                let State::Greeting {
                    last_speech_end,
                    words,
                    in_word,
                    word_ms,
                    ..
                } = self.state
                else {
                    return None;
                };
                let words_so_far = words + u32::from(in_word && word_ms >= c.min_word_ms);
                let greeting = last_speech_end - g_start;
                if greeting >= c.max_greeting_ms {
                    let over = (greeting - c.max_greeting_ms) as f32 / c.max_greeting_ms as f32;
                    Some(self.decide(
                        Verdict::Machine,
                        0.75 + 0.25 * over.min(1.0),
                        t,
                        AmdCause::LongGreeting,
                    ))
                } else if words_so_far > c.max_words {
                    Some(self.decide(Verdict::Machine, 0.7, t, AmdCause::ManyWords))
                } else if !speech && t >= last_speech_end + c.after_greeting_silence_ms {
                    let short = 1.0 - greeting as f32 / c.max_greeting_ms as f32;
                    Some(self.decide(Verdict::Human, 0.6 + 0.4 * short, t, AmdCause::ShortGreeting))
                } else if t >= c.total_analysis_ms {
                    Some(self.decide(Verdict::Unknown, 0.0, t, AmdCause::Timeout))
                } else {
                    None
                }
            }
        };
        if decision.is_none() && !matches!(self.state, State::Decided(_)) && t >= c.total_analysis_ms {
            return Some(self.decide(Verdict::Unknown, 0.0, t, AmdCause::Timeout));
        }
        decision
    }

    /// A beep was heard at `at_ms`: a machine, unless that is already the verdict.
    pub fn beep(&mut self, at_ms: u64) -> Option<AmdDecision> {
        match self.state {
            State::Decided(d) if d.verdict == Verdict::Machine => None,
            _ => Some(self.decide(
                Verdict::Machine,
                0.95,
                at_ms.saturating_sub(self.origin_ms),
                AmdCause::Beep,
            )),
        }
    }

    /// A transcript-based verdict from the runtime, at `at_ms`. Taken when nothing is decided
    /// yet or the decision was `unknown`, and the confidence is at least
    /// `min_transcript_confidence`; returns the new decision if it was taken.
    pub fn offer_transcript(&mut self, at_ms: u64, verdict: Verdict, confidence: f32) -> Option<AmdDecision> {
        let open = match self.state {
            State::Decided(d) => d.verdict == Verdict::Unknown,
            _ => true,
        };
        let confidence = if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        if !open || verdict == Verdict::Unknown || confidence < self.config.min_transcript_confidence {
            return None;
        }
        Some(self.decide(
            verdict,
            confidence,
            at_ms.saturating_sub(self.origin_ms),
            AmdCause::Transcript,
        ))
    }

    fn decide(&mut self, verdict: Verdict, confidence: f32, decided_ms: u64, cause: AmdCause) -> AmdDecision {
        let d = AmdDecision {
            verdict,
            confidence: confidence.clamp(0.0, 1.0),
            decided_ms,
            cause,
        };
        self.state = State::Decided(d);
        d
    }
}

/// Phrases only a recording says (voicemail, a carrier's announcement, a closed office),
/// lowercase, apostrophes straight. "Leave ... message" in its many forms is matched apart (see
/// [`asks_for_a_message`]).
const MACHINE_PHRASES: &[&str] = &[
    "after the tone",
    "after the beep",
    "at the tone",
    "at the beep",
    "record your message",
    "finished recording",
    "not available",
    "unavailable",
    "can't take your call",
    "cannot take your call",
    "unable to take your call",
    "can't come to the phone",
    "cannot come to the phone",
    "can't answer the phone",
    "voicemail",
    "voice mail",
    "mailbox",
    "messaging system",
    "try your call again",
    "the number you have dialed",
    "the number you dialed",
    "currently closed",
    "is now closed",
    "office is closed",
    "away from my desk",
    "away from the phone",
    "out of the office",
    "please leave",
];

/// Phrases a recording often says but a person answering for a business may too ("You've
/// reached Harbor Dental, this is Maria"): machine evidence only without signs of a person.
const WEAK_MACHINE_PHRASES: &[&str] = &[
    "you have reached",
    "you've reached",
    "get back to you",
    "return your call",
    "call you back",
    "missed your call",
    "sorry i missed",
    "can't talk right now",
    "message",
    "messages",
];

/// What a person says who is there and waiting for the caller: an offer of help, a question
/// about who calls, a request to hold.
const LIVE_PHRASES: &[&str] = &[
    "how can i help",
    "how may i help",
    "how can we help",
    "can i help",
    "may i help",
    "what can i do for you",
    "how may i direct",
    "who's calling",
    "who is calling",
    "who's this",
    "who is this",
    "speaking",
    "please hold",
    "hold please",
    "hold on",
    "can you hold",
    "one moment",
    "just a moment",
    "are you there",
    "anyone there",
];

/// "Leave a message", "leave me a message", "leave your name and number", "leave a detailed
/// message", "leave a voicemail": `leave` with a message word at most four words on, or with
/// `a`, `your`, `my`, `me a` or `us a` after it (what a recording asks for, even when the
/// recognizer mangles the message word on a poor line; "don't leave me" is not).
fn asks_for_a_message(words: &[&str]) -> bool {
    words.iter().enumerate().any(|(i, w)| {
        *w == "leave"
            && (matches!(words.get(i + 1), Some(&("a" | "your" | "my")))
                || (matches!(words.get(i + 1), Some(&("me" | "us"))) && words.get(i + 2) == Some(&"a"))
                || words[i + 1..].iter().take(4).any(|n| {
                    matches!(
                        *n,
                        "message" | "messages" | "voicemail" | "name" | "number" | "details"
                    )
                }))
    })
}

/// A transcript-based verdict from the words of a greeting:
/// - a machine, confidence 0.95, with two pieces of a recording's language ("leave a message",
///   "after the tone", "not available", "mailbox" ...), 0.85 with one (0.6 if the words also
///   sound like a person waiting: "... can I help you?");
/// - a machine, 0.6, with only phrases a receptionist may say too ("you've reached", "call you
///   back") and no sign of a person;
/// - a person, 0.85, with what a person says who waits for the caller ("how can I help",
///   "who's calling", "speaking", "hold on", a lone "Hello?"); 0.7 for a greeting of at most six
///   words without a recording's phrase, 0.6 up to sixteen words;
/// - nothing for no text, or a longer text without either kind of phrase.
///
/// A cheap default for the runtime's hook.
pub fn classify_transcript(text: &str) -> Option<(Verdict, f32)> {
    let lower: String = text
        .to_lowercase()
        .replace('\u{2019}', "'")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '?' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = lower
        .split_whitespace()
        .map(|w| w.trim_end_matches('?'))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    let plain = format!(" {} ", words.join(" "));
    let count = |phrases: &[&str]| {
        phrases
            .iter()
            .filter(|p| plain.contains(&format!(" {p} ")))
            .count()
    };
    let strong = count(MACHINE_PHRASES) + usize::from(asks_for_a_message(&words));
    let weak = count(WEAK_MACHINE_PHRASES);
    let live = count(LIVE_PHRASES) + usize::from(words.len() <= 3 && lower.contains('?'));
    match (strong, weak, live) {
        (2.., _, _) => Some((Verdict::Machine, 0.95)),
        (1, _, 0) => Some((Verdict::Machine, 0.85)),
        (1, _, _) => Some((Verdict::Machine, 0.6)),
        (0, _, 1..) => Some((Verdict::Human, 0.85)),
        (0, 1.., 0) => Some((Verdict::Machine, 0.6)),
        _ if words.len() <= 6 => Some((Verdict::Human, 0.7)),
        _ if words.len() <= 16 => Some((Verdict::Human, 0.6)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(speech, ms)` runs as 32 ms chunks from 0; returns the decision.
    fn run(amd: &mut AmdDetector, runs: &[(bool, u64)]) -> Option<AmdDecision> {
        let mut t = 0;
        for &(speech, ms) in runs {
            for _ in 0..ms / 32 {
                if let Some(d) = amd.process(t, t + 32, speech) {
                    return Some(d);
                }
                t += 32;
            }
        }
        None
    }

    #[test]
    fn hello_then_silence_is_human() {
        let mut amd = AmdDetector::new(AmdConfig::default(), 0);
        let d = run(&mut amd, &[(false, 800), (true, 480), (false, 3000)]).expect("decided");
        assert_eq!((d.verdict, d.cause), (Verdict::Human, AmdCause::ShortGreeting));
        assert!(d.decided_ms < 2100 && d.decided_ms > 1900, "{d:?}");
        assert!(d.confidence > 0.8);
    }

    #[test]
    fn a_long_greeting_is_a_machine() {
        let mut amd = AmdDetector::new(AmdConfig::default(), 0);
        let runs: Vec<(bool, u64)> = [(false, 640)]
            .into_iter()
            .chain((0..10).flat_map(|_| [(true, 480), (false, 224)]))
            .collect();
        let d = run(&mut amd, &runs).expect("decided");
        assert_eq!(d.verdict, Verdict::Machine, "{d:?}");
        assert!(d.decided_ms < 3000, "{d:?}");
    }

    #[test]
    fn a_beep_settles_a_machine_and_silence_gives_unknown() {
        let mut amd = AmdDetector::new(AmdConfig::default(), 1000);
        assert_eq!(
            amd.beep(2500).map(|d| (d.verdict, d.decided_ms)),
            Some((Verdict::Machine, 1500))
        );
        assert!(amd.beep(3000).is_none());
        // A short greeting taken for a person, then its beep: revised to a machine.
        let mut short = AmdDetector::new(AmdConfig::default(), 0);
        let first = run(&mut short, &[(false, 640), (true, 1200), (false, 1200)]).expect("decided");
        assert_eq!(first.verdict, Verdict::Human);
        let revised = short.beep(3200).expect("revised");
        assert_eq!(
            (revised.verdict, revised.cause, revised.decided_ms),
            (Verdict::Machine, AmdCause::Beep, 3200)
        );
        let mut quiet = AmdDetector::new(AmdConfig::default(), 0);
        let d = run(&mut quiet, &[(false, 4000)]).expect("decided");
        assert_eq!((d.verdict, d.cause), (Verdict::Unknown, AmdCause::InitialSilence));
    }

    #[test]
    fn the_transcript_settles_unknown_but_not_a_verdict() {
        let mut amd = AmdDetector::new(AmdConfig::default(), 0);
        run(&mut amd, &[(false, 4000)]);
        let d = amd.offer_transcript(4500, Verdict::Machine, 0.9).expect("taken");
        assert_eq!((d.verdict, d.cause), (Verdict::Machine, AmdCause::Transcript));
        assert!(amd.offer_transcript(5000, Verdict::Human, 0.9).is_none());
        let mut weak = AmdDetector::new(AmdConfig::default(), 0);
        assert!(weak.offer_transcript(100, Verdict::Machine, 0.3).is_none());
    }

    #[test]
    fn transcript_phrases() {
        assert_eq!(
            classify_transcript("Hi, you've reached Dana. Please leave a message after the tone.")
                .map(|v| v.0),
            Some(Verdict::Machine)
        );
        assert_eq!(classify_transcript("Hello?").map(|v| v.0), Some(Verdict::Human));
        assert_eq!(classify_transcript("  "), None);
        assert_eq!(classify_transcript(" ?! "), None);
        // A person who answers for a business and waits for us.
        assert_eq!(
            classify_transcript("You've reached Pine Street Bakery, this is Ana, how can I help you?"),
            Some((Verdict::Human, 0.85))
        );
        assert_eq!(
            classify_transcript("Good morning, Pine Street Bakery, this is Ana."),
            Some((Verdict::Human, 0.6))
        );
        // A message asked for in other words; a carrier's announcement.
        assert_eq!(
            classify_transcript("Hey, it's Jo. Leave me a quick message.").map(|v| v.0),
            Some(Verdict::Machine)
        );
        assert_eq!(
            classify_transcript("The number you have dialed is not available."),
            Some((Verdict::Machine, 0.95))
        );
        // Only a receptionist's phrase, no sign of a person: weak.
        assert_eq!(
            classify_transcript("You have reached the Lee family and we will call you back soon enough"),
            Some((Verdict::Machine, 0.6))
        );
        // "Leave" without a message word is not a request for one.
        assert_eq!(
            classify_transcript("Hi, we leave for the airport at noon, who is this?").map(|v| v.0),
            Some(Verdict::Human)
        );
        assert_eq!(
            classify_transcript("Don't leave me in the car, who is this?").map(|v| v.0),
            Some(Verdict::Human)
        );
        // A request for a message the recognizer mangled is still one.
        assert_eq!(
            classify_transcript("Sorry, I can't get to the phone. Please leave my method.").map(|v| v.0),
            Some(Verdict::Machine)
        );
    }
}
