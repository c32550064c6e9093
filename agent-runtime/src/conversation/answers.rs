//! Reading an answer for a field out of the caller's words or keypresses, as a typed JSON value.

use crate::extract;
use crate::workflow::FieldKind;
use serde_json::{Value, json};
use time::Date;

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
        FieldKind::Email => extract::email(text).map(Value::String),
        FieldKind::Phone => extract::phone(text).map(Value::String),
        FieldKind::Number => extract::number(text).map(number_value),
        FieldKind::Digits => extract::digits(text).map(Value::String),
        FieldKind::Choice { options } => extract::choice(text, options).map(Value::String),
        FieldKind::Text => {
            let t = text.trim();
            (!t.is_empty()).then(|| Value::String(t.to_owned()))
        }
    }
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
        FieldKind::Date | FieldKind::Time | FieldKind::Email | FieldKind::Text => None,
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
