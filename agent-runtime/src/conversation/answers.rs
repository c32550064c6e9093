//! Reading an answer for a field out of the caller's words or keypresses, as a typed JSON value.

use crate::extract;
use crate::workflow::FieldKind;
use serde_json::{Value, json};
use time::Date;

/// An answer heard, and whether it is sure enough to keep without reading it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// The typed value.
    pub value: Value,
    /// False for a guess (a word that only sounds like an expected one).
    pub sure: bool,
}

/// The answer for `kind` in what the caller said: a self-correction's last words win ("Tuesday,
/// no, Wednesday"), and an option, weekday or month heard wrong ("money" for Monday) is a guess.
pub fn read(kind: &FieldKind, text: &str, today: Date) -> Option<Heard> {
    if let Some(tail) = extract::after_correction(text)
        && let Some(heard) = read_plain(kind, tail, today)
    {
        return Some(heard);
    }
    read_plain(kind, text, today)
}

fn read_plain(kind: &FieldKind, text: &str, today: Date) -> Option<Heard> {
    let sure = |value| Heard { value, sure: true };
    match kind {
        FieldKind::Choice { options } => extract::choice_match(text, options).map(|(o, c)| Heard {
            value: Value::String(o),
            sure: c == extract::Certainty::Sure,
        }),
        FieldKind::Date | FieldKind::DateTime => from_speech(kind, text, today)
            .map(sure)
            .or_else(|| {
                let fixed = calendar_words_fixed(text)?;
                from_speech(kind, &fixed, today).map(|value| Heard { value, sure: false })
            })
            // "Before summer, so maybe... May?": a month is an answer to "when", kept as the
            // year and month (no day is made up).
            .or_else(|| {
                let (year, month) = extract::month_alone(text, today)?;
                Some(sure(json!(format!("{year:04}-{:02}", u8::from(month)))))
            }),
        _ => from_speech(kind, text, today).map(sure),
    }
}

const CALENDAR: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The text with words that sound like a weekday or month replaced by it ("money" -> "monday");
/// `None` when nothing sounded like one.
fn calendar_words_fixed(text: &str) -> Option<String> {
    let mut changed = false;
    let fixed: Vec<String> = extract::words(text)
        .into_iter()
        .map(|w| match extract::best_match(&w, CALENDAR) {
            Some(day) if day != w => {
                changed = true;
                day.to_owned()
            }
            _ => w,
        })
        .collect();
    changed.then(|| fixed.join(" "))
}

/// Whether the answer denies what the question asks about: "No problems at all" to "Has the
/// truck had any problems?", "No pets" to "Do you have pets?" (where "no problem" alone would
/// read as a yes).
pub fn denies_topic(question: &str, answer: &str) -> bool {
    let q = extract::words(question);
    let a = extract::words(answer);
    let stem = |w: &str| w.trim_end_matches('s').to_owned();
    a.windows(2).take(4).any(|pair| {
        matches!(pair[0].as_str(), "no" | "none" | "zero")
            && pair[1].len() > 2
            && q.iter().any(|w| stem(w) == stem(&pair[1]))
    })
}

/// How a value is said back to the caller ("Monday, December 7 at 3 PM", "jane at example dot com").
pub fn spoken(kind: &FieldKind, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => other.to_string(),
    };
    match kind {
        FieldKind::Email => spoken_email(&text),
        FieldKind::Phone | FieldKind::Digits => {
            text.chars().map(|c| c.to_string()).collect::<Vec<_>>().join(" ")
        }
        FieldKind::Date | FieldKind::DateTime | FieldKind::Time => spoken_when(&text),
        _ => text,
    }
}

/// "2026-12-07T15:00" -> "Monday, December 7 at 3 PM"; "15:30" -> "3:30 PM".
fn spoken_when(text: &str) -> String {
    let (date_part, time_part) = match text.split_once('T') {
        Some((d, t)) => (Some(d), Some(t)),
        None if text.contains(':') => (None, Some(text)),
        None => (Some(text), None),
    };
    let mut out = Vec::new();
    if let Some(d) = date_part
        && let Ok(date) = Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
    {
        out.push(format!("{}, {} {}", date.weekday(), date.month(), date.day()));
    } else if let Some(d) = date_part
        && let Some((_, m)) = d.split_once('-')
        && let Ok(m) = m.parse::<u8>()
        && let Ok(month) = time::Month::try_from(m)
    {
        // A month alone ("2027-05"): "May".
        out.push(month.to_string());
    }
    if let Some(t) = time_part
        && let Some((h, m)) = t.split_once(':')
        && let (Ok(h), Ok(m)) = (h.parse::<u8>(), m.parse::<u8>())
    {
        let (h12, suffix) = match h {
            0 => (12, "AM"),
            1..=11 => (h, "AM"),
            12 => (12, "PM"),
            _ => (h - 12, "PM"),
        };
        let clock = if m == 0 {
            format!("{h12} {suffix}")
        } else {
            format!("{h12}:{m:02} {suffix}")
        };
        out.push(if out.is_empty() {
            clock
        } else {
            format!("at {clock}")
        });
    }
    if out.is_empty() {
        text.to_owned()
    } else {
        out.join(" ")
    }
}

/// The value of `kind` in `text`, or `None` when the answer is not there.
pub fn from_speech(kind: &FieldKind, text: &str, today: Date) -> Option<Value> {
    match kind {
        FieldKind::YesNo => extract::yes_no(text).map(Value::Bool),
        FieldKind::Date => extract::date(text, today).map(|d| {
            json!(format!(
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ))
        }),
        FieldKind::Time => extract::time(text).map(|(h, m)| json!(format!("{h:02}:{m:02}"))),
        FieldKind::DateTime => date_time(text, today),
        FieldKind::Rating { min, max } => rating(text, *min, *max),
        FieldKind::Email => extract::email(text).map(Value::String),
        FieldKind::Phone => extract::phone(text).map(Value::String),
        FieldKind::Number => extract::stated_number(text).map(number_value),
        FieldKind::Digits => extract::digits(text).map(Value::String),
        FieldKind::Choice { options } => extract::choice(text, options).map(Value::String),
        FieldKind::Text => {
            let t = text.trim();
            (!t.is_empty()).then(|| Value::String(t.to_owned()))
        }
    }
}

/// "Tuesday at 3 PM" -> "2026-11-24T15:00"; a date alone -> "2026-11-24"; a time alone -> "15:00".
fn date_time(text: &str, today: Date) -> Option<Value> {
    let date = extract::date(text, today);
    let time = extract::time(text);
    let date_text = date.map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()));
    match (date_text, time) {
        (Some(d), Some((h, m))) => Some(json!(format!("{d}T{h:02}:{m:02}"))),
        (Some(d), None) => Some(json!(d)),
        (None, Some((h, m))) => Some(json!(format!("{h:02}:{m:02}"))),
        (None, None) => None,
    }
}

/// A score on the scale: the first whole number said that falls within it ("I'd say an eight",
/// "8 out of 10"; "a ten" on a 0-10 scale).
fn rating(text: &str, min: u8, max: u8) -> Option<Value> {
    let ws = extract::words(text);
    (0..ws.len()).find_map(|i| {
        let n = extract::number(&ws[i..].join(" "))?;
        let starts_here = extract::number(&ws[i]).is_some() || ws[i] == "a" && ws.len() > i + 1;
        let whole = n.fract() == 0.0 && n >= f64::from(min) && n <= f64::from(max);
        #[allow(clippy::cast_possible_truncation)] // checked: a whole number within a u8 scale
        (starts_here && whole).then(|| json!(n as i64))
    })
}

/// Whole numbers as JSON integers, the rest as floats.
fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation)] // checked: integral and far below i64::MAX
        let whole = n as i64;
        json!(whole)
    } else {
        json!(n)
    }
}

/// The value of `kind` in keypresses (`#` and `*` already stripped): 1 is yes and 2 is no; choices by
/// position; digits and numbers as typed.
pub fn from_keys(kind: &FieldKind, keys: &str) -> Option<Value> {
    if keys.is_empty() {
        return None;
    }
    match kind {
        FieldKind::YesNo => match keys {
            "1" => Some(Value::Bool(true)),
            "2" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldKind::Choice { options } => {
            let index: usize = keys.parse().ok()?;
            options.get(index.checked_sub(1)?).cloned().map(Value::String)
        }
        FieldKind::Digits | FieldKind::Phone => Some(Value::String(keys.to_owned())),
        FieldKind::Number => keys.parse::<i64>().ok().map(|n| json!(n)),
        FieldKind::Rating { min, max } => keys
            .parse::<u8>()
            .ok()
            .filter(|n| (*min..=*max).contains(n))
            .map(|n| json!(n)),
        FieldKind::Date | FieldKind::Time | FieldKind::DateTime | FieldKind::Email | FieldKind::Text => None,
    }
}

/// A short acknowledgement of an answer.
pub fn acknowledgement(kind: &FieldKind, value: &Value) -> String {
    match (kind, value) {
        (FieldKind::YesNo, Value::Bool(true)) => "Great, thank you.".to_owned(),
        (FieldKind::YesNo, Value::Bool(false)) => "I understand.".to_owned(),
        (FieldKind::Email, Value::String(e)) => format!("Thank you, I have {}.", spoken_email(e)),
        (FieldKind::Choice { .. }, Value::String(c)) => format!("{c}, got it."),
        _ => "Thank you.".to_owned(),
    }
}

/// An address as it should be read back: "jane dot doe at example dot com".
pub fn spoken_email(email: &str) -> String {
    email
        .replace('@', " at ")
        .replace('.', " dot ")
        .replace('_', " underscore ")
        .replace('-', " dash ")
}

/// What the agent says when an answer did not fit the question.
pub fn clarification(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::YesNo => "Sorry, was that a yes or a no?",
        FieldKind::Email => "Sorry, I did not get the email address. Could you say it again, slowly?",
        FieldKind::Date => "Sorry, which date was that?",
        FieldKind::Time => "Sorry, what time was that?",
        FieldKind::DateTime => "Sorry, which day and time would work for you?",
        FieldKind::Rating { .. } => "Sorry, what number would you give, on the scale?",
        FieldKind::Phone | FieldKind::Digits => "Sorry, could you say the digits again, one at a time?",
        FieldKind::Number => "Sorry, what number was that?",
        FieldKind::Choice { .. } => "Sorry, which one would you prefer?",
        FieldKind::Text => "Sorry, I did not catch that.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn typed_values() {
        let today = date!(2026 - 11 - 22);
        assert_eq!(
            from_speech(&FieldKind::YesNo, "Yes, that works", today),
            Some(json!(true))
        );
        assert_eq!(
            from_speech(&FieldKind::Date, "next Tuesday", today),
            Some(json!("2026-11-24"))
        );
        assert_eq!(from_speech(&FieldKind::Time, "3 pm", today), Some(json!("15:00")));
        assert_eq!(
            from_speech(&FieldKind::Number, "twenty five", today),
            Some(json!(25))
        );
        assert_eq!(
            from_speech(&FieldKind::Email, "jane at example dot com", today),
            Some(json!("jane@example.com"))
        );
        assert_eq!(from_speech(&FieldKind::Email, "I don't have one", today), None);
        assert_eq!(from_keys(&FieldKind::YesNo, "1"), Some(json!(true)));
        let choice = FieldKind::Choice {
            options: vec!["Monday".into(), "Tuesday".into()],
        };
        assert_eq!(from_keys(&choice, "2"), Some(json!("Tuesday")));
        assert_eq!(from_keys(&choice, "3"), None);
        assert_eq!(
            spoken_email("jane.doe@example.com"),
            "jane dot doe at example dot com"
        );
    }
}
