//! The two compatible faces, field by field after the public write-ups in `reference/`:
//! prompt-to-call (`POST /api/call-prompt`, `POST /api/call` with a `workflow_id`; completion
//! callback with `call_status` words) and fire-and-poll (`POST /call`, `GET /call/{id}` with
//! lifecycle kept apart from outcome, `GET /call/{id}/recording`).

use super::{AppState, Caller, ClientSource, body, idempotency_header, owned_call, serve_recording};
use crate::audit::{self, Action, Actor, Entry};
use crate::http::error::{ApiError, ErrorBody};
use crate::keys;
use crate::model::PollCall;
use crate::service::{CallSpec, Face, WorkflowSource};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/call-prompt` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallPrompt {
    /// Natural-language instructions for the call.
    #[schema(
        example = "Call and confirm the dental appointment for Friday at 3 PM. Ask if that still works."
    )]
    pub prompt: String,
    /// E.164, e.g. `+14155551234`.
    #[schema(example = "+15551234567", pattern = r"^\+[1-9][0-9 ().-]{7,20}$")]
    pub recipient_phone: String,
    /// Where the completion callback goes.
    pub callback_url: Option<String>,
    /// The caller ID to present, E.164 (one of the trunk's numbers when it lists them); the
    /// trunk's `from_number` when absent.
    #[schema(example = "+15557650000")]
    pub from: Option<String>,
    /// Prevents duplicate calls within the idempotency window (5 minutes by default).
    pub idempotency_key: Option<String>,
    /// The language model for the generated workflow and its call; the server's configured model
    /// when absent; ignored when no model is configured. 1 to 128 ASCII letters, digits and
    /// `. _ - : / @ +`.
    #[schema(
        example = "gpt-4o-mini",
        max_length = 128,
        pattern = r"^[A-Za-z0-9._:/@+-]{1,128}$"
    )]
    pub model: Option<String>,
}

/// `POST /api/call` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallWorkflow {
    /// A workflow from `POST /api/call-prompt` or `POST /v1/workflows`.
    pub workflow_id: String,
    /// E.164.
    #[schema(example = "+15551234567", pattern = r"^\+[1-9][0-9 ().-]{7,20}$")]
    pub recipient_phone: String,
    /// Where the completion callback goes.
    pub callback_url: Option<String>,
    /// The caller ID to present, E.164 (one of the trunk's numbers when it lists them); the
    /// trunk's `from_number` when absent.
    #[schema(example = "+15557650000")]
    pub from: Option<String>,
    /// Prevents duplicate calls within the idempotency window.
    pub idempotency_key: Option<String>,
}

/// The prompt-to-call answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptCreated {
    /// Always true (errors carry `success: false`).
    pub success: bool,
    /// The workflow.
    pub workflow_id: String,
    /// The call.
    pub call_id: String,
}

/// `POST /call` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PollCreate {
    /// E.164 number to call.
    #[schema(example = "+15551234567", pattern = r"^\+[1-9][0-9 ().-]{7,20}$")]
    pub to: String,
    /// Plain-English task for the agent.
    #[schema(example = "Ask what the weather is like where they are?")]
    pub task: String,
    /// A human the agent may hand the call to, E.164.
    pub bridge_number: Option<String>,
    /// Optional completion callback (the native call object under Standard Webhooks).
    pub callback_url: Option<String>,
    /// The caller ID to present, E.164 (one of the trunk's numbers when it lists them); the
    /// trunk's `from_number` when absent.
    #[schema(example = "+15557650000")]
    pub from: Option<String>,
}

/// The fire-and-poll answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PollCreated {
    /// The call.
    pub call_id: String,
    /// `queued` for a new call.
    pub lifecycle: String,
    /// A trial key, issued once to an anonymous first call when the operator allows trial keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// A prompt-to-call face's call: what its two requests share.
struct PromptFaceCall {
    workflow: WorkflowSource,
    recipient_phone: String,
    callback_url: Option<String>,
    from: Option<String>,
    idempotency_key: Option<String>,
    model: Option<String>,
}

async fn prompt_face_call(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    source: Option<std::net::IpAddr>,
    call: PromptFaceCall,
) -> Result<Response, ApiError> {
    let spec = CallSpec {
        face: Face::Prompt,
        to: call.recipient_phone,
        workflow: call.workflow,
        callback_url: call.callback_url,
        metadata: None,
        trunk: None,
        bridge_number: None,
        from: call.from,
        model: call.model,
        idempotency_key: idempotency_header(headers)?.or(call.idempotency_key),
        campaign: None,
        source,
    };
    let created = state
        .service
        .create(&caller.0.id, spec)
        .await
        .map_err(|e| prompt_error(e.into()))?;
    let body = PromptCreated {
        success: true,
        workflow_id: created.row.workflow_id,
        call_id: created.row.id,
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// The prompt-to-call face's error statuses: 400 for bad input (the write-up has no 404 or 409).
fn prompt_error(err: ApiError) -> ApiError {
    err.prompt_face()
}

/// Generate a workflow from a prompt and place the call.
#[utoipa::path(post, path = "/api/call-prompt", tag = "prompt-to-call", request_body = CallPrompt,
    responses(
        (status = 200, description = "Call initiated (or the earlier call for a repeated idempotency_key)", body = PromptCreated),
        (status = 400, description = "Missing fields, invalid phone number or invalid model name", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The destination policy refuses the number (`destination_not_allowed`)", body = ErrorBody),
        (status = 409, description = "idempotency_key reused with a different request", body = ErrorBody),
        (status = 422, description = "Workflow generation failed: the prompt is too vague", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Queue full", body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn call_prompt(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientSource(source)): Extension<ClientSource>,
    headers: HeaderMap,
    req: Result<Json<CallPrompt>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req).map_err(prompt_error)?;
    let call = PromptFaceCall {
        workflow: WorkflowSource::Prompt(req.prompt),
        recipient_phone: req.recipient_phone,
        callback_url: req.callback_url,
        from: req.from,
        idempotency_key: req.idempotency_key,
        model: req.model,
    };
    prompt_face_call(&state, &caller, &headers, source, call).await
}

/// Place a call with an existing workflow.
#[utoipa::path(post, path = "/api/call", tag = "prompt-to-call", request_body = CallWorkflow,
    responses(
        (status = 200, body = PromptCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "The destination policy refuses the number (`destination_not_allowed`)", body = ErrorBody),
        (status = 404, description = "Unknown workflow_id", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn call_workflow(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientSource(source)): Extension<ClientSource>,
    headers: HeaderMap,
    req: Result<Json<CallWorkflow>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req).map_err(prompt_error)?;
    let call = PromptFaceCall {
        workflow: WorkflowSource::Stored(req.workflow_id),
        recipient_phone: req.recipient_phone,
        callback_url: req.callback_url,
        from: req.from,
        idempotency_key: req.idempotency_key,
        model: None,
    };
    prompt_face_call(&state, &caller, &headers, source, call).await
}

/// Fire: place a call and return at once; poll `GET /call/{id}` for the result.
#[utoipa::path(post, path = "/call", tag = "fire-and-poll", request_body = PollCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Returns the original call for a repeated request")),
    responses(
        (status = 200, description = "Queued (or the earlier call for a repeated Idempotency-Key)", body = PollCreated),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub(super) async fn poll_create(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    req: Result<Json<PollCreate>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let source = extensions.get::<ClientSource>().and_then(|s| s.0);
    let known = extensions.get::<Caller>().cloned();
    let actor = match &known {
        Some(c) => Actor::Key(c.0.id.clone()),
        None => Actor::Anonymous,
    };
    // Validate before issuing a trial key, so bad requests do not mint keys.
    let to = agent_runtime::phone::E164::parse(&req.to)
        .map_err(|e| ApiError::from(crate::service::CreateError::To(e)))?;
    let owner = known.as_ref().map(|c| c.0.id.as_str());
    match state.service.check_destination(owner, &to).await {
        Ok(()) => {}
        Err(crate::service::CreateError::ToNotAllowed(refused)) => {
            let entry = audit::refusal(actor, "to", &refused, source);
            audit::record_or_log(state.service.store(), state.service.clock(), entry).await;
            return Err(crate::service::CreateError::ToNotAllowed(refused).into());
        }
        Err(other) => return Err(other.into()),
    }
    let (caller, api_key) = match known {
        Some(c) => (c, None),
        None => {
            // An anonymous trial may not hand a call to a second number: two arbitrary numbers
            // bridged for free is the classic toll-fraud pattern.
            if req.bridge_number.as_deref().is_some_and(|b| !b.trim().is_empty()) {
                let entry = Entry::new(Actor::Anonymous, Action::DestinationRefused)
                    .source(source)
                    .detail(serde_json::json!({ "rule": "bridge_not_allowed_for_trial", "field": "bridge_number" }));
                audit::record_or_log(state.service.store(), state.service.clock(), entry).await;
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "bridge_not_allowed_for_trial",
                    "bridge_number needs an API key; trial calls cannot be handed to another number",
                )
                .field("bridge_number"));
            }
            state.service.check_trial_calls(source).await?;
            let now_ms = state.service.clock().now_ms();
            let (_, retry_after) = crate::limits::utc_day(now_ms);
            if !state.trial_mints.try_mint(
                source.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                now_ms.div_euclid(86_400_000),
                state.trial.keys_per_source_per_day,
            ) {
                return Err(ApiError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "trial_limit_reached",
                    "this address has used its trial keys for today; use an API key",
                )
                .retry_after(retry_after));
            }
            let key = keys::create(
                state.service.store(),
                state.service.clock(),
                Some("trial".to_owned()),
                keys::Issuer::Trial { source },
            )
            .await?;
            (Caller(key.row), Some(key.secret))
        }
    };
    let spec = CallSpec {
        face: Face::Poll,
        to: req.to,
        workflow: WorkflowSource::Prompt(req.task),
        callback_url: req.callback_url,
        metadata: None,
        trunk: None,
        bridge_number: req.bridge_number,
        from: req.from,
        model: None,
        idempotency_key: idempotency_header(&headers)?,
        campaign: None,
        source,
    };
    let created = state.service.create(&caller.0.id, spec).await?;
    let lifecycle = PollCall::from_row(&created.row, state.service.public_url())?.lifecycle;
    let body = PollCreated {
        call_id: created.row.id,
        lifecycle,
        api_key,
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Poll: the call's lifecycle, and once finalized its outcome, transcript and recording.
#[utoipa::path(get, path = "/call/{id}", tag = "fire-and-poll",
    params(("id" = String, Path, description = "Call id")),
    responses((status = 200, body = PollCall), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub(super) async fn poll_call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<PollCall>, ApiError> {
    let row = owned_call(&state, &caller, &id).await?;
    Ok(Json(PollCall::from_row(&row, state.service.public_url())?))
}

/// The call's recording (WAV), with `Range` support.
#[utoipa::path(get, path = "/call/{id}/recording", tag = "fire-and-poll",
    params(("id" = String, Path, description = "Call id"), ("Range" = Option<String>, Header, description = "bytes=START-END")),
    responses(
        (status = 200, content_type = "audio/wav", body = Vec<u8>),
        (status = 206, content_type = "audio/wav", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 416, description = "Range not satisfiable"), (status = 429, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub(super) async fn poll_recording(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let row = owned_call(&state, &caller, &id).await?;
    serve_recording(&state, &caller, &row, request).await
}
