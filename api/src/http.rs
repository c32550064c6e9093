//! The HTTP API (axum): routes, API-key auth, and errors as JSON with stable codes. `app(state)`
//! builds the router so tests drive it with `tower::ServiceExt::oneshot`.

use crate::keys;
use crate::model::call_json;
use crate::service::{CallService, CreateError, NewCall};
use crate::store::{ApiKeyRow, StoreError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

/// An API error: status, stable code, message, and the offending field if any.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn unauthorized() -> Self {
        // One answer whatever was wrong (missing, malformed, unknown or revoked key).
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API key",
        )
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such call")
    }

    fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(%err, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
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
        let message = err.to_string();
        match err {
            CreateError::To(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_to", message).field("to"),
            CreateError::Prompt(agent_runtime::WorkflowError::TooVague) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "prompt_too_vague", message).field("prompt")
            }
            CreateError::Prompt(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_prompt", message).field("prompt")
            }
            CreateError::CallbackUrl(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_callback_url", message).field("callback_url")
            }
            CreateError::Metadata => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_metadata", message).field("metadata")
            }
            CreateError::UnknownTrunk(_) => {
                Self::new(StatusCode::BAD_REQUEST, "unknown_trunk", message).field("trunk")
            }
            CreateError::Store(e) => Self::internal(&e),
        }
    }
}

/// Builds the router.
pub fn app(service: CallService) -> Router {
    let authed = Router::new()
        .route("/v1/calls", post(create_call))
        .route("/v1/calls/{id}", get(get_call))
        .route("/v1/calls/{id}/recording", get(get_recording))
        .route_layer(middleware::from_fn_with_state(service.clone(), require_key));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(authed)
        .with_state(service)
}

/// The key presented as `Authorization: Bearer <key>` or `X-Api-Key: <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn require_key(State(service): State<CallService>, mut request: Request, next: Next) -> Response {
    let Some(key) = presented_key(request.headers()) else {
        return ApiError::unauthorized().into_response();
    };
    match keys::authenticate(service.store(), key).await {
        Ok(Some(row)) => {
            request.extensions_mut().insert(row);
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

async fn healthz(State(service): State<CallService>) -> Response {
    let trunks: Vec<_> = service
        .trunk_status()
        .into_iter()
        .map(|(name, status)| json!({ "name": name, "registration": format!("{status:?}") }))
        .collect();
    Json(json!({ "status": "ok", "trunks": trunks })).into_response()
}

async fn create_call(
    State(service): State<CallService>,
    Extension(key): Extension<ApiKeyRow>,
    body: Result<Json<NewCall>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) =
        body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text()))?;
    let row = service.create(Some(&key.id), new).await?;
    let body = call_json(&row, service.public_url())?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_call(State(service): State<CallService>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = service.store().call(&id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(call_json(&row, service.public_url())?).into_response())
}

async fn get_recording(
    State(service): State<CallService>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = service.store().call(&id).await?.ok_or_else(ApiError::not_found)?;
    let path = row.recording_path.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "this call has no recording",
        )
    })?;
    let bytes = tokio::fs::read(&path).await.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "the recording file is gone",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}
