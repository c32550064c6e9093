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
    // Questions written as data ({"collect": {"wedding_date": "date"}}, {"questions": [{"q": ...,
    // "options": [...]}]}) become one ask each, in the written order.
    let (asked, entries): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, v)| {
        let k = k.replace(['_', '-'], " ").to_lowercase();
        matches!(
            k.trim(),
            "collect" | "ask" | "questions" | "question" | "find out" | "fields" | "gather" | "also ask"
        ) && (v.is_object() || v.as_array().is_some_and(|a| a.iter().any(Value::is_object)))
    });
    let mut asks: Vec<String> = asked.iter().flat_map(|(_, v)| asks_in(v, trimmed)).collect();
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
            "survey" | "survey for" | "audience" => {
                lines.push(format!("Survey for {value}."));
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
    out.append(&mut asks);
    out.extend(rest);
    Some(out.join("\n"))
}

/// One "Ask ..." sentence per question a data value holds: an object's keys are the fields
/// (their values say the kind: "date", "number", "one of A, B, C"); an array's objects hold a
/// question ("q", "question", "text") with its options, scale or type.
fn asks_in(value: &Value, raw: &str) -> Vec<String> {
    match value {
        Value::Object(fields) => in_written_order(fields, raw)
            .into_iter()
            .map(|(name, about)| {
                let words = name.replace(['_', '-'], " ");
                let about = about.as_str().unwrap_or("").trim();
                let lower = about.to_lowercase();
                if let Some(options) = lower
                    .strip_prefix("one of ")
                    .or_else(|| lower.strip_prefix("choice of "))
                    .or_else(|| lower.strip_prefix("choose from "))
                {
                    let options = &about[about.len() - options.len()..];
                    format!("Ask which {words} they want: {}.", or_list(options))
                } else if lower.contains("yes/no") || lower == "yes or no" || lower == "boolean" {
                    format!("Ask about {words} (y/n).")
                } else {
                    format!("Ask for their {words}.")
                }
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(q) => Some(format!("Ask: {}", end(q))),
                Value::Object(o) => {
                    let text = ["q", "question", "text", "ask"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))?
                        .trim()
                        .trim_end_matches(['.', '?']);
                    let note = if let Some(options) = o.get("options").and_then(Value::as_array) {
                        let options: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
                        format!(" ({})", or_list(&options.join(", ")))
                    } else if let Some(scale) = o.get("scale").and_then(Value::as_str) {
                        format!(" ({scale})")
                    } else if let Some([low, high]) =
                        o.get("scale").and_then(Value::as_array).map(Vec::as_slice)
                        && let (Some(low), Some(high)) = (low.as_u64(), high.as_u64())
                    {
                        // "scale": [1, 10]
                        format!(" ({low}-{high})")
                    } else if o
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.contains("yes") || t == "boolean")
                    {
                        " (y/n)".to_owned()
                    } else {
                        String::new()
                    };
                    let question = text.split_whitespace().next().is_some_and(|w| {
                        matches!(
                            w.to_lowercase().as_str(),
                            "how"
                                | "what"
                                | "which"
                                | "when"
                                | "where"
                                | "who"
                                | "why"
                                | "would"
                                | "will"
                                | "do"
                                | "does"
                                | "did"
                                | "are"
                                | "is"
                                | "can"
                                | "could"
                                | "have"
                                | "should"
                        )
                    });
                    Some(if question {
                        format!("Ask: {text}{note}?")
                    } else {
                        format!("Ask about their {}{note}.", text.to_lowercase())
                    })
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A nested object's entries in the order the brief wrote them (serde_json's map sorts them): by
/// where each key first stands in the raw text.
fn in_written_order<'a>(
    fields: &'a serde_json::Map<String, Value>,
    raw: &str,
) -> Vec<(&'a String, &'a Value)> {
    let mut entries: Vec<(&String, &Value)> = fields.iter().collect();
    entries.sort_by_key(|(k, _)| {
        serde_json::to_string(k)
            .ok()
            .and_then(|quoted| raw.find(&quoted))
            .unwrap_or(usize::MAX)
    });
    entries
}

/// "rustic, modern, classic, boho" -> "rustic, modern, classic or boho".
fn or_list(options: &str) -> String {
    let items: Vec<&str> = options
        .split(',')
        .map(|o| o.trim().trim_start_matches("or ").trim())
        .filter(|o| !o.is_empty())
        .collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
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
