//! The HTTP API (axum): three faces over one store (native `v1`, prompt-to-call, fire-and-poll),
//! an MCP endpoint, operations endpoints and the OpenAPI document. `app(state)` builds the router,
//! so tests drive it with `tower::ServiceExt::oneshot`.
//!
//! The web console (`/console`, `console/`) is served here too, authenticated by a session cookie
//! instead of the key.
//!
//! Every authenticated route runs behind two layers: the API key (`Authorization: Bearer` or
//! `X-Api-Key`; one 401 whatever was wrong) and the per-key rate limit (`RateLimit-*` headers on
//! every answer, 429 with `Retry-After` past it).

mod campaigns;
mod compat;
pub mod console;
mod dnc;
mod error;
pub(crate) mod mcp;
mod openapi;
mod ops;
mod recordings;
pub mod signed;
pub mod trial;
mod v1;

pub use dnc::OnError;
pub use error::{ApiError, ErrorBody, ErrorDetail, RowError};
pub use openapi::ApiDoc;
pub use recordings::RecordingUrl;

use crate::audit::{self, Action, Actor, Entry};
use crate::keys;
use crate::limits::{RateLimits, RateVerdict};
use crate::service::CallService;
use crate::store::{ApiKeyRow, CallRow};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The call service.
    pub service: CallService,
    /// Per-key rate limits.
    pub limits: Arc<RateLimits>,
    /// Whether anonymous trial keys may be issued by `POST /call`.
    pub trial_keys: bool,
    /// How many trial keys a client may mint, and whose forwarded addresses are believed.
    pub trial: Arc<trial::TrialPolicy>,
    /// Trial keys minted today, per client.
    pub trial_mints: Arc<trial::TrialMints>,
    /// Signs recording URLs (its secret is read from the store on first use).
    pub signer: Arc<signed::LazySigner>,
}

impl AppState {
    /// State for a service with `requests_per_minute` per key.
    pub fn new(service: CallService, requests_per_minute: u32, trial_keys: bool) -> Self {
        Self {
            service,
            limits: Arc::new(RateLimits::per_minute(requests_per_minute)),
            trial_keys,
            trial: Arc::new(trial::TrialPolicy {
                enabled: trial_keys,
                keys_per_source_per_day: 3,
                trusted_proxies: Vec::new(),
            }),
            trial_mints: Arc::new(trial::TrialMints::default()),
            signer: Arc::new(signed::LazySigner::default()),
        }
    }

    /// The trial-key policy (`[server] trial_keys_per_source`, `trusted_proxies`).
    #[must_use]
    pub fn with_trial(mut self, policy: trial::TrialPolicy) -> Self {
        self.trial_keys = policy.enabled;
        self.trial = Arc::new(policy);
        self
    }
}

/// The authenticated key of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKeyRow);

/// The client's address as the audit log and the trial-key cap see it: the TCP peer, or behind a
/// trusted proxy the address it forwards (`None` when the router is driven without a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSource(pub Option<std::net::IpAddr>);

/// Builds the router.
pub fn app(state: AppState) -> Router {
    let authed = Router::new()
        .route("/v1/calls", post(v1::create_call).get(v1::list_calls))
        .route("/v1/calls/{id}", get(v1::get_call))
        .route("/v1/calls/{id}/hangup", post(v1::hangup))
        .route("/v1/calls/{id}/recording/url", post(recordings::mint_url))
        .route("/v1/calls/{id}/events", get(v1::events))
        .route("/v1/calls/{id}/webhooks", get(v1::deliveries))
        .route(
            "/v1/calls/{id}/webhooks/{delivery_id}/redeliver",
            post(v1::redeliver),
        )
        .route("/v1/campaigns", post(campaigns::create))
        .route("/v1/campaigns/{id}", get(campaigns::get))
        .route("/v1/campaigns/{id}/recipients", get(campaigns::recipients))
        .route("/v1/campaigns/{id}/pause", post(campaigns::pause))
        .route("/v1/campaigns/{id}/resume", post(campaigns::resume))
        .route("/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/v1/dnc", post(dnc::add).get(dnc::list))
        .route("/v1/dnc/import", post(dnc::import))
        .route("/v1/dnc/{number}", axum::routing::delete(dnc::remove))
        .route("/v1/workflows", post(v1::create_workflow))
        .route("/v1/workflows/{id}", get(v1::get_workflow))
        .route("/api/call-prompt", post(compat::call_prompt))
        .route("/api/call", post(compat::call_workflow))
        .route("/call/{id}", get(compat::poll_call))
        .route("/call/{id}/recording", get(compat::poll_recording))
        .route("/mcp", post(mcp::handle).get(mcp::no_stream))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    // `POST /call` may issue a trial key when the operator allows it, so it authenticates itself.
    let trial = Router::new()
        .route("/call", post(compat::poll_create))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), optional_key));
    // The recording may also be fetched without a key, through a signed URL.
    let recording = Router::new()
        .route("/v1/calls/{id}/recording", get(recordings::recording))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            recordings::key_or_signature,
        ));
    Router::new()
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(authed)
        .merge(recording)
        .merge(console::routes(&state))
        .merge(trial)
        .layer(middleware::from_fn_with_state(state.clone(), client_source))
        .with_state(state)
}

/// Finds the client's address once per request, for every handler that records or counts by it.
async fn client_source(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let source = trial::client_address(peer, request.headers(), &state.trial.trusted_proxies);
    request.extensions_mut().insert(ClientSource(source));
    next.run(request).await
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

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Option<ApiKeyRow>, ApiError> {
    match presented_key(headers) {
        None => Ok(None),
        Some(key) => match keys::authenticate(state.service.store(), key).await? {
            Some(row) => Ok(Some(row)),
            None => Err(ApiError::unauthorized()),
        },
    }
}

async fn require_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(Some(row)) => {
            request.extensions_mut().insert(Caller(row));
            next.run(request).await
        }
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(err) => err.into_response(),
    }
}

/// Authenticates when a key is presented; without one, only a trial-key request goes on.
async fn optional_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match authenticate(&state, request.headers()).await {
        Ok(Some(row)) => {
            request.extensions_mut().insert(Caller(row));
            next.run(request).await
        }
        Ok(None) if state.trial_keys => next.run(request).await,
        Ok(None) => ApiError::unauthorized().into_response(),
        Err(err) => err.into_response(),
    }
}

/// Counts the request against its key (anonymous trial requests share one bucket).
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let bucket = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.0.id.clone())
        .unwrap_or_else(|| "anonymous".to_owned());
    match state.limits.check(&bucket) {
        RateVerdict::Allowed {
            limit,
            remaining,
            reset_secs,
        } => {
            let mut response = next.run(request).await;
            set_rate_headers(response.headers_mut(), limit, remaining, reset_secs);
            response
        }
        RateVerdict::Limited {
            limit,
            retry_after_secs,
        } => {
            let mut response = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {limit} requests per minute; retry after {retry_after_secs} s"),
            )
            .retry_after(retry_after_secs)
            .into_response();
            set_rate_headers(response.headers_mut(), limit, 0, retry_after_secs);
            response
        }
    }
}

fn set_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    headers.insert("ratelimit-limit", HeaderValue::from(limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(reset));
    if let Ok(policy) = HeaderValue::from_str(&format!("{limit};w=60")) {
        headers.insert("ratelimit-policy", policy);
    }
}

/// A JSON body, or a 400 that says what is wrong with it.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        // A body past the 2 MB limit is 413, so a client knows to send less rather than fix it.
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than 2 MB",
            )
        } else {
            ApiError::bad_body(e.body_text())
        }
    })
}

/// The caller's call, or 404 (another key's calls do not exist for it).
async fn owned_call(state: &AppState, caller: &Caller, id: &str) -> Result<CallRow, ApiError> {
    match state.service.store().call(id).await? {
        Some(row) if row.api_key_id.as_deref() == Some(caller.0.id.as_str()) => Ok(row),
        _ => Err(ApiError::call_not_found()),
    }
}

/// The `Idempotency-Key` header, if any (a body field may also carry one).
fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Idempotency-Key must be printable ASCII",
            )
            .field("idempotency_key")
        }),
    }
}

/// Serves a call's recording with Range support, or a JSON 404. Each fetch is written to the audit
/// log first; when that write fails, nothing is served (no unrecorded listening).
async fn serve_recording(
    state: &AppState,
    caller: &Caller,
    row: &CallRow,
    request: Request,
) -> Result<Response, ApiError> {
    use tower::ServiceExt as _;
    let no_recording = || {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no_recording",
            "this call has no recording",
        )
    };
    let path = row.recording_path.as_deref().ok_or_else(no_recording)?;
    if !tokio::fs::try_exists(path).await.unwrap_or(false) {
        return Err(no_recording());
    }
    let source = request.extensions().get::<ClientSource>().and_then(|s| s.0);
    let range = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let signed = request.extensions().get::<recordings::SignedAccess>().is_some();
    let entry = Entry::new(Actor::Key(caller.0.id.clone()), Action::RecordingFetched)
        .subject(row.id.clone())
        .source(source)
        .detail(serde_json::json!({ "range": range, "signed_url": signed }));
    audit::record(state.service.store(), state.service.clock(), entry).await?;
    let wav: mime::Mime = "audio/wav".parse().unwrap_or(mime::APPLICATION_OCTET_STREAM);
    let service = tower_http::services::ServeFile::new_with_mime(path, &wav);
    let response = service
        .oneshot(request)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(response.map(axum::body::Body::new))
}
