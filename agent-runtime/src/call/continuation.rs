//! Turns the caller has not finished: a transcript is held back, not answered, when the caller is
//! already talking again by the time it is ready, or when its words stop mid-sentence ("my email
//! address is", "I think it was, um"); the next part of the turn is then joined to it.
//!
//! The end-of-turn decision is made on audio, in a few hundred milliseconds; the agent cannot
//! answer before the transcript is ready anyway (about a second on the box). So a pause the audio
//! took for the end can still be corrected by the words, at no cost to a turn that really ended.
//! A held turn is delivered when the caller stays quiet for `max_pause_ms` after it, and in any
//! case `2 * max_pause_ms` after it while no later turn is on its way: a noisy line can look
//! like speech that never ends, and the caller must not wait for it.
//!
//! With a patience (`min_quiet_ms`), even a finished-looking turn is answered only once the caller
//! has been quiet that long after it: slower, but a pause shorter than that never costs the caller
//! their turn, whatever the words were.
//!
//! Sans-IO: times are milliseconds on the call's clock, passed in.

/// Words a finished English sentence does not end on: articles, prepositions, conjunctions,
/// possessives, copulas and fillers.
const DANGLING: &[&str] = &[
    "a", "an", "the", "to", "of", "for", "with", "from", "at", "by", "into", "and", "but", "or", "because",
    "if", "than", "my", "your", "our", "their", "is", "are", "was", "were", "am", "um", "uh", "er", "erm",
    "uhm", "hmm", "like", "be", "being", "been",
];

/// Longest run of holds joined into one turn: a caller who keeps pausing is answered anyway.
const MAX_HOLDS: u32 = 4;

/// Part of the caller's turn, as transcribed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnText {
    /// The words.
    pub text: String,
    /// Start of the speech, ms.
    pub start_ms: u64,
    /// End of the speech, ms.
    pub end_ms: u64,
}

/// Whether `text` stops where a sentence cannot: on a dangling word, a comma or an ellipsis.
pub fn unfinished(text: &str) -> bool {
    let trimmed = text.trim_end();
    if trimmed.ends_with("...") || trimmed.ends_with('…') || trimmed.ends_with(',') || trimmed.ends_with('-')
    {
        return true;
    }
    let Some(last) = trimmed.split_whitespace().last() else {
        return false;
    };
    let word: String = last
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
        .to_lowercase();
    DANGLING.contains(&word.as_str())
}

/// The held part of the caller's turn and what the caller is doing. See the module docs.
#[derive(Debug, Clone)]
pub struct Continuation {
    max_pause_ms: u64,
    min_quiet_ms: u64,
    held: Option<TurnText>,
    /// Quiet after the held turn that releases it: `max_pause_ms` when its words are unfinished,
    /// `min_quiet_ms` when only patience holds it.
    release_after_ms: u64,
    holds: u32,
    /// The caller is speaking (a turn started and has not ended).
    speaking: bool,
    /// Turns ended whose transcript has not arrived.
    in_flight: u32,
}

impl Continuation {
    /// Holds an unfinished turn for at most `max_pause_ms` of the caller's silence.
    pub fn new(max_pause_ms: u64) -> Self {
        Continuation {
            max_pause_ms,
            min_quiet_ms: 0,
            held: None,
            release_after_ms: max_pause_ms,
            holds: 0,
            speaking: false,
            in_flight: 0,
        }
    }

    /// Answers no turn before the caller has been quiet `min_quiet_ms` after it (at most the
    /// longest pause).
    pub fn with_patience(mut self, min_quiet_ms: u64) -> Self {
        self.min_quiet_ms = min_quiet_ms.min(self.max_pause_ms);
        self
    }

    /// The caller started speaking.
    pub fn caller_started(&mut self) {
        self.speaking = true;
    }

    /// The caller's speech was too short to be a turn (a cough, a click).
    pub fn caller_discarded(&mut self) {
        self.speaking = false;
    }

    /// The caller's turn ended; its transcript is on its way.
    pub fn turn_ended(&mut self) {
        self.speaking = false;
        self.in_flight += 1;
    }

    /// A transcript arrived at `now_ms`: returns what to answer now, if anything.
    pub fn transcript(&mut self, t: TurnText, now_ms: u64) -> Option<TurnText> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let joined = match self.held.take() {
            Some(held) => TurnText {
                text: join(&held.text, &t.text),
                start_ms: held.start_ms,
                end_ms: t.end_ms.max(held.end_ms),
            },
            None => t,
        };
        let more_coming = self.speaking || self.in_flight > 0;
        if self.holds < MAX_HOLDS && (more_coming || unfinished(&joined.text)) {
            self.holds += 1;
            tracing::debug!(now_ms, more_coming, "holding the caller's unfinished turn");
            self.held = Some(joined);
            self.release_after_ms = self.max_pause_ms;
            return None;
        }
        if now_ms < joined.end_ms + self.min_quiet_ms {
            self.held = Some(joined);
            self.release_after_ms = self.min_quiet_ms;
            return None;
        }
        self.holds = 0;
        Some(joined)
    }

    /// The held turn, once the caller has been quiet for the longest pause after it.
    pub fn due(&mut self, now_ms: u64) -> Option<TurnText> {
        let held = self.held.as_ref()?;
        let quiet_long_enough = !self.speaking && now_ms >= held.end_ms + self.release_after_ms;
        let waited_enough = now_ms >= held.end_ms + 2 * self.max_pause_ms;
        if self.in_flight > 0 || !(quiet_long_enough || waited_enough) {
            return None;
        }
        self.holds = 0;
        self.held.take()
    }

    /// Whether a turn is held.
    pub fn is_holding(&self) -> bool {
        self.held.is_some()
    }
}

fn join(a: &str, b: &str) -> String {
    let a = a.trim().trim_end_matches("...").trim_end_matches('…').trim_end();
    let b = b.trim();
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a} {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, start_ms: u64, end_ms: u64) -> TurnText {
        TurnText {
            text: text.to_owned(),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn unfinished_words_are_recognised() {
        for text in [
            "My email address is",
            "I think it was, um",
            "The best time would be the",
            "Sure, and",
            "Well, I was going to say...",
            "It's spelled J,",
        ] {
            assert!(unfinished(text), "{text}");
        }
        for text in [
            "Yes, that works.",
            "It's Jane Doe.",
            "No.",
            "Who is this?",
            "",
            "I'll ask her.",
        ] {
            assert!(!unfinished(text), "{text}");
        }
    }

    #[test]
    fn a_finished_turn_is_answered_at_once() {
        let mut c = Continuation::new(2_000);
        c.caller_started();
        c.turn_ended();
        assert_eq!(
            c.transcript(t("Yes, Tuesday works.", 100, 900), 1_900),
            Some(t("Yes, Tuesday works.", 100, 900))
        );
        assert!(!c.is_holding());
    }

    #[test]
    fn a_dangling_turn_waits_and_is_joined_to_what_follows() {
        let mut c = Continuation::new(2_000);
        c.caller_started();
        c.turn_ended();
        assert_eq!(c.transcript(t("My email address is", 100, 1_000), 1_900), None);
        assert_eq!(c.due(2_500), None, "the pause is not over");
        c.caller_started();
        c.turn_ended();
        assert_eq!(
            c.transcript(t("jane at example dot com.", 2_600, 4_000), 5_000),
            Some(t("My email address is jane at example dot com.", 100, 4_000))
        );
    }

    #[test]
    fn a_turn_is_held_while_the_caller_already_goes_on() {
        let mut c = Continuation::new(2_000);
        c.caller_started();
        c.turn_ended();
        c.caller_started();
        // "Sure," ended a turn, but the caller is talking again when its words arrive.
        assert_eq!(c.transcript(t("Sure.", 100, 500), 1_400), None);
        c.turn_ended();
        assert_eq!(
            c.transcript(t("That's fine.", 800, 1_500), 2_400),
            Some(t("Sure. That's fine.", 100, 1_500))
        );
    }

    #[test]
    fn a_held_turn_is_answered_after_the_longest_pause() {
        let mut c = Continuation::new(2_000);
        c.caller_started();
        c.turn_ended();
        assert_eq!(c.transcript(t("I think it was, um", 0, 1_000), 1_800), None);
        assert_eq!(c.due(2_900), None);
        // A cough changes nothing.
        c.caller_started();
        c.caller_discarded();
        assert_eq!(c.due(3_000), Some(t("I think it was, um", 0, 1_000)));
        assert!(!c.is_holding());
    }

    #[test]
    fn patience_holds_a_finished_turn_until_the_caller_has_been_quiet() {
        let mut c = Continuation::new(2_000).with_patience(1_000);
        c.caller_started();
        c.turn_ended();
        assert_eq!(
            c.transcript(t("The account number is 45.", 0, 1_000), 1_500),
            None
        );
        assert_eq!(c.due(1_900), None);
        // The caller goes on within the second: one turn.
        c.caller_started();
        c.turn_ended();
        assert_eq!(c.transcript(t("2198.", 1_950, 2_600), 3_000), None);
        assert_eq!(c.due(3_600), Some(t("The account number is 45. 2198.", 0, 2_600)));
        // A turn whose words arrive after the patience is answered at once.
        c.caller_started();
        c.turn_ended();
        assert_eq!(
            c.transcript(t("Yes.", 5_000, 5_400), 6_500),
            Some(t("Yes.", 5_000, 5_400))
        );
    }

    #[test]
    fn speech_that_never_ends_does_not_hold_a_turn_forever() {
        let mut c = Continuation::new(2_000);
        c.caller_started();
        c.turn_ended();
        c.caller_started();
        assert_eq!(c.transcript(t("Yes.", 0, 500), 1_300), None);
        // Babble on the line: speech started and never ended.
        assert_eq!(c.due(2_600), None);
        assert_eq!(c.due(4_500), Some(t("Yes.", 0, 500)));
    }

    #[test]
    fn a_caller_who_keeps_pausing_is_answered_anyway() {
        let mut c = Continuation::new(2_000);
        let mut answered = None;
        for k in 0..10u64 {
            c.caller_started();
            c.turn_ended();
            if let Some(turn) = c.transcript(t("and", k * 1_000, k * 1_000 + 400), k * 1_000 + 900) {
                answered = Some((k, turn));
                break;
            }
        }
        let (k, turn) = answered.expect("answered");
        assert_eq!(k, u64::from(MAX_HOLDS));
        assert_eq!(turn.text.split_whitespace().count(), MAX_HOLDS as usize + 1);
    }
}
