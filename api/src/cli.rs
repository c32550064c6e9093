//! The `ringback` command line: `serve`, `call`, `keys create|list|policy|revoke`, `audit`, `config
//! example|check`, `demo`, `sip-parse`, `analyze`. Logs go to stderr; results go to stdout as JSON
//! so scripts can use them. Every command that reads a configuration takes the global `--config`.

mod config;

use crate::clock::SystemClock;
use crate::config::locate::ConfigFile;
use crate::demo::{self, DemoOptions};
use crate::keys;
use crate::server::Server;
use crate::store::Store;
use clap::{Parser, Subcommand};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Ringback: a self-hosted SIP/RTP voice-agent media server.
#[derive(Debug, Parser)]
#[command(name = "ringback", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The TOML configuration file. When none is named: /etc/ringback/ringback.toml, else
    /// ./ringback.toml, whichever exists first, else the built-in defaults.
    #[arg(long, global = true, env = "RINGBACK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: SIP, media, the agent and the HTTP API.
    Serve,
    /// Place a call through a running server's HTTP API.
    Call {
        /// Number to call, E.164 (e.g. +15551234567).
        #[arg(long)]
        to: String,
        /// What the agent should do on the call.
        #[arg(long)]
        prompt: String,
        /// Where the server should POST the completion callback.
        #[arg(long)]
        callback_url: Option<String>,
        /// Wait until the call is finalized and print the final call object.
        #[arg(long)]
        wait: bool,
        /// Server base URL.
        #[arg(long, env = "RINGBACK_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// API key (from `ringback keys create`).
        #[arg(long, env = "RINGBACK_API_KEY", hide_env_values = true)]
        api_key: String,
    },
    /// Manage API keys (operator commands, writing to the local database directly).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the audit log (keys created, minted and revoked, recordings fetched, destinations
    /// refused, per-key policies set) as JSON lines, oldest first (operator command, reading the
    /// local database directly).
    Audit {
        /// Only rows at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Print a complete, commented configuration file, or check one.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Run one demo call end to end on loopback (kamailio trunk, baresip phone, on-box speech).
    Demo {
        /// Where the demo keeps its database and recordings.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Read one SIP message from FILE and print one JSON line: whether it is well formed, its kind,
    /// method or status, Call-ID, the status a UAS would answer, and the error. Exit 0 whatever the
    /// verdict.
    SipParse {
        /// The file holding exactly the bytes of one message (a datagram).
        file: PathBuf,
    },
    /// Analyse a WAV file as a live call would be (speech, DTMF, beeps, answering machine) and
    /// print one JSON document. A stereo file is analysed on its left channel.
    Analyze {
        /// The WAV file (mono or stereo, PCM or float, any common rate).
        file: PathBuf,
        /// The Silero VAD model (default: `silero_vad.onnx` in the models directory).
        #[arg(long, env = "RINGBACK_SILERO_MODEL")]
        silero_model: Option<PathBuf>,
        /// The ONNX Runtime library (default: `ORT_DYLIB_PATH`, else `libonnxruntime.so` in the
        /// models directory).
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// Decide speech with webrtc-vad alone, without Silero.
        #[arg(long)]
        gate_only: bool,
    },
}

/// `ringback keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        /// A label for the key.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (id, prefix, name, created, revoked) as JSON lines; never the keys themselves.
    List,
    /// Give a key its own destinations (country codes and number prefixes), narrowing the
    /// installation's `[policy]`; with `--beyond-installation` the list replaces the installation's
    /// country codes for this key. Blocked prefixes apply to every key. Prints the key's list.
    Policy {
        /// Key id (`key_...`) or displayed prefix (`rb_live_xxxxxx`).
        key: String,
        /// A country calling code the key may dial, without `+` (repeat for more).
        #[arg(long = "country", value_name = "CODE")]
        countries: Vec<String>,
        /// A number prefix the key may dial, E.164 with `+` (repeat for more).
        #[arg(long = "prefix", value_name = "+DIGITS")]
        prefixes: Vec<String>,
        /// Let the list reach beyond the installation's country codes (an override, recorded in
        /// the audit log like every change).
        #[arg(long)]
        beyond_installation: bool,
        /// Remove the key's list: it follows the installation's `[policy]` alone.
        #[arg(long, conflicts_with_all = ["countries", "prefixes", "beyond_installation"])]
        clear: bool,
    },
    /// Revoke a key by id or prefix; it stops working at once.
    Revoke {
        /// Key id (`key_...`) or displayed prefix (`rb_live_xxxxxx`).
        key: String,
    },
}

/// Sets up logging to stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let config = ConfigFile::locate(cli.config);
    let result = match cli.command {
        Command::Serve => serve(&config).await,
        Command::Call {
            to,
            prompt,
            callback_url,
            wait,
            url,
            api_key,
        } => call(&url, &api_key, &to, &prompt, callback_url, wait).await,
        Command::Keys { command } => match command {
            KeysCommand::Create { name } => create_key(&config, name).await,
            KeysCommand::List => list_keys(&config).await,
            KeysCommand::Revoke { key } => revoke_key(&config, key).await,
            KeysCommand::Policy {
                key,
                countries,
                prefixes,
                beyond_installation,
                clear,
            } => {
                let policy = (!clear).then_some(crate::policy::KeyPolicy {
                    country_codes: countries,
                    prefixes,
                    beyond_installation,
                });
                set_key_policy(&config, key, policy).await
            }
        },
        Command::Audit { since, limit } => print_audit(&config, since, limit).await,
        Command::Config { command } => Ok(config::run(command, &config)),
        Command::Demo { data_dir } => run_demo(data_dir).await,
        Command::SipParse { file } => sip_parse(&file),
        Command::Analyze {
            file,
            silero_model,
            onnxruntime,
            gate_only,
        } => analyze(&config, file, silero_model, onnxruntime, gate_only).await,
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ringback: {message}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::print_stdout)] // stdout is this command's output
fn print_line(value: &Value) {
    println!("{value}");
}

#[allow(clippy::print_stdout)] // stdout is this command's output
fn sip_parse(file: &std::path::Path) -> Result<ExitCode, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let report = sip_stack::message::verdict::inspect(&bytes, &sip_stack::message::Limits::default());
    println!("{}", report.to_json_line());
    Ok(ExitCode::SUCCESS)
}

async fn serve(file: &ConfigFile) -> Result<ExitCode, String> {
    let config = file.load().map_err(|e| e.to_string())?;
    match file.path() {
        Some(path) => tracing::info!(file = %path.display(), "configuration"),
        None => tracing::info!("configuration: no file, the built-in defaults and RINGBACK_* variables"),
    }
    // What `config check` would refuse stops start-up here, by key, before anything is opened.
    let problems = crate::config::check::problems(&config);
    if !problems.is_empty() {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("configuration: {}", listed.join("; ")));
    }
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn call(
    url: &str,
    api_key: &str,
    to: &str,
    prompt: &str,
    callback_url: Option<String>,
    wait: bool,
) -> Result<ExitCode, String> {
    let client = reqwest::Client::new();
    let base = url.trim_end_matches('/');
    let mut body = serde_json::json!({ "to": to, "prompt": prompt });
    if let Some(cb) = callback_url {
        body["callback_url"] = Value::String(cb);
    }
    let response = client
        .post(format!("{base}/v1/calls"))
        .bearer_auth(api_key)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let created: Value = response
        .json()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    if !status.is_success() {
        print_line(&created);
        return Ok(ExitCode::from(1));
    }
    if !wait {
        print_line(&created);
        return Ok(ExitCode::SUCCESS);
    }
    let id = created
        .get("call_id")
        .and_then(Value::as_str)
        .ok_or("answer without call_id")?
        .to_owned();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let call: Value = client
            .get(format!("{base}/v1/calls/{id}"))
            .bearer_auth(api_key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if call.get("lifecycle").and_then(Value::as_str) == Some("finalized") {
            print_line(&call);
            let completed = call.get("outcome").and_then(Value::as_str) == Some("completed");
            return Ok(if completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    }
}

async fn create_key(config: &ConfigFile, name: Option<String>) -> Result<ExitCode, String> {
    let store = open_store(config).await?;
    let key = keys::create(&store, &SystemClock, name, keys::Issuer::Operator)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "Created API key {} ({}). It is shown only once:",
        key.row.id, key.row.prefix
    );
    #[allow(clippy::print_stdout)] // the key is this command's output
    {
        println!("{}", key.secret);
    }
    Ok(ExitCode::SUCCESS)
}

async fn open_store(config: &ConfigFile) -> Result<Store, String> {
    let config = config.load().map_err(|e| e.to_string())?;
    Store::open(&config.storage.database_url())
        .await
        .map_err(|e| e.to_string())
}

async fn list_keys(config: &ConfigFile) -> Result<ExitCode, String> {
    let store = open_store(config).await?;
    for key in keys::list(&store).await.map_err(|e| e.to_string())? {
        print_line(&serde_json::json!({
            "id": key.id,
            "prefix": key.prefix,
            "name": key.name,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
            "policy": keys::policy_of(&key).map_err(|e| e.to_string())?,
        }));
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke_key(config: &ConfigFile, key: String) -> Result<ExitCode, String> {
    let store = open_store(config).await?;
    match keys::revoke(&store, &SystemClock, &key)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(row) => {
            eprintln!("Revoked API key {} ({}).", row.id, row.prefix);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("no active key {key:?}")),
    }
}

async fn print_audit(config: &ConfigFile, since: Option<String>, limit: u32) -> Result<ExitCode, String> {
    let since_ms = match since {
        Some(text) => time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(crate::clock::unix_ms)
            .map_err(|e| format!("--since {text:?}: {e} (use RFC 3339, e.g. 2026-12-01T00:00:00Z)"))?,
        None => 0,
    };
    let store = open_store(config).await?;
    for row in crate::audit::read(&store, since_ms, limit)
        .await
        .map_err(|e| e.to_string())?
    {
        let detail: Value = serde_json::from_str(&row.detail).unwrap_or(Value::String(row.detail));
        print_line(&serde_json::json!({
            "at": row.at,
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "source": row.source,
            "detail": detail,
        }));
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_key_policy(
    config: &ConfigFile,
    key: String,
    policy: Option<crate::policy::KeyPolicy>,
) -> Result<ExitCode, String> {
    let store = open_store(config).await?;
    match keys::set_policy(&store, &SystemClock, &key, policy.as_ref())
        .await
        .map_err(|e| e.to_string())?
    {
        Some(row) => {
            print_line(&serde_json::json!({ "id": row.id, "policy": policy }));
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("no active key {key:?}")),
    }
}

async fn run_demo(data_dir: Option<PathBuf>) -> Result<ExitCode, String> {
    let data_dir = data_dir.unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache").join("ringback").join("demo")
    });
    let run = demo::run(DemoOptions::standard(data_dir))
        .await
        .map_err(|e| e.to_string())?;
    let outcome = run
        .call
        .get("outcome")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    eprintln!(
        "demo: outcome {outcome}; callback signature valid: {}",
        run.callback.signature_valid
    );
    if let Some(turns) = run.call.get("transcript").and_then(Value::as_array) {
        for turn in turns {
            let role = turn.get("role").and_then(Value::as_str).unwrap_or("?");
            let text = turn.get("text").and_then(Value::as_str).unwrap_or("");
            eprintln!("demo:   {role}: {text}");
        }
    }
    if let Some(path) = &run.recording_file {
        eprintln!("demo: recording {}", path.display());
    }
    print_line(&run.call);
    Ok(if outcome == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `ringback analyze`: the live analyzer over a file, Silero in line; prints the DESIGN.md shape.
async fn analyze(
    config: &ConfigFile,
    file: PathBuf,
    silero_model: Option<PathBuf>,
    onnxruntime: Option<PathBuf>,
    gate_only: bool,
) -> Result<ExitCode, String> {
    use media_core::analysis::AnalyzerConfig;
    use media_core::analysis::file::{analyze_audio, read_wav};
    use media_core::analysis::silero::SileroModel;

    // The models the server would use, unless the flags name others.
    let config = config.load().map_err(|e| e.to_string())?;
    let model = silero_model.unwrap_or_else(|| config.silero_model());
    let onnxruntime = onnxruntime.unwrap_or_else(|| config.onnxruntime());
    let report = tokio::task::spawn_blocking(move || {
        let audio = read_wav(&file).map_err(|e| error_chain(&e))?;
        let config = AnalyzerConfig::default();
        if gate_only {
            analyze_audio::<SileroModel>(&audio, config, None)
        } else {
            let mut silero = SileroModel::load(&model, &onnxruntime).map_err(|e| error_chain(&e))?;
            analyze_audio(&audio, config, Some(&mut silero))
        }
        .map_err(|e| error_chain(&e))
    })
    .await
    .map_err(|e| format!("analysis task failed: {e}"))??;
    print_line(&analysis_json(&report));
    Ok(ExitCode::SUCCESS)
}

/// The JSON of `ringback analyze` (DESIGN.md, "Contracts").
pub fn analysis_json(report: &media_core::analysis::file::FileAnalysis) -> Value {
    let round = |x: f32| (f64::from(x) * 1000.0).round() / 1000.0;
    serde_json::json!({
        "duration_ms": report.duration_ms,
        "speech": report.speech.iter().map(|&(s, e)| [s, e]).collect::<Vec<_>>(),
        "dtmf": report.dtmf.iter().map(|d| serde_json::json!({
            "digit": d.digit.to_string(),
            "start_ms": d.start_ms,
            "end_ms": d.end_ms,
        })).collect::<Vec<_>>(),
        "amd": {
            "verdict": report.amd.verdict.as_str(),
            "confidence": round(report.amd.confidence),
            "decided_ms": report.amd.decided_ms,
        },
        "beeps": report.beeps.iter().map(|b| serde_json::json!({
            "start_ms": b.start_ms,
            "end_ms": b.end_ms,
            "hz": (f64::from(b.hz) * 10.0).round() / 10.0,
        })).collect::<Vec<_>>(),
    })
}

/// An error and its sources, one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
