//! Prompts written as a JSON object ({"task": "confirm dinner reservation", "guest": "Henrik
//! Solberg", "if_declined": "ask which other evening works"}) read as the prose they stand for,
//! so the compiler's one reader handles them: keys that name the task, whom we call, for whom,
//! a condition or a list of questions become the sentences a user would have written.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// A JSON object's entries in the order written (serde_json's own map sorts them, and the
/// order of a brief's questions is the order to ask them in).
struct Ordered(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The prose a JSON brief stands for, or `None` when the prompt is not a JSON object.
pub fn as_prose(prompt: &str) -> Option<String> {
    let trimmed = prompt.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let Ok(Ordered(entries)) = serde_json::from_str::<Ordered>(trimmed) else {
        return None;
    };
    let mut lines = Vec::new();
    let mut task: Option<String> = None;
    let mut when: Option<String> = None;
    let mut rest = Vec::new();
    walk(&entries, &mut |key, value| {
        let words = key.replace(['_', '-'], " ").to_lowercase();
        let words = words.trim();
        match words {
            "task" | "goal" | "purpose" | "objective" | "instructions" | "instruction" | "job" => {
                task = Some(value.to_owned());
            }
            "when" | "date" | "time" | "datetime" | "date time" | "appointment time" | "slot" => {
                when = Some(value.to_owned());
            }
            "restaurant" | "business" | "company" | "organization" | "organisation" | "org" | "caller"
            | "from" | "brand" | "clinic" | "practice" | "calling for" | "on behalf of" | "store" => {
                lines.push(format!("You are calling on behalf of {value}."));
            }
            "guest" | "customer" | "name" | "callee" | "contact" | "lead name" | "lead" | "patient"
            | "client" | "to" | "customer name" | "contact name" | "person" | "recipient" => {
                lines.push(format!("The customer is {value}."));
            }
            k if k.starts_with("if ") => {
                let condition = match k {
                    "if declined" | "if no" | "if not" | "if they decline" | "if unavailable"
                    | "if cannot make it" | "if cant make it" => "If they can't make it".to_owned(),
                    "if voicemail" | "if no answer" => "If you reach voicemail".to_owned(),
                    other => sentence(other),
                };
                rest.push(format!("{condition}, {}", end(value)));
            }
            "voicemail" | "voicemail message" => {
                rest.push(format!(
                    "If you reach voicemail, leave this message: {}",
                    end(value)
                ));
            }
            "also ask" | "ask" | "questions" | "question" | "collect" | "find out" => {
                rest.push(format!("Ask: {}", end(value)));
            }
            _ => rest.push(format!("{}: {}", sentence(words), end(value))),
        }
    });
    let mut out = Vec::new();
    if let Some(t) = task {
        let t = t.trim().trim_end_matches(['.', '!']);
        out.push(match when {
            Some(w) => format!("{} on {w}.", sentence(t)),
            None => format!("{}.", sentence(t)),
        });
    } else if let Some(w) = when {
        rest.push(format!("When: {}", end(&w)));
    }
    out.extend(lines);
    out.extend(rest);
    Some(out.join("\n"))
}

/// Calls `visit` with each key and its text, arrays as one comma list and nested objects
/// flattened (their own keys stand for themselves).
fn walk(entries: &[(String, Value)], visit: &mut impl FnMut(&str, &str)) {
    for (key, value) in entries {
        match value {
            Value::String(s) if !s.trim().is_empty() => visit(key, s.trim()),
            Value::Number(n) => visit(key, &n.to_string()),
            Value::Bool(b) => visit(key, if *b { "yes" } else { "no" }),
            Value::Array(items) => {
                let texts: Vec<String> = items
                    .iter()
                    .filter_map(|i| match i {
                        Value::String(s) => Some(s.trim().trim_end_matches(['.', '?']).to_owned()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                if !texts.is_empty() {
                    visit(key, &texts.join(", "));
                }
            }
            Value::Object(inner) => {
                let inner: Vec<(String, Value)> = inner.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                walk(&inner, visit);
            }
            _ => {}
        }
    }
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The value closed as a sentence (a question keeps its mark).
fn end(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(['.', '?', '!']) {
        t.to_owned()
    } else {
        format!("{t}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_brief_reads_as_prose() {
        let prose = as_prose(
            r#"{"task": "confirm dinner reservation", "restaurant": "Casa Amarilla",
                "guest": "Henrik Solberg", "party_size": 4, "when": "Friday 8:15 PM",
                "if_declined": "ask which other evening this week works for them",
                "also_ask": "do they need a high chair?"}"#,
        )
        .expect("a JSON object is a brief");
        assert!(
            prose.starts_with("Confirm dinner reservation on Friday 8:15 PM.\n"),
            "{prose}"
        );
        assert!(
            prose.contains("You are calling on behalf of Casa Amarilla."),
            "{prose}"
        );
        assert!(prose.contains("The customer is Henrik Solberg."), "{prose}");
        assert!(
            prose.contains("If they can't make it, ask which other evening this week works for them."),
            "{prose}"
        );
        assert!(prose.contains("Ask: do they need a high chair?"), "{prose}");
        assert!(prose.contains("Party size: 4."), "{prose}");
        // Written order: the branch before the extra question.
        let (branch, extra) = (prose.find("If they can't"), prose.find("Ask: do they"));
        assert!(branch.is_some() && branch < extra, "{prose}");
    }

    #[test]
    fn anything_else_is_left_alone() {
        assert_eq!(as_prose("Confirm the {weird} thing"), None);
        assert_eq!(as_prose("{not json at all"), None);
        assert_eq!(as_prose("[1, 2]"), None);
    }
}
