//! One-shot uses of the model: compiling a prompt into a workflow (structured output, checked by the
//! same rules as the deterministic compiler's), and the post-call summary. Both fall back to the
//! deterministic versions when the model fails, so no call depends on it.

use super::{ChatMessage, ChatRole, LlmClient};
use crate::transcript::{Role, Turn};
use crate::workflow::{self, Condition, Fact, Field, FieldKind, Step, Workflow, WorkflowError};
use serde::Deserialize;
use serde_json::{Map, Value};

const COMPILE_INSTRUCTIONS: &str = r#"You turn instructions for an outbound phone call into a JSON workflow.
Answer with one JSON object only:
{"vague": false, "reason": "", "organization": string or null, "callee": "the callee's name" or null,
 "goal": "one sentence", "subject": "what the call is about, addressed to the callee" or null,
 "message": "a reminder or notice to say before the questions" or null,
 "steps": [{"question": "what the agent asks, addressed to the callee",
            "field": {"name": "snake_case", "type": "yes_no|date|time|datetime|email|phone|number|digits|choice|rating|text",
                      "options": ["only for choice"], "min": 1, "max": 10},
            "when": null or {"field": "earlier field name", "equals": true|false|"option"}}],
 "facts": [{"topic": ["words"], "answer": "what to say if the callee asks"}],
 "leave_voicemail": true, "voicemail_message": "what to leave on an answering machine",
 "max_duration_secs": 600, "ivr_target": null or "menu option to reach", "transfer_on_request": false}
Ask one question per field, in the order given. A confirmation is a yes_no field; reschedule options are a
choice asked only when the confirmation is false. min/max only for rating.
Set "vague": true with a "reason" when the instructions give no goal, question or message."#;

#[derive(Debug, Deserialize)]
struct Compiled {
    #[serde(default)]
    vague: bool,
    organization: Option<String>,
    callee: Option<String>,
    #[serde(default)]
    goal: String,
    subject: Option<String>,
    message: Option<String>,
    #[serde(default)]
    facts: Vec<Fact>,
    leave_voicemail: Option<bool>,
    #[serde(default)]
    steps: Vec<CompiledStep>,
    voicemail_message: Option<String>,
    max_duration_secs: Option<u32>,
    ivr_target: Option<String>,
    #[serde(default)]
    transfer_on_request: bool,
}

#[derive(Debug, Deserialize)]
struct CompiledStep {
    question: String,
    field: CompiledField,
    when: Option<Condition>,
}

#[derive(Debug, Deserialize)]
struct CompiledField {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Vec<String>,
    min: Option<u8>,
    max: Option<u8>,
}

/// Compiles a prompt with the model; the deterministic compiler answers when the model fails or
/// writes something that breaks the rules. A prompt the model calls vague is refused.
pub async fn compile_workflow(client: &LlmClient, prompt: &str) -> Result<Workflow, WorkflowError> {
    // The deterministic checks of emptiness and length apply first, and give the fallback.
    let fallback = workflow::compile(prompt);
    if matches!(
        fallback,
        Err(WorkflowError::Empty | WorkflowError::TooLong { .. })
    ) {
        return fallback;
    }
    let messages = [
        ChatMessage::text(ChatRole::System, COMPILE_INSTRUCTIONS),
        ChatMessage::text(ChatRole::User, prompt),
    ];
    let reply = match client.complete(&messages, &[], true, None).await {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!(%err, "workflow compilation by the model failed; using the built-in compiler");
            return fallback;
        }
    };
    let text = reply
        .text
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```");
    let compiled: Compiled = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!(%err, "the model's workflow is not valid JSON; using the built-in compiler");
            return fallback;
        }
    };
    if compiled.vague {
        return Err(WorkflowError::TooVague);
    }
    match from_compiled(prompt, compiled) {
        Ok(w) => Ok(w),
        Err(err) => {
            tracing::warn!(%err, "the model's workflow breaks a rule; using the built-in compiler");
            fallback
        }
    }
}

fn from_compiled(prompt: &str, c: Compiled) -> Result<Workflow, WorkflowError> {
    let steps = c
        .steps
        .into_iter()
        .map(|s| {
            let kind = match s.field.kind.as_str() {
                "yes_no" => FieldKind::YesNo,
                "date" => FieldKind::Date,
                "time" => FieldKind::Time,
                "datetime" | "date_time" => FieldKind::DateTime,
                "rating" => FieldKind::Rating {
                    min: s.field.min.unwrap_or(1),
                    max: s.field.max.unwrap_or(10),
                },
                "email" => FieldKind::Email,
                "phone" => FieldKind::Phone,
                "number" => FieldKind::Number,
                "digits" => FieldKind::Digits,
                "choice" => FieldKind::Choice {
                    options: s.field.options,
                },
                "text" => FieldKind::Text,
                _ => return Err(WorkflowError::Invalid("unknown field type")),
            };
            Ok(Step {
                question: s.question,
                field: Field {
                    name: s.field.name,
                    kind,
                },
                when: s.when,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let org_part = c
        .organization
        .as_ref()
        .map(|o| format!(" calling on behalf of {o}"))
        .unwrap_or_else(|| " calling".into());
    let non_empty = |t: Option<String>| t.filter(|t| !t.trim().is_empty());
    let workflow = Workflow {
        prompt: prompt.to_owned(),
        // The disclosure is ours, never the model's.
        opening: format!("{}{org_part}.", workflow::DISCLOSURE),
        organization: non_empty(c.organization),
        callee: non_empty(c.callee),
        goal: c.goal,
        subject: non_empty(c.subject),
        message: non_empty(c.message),
        steps,
        replies: Vec::new(),
        facts: c.facts,
        notes: Vec::new(),
        rules: Vec::new(),
        closing: "Thank you for your time. Goodbye!".to_owned(),
        leave_voicemail: c.leave_voicemail.unwrap_or(true),
        voicemail_message: c
            .voicemail_message
            .filter(|m| !m.trim().is_empty())
            .map(|m| {
                // A machine hears the disclosure too.
                if m.starts_with(workflow::DISCLOSURE) {
                    m
                } else {
                    format!("{}{org_part}. {m}", workflow::DISCLOSURE)
                }
            })
            .unwrap_or_else(|| {
                format!(
                    "{}{org_part}. Please call us back at your convenience. Goodbye.",
                    workflow::DISCLOSURE
                )
            }),
        max_duration_secs: c.max_duration_secs.unwrap_or(600),
        ivr_target: c.ivr_target.filter(|t| !t.trim().is_empty()),
        transfer_on_request: c.transfer_on_request,
        model: None,
    };
    workflow.validate()?;
    Ok(workflow)
}

/// A two-sentence summary of a finished call by the model; `None` when it fails (the caller keeps
/// the deterministic summary).
pub async fn summarize(
    client: &LlmClient,
    workflow: &Workflow,
    transcript: &[Turn],
    fields: &Map<String, Value>,
) -> Option<String> {
    let mut text = format!(
        "Goal of the call: {}\nCollected: {}\nTranscript:\n",
        workflow.goal,
        Value::Object(fields.clone())
    );
    for turn in transcript {
        let who = match turn.role {
            Role::Agent => "Agent",
            Role::Caller => "Callee",
        };
        text.push_str(&format!("{who}: {}\n", turn.text));
    }
    let messages = [
        ChatMessage::text(
            ChatRole::System,
            "Summarize this phone call in at most two sentences for a business user: the outcome and the \
             answers given. Plain text only.",
        ),
        ChatMessage::text(ChatRole::User, text),
    ];
    match client
        .complete(&messages, &[], false, Some(client.config().max_tokens))
        .await
    {
        Ok(reply) if !reply.text.trim().is_empty() => Some(reply.text.trim().to_owned()),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(%err, "summary by the model failed; keeping the built-in summary");
            None
        }
    }
}
