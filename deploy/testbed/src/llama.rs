//! A real OpenAI-compatible chat-completions server with a real model: llama.cpp's `llama-server`
//! running SmolLM2-135M-Instruct, both installed under `<cache>/llm` by `deploy/setup-llm` (which
//! `deploy/setup` calls). The model is far too small to hold a call; it is here so the agent's LLM
//! path meets a real server's streaming and tool-call formats rather than our own idea of them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::process::{self, Supervised};
use crate::speech::cache_dir;
use crate::{Result, TestbedError};

/// How often the start-up probe asks `/health`.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// How many ports to try when the server cannot bind the one picked for it.
const PORT_ATTEMPTS: u32 = 3;

/// How long the server may take to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to start a [`LlamaServer`].
#[derive(Debug, Clone)]
pub struct LlamaServerOptions {
    /// The model name the server answers to (`--alias`), which requests must name.
    pub alias: String,
    /// Context size in tokens.
    pub context: u32,
    /// CPU threads for generation.
    pub threads: u32,
    /// How long to wait for `/health` to answer 200 (the model loads in well under a second).
    pub ready_timeout: Duration,
}

impl Default for LlamaServerOptions {
    fn default() -> Self {
        Self {
            alias: "smollm2-135m".to_owned(),
            context: 4096,
            threads: 2,
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// The files `deploy/setup-llm` installs.
#[derive(Debug, Clone)]
pub struct LlamaInstall {
    /// The `llama-server` binary.
    pub server: PathBuf,
    /// The GGUF model.
    pub model: PathBuf,
    /// The chat template with tool calls (ChatML, Hermes-style `<tool_call>`).
    pub template: PathBuf,
}

impl LlamaInstall {
    /// Reads `<cache>/llm/env` (written by `deploy/setup-llm`) and checks that its files exist.
    pub fn find() -> Result<Self> {
        let env = cache_dir()?.join("llm").join("env");
        let text = std::fs::read_to_string(&env).map_err(|_| TestbedError::LlmMissing(env.clone()))?;
        let get = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(PathBuf::from)
                .ok_or_else(|| TestbedError::LlmMissing(env.clone()))
        };
        let install = Self {
            server: get("LLM_SERVER")?,
            model: get("LLM_MODEL")?,
            template: get("LLM_TEMPLATE")?,
        };
        for path in [&install.server, &install.model, &install.template] {
            if !path.is_file() {
                return Err(TestbedError::LlmMissing(path.clone()));
            }
        }
        Ok(install)
    }
}

/// A running `llama-server` on `127.0.0.1:<port>`, serving `/v1/chat/completions` with tool calls
/// (`--jinja` and the installed template). Dropping it stops the server (SIGTERM to the process group
/// we started, SIGKILL after 5 s).
#[derive(Debug)]
pub struct LlamaServer {
    addr: SocketAddr,
    alias: String,
    // Field order matters: the process stops before its log dir is removed.
    process: Supervised,
    log_dir: tempfile::TempDir,
}

impl LlamaServer {
    /// Starts the server on a free port and waits until `/health` answers 200 (model loaded).
    pub async fn start(options: LlamaServerOptions) -> Result<Self> {
        let install = LlamaInstall::find()?;
        let mut attempt = 1;
        loop {
            let port = process::free_tcp_port()?;
            match Self::start_on(port, &install, &options).await {
                // Another process may have taken the port between our probe and the server's bind.
                Err(err @ TestbedError::ExitedEarly { .. }) if attempt < PORT_ATTEMPTS => {
                    tracing::warn!(port, %err, "llama-server failed to start; trying another port");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_on(port: u16, install: &LlamaInstall, options: &LlamaServerOptions) -> Result<Self> {
        let started = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log_dir = tempfile::Builder::new()
            .prefix("ringback-llama-")
            .tempdir()
            .map_err(|source| TestbedError::CreateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let mut command = Command::new(&install.server);
        command
            .arg("-m")
            .arg(&install.model)
            .arg("--chat-template-file")
            .arg(&install.template)
            .args(["--jinja", "--no-webui", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--alias", &options.alias])
            .args(["-c", &options.context.to_string()])
            .args(["-t", &options.threads.to_string()])
            // One slot: the tests send one request at a time, and a slot per core would split the
            // context between them.
            .args(["-np", "1"]);
        let mut process = Supervised::spawn(
            "llama-server",
            command,
            &log_dir.path().join("llama-server.log"),
            STOP_GRACE,
        )?;
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            if started.elapsed() >= options.ready_timeout {
                return Err(process.not_ready(started.elapsed()));
            }
            if health(addr).await == Some(200) {
                break;
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
        tracing::info!(%addr, elapsed = ?started.elapsed(), "llama-server ready");
        Ok(Self {
            addr,
            alias: options.alias.clone(),
            process,
            log_dir,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server root for an OpenAI-compatible client (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The model name requests must name (the alias).
    pub fn model(&self) -> &str {
        &self.alias
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The log file's directory.
    pub fn log_dir(&self) -> &Path {
        self.log_dir.path()
    }
}

/// The status of `GET /health` (200 once the model is loaded, 503 while it loads), or `None` when
/// nothing answers yet.
async fn health(addr: SocketAddr) -> Option<u16> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await?;
        Ok::<_, io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .ok()?
        .ok()?;
    // "HTTP/1.1 200 OK"
    head.split_whitespace().nth(1)?.parse().ok()
}
