//! API errors: every failure is JSON `{"error": {"code", "message", "field"?}}` with a stable
//! `code` and a status; internals are logged, never shown. The prompt-to-call face adds the
//! `success: false` and top-level `message` its clients read.

use crate::service::{CreateError, HangupError};
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// Prompt-to-call face only: always false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Prompt-to-call face only: the message again, where its clients look for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_to`, `rate_limited`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For an upload or a list with bad entries: each bad row, by its number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<RowError>>,
}

/// One bad row of an upload (a CSV line or a JSON array element).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// The row's number: a CSV file's line (the header is line 1), or a JSON array's position
    /// counted from 1.
    pub row: usize,
    /// What is wrong with it.
    pub error: String,
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    rows: Option<Vec<RowError>>,
    retry_after: Option<u64>,
    prompt_face: bool,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            rows: None,
            retry_after: None,
            prompt_face: false,
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// Names the bad rows of an upload.
    pub fn rows(mut self, rows: Vec<RowError>) -> Self {
        self.rows = Some(rows);
        self
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Renders in the prompt-to-call face's shape.
    pub fn prompt_face(mut self) -> Self {
        self.prompt_face = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// One answer whatever was wrong (missing, malformed, unknown or revoked key).
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API key",
        )
    }

    /// No such call (or not this key's).
    pub fn call_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such call")
    }

    /// A malformed body.
    pub fn bad_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    /// Something broke inside; logged, not shown.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(%err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                field: self.field.map(str::to_owned),
                rows: self.rows,
            },
            success: self.prompt_face.then_some(false),
            message: self.prompt_face.then_some(self.message),
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::internal(&err)
    }
}

impl From<CreateError> for ApiError {
    fn from(err: CreateError) -> Self {
        use agent_runtime::WorkflowError;
        let message = err.to_string();
        let bad = |code, field| Self::new(StatusCode::BAD_REQUEST, code, message.clone()).field(field);
        match err {
            CreateError::To(agent_runtime::PhoneError::Emergency) => bad("emergency_number", "to"),
            CreateError::To(_) => bad("invalid_to", "to"),
            CreateError::BridgeNumber(_) => bad("invalid_bridge_number", "bridge_number"),
            CreateError::From(_) => bad("invalid_from", "from"),
            CreateError::FromNotAllowed(..) => {
                Self::new(StatusCode::FORBIDDEN, "from_not_allowed", message).field("from")
            }
            CreateError::ToNotAllowed(crate::policy::Refusal::DoNotCall { .. }) => {
                Self::new(StatusCode::FORBIDDEN, "do_not_call", message).field("to")
            }
            CreateError::BridgeNotAllowed(crate::policy::Refusal::DoNotCall { .. }) => {
                Self::new(StatusCode::FORBIDDEN, "do_not_call", message).field("bridge_number")
            }
            CreateError::ToNotAllowed(_) => {
                Self::new(StatusCode::FORBIDDEN, "destination_not_allowed", message).field("to")
            }
            CreateError::BridgeNotAllowed(_) => {
                Self::new(StatusCode::FORBIDDEN, "destination_not_allowed", message).field("bridge_number")
            }
            CreateError::Prompt(WorkflowError::TooVague) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "prompt_too_vague", message).field("prompt")
            }
            CreateError::Prompt(WorkflowError::NotEnglish) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "prompt_not_english", message).field("prompt")
            }
            CreateError::Prompt(WorkflowError::Unreadable) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "prompt_unreadable", message).field("prompt")
            }
            CreateError::Prompt(_) => bad("invalid_prompt", "prompt"),
            CreateError::Model(_) => bad("invalid_model", "model"),
            CreateError::ModelWithStoredWorkflow => bad("model_with_workflow_id", "model"),
            CreateError::UnknownWorkflow(_) => {
                Self::new(StatusCode::NOT_FOUND, "workflow_not_found", message).field("workflow_id")
            }
            CreateError::CallbackUrl(_) => bad("invalid_callback_url", "callback_url"),
            CreateError::Metadata => bad("invalid_metadata", "metadata"),
            CreateError::UnknownTrunk(_) => bad("unknown_trunk", "trunk"),
            CreateError::IdempotencyKey => bad("invalid_idempotency_key", "idempotency_key"),
            CreateError::IdempotencyReused(_) => {
                Self::new(StatusCode::CONFLICT, "idempotency_key_reused", message).field("idempotency_key")
            }
            CreateError::DailyCap { retry_after_secs, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "daily_cap_reached", message)
                    .retry_after(retry_after_secs)
            }
            CreateError::TrialCap { retry_after_secs, .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "trial_limit_reached", message)
                    .retry_after(retry_after_secs)
            }
            CreateError::QueueFull(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", message).retry_after(30)
            }
            CreateError::Store(e) => Self::internal(&e),
            #[allow(unreachable_patterns)] // the enum is non_exhaustive for other crates only
            _ => Self::internal(&message),
        }
    }
}

impl From<HangupError> for ApiError {
    fn from(err: HangupError) -> Self {
        match err {
            HangupError::Finalized => Self::new(
                StatusCode::CONFLICT,
                "already_finalized",
                "the call is already finalized",
            ),
            HangupError::NotFound => Self::call_not_found(),
            HangupError::Store(e) => Self::internal(&e),
            #[allow(unreachable_patterns)]
            _ => Self::internal(&"hangup failed"),
        }
    }
}

impl From<super::signed::SignatureError> for ApiError {
    fn from(err: super::signed::SignatureError) -> Self {
        use super::signed::SignatureError;
        let code = match err {
            SignatureError::Expired => "signature_expired",
            SignatureError::Malformed | SignatureError::Mismatch => "invalid_signature",
            #[allow(unreachable_patterns)] // the enum is non_exhaustive for other crates only
            _ => "invalid_signature",
        };
        Self::new(StatusCode::FORBIDDEN, code, err.to_string())
    }
}
