//! Calls and conversations: the call runner that ties a SIP dialog, a media session and a
//! conversation together, the workflow compiler, the conversation engine, outcomes, and the speech
//! providers (on-box Piper and Whisper, or OpenAI-compatible endpoints).

#![deny(missing_docs)]

pub mod amd;
pub mod call;
pub mod compiler;
pub mod conversation;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod llm;
pub mod outcome;
pub mod phone;
pub mod speech;
pub mod transcript;
pub mod workflow;

pub use call::{CallReport, CallRequest, CallUpdate, RuntimeConfig, Speech, run_call};
pub use outcome::{Lifecycle, Outcome, SipResult};
pub use phone::{E164, PhoneError};
pub use transcript::{Role, Turn};
pub use workflow::{Workflow, WorkflowError};
