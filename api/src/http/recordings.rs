//! The native recording routes: `GET /v1/calls/{id}/recording` with an API key or a signed URL
//! (`signed.rs` says why and how), and `POST /v1/calls/{id}/recording/url` to mint such a URL.

use super::signed::{DEFAULT_LIFETIME_SECS, LIFETIME_SECS};
use super::{AppState, Caller, authenticate, owned_call, serve_recording};
use crate::http::error::{ApiError, ErrorBody};
use axum::Extension;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A request let in by a signed URL rather than by its key (the audit log says which).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignedAccess;

/// The query of a signed recording URL.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// With `sig` and without an API key: when the signed URL stops working, Unix seconds.
    pub expires: Option<String>,
    /// With `expires` and without an API key: the signature from
    /// `POST /v1/calls/{id}/recording/url`, hex.
    pub sig: Option<String>,
}

/// `POST /v1/calls/{id}/recording/url` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MintQuery {
    /// How long the URL works, seconds: 60 to 604800 (7 days); 3600 when absent.
    #[param(minimum = 60, maximum = 604_800)]
    pub expires_in: Option<u32>,
}

/// A signed recording URL.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordingUrl {
    /// Plays the recording without an API key until `expires_at` (while the call's key is active
    /// and the recording kept).
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Unix seconds (the URL's `expires`).
    pub expires: i64,
}

/// Lets `GET /v1/calls/{id}/recording` in with an API key (which decides when one is presented)
/// or, without one, with a valid signed URL: the call's own key then stands as the caller, so
/// ownership, the rate limit and the audit log work as for a keyed fetch.
pub(super) async fn key_or_signature(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SignedQuery>, QueryRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()).into_response();
        }
    };
    match authenticate(&state, request.headers()).await {
        Ok(Some(row)) => {
            request.extensions_mut().insert(Caller(row));
            next.run(request).await
        }
        Ok(None) if query.expires.is_none() && query.sig.is_none() => {
            ApiError::unauthorized().into_response()
        }
        Ok(None) => match signed_caller(&state, &id, &query).await {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                request.extensions_mut().insert(SignedAccess);
                next.run(request).await
            }
            Err(err) => err.into_response(),
        },
        Err(err) => err.into_response(),
    }
}

/// The key a valid signature for `id` stands for.
async fn signed_caller(state: &AppState, id: &str, query: &SignedQuery) -> Result<Caller, ApiError> {
    let store = state.service.store();
    let signer = state
        .signer
        .get(store)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = state.service.clock().now().unix_timestamp();
    signer.verify(id, query.expires.as_deref(), query.sig.as_deref(), now)?;
    let row = store.call(id).await?.ok_or_else(ApiError::call_not_found)?;
    let key = match row.api_key_id.as_deref() {
        Some(owner) => store.key(owner).await?,
        None => None,
    };
    match key {
        Some(key) if key.revoked_at.is_none() => Ok(Caller(key)),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "key_revoked",
            "the API key this link was made for is revoked",
        )),
    }
}

/// The call's stereo recording (WAV: left the callee, right the agent); supports `Range`. With
/// an API key, or without one through a signed URL (`expires` and `sig`, from
/// `POST /v1/calls/{id}/recording/url`).
#[utoipa::path(get, path = "/v1/calls/{id}/recording", tag = "calls",
    params(("id" = String, Path, description = "Call id"),
           ("Range" = Option<String>, Header, description = "bytes=START-END"),
           SignedQuery),
    responses(
        (status = 200, description = "The WAV file", content_type = "audio/wav", body = Vec<u8>),
        (status = 206, description = "Part of it", content_type = "audio/wav", body = Vec<u8>),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A signed URL that is expired (`signature_expired`), not this call's or tampered with (`invalid_signature`), or whose key is revoked (`key_revoked`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 416, description = "Range not satisfiable"), (status = 429, body = ErrorBody)),
    security((), ("bearer" = []), ("api_key" = [])))]
pub(super) async fn recording(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let row = owned_call(&state, &caller, &id).await?;
    serve_recording(&state, &caller, &row, request).await
}

/// Mint a signed URL for the call's recording, usable without an API key (a browser `<audio>`
/// element, a link in a CRM) until it expires.
#[utoipa::path(post, path = "/v1/calls/{id}/recording/url", tag = "calls",
    params(("id" = String, Path, description = "Call id"), MintQuery),
    responses(
        (status = 200, body = RecordingUrl),
        (status = 400, description = "`expires_in` out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such call, or it has no recording (`no_recording`)", body = ErrorBody),
        (status = 429, body = ErrorBody)),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn mint_url(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<MintQuery>, QueryRejection>,
) -> Result<Json<RecordingUrl>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let lifetime = q.expires_in.unwrap_or(DEFAULT_LIFETIME_SECS);
    if !LIFETIME_SECS.contains(&lifetime) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "expires_in must be between {} and {} seconds",
                LIFETIME_SECS.start(),
                LIFETIME_SECS.end()
            ),
        )
        .field("expires_in"));
    }
    let row = owned_call(&state, &caller, &id).await?;
    if row.recording_path.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_recording",
            "this call has no recording",
        ));
    }
    Ok(Json(sign_for(&state, &row.id, lifetime).await?))
}

/// A signed URL for a call's recording that works for `lifetime` seconds from now.
pub(crate) async fn sign_for(
    state: &AppState,
    call_id: &str,
    lifetime: u32,
) -> Result<RecordingUrl, ApiError> {
    let signer = state
        .signer
        .get(state.service.store())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = state.service.clock().now();
    let expires = now.unix_timestamp() + i64::from(lifetime);
    let sig = signer.sign(call_id, expires);
    let at = time::OffsetDateTime::from_unix_timestamp(expires).map_err(|e| ApiError::internal(&e))?;
    Ok(RecordingUrl {
        url: format!(
            "{}/v1/calls/{call_id}/recording?expires={expires}&sig={sig}",
            state.service.public_url()
        ),
        expires_at: crate::clock::format_rfc3339(at),
        expires,
    })
}
