//! The native `v1` face: calls (create, list with filters and a cursor, get, hang up, recording,
//! live events), the webhook delivery log and redelivery, and workflows.

use super::{AppState, Caller, ClientSource, body, idempotency_header, owned_call};
use crate::clock::normalize_rfc3339;
use crate::events::LiveEvent;
use crate::http::error::{ApiError, ErrorBody};
use crate::model::Call;
use crate::service::{CallSpec, Face, WorkflowSource};
use crate::store::{CallFilter, CallRow};
use agent_runtime::phone::E164;
use agent_runtime::workflow::Workflow;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::convert::Infallible;
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

/// `POST /v1/calls` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCall {
    /// Number to call, E.164 (e.g. `+15551234567`). Emergency numbers are refused.
    #[schema(example = "+15551234567", pattern = r"^\+[1-9][0-9 ().-]{7,20}$")]
    pub to: String,
    /// What the agent should do (or give `workflow_id`).
    #[schema(example = "Ask if they can come on Tuesday at 3 PM.")]
    pub prompt: Option<String>,
    /// A workflow from `POST /v1/workflows` (instead of `prompt`).
    pub workflow_id: Option<String>,
    /// Where to POST the signed completion callback (https; private addresses refused by default).
    pub callback_url: Option<String>,
    /// Free-form JSON object returned with the call.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Trunk name; the first configured trunk when absent.
    pub trunk: Option<String>,
    /// A human the agent may bridge the call to, E.164.
    pub bridge_number: Option<String>,
    /// The caller ID to present, E.164 (one of the trunk's numbers when it lists them); the
    /// trunk's `from_number` when absent.
    #[schema(example = "+15557650000")]
    pub from: Option<String>,
    /// The language model for this call's workflow (with `prompt` only; a stored workflow keeps
    /// the model it was created with). The server's configured model when absent; ignored when no
    /// model is configured. 1 to 128 ASCII letters, digits and `. _ - : / @ +`.
    #[schema(
        example = "gpt-4o-mini",
        max_length = 128,
        pattern = r"^[A-Za-z0-9._:/@+-]{1,128}$"
    )]
    pub model: Option<String>,
    /// Idempotency key (the `Idempotency-Key` header takes precedence).
    pub idempotency_key: Option<String>,
}

/// A page of calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallList {
    /// Calls, newest first.
    pub data: Vec<Call>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/calls`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only calls in this lifecycle.
    #[param(inline, value_type = Option<LifecycleWord>)]
    pub lifecycle: Option<String>,
    /// Only calls with this outcome.
    #[param(inline, value_type = Option<OutcomeWord>)]
    pub outcome: Option<String>,
    /// Only calls to this number (E.164).
    pub to: Option<String>,
    /// Only calls in this direction.
    #[param(inline, value_type = Option<DirectionWord>)]
    pub direction: Option<String>,
    /// Only calls whose number (called or calling) ends with these digits, e.g. the last four.
    #[param(pattern = r"^[0-9]{1,15}$", example = "4567")]
    pub number_suffix: Option<String>,
    /// Only calls whose transcript has a turn containing this text, ignoring case (1 to 200
    /// characters; in SQLite only ASCII letters are folded).
    #[param(min_length = 1, max_length = 200, example = "tuesday")]
    pub q: Option<String>,
    /// Only calls created at or after this time (RFC 3339).
    pub created_after: Option<String>,
    /// Only calls created before this time (RFC 3339).
    pub created_before: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lifecycle words.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleWord {
    /// Waiting for a trunk channel.
    Queued,
    /// INVITE sent.
    Dialing,
    /// Ringing.
    Ringing,
    /// Answered.
    Answered,
    /// Over.
    Finalized,
}

/// Direction words.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectionWord {
    /// Placed by Ringback.
    Outbound,
    /// Received on a trunk's number.
    Inbound,
}

/// Outcome words.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeWord {
    /// Conversation held.
    Completed,
    /// Answered by a machine.
    Voicemail,
    /// Nobody answered.
    NoAnswer,
    /// Busy.
    Busy,
    /// Declined.
    Declined,
    /// Failed.
    Failed,
    /// Hung up through the API before the answer.
    Canceled,
}

const LIFECYCLES: &[&str] = &["queued", "dialing", "ringing", "answered", "finalized"];
const DIRECTIONS: &[&str] = &["outbound", "inbound"];
/// The longest transcript search.
const MAX_Q_CHARS: usize = 200;
const OUTCOMES: &[&str] = &[
    "completed",
    "voicemail",
    "no_answer",
    "busy",
    "declined",
    "failed",
    "canceled",
];

/// One webhook delivery with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The message id (`webhook-id`), the same on every attempt.
    pub delivery_id: String,
    /// `call.finalized`.
    pub event_type: String,
    /// Target URL.
    pub url: String,
    /// `pending | delivered | failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub delivered_at: Option<String>,
    /// When the next attempt is due (pending only), RFC 3339.
    pub next_attempt_at: Option<String>,
    /// Every attempt.
    pub log: Vec<Attempt>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    /// 1, 2, ...
    pub attempt: i64,
    /// RFC 3339.
    pub at: String,
    /// HTTP status, if the receiver answered.
    pub status_code: Option<i64>,
    /// What went wrong, if it did not answer.
    pub error: Option<String>,
}

/// The deliveries of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Oldest first.
    pub data: Vec<Delivery>,
}

/// `POST /v1/workflows` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWorkflow {
    /// What the agent should do on calls using this workflow.
    #[schema(example = "Ask if they can come on Tuesday at 3 PM.")]
    pub prompt: String,
    /// The language model for this workflow's calls (and its compilation); the server's configured
    /// model when absent; ignored when no model is configured. 1 to 128 ASCII letters, digits and
    /// `. _ - : / @ +`.
    #[schema(
        example = "gpt-4o-mini",
        max_length = 128,
        pattern = r"^[A-Za-z0-9._:/@+-]{1,128}$"
    )]
    pub model: Option<String>,
}

/// A compiled workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowObject {
    /// `wf_...`.
    pub workflow_id: String,
    /// The prompt as given.
    pub prompt: String,
    /// The goal, for summaries.
    pub goal: String,
    /// The first words (the AI disclosure is always part of them).
    pub opening: String,
    /// The questions the agent asks, in order (branches included).
    pub questions: Vec<String>,
    /// Said before hanging up.
    pub closing: String,
    /// The language model chosen for this workflow's calls; null for the server's configured one.
    pub model: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

fn call_body(state: &AppState, row: &CallRow) -> Result<Call, ApiError> {
    Ok(Call::from_row(row, state.service.public_url())?)
}

/// Place a call.
#[utoipa::path(post, path = "/v1/calls", tag = "calls",
    request_body = CreateCall,
    params(("Idempotency-Key" = Option<String>, Header, description = "Returns the original call for a repeated request within the idempotency window")),
    responses(
        (status = 201, description = "Queued", body = Call),
        (status = 200, description = "An earlier call with this idempotency key (nothing new is dialled)", body = Call),
        (status = 400, description = "Bad input (e.g. `invalid_model`, or `model_with_workflow_id`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The destination policy refuses `to` or `bridge_number` (`destination_not_allowed`)", body = ErrorBody),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
        (status = 409, description = "Idempotency key reused with a different request", body = ErrorBody),
        (status = 422, description = "Prompt too vague", body = ErrorBody),
        (status = 429, description = "Rate limit or daily cap", body = ErrorBody),
        (status = 503, description = "The trunk's queue is full", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn create_call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientSource(source)): Extension<ClientSource>,
    headers: HeaderMap,
    req: Result<Json<CreateCall>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let workflow = match (req.prompt, req.workflow_id) {
        (Some(prompt), None) => WorkflowSource::Prompt(prompt),
        (None, Some(id)) => WorkflowSource::Stored(id),
        _ => {
            return Err(ApiError::bad_body("give exactly one of prompt and workflow_id").field("prompt"));
        }
    };
    let spec = CallSpec {
        face: Face::V1,
        to: req.to,
        workflow,
        callback_url: req.callback_url,
        metadata: req.metadata,
        trunk: req.trunk,
        bridge_number: req.bridge_number,
        from: req.from,
        model: req.model,
        idempotency_key: idempotency_header(&headers)?.or(req.idempotency_key),
        campaign: None,
        source,
    };
    let created = state.service.create(&caller.0.id, spec).await?;
    let call = call_body(&state, &created.row)?;
    Ok(created_response(created.replayed, Json(call)))
}

/// 201 for a new call, 200 with `Idempotent-Replayed: true` for an earlier one.
pub(super) fn created_response(replayed: bool, body: impl IntoResponse) -> Response {
    if replayed {
        let mut response = (StatusCode::OK, body).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        response
    } else {
        (StatusCode::CREATED, body).into_response()
    }
}

/// List calls, newest first.
#[utoipa::path(get, path = "/v1/calls", tag = "calls", params(ListQuery),
    responses(
        (status = 200, body = CallList),
        (status = 400, description = "Bad filter or cursor", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn list_calls(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<CallList>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let (rows, next_cursor) = list(&state, &caller, q).await?;
    let data = rows
        .iter()
        .map(|r| call_body(&state, r))
        .collect::<Result<_, _>>()?;
    Ok(Json(CallList { data, next_cursor }))
}

/// Lists a key's calls (shared with the MCP `list_calls` tool).
pub(super) async fn list(
    state: &AppState,
    caller: &Caller,
    q: ListQuery,
) -> Result<(Vec<CallRow>, Option<String>), ApiError> {
    let bad = |code: &'static str, field: &'static str, message: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, code, message.to_owned()).field(field)
    };
    let word = |value: Option<String>, words: &[&str], field: &'static str| match value {
        Some(v) if !words.contains(&v.as_str()) => Err(bad(
            "invalid_query",
            field,
            &format!("{field} must be one of {}", words.join(", ")),
        )),
        other => Ok(other),
    };
    let time = |value: Option<String>, field: &'static str| match value {
        Some(v) => normalize_rfc3339(&v).map(Some).ok_or_else(|| {
            bad(
                "invalid_query",
                field,
                &format!("{field} must be an RFC 3339 time"),
            )
        }),
        None => Ok(None),
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(bad("invalid_query", "limit", "limit must be between 1 and 100"));
    }
    let to = match q.to {
        Some(to) => Some(
            E164::parse(&to)
                .map_err(|e| bad("invalid_query", "to", &e.to_string()))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let number_suffix = match q.number_suffix {
        Some(digits) if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits)
        }
        Some(_) => {
            return Err(bad(
                "invalid_query",
                "number_suffix",
                "number_suffix must be 1 to 15 digits",
            ));
        }
        None => None,
    };
    let transcript_contains = match q.q {
        Some(text)
            if (1..=MAX_Q_CHARS).contains(&text.chars().count()) && !text.chars().any(char::is_control) =>
        {
            Some(text)
        }
        Some(_) => {
            return Err(bad(
                "invalid_query",
                "q",
                "q must be 1 to 200 characters, none of them control characters",
            ));
        }
        None => None,
    };
    let before_id = match q.cursor {
        Some(c) => Some(decode_cursor(&c).ok_or_else(|| bad("invalid_cursor", "cursor", "unknown cursor"))?),
        None => None,
    };
    let filter = CallFilter {
        owner: Some(caller.0.id.clone()),
        lifecycle: word(q.lifecycle, LIFECYCLES, "lifecycle")?,
        outcome: word(q.outcome, OUTCOMES, "outcome")?,
        to,
        direction: word(q.direction, DIRECTIONS, "direction")?,
        number_suffix,
        transcript_contains,
        created_after: time(q.created_after, "created_after")?,
        created_before: time(q.created_before, "created_before")?,
        before_id,
        limit: i64::from(limit) + 1,
    };
    let mut rows = state.service.store().calls(&filter).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| B64URL.encode(r.id.as_bytes()))
    } else {
        None
    };
    Ok((rows, next_cursor))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = B64URL.decode(cursor).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    let valid = id.starts_with("call_")
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(id)
}

/// One call.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn get_call(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    let row = owned_call(&state, &caller, &id).await?;
    Ok(Json(call_body(&state, &row)?))
}

/// Hang a call up (cancels a queued or ringing call; ends an answered one).
#[utoipa::path(post, path = "/v1/calls/{id}/hangup", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 202, description = "Hanging up (or, for a queued call, already canceled)", body = Call),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already finalized", body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn hangup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    owned_call(&state, &caller, &id).await?;
    let row = state.service.hangup(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(call_body(&state, &row)?)).into_response())
}

/// Live events of a call (server-sent events): `call` (a snapshot first), `lifecycle`,
/// `transcript` (each turn as it completes), `dtmf` and `call.finalized` (the final call object, last).
#[utoipa::path(get, path = "/v1/calls/{id}/events", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before reading the stored state, so no event falls between the two.
    let subscription = Subscription {
        rx: Some(state.service.events().subscribe(&id)),
        events: state.service.events().clone(),
        id: id.clone(),
    };
    let row = owned_call(&state, &caller, &id).await?;
    let snapshot = call_body(&state, &row)?;
    let finalized = row.lifecycle == "finalized";
    let first = Event::default()
        .event("call")
        .json_data(&snapshot)
        .unwrap_or_default();
    let stream = futures_util::stream::unfold(
        (Some(first), finalized.then_some(snapshot), subscription, false),
        |(first, done_snapshot, mut sub, over)| async move {
            if let Some(first) = first {
                return Some((Ok(first), (None, done_snapshot, sub, over)));
            }
            if over {
                return None;
            }
            if let Some(call) = done_snapshot {
                let event = sse(&LiveEvent::Finalized(Box::new(call)));
                return Some((Ok(event), (None, None, sub, true)));
            }
            let rx = sub.rx.as_mut()?;
            match rx.recv().await {
                Ok(event) => {
                    let last = matches!(event, LiveEvent::Finalized(_));
                    Some((Ok(sse(&event)), (None, None, sub, last)))
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let event = Event::default().event("lagged").data(n.to_string());
                    Some((Ok(event), (None, None, sub, false)))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse(event: &LiveEvent) -> Event {
    Event::default()
        .event(event.name())
        .json_data(event)
        .unwrap_or_default()
}

/// A subscription that gives its channel back when the client goes away.
struct Subscription {
    rx: Option<broadcast::Receiver<LiveEvent>>,
    events: crate::events::Events,
    id: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.rx.take();
        self.events.release(&self.id);
    }
}

/// The webhook delivery log of a call.
#[utoipa::path(get, path = "/v1/calls/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path, description = "Call id")),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn deliveries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryList>, ApiError> {
    owned_call(&state, &caller, &id).await?;
    let store = state.service.store();
    let mut data = Vec::new();
    for d in store.deliveries(&id).await? {
        let log = store
            .attempts(&d.id)
            .await?
            .into_iter()
            .map(|a| Attempt {
                attempt: a.attempt,
                at: a.at,
                status_code: a.status_code,
                error: a.error,
            })
            .collect();
        let next_attempt_at = (d.status == "pending")
            .then_some(d.next_attempt_ms)
            .flatten()
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            .map(crate::clock::format_rfc3339);
        data.push(Delivery {
            delivery_id: d.id,
            event_type: d.event_type,
            url: d.url,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            next_attempt_at,
            log,
        });
    }
    Ok(Json(DeliveryList { data }))
}

/// Deliver a callback again now (its retry schedule restarts).
#[utoipa::path(post, path = "/v1/calls/{id}/webhooks/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "Call id"), ("delivery_id" = String, Path, description = "Delivery id")),
    responses((status = 202, description = "Queued for delivery", body = DeliveryList),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn redeliver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    owned_call(&state, &caller, &id).await?;
    let now = state.service.clock().now_ms();
    if !state.service.store().redeliver(&id, &delivery_id, now).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "delivery_not_found",
            "no such delivery for this call (or its payload was purged)",
        ));
    }
    state.service.wake_outbox();
    let Json(list) = deliveries(State(state), Extension(caller), Path(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(list)).into_response())
}

/// Compile a prompt into a workflow (422 when it is too vague to act on).
#[utoipa::path(post, path = "/v1/workflows", tag = "workflows", request_body = CreateWorkflow,
    responses((status = 201, body = WorkflowObject), (status = 400, description = "Bad input (e.g. `invalid_model`)", body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "Prompt too vague", body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn create_workflow(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Result<Json<CreateWorkflow>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let (row, workflow) = state
        .service
        .create_workflow(&caller.0.id, &req.prompt, req.model.as_deref())
        .await?;
    let object = workflow_object(row.id, row.created_at, workflow);
    Ok((StatusCode::CREATED, Json(object)).into_response())
}

pub(super) fn workflow_object(id: String, created_at: String, w: Workflow) -> WorkflowObject {
    WorkflowObject {
        workflow_id: id,
        prompt: w.prompt,
        goal: w.goal,
        opening: w.opening,
        questions: w.steps.into_iter().map(|s| s.question).collect(),
        closing: w.closing,
        model: w.model.map(String::from),
        created_at,
    }
}

/// One workflow.
#[utoipa::path(get, path = "/v1/workflows/{id}", tag = "workflows",
    params(("id" = String, Path, description = "Workflow id")),
    responses((status = 200, body = WorkflowObject), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn get_workflow(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WorkflowObject>, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "workflow_not_found", "no such workflow");
    let row = state.service.store().workflow(&id).await?.ok_or_else(not_found)?;
    if row.api_key_id.as_deref().is_some_and(|k| k != caller.0.id) {
        return Err(not_found());
    }
    let workflow: Workflow = serde_json::from_str(&row.definition).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(workflow_object(row.id, row.created_at, workflow)))
}
