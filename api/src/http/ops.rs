//! Operations: `/livez` (liveness: the process answers), `/readyz` (readiness: the database
//! answers and every registering trunk is registered; `/healthz` is its older name), `/metrics`
//! (Prometheus text) and `/openapi.json`.
//!
//! Liveness and readiness are apart because orchestrators act on them differently: a failed
//! liveness probe restarts the process, a failed readiness probe only takes traffic away. A node
//! whose carrier is down is alive and should stay up (it recovers when the trunk registers again);
//! restarting it would only drop the calls it still holds.

use super::AppState;
use super::openapi::ApiDoc;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sip_stack::RegistrationStatus;
use utoipa::{OpenApi, ToSchema};

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Live {
    /// Always `ok`: an answer at all is the news.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when ready, else `unavailable`.
    pub status: String,
    /// `ok` or `error`.
    pub database: String,
    /// Each trunk.
    pub trunks: Vec<TrunkHealth>,
}

/// One trunk's readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrunkHealth {
    /// Name.
    pub name: String,
    /// `registered | pending | failed | unregistered | not_required`.
    pub registration: String,
    /// Whether calls can go out through it.
    pub ready: bool,
    /// Calls waiting.
    pub queued: usize,
    /// Calls in progress.
    pub active: usize,
    /// Concurrent-call limit.
    pub limit: usize,
}

/// Liveness: 200 while the process serves HTTP, whatever the database and trunks say (a probe
/// that restarts the process belongs here, not on `/readyz`).
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200, body = Live)))]
pub(super) async fn livez() -> Json<Live> {
    Json(Live {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// Readiness under its older name, kept for probes and scripts that use it: the same answer as
/// `/readyz`.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "Not ready", body = Health)))]
pub(super) async fn healthz(state: State<AppState>) -> Response {
    readyz(state).await
}

/// Readiness: 200 when the database answers and every registering trunk is registered, else 503.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "Not ready", body = Health)))]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let database = service.store().ping().await.is_ok();
    let load = service.trunk_load();
    let trunks: Vec<TrunkHealth> = service
        .trunk_status()
        .into_iter()
        .zip(load)
        .map(|((name, registers, status), (_, queued, active, limit))| {
            let (word, ready) = match (registers, &status) {
                (false, _) => ("not_required", true),
                (true, RegistrationStatus::Registered { .. }) => ("registered", true),
                (true, RegistrationStatus::Pending) => ("pending", false),
                (true, RegistrationStatus::Failed { .. }) => ("failed", false),
                (true, RegistrationStatus::Unregistered) => ("unregistered", false),
            };
            TrunkHealth {
                name,
                registration: word.to_owned(),
                ready,
                queued,
                active,
                limit,
            }
        })
        .collect();
    let ready = database && trunks.iter().all(|t| t.ready);
    let body = Health {
        status: if ready { "ok" } else { "unavailable" }.to_owned(),
        database: if database { "ok" } else { "error" }.to_owned(),
        trunks,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus/OpenMetrics text exposition",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let metrics = service.metrics();
    for (name, registers, status) in service.trunk_status() {
        let registered = !registers || matches!(status, RegistrationStatus::Registered { .. });
        metrics.set_registered(&name, registered);
    }
    match service.store().webhook_backlog().await {
        Ok(backlog) => metrics.set_backlog(backlog),
        Err(err) => tracing::error!(%err, "cannot count the webhook backlog"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
pub(super) async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
