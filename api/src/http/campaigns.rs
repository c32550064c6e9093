//! `/v1/campaigns`: create (JSON recipients or CSV text, idempotent), read with progress, pause,
//! resume, cancel, and the recipients with their call ids. The rules live in `campaign/`; this
//! file maps requests and errors.

use super::{AppState, Caller, body, idempotency_header};
use crate::campaign::create::{self, CampaignError, CreateCampaign};
use crate::campaign::{CampaignState, Settings};
use crate::http::error::{ApiError, ErrorBody, RowError};
use crate::store::{CampaignRow, RecipientRow};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A campaign with its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    /// `cmp_...`.
    pub campaign_id: String,
    /// Its label.
    pub name: Option<String>,
    /// `running | paused | canceled | finished`.
    pub state: CampaignState,
    /// Recipients by where they are.
    pub progress: Progress,
    /// The settings in effect (defaults filled in).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once no recipient is waiting or being called.
    pub finished_at: Option<String>,
    /// Recipients left out at creation (with `on_error=skip`); only in the creation answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RowError>,
}

/// Recipients by where they are.
#[derive(Debug, Serialize, ToSchema, Default)]
pub struct Progress {
    /// All recipients.
    pub total: usize,
    /// Waiting for their first or next call (their window, a retry delay, a free slot).
    pub queued: usize,
    /// A call is in progress.
    pub in_progress: usize,
    /// Done, by result: call outcomes (`completed`, `busy`, ...), or `do_not_call`,
    /// `destination_not_allowed`, `expired`, `canceled`, `refused` when no (further) call was made.
    pub done: BTreeMap<String, usize>,
}

/// One recipient.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientObject {
    /// Its place in the campaign, from 1 (in request order, bad rows left out).
    pub position: i64,
    /// E.164.
    pub to: String,
    /// Its variables.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Its IANA zone, if it named one.
    pub time_zone: Option<String>,
    /// `waiting | calling | done`.
    pub state: String,
    /// Calls made (one a pause took out of the queue undialled does not count).
    pub attempts: i64,
    /// Every call made for it, oldest first.
    pub call_ids: Vec<String>,
    /// The result once done.
    pub result: Option<String>,
    /// When it may be called next, RFC 3339 (waiting, after a retry delay).
    pub next_call_after: Option<String>,
}

/// The recipients of a campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientList {
    /// In position order.
    pub data: Vec<RecipientObject>,
}

impl From<CampaignError> for ApiError {
    fn from(err: CampaignError) -> Self {
        let message = err.to_string();
        let bad = |code, field| Self::new(StatusCode::BAD_REQUEST, code, message.clone()).field(field);
        match err {
            CampaignError::Script => bad("invalid_body", "prompt"),
            CampaignError::NoRecipients | CampaignError::TooManyRecipients => {
                bad("invalid_recipients", "recipients")
            }
            CampaignError::Csv(_) | CampaignError::CsvNoNumberColumn => bad("invalid_csv", "recipients_csv"),
            CampaignError::BadRows(rows) | CampaignError::AllRowsBad(rows) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rows", message).rows(rows)
            }
            CampaignError::Window(_) => bad("invalid_window", "window"),
            CampaignError::Retry(_) => bad("invalid_retry", "retry"),
            CampaignError::TimeZone(_) => bad("invalid_time_zone", "time_zone"),
            CampaignError::Time(field) => bad("invalid_time", field),
            CampaignError::EndsBeforeStart => bad("invalid_time", "ends_at"),
            CampaignError::Concurrency => bad("invalid_concurrency", "concurrency"),
            CampaignError::Call(e) => e.into(),
            CampaignError::IdempotencyReused(_) => {
                Self::new(StatusCode::CONFLICT, "idempotency_key_reused", message).field("idempotency_key")
            }
            CampaignError::Store(e) => Self::internal(&e),
            #[allow(unreachable_patterns)] // non_exhaustive for other crates only
            _ => Self::internal(&message),
        }
    }
}

fn progress(rows: &[RecipientRow]) -> Progress {
    let mut p = Progress {
        total: rows.len(),
        ..Progress::default()
    };
    for r in rows {
        match r.state.as_str() {
            "waiting" => p.queued += 1,
            "calling" => p.in_progress += 1,
            _ => *p.done.entry(r.result.clone().unwrap_or_default()).or_default() += 1,
        }
    }
    p
}

fn object(row: &CampaignRow, rows: &[RecipientRow], rejected: Vec<RowError>) -> Campaign {
    let settings = serde_json::from_str::<Settings>(&row.settings)
        .ok()
        .map(|s| {
            let at = |ms: Option<i64>| {
                ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                    .map(|t| t.to_string())
            };
            let (prompt, workflow_id) = match &s.script {
                crate::campaign::Script::Prompt(p) => (Some(p.clone()), None),
                crate::campaign::Script::Workflow(w) => (None, Some(w.clone())),
            };
            serde_json::json!({
                "prompt": prompt,
                "workflow_id": workflow_id,
                "callback_url": s.callback_url,
                "concurrency": s.concurrency,
                "starts_at": at(s.starts_ms),
                "ends_at": at(s.ends_ms),
                "time_zone": s.time_zone,
                "window": s.window,
                "retry": s.retry,
                "trunk": s.trunk,
            })
        })
        .unwrap_or(Value::Null);
    Campaign {
        campaign_id: row.id.clone(),
        name: row.name.clone(),
        state: CampaignState::parse(&row.state).unwrap_or(CampaignState::Running),
        progress: progress(rows),
        settings,
        created_at: row.created_at.clone(),
        finished_at: row.finished_at.clone(),
        rejected,
    }
}

/// The caller's campaign, or 404.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<CampaignRow, ApiError> {
    match state.service.store().campaign(id).await? {
        Some(row) if row.api_key_id == caller.0.id => Ok(row),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such campaign",
        )),
    }
}

/// Start a campaign.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CreateCampaign,
    params(("Idempotency-Key" = Option<String>, Header, description = "Returns the original campaign for a repeated request")),
    responses(
        (status = 201, description = "Created; calls start within its window", body = Campaign),
        (status = 200, description = "An earlier campaign with this idempotency key", body = Campaign),
        (status = 400, description = "Bad settings (`invalid_time_zone`, `invalid_window`, `invalid_retry`, ...)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
        (status = 409, description = "Idempotency key reused with a different request", body = ErrorBody),
        (status = 422, description = "Bad recipients named by row (`invalid_rows`), or a vague prompt; nothing was created", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    req: Result<Json<CreateCampaign>, JsonRejection>,
) -> Result<Response, ApiError> {
    let mut req = body(req)?;
    if let Some(key) = idempotency_header(&headers)? {
        req.idempotency_key = Some(key);
    }
    if req
        .idempotency_key
        .as_deref()
        .is_some_and(|k| k.is_empty() || k.len() > 255 || k.chars().any(char::is_control))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "idempotency key must be 1 to 255 printable characters",
        )
        .field("idempotency_key"));
    }
    let created = create::create(&state.service, &caller.0.id, req).await?;
    let rows = state.service.store().recipients(&created.row.id).await?;
    let body = Json(object(&created.row, &rows, created.rejected));
    Ok(super::v1::created_response(created.replayed, body))
}

/// A campaign and its progress.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, ApiError> {
    let row = owned(&state, &caller, &id).await?;
    let rows = state.service.store().recipients(&row.id).await?;
    Ok(Json(object(&row, &rows, Vec::new())))
}

/// A campaign's recipients with their call ids.
#[utoipa::path(get, path = "/v1/campaigns/{id}/recipients", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = RecipientList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn recipients(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RecipientList>, ApiError> {
    let row = owned(&state, &caller, &id).await?;
    let rows = state.service.store().recipients(&row.id).await?;
    let data = rows
        .iter()
        .map(|r| RecipientObject {
            position: r.position,
            to: r.to_number.clone(),
            variables: serde_json::from_str(&r.variables).unwrap_or_default(),
            time_zone: r.time_zone.clone(),
            state: r.state.clone(),
            attempts: r.attempts,
            call_ids: r.call_id_list(),
            result: r.result.clone(),
            next_call_after: (r.state == "waiting" && r.not_before_ms > 0)
                .then(|| jiff::Timestamp::from_millisecond(r.not_before_ms).ok())
                .flatten()
                .map(|t| t.to_string()),
        })
        .collect();
    Ok(Json(RecipientList { data }))
}

async fn transition(
    state: &AppState,
    caller: &Caller,
    id: &str,
    from: &[&str],
    to: CampaignState,
) -> Result<Json<Campaign>, ApiError> {
    let row = owned(state, caller, id).await?;
    let store = state.service.store();
    let moved = store.set_campaign_state(&row.id, from, to.as_str()).await?;
    let row = store
        .campaign(&row.id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such campaign"))?;
    if !moved && row.state != to.as_str() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!("the campaign is {}", row.state),
        ));
    }
    let rows = store.recipients(&row.id).await?;
    Ok(Json(object(&row, &rows, Vec::new())))
}

/// Pause: no new calls; calls in progress finish.
#[utoipa::path(post, path = "/v1/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Finished or canceled", body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn pause(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, ApiError> {
    transition(&state, &caller, &id, &["running"], CampaignState::Paused).await
}

/// Resume a paused campaign.
#[utoipa::path(post, path = "/v1/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Finished or canceled", body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn resume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, ApiError> {
    transition(&state, &caller, &id, &["paused"], CampaignState::Running).await
}

/// Cancel: waiting recipients end as `canceled`; calls in progress finish.
#[utoipa::path(post, path = "/v1/campaigns/{id}/cancel", tag = "campaigns",
    params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "Finished", body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Campaign>, ApiError> {
    transition(
        &state,
        &caller,
        &id,
        &["running", "paused"],
        CampaignState::Canceled,
    )
    .await
}
