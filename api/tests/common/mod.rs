//! Shared by the API test binaries: a server on loopback, keys, a webhook receiver that can refuse
//! deliveries and checks every signature, and small HTTP helpers.
#![allow(dead_code)] // each test binary uses a different part

pub mod serve;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use ringback::clock::SystemClock;
use ringback::config::{Config, TrunkSection};
use ringback::keys;
use ringback::server::Server;
use ringback::store::Finalized;
use ringback::webhook::SigningKey;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// A UDP port nothing listens on (a trunk that never answers).
pub fn dead_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

/// A config for tests: loopback everywhere, fast SIP timers, private callbacks allowed, speech
/// through an OpenAI-compatible endpoint that is never reached (calls here never get answered).
pub fn config(data: &Path, trunk: SocketAddr) -> Config {
    let mut config = Config::from_toml(
        "[providers.tts]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n\
         [providers.stt]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .expect("valid config");
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.t1_ms = 20;
    config.storage.data_dir = data.to_owned();
    config.webhooks.allow_private = true;
    config.webhooks.secret = Some(SECRET.to_owned());
    config.webhooks.retry_schedule = vec![
        Duration::from_millis(100).into(),
        Duration::from_millis(200).into(),
    ];
    config.webhooks.timeout_secs = 2;
    config.trunks = vec![trunk_section("test", trunk, None)];
    config
}

/// The signing secret the test configs use.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A trunk entry.
pub fn trunk_section(name: &str, proxy: SocketAddr, password: Option<&str>) -> TrunkSection {
    TrunkSection {
        name: name.to_owned(),
        proxy: proxy.into(),
        domain: "trunk.test".to_owned(),
        username: password.map(|_| "agent".to_owned()),
        auth_username: None,
        password: password.map(str::to_owned),
        register: Some(password.is_some()),
        register_expires: 300,
        max_concurrent_calls: None,
        ..TrunkSection::default()
    }
}

/// A new API key.
pub async fn key(server: &Server) -> String {
    keys::create(server.service.store(), &SystemClock, None, keys::Issuer::Operator)
        .await
        .expect("key")
        .secret
}

/// Sends a request with a key; answers (status, headers, JSON body or Null).
pub async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, format!("http://{}{path}", server.http_addr));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// Polls a call until it is finalized (bounded).
pub async fn finalized(server: &Server, key: &str, id: &str) -> Value {
    for _ in 0..300 {
        let (_, _, call) = send(
            server,
            reqwest::Method::GET,
            &format!("/v1/calls/{id}"),
            Some(key),
            None,
        )
        .await;
        if call["lifecycle"] == "finalized" {
            return call;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {id} was not finalized within 30 s");
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hook {
    /// `webhook-id`.
    pub id: String,
    /// The parsed body.
    pub body: Value,
    /// Whether the Standard Webhooks signature verified.
    pub signature_valid: bool,
    /// What the receiver answered.
    pub answered: u16,
}

/// A webhook receiver on loopback: refuses the first `fail_first` deliveries with 500, then takes
/// them; checks the signature of every one.
#[derive(Debug)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every delivery, in arrival order.
    pub hooks: mpsc::UnboundedReceiver<Hook>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver that refuses the first `fail_first` deliveries.
    pub async fn start(fail_first: usize) -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), fail_first).await
    }

    /// Starts one on a given address.
    pub async fn start_on(addr: SocketAddr, fail_first: usize) -> Self {
        let (tx, hooks) = mpsc::unbounded_channel();
        let seen = Arc::new(AtomicUsize::new(0));
        let key = SigningKey::parse(SECRET).expect("secret");
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                let seen = Arc::clone(&seen);
                let key = key.clone();
                async move {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let answered = if n < fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let id = get("webhook-id").unwrap_or_default();
                    let signature_valid = match (
                        get("webhook-timestamp").and_then(|t| t.parse().ok()),
                        get("webhook-signature"),
                    ) {
                        (Some(ts), Some(sig)) => key.verify(&id, ts, &body, &sig),
                        _ => false,
                    };
                    let _ = tx.send(Hook {
                        id,
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        signature_valid,
                        answered: answered.as_u16(),
                    });
                    answered
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, hooks, task }
    }

    /// The callback URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next delivery (bounded wait).
    pub async fn next(&mut self) -> Hook {
        tokio::time::timeout(Duration::from_secs(60), self.hooks.recv())
            .await
            .expect("a delivery within a minute")
            .expect("receiver open")
    }
}

/// A finished call to put straight into the store, as the call runner leaves one.
#[derive(Debug, Clone)]
pub struct StoredCall<'a> {
    /// `call_...`, alphanumeric (ids order the list: a later id is a newer call).
    pub id: &'a str,
    /// `outbound` or `inbound`.
    pub direction: &'a str,
    /// E.164.
    pub to: &'a str,
    /// E.164.
    pub from: Option<&'a str>,
    /// Outcome word.
    pub outcome: &'a str,
    /// JSON array of turns.
    pub transcript: &'a str,
    /// Summary.
    pub summary: Option<&'a str>,
    /// JSON object.
    pub form_fills: &'a str,
    /// JSON array of digits.
    pub dtmf: &'a str,
    /// The recording's file, if it has one.
    pub recording: Option<&'a Path>,
    /// Seconds from answer to hangup.
    pub talk_seconds: Option<f64>,
    /// RFC 3339, fixed form.
    pub created_at: &'a str,
}

impl Default for StoredCall<'_> {
    fn default() -> Self {
        Self {
            id: "call_0000stored",
            direction: "outbound",
            to: "+15551234567",
            from: Some("+15557650000"),
            outcome: "completed",
            transcript: "[]",
            summary: None,
            form_fills: "{}",
            dtmf: "[]",
            recording: None,
            talk_seconds: Some(12.5),
            created_at: "2026-01-01T00:00:00.000Z",
        }
    }
}

/// Stores a finished call of `key`'s (on a trunk no dispatcher serves, so nothing dials it).
pub async fn store_call(store: &ringback::store::Store, key: &str, call: &StoredCall<'_>) {
    store_queued_call(store, key, call).await;
    finish_call(store, call).await;
}

/// Stores a call of `key`'s that waits as `queued` on a trunk no dispatcher serves: it stays
/// live until it is hung up.
pub async fn store_queued_call(store: &ringback::store::Store, key: &str, call: &StoredCall<'_>) {
    let owner = keys::authenticate(store, key)
        .await
        .expect("store")
        .expect("an active key")
        .id;
    let workflow_id = format!("wf_{}", call.id.trim_start_matches("call_"));
    let row = ringback::store::CallRow {
        id: call.id.to_owned(),
        workflow_id: workflow_id.clone(),
        api_key_id: Some(owner.clone()),
        direction: call.direction.to_owned(),
        to_number: call.to.to_owned(),
        from_number: call.from.map(str::to_owned),
        trunk: "archive".into(),
        lifecycle: "queued".into(),
        transcript: "[]".into(),
        form_fills: "{}".into(),
        metadata: "{}".into(),
        created_at: call.created_at.to_owned(),
        face: "v1".into(),
        dtmf: "[]".into(),
        latency: "[]".into(),
        ..ringback::store::CallRow::default()
    };
    let workflow = ringback::store::WorkflowRow {
        id: workflow_id,
        prompt: "Ask if they can come on Tuesday.".into(),
        definition: "{}".into(),
        created_at: call.created_at.to_owned(),
        api_key_id: Some(owner),
    };
    store
        .insert_call(&row, Some(&workflow), None)
        .await
        .expect("insert");
}

/// Finalizes a stored call as `call` says.
pub async fn finish_call(store: &ringback::store::Store, call: &StoredCall<'_>) {
    let recording = call.recording.map(|p| p.to_str().expect("utf-8 path").to_owned());
    let ended = Finalized {
        outcome: call.outcome,
        sip_status: Some(200),
        sip_reason: Some("OK"),
        hangup_by: Some("agent"),
        summary: call.summary,
        transcript: Some(call.transcript),
        form_fills: Some(call.form_fills),
        talk_ms: call.talk_seconds.map(|s| (s * 1000.0).round() as i64),
        recording_path: recording.as_deref(),
        media: Some(
            r#"{"codec":"PCMU","loss_pct":0.0,"jitter_ms":1.5,"packets_received":600,"packets_sent":610}"#,
        ),
        dtmf: Some(call.dtmf),
        ended_at: call.created_at,
        ..Finalized::default()
    };
    store
        .finalize(call.id, &ended, false, |_| None)
        .await
        .expect("finalize")
        .expect("was live");
}

/// A small stereo WAV (8 kHz, two tones) of `seconds`.
pub fn wav(path: &std::path::Path, seconds: u32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    for n in 0..(8000 * seconds) {
        let t = n as f32 / 8000.0;
        let left = (t * 440.0 * std::f32::consts::TAU).sin() * 8000.0;
        let right = (t * 660.0 * std::f32::consts::TAU).sin() * 8000.0;
        writer.write_sample(left as i16).expect("sample");
        writer.write_sample(right as i16).expect("sample");
    }
    writer.finalize().expect("finalize wav");
}
