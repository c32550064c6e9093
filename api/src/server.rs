//! `ringback serve`: opens the store, loads the speech providers, starts the SIP driver, the call
//! dispatchers, the webhook outbox, the retention purge and the HTTP API, and shuts them down in
//! order (calls hang up and finalize, trunks unregister).

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::config::{TurnModelChoice, VadChoice};
use crate::http;
use crate::https::TlsListener;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxConfig};
use crate::retention;
use crate::service::{CallService, Parts};
use crate::store::{Store, StoreError};
use crate::webhook::SigningKey;
use agent_runtime::call::{Speech, TurnPool, VadPool};
use agent_runtime::speech::{SpeechError, SpeechToText, TextToSpeech};
use axum::serve::ListenerExt;
use sip_stack::EndpointConfig;
use sip_stack::driver::{DriverOptions, SipHandle, Sockets, tls};
use sip_stack::timer::TimerConfig;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The language model client could not be built.
    #[error("language model: {0}")]
    Llm(agent_runtime::llm::LlmError),
    /// A speech model could not be loaded.
    #[error("speech providers: {0}")]
    Speech(#[from] SpeechError),
    /// A socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// SIP or HTTP.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The webhook HTTP client cannot be built (no fallback: it would lose the address guard).
    #[error("webhook HTTP client: {0}")]
    WebhookClient(#[source] reqwest::Error),
    /// `webhooks.secret` is malformed.
    #[error("webhooks.secret must look like whsec_<base64 of at least 16 bytes>")]
    WebhookSecret,
    /// The data directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Silero VAD could not be loaded (`[media] vad = "webrtc"` runs without it).
    #[error("Silero VAD: {0}")]
    Vad(String),
    /// A blocking task died.
    #[error("start-up task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The SIP TLS certificate, key or CA could not be used.
    #[error("SIP TLS: {0}")]
    Tls(tls::TlsError),
    /// `[media] stun_server` is not a `host:port` that resolves.
    #[error("[media] stun_server {server:?}: {detail} (expected host:port, e.g. \"stun.example.net:3478\")")]
    Stun {
        /// As configured.
        server: String,
        /// Why it cannot be used.
        detail: String,
    },
    /// The API's HTTPS certificate or key (`[server] tls_cert`, `tls_key`) could not be used.
    #[error("HTTPS for the API: {0}")]
    HttpsTls(tls::TlsError),
    /// No address a trunk can reach can be advertised to it (SIP Via and Contact, or SDP).
    #[error("trunk {trunk}: {what}: {source}")]
    Address {
        /// The trunk's name.
        trunk: String,
        /// `[sip]` or `[media]`.
        what: &'static str,
        /// Why.
        source: sip_stack::AddressError,
    },
}

/// The SIP driver's sockets: the bound UDP socket, and the TCP and TLS listeners when configured.
async fn sip_sockets(
    sip: &crate::config::SipConfig,
    udp: tokio::net::UdpSocket,
) -> Result<Sockets, ServerError> {
    let bind = |addr: SocketAddr, what: &'static str| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { what, addr, source })
    };
    let tcp = match sip.tcp_listen {
        Some(addr) => Some(bind(addr, "SIP over TCP").await?),
        None => None,
    };
    let tls = match (sip.tls_listen, &sip.tls_cert, &sip.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            let acceptor = tls::acceptor(cert, key).map_err(ServerError::Tls)?;
            Some((bind(addr, "SIP over TLS").await?, acceptor))
        }
        _ => None,
    };
    Ok(Sockets { udp, tcp, tls })
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// Where SIP listens.
    pub sip_addr: SocketAddr,
    /// The call service.
    pub service: CallService,
    /// The SIP driver.
    pub sip: SipHandle,
    shutdown: CancellationToken,
    background: TaskTracker,
    http_task: JoinHandle<()>,
    sip_task: JoinHandle<()>,
}

/// Loads the configured speech providers (blocking: model loading takes about a second).
pub async fn load_speech(config: &Config) -> Result<Speech, ServerError> {
    let (tts, stt) = (config.tts(), config.stt());
    let llm = match config.providers.llm.clone() {
        Some(llm) => Some(agent_runtime::llm::LlmClient::new(llm).map_err(ServerError::Llm)?),
        None => None,
    };
    // Silero shares Piper's ONNX Runtime (one environment per process).
    let tts_onnxruntime = config.onnxruntime();
    let silero_model = (config.media.vad == VadChoice::Silero).then(|| config.silero_model());
    let turn_model =
        (silero_model.is_some() && config.media.turn_model == TurnModelChoice::SmartTurn).then(|| {
            let path = config.smart_turn_model();
            let timing = media_core::analysis::turn::TurnModelTiming {
                max_pause_ms: u64::from(config.media.max_turn_pause_ms),
                ..media_core::analysis::turn::TurnModelTiming::default()
            };
            (path, timing)
        });
    let speech = tokio::task::spawn_blocking(move || -> Result<Speech, ServerError> {
        let vad = match silero_model {
            Some(model) => Some(load_vad(&model, &tts_onnxruntime)?),
            None => None,
        };
        let turn = turn_model.and_then(|(path, timing)| load_turn_model(&path, &tts_onnxruntime, timing));
        Ok(Speech {
            tts: TextToSpeech::from_config(&tts)?,
            stt: SpeechToText::from_config(&stt)?,
            llm,
            vad,
            turn,
        })
    })
    .await??;
    Ok(speech)
}

/// Loads Silero and starts the one batching worker all calls link to.
fn load_vad(model: &Path, onnxruntime: &Path) -> Result<VadPool, ServerError> {
    use media_core::analysis::silero::SileroModel;
    use media_core::analysis::worker::{SileroWorker, WorkerConfig};

    let model = SileroModel::load(model, onnxruntime).map_err(|e| ServerError::Vad(e.to_string()))?;
    let worker = Arc::new(
        SileroWorker::spawn(model, WorkerConfig::default()).map_err(|e| ServerError::Vad(e.to_string()))?,
    );
    Ok(VadPool::new(move || Box::new(worker.link())))
}

/// Loads Smart Turn and starts its worker; a model that cannot load leaves turns to the silence
/// rule (said once here: a missing optional model must not keep the server down).
fn load_turn_model(
    model: &Path,
    onnxruntime: &Path,
    timing: media_core::analysis::turn::TurnModelTiming,
) -> Option<TurnPool> {
    use media_core::analysis::smart_turn::{SmartTurnModel, SmartTurnWorker};

    let loaded = SmartTurnModel::load(model, onnxruntime)
        .map_err(|e| e.to_string())
        .and_then(|m| SmartTurnWorker::spawn(m).map_err(|e| e.to_string()));
    match loaded {
        Ok(worker) => {
            tracing::info!(model = %model.display(), max_pause_ms = timing.max_pause_ms, "end of turn: Smart Turn");
            let worker = Arc::new(worker);
            Some(TurnPool::new(timing, move || Box::new(worker.link())))
        }
        Err(err) => {
            tracing::warn!(error = %err, "Smart Turn is not available; turns end after end_of_turn_ms of silence");
            None
        }
    }
}

/// Refuses to start when a trunk given by address could only be told the unspecified address, or a
/// loopback address from elsewhere, in SIP or in SDP (trunks given by name are checked when their
/// name resolves, and their calls fail with the reason).
/// `[media] stun_server`'s address: the first a `host:port` resolves to.
async fn resolve_stun(server: &str) -> Result<std::net::SocketAddr, ServerError> {
    let refused = |detail: String| ServerError::Stun {
        server: server.to_owned(),
        detail,
    };
    tokio::net::lookup_host(server)
        .await
        .map_err(|e| refused(e.to_string()))?
        .next()
        .ok_or_else(|| refused("it resolves to no address".to_owned()))
}

fn check_addresses(config: &Config, endpoint: &EndpointConfig) -> Result<(), ServerError> {
    let trunks = config.sip_trunks();
    for trunk in &trunks {
        let only = std::slice::from_ref(trunk);
        sip_stack::driver::check_addresses(endpoint, only).map_err(|source| ServerError::Address {
            trunk: trunk.name.clone(),
            what: "[sip] listen/public_addr",
            source,
        })?;
        if trunk.proxy == sip_stack::trunk::UNRESOLVED {
            continue;
        }
        let media = agent_runtime::RuntimeConfig {
            rtp_ip: config.media.rtp_ip,
            public_ip: config.media.public_ip,
            ..agent_runtime::RuntimeConfig::default()
        };
        agent_runtime::call::media_address(&media, trunk.proxy.ip()).map_err(|source| {
            ServerError::Address {
                trunk: trunk.name.clone(),
                what: "[media] rtp_ip/public_ip",
                source,
            }
        })?;
    }
    Ok(())
}

impl Server {
    /// Starts everything with the given configuration.
    pub async fn start(config: Config) -> Result<Self, ServerError> {
        let speech = load_speech(&config).await?;
        Self::start_with_speech(config, speech).await
    }

    /// Starts everything with speech providers already loaded (tests reuse one set).
    pub async fn start_with_speech(config: Config, speech: Speech) -> Result<Self, ServerError> {
        Self::start_with(config, speech, Arc::new(SystemClock)).await
    }

    /// Starts everything on a wall clock of the caller's (tests that need the time of day fixed,
    /// such as calling windows, pass a [`crate::clock::FixedClock`]).
    pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self, ServerError> {
        let speech = load_speech(&config).await?;
        Self::start_with(config, speech, clock).await
    }

    async fn start_with(config: Config, speech: Speech, clock: Arc<dyn Clock>) -> Result<Self, ServerError> {
        crate::fault::announce();
        // Read first: a bad file stops start-up, naming it, before anything is opened or bound.
        let https = match config.server.tls_files() {
            Some((cert, key)) => Some(tls::acceptor(cert, key).map_err(ServerError::HttpsTls)?),
            None => None,
        };
        let store = Store::open(&config.storage.database_url()).await?;
        let recordings = config.storage.recordings_dir();
        std::fs::create_dir_all(&recordings).map_err(|source| ServerError::DataDir {
            path: recordings,
            source,
        })?;
        let secret = match &config.webhooks.secret {
            Some(secret) => secret.clone(),
            None => {
                store
                    .setting_or_insert("webhook_secret", &SigningKey::generate())
                    .await?
            }
        };
        let key = SigningKey::parse(&secret).ok_or(ServerError::WebhookSecret)?;

        let sip_socket = tokio::net::UdpSocket::bind(config.sip.listen)
            .await
            .map_err(|source| ServerError::Bind {
                what: "SIP",
                addr: config.sip.listen,
                source,
            })?;
        let sip_addr = sip_socket.local_addr().map_err(|source| ServerError::Bind {
            what: "SIP",
            addr: config.sip.listen,
            source,
        })?;
        let mut endpoint = EndpointConfig::new(sip_addr);
        endpoint.public_addr = config.sip.public_addr;
        endpoint.timers = TimerConfig {
            t1: Duration::from_millis(config.sip.t1_ms),
            ..TimerConfig::default()
        };
        check_addresses(&config, &endpoint)?;
        let stun_server = match &config.media.stun_server {
            Some(server) => Some(resolve_stun(server).await?),
            None => None,
        };
        let sockets = sip_sockets(&config.sip, sip_socket).await?;
        let options = DriverOptions {
            tls_client: Some(tls::connector(config.sip.tls_ca.as_deref()).map_err(ServerError::Tls)?),
            dns_server: config.sip.dns_server,
            ..DriverOptions::default()
        };
        let driver = sip_stack::driver::start(sockets, options, endpoint, config.sip_trunks());
        let incoming = driver.incoming;
        let (sip, sip_task) = (driver.handle, driver.task);

        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|source| ServerError::Bind {
                what: "HTTP",
                addr: config.server.listen,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            what: "HTTP",
            addr: config.server.listen,
            source,
        })?;
        let mut config = config;
        if config.server.public_url.is_none() {
            config.server.public_url = Some(format!("{}://{http_addr}", config.server.scheme()));
        }

        let shutdown = CancellationToken::new();
        let background = TaskTracker::new();
        let metrics = Metrics::new();
        let outbox = Outbox::new(
            store.clone(),
            clock.clone(),
            key,
            OutboxConfig {
                schedule: config.webhooks.schedule(),
                jitter_pct: config.webhooks.jitter_pct,
                timeout: Duration::from_secs(config.webhooks.timeout_secs),
                concurrency: config.webhooks.concurrency,
                allow_private: config.webhooks.allow_private,
            },
            metrics.clone(),
        )
        .map_err(ServerError::WebhookClient)?;
        let service = CallService::start(
            &config,
            Parts {
                store: store.clone(),
                clock: clock.clone(),
                sip: sip.clone(),
                speech,
                outbox: outbox.clone(),
                metrics,
                stun_server,
            },
            shutdown.child_token(),
        )
        .await?;
        service.serve_inbound(incoming);
        background.spawn(outbox.run(shutdown.child_token()));
        if let Some(days) = config.storage.retention_days {
            background.spawn(retention::run(store, clock, days, shutdown.child_token()));
        }
        let state = http::AppState::new(
            service.clone(),
            config.limits.requests_per_minute,
            config.server.trial_keys,
        )
        .with_trial(http::trial::TrialPolicy {
            enabled: config.server.trial_keys,
            keys_per_source_per_day: config.server.trial_keys_per_source,
            trusted_proxies: config.server.trusted_proxies.clone(),
        });
        let limits = Arc::clone(&state.limits);
        let forget = shutdown.child_token();
        background.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(300)) => limits.forget_idle(),
                    () = forget.cancelled() => return,
                }
            }
        });
        let app = http::app(state);
        let http_shutdown = shutdown.clone();
        let http_task = tokio::spawn(async move {
            // The peer address reaches handlers (trial keys are counted per client).
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let stop = http_shutdown.cancelled_owned();
            let served = match https {
                // `tap_io` is axum's way to have the peer address as connect info for a listener
                // of our own; it does nothing to the stream.
                Some(acceptor) => {
                    let listener = TlsListener::new(listener, acceptor).tap_io(|_| {});
                    axum::serve(listener, app).with_graceful_shutdown(stop).await
                }
                None => axum::serve(listener, app).with_graceful_shutdown(stop).await,
            };
            if let Err(err) = served {
                tracing::error!(%err, "HTTP server failed");
            }
        });
        tracing::info!(%http_addr, %sip_addr, "ringback serving");
        Ok(Self {
            http_addr,
            sip_addr,
            service,
            sip,
            shutdown,
            background,
            http_task,
            sip_task,
        })
    }

    /// Stops: no new requests, running calls hang up and finalize (their callbacks stay in the
    /// outbox for the next start if not delivered), trunks unregister.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.service.shutdown(Duration::from_secs(30)).await;
        self.background.close();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.background.wait()).await;
        self.sip.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.sip_task).await;
        // SSE streams keep connections open; graceful shutdown waits for them only so long.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.http_task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, rtp_ip: &str, trunk: &str) -> (Config, EndpointConfig) {
        let toml = format!(
            "[sip]\nlisten = \"{listen}\"\n[media]\nrtp_ip = \"{rtp_ip}\"\n\
             [[trunks]]\nname = \"carrier\"\nproxy = \"{trunk}\"\n"
        );
        let config = Config::from_toml(&toml).expect("valid");
        let endpoint = EndpointConfig::new(config.sip.listen);
        (config, endpoint)
    }

    #[tokio::test]
    async fn a_stun_server_must_be_a_host_and_port_that_resolves() {
        assert_eq!(
            resolve_stun("127.0.0.1:3478").await.expect("an address"),
            "127.0.0.1:3478".parse().expect("addr")
        );
        for bad in ["127.0.0.1", "stun.invalid:3478", ":3478"] {
            let err = resolve_stun(bad).await.expect_err(bad).to_string();
            assert!(
                err.contains("[media] stun_server") && err.contains(bad) && err.contains("host:port"),
                "{err}"
            );
        }
    }

    #[test]
    fn start_up_refuses_to_advertise_loopback_to_a_trunk_elsewhere() {
        // The demo's shape: everything on loopback, RTP on the unspecified address.
        let (ok, endpoint) = config("127.0.0.1:5080", "0.0.0.0", "127.0.0.1:5060");
        check_addresses(&ok, &endpoint).expect("loopback trunk");
        let (ok, endpoint) = config("0.0.0.0:5080", "0.0.0.0", "127.0.0.1:5060");
        check_addresses(&ok, &endpoint).expect("unspecified binds");
        // 192.0.2.1 needs no route to be refused: loopback is never named to it.
        let (bad, endpoint) = config("127.0.0.1:5080", "0.0.0.0", "192.0.2.1:5060");
        let err = check_addresses(&bad, &endpoint)
            .expect_err("SIP on loopback")
            .to_string();
        assert!(
            err.contains("carrier") && err.contains("[sip]") && err.contains("loopback"),
            "{err}"
        );
        let (bad, endpoint) = config("192.0.2.9:5080", "127.0.0.1", "192.0.2.1:5060");
        let err = check_addresses(&bad, &endpoint)
            .expect_err("RTP on loopback")
            .to_string();
        assert!(err.contains("[media]") && err.contains("loopback"), "{err}");
    }
}
