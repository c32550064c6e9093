//! `ringback config check`, and the same checks at start-up: what a configuration amounts to
//! (listeners, trunks, database, models), and what in it cannot work although it parses: files it
//! names that cannot be read (TLS certificates and keys, models). Each problem names its key, as
//! the operator will look for that in the file. Parse errors (unknown keys, bad values, two
//! listeners on one port) are the loader's ([`Config::load`]) and stop before this.

use super::listeners::Listener;
use super::{Config, ModelFile};
use agent_runtime::speech::{SttConfig, TtsConfig};
use serde::Serialize;
use sip_stack::driver::tls::{self, TlsError};
use std::path::{Path, PathBuf};

/// What a configuration amounts to.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The file read; none for the built-in defaults.
    pub file: Option<PathBuf>,
    /// Every socket the server would bind, by key.
    pub listeners: Vec<Listener>,
    /// Whether the API speaks HTTPS.
    pub https: bool,
    /// The API's base URL as clients are told it.
    pub public_url: String,
    /// The trunks.
    pub trunks: Vec<TrunkReport>,
    /// The numbers inbound routes answer.
    pub inbound_numbers: Vec<String>,
    /// The database, its password masked.
    pub database: String,
    /// Where recordings go.
    pub recordings: PathBuf,
    /// The speech and language providers.
    pub providers: ProvidersReport,
    /// The models directory in effect.
    pub models_dir: PathBuf,
    /// Each model file and whether it is there.
    pub models: Vec<ModelReport>,
    /// What cannot work; empty when the server can start.
    pub problems: Vec<Problem>,
}

/// One trunk as the server would use it.
#[derive(Debug, Serialize)]
pub struct TrunkReport {
    /// Its name.
    pub name: String,
    /// `host[:port]`.
    pub proxy: String,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// Whether it registers.
    pub registers: bool,
    /// Whether it may deliver inbound calls.
    pub inbound: bool,
}

/// Which providers run.
#[derive(Debug, Serialize)]
pub struct ProvidersReport {
    /// `piper` or `openai` (with its URL).
    pub tts: String,
    /// `whisper` (with its model) or `openai` (with its URL).
    pub stt: String,
    /// The language model's URL, or `built-in` (the deterministic engine).
    pub llm: String,
}

/// A model file and whether it was found.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    /// The file.
    #[serde(flatten)]
    pub file: ModelFile,
    /// Whether it is there.
    pub found: bool,
}

/// Something in the configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The key to change, as written in the file (`server.tls_cert`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Looks at everything the configuration names.
pub fn report(config: &Config, file: Option<&Path>) -> Report {
    let models: Vec<ModelReport> = config
        .model_files()
        .into_iter()
        .map(|file| ModelReport {
            found: file.path.is_file(),
            file,
        })
        .collect();
    Report {
        file: file.map(Path::to_path_buf),
        listeners: config.listeners(),
        https: config.server.tls_files().is_some(),
        public_url: config.public_url(),
        trunks: config
            .trunks
            .iter()
            .zip(config.sip_trunks())
            .map(|(section, trunk)| TrunkReport {
                name: section.name.clone(),
                proxy: section.proxy.to_string(),
                transport: section.transport.clone(),
                registers: trunk.register,
                inbound: section.inbound,
            })
            .collect(),
        inbound_numbers: config.inbound.iter().map(|r| r.number.clone()).collect(),
        database: mask_password(&config.storage.database_url()),
        recordings: config.storage.recordings_dir(),
        providers: providers(config),
        models_dir: config.models.dir(),
        problems: problems_with(config, &models),
        models,
    }
}

/// What cannot work, each naming its key: start-up refuses a configuration with any.
pub fn problems(config: &Config) -> Vec<Problem> {
    let models: Vec<ModelReport> = config
        .model_files()
        .into_iter()
        .map(|file| ModelReport {
            found: file.path.is_file(),
            file,
        })
        .collect();
    problems_with(config, &models)
}

fn problems_with(config: &Config, models: &[ModelReport]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some((cert, key)) = config.server.tls_files() {
        problems.extend(tls_pair("server", cert, key));
    }
    if let (Some(_), Some(cert), Some(key)) =
        (config.sip.tls_listen, &config.sip.tls_cert, &config.sip.tls_key)
    {
        problems.extend(tls_pair("sip", cert, key));
    }
    if let Some(ca) = &config.sip.tls_ca {
        problems.extend(readable("sip.tls_ca", ca).or_else(|| {
            tls::connector(Some(ca))
                .err()
                .map(|e| tls_problem("sip.tls_ca", &e))
        }));
    }
    for model in models.iter().filter(|m| m.file.required && !m.found) {
        problems.push(Problem {
            key: model.file.key.to_owned(),
            problem: format!(
                "{} not found at {} (deploy/setup installs the models; [models] dir says where they are)",
                model.file.used_by,
                model.file.path.display()
            ),
        });
    }
    problems
}

/// A certificate and key pair: each readable, then together usable by rustls (the loader
/// start-up uses, so a file `check` passes is one the server takes).
fn tls_pair(section: &str, cert: &Path, key: &Path) -> Vec<Problem> {
    let (cert_key, key_key) = (format!("{section}.tls_cert"), format!("{section}.tls_key"));
    let unreadable: Vec<Problem> = [readable(&cert_key, cert), readable(&key_key, key)]
        .into_iter()
        .flatten()
        .collect();
    if !unreadable.is_empty() {
        return unreadable;
    }
    match tls::acceptor(cert, key) {
        Ok(_) => Vec::new(),
        Err(
            err @ TlsError::Pem {
                what: "certificate", ..
            },
        ) => vec![tls_problem(&cert_key, &err)],
        Err(err) => vec![tls_problem(&key_key, &err)],
    }
}

/// A problem when `path` cannot be opened for reading.
fn readable(key: &str, path: &Path) -> Option<Problem> {
    std::fs::File::open(path).err().map(|err| Problem {
        key: key.to_owned(),
        problem: format!("cannot read {}: {err}", path.display()),
    })
}

fn tls_problem(key: &str, err: &TlsError) -> Problem {
    Problem {
        key: key.to_owned(),
        problem: err.to_string(),
    }
}

fn providers(config: &Config) -> ProvidersReport {
    let tts = match config.tts() {
        TtsConfig::Piper(_) => "piper".to_owned(),
        TtsConfig::OpenAi(openai) => format!("openai at {}", openai.base_url),
        _ => "other".to_owned(),
    };
    let stt = match config.stt() {
        SttConfig::Whisper(whisper) => format!("whisper {}", whisper.model.name()),
        SttConfig::OpenAi(openai) => format!("openai at {}", openai.base_url),
        _ => "other".to_owned(),
    };
    let llm = config.providers.llm.as_ref().map_or_else(
        || "built-in".to_owned(),
        |llm| format!("{} at {}", llm.model, llm.base_url),
    );
    ProvidersReport { tts, stt, llm }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`: reports and logs are read by
/// more people than the configuration file.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_masked() {
        assert_eq!(
            mask_password("postgres://ringback:s3cret@db.example:5432/ringback"),
            "postgres://ringback:***@db.example:5432/ringback"
        );
        assert_eq!(
            mask_password("postgres://ringback@db/ringback"),
            "postgres://ringback@db/ringback"
        );
        assert_eq!(
            mask_password("sqlite://data/ringback.db?mode=rwc"),
            "sqlite://data/ringback.db?mode=rwc"
        );
    }

    #[test]
    fn unreadable_and_unusable_tls_files_are_named_by_their_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").expect("write");
        let config = Config::from_toml(&format!(
            "[server]\ntls_cert = {missing:?}\ntls_key = {garbage:?}\n[sip]\ntls_ca = {garbage:?}\n\
             [media]\nvad = \"energy\"\n[providers.tts]\nprovider = \"openai\"\n[providers.stt]\nprovider = \"openai\"\n",
        ))
        .expect("parses: files are read by the check, not the parser");
        let found = problems(&config);
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["server.tls_cert", "sip.tls_ca"], "{found:?}");
        assert!(found[0].problem.contains("missing.pem"), "{found:?}");

        // Both readable, but the certificate file holds no certificate.
        let config = Config::from_toml(&format!(
            "[server]\ntls_cert = {garbage:?}\ntls_key = {garbage:?}\n[media]\nvad = \"energy\"\n\
             [providers.tts]\nprovider = \"openai\"\n[providers.stt]\nprovider = \"openai\"\n",
        ))
        .expect("parses");
        let found = problems(&config);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].key, "server.tls_cert");
        assert!(found[0].problem.contains("no certificate"), "{found:?}");
    }

    #[test]
    fn missing_models_are_problems_except_the_optional_turn_model() {
        if std::env::var_os("ORT_DYLIB_PATH").is_some() {
            // The runtime is then wherever that says, and this test writes empty files in place
            // of the models: it must not write there.
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::from_toml(&format!("[models]\ndir = {:?}\n", dir.path())).expect("parses");
        let report = report(&config, None);
        assert!(report.models.iter().all(|m| !m.found));
        let optional: Vec<&str> = report
            .models
            .iter()
            .filter(|m| !m.file.required)
            .map(|m| m.file.used_by)
            .collect();
        assert_eq!(optional, ["Smart Turn"]);
        assert_eq!(
            report.problems.len(),
            report.models.len() - 1,
            "{:?}",
            report.problems
        );
        assert!(report.problems.iter().all(|p| p.key == "models.dir"));

        // Every file in place: nothing to say.
        for model in &report.models {
            std::fs::create_dir_all(model.file.path.parent().expect("in a directory")).expect("mkdir");
            std::fs::write(&model.file.path, b"").expect("write");
        }
        assert_eq!(problems(&config), []);
    }
}
