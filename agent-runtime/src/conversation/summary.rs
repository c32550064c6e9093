//! The post-call summary without a model: one or two readable sentences that say what was agreed
//! and what was collected ("Sarah confirmed her appointment on Thursday at 2 PM and gave the phone
//! number 5551234567."), from the workflow and the answers, never the question text with "yes"
//! appended.

use super::EndReason;
use super::answers::spoken;
use crate::workflow::{FieldKind, Workflow};
use serde_json::{Map, Value};

/// What happened on the call besides the answers.
#[derive(Debug, Default)]
pub struct Happened<'a> {
    /// A machine answered.
    pub machine: bool,
    /// Why the agent ended the call.
    pub end: Option<EndReason>,
    /// The hand-off to a human connected.
    pub transferred: bool,
    /// The hand-off was tried and failed.
    pub transfer_failed: bool,
    /// Notes the prompt asked for that the callee's words triggered.
    pub notes: &'a [String],
}

/// The summary.
pub fn summarize(workflow: &Workflow, fields: &Map<String, Value>, happened: &Happened<'_>) -> String {
    let who = workflow
        .callee
        .as_deref()
        .map(|c| crate::compiler::greeting_name(c).to_owned())
        .unwrap_or_else(|| "The callee".to_owned());
    let for_org = workflow
        .organization
        .as_deref()
        .map(|o| format!(" for {o}"))
        .unwrap_or_default();
    if happened.machine {
        return if happened.end == Some(EndReason::Voicemail) && workflow.leave_voicemail {
            format!(
                "The call{for_org} reached voicemail, and the message was left: \"{}\"",
                workflow.voicemail_message
            )
        } else {
            format!("The call{for_org} reached voicemail; no message was left.")
        };
    }
    let mut agreed: Vec<String> = Vec::new();
    let mut collected: Vec<String> = Vec::new();
    for step in &workflow.steps {
        let Some(value) = fields.get(&step.field.name) else {
            continue;
        };
        let shown = spoken(&step.field.kind, value);
        let name = step.field.name.replace('_', " ");
        match (&step.field.kind, value) {
            (FieldKind::YesNo, Value::Bool(yes)) => agreed.push(statement(&step.question, *yes)),
            (FieldKind::Choice { .. }, _) if step.when.is_some() => {
                agreed.push(format!("chose {shown} instead"))
            }
            (FieldKind::Choice { .. }, _) => agreed.push(format!("chose {shown}")),
            (FieldKind::Email, _) => agreed.push(format!("gave the email address {}", plain(value))),
            (FieldKind::Phone, _) => agreed.push(format!("gave the phone number {}", plain(value))),
            (FieldKind::Rating { max, .. }, _) if step.field.name == "recommend_score" => {
                agreed.push(format!("would recommend us {} out of {max}", plain(value)));
            }
            (FieldKind::Rating { max, .. }, _) => {
                agreed.push(format!("gave a rating of {} out of {max}", plain(value)))
            }
            (FieldKind::Date | FieldKind::DateTime | FieldKind::Time, _) => {
                collected.push(format!("{name}: {shown}"))
            }
            _ => collected.push(format!("{name}: {}", plain(value))),
        }
    }
    let mut sentences = Vec::new();
    if !agreed.is_empty() {
        sentences.push(format!("{who} {}.", join_and(&agreed)));
    }
    if !collected.is_empty() {
        sentences.push(format!("Collected: {}.", collected.join("; ")));
    }
    if let Some(Value::String(when)) = fields.get("callback_time") {
        sentences.push(format!("{who} asked to be called back ({when})."));
    } else if fields.get("callback_requested") == Some(&Value::Bool(true)) {
        sentences.push(format!("{who} asked to be called back later."));
    }
    match happened.end {
        Some(EndReason::DoNotCall) => sentences.push(format!("{who} asked not to be called again.")),
        Some(EndReason::NotInterested) => sentences.push(format!("{who} said they are not interested.")),
        Some(EndReason::WrongPerson) => sentences.push(format!(
            "The person who answered was not {}; they were asked to pass on a message.",
            workflow.callee.as_deref().unwrap_or("the callee")
        )),
        Some(EndReason::NoInput) => sentences.push("The callee stopped answering.".to_owned()),
        Some(EndReason::MaxDuration) => sentences.push("The call reached its time limit.".to_owned()),
        _ => {}
    }
    if happened.transferred {
        sentences.push(format!("{who} asked for a person and was transferred."));
    } else if happened.transfer_failed {
        sentences.push(format!("{who} asked for a person, but nobody could be reached."));
    }
    let missing: Vec<String> = workflow
        .steps
        .iter()
        .filter(|s| !fields.contains_key(&s.field.name))
        .filter(|s| {
            s.when
                .as_ref()
                .is_none_or(|c| fields.get(&c.field) == Some(&c.equals))
        })
        .map(|s| s.field.name.replace('_', " "))
        .collect();
    if !missing.is_empty() && !sentences.is_empty() {
        sentences.push(format!("Not answered: {}.", missing.join(", ")));
    }
    sentences.extend(happened.notes.iter().cloned());
    if sentences.is_empty() {
        return format!("The call{for_org} was answered, but no answers were collected.");
    }
    sentences.join(" ")
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A yes/no question and its answer as a statement about the callee: "Can you come on Tuesday?"
/// + yes -> "can come on Tuesday"; + no -> "cannot come on Tuesday".
fn statement(question: &str, yes: bool) -> String {
    let q = question.trim().trim_end_matches('?');
    let ws: Vec<&str> = q.split_whitespace().collect();
    let third = |w: &str| -> String {
        match w.to_lowercase().as_str() {
            "you" => "they".into(),
            "your" => "their".into(),
            "yours" => "theirs".into(),
            "yourself" => "themselves".into(),
            "me" | "us" => "us".into(),
            _ => w.to_owned(),
        }
    };
    if ws.len() >= 3 && ws[1].eq_ignore_ascii_case("you") {
        let aux = ws[0].to_lowercase();
        let rest: Vec<String> = ws[2..].iter().map(|w| third(w)).collect();
        let rest = rest.join(" ");
        let rest = rest.strip_prefix("still ").unwrap_or(&rest).to_owned();
        let (pos, neg) = match aux.as_str() {
            "can" => ("can", "cannot"),
            "could" => ("could", "could not"),
            "will" => ("will", "will not"),
            "would" => ("would", "would not"),
            "do" => ("do", "do not"),
            "did" => ("did", "did not"),
            "are" => ("are", "are not"),
            "were" => ("were", "were not"),
            "have" => ("have", "have not"),
            "should" => ("should", "should not"),
            _ => ("", ""),
        };
        if !pos.is_empty() {
            // "do have any questions" reads better as "have any questions".
            return if yes && pos == "do" {
                rest
            } else {
                format!("{} {rest}", if yes { pos } else { neg })
            };
        }
    }
    let lowered: String = {
        let mut c = q.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect())
            .unwrap_or_default()
    };
    format!("answered {} to \"{lowered}?\"", if yes { "yes" } else { "no" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements() {
        assert_eq!(
            statement("Can you come to your appointment on Tuesday at 3 PM?", true),
            "can come to their appointment on Tuesday at 3 PM"
        );
        assert_eq!(
            statement(
                "Will you still be able to make your appointment on Friday?",
                false
            ),
            "will not be able to make their appointment on Friday"
        );
        assert_eq!(
            statement("Do you have any questions?", false),
            "do not have any questions"
        );
        assert_eq!(
            statement("Do you have any questions?", true),
            "have any questions"
        );
    }

    #[test]
    fn a_readable_summary() {
        let w = crate::workflow::compile(
            "Call Sarah Kim on behalf of City Clinic and confirm her appointment on Thursday at 2 PM. \
             If she needs to reschedule, offer Monday or Tuesday. Collect her email.",
        )
        .expect("compiles");
        let mut fields = Map::new();
        fields.insert("confirmed".into(), json!(false));
        fields.insert("reschedule_to".into(), json!("Tuesday"));
        fields.insert("email".into(), json!("sarah@example.com"));
        let s = summarize(&w, &fields, &Happened::default());
        assert_eq!(
            s,
            "Sarah will not be able to make their appointment on Thursday at 2 PM, chose Tuesday instead and gave the email address sarah@example.com."
        );
    }
}
