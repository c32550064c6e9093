//! Console sign-in, sessions and CSRF protection.
//!
//! Signing in exchanges an API key for a session: a random 256-bit id in a cookie that is
//! `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it), `Path=/`,
//! and `Secure` when the server is reached over https (its public URL says so). The id's SHA-256,
//! the key it stands for, a CSRF token and an expiry are stored server-side (`console_sessions`),
//! so signing out, the key's revocation and the expiry end the session at once on every node.
//!
//! Writes (sign-out, hang-up, redelivery, minting a recording URL) carry the session's CSRF token
//! (`X-CSRF-Token` header, or a `csrf_token` form field for sign-out) and must not come from
//! another origin (`Origin`, `Sec-Fetch-Site`): SameSite already keeps the cookie off cross-site
//! requests in current browsers; the token and the origin check hold where it does not. Sign-in
//! has no session yet, so it is guarded by the origin check alone (no login CSRF).

use super::pages;
use crate::http::error::ApiError;
use crate::http::{AppState, Caller};
use crate::keys;
use crate::store::{SessionRow, StoreError};
use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "ringback_session";

/// How long a session lasts from sign-in (a working day; signing in again is one paste).
pub const SESSION_SECS: i64 = 12 * 3600;

/// The header that carries the CSRF token on console API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in session of a console request.
#[derive(Debug, Clone)]
pub struct Session(pub SessionRow);

/// Why a console request was refused before reaching its handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No cookie, or one whose session is unknown, expired, or whose key is revoked.
    #[error("sign in at /console/sign-in")]
    SignedOut,
    /// A write without the session's CSRF token.
    #[error("this request lacks the session's CSRF token")]
    Csrf,
    /// A write from another origin.
    #[error("cross-origin requests are refused")]
    CrossOrigin,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::SignedOut => Self::new(StatusCode::UNAUTHORIZED, "session_required", message),
            SessionError::Csrf => Self::new(StatusCode::FORBIDDEN, "csrf_failed", message),
            SessionError::CrossOrigin => Self::new(StatusCode::FORBIDDEN, "cross_origin", message),
            SessionError::Store(e) => Self::internal(&e),
            #[allow(unreachable_patterns)] // the enum is non_exhaustive for other crates only
            _ => Self::internal(&message),
        }
    }
}

/// The session cookie's value, if the request has one.
fn presented_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The live session the request's cookie names, with its key; `Ok(None)` when there is none.
async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, Caller)>, SessionError> {
    let Some(id) = presented_session(headers) else {
        return Ok(None);
    };
    let now = state.service.clock().now_ms();
    Ok(state
        .service
        .store()
        .live_session(&hash(&id), now)
        .await?
        .map(|(session, key)| (Session(session), Caller(key))))
}

/// Console pages: a request without a live session is sent to the sign-in page (saying the
/// session ended when a stale cookie came along, and clearing it).
pub(super) async fn page_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match session_of(&state, request.headers()).await {
        Ok(Some((session, caller))) => {
            request.extensions_mut().insert(session);
            request.extensions_mut().insert(caller);
            no_store(next.run(request).await)
        }
        Ok(None) => {
            let stale = presented_session(request.headers()).is_some();
            let target = if stale {
                "/console/sign-in?ended=1"
            } else {
                "/console/sign-in"
            };
            let mut response = Redirect::to(target).into_response();
            if stale {
                set_cookie(&mut response, &clearing_cookie(&state));
            }
            response
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The console's JSON routes: 401 without a live session (the script then goes to sign-in).
pub(super) async fn api_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match session_of(&state, request.headers()).await {
        Ok(Some((session, caller))) => {
            request.extensions_mut().insert(session);
            request.extensions_mut().insert(caller);
            no_store(next.run(request).await)
        }
        Ok(None) => ApiError::from(SessionError::SignedOut).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// Console writes: same origin, and the session's CSRF token in `X-CSRF-Token`.
pub(super) async fn csrf(request: Request, next: Next) -> Response {
    let checked = match request.extensions().get::<Session>() {
        Some(session) => check_write(
            request.headers(),
            &session.0,
            request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()),
        ),
        None => Err(SessionError::SignedOut),
    };
    match checked {
        Ok(()) => next.run(request).await,
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// A write is let through when it comes from this origin with the session's token.
fn check_write(headers: &HeaderMap, session: &SessionRow, token: Option<&str>) -> Result<(), SessionError> {
    if !same_origin(headers) {
        return Err(SessionError::CrossOrigin);
    }
    match token {
        Some(token) if constant_time_eq(token.as_bytes(), session.csrf_token.as_bytes()) => Ok(()),
        _ => Err(SessionError::Csrf),
    }
}

/// Whether a browser says the request comes from this origin (a request that says nothing, such
/// as one from curl, passes: the CSRF token is the check that always applies).
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // `same-site` is a sibling host, which SameSite cookies do reach: refused too.
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match (get(header::ORIGIN), get(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether cookies must be `Secure`: the server is reached over https (directly, or behind a
/// proxy that terminates TLS, as `[server] public_url` says).
fn secure(state: &AppState) -> bool {
    state.service.public_url().starts_with("https://")
}

fn session_cookie(state: &AppState, id: String) -> String {
    Cookie::build((COOKIE, id))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure(state))
        .max_age(cookie::time::Duration::seconds(SESSION_SECS))
        .build()
        .to_string()
}

fn clearing_cookie(state: &AppState) -> String {
    Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure(state))
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Pages and answers that depend on the session are never cached.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(super) struct SignIn {
    api_key: String,
}

/// `POST /console/sign-in`: a valid key opens a session and goes to the call list; anything else
/// shows the form again with the reason.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return pages::sign_in_page(
            StatusCode::FORBIDDEN,
            Some("Sign-in from another site is refused."),
        );
    }
    let Ok(Form(form)) = form else {
        return pages::sign_in_page(StatusCode::BAD_REQUEST, Some("Paste an API key to sign in."));
    };
    let store = state.service.store();
    let key = match keys::authenticate(store, form.api_key.trim()).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            return pages::sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some("That API key is not valid: it is wrong, or it was revoked."),
            );
        }
        Err(err) => return ApiError::internal(&err).into_response(),
    };
    let id = B64URL.encode(rand::random::<[u8; 32]>());
    let now = state.service.clock().now_ms();
    let row = SessionRow {
        id_hash: hash(&id),
        api_key_id: key.id,
        csrf_token: B64URL.encode(rand::random::<[u8; 32]>()),
        created_ms: now,
        expires_ms: now + SESSION_SECS * 1000,
    };
    if let Err(err) = store.insert_session(&row, now).await {
        return ApiError::internal(&err).into_response();
    }
    let mut response = Redirect::to("/console/calls").into_response();
    set_cookie(&mut response, &session_cookie(&state, id));
    response
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub(super) struct SignOut {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /console/sign-out` (behind the page session): ends the session and clears the cookie.
pub(super) async fn sign_out(
    State(state): State<AppState>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    form: Result<Form<SignOut>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form.as_ref().ok().map(|f| f.csrf_token.as_str());
    if let Err(err) = check_write(&headers, &session.0, token) {
        return pages::error_page(StatusCode::FORBIDDEN, "Refused", &err.to_string());
    }
    if let Err(err) = state.service.store().delete_session(&session.0.id_hash).await {
        return ApiError::internal(&err).into_response();
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    set_cookie(&mut response, &clearing_cookie(&state));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_this_origin_may_write() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "console.example"),
            ("sec-fetch-site", "same-site"),
        ])));
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let map = headers(&[("cookie", "theme=dark; ringback_session=abc_DEF-1; x=y")]);
        assert_eq!(presented_session(&map).as_deref(), Some("abc_DEF-1"));
        assert_eq!(presented_session(&headers(&[("cookie", "theme=dark")])), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
