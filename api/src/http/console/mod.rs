//! The web console at `/console`: sign in with an API key, list and filter that key's calls,
//! export them as CSV, open a call (transcript turn by turn, fields, summary, SIP and media facts,
//! the recording, the webhook deliveries), follow a running call live and hang it up, and read the
//! key's compiled workflows.
//!
//! Plain HTML, JavaScript and CSS embedded in the binary (`include_str!`), no framework and no
//! build step: the console must work on an air-gapped box (no CDN, nothing fetched), add nothing a
//! regulated operator has to audit beyond these few files, and build with `cargo` alone. Two
//! pages and a sign-in form do not need more. The pages are fixed shells; `console.js` reads the
//! same JSON as the API, because `/console/api/...` routes to the very `v1` handlers (same store
//! query, same ownership rule, same rate limit) with the session's key as the caller.
//!
//! A page never holds the API key: sign-in exchanges it for a session cookie (`session.rs`), and
//! the recording plays from a signed, expiring URL (`../signed.rs`).

mod export;
mod pages;
mod session;
mod workflows;

pub use session::{COOKIE, CSRF_HEADER, SESSION_SECS};

use super::{AppState, rate_limit, recordings, v1};
use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

/// The console's routes.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let open = Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/sign-in", get(pages::sign_in).post(session::sign_in))
        .route("/console/assets/console.js", get(pages::script))
        .route("/console/assets/console.css", get(pages::style));
    let pages = Router::new()
        .route("/console/calls", get(pages::calls))
        .route("/console/calls/{id}", get(pages::call))
        .route("/console/calls.csv", get(export::calls_csv))
        .route("/console/workflows", get(pages::workflows))
        .route("/console/sign-out", post(session::sign_out))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::page_session,
        ));
    let reads = Router::new()
        .route("/console/api/calls", get(v1::list_calls))
        .route("/console/api/calls/{id}", get(v1::get_call))
        .route("/console/api/calls/{id}/events", get(v1::events))
        .route("/console/api/calls/{id}/webhooks", get(v1::deliveries))
        .route("/console/api/workflows", get(workflows::list))
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::api_session,
        ));
    let writes = Router::new()
        .route("/console/api/calls/{id}/hangup", post(v1::hangup))
        .route(
            "/console/api/calls/{id}/recording/url",
            post(recordings::mint_url),
        )
        .route(
            "/console/api/calls/{id}/webhooks/{delivery_id}/redeliver",
            post(v1::redeliver),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .route_layer(middleware::from_fn(session::csrf))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::api_session,
        ));
    open.merge(pages).merge(reads).merge(writes)
}
