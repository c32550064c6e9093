//! The fault-injection suite (issue 15): the real `ringback serve` process, against kamailio as the
//! trunk and a baresip phone speaking Piper speech, is killed (SIGKILL, by pid) at each point of a
//! call's life, and runs on disks that fill up or fail mid-call. Each test prints a table
//! `fault, calls, survived` on stderr (`--no-capture` shows it); the assertions are the verdict.
//!
//! **Kills**, all on one deployment (one database, one recordings directory) restarted after each.
//! How each moment is found:
//!
//! | fault | the kill comes when |
//! |---|---|
//! | queued | the API shows the call `queued` behind a call ringing on the trunk's only channel |
//! | dialing | the API shows the call `dialing` on a trunk that never answers an INVITE |
//! | ringing | the API shows the call `ringing` (kamailio's `+15550000408` rings forever) |
//! | agent speaking | the phone has heard the agent talk for 1.5 s (energy of what it hears) |
//! | answered, mid-turn | the caller's words are in the call's transcript and the agent is answering |
//! | finalizing, finalized, delivering, delivered unmarked | the server announces the point on stderr (`RINGBACK_FAULT_POINT`, `api/src/fault.rs`), where it waits |
//!
//! After the restart every call must be finalized with an outcome and a cause; its recording, when it
//! was answered, served and readable with the audio that reached the disk (the agent's, the
//! caller's); a call never answered has no recording and leaves no file behind; exactly one signed
//! callback reaches the receiver (two copies with one `webhook-id` after a kill between the
//! receiver's 2xx and our mark: the one duplicate at-least-once allows); and every call settled
//! before the kill is exactly as it was.
//!
//! **Disks**, each server in a mount namespace of its own (`common::serve`): recordings on a small
//! tmpfs that fills mid-call, on an ext4 disk that fails (turns read-only) mid-call, and the whole
//! data directory (database too) on a tmpfs that fills mid-call. (`mount -o remount,ro` is refused
//! while the recording is open for writing, and root ignores file modes, so the disk goes
//! read-only the way failing disks do: an ext4 error, `errors=remount-ro`.) The call goes on to its end
//! without dead air and says on the call object why its recording stopped (`media.recording_failed`);
//! what was recorded is served; a call placed on the full or failed disk is refused before dialing
//! with that cause; a call that ends while the database cannot be written is finalized, with its
//! callback, once it can (no restart needed).

mod common;

use common::serve::{Serve, SmallDisk, free_tcp_port};
use common::{Hook, Receiver};
use reqwest::Method;
use ringback_testbed::listen::{HeardTail, Talk, TalkWatch};
use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use serde_json::{Value, json};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROMPT: &str = "You are calling on behalf of Bright Dental to confirm an appointment. \
                      Ask if they can come to their appointment on Tuesday at 3 PM.";
/// What the phone says, ten seconds after it answers (after the agent's disclosure and question).
const ANSWER: &str = "Yes, Tuesday at three works for me. Thank you.";
/// Rings the phone (alice).
const PHONE: &str = "+15551234567";
/// kamailio's numbers with a fixed answer.
const BUSY: &str = "+15550000486";
const DECLINE: &str = "+15550000603";
const UNAVAILABLE: &str = "+15550000480";
const RINGS_FOREVER: &str = "+15550000408";

// ---------------------------------------------------------------------------------------------
// The kills.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_killed_at_any_point_of_its_life_loses_nothing() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    // A trunk that takes every INVITE and answers none: its calls stay `dialing`.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("silent trunk");
    let voice = speech::render_phone_audio(&[(10.0, ANSWER)], 40.0)
        .await
        .expect("renders");
    let phone = Phone::start(PhoneOptions::new(trunk.addr(), &voice))
        .await
        .expect("alice starts");
    let mut callbacks = Callbacks::start().await;
    let mut table = Table::default();
    let mut dep = Deployment::new(&format!(
        "{}[[trunks]]\nname = \"silent\"\nproxy = \"{}\"\ndomain = \"trunk.test\"\n",
        kamailio_trunk(trunk.addr()),
        silent.local_addr().expect("addr"),
    ));
    let hook = callbacks.url();

    // Callbacks: killed between the receiver's 2xx and our mark, before the POST, and before the
    // sender was told. Each kill is at a point the server announces and waits at; no call is
    // live at the next start, so the next point is armed by that restart.
    let server = dep.start(Some("delivered_unmarked"), None).await;
    let unmarked = dep.create(&hook, BUSY, None).await;
    server.wait_for_point("delivered_unmarked").await;
    server.kill();
    let server = dep.start(Some("delivering"), None).await;
    table.verdict(
        "delivered, not yet marked",
        &unmarked,
        Copies::TwoWithOneId,
        dep.check(&server, &unmarked, &Expect::unanswered("busy", "busy here"))
            .await,
    );
    let mut settled = dep.snapshot(std::slice::from_ref(&unmarked)).await;
    let delivering = dep.create(&hook, DECLINE, None).await;
    server.wait_for_point("delivering").await;
    server.kill();
    let server = dep.start(Some("finalized"), None).await;
    table.verdict(
        "delivering",
        &delivering,
        Copies::One,
        dep.check(&server, &delivering, &Expect::unanswered("declined", "decline"))
            .await,
    );
    table.untouched(&dep, &settled).await;
    settled.extend(dep.snapshot(std::slice::from_ref(&delivering)).await);
    let finalized = dep.create(&hook, UNAVAILABLE, None).await;
    server.wait_for_point("finalized").await;
    server.kill();
    let server = dep.start(None, None).await;
    table.verdict(
        "finalized, callback not sent",
        &finalized,
        Copies::One,
        dep.check(
            &server,
            &finalized,
            &Expect::unanswered("no_answer", "temporarily unavailable"),
        )
        .await,
    );
    table.untouched(&dep, &settled).await;
    settled.extend(dep.snapshot(std::slice::from_ref(&finalized)).await);

    // Before the answer: one call rings on the kamailio trunk's only channel, one queues behind
    // it, one is dialing on the silent trunk. Found by polling the API; one kill for all three.
    let ringing = dep.create(&hook, RINGS_FOREVER, None).await;
    dep.wait_for(&ringing, "ringing").await;
    let queued = dep.create(&hook, BUSY, None).await;
    let dialing = dep.create(&hook, PHONE, Some("silent")).await;
    dep.wait_for(&dialing, "dialing").await;
    assert_eq!(dep.call(&queued).await["lifecycle"], "queued");
    server.kill();
    let server = dep.start(None, None).await;
    let interrupted = Expect::unanswered("failed", "interrupted");
    for (fault, id, expect) in [
        ("ringing", &ringing, &interrupted),
        ("dialing", &dialing, &interrupted),
        // Queued before the crash, placed after it.
        ("queued", &queued, &Expect::unanswered("busy", "busy here")),
    ] {
        table.verdict(fault, id, Copies::One, dep.check(&server, id, expect).await);
    }
    table.untouched(&dep, &settled).await;
    settled.extend(dep.snapshot(&[ringing, dialing, queued]).await);

    // The agent speaking: the phone hears its disclosure.
    let ear = Ear::new(&phone);
    let speaking = dep.create(&hook, PHONE, None).await;
    ear.agent_talking_for(&phone, 1500).await;
    server.kill();
    hang_up(&phone).await;
    let server = dep.start(None, None).await;
    let mut expect = Expect::answered("failed", "interrupted", Audio::Agent);
    table.verdict(
        "agent speaking",
        &speaking,
        Copies::One,
        dep.check(&server, &speaking, &expect).await,
    );
    table.untouched(&dep, &settled).await;
    settled.extend(dep.snapshot(std::slice::from_ref(&speaking)).await);

    // Mid-turn: the caller's answer is in the transcript; the agent is answering it.
    let mid_turn = dep.create(&hook, PHONE, None).await;
    dep.wait_until(&mid_turn, "a caller turn", Duration::from_secs(60), |call| {
        has_caller_turn(call)
    })
    .await;
    server.kill();
    hang_up(&phone).await;
    let server = dep.start(None, None).await;
    expect.audio = Audio::Both;
    expect.caller_spoke = true;
    table.verdict(
        "answered, mid-turn",
        &mid_turn,
        Copies::One,
        dep.check(&server, &mid_turn, &expect).await,
    );
    table.untouched(&dep, &settled).await;
    settled.extend(dep.snapshot(std::slice::from_ref(&mid_turn)).await);

    // Finalizing: the conversation ended and its report is ready, not yet stored.
    server.kill();
    let server = dep.start(Some("finalizing"), None).await;
    let finalizing = dep.create(&hook, PHONE, None).await;
    server.wait_for_point("finalizing").await;
    server.kill();
    hang_up(&phone).await;
    let server = dep.start(None, None).await;
    table.verdict(
        "finalizing",
        &finalizing,
        Copies::One,
        dep.check(&server, &finalizing, &expect).await,
    );
    table.untouched(&dep, &settled).await;

    table.callbacks(&mut callbacks).await;
    drop(server);
    table.report("kills");
}

// ---------------------------------------------------------------------------------------------
// The disks.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_failing_disk_never_costs_the_call() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let voice = speech::render_phone_audio(&[(10.0, ANSWER)], 40.0)
        .await
        .expect("renders");
    let phone = Phone::start(PhoneOptions::new(trunk.addr(), &voice))
        .await
        .expect("alice starts");
    let mut callbacks = Callbacks::start().await;
    let mut table = Table::default();
    let hook = callbacks.url();
    // The call goes on; the recording stops where the disk did, and the call says why.
    let goes_on = |why: &'static [&'static str]| Expect {
        recording_failed: Some(why),
        caller_spoke: true,
        ..Expect::answered("completed", "completed", Audio::Agent)
    };

    // Recordings on a tmpfs that fills mid-call.
    let dep = Deployment::new(&kamailio_trunk(trunk.addr()));
    let recordings = dep.recordings();
    std::fs::create_dir_all(&recordings).expect("recordings dir");
    let server = dep
        .start_on(None, Some((&recordings, SmallDisk::Tmpfs { bytes: 4 << 20 })))
        .await;
    let dep = dep.with_key(&server);
    let ear = Ear::new(&phone);
    let full = dep.create(&hook, PHONE, None).await;
    ear.agent_talking_for(&phone, 1000).await;
    assert!(server.fill_disk() > 0, "the tmpfs took a filler");
    table.verdict(
        "recordings disk full mid-call",
        &full,
        Copies::One,
        dep.check(&server, &full, &goes_on(&["No space left on device"]))
            .await,
    );
    let _ = phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(10))
        .await;
    let settled = dep.snapshot(std::slice::from_ref(&full)).await;
    let refused = dep.create(&hook, PHONE, None).await;
    table.verdict(
        "recordings disk full before dialing",
        &refused,
        Copies::One,
        dep.check(
            &server,
            &refused,
            &Expect::unanswered("failed", "cannot create the call's recording"),
        )
        .await,
    );
    table.untouched(&dep, &settled).await;
    drop(server);

    // Recordings on an ext4 disk that fails mid-call (the kernel turns it read-only).
    let dep = Deployment::new(&kamailio_trunk(trunk.addr()));
    let recordings = dep.recordings();
    std::fs::create_dir_all(&recordings).expect("recordings dir");
    let image = dep.dir.path().join("recordings.ext4");
    let server = dep
        .start_on(
            None,
            Some((
                &recordings,
                SmallDisk::Ext4 {
                    image,
                    bytes: 16 << 20,
                },
            )),
        )
        .await;
    let dep = dep.with_key(&server);
    let ear = Ear::new(&phone);
    let failed = dep.create(&hook, PHONE, None).await;
    ear.agent_talking_for(&phone, 1000).await;
    server.fail_disk();
    table.verdict(
        "recordings disk fails mid-call (read-only)",
        &failed,
        Copies::One,
        dep.check(
            &server,
            &failed,
            &goes_on(&["Read-only file system", "Input/output error"]),
        )
        .await,
    );
    let _ = phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(10))
        .await;
    let settled = dep.snapshot(std::slice::from_ref(&failed)).await;
    let refused = dep.create(&hook, PHONE, None).await;
    table.verdict(
        "recordings disk read-only before dialing",
        &refused,
        Copies::One,
        dep.check(
            &server,
            &refused,
            &Expect::unanswered("failed", "cannot create the call's recording"),
        )
        .await,
    );
    table.untouched(&dep, &settled).await;
    drop(server);

    // The whole data directory, database too, on a tmpfs that fills mid-call: the call ends while
    // nothing can be written, and is finalized (with its callback) once the disk has room again.
    let dep = Deployment::new(&kamailio_trunk(trunk.addr()));
    std::fs::create_dir_all(&dep.data).expect("data dir");
    let server = dep
        .start_on(None, Some((&dep.data, SmallDisk::Tmpfs { bytes: 32 << 20 })))
        .await;
    let dep = dep.with_key(&server);
    let ear = Ear::new(&phone);
    let stuck = dep.create(&hook, PHONE, None).await;
    ear.agent_talking_for(&phone, 1000).await;
    assert!(server.fill_disk() > 0, "the tmpfs took a filler");
    let mut problems = Vec::new();
    if !server
        .wait_for_log("cannot finalize call", Duration::from_secs(90))
        .await
    {
        problems.push("the call's end was never refused by the full database".to_owned());
    }
    let _ = phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(10))
        .await;
    if dep.call(&stuck).await["lifecycle"] == "finalized" {
        problems.push("finalized although the database's disk was full".to_owned());
    }
    server.free_disk();
    problems.extend(
        dep.check(&server, &stuck, &goes_on(&["No space left on device"]))
            .await,
    );
    table.verdict(
        "data disk (database too) full mid-call",
        &stuck,
        Copies::One,
        problems,
    );
    drop(server);

    table.callbacks(&mut callbacks).await;
    table.report("disks");
}

// ---------------------------------------------------------------------------------------------
// A deployment: its config, database and recordings, across the processes that serve it.
// ---------------------------------------------------------------------------------------------

/// The `[[trunks]]` entry of the testbed's kamailio, with one channel (so calls can queue).
fn kamailio_trunk(addr: SocketAddr) -> String {
    format!(
        "[[trunks]]\nname = \"kamailio\"\nproxy = \"{addr}\"\ndomain = \"trunk.test\"\nusername = \"agent\"\n\
         password = \"agentpw\"\nmax_concurrent_calls = 1\n"
    )
}

/// One deployment of Ringback: a config file and a data directory that outlive the processes.
struct Deployment {
    dir: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
    port: u16,
    key: String,
    /// Servers started so far (each logs to its own file).
    starts: Cell<usize>,
}

impl Deployment {
    /// A deployment with the trunks in `trunks` (TOML), fast webhook retries (a callback claimed
    /// by a process that died is retried once its lease ends: the 1 s timeout plus 30 s), and no
    /// request rate limit to speak of (the test polls).
    fn new(trunks: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let port = free_tcp_port();
        let config = dir.path().join("ringback.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
                 [media]\nring_timeout_secs = 600\n[storage]\ndata_dir = \"{data}\"\n\
                 [webhooks]\nallow_private = true\nsecret = \"{secret}\"\nretry_schedule = [\"1s\", \"2s\"]\n\
                 timeout_secs = 1\n[limits]\nrequests_per_minute = 100000\n{trunks}",
                data = data.display(),
                secret = common::SECRET,
            ),
        )
        .expect("config");
        Self {
            dir,
            config,
            data,
            port,
            key: String::new(),
            starts: Cell::new(0),
        }
    }

    fn recordings(&self) -> PathBuf {
        self.data.join("recordings")
    }

    /// Starts a server (the next one of this deployment) with `fault` armed; the first one makes
    /// the API key.
    async fn start(&mut self, fault: Option<&str>, disk: Option<(&Path, SmallDisk)>) -> Serve {
        let server = self.start_on(fault, disk).await;
        if self.key.is_empty() {
            self.key = make_key(&server, &self.config);
        }
        server
    }

    /// Starts a server without making a key (see [`with_key`](Self::with_key)).
    async fn start_on(&self, fault: Option<&str>, disk: Option<(&Path, SmallDisk)>) -> Serve {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        let log = self.dir.path().join(format!("serve-{n}.log"));
        let env: Vec<(&str, &str)> = fault
            .map(|point| ("RINGBACK_FAULT_POINT", point))
            .into_iter()
            .collect();
        Serve::start(&self.config, self.port, &log, &env, disk).await
    }

    /// The deployment with a key made beside `server` (in its mount namespace).
    fn with_key(mut self, server: &Serve) -> Self {
        self.key = make_key(server, &self.config);
        self
    }

    async fn http(&self, method: Method, path: &str, body: Option<Value>) -> (u16, reqwest::Response) {
        let mut request = reqwest::Client::new()
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        (response.status().as_u16(), response)
    }

    /// Places a call through the native API; its id.
    async fn create(&self, callback: &str, to: &str, trunk: Option<&str>) -> String {
        let mut body = json!({"to": to, "prompt": PROMPT, "callback_url": callback});
        if let Some(trunk) = trunk {
            body["trunk"] = json!(trunk);
        }
        let (status, response) = self.http(Method::POST, "/v1/calls", Some(body)).await;
        let created: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "{created}");
        created["call_id"].as_str().expect("call id").to_owned()
    }

    async fn call(&self, id: &str) -> Value {
        let (_, response) = self.http(Method::GET, &format!("/v1/calls/{id}"), None).await;
        response.json().await.unwrap_or(Value::Null)
    }

    async fn wait_until(
        &self,
        id: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let call = self.call(id).await;
            if done(&call) {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {id} never reached {what}: {call:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_for(&self, id: &str, lifecycle: &str) -> Value {
        self.wait_until(id, lifecycle, Duration::from_secs(90), |call| {
            call["lifecycle"] == lifecycle
        })
        .await
    }

    /// The call objects of `ids` as they are now.
    async fn snapshot(&self, ids: &[String]) -> HashMap<String, Value> {
        let mut calls = HashMap::new();
        for id in ids {
            calls.insert(id.clone(), self.call(id).await);
        }
        calls
    }

    /// What is wrong with call `id` after the fault, against `expect` (empty when nothing).
    async fn check(&self, server: &Serve, id: &str, expect: &Expect) -> Vec<String> {
        let mut problems = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let call = loop {
            let call = self.call(id).await;
            if call["lifecycle"] == "finalized" {
                break call;
            }
            if tokio::time::Instant::now() >= deadline {
                return vec![format!("never finalized: {call}")];
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if call["outcome"] != expect.outcome {
            problems.push(format!(
                "outcome {} (expected {})",
                call["outcome"], expect.outcome
            ));
        }
        // The cause: why it failed, the SIP reason, or why the agent ended it.
        let cause: Vec<&str> = [&call["error"], &call["sip"]["reason"], &call["end_reason"]]
            .into_iter()
            .filter_map(Value::as_str)
            .filter(|c| !c.is_empty())
            .collect();
        let cause = cause.join(" / ");
        if cause.is_empty() || !cause.to_lowercase().contains(expect.cause) {
            problems.push(format!("cause {cause:?} (expected {:?})", expect.cause));
        }
        if expect.caller_spoke && !has_caller_turn(&call) {
            problems.push("the caller's words are not in the transcript".to_owned());
        }
        let failed = call["media"]["recording_failed"].as_str();
        match (expect.recording_failed, failed) {
            (None, None) => {}
            (Some(why), Some(said)) if why.iter().any(|w| said.contains(w)) => {}
            (want, said) => problems.push(format!(
                "media.recording_failed {said:?} (expected one of {want:?})"
            )),
        }
        let (status, response) = self
            .http(Method::GET, &format!("/v1/calls/{id}/recording"), None)
            .await;
        let file = server.path_inside(&self.recordings().join(format!("{id}.wav")));
        let mut recorded = None;
        match expect.audio {
            Audio::None => {
                if status != 404 || !call["recording_url"].is_null() {
                    problems.push(format!("a call never answered has a recording ({status})"));
                }
                if file.exists() {
                    problems.push(format!("{} is left behind", file.display()));
                }
            }
            audio => {
                let bytes = response.bytes().await.unwrap_or_default();
                if status != 200 || call["recording_url"].is_null() {
                    problems.push(format!("the recording is not served ({status})"));
                } else {
                    let (seconds, missing) = audio.missing_from(&bytes);
                    recorded = Some(seconds);
                    problems.extend(missing);
                }
            }
        }
        eprintln!(
            "{id}: {} ({cause}); recording {}; recording_failed {failed:?}",
            call["outcome"],
            recorded.map_or("none".to_owned(), |s| format!("{s:.1} s")),
        );
        problems
    }
}

/// An API key, made as an operator makes one (`ringback keys create`), beside `server`.
fn make_key(server: &Serve, config: &Path) -> String {
    let made = server.run_beside(&[
        OsStr::new("keys"),
        OsStr::new("create"),
        OsStr::new("--config"),
        config.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    String::from_utf8(made.stdout).expect("utf-8").trim().to_owned()
}

impl Serve {
    /// Waits for the armed fault point's announcement (the server now waits there).
    async fn wait_for_point(&self, point: &str) {
        let line = format!("RINGBACK_FAULT_POINT {point} reached");
        assert!(
            self.wait_for_log(&line, Duration::from_secs(90)).await,
            "the server never reached {point}:\n{}",
            self.log()
        );
    }
}

fn has_caller_turn(call: &Value) -> bool {
    call["transcript"]
        .as_array()
        .is_some_and(|turns| turns.iter().any(|t| t["role"] == "caller"))
}

/// Hangs the phone up after its caller died (nobody sent it a BYE); harmless when it is idle.
async fn hang_up(phone: &Phone) {
    let _ = phone.hangup().await;
    let _ = phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(10))
        .await;
}

// ---------------------------------------------------------------------------------------------
// What a call must look like after its fault.
// ---------------------------------------------------------------------------------------------

/// The audio a recording must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audio {
    /// No recording at all, and no file.
    None,
    /// The agent's voice (right channel).
    Agent,
    /// The agent's and the caller's (left channel).
    Both,
}

impl Audio {
    /// How long the WAV in `bytes` is (seconds), and what it lacks.
    fn missing_from(self, bytes: &[u8]) -> (f64, Vec<String>) {
        let reader = match hound::WavReader::new(std::io::Cursor::new(bytes)) {
            Ok(r) => r,
            Err(err) => return (0.0, vec![format!("the served recording is not a WAV: {err}")]),
        };
        let spec = reader.spec();
        let samples: Vec<i16> = reader.into_samples::<i16>().map_while(Result::ok).collect();
        let frames = samples.len() / usize::from(spec.channels.max(1));
        let seconds = frames as f64 / f64::from(spec.sample_rate.max(1));
        let mut missing = Vec::new();
        if seconds < 0.5 {
            missing.push(format!("the recording holds {frames} samples"));
            return (seconds, missing);
        }
        let mut channels = vec![("agent", 1usize)];
        if self == Audio::Both {
            channels.push(("caller", 0));
        }
        for (who, channel) in channels {
            let loudest = loudest_frame(&samples, usize::from(spec.channels), channel);
            if loudest < 500.0 {
                missing.push(format!(
                    "no {who} audio in the recording (loudest 20 ms RMS {loudest:.0})"
                ));
            }
        }
        (seconds, missing)
    }
}

/// The RMS of the loudest 20 ms (at 8 kHz) of one channel of interleaved samples.
fn loudest_frame(samples: &[i16], channels: usize, channel: usize) -> f64 {
    let mono: Vec<f64> = samples
        .iter()
        .skip(channel)
        .step_by(channels.max(1))
        .map(|&s| f64::from(s))
        .collect();
    mono.chunks(160)
        .map(|f| (f.iter().map(|x| x * x).sum::<f64>() / f.len() as f64).sqrt())
        .fold(0.0, f64::max)
}

#[derive(Debug, Clone)]
struct Expect {
    outcome: &'static str,
    /// Words of the call's cause (its `error` or SIP reason), lower case.
    cause: &'static str,
    audio: Audio,
    /// Whether the caller's words must be in the transcript.
    caller_spoke: bool,
    /// What `media.recording_failed` must say (one of these), or that it is absent.
    recording_failed: Option<&'static [&'static str]>,
}

impl Expect {
    fn unanswered(outcome: &'static str, cause: &'static str) -> Self {
        Self {
            outcome,
            cause,
            audio: Audio::None,
            caller_spoke: false,
            recording_failed: None,
        }
    }

    fn answered(outcome: &'static str, cause: &'static str, audio: Audio) -> Self {
        Self {
            audio,
            ..Self::unanswered(outcome, cause)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The phone's ear: when the agent is talking.
// ---------------------------------------------------------------------------------------------

/// What the phone hears in its next call.
struct Ear {
    before: HashSet<PathBuf>,
}

impl Ear {
    /// Made before the call, to tell its recording from the last call's.
    fn new(phone: &Phone) -> Self {
        Self {
            before: phone.hearing_now().into_iter().collect(),
        }
    }

    /// Returns once the phone answered and has heard the agent talk for `ms` without a pause.
    async fn agent_talking_for(self, phone: &Phone, ms: u64) {
        phone
            .wait_for_event(EventKind::CallEstablished, Duration::from_secs(60))
            .await
            .expect("the phone answers");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut tail = None;
        let mut watch = TalkWatch::new(-45.0, 80, 400);
        let mut heard_ms = 0u64;
        let mut since = None;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the phone never heard the agent talk for {ms} ms"
            );
            if tail.is_none() {
                tail = phone
                    .hearing_now()
                    .filter(|p| !self.before.contains(p))
                    .map(HeardTail::new);
            }
            if let Some(tail) = &mut tail {
                let samples = tail.read_new().unwrap_or_default();
                for talk in watch.feed(&samples) {
                    since = match talk {
                        Talk::Started(at) => Some(at),
                        Talk::Finished(_) => None,
                    };
                }
                heard_ms += samples.len() as u64 / 8;
                if since.is_some_and(|at| heard_ms >= at + ms) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks and the table.
// ---------------------------------------------------------------------------------------------

/// The webhook receiver, with every delivery it has seen.
struct Callbacks {
    receiver: Receiver,
    seen: Vec<Hook>,
}

impl Callbacks {
    async fn start() -> Self {
        Self {
            receiver: Receiver::start(0).await,
            seen: Vec::new(),
        }
    }

    fn url(&self) -> String {
        self.receiver.url()
    }

    /// The deliveries of call `id`, waiting up to `until` for `copies` of them.
    async fn of(&mut self, id: &str, copies: usize, until: tokio::time::Instant) -> Vec<Hook> {
        loop {
            while let Ok(hook) = self.receiver.hooks.try_recv() {
                self.seen.push(hook);
            }
            let mine: Vec<Hook> = self
                .seen
                .iter()
                .filter(|h| h.body["data"]["call_id"] == id)
                .cloned()
                .collect();
            if mine.len() >= copies || tokio::time::Instant::now() >= until {
                return mine;
            }
            let _ = tokio::time::timeout_at(until, async {
                if let Some(hook) = self.receiver.hooks.recv().await {
                    self.seen.push(hook);
                }
            })
            .await;
        }
    }
}

/// How many copies of a call's callback the receiver must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Copies {
    One,
    /// Killed between the receiver's 2xx and our mark: delivered again, with the same id.
    TwoWithOneId,
}

/// One call's verdict.
struct Verdict {
    fault: &'static str,
    id: String,
    copies: Copies,
    problems: Vec<String>,
}

/// The verdicts, by fault.
#[derive(Default)]
struct Table {
    verdicts: Vec<Verdict>,
}

impl Table {
    fn verdict(&mut self, fault: &'static str, id: &str, copies: Copies, problems: Vec<String>) {
        self.verdicts.push(Verdict {
            fault,
            id: id.to_owned(),
            copies,
            problems,
        });
    }

    /// Every call of `settled` must be as it was before the last fault.
    async fn untouched(&mut self, dep: &Deployment, settled: &HashMap<String, Value>) {
        for (id, before) in settled {
            let now = dep.call(id).await;
            if &now != before
                && let Some(v) = self.verdicts.iter_mut().find(|v| &v.id == id)
            {
                v.problems
                    .push(format!("changed by a later fault: {before} -> {now}"));
            }
        }
    }

    /// Every call's callbacks: signed, one `webhook-id`, as many copies as its fault allows, the
    /// finalized call in the body.
    async fn callbacks(&mut self, callbacks: &mut Callbacks) {
        // A callback claimed by a killed process is retried when its lease ends (31 s here).
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        for verdict in &mut self.verdicts {
            let copies = match verdict.copies {
                Copies::One => 1,
                Copies::TwoWithOneId => 2,
            };
            let hooks = callbacks.of(&verdict.id, copies, until).await;
            if hooks.len() != copies {
                verdict
                    .problems
                    .push(format!("{} callback copies (expected {copies})", hooks.len()));
            }
            let ids: HashSet<&str> = hooks.iter().map(|h| h.id.as_str()).collect();
            if ids.len() > 1 {
                verdict
                    .problems
                    .push(format!("copies with different webhook-ids: {ids:?}"));
            }
            if hooks.iter().any(|h| !h.signature_valid) {
                verdict
                    .problems
                    .push("a callback's signature is invalid".to_owned());
            }
            if hooks
                .iter()
                .any(|h| h.body["data"]["lifecycle"] != "finalized" || h.body["data"]["outcome"].is_null())
            {
                verdict
                    .problems
                    .push("a callback does not carry the finalized call".to_owned());
            }
        }
        // Nothing more arrives for anyone (a retry after a 2xx would).
        tokio::time::sleep(Duration::from_secs(3)).await;
        for verdict in &mut self.verdicts {
            let copies = match verdict.copies {
                Copies::One => 1,
                Copies::TwoWithOneId => 2,
            };
            let all = callbacks
                .of(&verdict.id, usize::MAX, tokio::time::Instant::now())
                .await;
            if all.len() > copies {
                verdict
                    .problems
                    .push(format!("{} callback copies in the end", all.len()));
            }
        }
    }

    /// Prints `fault, calls, survived` and fails on any problem.
    fn report(&self, title: &str) {
        let mut faults: Vec<&str> = Vec::new();
        for v in &self.verdicts {
            if !faults.contains(&v.fault) {
                faults.push(v.fault);
            }
        }
        let width = faults.iter().map(|f| f.len()).max().unwrap_or(5).max(5);
        eprintln!("\nfault injection ({title}):");
        eprintln!("| {:width$} | calls | survived |", "fault");
        eprintln!("|{}|-------|----------|", "-".repeat(width + 2));
        for fault in &faults {
            let calls: Vec<&Verdict> = self.verdicts.iter().filter(|v| v.fault == *fault).collect();
            let survived = calls.iter().filter(|v| v.problems.is_empty()).count();
            eprintln!("| {fault:width$} | {:5} | {survived:8} |", calls.len());
        }
        let problems: Vec<String> = self
            .verdicts
            .iter()
            .flat_map(|v| {
                v.problems
                    .iter()
                    .map(move |p| format!("{} ({}): {p}", v.fault, v.id))
            })
            .collect();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
