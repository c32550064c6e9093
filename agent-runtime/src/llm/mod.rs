//! An OpenAI-compatible chat-completions client (vLLM, Ollama, llama.cpp server, hosted APIs): tool
//! calls, server-sent-event streaming, timeouts and retries. The conversation engine uses it through
//! [`crate::conversation`]'s LLM mode; the workflow compiler and the post-call summary use
//! [`LlmClient::complete`].

mod client;
mod model;
mod sentences;
pub(crate) mod sse;

pub use client::{LlmClient, LlmError, LlmStream};
pub use model::{MAX_MODEL_CHARS, ModelName, ModelNameError};
pub use sentences::SentenceSplitter;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Settings of the language model (`[providers.llm]`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Server root, with or without `/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; none when absent.
    pub api_key: Option<String>,
    /// Model name: the default for workflows that do not choose one (`model` in the API).
    pub model: String,
    /// Time allowed until the first token (or the whole answer when not streaming), ms.
    pub first_token_timeout_ms: u64,
    /// Time allowed for a whole answer, ms.
    pub timeout_ms: u64,
    /// Retries before the first token on connection errors, 429 and 5xx.
    pub retries: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Most tokens one conversational turn or the summary may have (`max_tokens`). A phone turn is
    /// a sentence or two; without a bound a small model can write until its context is full (seen:
    /// SmolLM2-135M on llama.cpp repeating one sentence for 3,700 tokens).
    pub max_tokens: u32,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8000".to_owned(),
            api_key: None,
            model: "default".to_owned(),
            first_token_timeout_ms: 8_000,
            timeout_ms: 30_000,
            retries: 2,
            temperature: 0.2,
            max_tokens: 200,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    /// Instructions.
    System,
    /// The callee (their words, transcribed).
    User,
    /// The agent.
    Assistant,
    /// A tool result.
    Tool,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: ChatRole,
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Tool calls the assistant made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool results: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with text only.
    pub fn text(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The result of a tool call.
    pub fn tool_result(id: &str, content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(id.to_owned()),
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed in the result.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its JSON arguments.
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// Name and arguments of a called function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON text.
    pub arguments: String,
}

impl ToolCall {
    /// The arguments, parsed (an object; `{}` when they do not parse).
    pub fn args(&self) -> Value {
        serde_json::from_str(&self.function.arguments).unwrap_or_else(|_| Value::Object(Default::default()))
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tool {
    /// Name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// What a streaming answer yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// More text.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// The answer hit the token limit (`finish_reason: "length"`): its last words are cut short.
    Truncated,
    /// The answer is complete.
    Done,
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// Its text.
    pub text: String,
    /// Its tool calls.
    pub tool_calls: Vec<ToolCall>,
}

mod tasks;
pub use tasks::{compile_workflow, summarize};
