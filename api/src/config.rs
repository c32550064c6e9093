//! Configuration: one TOML file, every key overridable as `RINGBACK_<SECTION>__<KEY>`, sane defaults
//! so a file with only a trunk works. Layering is figment's; the shapes and defaults are ours.

use agent_runtime::speech::{SttConfig, TtsConfig};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file {0} not found")]
    NotFound(PathBuf),
    /// A value is missing, mistyped, or unknown.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// Values parse but make no sense together.
    #[error("invalid configuration: {0}")]
    Inconsistent(&'static str),
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
    /// Speech and language providers.
    pub providers: ProvidersConfig,
    /// Completion callbacks.
    pub webhooks: WebhooksConfig,
    /// Limits.
    pub limits: LimitsConfig,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Base URL of the API as clients reach it, for `recording_url`; derived from `listen` if unset.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
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
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5080)),
            public_addr: None,
            t1_ms: 500,
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
    /// The trunk's proxy or registrar, `host:port`.
    pub proxy: SocketAddr,
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
}

fn default_trunk_name() -> String {
    "default".to_owned()
}

fn default_expires() -> u32 {
    300
}

/// `[media]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to.
    pub rtp_ip: IpAddr,
    /// Address advertised in SDP behind NAT.
    pub public_ip: Option<IpAddr>,
    /// Jitter buffer delay, ms.
    pub jitter_delay_ms: u32,
    /// Silence that ends the caller's turn, ms.
    pub end_of_turn_ms: u32,
    /// Ring timeout, seconds.
    pub ring_timeout_secs: u64,
    /// Maximum call duration after answer, seconds.
    pub max_duration_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_ip: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            jitter_delay_ms: 60,
            end_of_turn_ms: 700,
            ring_timeout_secs: 60,
            max_duration_secs: 600,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Directory for the database and recordings.
    pub data_dir: PathBuf,
    /// Database URL; `sqlite://<data_dir>/ringback.db` when unset.
    pub database_url: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ringback-data"),
            database_url: None,
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
    /// The TTS provider in effect.
    pub fn tts(&self) -> TtsConfig {
        self.tts.clone().unwrap_or_default()
    }

    /// The STT provider in effect.
    pub fn stt(&self) -> SttConfig {
        self.stt.clone().unwrap_or_default()
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
    /// Delivery attempts before giving up.
    pub max_attempts: u32,
    /// Per-attempt timeout, seconds.
    pub timeout_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            secret: None,
            max_attempts: 8,
            timeout_secs: 10,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Calls in progress at once; more wait as `queued`.
    pub max_concurrent_calls: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_calls: 8,
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
        for trunk in &self.trunks {
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
        }
        if self.limits.max_concurrent_calls == 0 {
            return Err(ConfigError::Inconsistent(
                "limits.max_concurrent_calls must be at least 1",
            ));
        }
        if self.sip.t1_ms == 0 {
            return Err(ConfigError::Inconsistent("sip.t1_ms must be at least 1"));
        }
        Ok(())
    }

    /// The base URL clients use.
    pub fn public_url(&self) -> String {
        self.server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.server.listen))
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
                sip_stack::TrunkConfig {
                    name: t.name.clone(),
                    proxy: t.proxy,
                    domain: t.domain.clone(),
                    register: t.register.unwrap_or(credentials.is_some()),
                    credentials,
                    register_expires: t.register_expires,
                    ..sip_stack::TrunkConfig::new(&t.name, t.proxy)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(config.media.end_of_turn_ms, 700);
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
        assert!(matches!(config.providers.stt(), SttConfig::OpenAi(_)));
    }
}
