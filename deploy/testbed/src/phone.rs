//! The phone: a baresip user agent registered to the trunk, driven over `ctrl_tcp`.

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::ctrl::Ctrl;
use crate::process::{self, Supervised};
use crate::{Result, TestbedError, template};

const CONFIG_TEMPLATE: &str = include_str!("../baresip/config.in");
const ACCOUNTS_TEMPLATE: &str = include_str!("../baresip/accounts.in");

/// How many RTP ports each phone gets.
const RTP_PORTS: u16 = 40;
/// How many port sets to try when baresip cannot bind the ones we picked.
const PORT_ATTEMPTS: u32 = 3;
/// How long baresip may take to exit after `quit` (it unregisters first).
const QUIT_GRACE: Duration = Duration::from_secs(1);
/// How long baresip may take to exit after SIGTERM, before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);
/// How long a command may take to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often start-up re-checks the log while waiting.
const POLL: Duration = Duration::from_millis(10);

/// How to start a [`Phone`].
#[derive(Debug, Clone)]
pub struct PhoneOptions {
    /// The registrar and outbound proxy, usually [`Kamailio::addr`](crate::Kamailio::addr).
    pub registrar: SocketAddr,
    /// The address the phone listens on and names in its SDP: 127.0.0.1 by default; another one
    /// of the network namespace the caller runs in (see [`netns`](crate::netns)).
    pub ip: Ipv4Addr,
    /// SIP user (and digest user name).
    pub user: String,
    /// Digest password.
    pub password: String,
    /// The microphone: an 8 kHz mono 16-bit WAV played from the moment a call is up. baresip 1.0 hangs up
    /// when it ends, so pad it with silence (~30 s) and hang up explicitly.
    pub audio: PathBuf,
    /// Answer incoming calls at once (`answermode=auto`); otherwise they ring until [`Phone::answer`].
    pub auto_answer: bool,
    /// Where to write recordings; `None` uses a directory removed with the phone.
    pub record_dir: Option<PathBuf>,
    /// How long to wait for the phone to start and register.
    pub ready_timeout: Duration,
    /// The audio codecs the phone offers and accepts, in baresip's `audio_codecs` syntax, in order
    /// of preference: `PCMU,PCMA` by default, `opus/48000/2` for Opus.
    pub codecs: String,
    /// Media must be SDES SRTP (`RTP/SAVP` with `a=crypto`, baresip's `mediaenc=srtp-mand`): calls
    /// offering plain RTP are refused, and the phone's own offers carry keys.
    pub srtp: bool,
}

impl PhoneOptions {
    /// The callee `alice`/`alicepw`, auto-answering, playing `audio`.
    pub fn new(registrar: SocketAddr, audio: impl Into<PathBuf>) -> Self {
        Self {
            registrar,
            ip: Ipv4Addr::LOCALHOST,
            user: "alice".to_owned(),
            password: "alicepw".to_owned(),
            audio: audio.into(),
            auto_answer: true,
            record_dir: None,
            ready_timeout: Duration::from_secs(10),
            codecs: "PCMU,PCMA".to_owned(),
            srtp: false,
        }
    }

    /// The same options with SDES SRTP required (see [`srtp`](Self::srtp)).
    pub fn srtp(mut self) -> Self {
        self.srtp = true;
        self
    }

    /// The same options with another codec list (see [`codecs`](Self::codecs)).
    pub fn codecs(mut self, codecs: &str) -> Self {
        codecs.clone_into(&mut self.codecs);
        self
    }

    /// The same options with another account (e.g. `bob`/`bobpw`).
    pub fn account(mut self, user: &str, password: &str) -> Self {
        user.clone_into(&mut self.user);
        password.clone_into(&mut self.password);
        self
    }
}

/// The kind of a baresip event (its `type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `REGISTER_OK`.
    RegisterOk,
    /// `REGISTER_FAIL`.
    RegisterFail,
    /// `CALL_INCOMING` (only when not auto-answering).
    CallIncoming,
    /// `CALL_RINGING`: the far end rings (outgoing calls).
    CallRinging,
    /// `CALL_PROGRESS`: early media.
    CallProgress,
    /// `CALL_ESTABLISHED`.
    CallEstablished,
    /// `CALL_CLOSED`; the event's `param` is the reason, e.g. `486 Busy Here`.
    CallClosed,
    /// `CALL_DTMF_START`; the event's `param` is the digit.
    CallDtmfStart,
    /// `CALL_DTMF_END`.
    CallDtmfEnd,
    /// Any other type, as sent.
    Other(String),
}

impl EventKind {
    /// Parses baresip's event type.
    pub fn from_wire(kind: &str) -> Self {
        match kind {
            "REGISTER_OK" => Self::RegisterOk,
            "REGISTER_FAIL" => Self::RegisterFail,
            "CALL_INCOMING" => Self::CallIncoming,
            "CALL_RINGING" => Self::CallRinging,
            "CALL_PROGRESS" => Self::CallProgress,
            "CALL_ESTABLISHED" => Self::CallEstablished,
            "CALL_CLOSED" => Self::CallClosed,
            "CALL_DTMF_START" => Self::CallDtmfStart,
            "CALL_DTMF_END" => Self::CallDtmfEnd,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One event from baresip's `ctrl_tcp`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneEvent {
    /// Its type.
    pub kind: EventKind,
    /// Its `param` (close reason, DTMF digit, peer URI, ...), empty if none.
    pub param: String,
    /// The call's peer URI, if it concerns a call.
    pub peer_uri: Option<String>,
    /// baresip's call id, if it concerns a call.
    pub call_id: Option<String>,
    /// The whole message.
    pub json: Value,
}

/// A running baresip registered to the trunk, with its own config dir, ports and recordings.
///
/// It plays [`PhoneOptions::audio`] into calls and records what it hears (`dump-*-dec.wav`, see
/// [`heard_wav`](Self::heard_wav)). Dropping it sends `quit`, then SIGTERM to its process group, then
/// SIGKILL; it blocks for up to 1.5 s (a few milliseconds while the trunk is up).
///
/// This handle holds baresip's only control connection: `ctrl_tcp` serves one client, and a second
/// connection would silently take the events away from it.
#[derive(Debug)]
pub struct Phone {
    user: String,
    sip_addr: SocketAddr,
    record_dir: PathBuf,
    /// Per kind, how many events [`wait_for_event`](Self::wait_for_event) has handed out.
    consumed: Mutex<HashMap<EventKind, usize>>,
    // Field order matters: the control connection closes, then the process stops, then the dir goes.
    ctrl: Ctrl,
    process: Supervised,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// Renders the config, starts `baresip -f <dir>` in its own process group, connects to its control
    /// socket and waits until its REGISTER is answered with 200.
    pub async fn start(options: PhoneOptions) -> Result<Self> {
        check_audio(&options.audio)?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&options).await {
                // A port we picked may have been taken before baresip bound it.
                Err(err @ (TestbedError::ExitedEarly { .. } | TestbedError::ControlListenFailed { .. }))
                    if attempt < PORT_ATTEMPTS =>
                {
                    tracing::warn!(%err, "baresip failed to start; trying other ports");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_once(options: &PhoneOptions) -> Result<Self> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix(&format!("ringback-phone-{}-", options.user))
            .tempdir()
            .map_err(|source| TestbedError::CreateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let config_dir = dir.path().join("config");
        let record_dir = options
            .record_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("recordings"));
        for path in [&config_dir, &record_dir] {
            std::fs::create_dir_all(path).map_err(|source| TestbedError::CreateDir {
                path: path.clone(),
                source,
            })?;
        }

        let sip_port = process::free_udp_and_tcp_port()?;
        let ctrl_port = process::free_tcp_port()?;
        let rtp_min = process::free_udp_port()?.min(u16::MAX - RTP_PORTS) & !1;
        let rtp_max = rtp_min + RTP_PORTS - 1;
        let name = format!("{}-{sip_port}", options.user);
        let config = template::render(
            "baresip/config.in",
            CONFIG_TEMPLATE,
            &[
                ("ip", &options.ip.to_string()),
                ("sip_port", &sip_port.to_string()),
                ("name", &name),
                ("audio_wav", config_path(&options.audio)?),
                ("rtp_min", &rtp_min.to_string()),
                ("rtp_max", &rtp_max.to_string()),
                ("ctrl_port", &ctrl_port.to_string()),
                ("record_dir", config_path(&record_dir)?),
            ],
        )?;
        let accounts = template::render(
            "baresip/accounts.in",
            ACCOUNTS_TEMPLATE,
            &[
                ("user", &options.user),
                ("registrar", &options.registrar.to_string()),
                ("password", &options.password),
                ("answermode", if options.auto_answer { "auto" } else { "manual" }),
                ("codecs", &options.codecs),
                ("mediaenc", if options.srtp { ";mediaenc=srtp-mand" } else { "" }),
            ],
        )?;
        for (file, text) in [("config", config), ("accounts", accounts)] {
            let path = config_dir.join(file);
            std::fs::write(&path, text).map_err(|source| TestbedError::WriteFile { path, source })?;
        }

        let mut command = Command::new("baresip");
        command.arg("-f").arg(&config_dir);
        let mut process = Supervised::spawn("baresip", command, &dir.path().join("baresip.log"), TERM_GRACE)?;

        // baresip prints "baresip is ready." once its modules are loaded, ctrl_tcp's listener included;
        // connecting earlier could reach whoever else holds the port if ctrl_tcp failed to bind it.
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            if started.elapsed() >= options.ready_timeout {
                return Err(process.not_ready(started.elapsed()));
            }
            let log = process.log();
            if log.contains("ctrl_tcp: failed to listen") {
                return Err(TestbedError::ControlListenFailed {
                    log_tail: process.log_tail(),
                });
            }
            if log.contains("baresip is ready.") {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let ctrl_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ctrl_port));
        let ctrl = Ctrl::connect(ctrl_addr)
            .await
            .map_err(|source| TestbedError::Control {
                addr: ctrl_addr,
                source,
            })?;

        let mut state = ctrl.state();
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            let log = process.log();
            if registered(&log, &options.user) {
                break;
            }
            // The log line also covers a failure that came before the control connection did.
            let failure = registration_failure(&log, &options.user).or_else(|| {
                let state = state.borrow();
                state
                    .events
                    .iter()
                    .find(|e| e.kind == EventKind::RegisterFail)
                    .map(|e| e.param.clone())
            });
            if let Some(reason) = failure {
                return Err(TestbedError::RegisterFailed {
                    user: options.user.clone(),
                    reason,
                    log_tail: process.log_tail(),
                });
            }
            if started.elapsed() >= options.ready_timeout {
                return Err(process.not_ready(started.elapsed()));
            }
            // Wake on the next event, or re-read the log shortly.
            if let Ok(Err(_reader_gone)) = tokio::time::timeout(POLL, state.changed()).await {
                tokio::time::sleep(POLL).await;
            }
        }
        tracing::info!(user = %options.user, sip_port, elapsed = ?started.elapsed(), "baresip registered");

        Ok(Self {
            user: options.user.clone(),
            sip_addr: SocketAddr::from((options.ip, sip_port)),
            record_dir,
            consumed: Mutex::new(HashMap::new()),
            ctrl,
            process,
            _dir: dir,
        })
    }

    /// The phone's SIP user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Where the phone listens for SIP (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Where the phone writes `dump-*-dec.wav` (heard) and `dump-*-enc.wav` (sent).
    pub fn record_dir(&self) -> &Path {
        &self.record_dir
    }

    /// Everything baresip has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Calls `uri`, e.g. `sip:+15551234567@127.0.0.1:5060`.
    pub async fn dial(&self, uri: &str) -> Result<()> {
        self.command("dial", uri).await.map(drop)
    }

    /// Answers the ringing incoming call (when not auto-answering).
    pub async fn answer(&self) -> Result<()> {
        self.command("accept", "").await.map(drop)
    }

    /// Hangs up the current call.
    pub async fn hangup(&self) -> Result<()> {
        self.command("hangup", "").await.map(drop)
    }

    /// Sends one DTMF digit (RFC 4733) in the current call.
    pub async fn send_dtmf(&self, digit: char) -> Result<()> {
        self.command("sndcode", &digit.to_string()).await.map(drop)
    }

    /// Runs any baresip command (as typed in its menu, without the slash) and returns its output.
    pub async fn command(&self, command: &str, params: &str) -> Result<String> {
        self.ctrl.command(command, params, COMMAND_TIMEOUT).await
    }

    /// All events received so far, oldest first.
    pub fn events(&self) -> Vec<PhoneEvent> {
        self.ctrl.state().borrow().events.clone()
    }

    /// The next event of `kind` not yet returned by this method, waiting up to `timeout` for it.
    ///
    /// Events are kept from the moment the phone starts, so an event that arrived before the call is not
    /// missed; each one is handed out once, in order (two `CallClosed` waits return two different calls).
    pub async fn wait_for_event(&self, kind: EventKind, timeout: Duration) -> Result<PhoneEvent> {
        let index = self.consumed_count(&kind);
        let mut state = self.ctrl.state();
        let waited = tokio::time::timeout(
            timeout,
            state.wait_for(|s| s.closed || s.events.iter().filter(|e| e.kind == kind).nth(index).is_some()),
        )
        .await;
        let event = match waited {
            Ok(Ok(state)) => state.events.iter().filter(|e| e.kind == kind).nth(index).cloned(),
            Ok(Err(_)) | Err(_) => None,
        };
        match event {
            Some(event) => {
                self.consumed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(kind, index + 1);
                Ok(event)
            }
            None if self.ctrl.state().borrow().closed => Err(TestbedError::ControlClosed),
            None => Err(TestbedError::EventTimeout {
                kind,
                waited: timeout,
                seen: self.events().into_iter().map(|e| e.kind).collect(),
            }),
        }
    }

    /// Switches the microphone to another WAV (8 kHz mono 16-bit) mid-call: it plays from its start.
    /// baresip hangs up when a WAV ends, so give it enough length.
    pub async fn play(&self, wav: &Path) -> Result<()> {
        let path = wav
            .to_str()
            .filter(|p| wav.is_absolute() && !p.contains(char::is_whitespace));
        let Some(path) = path else {
            return Err(TestbedError::UnusablePath(wav.to_owned()));
        };
        self.command("ausrc", &format!("aufile,{path}")).await.map(|_| ())
    }

    /// The recording of what the phone hears in the call now running (the newest `dump-*-dec.wav`,
    /// still being written), for [`HeardTail`](crate::listen::HeardTail).
    pub fn hearing_now(&self) -> Option<PathBuf> {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(&self.record_dir)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
            .collect();
        dumps.sort();
        dumps.pop()
    }

    /// The newest complete recording of what the phone heard (`dump-*-dec.wav`), once its call has ended.
    /// `None` before any call has ended (baresip completes the file's header when the call closes).
    pub fn heard_wav(&self) -> Option<PathBuf> {
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(&self.record_dir)
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
            .collect();
        // Names carry the start time (dump-YYYY-MM-DD-hh-mm-ss-dec.wav), so they sort by age.
        dumps.sort();
        dumps.into_iter().rev().find(|path| wav_is_complete(path))
    }

    fn consumed_count(&self, kind: &EventKind) -> usize {
        self.consumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        // Ask nicely first (baresip unregisters); Supervised's own drop then sends SIGTERM, then SIGKILL,
        // if it is still running.
        if self.ctrl.try_quit() {
            let _exited = self.process.wait_blocking(QUIT_GRACE);
        }
    }
}

/// Whether baresip's log shows its REGISTER answered with 200
/// (`alice@127.0.0.1: {0/UDP/v4} 200 OK (kamailio ...) [1 binding]`).
fn registered(log: &str, user: &str) -> bool {
    let prefix = format!("{user}@");
    log.lines()
        .map(|line| line.rsplit('\r').next().unwrap_or(line))
        .any(|line| line.starts_with(&prefix) && line.contains(" 200 OK"))
}

/// The reason baresip logged for a refused REGISTER
/// (`reg: sip:alice@127.0.0.1:5060: 401 Unauthorized (kamailio ...)`), if any.
fn registration_failure(log: &str, user: &str) -> Option<String> {
    let marker = format!("reg: sip:{user}@");
    log.lines().find_map(|line| {
        let rest = &line[line.find(&marker)? + marker.len()..];
        let reason = &rest[rest.find(": ")? + 2..];
        Some(reason.trim_end().to_owned())
    })
}

/// A path as it goes into baresip's config: absolute, UTF-8, no whitespace.
fn config_path(path: &Path) -> Result<&str> {
    match path.to_str() {
        Some(s) if path.is_absolute() && !s.chars().any(char::is_whitespace) => Ok(s),
        _ => Err(TestbedError::UnusablePath(path.to_owned())),
    }
}

/// The phone's microphone must be an 8 kHz mono 16-bit PCM WAV (G.711 runs at 8 kHz).
fn check_audio(path: &Path) -> Result<()> {
    config_path(path)?;
    let reader = hound::WavReader::open(path).map_err(|source| TestbedError::Wav {
        path: path.to_owned(),
        source,
    })?;
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(TestbedError::AudioFormat {
            path: path.to_owned(),
            found: format!(
                "{} Hz, {} channel(s), {}-bit {:?}",
                spec.sample_rate, spec.channels, spec.bits_per_sample, spec.sample_format
            ),
        });
    }
    Ok(())
}

/// Whether a WAV's RIFF size matches the file's length, i.e. its writer has finished it.
fn wav_is_complete(path: &Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let mut header = [0u8; 8];
    if file.read_exact(&mut header).is_err() || &header[..4] != b"RIFF" {
        return false;
    }
    let riff_size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    len > 44 && u64::from(riff_size) + 8 == len
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_register_200_line() {
        let log = "baresip is ready.\nalice@127.0.0.1: {0/UDP/v4} 200 OK (kamailio (5.6.3)) [1 binding]\n";
        assert!(registered(log, "alice"));
        assert!(!registered(log, "bob"));
        assert!(!registered("baresip is ready.\n", "alice"));
    }

    #[test]
    fn recognises_a_refused_register() {
        let log =
            "baresip is ready.\n\u{1b}[31mreg: sip:alice@127.0.0.1:58697: 401 Unauthorized (kamailio)\n";
        assert_eq!(
            registration_failure(log, "alice").as_deref(),
            Some("401 Unauthorized (kamailio)")
        );
        assert_eq!(registration_failure(log, "bob"), None);
    }

    #[test]
    fn templates_render_without_leftovers() {
        let accounts = template::render(
            "baresip/accounts.in",
            ACCOUNTS_TEMPLATE,
            &[
                ("user", "bob"),
                ("registrar", "127.0.0.1:5099"),
                ("password", "bobpw"),
                ("answermode", "auto"),
                ("codecs", "PCMU,PCMA"),
                ("mediaenc", ";mediaenc=srtp-mand"),
            ],
        )
        .unwrap();
        assert!(accounts.contains("<sip:bob@127.0.0.1:5099;transport=udp>;auth_user=bob;auth_pass=bobpw;"));
        assert!(accounts.contains(";audio_codecs=PCMU,PCMA;"));
        assert!(
            accounts.ends_with(";regint=300;mediaenc=srtp-mand\n"),
            "{accounts}"
        );
        let values = [
            ("ip", "127.0.0.1"),
            ("sip_port", "1"),
            ("name", "n"),
            ("audio_wav", "/a.wav"),
            ("rtp_min", "2"),
            ("rtp_max", "3"),
            ("ctrl_port", "4"),
            ("record_dir", "/r"),
        ];
        let config = template::render("baresip/config.in", CONFIG_TEMPLATE, &values).unwrap();
        assert!(config.contains("audio_source\t\taufile,/a.wav\n"));
    }

    #[test]
    fn event_kinds_round_trip_known_and_unknown_types() {
        assert_eq!(
            EventKind::from_wire("CALL_ESTABLISHED"),
            EventKind::CallEstablished
        );
        assert_eq!(
            EventKind::from_wire("CALL_RTCP"),
            EventKind::Other("CALL_RTCP".to_owned())
        );
    }
}
