//! Answers extracted from what the caller said, without a model: yes/no, numbers, digits, dates,
//! times, emails spelled out loud, phone numbers, and choices among offered options. These make the
//! deterministic engine useful on its own and check an LLM's `collect_field` values.
//!
//! Every extractor takes the transcript text (as Whisper writes it: digits or words, punctuation
//! optional) and returns `None` when the answer is not there, never a guess.

mod choice;
mod correction;
mod datetime;
mod email;
mod fuzzy;
mod numbers;
mod yesno;

pub use choice::{Certainty, choice, choice_match, choice_stated};
pub use correction::after_correction;
pub use datetime::{date, is_weekday, month_alone, time, weekday_or_month};
pub use email::email;
pub use fuzzy::{best_match, close, sound_alike};
pub use numbers::{digits, number, phone, stated_number};
pub use yesno::yes_no;

/// Lowercase words with punctuation removed, keeping `@`, `.` inside tokens, `:` and `/`.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '!' | '?' | ';' | '"' | '(' | ')'))
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, '.' | '\'' | '-' | ':'))
                .replace('\u{2019}', "'")
        })
        .filter(|w| !w.is_empty())
        .collect()
}
