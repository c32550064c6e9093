//! Real SIP peers on 127.0.0.1 for Ringback's demo and end-to-end tests.
//!
//! - [`Kamailio`]: the trunk. A registrar and proxy with digest auth and static users (`agent`/`agentpw`,
//!   `alice`/`alicepw`, `bob`/`bobpw`, realm `trunk.test`), on its own UDP port. `+1555...` numbers ring
//!   the registered `alice`; a few numbers answer with fixed failures (see `kamailio.cfg.in`). On request
//!   it also listens on TCP and TLS ([`KamailioOptions::tcp`], [`KamailioOptions::tls`]) and logs the
//!   transport of every request.
//! - [`certs`]: a throwaway CA and a server certificate (for `127.0.0.1`, `localhost`, `trunk.test`) made
//!   with `openssl`, for kamailio's TLS listener and for tests of our own.
//! - [`Phone`]: a baresip user agent that registers to the trunk, plays a WAV as its microphone, records
//!   what it hears and is driven over its `ctrl_tcp` socket.
//! - [`LlamaServer`]: a real OpenAI-compatible chat-completions server (llama.cpp's `llama-server`)
//!   with a real small model (SmolLM2-135M-Instruct), for the agent's LLM path.
//! - [`speech`]: the human side of a call rendered with Piper, transcription with Whisper, and WAV helpers.
//! - [`voice`]: a scripted callee's lines in other voices (espeak-ng, flite, Piper at other rates and
//!   seeds) with line noise; [`listen`]: what the phone hears, read while the call runs, and when the far
//!   end starts and ends a turn.
//!
//! - [`Rtpengine`]: a carrier's media edge (Sipwise rtpengine) that kamailio drives when
//!   [`KamailioOptions::rtpengine`] names it.
//! - [`StunServer`]: coturn answering STUN Binding requests.
//! - [`badline`]: a UDP relay that loses, delays, jitters and duplicates one media stream.
//! - [`netns`]: network namespaces with a NAT router between a LAN and a carrier network, for tests of
//!   real networks (root only).
//!
//! Every process is started in its own process group with its output in a log file, and is stopped when
//! its handle is dropped. Ports are picked per instance, so instances run side by side. The tools are
//! installed by `deploy/setup`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ringback_testbed::TestbedError> {
//! use std::time::Duration;
//! use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
//!
//! let trunk = Kamailio::start(KamailioOptions::default()).await?;
//! let wav = speech::render_phone_audio(&[(1.0, "Hello, this is Alice.")], 30.0).await?;
//! let alice = Phone::start(PhoneOptions::new(trunk.addr(), &wav)).await?;
//! // ... let the system under test call sip:+15551234567@<trunk.addr()> ...
//! alice.wait_for_event(EventKind::CallClosed, Duration::from_secs(60)).await?;
//! if let Some(heard) = alice.heard_wav() {
//!     let words = speech::normalize(&speech::transcribe(&heard).await?);
//!     assert!(words.contains("this call may be recorded"));
//! }
//! # Ok(())
//! # }
//! ```

pub mod badline;
pub mod certs;
mod ctrl;
mod kamailio;
pub mod listen;
mod llama;
pub mod netns;
mod phone;
mod process;
mod rtpengine;
pub mod speech;
mod stun;
mod template;
pub mod voice;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub use certs::TestCertificates;
pub use kamailio::{Kamailio, KamailioOptions};
pub use llama::{LlamaInstall, LlamaServer, LlamaServerOptions};
pub use phone::{EventKind, Phone, PhoneEvent, PhoneOptions};
pub use rtpengine::Rtpengine;
pub use stun::StunServer;

/// Result of the testbed's operations.
pub type Result<T, E = TestbedError> = std::result::Result<T, E>;

/// Everything that can go wrong while starting, driving or stopping the testbed's peers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestbedError {
    /// A per-instance directory (run dir, config dir, record dir, cache dir) could not be made.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A rendered config or an audio file could not be written.
    #[error("cannot write {path}: {source}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No free port could be reserved on 127.0.0.1.
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    FreePort(#[source] io::Error),
    /// A config template still has a placeholder after rendering (a bug in this crate).
    #[error("template {template} has no value for placeholder {placeholder}")]
    Template {
        /// The template's file name.
        template: &'static str,
        /// The placeholder left over, with its braces.
        placeholder: String,
    },
    /// A program could not be started at all (usually: not installed).
    #[error("cannot run {program} (is it installed? run deploy/setup): {source}")]
    Spawn {
        /// The program.
        program: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A program exited while it was starting up.
    #[error("{program} exited during start-up ({status}); end of its log:\n{log_tail}")]
    ExitedEarly {
        /// The program.
        program: &'static str,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A program did not become ready in time.
    #[error("{program} was not ready after {waited:?}; end of its log:\n{log_tail}")]
    NotReady {
        /// The program.
        program: &'static str,
        /// How long we waited.
        waited: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
    /// `openssl` refused to make a test certificate.
    #[error("openssl {args} failed: {stderr}")]
    Openssl {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// The UDP socket used to probe kamailio with OPTIONS failed.
    #[error("SIP probe of {addr} failed: {source}")]
    Probe {
        /// The address probed.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The phone's registration was refused.
    #[error("{user} could not register: {reason}; end of the phone's log:\n{log_tail}")]
    RegisterFailed {
        /// The phone's user.
        user: String,
        /// baresip's reason (the REGISTER_FAIL event's parameter).
        reason: String,
        /// The last lines of the phone's log.
        log_tail: String,
    },
    /// Reading from or writing to baresip's `ctrl_tcp` socket failed.
    #[error("baresip control socket {addr}: {source}")]
    Control {
        /// The control socket's address.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// baresip's `ctrl_tcp` could not listen on the port picked for it.
    #[error("baresip could not listen for control connections; end of its log:\n{log_tail}")]
    ControlListenFailed {
        /// The last lines of the phone's log.
        log_tail: String,
    },
    /// baresip closed its control connection (it exited, or another client connected).
    #[error("baresip closed its control connection")]
    ControlClosed,
    /// baresip sent something on its control socket that is not a netstring of JSON.
    #[error("bad message on baresip's control socket: {0}")]
    ControlProtocol(String),
    /// baresip answered a command with `"ok": false`.
    #[error("baresip refused `{command}`: {reason}")]
    CommandFailed {
        /// The command.
        command: String,
        /// baresip's answer.
        reason: String,
    },
    /// baresip did not answer a command in time.
    #[error("baresip did not answer `{command}` within {waited:?}")]
    CommandTimeout {
        /// The command.
        command: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The awaited phone event did not arrive in time.
    #[error("no {kind:?} event within {waited:?}; events so far: {seen:?}")]
    EventTimeout {
        /// The awaited kind.
        kind: EventKind,
        /// How long we waited.
        waited: Duration,
        /// The kinds of all events received so far, in order.
        seen: Vec<EventKind>,
    },
    /// The language model server or its model is not installed.
    #[error(
        "the LLM test server is not installed ({0} is missing): run deploy/setup (it runs deploy/setup-llm)"
    )]
    LlmMissing(PathBuf),
    /// Neither `RINGBACK_CACHE` nor `HOME` is set, so there is no cache directory.
    #[error("neither RINGBACK_CACHE nor HOME is set")]
    NoCacheDir,
    /// A silence length is negative or not a number.
    #[error("silence of {0} s is not a length")]
    BadSilence(f32),
    /// The Python virtualenv with piper-tts and faster-whisper is missing.
    #[error("the Python virtualenv {0} is missing: run deploy/setup")]
    VenvMissing(PathBuf),
    /// A helper tool (Python script, sox) failed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// Its exit status.
        status: ExitStatus,
        /// The end of its standard error.
        stderr: String,
    },
    /// A helper tool printed something we cannot parse.
    #[error("{tool} printed unexpected output: {output}")]
    ToolOutput {
        /// The tool.
        tool: &'static str,
        /// What it printed.
        output: String,
    },
    /// A path handed to a config file must be absolute, UTF-8 and free of whitespace.
    #[error("path {0} must be absolute, UTF-8 and contain no whitespace")]
    UnusablePath(PathBuf),
    /// A WAV file could not be read.
    #[error("cannot read WAV {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: hound::Error,
    },
    /// An audio file is not in the format the phone plays (8 kHz, mono, 16-bit PCM).
    #[error("{path} is {found}; the phone plays 8000 Hz mono 16-bit PCM WAV")]
    AudioFormat {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: String,
    },
    /// A network namespace, link, address, route or NAT rule could not be set up.
    #[error("network namespaces: `{step}` failed: {detail}")]
    Netns {
        /// The command or call that failed.
        step: String,
        /// What it said.
        detail: String,
    },
    /// A WAV file has no such channel.
    #[error("WAV {path} has {channels} channel(s), no channel {channel}")]
    NoSuchChannel {
        /// The file.
        path: PathBuf,
        /// Its channel count.
        channels: u16,
        /// The channel asked for (0-based).
        channel: u16,
    },
}
