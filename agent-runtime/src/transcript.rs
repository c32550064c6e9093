//! Transcript turns, as they appear in the call record and the callback.

use serde::{Deserialize, Serialize};

/// Who spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The AI agent.
    Agent,
    /// The person (or machine) called.
    Caller,
}

/// One turn of the conversation. Times are milliseconds from the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who spoke.
    pub role: Role,
    /// What was said (for the agent: only what was actually played).
    pub text: String,
    /// Start, ms from answer.
    pub start_ms: u64,
    /// End, ms from answer.
    pub end_ms: u64,
    /// Whether the turn was cut short by the other side.
    pub interrupted: bool,
}
