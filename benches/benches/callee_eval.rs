//! Task success with scripted callees (issue 12): each case of `benches/callees/` is a prompt, a
//! callee who says scripted lines in a chosen voice, and what should come of the call (the fields
//! and their values, the outcome, the AI disclosure first). Rules and format: src/callees.rs.
//!
//! Two runs, one JSON line:
//! - `text`: every case straight into the conversation engine as text (the compiler and the engine,
//!   no speech): microseconds a case, so it runs on the whole corpus even under `cargo test`.
//! - `calls`: real calls on the demo's path (kamailio trunk, a baresip phone, Ringback on its on-box
//!   defaults: Silero VAD, Whisper, Piper, no language model). The callee's lines are rendered in the
//!   case's voice (Piper, espeak-ng, flite; rates, line noise) and played into the phone when the
//!   agent has finished its turn, as the phone hears it (energy on the phone's own recording), picked
//!   by what the agent said (the call's live transcript events).
//!
//! Per part (`dev`: tuned on; `heldout`: never tuned on), the success rate, per kind and per callee
//! behaviour. Failures of the dev part go to stderr; the held-out part's only with
//! `CALLEE_EVAL_SHOW_HELDOUT=1` (reading them is tuning on them).
//!
//! `cargo bench -p ringback-benches --bench callee_eval` runs both on every case (about a minute a
//! call); `cargo test --benches` runs the text part on every case and one real call.
//! `CALLEE_EVAL_CALLS=n` caps the calls per part; `CALLEE_EVAL_ONLY=id,id` picks cases;
//! `CALLEE_EVAL_PARTS=dev` picks parts; `CALLEE_EVAL_TRACE=id` prints that case's transcript.
#![allow(missing_docs)]
#![allow(clippy::print_stdout, clippy::print_stderr)] // the JSON line is this program's output; failures go to stderr

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use agent_runtime::transcript::{Role, Turn};
use ringback::demo::{DemoOptions, DemoSession};
use ringback_benches::callees::{self, CallResult, Case, Reply, ScriptedCallee};
use ringback_testbed::listen::{HeardTail, Talk, TalkWatch};
use ringback_testbed::voice::Voice;
use ringback_testbed::{EventKind, speech};
use serde_json::{Value, json};
use time::Date;
use tokio::sync::mpsc;

/// The number that rings the testbed phone.
const CALLEE_NUMBER: &str = "+15551234567";
/// Longest a call may take before it is counted as failed.
const CALL_DEADLINE: Duration = Duration::from_secs(240);
/// Silence after the agent's audio that ends its turn, as a person waits before answering.
const TURN_GAP_MS: u32 = 900;
/// Line after the words of a callee line, before the quiet line takes over.
const LINE_PAD_S: f32 = 3.0;
/// The quiet line between utterances; longer than any call.
const QUIET_S: f32 = 300.0;

#[derive(Debug, Default)]
struct Tally {
    cases: u32,
    passed: u32,
    by_kind: BTreeMap<String, (u32, u32)>,
    by_behaviour: BTreeMap<String, (u32, u32)>,
    /// How many cases failed for each kind of problem.
    problems: BTreeMap<&'static str, u32>,
    failures: Vec<(String, Vec<String>)>,
}

/// The kind of a problem the scorer wrote, for the per-kind failure counts.
fn problem_kind(problem: &str) -> &'static str {
    let p = problem;
    if p.starts_with("prompt refused") {
        "prompt_refused"
    } else if p.starts_with("the first agent words") {
        "no_disclosure_first"
    } else if p.starts_with("outcome") {
        "wrong_outcome"
    } else if p.starts_with("end_reason") {
        "wrong_end_reason"
    } else if p.starts_with("keys pressed") {
        "wrong_keys"
    } else if p.starts_with("voicemail lacks") {
        "voicemail_message"
    } else if p.starts_with("the call did not run") {
        "call_failed"
    } else if p.ends_with("no question about it") {
        "field_never_asked"
    } else if p.ends_with("not collected") || p.contains("=-") && !p.contains(", got ") {
        "field_not_collected"
    } else if p.contains("should be absent") {
        "field_should_be_absent"
    } else if p.contains(" want ") {
        "field_wrong_or_missing"
    } else {
        "other"
    }
}

impl Tally {
    fn add(&mut self, case: &Case, problems: Vec<String>) {
        let ok = problems.is_empty();
        self.cases += 1;
        self.passed += u32::from(ok);
        let kind = self.by_kind.entry(case.kind.clone()).or_default();
        kind.0 += u32::from(ok);
        kind.1 += 1;
        for b in &case.behaviours {
            let e = self.by_behaviour.entry(b.clone()).or_default();
            e.0 += u32::from(ok);
            e.1 += 1;
        }
        if !ok {
            let mut kinds: Vec<&'static str> = problems.iter().map(|p| problem_kind(p)).collect();
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                *self.problems.entry(k).or_default() += 1;
            }
            self.failures.push((case.id.clone(), problems));
        }
    }

    fn json(&self) -> Value {
        let rate = |m: u32, n: u32| (f64::from(m) / f64::from(n.max(1)) * 1000.0).round() / 1000.0;
        let table = |t: &BTreeMap<String, (u32, u32)>| -> Value {
            t.iter()
                .map(|(k, (m, n))| (k.clone(), json!({"passed": m, "cases": n, "rate": rate(*m, *n)})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "cases": self.cases,
            "passed": self.passed,
            "success_rate": rate(self.passed, self.cases),
            "by_kind": table(&self.by_kind),
            "by_behaviour": table(&self.by_behaviour),
            "failed_cases_by_problem": self.problems,
        })
    }

    fn report(&self, what: &str, part: &str) {
        if part == "heldout" && std::env::var_os("CALLEE_EVAL_SHOW_HELDOUT").is_none() {
            eprintln!("{what} {part}: {} failures (details hidden)", self.failures.len());
            return;
        }
        for (id, problems) in &self.failures {
            eprintln!("{what} {part} FAIL {id}: {}", problems.join("; "));
        }
    }
}

fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn selected(part: &str) -> Vec<Case> {
    let cases = callees::load(part).expect("the callee corpus loads");
    match std::env::var("CALLEE_EVAL_ONLY") {
        Ok(only) => {
            let ids: HashSet<&str> = only.split(',').map(str::trim).collect();
            cases
                .into_iter()
                .filter(|c| ids.contains(c.id.as_str()))
                .collect()
        }
        Err(_) => cases,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let parts: Vec<String> = std::env::var("CALLEE_EVAL_PARTS")
        .map(|p| p.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| {
            ["dev", "dev3", "dev4", "dev5", "heldout"]
                .map(str::to_owned)
                .to_vec()
        });
    let max_calls: usize = std::env::var("CALLEE_EVAL_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { usize::MAX } else { 1 });

    let mut text = serde_json::Map::new();
    for part in &parts {
        let mut tally = Tally::default();
        for case in selected(part) {
            let result = callees::simulate(&case, today());
            if std::env::var("CALLEE_EVAL_TRACE").is_ok_and(|t| t == case.id) {
                trace(&result);
            }
            tally.add(&case, callees::score(&case, &result));
        }
        tally.report("text", part);
        text.insert(part.clone(), tally.json());
    }

    let mut calls = serde_json::Map::new();
    if max_calls > 0 {
        let data = tempfile::tempdir().expect("temp dir");
        let mut options = DemoOptions::standard(data.path().to_owned());
        options.phone_audio = Some(speech::silence(QUIET_S).expect("a silent microphone"));
        let session = DemoSession::start(&options)
            .await
            .expect("the trunk, the phone and the server start");
        for part in &parts {
            // Outside --bench, one call only: the first dev case.
            if !full && part != "dev" {
                continue;
            }
            let mut tally = Tally::default();
            for case in selected(part).into_iter().take(max_calls) {
                let problems = match run_call(&session, &case).await {
                    Ok(result) => {
                        if std::env::var("CALLEE_EVAL_TRACE").is_ok_and(|t| t == case.id) {
                            trace(&result);
                        }
                        callees::score(&case, &result)
                    }
                    Err(e) => vec![format!("the call did not run: {e}")],
                };
                eprintln!(
                    "call {part} {} {}",
                    case.id,
                    if problems.is_empty() { "ok" } else { "FAILED" }
                );
                tally.add(&case, problems);
            }
            tally.report("calls", part);
            // The tiny run under `cargo test --benches` is a smoke test of the harness: a call
            // that could not be placed or run is an error there, a task the agent failed is not.
            if !full {
                let broken: Vec<&(String, Vec<String>)> = tally
                    .failures
                    .iter()
                    .filter(|(_, p)| p.iter().any(|p| problem_kind(p) == "call_failed"))
                    .collect();
                assert!(broken.is_empty(), "calls did not run: {broken:?}");
            }
            calls.insert(part.clone(), tally.json());
        }
        session.server.shutdown().await;
    }

    println!(
        "{}",
        json!({
            "bench": "callee_eval",
            "engine": "deterministic (no LLM)",
            "stack": "silero vad, whisper tiny.en (ct2), piper (ort); G.711 through kamailio and baresip",
            "text": text,
            "calls": calls,
        })
    );
}

/// Prints a call's transcript and fields to stderr (`CALLEE_EVAL_TRACE=<id>`).
fn trace(result: &CallResult) {
    for turn in &result.transcript {
        eprintln!("  {:?} {:>6} {}", turn.role, turn.start_ms, turn.text);
    }
    eprintln!(
        "  fields {:?} end {:?} keys {:?}",
        result.fields, result.end_reason, result.dtmf_sent
    );
}

/// The rendered lines of a case: each line's WAV and how long its words last.
async fn render_lines(case: &Case) -> Result<(Vec<Option<(PathBuf, f32)>>, PathBuf), String> {
    let voice = Voice {
        voice: case.voice.clone(),
        rate: case.rate.unwrap_or(1.0),
        seed: case.seed.unwrap_or(0),
        noise: case.noise.as_ref().map(|n| (n.kind.clone(), n.snr_db, n.seed)),
    };
    let mut out = Vec::new();
    for line in &case.line {
        match (&line.say, line.silent) {
            (Some(text), false) => out.push(Some(
                voice
                    .render(text, LINE_PAD_S, line.beep)
                    .await
                    .map_err(|e| e.to_string())?,
            )),
            _ => out.push(None),
        }
    }
    let quiet = voice.quiet_line(QUIET_S).await.map_err(|e| e.to_string())?;
    Ok((out, quiet))
}

/// The confirm reply, rendered when first needed.
async fn render_text(case: &Case, text: &str) -> Result<(PathBuf, f32), String> {
    let voice = Voice {
        voice: case.voice.clone(),
        rate: case.rate.unwrap_or(1.0),
        seed: case.seed.unwrap_or(0),
        noise: case.noise.as_ref().map(|n| (n.kind.clone(), n.snr_db, n.seed)),
    };
    voice
        .render(text, LINE_PAD_S, false)
        .await
        .map_err(|e| e.to_string())
}

/// What the call's live events said.
#[derive(Debug)]
enum Live {
    AgentTurn(String),
    KeySent,
    Finalized(Value),
}

/// Reads `GET /v1/calls/{id}/events` (server-sent events) into `tx`.
async fn follow_events(url: String, key: String, tx: mpsc::UnboundedSender<Live>) {
    let Ok(mut response) = reqwest::Client::new().get(url).bearer_auth(key).send().await else {
        return;
    };
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut name = "";
            let mut data = String::new();
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            let Ok(data) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let live = match name {
                "transcript" if data["turn"]["role"] == "agent" => {
                    Live::AgentTurn(data["turn"]["text"].as_str().unwrap_or_default().to_owned())
                }
                "dtmf" if data["dtmf"]["direction"] == "sent" => Live::KeySent,
                "call.finalized" => Live::Finalized(data),
                _ => continue,
            };
            if tx.send(live).is_err() {
                return;
            }
        }
    }
}

/// Places one call and plays the callee's part; returns what the call came to.
async fn run_call(session: &DemoSession, case: &Case) -> Result<CallResult, String> {
    let (lines, quiet) = render_lines(case).await?;
    let phone = &session.phone;
    let before: HashSet<PathBuf> = phone.hearing_now().into_iter().collect();
    let base = format!("http://{}", session.server.http_addr);
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth(&session.api_key)
        .json(&json!({"to": CALLEE_NUMBER, "prompt": case.prompt}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status == 422 {
        return Ok(CallResult {
            refused: Some(body["error"]["code"].as_str().unwrap_or("422").to_owned()),
            ..CallResult::default()
        });
    }
    if status != 201 {
        return Err(format!("POST /v1/calls answered {status}: {body}"));
    }
    let call_id = body["call_id"].as_str().unwrap_or_default().to_owned();
    let (tx, mut live) = mpsc::unbounded_channel();
    let events = tokio::spawn(follow_events(
        format!("{base}/v1/calls/{call_id}/events"),
        session.api_key.clone(),
        tx,
    ));
    let outcome = converse(session, case, &lines, &quiet, &before, &mut live).await;
    events.abort();
    // Let the phone's side close before the next call.
    let _ = phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(15))
        .await;
    let call = match outcome {
        Ok(call) => call,
        Err(e) => {
            let _ = http
                .post(format!("{base}/v1/calls/{call_id}/hangup"))
                .bearer_auth(&session.api_key)
                .send()
                .await;
            return Err(e);
        }
    };
    Ok(result_of(case, &call))
}

/// The callee's side of a live call, until the call is finalized; returns the final call object.
async fn converse(
    session: &DemoSession,
    case: &Case,
    lines: &[Option<(PathBuf, f32)>],
    quiet: &std::path::Path,
    before: &HashSet<PathBuf>,
    live: &mut mpsc::UnboundedReceiver<Live>,
) -> Result<Value, String> {
    let phone = &session.phone;
    phone
        .wait_for_event(EventKind::CallEstablished, Duration::from_secs(60))
        .await
        .map_err(|e| format!("the phone never answered: {e}"))?;
    let started = tokio::time::Instant::now();
    let mut callee = ScriptedCallee::new(case);
    // Until `speaking_until`, the callee is saying a line.
    let mut speaking_until = started;
    let mut quiet_on = false;
    match callee.at_answer() {
        Reply::Say { index: Some(i), .. } => {
            let (wav, spoken) = lines[i].clone().ok_or("an at-answer line without words")?;
            phone.play(&wav).await.map_err(|e| e.to_string())?;
            speaking_until = started + Duration::from_secs_f32(spoken);
        }
        _ => {
            phone.play(quiet).await.map_err(|e| e.to_string())?;
            quiet_on = true;
        }
    }
    let mut tail: Option<HeardTail> = None;
    let mut watch = TalkWatch::new(-45.0, 80, TURN_GAP_MS);
    let mut agent_words: Vec<String> = Vec::new();
    let mut turn_over_at: Option<tokio::time::Instant> = None;
    let mut keys_sent_at: Option<tokio::time::Instant> = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(40));
    loop {
        ticker.tick().await;
        let now = tokio::time::Instant::now();
        if now - started > CALL_DEADLINE {
            return Err("the call did not end in time".to_owned());
        }
        while let Ok(event) = live.try_recv() {
            match event {
                Live::AgentTurn(text) => agent_words.push(text),
                Live::KeySent => keys_sent_at = Some(now),
                Live::Finalized(call) => return Ok(call),
            }
        }
        if tail.is_none() {
            tail = phone
                .hearing_now()
                .filter(|p| !before.contains(p))
                .map(HeardTail::new);
        }
        if let Some(t) = tail.as_mut() {
            let samples = t.read_new().map_err(|e| e.to_string())?;
            for talk in watch.feed(&samples) {
                if let Talk::Finished(_) = talk {
                    turn_over_at = Some(now);
                }
            }
        }
        let saying = now < speaking_until;
        if !saying && !quiet_on {
            phone.play(quiet).await.map_err(|e| e.to_string())?;
            quiet_on = true;
        }
        if saying || watch.talking() {
            continue;
        }
        let mut reply = None;
        if let Some(at) = keys_sent_at
            && now - at > Duration::from_millis(1200)
        {
            keys_sent_at = None;
            let r = callee.after_dtmf();
            if r != Reply::Nothing {
                reply = Some(r);
            }
        }
        if reply.is_none()
            && let Some(at) = turn_over_at
        {
            // The turn's words arrive as the agent's audio ends; give them a moment.
            if agent_words.is_empty() && now - at < Duration::from_millis(1500) {
                continue;
            }
            turn_over_at = None;
            let heard = agent_words.join(" ");
            agent_words.clear();
            reply = Some(callee.reply_to(&heard));
        }
        if let Some(Reply::Say { index, text, .. }) = reply {
            let (wav, spoken) = match index.and_then(|i| lines[i].clone()) {
                Some(rendered) => rendered,
                None => render_text(case, &text).await?,
            };
            phone.play(&wav).await.map_err(|e| e.to_string())?;
            quiet_on = false;
            speaking_until = tokio::time::Instant::now() + Duration::from_secs_f32(spoken);
        }
    }
}

/// The scorer's view of a finalized call object.
fn result_of(case: &Case, call: &Value) -> CallResult {
    let transcript: Vec<Turn> = serde_json::from_value(call["transcript"].clone()).unwrap_or_default();
    let dtmf_sent: String = call["dtmf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["direction"] == "sent")
        .filter_map(|d| d["digit"].as_str())
        .collect();
    let outcome = call["outcome"].as_str().unwrap_or_default().to_owned();
    let voicemail_said = if outcome == "voicemail" {
        let last_caller = transcript.iter().rposition(|t| t.role == Role::Caller);
        transcript
            .iter()
            .skip(last_caller.map_or(0, |i| i + 1))
            .filter(|t| t.role == Role::Agent)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    CallResult {
        // The server compiled the same prompt with the same deterministic compiler.
        workflow: agent_runtime::workflow::compile(&case.prompt).ok(),
        refused: None,
        outcome,
        end_reason: call["end_reason"].as_str().map(str::to_owned),
        fields: call["form_fills"].as_object().cloned().unwrap_or_default(),
        transcript,
        dtmf_sent,
        voicemail_said,
    }
}
