//! `{placeholder}` filling for campaign prompts. A placeholder is `{` + a name of ASCII letters,
//! digits and `_` + `}`; any other brace is text. A recipient whose variables miss a placeholder
//! is refused at creation (an agent reading "Hello {name}" aloud is worse than no call).

use serde_json::{Map, Value};

/// Each placeholder of `prompt`: its byte range (braces included) and its name.
fn spans(prompt: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = prompt[from..].find('{').map(|o| o + from) {
        let after = &prompt[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                found.push((open..open + close + 2, &after[..close]));
                from = open + close + 2;
            }
            _ => from = open + 1,
        }
    }
    found
}

/// The placeholder names in `prompt`, in order of first appearance.
pub fn placeholders(prompt: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, name) in spans(prompt) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// The placeholders of `prompt` that `variables` has no (non-empty) value for.
pub fn missing(prompt: &str, variables: &Map<String, Value>) -> Vec<String> {
    placeholders(prompt)
        .into_iter()
        .filter(|name| value(variables, name).is_none())
        .collect()
}

/// `prompt` with every placeholder replaced by its value, in one pass: a value that itself holds
/// `{braces}` is text, not another placeholder. Placeholders without a value stay as they are
/// ([`missing`] is checked first).
pub fn fill(prompt: &str, variables: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(prompt.len());
    let mut copied = 0;
    for (range, name) in spans(prompt) {
        if let Some(v) = value(variables, name) {
            out.push_str(&prompt[copied..range.start]);
            out.push_str(&v);
            copied = range.end;
        }
    }
    out.push_str(&prompt[copied..]);
    out
}

/// The value of `name`: exactly, else ignoring case (CSV headers are read lowercased, so a
/// `FirstName` column fills `{FirstName}`).
fn value(variables: &Map<String, Value>, name: &str) -> Option<String> {
    let found = variables.get(name).or_else(|| {
        variables
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })?;
    match found {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn placeholders_are_filled_and_gaps_are_named() {
        let prompt = "Remind {name} that invoice {invoice} of {amount} dollars is due; {name} may pay by card. {not a placeholder} {}";
        assert_eq!(placeholders(prompt), vec!["name", "invoice", "amount"]);
        let full = vars(json!({"name": "Sam", "invoice": 4521, "amount": "120.50"}));
        assert!(missing(prompt, &full).is_empty());
        assert_eq!(
            fill(prompt, &full),
            "Remind Sam that invoice 4521 of 120.50 dollars is due; Sam may pay by card. {not a placeholder} {}"
        );
        let gaps = vars(json!({"name": "Sam", "invoice": "  "}));
        assert_eq!(missing(prompt, &gaps), vec!["invoice", "amount"]);
    }

    #[test]
    fn values_are_text_and_names_match_whatever_their_case() {
        let prompt = "Remind {FirstName} about {invoice}.";
        let v = vars(json!({"firstname": "Sam", "invoice": "{FirstName}'s bill"}));
        assert!(missing(prompt, &v).is_empty());
        assert_eq!(fill(prompt, &v), "Remind Sam about {FirstName}'s bill.");
    }
}
