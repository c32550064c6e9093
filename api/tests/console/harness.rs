//! What the console tests share: a server on a clock they move, its router, requests with a key or
//! a session cookie, and a signed-in session.

use crate::common::{config, dead_port};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use ringback::clock::FixedClock;
use ringback::http::{AppState, app};
use ringback::server::Server;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// 2026-04-07T14:30:00Z.
pub const T0_MS: i64 = 1_775_572_200_000;

/// The host the router is addressed as (the Origin check compares against it).
pub const HOST: &str = "127.0.0.1:8080";

/// A server, its router, and the clock it reads.
pub struct Rig {
    pub data: tempfile::TempDir,
    pub server: Server,
    pub router: Router,
    pub clock: Arc<FixedClock>,
}

impl Rig {
    /// Starts a server at `T0_MS` with the config edited by `edit`.
    pub async fn start(edit: impl FnOnce(&mut ringback::config::Config)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        Self::start_in(data, edit).await
    }

    /// Starts a server on an existing data directory (a restart).
    pub async fn start_in(data: tempfile::TempDir, edit: impl FnOnce(&mut ringback::config::Config)) -> Self {
        let mut config = config(data.path(), dead_port());
        config.limits.requests_per_minute = 10_000;
        edit(&mut config);
        let clock = Arc::new(FixedClock::at_ms(T0_MS));
        let server = Server::start_with_clock(config, clock.clone())
            .await
            .expect("server starts");
        let router = app(AppState::new(server.service.clone(), 10_000, false));
        Self {
            data,
            server,
            router,
            clock,
        }
    }

    /// A new key.
    pub async fn key(&self) -> String {
        crate::common::key(&self.server).await
    }

    /// A request.
    pub fn request(&self, method: &str, uri: &str) -> Req<'_> {
        Req {
            rig: self,
            builder: Request::builder().method(method).uri(uri).header("host", HOST),
            body: Body::empty(),
        }
    }
}

/// A request being built.
pub struct Req<'a> {
    rig: &'a Rig,
    builder: axum::http::request::Builder,
    body: Body,
}

impl Req<'_> {
    pub fn key(mut self, key: &str) -> Self {
        self.builder = self.builder.header("authorization", format!("Bearer {key}"));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn session(self, session: &Session) -> Self {
        self.header(
            "cookie",
            &format!("{}={}", ringback::http::console::COOKIE, session.cookie),
        )
    }

    pub fn body(mut self, body: String) -> Self {
        self.body = Body::from(body);
        self
    }

    pub fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.builder = self
            .builder
            .header("content-type", "application/x-www-form-urlencoded");
        self.body = Body::from(body);
        self
    }

    pub async fn send(self) -> Answer {
        let request = self.builder.body(self.body).expect("request");
        let response = self.rig.router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Every `Set-Cookie`.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A signed-in console session.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Signs in through the form and reads the CSRF token off the call list page.
pub async fn sign_in(rig: &Rig, key: &str) -> Session {
    let answer = rig
        .request("POST", "/console/sign-in")
        .header("origin", &format!("http://{HOST}"))
        .form(&[("api_key", key)])
        .send()
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.header("location"), "/console/calls");
    let set = answer.set_cookies();
    let cookie = set
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{}=", ringback::http::console::COOKIE)))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let mut session = Session {
        cookie,
        csrf: String::new(),
    };
    let page = rig
        .request("GET", "/console/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    session.csrf = csrf_of(&page.text);
    session
}

/// The CSRF token a page carries.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("a csrf meta tag") + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end].to_owned()
}
