//! Configuration: one TOML file, every key overridable as `RINGBACK_<SECTION>__<KEY>`, sane defaults
//! so a file with only a trunk works. Layering is figment's; the shapes and defaults are ours.
//!
//! The types here are also the operator's documentation: `ringback config example` prints every
//! key with its default and its doc comment ([`example`], from the table `build.rs` reads out of this
//! file), and `ringback config check` says what a file amounts to ([`check`]).

pub mod check;
mod describe;
pub mod example;
pub mod listeners;
pub mod locate;
mod models;
mod schema;

pub use models::ModelFile;

use agent_runtime::speech::{SttConfig, TtsConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// A value is missing, mistyped, or unknown.
    #[error("invalid configuration: {}", describe::describe(.0))]
    Invalid(#[from] Box<figment::Error>),
    /// Values parse but make no sense together.
    #[error("invalid configuration: {0}")]
    Inconsistent(&'static str),
    /// An inbound route is wrong.
    #[error("{0}")]
    Inbound(String),
    /// A `[policy]` entry is malformed.
    #[error("invalid configuration: {0}")]
    Policy(#[from] crate::policy::PolicyConfigError),
    /// Two listeners would take the same port.
    #[error("invalid configuration: {0}")]
    Listeners(#[from] listeners::ListenerConflict),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// SIP signalling.
    pub sip: SipConfig,
    /// SIP trunks; the first is the default for outbound calls.
    pub trunks: Vec<TrunkSection>,
    /// Media.
    pub media: MediaConfig,
    /// Database and files.
    pub storage: StorageConfig,
    /// Where the on-box models are.
    pub models: ModelsConfig,
    /// Speech and language providers.
    pub providers: ProvidersConfig,
    /// Completion callbacks.
    pub webhooks: WebhooksConfig,
    /// Limits.
    pub limits: LimitsConfig,
    /// Inbound calls: which workflow answers which dialled number. A number with no route is
    /// refused (404).
    pub inbound: Vec<InboundRoute>,
    /// Which destinations may be dialled (toll-fraud protection).
    pub policy: crate::policy::PolicyConfig,
}

/// `[[inbound]]`: the agent that answers calls to one number.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRoute {
    /// The dialled number (E.164, as the trunk sends it in the Request-URI), or `*` for any number
    /// no other route names.
    pub number: String,
    /// What the agent does, in plain words (compiled once, at start, like an outbound prompt).
    pub prompt: String,
    /// Where the completion callback goes.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// The API key (its id, as `ringback keys list` shows it) whose calls these are: that key
    /// lists and reads them through the API. Without one, only the callback reports them.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// A human the agent may hand the caller to, E.164.
    #[serde(default)]
    pub bridge_number: Option<String>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Base URL of the API as clients reach it, for `recording_url`; derived from `listen` if unset.
    pub public_url: Option<String>,
    /// Anonymous trial keys (the fire-and-poll face's proto-key): `POST /call` without credentials
    /// creates a key and returns it once. Off unless an operator turns it on.
    pub trial_keys: bool,
    /// Trial keys one client address (IPv6: one /64) may mint per UTC day.
    pub trial_keys_per_source: u32,
    /// Calls the trial keys minted for one client address (IPv6: one /64) may place together per
    /// UTC day, through any face (0: none).
    pub trial_calls_per_source: u32,
    /// The longest a trial key's call may last after answer, seconds (at least 10).
    pub trial_max_call_secs: u32,
    /// Reverse proxies in front of the API whose `X-Forwarded-For` names the client; from anyone
    /// else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// PEM certificate chain for HTTPS. With `tls_key`, the API speaks only HTTPS on `listen`
    /// (plain HTTP there fails the handshake); without both, plain HTTP (for loopback or behind a
    /// TLS-terminating proxy). Read at start: an unreadable or invalid file stops the server.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
}

impl ServerConfig {
    /// The certificate and key files when HTTPS is on (validation ensures both or neither).
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        self.tls_cert.as_deref().zip(self.tls_key.as_deref())
    }

    /// `https` when the API serves TLS, else `http` (for URLs derived from `listen`).
    pub fn scheme(&self) -> &'static str {
        if self.tls_files().is_some() {
            "https"
        } else {
            "http"
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            trial_keys: false,
            trial_keys_per_source: 3,
            trial_calls_per_source: 10,
            trial_max_call_secs: 120,
            trusted_proxies: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP address for SIP.
    pub listen: SocketAddr,
    /// Address advertised in Via and Contact when behind NAT.
    pub public_addr: Option<SocketAddr>,
    /// RFC 3261 T1 in milliseconds (500 by default; lower only on test networks).
    pub t1_ms: u64,
    /// TCP address for SIP over TCP; none when unset.
    pub tcp_listen: Option<SocketAddr>,
    /// TLS address for SIP over TLS (needs `tls_cert` and `tls_key`); none when unset.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates trusted for TLS trunks besides the public roots (a private CA).
    pub tls_ca: Option<PathBuf>,
    /// DNS server (`ip:port`) for trunk names; the system resolver (/etc/hosts, /etc/resolv.conf)
    /// when unset.
    pub dns_server: Option<SocketAddr>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5080)),
            public_addr: None,
            t1_ms: 500,
            tcp_listen: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            dns_server: None,
        }
    }
}

/// One `[[trunks]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSection {
    /// Name for logs and the API.
    #[serde(default = "default_trunk_name")]
    pub name: String,
    /// The trunk's proxy or registrar, `host[:port]`: an address (`192.0.2.1:5060`,
    /// `[2001:db8::1]:5061`) or a name resolved by DNS (`sip.example.com:5060`; without a port, SRV
    /// `_sip._udp`, `_sip._tcp` or `_sips._tcp` first, per RFC 3263), looked up again on each
    /// re-registration and failure.
    pub proxy: sip_stack::ProxyHost,
    /// SIP domain for URIs; the proxy address when empty.
    #[serde(default)]
    pub domain: String,
    /// Digest user name (omit for IP-authenticated trunks).
    pub username: Option<String>,
    /// Authentication user if different from `username`.
    pub auth_username: Option<String>,
    /// Digest password.
    pub password: Option<String>,
    /// Whether to REGISTER; defaults to true when credentials are given.
    pub register: Option<bool>,
    /// Registration expiry to ask for, seconds.
    #[serde(default = "default_expires")]
    pub register_expires: u32,
    /// Calls in progress at once on this trunk (more wait as `queued`); `[limits]
    /// max_concurrent_calls` when unset.
    #[serde(default)]
    pub max_concurrent_calls: Option<usize>,
    /// Transport to the proxy: `udp` (default), `tcp` or `tls`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Send OPTIONS to the proxy every this many seconds to watch its health; never when unset.
    #[serde(default)]
    pub keepalive_secs: Option<u64>,
    /// Whether the trunk may deliver inbound calls (from its proxy address and `inbound_sources`).
    #[serde(default = "default_true")]
    pub inbound: bool,
    /// Networks the trunk's inbound calls come from besides the proxy (CIDR, e.g. `192.0.2.0/24`).
    #[serde(default)]
    pub inbound_sources: Vec<String>,
    /// How a call is handed to its bridge number (the `transfer` tool): `bridge` (default; a second
    /// call to the human, joined to the first by re-INVITEs, works with any trunk) or `refer` (the
    /// trunk calls the human on a REFER; no second channel, but the trunk must accept REFER).
    #[serde(default)]
    pub transfer: agent_runtime::call::TransferMode,
    /// The caller ID of calls through this trunk that name none (`from` on the request), E.164.
    /// The trunk's user name when unset.
    #[serde(default)]
    pub from_number: Option<String>,
    /// The numbers the trunk lets us present, E.164. When set, a call's `from` (and
    /// `from_number`) must be one of them (403 `from_not_allowed`): carriers block or flag calls
    /// with numbers the customer does not own.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Where the caller ID goes: `from` (default), `asserted` (also P-Asserted-Identity, for a
    /// trunk that trusts us, RFC 3325) or `withheld` (P-Asserted-Identity with `Privacy: id`,
    /// From anonymous: the carrier sees the number, the callee does not).
    #[serde(default)]
    pub identity: IdentityChoice,
    /// Keys of a call's `metadata` sent as SIP headers on its INVITE, with their string values:
    /// `X-` names only (e.g. `["X-Campaign-Id"]`); other keys never leave the API.
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// More proxies of this trunk, `ip:port`, tried in order when the one in use answers an INVITE
    /// with 503 or not at all, or stops answering keep-alives (the call moves on; the trunk stays
    /// there). `proxy` must then be an address too (a name's alternatives come from DNS).
    #[serde(default)]
    pub backup_proxies: Vec<SocketAddr>,
    /// Seconds a trunk stays on a backup proxy before trying `proxy` again.
    #[serde(default = "default_failback_secs")]
    pub failback_secs: u64,
}

fn default_failback_secs() -> u64 {
    60
}

/// `[[trunks]] identity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityChoice {
    /// In From.
    #[default]
    From,
    /// In From and P-Asserted-Identity.
    Asserted,
    /// In P-Asserted-Identity with `Privacy: id`; From anonymous.
    Withheld,
}

impl From<IdentityChoice> for sip_stack::IdentityMode {
    fn from(choice: IdentityChoice) -> Self {
        match choice {
            IdentityChoice::From => Self::From,
            IdentityChoice::Asserted => Self::Asserted,
            IdentityChoice::Withheld => Self::Withheld,
        }
    }
}

impl Default for TrunkSection {
    /// Every optional setting at its default; `proxy` is a placeholder (127.0.0.1:5060) to set.
    fn default() -> Self {
        Self {
            name: default_trunk_name(),
            proxy: SocketAddr::from(([127, 0, 0, 1], 5060)).into(),
            domain: String::new(),
            username: None,
            auth_username: None,
            password: None,
            register: None,
            register_expires: default_expires(),
            max_concurrent_calls: None,
            transport: default_transport(),
            keepalive_secs: None,
            inbound: true,
            inbound_sources: Vec::new(),
            transfer: agent_runtime::call::TransferMode::default(),
            from_number: None,
            numbers: Vec::new(),
            identity: IdentityChoice::default(),
            forward_headers: Vec::new(),
            backup_proxies: Vec::new(),
            failback_secs: default_failback_secs(),
        }
    }
}

impl TrunkSection {
    /// Whether the trunk lets us present `number` (E.164) as the caller: any number when it lists
    /// none.
    pub fn owns(&self, number: &str) -> bool {
        let digits = |n: &str| n.chars().filter(char::is_ascii_digit).collect::<String>();
        self.numbers.is_empty() || self.numbers.iter().any(|n| digits(n) == digits(number))
    }
}

fn default_transport() -> String {
    "udp".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_trunk_name() -> String {
    "default".to_owned()
}

fn default_expires() -> u32 {
    300
}

/// `[media] vad`: what decides that the caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VadChoice {
    /// Silero VAD behind the webrtc-vad gate, plus DTMF, beeps and AMD.
    Silero,
    /// The webrtc-vad gate alone, plus DTMF, beeps and AMD.
    Webrtc,
    /// The energy endpointer; no in-band DTMF, beeps or AMD.
    Energy,
}

/// `[media] turn_model`: what ends the caller's turn besides silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnModelChoice {
    /// Smart Turn v3 hears each pause: "complete" ends the turn at once, "incomplete" lets the
    /// pause run up to `max_turn_pause_ms`. Needs `vad = "silero"`; a model that is missing or
    /// fails leaves the silence rule in charge (logged at start-up).
    #[default]
    SmartTurn,
    /// `end_of_turn_ms` of silence alone.
    Off,
}

/// `[media]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to. The unspecified address (the default) advertises, per call, our
    /// address on the route towards the call's trunk.
    pub rtp_ip: IpAddr,
    /// Address advertised in SDP behind NAT (a static public address with port forwarding).
    pub public_ip: Option<IpAddr>,
    /// A STUN server, `host:port` (RFC 8489, e.g. a coturn), asked per call which address and port
    /// our RTP socket is seen from behind a NAT; the SDP then names them. For a peer that neither
    /// rewrites SDP nor relays media. Ignored when `public_ip` is set; resolved at start-up; a call
    /// whose request gets no answer in 1.5 s names the detected address (logged).
    pub stun_server: Option<String>,
    /// Jitter buffer delay, ms.
    pub jitter_delay_ms: u32,
    /// Silence that ends the caller's turn, ms.
    pub end_of_turn_ms: u32,
    /// How long the caller must talk over the agent to stop it, ms. Shorter speech (a
    /// backchannel such as "mm-hm", a cough, a line burst) leaves the agent talking unless its
    /// words, once transcribed, say more than an acknowledgement ("No.", "Stop.").
    pub barge_in_ms: u32,
    /// What decides that the caller speaks: `silero` (Silero VAD behind webrtc-vad, with
    /// in-band DTMF, beeps and answering-machine detection), `webrtc` (the same without Silero),
    /// or `energy` (the walking skeleton's level detector, no AMD).
    pub vad: VadChoice,
    /// The Silero model (default: `silero_vad.onnx` in the models directory).
    pub silero_model: Option<PathBuf>,
    /// The end-of-turn model: `smart_turn` (the default) or `off`.
    pub turn_model: TurnModelChoice,
    /// The Smart Turn model (default: `smart-turn-v3.2-cpu.onnx` in the models directory).
    pub smart_turn_model: Option<PathBuf>,
    /// The longest pause, ms, inside a turn the model judged unfinished ("my email is ... uh"),
    /// or whose words stop mid-sentence.
    pub max_turn_pause_ms: u32,
    /// Quiet after a caller's turn before the agent answers, ms. 0 (the default) answers as soon
    /// as the words are in; 1000 never cuts off a caller who pauses under a second, and makes
    /// every answer wait that long (slow speakers, people reading out numbers).
    pub turn_patience_ms: u32,
    /// Start speech-to-text at the caller's first pause instead of at the end of their turn
    /// (the transcript is used when they say nothing more; one draft per call at a time).
    pub speculative_stt: bool,
    /// Ring timeout, seconds.
    pub ring_timeout_secs: u64,
    /// Maximum call duration after answer, seconds.
    pub max_duration_secs: u64,
    /// Maximum time a caller and a human stay bridged after a hand-off, seconds (both legs are
    /// then hung up; a bridge holds two trunk channels and is what toll fraud sells).
    pub max_bridged_secs: u64,
    /// Offer Opus after G.711 (used only when the other side has no G.711).
    pub opus: bool,
    /// Offer SRTP (`RTP/SAVP` with an SDES `a=crypto` key); calls whose answer refuses it fail.
    pub srtp: bool,
    /// Whose RTP a call takes besides the address its SDP names: `private` (the default: another
    /// source only when the SDP names a private, loopback or unspecified address, the far end's
    /// NAT), `always` (also a public address's other port) or `never`. Only within a stream's first
    /// packets; after that the source is fixed and anyone else's packets are dropped and counted.
    pub latch: LatchChoice,
}

/// `[media] latch`: when a call takes media from a source other than the SDP's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatchChoice {
    /// Also from another port of a public signalled address.
    Always,
    /// Only when the signalled address is private, loopback or unspecified (NAT).
    #[default]
    Private,
    /// Only from the signalled address and port.
    Never,
}

impl From<LatchChoice> for media_core::LatchPolicy {
    fn from(choice: LatchChoice) -> Self {
        match choice {
            LatchChoice::Always => media_core::LatchPolicy::Always,
            LatchChoice::Private => media_core::LatchPolicy::Private,
            LatchChoice::Never => media_core::LatchPolicy::Never,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_ip: IpAddr::from([0, 0, 0, 0]),
            public_ip: None,
            stun_server: None,
            jitter_delay_ms: 60,
            end_of_turn_ms: 500,
            barge_in_ms: media_core::analysis::endpoint::BARGE_IN_MS as u32,
            vad: VadChoice::Silero,
            silero_model: None,
            turn_model: TurnModelChoice::SmartTurn,
            smart_turn_model: None,
            max_turn_pause_ms: 2_000,
            turn_patience_ms: 0,
            speculative_stt: true,
            ring_timeout_secs: 60,
            max_duration_secs: 600,
            max_bridged_secs: 3600,
            opus: true,
            srtp: false,
            latch: LatchChoice::default(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory for the database and recordings.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://<data_dir>/ringback.db` when unset, or `postgres://user@host/db`.
    pub database_url: Option<String>,
    /// Recordings and transcripts are purged this many days after the call ended; kept when unset.
    pub retention_days: Option<u32>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ringback-data"),
            database_url: None,
            retention_days: None,
        }
    }
}

impl StorageConfig {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ringback.db").display()
            )
        })
    }

    /// Where recordings go.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir.join("recordings")
    }
}

/// `[models]`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory of the on-box models (`silero_vad.onnx`, `smart-turn-v3.2-cpu.onnx`, the Piper
    /// voice, `whisper-tiny-en/`, `libonnxruntime.so`), as `deploy/setup` lays it out. When unset:
    /// `$RINGBACK_CACHE/models`, else `$HOME/.cache/ringback/models`. A model path set elsewhere
    /// (`[media] silero_model`, `[providers.tts] model`, ...) wins over this directory.
    pub dir: Option<PathBuf>,
}

impl ModelsConfig {
    /// The directory every model name resolves against: the one place that decides it.
    pub fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(agent_runtime::speech::default_models_dir)
    }
}

/// `[providers]`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    /// Text to speech (`provider = "piper"` or `"openai"`).
    #[serde(skip_serializing)]
    pub tts: Option<TtsConfig>,
    /// Speech to text (`provider = "whisper"` or `"openai"`).
    #[serde(skip_serializing)]
    pub stt: Option<SttConfig>,
    /// An OpenAI-compatible language model; without it the deterministic engine runs calls.
    #[serde(skip_serializing)]
    pub llm: Option<agent_runtime::llm::LlmConfig>,
}

impl ProvidersConfig {
    /// The TTS provider in effect, its unnamed model files looked for in `models`.
    pub fn tts(&self, models: &Path) -> TtsConfig {
        match self.tts.clone().unwrap_or_default() {
            TtsConfig::Piper(mut piper) => {
                piper.models_dir = models.to_owned();
                TtsConfig::Piper(piper)
            }
            other => other,
        }
    }

    /// The STT provider in effect, its named models (`tiny.en`, `base`) looked for in `models`.
    pub fn stt(&self, models: &Path) -> SttConfig {
        match self.stt.clone().unwrap_or_default() {
            SttConfig::Whisper(mut whisper) => {
                whisper.models_dir = models.to_owned();
                SttConfig::Whisper(whisper)
            }
            other => other,
        }
    }
}

/// `[webhooks]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Allow callback URLs on loopback/private addresses and over plain http (tests, the demo).
    pub allow_private: bool,
    /// Standard Webhooks signing secret (`whsec_<base64>`); generated and stored when unset.
    pub secret: Option<String>,
    /// Waits between attempts after a failed one (the first attempt is immediate); each wait is
    /// jittered by `jitter_pct`. The default grows about fourfold, then twofold, and spans more than
    /// 24 hours even when every wait is jittered to its shortest.
    pub retry_schedule: Vec<humantime_serde::Serde<Duration>>,
    /// Random spread of each wait, in percent either way.
    pub jitter_pct: u32,
    /// Per-attempt timeout, seconds.
    pub timeout_secs: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let schedule = [5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 57_600];
        Self {
            allow_private: false,
            secret: None,
            retry_schedule: schedule.iter().map(|s| Duration::from_secs(*s).into()).collect(),
            jitter_pct: 20,
            timeout_secs: 10,
            concurrency: 16,
        }
    }
}

impl WebhooksConfig {
    /// The retry schedule as plain durations.
    pub fn schedule(&self) -> Vec<Duration> {
        self.retry_schedule.iter().map(|d| **d).collect()
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Calls in progress at once per trunk (unless the trunk sets its own); more wait as `queued`.
    pub max_concurrent_calls: usize,
    /// Calls that may wait as `queued` per trunk; past that, new calls are refused with 503.
    pub queue_capacity: usize,
    /// Requests per minute per API key (429 with `Retry-After` past it).
    pub requests_per_minute: u32,
    /// Calls per API key per UTC day; 0 for no cap.
    pub daily_calls_per_key: u32,
    /// How long an idempotency key names its call.
    #[serde(with = "humantime_serde")]
    pub idempotency_window: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 8,
            queue_capacity: 100,
            requests_per_minute: 60,
            daily_calls_per_key: 1_000,
            idempotency_window: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// Loads the file (if given), then `RINGBACK_<SECTION>__<KEY>` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::NotFound(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::finish(figment)
    }

    /// Parses TOML text with the environment overrides (for tests and embedded configs).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::finish(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)))
    }

    fn finish(figment: Figment) -> Result<Self, ConfigError> {
        // Only double-underscore keys are sections: RINGBACK_URL and RINGBACK_API_KEY belong to the CLI.
        let env = Env::prefixed("RINGBACK_")
            .filter(|k| k.as_str().contains("__"))
            .split("__");
        let config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.policy.validate()?;
        for route in &self.inbound {
            let bad = |why: String| ConfigError::Inbound(format!("inbound route {:?}: {why}", route.number));
            if route.number != "*" {
                agent_runtime::phone::E164::parse(&route.number).map_err(|e| bad(format!("number: {e}")))?;
            }
            if let Some(b) = &route.bridge_number {
                let number =
                    agent_runtime::phone::E164::parse(b).map_err(|e| bad(format!("bridge_number: {e}")))?;
                self.policy
                    .check(&number)
                    .map_err(|e| bad(format!("bridge_number: {e}")))?;
            }
            agent_runtime::workflow::compile(&route.prompt).map_err(|e| bad(format!("prompt: {e}")))?;
        }
        let mut numbers: Vec<&str> = self.inbound.iter().map(|r| r.number.as_str()).collect();
        numbers.sort_unstable();
        if numbers.windows(2).any(|w| w[0] == w[1]) {
            return Err(ConfigError::Inbound(
                "two inbound routes name the same number".to_owned(),
            ));
        }
        if self.server.trial_max_call_secs < 10 {
            return Err(ConfigError::Inconsistent(
                "server.trial_max_call_secs must be at least 10",
            ));
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Inconsistent(
                "server.tls_cert and server.tls_key go together: set both (HTTPS) or neither (HTTP)",
            ));
        }
        if self.sip.tls_listen.is_some() && (self.sip.tls_cert.is_none() || self.sip.tls_key.is_none()) {
            return Err(ConfigError::Inconsistent(
                "sip.tls_listen needs sip.tls_cert and sip.tls_key",
            ));
        }
        for trunk in &self.trunks {
            if sip_stack::Transport::from_name(&trunk.transport).is_none() {
                return Err(ConfigError::Inconsistent(
                    "a trunk's transport must be udp, tcp or tls",
                ));
            }
            if trunk
                .inbound_sources
                .iter()
                .any(|n| n.parse::<sip_stack::IpNet>().is_err())
            {
                return Err(ConfigError::Inconsistent(
                    "a trunk's inbound_sources must be networks such as 192.0.2.0/24",
                ));
            }
            if trunk.keepalive_secs == Some(0) {
                return Err(ConfigError::Inconsistent(
                    "a trunk's keepalive_secs must be at least 1",
                ));
            }
            if trunk.register == Some(true) && (trunk.username.is_none() || trunk.password.is_none()) {
                return Err(ConfigError::Inconsistent(
                    "a trunk with register = true needs username and password",
                ));
            }
            if trunk.username.is_some() != trunk.password.is_some() {
                return Err(ConfigError::Inconsistent(
                    "a trunk needs both username and password, or neither",
                ));
            }
            let bad = |why: String| ConfigError::Inbound(format!("trunk {:?}: {why}", trunk.name));
            for number in trunk.numbers.iter().chain(&trunk.from_number) {
                agent_runtime::phone::E164::parse(number)
                    .map_err(|e| bad(format!("number {number:?}: {e}")))?;
            }
            if let Some(from) = &trunk.from_number
                && !trunk.owns(from)
            {
                return Err(bad(format!("from_number {from:?} is not one of its numbers")));
            }
            if !trunk.backup_proxies.is_empty() {
                let transport = sip_stack::Transport::from_name(&trunk.transport).unwrap_or_default();
                if trunk.proxy.literal(transport).is_none() {
                    return Err(bad(
                        "backup_proxies need a proxy given as an address (a name's alternatives come from DNS)"
                            .to_owned(),
                    ));
                }
                if trunk.failback_secs == 0 {
                    return Err(bad("failback_secs must be at least 1".to_owned()));
                }
            }
            if let Some(name) = trunk
                .forward_headers
                .iter()
                .find(|h| !sip_stack::identity::is_custom_header(h, "value"))
            {
                return Err(bad(format!("forward_headers: {name:?} is not an X- header name")));
            }
        }
        if self.limits.max_concurrent_calls == 0 {
            return Err(ConfigError::Inconsistent(
                "limits.max_concurrent_calls must be at least 1",
            ));
        }
        if self.trunks.iter().any(|t| t.max_concurrent_calls == Some(0)) {
            return Err(ConfigError::Inconsistent(
                "trunks.max_concurrent_calls must be at least 1",
            ));
        }
        if self.limits.requests_per_minute == 0 {
            return Err(ConfigError::Inconsistent(
                "limits.requests_per_minute must be at least 1",
            ));
        }
        if self.webhooks.concurrency == 0 || self.webhooks.jitter_pct > 100 {
            return Err(ConfigError::Inconsistent(
                "webhooks.concurrency must be at least 1 and webhooks.jitter_pct at most 100",
            ));
        }
        if self.sip.t1_ms == 0 {
            return Err(ConfigError::Inconsistent("sip.t1_ms must be at least 1"));
        }
        listeners::check(&self.listeners())?;
        Ok(())
    }

    /// The base URL clients use.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{}://{}", self.server.scheme(), self.server.listen))
    }

    /// Concurrent calls allowed on trunk `index`.
    pub fn trunk_limit(&self, index: usize) -> usize {
        self.trunks
            .get(index)
            .and_then(|t| t.max_concurrent_calls)
            .unwrap_or(self.limits.max_concurrent_calls)
    }

    /// The trunks as the SIP stack wants them.
    pub fn sip_trunks(&self) -> Vec<sip_stack::TrunkConfig> {
        self.trunks
            .iter()
            .map(|t| {
                let credentials = match (&t.username, &t.password) {
                    (Some(username), Some(password)) => Some(sip_stack::TrunkCredentials {
                        username: username.clone(),
                        auth_username: t.auth_username.clone(),
                        password: password.clone(),
                    }),
                    _ => None,
                };
                let transport = sip_stack::Transport::from_name(&t.transport).unwrap_or_default();
                let at = sip_stack::TrunkConfig::with_host(&t.name, t.proxy.clone(), transport);
                sip_stack::TrunkConfig {
                    name: t.name.clone(),
                    proxy: at.proxy,
                    host: at.host,
                    domain: t.domain.clone(),
                    register: t.register.unwrap_or(credentials.is_some()),
                    credentials,
                    register_expires: t.register_expires,
                    transport,
                    keepalive: t.keepalive_secs.map(Duration::from_secs),
                    inbound: sip_stack::InboundConfig {
                        enabled: t.inbound,
                        sources: t.inbound_sources.iter().filter_map(|n| n.parse().ok()).collect(),
                        credentials: None,
                    },
                    identity: t.identity.into(),
                    failover: match at.proxy {
                        primary if !t.backup_proxies.is_empty() => std::iter::once(primary)
                            .chain(t.backup_proxies.iter().copied())
                            .collect(),
                        _ => Vec::new(),
                    },
                    failback: Duration::from_secs(t.failback_secs),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_proxies_become_the_trunks_failover_list() {
        let config = Config::from_toml(
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\nbackup_proxies = [\"192.0.2.2:5060\", \"192.0.2.3:5080\"]\n\
             failback_secs = 30\n",
        )
        .expect("valid");
        let trunk = &config.sip_trunks()[0];
        let addrs: Vec<String> = trunk.failover.iter().map(ToString::to_string).collect();
        assert_eq!(addrs, ["192.0.2.1:5060", "192.0.2.2:5060", "192.0.2.3:5080"]);
        assert_eq!(trunk.failback, Duration::from_secs(30));
        let single = Config::from_toml("[[trunks]]\nproxy = \"192.0.2.1:5060\"\n").expect("valid");
        assert!(single.sip_trunks()[0].failover.is_empty());
        for bad in [
            "[[trunks]]\nproxy = \"sip.example.com\"\nbackup_proxies = [\"192.0.2.2:5060\"]\n",
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\nbackup_proxies = [\"192.0.2.2:5060\"]\nfailback_secs = 0\n",
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\nbackup_proxies = [\"backup.example.com:5060\"]\n",
        ] {
            let err = Config::from_toml(bad).expect_err(bad).to_string();
            assert!(
                err.contains("backup_proxies") || err.contains("failback_secs"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn sip_transports_and_trunk_options_reach_the_sip_stack() {
        let config = Config::from_toml(
            "[sip]\ntcp_listen = \"127.0.0.1:5080\"\ntls_listen = \"127.0.0.1:5081\"\n\
             tls_cert = \"/etc/ringback/sip.pem\"\ntls_key = \"/etc/ringback/sip.key\"\n\
             [[trunks]]\nproxy = \"192.0.2.1:5061\"\ntransport = \"tls\"\nkeepalive_secs = 30\n\
             inbound_sources = [\"198.51.100.0/24\"]\n",
        )
        .expect("valid");
        assert_eq!(
            config.sip.tcp_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 5080)))
        );
        let trunk = &config.sip_trunks()[0];
        assert_eq!(trunk.transport, sip_stack::Transport::Tls);
        assert_eq!(trunk.keepalive, Some(Duration::from_secs(30)));
        assert!(trunk.accepts_calls_from("198.51.100.7".parse().expect("ip")));
        assert!(!trunk.accepts_calls_from("198.51.101.7".parse().expect("ip")));
        assert_eq!(trunk.proxy, SocketAddr::from(([192, 0, 2, 1], 5061)));
        assert_eq!(trunk.host, None, "an address needs no lookup");

        let named = Config::from_toml(
            "[sip]\ndns_server = \"127.0.0.1:5353\"\n[[trunks]]\nproxy = \"sip.example.test\"\ntransport = \"tcp\"\n",
        )
        .expect("a host name is a valid proxy");
        assert_eq!(
            named.sip.dns_server,
            Some(SocketAddr::from(([127, 0, 0, 1], 5353)))
        );
        let trunk = &named.sip_trunks()[0];
        assert_eq!(
            trunk.host.as_ref().map(|h| (h.host(), h.port())),
            Some(("sip.example.test", None))
        );
        assert_eq!(trunk.domain(), "sip.example.test");
        let err = Config::from_toml("[[trunks]]\nproxy = \"sip example:50600\"\n")
            .expect_err("garbage proxy")
            .to_string();
        assert!(
            err.contains("bad trunk proxy") && err.contains("sip example:50600"),
            "{err}"
        );

        for bad in [
            "[sip]\ntls_listen = \"127.0.0.1:5081\"\n",
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\ntransport = \"sctp\"\n",
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\ninbound_sources = [\"nonsense\"]\n",
            "[[trunks]]\nproxy = \"192.0.2.1:5060\"\nkeepalive_secs = 0\n",
            "[[trunks]]\nproxy = \"udp://192.0.2.1:5060\"\n",
            "[[trunks]]\nproxy = \"192.0.2.1:0\"\n",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn https_needs_both_certificate_and_key() {
        for half in [
            "tls_cert = \"/etc/ringback/api.pem\"",
            "tls_key = \"/etc/ringback/api.key\"",
        ] {
            let err = Config::from_toml(&format!("[server]\n{half}\n"))
                .expect_err(half)
                .to_string();
            assert!(
                err.contains("server.tls_cert") && err.contains("server.tls_key"),
                "{err}"
            );
        }
        let config = Config::from_toml(
            "[server]\nlisten = \"127.0.0.1:8443\"\ntls_cert = \"/etc/ringback/api.pem\"\n\
             tls_key = \"/etc/ringback/api.key\"\n",
        )
        .expect("both");
        assert_eq!(config.public_url(), "https://127.0.0.1:8443");
        assert_eq!(Config::default().public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn a_malformed_policy_is_refused_at_start() {
        let err = Config::from_toml("[policy]\nallowed_country_codes = [\"+44\"]\n")
            .expect_err("a country code is digits")
            .to_string();
        assert!(err.contains("allowed_country_codes"), "{err}");
        let config = Config::from_toml("[policy]\nallowed_country_codes = [\"1\", \"44\"]\n").expect("valid");
        assert_eq!(config.policy.allowed_country_codes, ["1", "44"]);
        assert!(
            !config.policy.blocked_prefixes.is_empty(),
            "the default blocks stay"
        );
    }

    #[test]
    fn inbound_routes_parse_and_bad_ones_are_named() {
        let config = Config::from_toml(
            "[[inbound]]\nnumber = \"+15551230000\"\nprompt = \"You answer calls for Acme. Ask for the caller's name.\"\n\
             transfer_to_nobody = 1\n",
        );
        assert!(config.is_err(), "unknown keys are refused");
        let config = Config::from_toml(
            "[[inbound]]\nnumber = \"+15551230000\"\nprompt = \"Ask for the caller's name.\"\n\
             callback_url = \"https://example.com/hook\"\n[[inbound]]\nnumber = \"*\"\nprompt = \"Ask how we can help.\"\n",
        )
        .expect("parses");
        assert_eq!(config.inbound.len(), 2);
        assert_eq!(
            config.inbound[0].callback_url.as_deref(),
            Some("https://example.com/hook")
        );
        for (bad, says) in [
            (
                "number = \"5551230000\"\nprompt = \"Ask for the caller's name.\"",
                "number",
            ),
            ("number = \"+15551230000\"\nprompt = \"Hello.\"", "prompt"),
            (
                "number = \"+15551230000\"\nprompt = \"Ask for the caller's name.\"\nbridge_number = \"x\"",
                "bridge_number",
            ),
            (
                "number = \"+15551230000\"\nprompt = \"Ask for the caller's name.\"\nbridge_number = \"+19005550123\"",
                "blocked prefix",
            ),
        ] {
            let err = Config::from_toml(&format!("[[inbound]]\n{bad}\n"))
                .expect_err(bad)
                .to_string();
            assert!(err.contains(says) && err.contains("inbound route"), "{err}");
        }
        let twice = "[[inbound]]\nnumber = \"*\"\nprompt = \"Ask for the caller's name.\"\n";
        assert!(
            Config::from_toml(&format!("{twice}{twice}")).is_err(),
            "one route per number"
        );
    }

    #[test]
    fn a_file_with_only_a_trunk_works() {
        let config = Config::from_toml(
            "[[trunks]]\nproxy = \"127.0.0.1:5060\"\nusername = \"agent\"\npassword = \"agentpw\"\n",
        )
        .expect("valid");
        let trunks = config.sip_trunks();
        assert_eq!(trunks.len(), 1);
        assert!(trunks[0].register, "credentials imply registration");
        assert_eq!(config.server.listen.port(), 8080);
        assert_eq!(config.media.end_of_turn_ms, 500);
        assert_eq!(config.media.vad, VadChoice::Silero);
    }

    #[test]
    fn media_addresses_are_found_and_the_latch_policy_is_private_by_default() {
        let config = Config::default();
        assert!(config.media.rtp_ip.is_unspecified(), "the route per call decides");
        assert_eq!(config.media.latch, LatchChoice::Private);
        for (text, want) in [
            ("always", media_core::LatchPolicy::Always),
            ("private", media_core::LatchPolicy::Private),
            ("never", media_core::LatchPolicy::Never),
        ] {
            let config = Config::from_toml(&format!("[media]\nlatch = \"{text}\"\n")).expect(text);
            assert_eq!(media_core::LatchPolicy::from(config.media.latch), want);
        }
        assert!(Config::from_toml("[media]\nlatch = \"sometimes\"\n").is_err());
    }

    #[test]
    fn unknown_keys_and_half_credentials_are_refused() {
        assert!(Config::from_toml("[server]\nlisten_on = \"x\"\n").is_err());
        assert!(matches!(
            Config::from_toml("[[trunks]]\nproxy = \"127.0.0.1:5060\"\nusername = \"agent\"\n"),
            Err(ConfigError::Inconsistent(_))
        ));
    }

    #[test]
    fn providers_select_by_name() {
        let config = Config::from_toml(
            "[providers.stt]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9000\"\n",
        )
        .expect("valid");
        assert!(matches!(
            config.providers.stt(&config.models.dir()),
            SttConfig::OpenAi(_)
        ));

        // The on-box recognizer's model: a name or a directory; a typo fails at load time.
        let config =
            Config::from_toml("[providers.stt]\nprovider = \"whisper\"\nmodel = \"base\"\n").expect("valid");
        let SttConfig::Whisper(whisper) = config.providers.stt(&config.models.dir()) else {
            panic!("whisper expected")
        };
        assert_eq!(whisper.model, agent_runtime::speech::WhisperModel::Base);
        assert!(Config::from_toml("[providers.stt]\nprovider = \"whisper\"\nmodel = \"tiny\"\n").is_err());
    }

    #[test]
    fn limits_and_webhook_schedule_have_sane_defaults_and_parse() {
        let config = Config::default();
        assert_eq!(config.limits.requests_per_minute, 60);
        assert_eq!(config.limits.idempotency_window, Duration::from_secs(300));
        let total: Duration = config.webhooks.schedule().iter().sum();
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        let config = Config::from_toml(
            "[limits]\nidempotency_window = \"90s\"\n[webhooks]\nretry_schedule = [\"100ms\", \"2m\"]\n\
             [[trunks]]\nproxy = \"127.0.0.1:5060\"\nmax_concurrent_calls = 2\n",
        )
        .expect("valid");
        assert_eq!(config.limits.idempotency_window, Duration::from_secs(90));
        assert_eq!(
            config.webhooks.schedule(),
            vec![Duration::from_millis(100), Duration::from_secs(120)]
        );
        assert_eq!(config.trunk_limit(0), 2);
        assert!(Config::from_toml("[limits]\nrequests_per_minute = 0\n").is_err());
        assert_eq!(
            (
                config.server.trial_calls_per_source,
                config.server.trial_max_call_secs
            ),
            (10, 120)
        );
        let err = Config::from_toml("[server]\ntrial_max_call_secs = 5\n")
            .expect_err("too short")
            .to_string();
        assert!(err.contains("server.trial_max_call_secs"), "{err}");
    }
}
