//! `{placeholder}` filling for campaign prompts. A placeholder is `{` + a name of ASCII letters,
//! digits and `_` + `}`; any other brace is text. A recipient whose variables miss a placeholder
//! is refused at creation (an agent reading "Hello {name}" aloud is worse than no call).

use serde_json::{Map, Value};

/// The placeholder names in `prompt`, in order of first appearance.
pub fn placeholders(prompt: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = prompt;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                let name = &after[..close];
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
                rest = &after[close + 1..];
            }
            _ => rest = after,
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

/// `prompt` with every placeholder replaced by its value (placeholders without one stay as they
/// are; [`missing`] is checked first).
pub fn fill(prompt: &str, variables: &Map<String, Value>) -> String {
    let mut out = prompt.to_owned();
    for name in placeholders(prompt) {
        if let Some(v) = value(variables, &name) {
            out = out.replace(&format!("{{{name}}}"), &v);
        }
    }
    out
}

fn value(variables: &Map<String, Value>, name: &str) -> Option<String> {
    match variables.get(name)? {
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
}
