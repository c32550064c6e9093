//! What the caller is likely to say next, for the recognizer.
//!
//! Whisper guesses short, out-of-context answers badly on telephone audio: a name nobody told it
//! ("Siobhan" heard as "shallb on"), a weekday ("Thursday" as "thirsty"), an offered option. The
//! conversation knows what it just asked, so every caller turn carries [`SttHints`]: the callee's
//! name, the organization, the options offered, the words of the answer's kind. Whisper reads them
//! as the text that came before the utterance (its `<|startofprev|>` prompt, see
//! [`whisper`](super::whisper)); the OpenAI transcription API takes the same text as `prompt`.
//!
//! A prompt is a bias, not a grammar, and it can backfire: given a list, Whisper sometimes writes
//! the list back (or loops on one of its words) instead of what was said, above all on noise or
//! silence. [`SttHints::echoed_by`] spots a transcript that is little more than the hint, so the
//! recognizer can decode again without it. The hint is also kept short ([`SttHints::MAX_CHARS`]):
//! every prompt token costs decoder time on every turn, and long prompts are echoed more often.

use std::collections::HashSet;

/// Expected vocabulary of one caller turn, most important first.
///
/// Built by the conversation engine (`Conversation::stt_hints`); empty means "no idea", which
/// every recognizer treats as no prompt at all.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SttHints {
    terms: Vec<String>,
    chars: usize,
}

/// Names of people are in the hints: `Debug` shows how many terms there are, not which.
impl std::fmt::Debug for SttHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SttHints")
            .field("terms", &self.terms.len())
            .field("chars", &self.chars)
            .finish()
    }
}

impl SttHints {
    /// The longest prompt text, in characters: about 60 Whisper tokens, a quarter of what its
    /// decoder accepts (223), so the prompt adds little to a turn's decode time.
    pub const MAX_CHARS: usize = 240;

    /// No hints.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a term ("Priya Raman", "Thursday at 10 AM", "Monday"), unless it is blank, already
    /// there (ignoring case), or would take the prompt past [`Self::MAX_CHARS`]: terms are added
    /// most important first, so the ones that do not fit are the least useful.
    pub fn push(&mut self, term: &str) {
        let term = term.split_whitespace().collect::<Vec<_>>().join(" ");
        let term = term.trim_matches(|c: char| matches!(c, ',' | '.' | ';' | ':' | '?' | '!'));
        if term.is_empty() || self.terms.iter().any(|t| t.eq_ignore_ascii_case(term)) {
            return;
        }
        // ", " between terms, "." at the end.
        let added = term.chars().count() + if self.terms.is_empty() { 1 } else { 2 };
        if self.chars + added > Self::MAX_CHARS {
            return;
        }
        self.chars += added;
        self.terms.push(term.to_owned());
    }

    /// [`push`](Self::push) for each term.
    pub fn extend<'a>(&mut self, terms: impl IntoIterator<Item = &'a str>) {
        for term in terms {
            self.push(term);
        }
    }

    /// The terms, most important first.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// True when there is nothing to hint.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The text given to the recognizer as what came before the utterance: the terms as one
    /// comma-separated sentence ("Priya Raman, Lakeside Dental, Thursday at 10 AM."), the way
    /// they would appear in a transcript, so Whisper copies their spelling. `None` when empty.
    pub fn prompt(&self) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        Some(format!("{}.", self.terms.join(", ")))
    }

    /// Whether `transcript` looks like the hint written back rather than something a caller said:
    /// at least three words, nearly all of them (all but one in ten) words of the hint, making up
    /// at least two whole terms ("Monday, Tuesday, Wednesday", "Priya Raman, Lakeside Dental.", or
    /// one term twice: "Thursday at 10 AM, Thursday at 10 AM."). A caller who says one offered
    /// option word for word ("Thursday at 10 AM") says one term and is not suspected; "Monday or
    /// Tuesday" has a word of its own.
    pub fn echoed_by(&self, transcript: &str) -> bool {
        let said = words(transcript);
        if self.terms.is_empty() || said.len() < 3 {
            return false;
        }
        let hinted: HashSet<String> = self.terms.iter().flat_map(|t| words(t)).collect();
        let foreign = said.iter().filter(|w| !hinted.contains(*w)).count();
        if foreign * 10 > said.len() {
            return false;
        }
        // Whole terms said, counting repeats ("Thursday at 10 AM, Thursday at 10 AM").
        let said_terms: usize = self.terms.iter().map(|t| occurrences(&said, &words(t))).sum();
        said_terms >= 2
    }
}

/// How many times `term` appears in `said` as a run of words, without overlaps.
fn occurrences(said: &[String], term: &[String]) -> usize {
    if term.is_empty() {
        return 0;
    }
    let (mut count, mut at) = (0, 0);
    while at + term.len() <= said.len() {
        if said[at..at + term.len()] == *term {
            count += 1;
            at += term.len();
        } else {
            at += 1;
        }
    }
    count
}

/// Lower-case words of letters, digits and apostrophes.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(terms: &[&str]) -> SttHints {
        let mut h = SttHints::new();
        h.extend(terms.iter().copied());
        h
    }

    #[test]
    fn prompt_is_one_sentence_of_distinct_terms() {
        let h = hints(&[
            "Priya Raman",
            " Lakeside  Dental ",
            "",
            "priya raman",
            "Thursday at 10 AM?",
        ]);
        assert_eq!(h.terms(), ["Priya Raman", "Lakeside Dental", "Thursday at 10 AM"]);
        assert_eq!(
            h.prompt().as_deref(),
            Some("Priya Raman, Lakeside Dental, Thursday at 10 AM.")
        );
        assert_eq!(SttHints::new().prompt(), None);
    }

    #[test]
    fn prompt_stays_within_its_budget_keeping_the_first_terms() {
        let long: Vec<String> = (0..100).map(|i| format!("option number {i}")).collect();
        let mut h = hints(&["Priya"]);
        h.extend(long.iter().map(String::as_str));
        let prompt = h.prompt().expect("not empty");
        assert!(prompt.chars().count() <= SttHints::MAX_CHARS, "{prompt}");
        assert!(prompt.starts_with("Priya, option number 0, option number 1,"));
        // A short term later in the list still fits when a long one did not.
        let mut h = hints(&[&"x".repeat(SttHints::MAX_CHARS - 5)]);
        h.push("a very long term that cannot fit");
        h.push("ok");
        assert_eq!(h.terms().len(), 2);
        assert_eq!(h.prompt().map(|p| p.chars().count()), Some(SttHints::MAX_CHARS));
    }

    #[test]
    fn a_transcript_that_is_the_hint_written_back_is_suspected() {
        let days = hints(&["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]);
        assert!(days.echoed_by("Wednesday, Wednesday, Thursday, Wednesday, Thursday."));
        assert!(days.echoed_by("Monday, Tuesday, Wednesday, Thursday, Friday."));
        let names = hints(&["Priya Raman", "Lakeside Dental"]);
        assert!(names.echoed_by("Priya Raman, Lakeside Dental."));
        let options = hints(&["Thursday at 10 AM", "Friday at 3 PM"]);
        assert!(options.echoed_by("Thursday at 10 AM, Thursday at 10 AM."));
    }

    #[test]
    fn answers_that_use_the_hint_are_not_suspected() {
        let options = hints(&["Priya", "Thursday at 10 AM", "Friday at 3 PM"]);
        assert!(!options.echoed_by("Thursday at 10 AM"));
        assert!(!options.echoed_by("Yeah, Thursday at 10 works."));
        assert!(!options.echoed_by("Yes, this is Priya."));
        let days = hints(&["Monday", "Tuesday", "Wednesday"]);
        assert!(!days.echoed_by("Monday or Tuesday"));
        assert!(
            !days.echoed_by("Monday, Tuesday"),
            "two words are too few to judge"
        );
        assert!(!SttHints::new().echoed_by("Monday, Tuesday, Wednesday"));
    }

    #[test]
    fn debug_output_does_not_show_names() {
        assert!(!format!("{:?}", hints(&["Priya Raman"])).contains("Priya"));
    }
}
