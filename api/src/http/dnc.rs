//! `/v1/dnc`: the do-not-call lists over HTTP. A key keeps its own list (`scope=key`, the default)
//! and may read and add to the installation's (`scope=installation`) unless it is a trial key; it
//! takes off the installation's list only the numbers it put there itself.
//! Numbers are parsed as calls' `to` is (`E164::parse`), so a number listed as `(555) 123-4567`
//! style text with its `+1` is the same entry a call to it looks up. Removing a number is written
//! to the audit log: it is the one change here that widens what may be dialled.

use super::{AppState, Caller, ClientSource, body};
use crate::audit::{self, Action, Actor, Entry};
use crate::http::error::{ApiError, ErrorBody, RowError};
use crate::policy::DncScope;
use crate::store::{DNC_INSTALLATION, DncRow};
use crate::upload;
use agent_runtime::phone::E164;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The most rows one import may carry.
const MAX_IMPORT_ROWS: usize = 100_000;

/// `POST /v1/dnc` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNumber {
    /// The number, E.164.
    #[schema(example = "+15551234567")]
    pub number: String,
    /// Which list: this key's (default) or the installation's.
    #[serde(default)]
    pub scope: Option<DncScope>,
}

/// A listed number.
#[derive(Debug, Serialize, ToSchema)]
pub struct DncEntry {
    /// E.164.
    pub number: String,
    /// Which list.
    pub scope: DncScope,
    /// `api`, `import` or `callee_request` (the callee asked on a call).
    pub source: String,
    /// The call on which the callee asked, for `callee_request`.
    pub call_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DncList {
    /// Numbers in order.
    pub data: Vec<DncEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Which list, for `GET`, `DELETE` and imports.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// This key's list (default) or the installation's.
    #[param(inline, value_type = Option<String>)]
    pub scope: Option<DncScope>,
    /// Page size, 1 to 1000 (default 100); `GET` only.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page; `GET` only.
    pub cursor: Option<String>,
    /// Imports only: `refuse` (default) stores nothing when any row is bad, `skip` stores the
    /// good rows and reports the bad ones.
    #[param(inline, value_type = Option<String>)]
    pub on_error: Option<OnError>,
}

/// What an import does with bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Nothing is stored when any row is bad (the answer names them).
    #[default]
    Refuse,
    /// The good rows are stored; the bad ones are named in the answer.
    Skip,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// Numbers newly listed.
    pub added: u64,
    /// Numbers that were listed already.
    pub already_listed: u64,
    /// Rows left out (with `on_error=skip`), by line.
    pub rejected: Vec<RowError>,
}

/// The store's scope for a list: the key's id or the installation's word. Trial keys (minted for
/// anonymous users) may not touch the installation's list.
fn scope_of(caller: &Caller, scope: Option<DncScope>) -> Result<(DncScope, String), ApiError> {
    match scope.unwrap_or(DncScope::Key) {
        DncScope::Key => Ok((DncScope::Key, caller.0.id.clone())),
        DncScope::Installation if caller.0.trial_source.is_some() => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_scope",
            "a trial key may not change the installation's do-not-call list",
        )
        .field("scope")),
        DncScope::Installation => Ok((DncScope::Installation, DNC_INSTALLATION.to_owned())),
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))
}

fn entry(scope: DncScope, row: DncRow) -> DncEntry {
    DncEntry {
        number: row.number,
        scope,
        source: row.source,
        call_id: row.call_id,
        created_at: row.created_at,
    }
}

fn parse_number(text: &str) -> Result<E164, ApiError> {
    E164::parse(text).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_number", format!("number: {e}")).field("number")
    })
}

/// List a number as not to be called.
#[utoipa::path(post, path = "/v1/dnc", tag = "do-not-call", request_body = AddNumber,
    responses(
        (status = 201, description = "Listed", body = DncEntry),
        (status = 200, description = "It was listed already (the first entry is kept)", body = DncEntry),
        (status = 400, description = "Not a number (`invalid_number`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A trial key and the installation's list", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Result<Json<AddNumber>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body(req)?;
    let (scope, stored_scope) = scope_of(&caller, req.scope)?;
    let number = parse_number(&req.number)?;
    let clock = state.service.clock();
    let row = DncRow {
        scope: stored_scope.clone(),
        number: number.as_str().to_owned(),
        source: "api".to_owned(),
        call_id: None,
        created_at: clock.now_rfc3339(),
        created_ms: clock.now_ms(),
        added_by: Some(caller.0.id.clone()),
    };
    let store = state.service.store();
    let added = store.dnc_add(&row).await?;
    // The stored entry: the first one when the number was listed already.
    let row = store
        .dnc_entry(&stored_scope, number.as_str())
        .await?
        .unwrap_or(row);
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry(scope, row))).into_response())
}

/// Take a number off a list.
#[utoipa::path(delete, path = "/v1/dnc/{number}", tag = "do-not-call",
    params(("number" = String, Path, description = "E.164"), ScopeQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "Not on that list", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientSource(source)): Extension<ClientSource>,
    Path(number): Path<String>,
    q: Result<Query<ScopeQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    let q = query(q)?;
    let (scope, stored_scope) = scope_of(&caller, q.scope)?;
    let number = parse_number(&number)?;
    let store = state.service.store();
    // The installation's list protects every key's calls: a key takes off only what it listed.
    if scope == DncScope::Installation
        && let Some(listed) = store.dnc_entry(&stored_scope, number.as_str()).await?
        && listed.added_by.as_deref() != Some(caller.0.id.as_str())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_scope",
            format!(
                "{number} was put on the installation's do-not-call list by {}; only the key that listed it may take it off",
                if listed.source == "callee_request" { "the callee's own request" } else { "another key" }
            ),
        )
        .field("scope"));
    }
    if !store.dnc_remove(&stored_scope, number.as_str()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{number} is not on the {} do-not-call list", scope.as_str()),
        ));
    }
    let entry = Entry::new(Actor::Key(caller.0.id.clone()), Action::DncRemoved)
        .subject(number.to_string())
        .source(source)
        .detail(serde_json::json!({ "list": scope.as_str() }));
    audit::record_or_log(store, state.service.clock(), entry).await;
    Ok(StatusCode::NO_CONTENT)
}

/// One list, in number order.
#[utoipa::path(get, path = "/v1/dnc", tag = "do-not-call", params(ScopeQuery),
    responses(
        (status = 200, body = DncList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ScopeQuery>, QueryRejection>,
) -> Result<Json<DncList>, ApiError> {
    let q = query(q)?;
    let (scope, stored_scope) = scope_of(&caller, q.scope)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .service
        .store()
        .dnc_list(
            &stored_scope,
            q.cursor.as_deref().unwrap_or(""),
            i64::from(limit) + 1,
        )
        .await?;
    let more = rows.len() > limit as usize;
    let data: Vec<DncEntry> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| entry(scope, r))
        .collect();
    let next_cursor = more.then(|| data.last().map(|e| e.number.clone())).flatten();
    Ok(Json(DncList { data, next_cursor }))
}

/// Import numbers from CSV: a header line with a `number` column (or `phone`, or `to`; the first
/// column when none is named so), then one number per line.
#[utoipa::path(post, path = "/v1/dnc/import", tag = "do-not-call", params(ScopeQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "Imported (with `on_error=skip`, bad rows are listed in `rejected`)", body = ImportResult),
        (status = 400, description = "Unreadable CSV", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "Bad rows, named by line (`invalid_rows`); nothing was stored", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: Result<Query<ScopeQuery>, QueryRejection>,
    text: String,
) -> Result<Json<ImportResult>, ApiError> {
    let q = query(q)?;
    let (_, stored_scope) = scope_of(&caller, q.scope)?;
    let mut table = upload::read(&text, MAX_IMPORT_ROWS)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_csv", e.to_string()))?;
    let named = ["number", "phone", "to"]
        .iter()
        .find_map(|name| table.column(name));
    // A bare list of numbers has no header: its first line is a number to list, not a name.
    if named.is_none() && table.columns.first().is_some_and(|c| E164::parse(c).is_ok()) {
        let first = upload::Row {
            line: 1,
            fields: table.columns.clone(),
        };
        table.rows.insert(0, first);
    }
    let column = named.unwrap_or(0);
    let clock = state.service.clock();
    let (created_at, created_ms) = (clock.now_rfc3339(), clock.now_ms());
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for row in &table.rows {
        match row.fields.get(column).map(|f| E164::parse(f)) {
            Some(Ok(number)) => good.push(DncRow {
                scope: stored_scope.clone(),
                number: number.as_str().to_owned(),
                source: "import".to_owned(),
                call_id: None,
                created_at: created_at.clone(),
                created_ms,
                added_by: Some(caller.0.id.clone()),
            }),
            Some(Err(e)) => bad.push(RowError {
                row: row.line,
                error: e.to_string(),
            }),
            None => bad.push(RowError {
                row: row.line,
                error: "no number in this row".to_owned(),
            }),
        }
    }
    if !bad.is_empty() && q.on_error.unwrap_or_default() == OnError::Refuse {
        let lines: Vec<String> = bad.iter().take(10).map(|r| r.row.to_string()).collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            format!(
                "{} bad row(s) (lines {}{}); nothing was imported; send on_error=skip to import the rest",
                bad.len(),
                lines.join(", "),
                if bad.len() > 10 { ", ..." } else { "" }
            ),
        )
        .rows(bad));
    }
    good.sort_by(|a, b| a.number.cmp(&b.number));
    good.dedup_by(|a, b| a.number == b.number);
    let added = state.service.store().dnc_add_all(&good).await?;
    Ok(Json(ImportResult {
        added,
        already_listed: good.len() as u64 - added,
        rejected: bad,
    }))
}
