//! The conversation's LLM mode: what the model is told (the workflow, what was collected, the
//! conversation so far as heard) and which tools it may call. The engine stays in charge: the
//! disclosure, do-not-call, "are you a robot" and voicemail never depend on the model, and when the
//! model fails the deterministic engine carries on.

use crate::llm::{ChatMessage, ChatRole, Tool, ToolCall};
use crate::transcript::{Role, Turn};
use crate::workflow::{FieldKind, Workflow};
use serde_json::{Map, Value, json};

/// What the model's turn produced, fed back to the engine one piece at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum Thought {
    /// A complete sentence to speak.
    Sentence(String),
    /// A tool call.
    Tool(ToolCall),
    /// The turn is complete.
    Done,
    /// The model failed (timeout, error); the deterministic engine takes over.
    Failed(String),
}

/// Whether a sentence the model wrote must not be spoken: markup, JSON or a tool call written out
/// as text (a small model, or a server that could not parse the model's tool call, passes it on as
/// content), or no words at all. Such a turn is unusable and the deterministic engine answers.
pub fn unspeakable(text: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "<tool_call",
        "</",
        "<|",
        "|>",
        "{\"",
        "\"name\":",
        "\"arguments\"",
    ];
    let lower = text.to_ascii_lowercase();
    if MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let symbols = text
        .chars()
        .filter(|c| matches!(c, '{' | '}' | '[' | ']' | '<' | '>' | '\\' | '|' | '='))
        .count();
    letters == 0 || symbols * 4 > letters
}

/// A request for the model's next turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ThinkRequest {
    /// The messages.
    pub messages: Vec<ChatMessage>,
    /// The tools.
    pub tools: Vec<Tool>,
}

fn kind_name(kind: &FieldKind) -> String {
    match kind {
        FieldKind::YesNo => "yes or no".to_owned(),
        FieldKind::Date => "a date".to_owned(),
        FieldKind::Time => "a time of day".to_owned(),
        FieldKind::DateTime => "a day and time".to_owned(),
        FieldKind::Rating { min, max } => format!("a score from {min} to {max}"),
        FieldKind::Email => "an email address".to_owned(),
        FieldKind::Phone => "a phone number".to_owned(),
        FieldKind::Number => "a number".to_owned(),
        FieldKind::Digits => "digits".to_owned(),
        FieldKind::Choice { options } => format!("one of: {}", options.join(", ")),
        FieldKind::Text => "free text".to_owned(),
    }
}

/// Builds the request from the workflow, the fields so far and the transcript as heard.
pub fn request(
    workflow: &Workflow,
    fields: &Map<String, Value>,
    transcript: &[Turn],
    can_transfer: bool,
) -> ThinkRequest {
    let mut system = String::new();
    system.push_str(
        "You are an AI assistant speaking on a phone call. The callee already heard that you are an AI. \
         Never claim to be human. Speak naturally and briefly: one or two short sentences per turn, plain \
         words, no lists, no markdown, no emoji. Ask one question at a time.\n",
    );
    if let Some(org) = &workflow.organization {
        system.push_str(&format!("You are calling on behalf of {org}.\n"));
    }
    system.push_str(&format!(
        "The instructions for this call:\n{}\n\nQuestions to get answered, in order:\n",
        workflow.prompt
    ));
    for step in &workflow.steps {
        let condition = step
            .when
            .as_ref()
            .map(|c| format!(" (only if {} is {})", c.field, c.equals))
            .unwrap_or_default();
        let status = match fields.get(&step.field.name) {
            Some(v) => format!(" [collected: {v}]"),
            None => String::new(),
        };
        system.push_str(&format!(
            "- field `{}` ({}){condition}: \"{}\"{status}\n",
            step.field.name,
            kind_name(&step.field.kind),
            step.question
        ));
    }
    system.push_str(
        "\nWhen the callee answers a question, call collect_field with the field name and the answer. \
         When every applicable question is answered, or the callee wants to end, say a short goodbye and \
         call end_call.",
    );
    if can_transfer {
        system.push_str(" If the callee asks for a person, call transfer.");
    }
    if workflow.ivr_target.is_some() {
        system.push_str(" If you hear a phone menu, call send_dtmf with the key that leads to the goal.");
    }
    system.push_str(
        " If an answering machine or voicemail greeting answered instead of a person, say nothing and \
         call leave_voicemail: the message is left after the beep.",
    );
    let mut messages = vec![ChatMessage::text(ChatRole::System, system)];
    for turn in transcript {
        let role = match turn.role {
            Role::Agent => ChatRole::Assistant,
            Role::Caller => ChatRole::User,
        };
        if turn.text.is_empty() {
            continue;
        }
        // Consecutive agent sentences are one assistant message.
        match messages.last_mut() {
            Some(last) if last.role == role && role == ChatRole::Assistant => {
                if let Some(content) = last.content.as_mut() {
                    content.push(' ');
                    content.push_str(&turn.text);
                }
            }
            _ => messages.push(ChatMessage::text(role, turn.text.clone())),
        }
    }
    ThinkRequest {
        messages,
        tools: tools(workflow, can_transfer),
    }
}

/// The tools offered to the model.
pub fn tools(workflow: &Workflow, can_transfer: bool) -> Vec<Tool> {
    let names: Vec<&str> = workflow.steps.iter().map(|s| s.field.name.as_str()).collect();
    let mut tools = vec![
        Tool {
            name: "collect_field",
            description: "Record the callee's answer to one of the questions.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "enum": names },
                    "value": { "type": "string", "description": "The answer, as the callee gave it." }
                },
                "required": ["name", "value"],
                // Servers that turn the schema into a grammar (llama.cpp) then close the call
                // after the value instead of inventing more keys until the token limit.
                "additionalProperties": false
            }),
        },
        Tool {
            name: "end_call",
            description: "End the call after saying goodbye.",
            parameters: json!({
                "type": "object",
                "properties": { "reason": { "type": "string" } },
                "additionalProperties": false
            }),
        },
    ];
    if workflow.ivr_target.is_some() {
        tools.push(Tool {
            name: "send_dtmf",
            description: "Press keys on the phone keypad (phone menus).",
            parameters: json!({
                "type": "object",
                "properties": { "digits": { "type": "string", "pattern": "^[0-9*#]{1,20}$" } },
                "required": ["digits"],
                "additionalProperties": false
            }),
        });
    }
    tools.push(Tool {
        name: "leave_voicemail",
        description: "A voicemail greeting answered, not a person: leave the call's message after the beep.",
        parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
    });
    if can_transfer {
        tools.push(Tool {
            name: "transfer",
            description: "Connect the callee with a human colleague.",
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        });
    }
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_tool_calls_written_as_text_are_not_spoken() {
        for text in [
            "<tool_call>",
            "{\"name\": \"end_call\", \"arguments\": {}}",
            "</tool_call>",
            "<|im_end|>",
            "{}",
            "...",
            "[[x]] {{y}} <z>",
        ] {
            assert!(unspeakable(text), "{text:?}");
        }
        for text in [
            "Thank you, I have you down for Tuesday.",
            "Could you spell that, please?",
            "It's 3 PM - does that work?",
        ] {
            assert!(!unspeakable(text), "{text:?}");
        }
    }

    /// A server that turns the schema into a grammar must be able to close each call: no tool
    /// leaves room for keys the model invents (the tiny test model wrote them until its limit).
    #[test]
    fn every_tool_forbids_keys_it_does_not_name() {
        let workflow = crate::compiler::compile(
            "Call the pharmacy and navigate the phone menu to the pharmacist. \
             Ask whether my refill is ready.",
        )
        .expect("compiles");
        let offered = tools(&workflow, true);
        assert!(offered.len() >= 5, "{offered:?}");
        for tool in offered {
            assert_eq!(tool.parameters["additionalProperties"], false, "{}", tool.name);
        }
    }
}
