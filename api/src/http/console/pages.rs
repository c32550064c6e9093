//! The console's pages and assets, embedded in the binary. Pages are fixed HTML with a few
//! placeholders (`{{csrf}}`, `{{message}}`, ...) filled with escaped text; everything a call holds
//! is rendered by `console.js` with `textContent`, never as markup.

use super::session::Session;
use crate::http::{AppState, Caller, owned_call};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

const SIGN_IN: &str = include_str!("assets/sign-in.html");
const CALLS: &str = include_str!("assets/calls.html");
const CALL: &str = include_str!("assets/call.html");
const WORKFLOWS: &str = include_str!("assets/workflows.html");
const ERROR: &str = include_str!("assets/error.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// Escapes text for HTML text and quoted attributes. Written here rather than taken from a crate:
/// it fills four placeholders in our own templates, and these five characters are the whole job.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A template with its placeholders filled (values escaped).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |page, (name, value)| {
        page.replace(&format!("{{{{{name}}}}}"), &escape(value))
    })
}

fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    // Scripts and styles from this origin only, nothing framed: the pages need nothing else.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; media-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in page, with a message when there is one to show.
pub(super) fn sign_in_page(status: StatusCode, message: Option<&str>) -> Response {
    let (class, text) = match message {
        Some(text) => ("error", text),
        None => ("hidden", ""),
    };
    page(
        status,
        fill(SIGN_IN, &[("message_class", class), ("message", text)]),
    )
}

/// A page that says what went wrong (404, 403).
pub(super) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, fill(ERROR, &[("title", title), ("message", message)]))
}

/// `?ended=1` when a session has just ended.
#[derive(Debug, Deserialize)]
pub(super) struct SignInQuery {
    ended: Option<String>,
}

/// `GET /console/sign-in`.
pub(super) async fn sign_in(Query(q): Query<SignInQuery>) -> Response {
    let message = q
        .ended
        .is_some()
        .then_some("Your session has ended. Sign in again.");
    sign_in_page(StatusCode::OK, message)
}

/// `GET /console`.
pub(super) async fn home() -> Redirect {
    Redirect::to("/console/calls")
}

/// How the header names the signed-in key: its name, or its prefix when it has none.
fn key_label(caller: &Caller) -> String {
    caller.0.name.clone().unwrap_or(caller.0.prefix.clone())
}

/// A page whose data the script loads: only the header's placeholders are filled here.
fn listing(template: &str, session: &Session, caller: &Caller) -> Response {
    page(
        StatusCode::OK,
        fill(
            template,
            &[("csrf", &session.0.csrf_token), ("key", &key_label(caller))],
        ),
    )
}

/// `GET /console/calls`: the call list.
pub(super) async fn calls(
    Extension(session): Extension<Session>,
    Extension(caller): Extension<Caller>,
) -> Response {
    listing(CALLS, &session, &caller)
}

/// `GET /console/workflows`: the key's compiled workflows.
pub(super) async fn workflows(
    Extension(session): Extension<Session>,
    Extension(caller): Extension<Caller>,
) -> Response {
    listing(WORKFLOWS, &session, &caller)
}

/// `GET /console/calls/{id}`: one call, or a 404 page when it is not this key's.
pub(super) async fn call(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match owned_call(&state, &caller, &id).await {
        Ok(row) => {
            let key = key_label(&caller);
            page(
                StatusCode::OK,
                fill(
                    CALL,
                    &[
                        ("csrf", &session.0.csrf_token),
                        ("key", &key),
                        ("call_id", &row.id),
                    ],
                ),
            )
        }
        Err(err) if err.status() == StatusCode::NOT_FOUND => not_found(),
        Err(err) => err.into_response(),
    }
}

/// The 404 page.
pub(super) fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "No such call",
        "There is no call with this id for the key you signed in with.",
    )
}

/// `GET /console/assets/console.js`.
pub(super) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /console/assets/console.css`.
pub(super) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_with_escaped_text() {
        let filled = fill(
            "<p class=\"{{class}}\">{{message}}</p>",
            &[
                ("class", "error"),
                ("message", "<script>alert('x')</script> & \""),
            ],
        );
        assert_eq!(
            filled,
            "<p class=\"error\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;</p>"
        );
    }
}
