//! `ringback demo`: one real call end to end on loopback. It starts kamailio as the trunk and a
//! baresip phone that answers with recorded human speech, runs the server with on-box speech, places
//! a prompt-to-call through the HTTP API, and waits for the signed completion callback. The e2e test
//! runs the same code and then inspects what every party saw.

use crate::clock::SystemClock;
use crate::config::{Config, TrunkSection};
use crate::keys;
use crate::server::{Server, ServerError};
use crate::webhook::SigningKey;
use axum::body::Bytes;
use axum::http::HeaderMap;
use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, TestbedError, speech};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// Something the demo needs is not installed.
    #[error("{0} is missing: run deploy/setup first (it installs everything the demo needs)")]
    Missing(String),
    /// Starting or driving kamailio/baresip failed.
    #[error("testbed: {0}")]
    Testbed(#[from] TestbedError),
    /// The server failed to start.
    #[error("server: {0}")]
    Server(#[from] ServerError),
    /// The API refused the call.
    #[error("the API answered {status}: {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// An HTTP request failed.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// No callback arrived in time.
    #[error("no completion callback within {0:?}")]
    NoCallback(Duration),
    /// Local I/O.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The prompt.
    pub prompt: String,
    /// Who to call (a `+1555...` number rings the phone).
    pub to: String,
    /// What the phone says: (seconds of silence before, words).
    pub phone_lines: Vec<(f32, String)>,
    /// The phone's microphone as a WAV (8 kHz mono), in place of `phone_lines`: an answering
    /// machine's greeting and beep, say.
    pub phone_audio: Option<PathBuf>,
    /// Where the database, recordings and the phone's recordings go.
    pub data_dir: PathBuf,
    /// Longest wait for the callback.
    pub timeout: Duration,
    /// A language model for the agent; the deterministic engine when `None`.
    pub llm: Option<agent_runtime::llm::LlmConfig>,
    /// The call's `model` (the workflow's choice); the configured one when `None`.
    pub model: Option<String>,
    /// A human to hand the call to when the callee asks (`+1556...` rings the testbed's `bob`).
    pub bridge_number: Option<String>,
    /// How the trunk hands calls to the bridge number.
    pub transfer: agent_runtime::call::TransferMode,
    /// Inbound routes (`+1777...` numbers reach Ringback through the testbed's trunk); a route
    /// without a callback URL reports to the demo's receiver.
    pub inbound: Vec<crate::config::InboundRoute>,
    /// `[media] max_bridged_secs`, when not the default.
    pub max_bridged_secs: Option<u64>,
    /// `[server] trial_max_call_secs`, when not the default (a trial key's calls).
    pub trial_max_call_secs: Option<u32>,
    /// The trunk's `max_concurrent_calls`, when not the default (a bridge holds two).
    pub max_concurrent_calls: Option<usize>,
    /// `[media]` turn-taking settings, when not the defaults (the turn-taking benches compare them).
    pub turn_taking: Option<TurnTaking>,
}

/// `[media]` turn-taking keys for a demo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnTaking {
    /// `turn_model`.
    pub turn_model: crate::config::TurnModelChoice,
    /// `speculative_stt`.
    pub speculative_stt: bool,
    /// `turn_patience_ms`.
    pub turn_patience_ms: u32,
}

impl DemoOptions {
    /// The standard demo: a dental office confirms an appointment.
    pub fn standard(data_dir: PathBuf) -> Self {
        Self {
            prompt: "You are calling on behalf of Bright Dental to confirm an appointment. \
                     Ask if they can come to their appointment on Tuesday at 3 PM."
                .to_owned(),
            to: "+15551234567".to_owned(),
            phone_lines: vec![(10.0, "Yes, Tuesday at three works for me. Thank you.".to_owned())],
            phone_audio: None,
            data_dir,
            timeout: Duration::from_secs(120),
            llm: None,
            model: None,
            bridge_number: None,
            transfer: agent_runtime::call::TransferMode::default(),
            inbound: Vec::new(),
            max_bridged_secs: None,
            trial_max_call_secs: None,
            max_concurrent_calls: None,
            turn_taking: None,
        }
    }
}

/// One received callback.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    /// The parsed body.
    pub body: Value,
    /// Whether its Standard Webhooks signature verified.
    pub signature_valid: bool,
}

/// Everything the demo saw.
#[derive(Debug)]
pub struct DemoRun {
    /// The completion callback.
    pub callback: ReceivedCallback,
    /// The call object (`callback.body.data`) with `recording_file` added.
    pub call: Value,
    /// The stereo recording.
    pub recording_file: Option<PathBuf>,
    /// kamailio's log.
    pub trunk_log: String,
    /// What the phone heard (baresip's recording), if it recorded.
    pub phone_heard: Option<PathBuf>,
    /// The phone's log.
    pub phone_log: String,
}

/// Checks that the external pieces exist, naming the first missing one.
pub fn check_prerequisites() -> Result<(), DemoError> {
    for tool in ["kamailio", "baresip"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
        if !found {
            return Err(DemoError::Missing(format!("the `{tool}` program")));
        }
    }
    // The demo runs on the built-in configuration, so its models are where that looks.
    let models = crate::config::ModelsConfig::default().dir();
    for file in [
        "libonnxruntime.so",
        "piper-voice.onnx",
        "whisper-tiny-en/model.bin",
    ] {
        if !models.join(file).exists() {
            return Err(DemoError::Missing(format!(
                "model file {}",
                models.join(file).display()
            )));
        }
    }
    Ok(())
}

/// Runs the demo: start everything, place the call, wait for its callback.
pub async fn run(options: DemoOptions) -> Result<DemoRun, DemoError> {
    let mut session = DemoSession::start(&options).await?;
    if let Err(err) = session.place_call().await {
        session.server.shutdown().await;
        return Err(err);
    }
    session.finish().await
}

/// The demo's parts while a call runs, for tests that act on the phone mid-call (keys, hang-ups).
#[derive(Debug)]
pub struct DemoSession {
    /// The trunk.
    pub trunk: Kamailio,
    /// The phone (alice).
    pub phone: Phone,
    /// The server.
    pub server: Server,
    /// The API key.
    pub api_key: String,
    options: DemoOptions,
    receiver: CallbackReceiver,
    secret: String,
}

impl DemoSession {
    /// Starts the trunk, the phone (silent when `options.phone_lines` is empty) and the server.
    pub async fn start(options: &DemoOptions) -> Result<Self, DemoError> {
        check_prerequisites()?;
        std::fs::create_dir_all(&options.data_dir)?;
        let trunk = Kamailio::start(KamailioOptions::default()).await?;
        tracing::info!(trunk = %trunk.addr(), "trunk (kamailio) ready");
        let lines: Vec<(f32, &str)> = options
            .phone_lines
            .iter()
            .map(|(s, t)| (*s, t.as_str()))
            .collect();
        let audio = if let Some(audio) = &options.phone_audio {
            audio.clone()
        } else if lines.is_empty() {
            speech::silence(60.0)?
        } else {
            speech::render_phone_audio(&lines, 30.0).await?
        };
        let phone_records = options.data_dir.join("phone");
        std::fs::create_dir_all(&phone_records)?;
        let mut phone_options = PhoneOptions::new(trunk.addr(), &audio);
        phone_options.record_dir = Some(phone_records);
        let phone = Phone::start(phone_options).await?;
        tracing::info!("phone (baresip) registered as alice");
        let receiver = CallbackReceiver::start().await?;
        let secret = SigningKey::generate();
        let mut config = demo_config(&options.data_dir, trunk.addr(), &secret);
        for t in &mut config.trunks {
            t.transfer = options.transfer;
            t.max_concurrent_calls = options.max_concurrent_calls.or(t.max_concurrent_calls);
        }
        config.inbound.clone_from(&options.inbound);
        for route in &mut config.inbound {
            if route.callback_url.is_none() {
                route.callback_url = Some(format!("http://{}/callback", receiver.addr));
            }
        }
        config.providers.llm.clone_from(&options.llm);
        if let Some(secs) = options.max_bridged_secs {
            config.media.max_bridged_secs = secs;
        }
        if let Some(secs) = options.trial_max_call_secs {
            config.server.trial_max_call_secs = secs;
        }
        if let Some(t) = options.turn_taking {
            config.media.turn_model = t.turn_model;
            config.media.speculative_stt = t.speculative_stt;
            config.media.turn_patience_ms = t.turn_patience_ms;
        }
        let server = Server::start(config).await?;
        let api_key = keys::create(
            server.service.store(),
            &SystemClock,
            Some("demo".to_owned()),
            keys::Issuer::Operator,
        )
        .await?
        .secret;
        Ok(Self {
            trunk,
            phone,
            server,
            api_key,
            options: options.clone(),
            receiver,
            secret,
        })
    }

    /// Places the prompt-to-call through the HTTP API; returns the created call.
    pub async fn place_call(&mut self) -> Result<Value, DemoError> {
        let response = reqwest::Client::new()
            .post(format!("http://{}/v1/calls", self.server.http_addr))
            .bearer_auth(&self.api_key)
            .json(&json!({
                "to": self.options.to,
                "prompt": self.options.prompt,
                "callback_url": format!("http://{}/callback", self.receiver.addr),
                "bridge_number": self.options.bridge_number,
                "model": self.options.model,
            }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        if status != 201 {
            return Err(DemoError::Api { status, body });
        }
        tracing::info!(call = %body, "call created");
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Waits for the completion callback, stops everything, and gathers what every party saw.
    pub async fn finish(mut self) -> Result<DemoRun, DemoError> {
        let timeout = self.options.timeout;
        let received = tokio::time::timeout(timeout, self.receiver.hooks.recv()).await;
        // The phone writes its recording once its side of the call has closed.
        let _ = self
            .phone
            .wait_for_event(EventKind::CallClosed, Duration::from_secs(10))
            .await;
        self.server.shutdown().await;
        let (headers, body) = match received {
            Ok(Some(hook)) => hook,
            _ => return Err(DemoError::NoCallback(timeout)),
        };
        let key =
            SigningKey::parse(&self.secret).ok_or_else(|| DemoError::Missing("a signing key".to_owned()))?;
        let signature_valid = verify(&key, &headers, &body);
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut call = body.get("data").cloned().unwrap_or(Value::Null);
        let call_id = call
            .get("call_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let recording_file = Some(
            self.options
                .data_dir
                .join("recordings")
                .join(format!("{call_id}.wav")),
        )
        .filter(|p| p.exists());
        call["recording_file"] = json!(recording_file.as_ref().map(|p| p.display().to_string()));
        Ok(DemoRun {
            callback: ReceivedCallback {
                body,
                signature_valid,
            },
            call,
            recording_file,
            trunk_log: self.trunk.log(),
            phone_heard: self.phone.heard_wav(),
            phone_log: self.phone.log(),
        })
    }
}

fn demo_config(data_dir: &Path, trunk: SocketAddr, secret: &str) -> Config {
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.storage.data_dir = data_dir.to_owned();
    config.webhooks.allow_private = true;
    config.webhooks.secret = Some(secret.to_owned());
    config.trunks = vec![TrunkSection {
        name: "loopback".to_owned(),
        proxy: trunk.into(),
        domain: "trunk.test".to_owned(),
        username: Some("agent".to_owned()),
        auth_username: None,
        password: Some("agentpw".to_owned()),
        register: Some(true),
        register_expires: 300,
        max_concurrent_calls: None,
        ..TrunkSection::default()
    }];
    config
}

/// Whether a callback's Standard Webhooks headers carry a valid signature of `body`.
pub fn verify(key: &SigningKey, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (
        get("webhook-id"),
        get("webhook-timestamp").and_then(|t| t.parse().ok()),
        get("webhook-signature"),
    ) {
        (Some(id), Some(ts), Some(sig)) => key.verify(id, ts, body, sig),
        _ => false,
    }
}

/// A local HTTP receiver for callbacks: every POST to `/callback` is answered 200 and passed on.
/// The server task stops when the receiver is dropped.
#[derive(Debug)]
pub struct CallbackReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Headers and body of each callback, in arrival order.
    pub hooks: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CallbackReceiver {
    /// Starts a receiver on an ephemeral loopback port.
    pub async fn start() -> Result<Self, DemoError> {
        let (tx, hooks) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            "/callback",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, hooks, task })
    }
}
