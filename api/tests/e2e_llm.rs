//! The LLM path against a real OpenAI-compatible server running a real model: llama.cpp's
//! `llama-server` with SmolLM2-135M-Instruct (installed by `deploy/setup`, started here on a free
//! loopback port and stopped by pid), in real calls through kamailio to a baresip phone whose callee
//! answers when the agent's turn has ended.
//!
//! The model is far too small to hold a call; these tests check the plumbing, not its wit. A proxy
//! between Ringback and the server passes the server's bytes through unchanged and records them; it
//! only shapes each request so the turn is known: `tool_choice: "none"` for a spoken turn; the tools
//! narrowed to one, `tool_choice: "required"` and the assistant turn prefilled with `<tool_call>`
//! for a forced call (this llama.cpp lets `"required"` write text before the call, which the tiny
//! model does until its token limit); a GBNF `grammar` for garbage or an empty answer; and a
//! grammar of `{}` for the prompt's compilation, so the built-in compiler's workflow is used and the
//! script is known.

use agent_runtime::llm::LlmConfig;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use ringback::demo::{DemoOptions, DemoRun, DemoSession};
use ringback_testbed::listen::{HeardTail, Talk, TalkWatch};
use ringback_testbed::{EventKind, LlamaServer, LlamaServerOptions, speech};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const PROMPT: &str = "You are calling on behalf of Bright Dental. \
    Ask if they can come to their appointment on Tuesday at 3 PM. \
    Get their email address for the reminder.";

/// The longest free-text argument the proxy lets the model write in a forced tool call.
const FREE_TEXT_CHARS: u64 = 40;

/// The token budget of a forced tool call: enough for its JSON with a capped free-text argument.
const CALL_TOKENS: u64 = 120;

/// How the proxy shapes one streamed conversation turn.
#[derive(Debug, Clone)]
enum Turn {
    /// The model writes text (`tool_choice: "none"`).
    Speak,
    /// The model must call this tool, and only it.
    Call(&'static str),
    /// The model writes exactly this text (a grammar), tool calls off.
    Write(&'static str),
    /// Nothing is forwarded for this long (the server seems dead).
    Stall(Duration),
}

/// One request through the proxy: what went to the server and what came back, byte for byte.
#[derive(Debug, Clone)]
struct Exchange {
    request: Value,
    response: String,
    /// The answer is over: streamed to its end, or abandoned by the client.
    over: bool,
}

/// Marks its exchange over when dropped: when the forwarding ends, or when the client goes away
/// while the proxy is still holding the request back.
struct Over(Arc<Mutex<Vec<Exchange>>>, usize);

impl Drop for Over {
    fn drop(&mut self) {
        if let Ok(mut log) = self.0.lock() {
            log[self.1].over = true;
        }
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    turns: Arc<Mutex<VecDeque<Turn>>>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

/// A GBNF grammar for exactly `text`.
fn literal_grammar(text: &str) -> String {
    format!(
        "root ::= {}",
        serde_json::to_string(text).expect("a JSON string is a GBNF literal")
    )
}

async fn chat(State(proxy): State<Proxy>, body: axum::Json<Value>) -> Response {
    let mut body = body.0;
    let mut stall = None;
    if body["stream"] != true {
        if body.get("response_format").is_some() {
            // The prompt's compilation: `{}` is no workflow, so the built-in compiler stands in.
            body.as_object_mut().map(|b| b.remove("response_format"));
            body["grammar"] = json!(literal_grammar("{}"));
        }
    } else {
        let turn = proxy
            .turns
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Turn::Speak);
        match turn {
            Turn::Speak => body["tool_choice"] = json!("none"),
            Turn::Call(name) => {
                let mut tools: Vec<Value> = body["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["function"]["name"] == name)
                    .cloned()
                    .collect();
                assert_eq!(tools.len(), 1, "the agent offers {name}: {body}");
                // Free text is capped, and the turn given room for the whole call: the tiny model
                // otherwise rambles inside a string value until the token limit cuts the call.
                for property in tools[0]["function"]["parameters"]["properties"]
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|p| p.values_mut())
                {
                    if property["type"] == "string" && property.get("enum").is_none() {
                        property["maxLength"] = json!(FREE_TEXT_CHARS);
                    }
                }
                body["tools"] = json!(tools);
                body["max_tokens"] = json!(CALL_TOKENS);
                body["tool_choice"] = json!("required");
                body["parallel_tool_calls"] = json!(false);
                if let Some(messages) = body["messages"].as_array_mut() {
                    messages.push(json!({"role": "assistant", "content": "<tool_call>\n"}));
                }
            }
            Turn::Write(text) => {
                body["tool_choice"] = json!("none");
                body["grammar"] = json!(literal_grammar(text));
            }
            Turn::Stall(pause) => stall = Some(pause),
        }
    }
    let index = {
        let mut log = proxy.log.lock().expect("lock");
        log.push(Exchange {
            request: body.clone(),
            response: String::new(),
            over: false,
        });
        log.len() - 1
    };
    let over = Over(proxy.log.clone(), index);
    if let Some(pause) = stall {
        // The client gives up first and goes away; this request then never reaches the server.
        tokio::time::sleep(pause).await;
    }
    let url = format!("{}/v1/chat/completions", proxy.upstream);
    let mut upstream = match proxy.http.post(url).json(&body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .expect("response");
        }
    };
    let status = upstream.status();
    let content_type = upstream
        .headers()
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| axum::http::HeaderValue::from_static("application/json"));
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let log = proxy.log.clone();
    tokio::spawn(async move {
        let _over = over;
        while let Ok(Some(chunk)) = upstream.chunk().await {
            log.lock().expect("lock")[index]
                .response
                .push_str(&String::from_utf8_lossy(&chunk));
            if tx.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .expect("response")
}

async fn start_proxy(upstream: String, turns: Vec<Turn>) -> (String, Arc<Mutex<Vec<Exchange>>>) {
    let proxy = Proxy {
        upstream,
        http: reqwest::Client::new(),
        turns: Arc::new(Mutex::new(turns.into())),
        log: Arc::default(),
    };
    let log = proxy.log.clone();
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}"), log)
}

/// What a recorded event stream carried: its text, its tool calls (name, arguments) and its end.
#[derive(Debug, Default)]
struct Streamed {
    text: String,
    calls: Vec<(String, Value)>,
    finish: Option<String>,
    error: Option<String>,
}

impl Streamed {
    /// One line for a failure report: what the model wrote and called, and how it stopped.
    fn summary(&self) -> String {
        format!(
            "text {:?}, calls {:?}, finish {:?}, error {:?}",
            self.text, self.calls, self.finish, self.error
        )
    }
}

fn read_stream(raw: &str) -> Streamed {
    let mut out = Streamed::default();
    let mut calls: Vec<(String, String)> = Vec::new();
    for data in raw.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        if let Some(error) = event.get("error") {
            out.error = Some(error.to_string());
        }
        for choice in event["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            out.text.push_str(delta["content"].as_str().unwrap_or_default());
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let i = call["index"].as_u64().unwrap_or(0) as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                calls[i]
                    .0
                    .push_str(call["function"]["name"].as_str().unwrap_or_default());
                calls[i]
                    .1
                    .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                out.finish = Some(reason.to_owned());
            }
        }
    }
    out.calls = calls
        .into_iter()
        .map(|(name, args)| (name, serde_json::from_str(&args).unwrap_or(Value::String(args))))
        .collect();
    out
}

/// Starts the real server; fails (never skips) when it is not installed.
async fn llama() -> LlamaServer {
    LlamaServer::start(LlamaServerOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cannot start the real LLM server: {e}"))
}

/// The model settings for a call through the proxy: the configured model is a name nobody serves,
/// so only the workflow's choice (the call's `model`) can be what the server is asked for.
fn llm_config(base_url: String) -> LlmConfig {
    LlmConfig {
        base_url,
        model: "configured-default".into(),
        // Two cores shared with the call's own speech: reading a long prompt takes seconds.
        first_token_timeout_ms: 60_000,
        timeout_ms: 120_000,
        retries: 0,
        temperature: 0.0,
        max_tokens: 40,
        ..LlmConfig::default()
    }
}

/// Waits until the agent has answered: it spoke, fell silent, and the model turns it was to have
/// by now (`model_turns`, as the proxy saw them end) are over. Silence alone is not enough: a slow
/// model pauses between the sentences of one turn.
async fn agent_answered(
    session: &DemoSession,
    listening: &mut Listening,
    log: &Arc<Mutex<Vec<Exchange>>>,
    model_turns: usize,
    waited_for: &str,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let mut spoke = false;
    loop {
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent did not answer ({waited_for}); events: {:?}",
            session.phone.events()
        );
        assert!(
            !session
                .phone
                .events()
                .iter()
                .any(|e| e.kind == EventKind::CallClosed),
            "the call ended while waiting for the agent ({waited_for})"
        );
        if listening.tail.is_none() {
            listening.tail = session
                .phone
                .hearing_now()
                .filter(|p| !listening.before.contains(p))
                .map(HeardTail::new);
        }
        let Some(tail) = listening.tail.as_mut() else {
            continue;
        };
        let samples = tail.read_new().expect("the phone's recording reads");
        for talk in listening.watch.feed(&samples) {
            spoke |= matches!(talk, Talk::Started(_));
        }
        let turns_over = log
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e.request["stream"] == true && e.over)
            .count();
        if spoke && !listening.watch.talking() && turns_over >= model_turns {
            return;
        }
    }
}

/// What the phone hears, followed while the call runs.
struct Listening {
    before: HashSet<PathBuf>,
    tail: Option<HeardTail>,
    watch: TalkWatch,
}

/// Places a call with the model chosen per call and plays the callee's `lines`, each once the
/// agent has answered the one before (`model_turns` is how many of those answers are the model's:
/// the first ones); returns what the call came to.
async fn converse(
    llm: LlmConfig,
    model: &str,
    lines: &[&str],
    log: &Arc<Mutex<Vec<Exchange>>>,
    model_turns: usize,
) -> (DemoRun, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = PROMPT.to_owned();
    options.phone_lines = Vec::new();
    options.llm = Some(llm);
    options.model = Some(model.to_owned());
    options.timeout = Duration::from_secs(240);
    let mut rendered = Vec::new();
    for line in lines {
        rendered.push(
            speech::render_phone_audio(&[(0.0, line)], 30.0)
                .await
                .expect("the callee's line renders"),
        );
    }
    let mut session = DemoSession::start(&options).await.expect("the testbed starts");
    let mut listening = Listening {
        before: session.phone.hearing_now().into_iter().collect(),
        tail: None,
        watch: TalkWatch::new(-45.0, 80, 900),
    };
    session.place_call().await.expect("the call is placed");
    session
        .phone
        .wait_for_event(EventKind::CallEstablished, Duration::from_secs(60))
        .await
        .expect("the phone answers");
    for (i, (line, wav)) in lines.iter().zip(&rendered).enumerate() {
        agent_answered(&session, &mut listening, log, i.min(model_turns), line).await;
        session.phone.play(wav).await.expect("the callee speaks");
    }
    let run = session.finish().await.expect("the call ends with a callback");
    (run, data)
}

fn turns(call: &Value) -> Vec<(String, String, u64, u64)> {
    call["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["role"].as_str().unwrap_or_default().to_owned(),
                t["text"].as_str().unwrap_or_default().to_owned(),
                t["start_ms"].as_u64().unwrap_or(0),
                t["end_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// The agent's words between the `n`-th caller turn (0-based) and the next one.
fn agent_after_caller(call: &Value, n: usize) -> Vec<(String, u64, u64)> {
    let mut callers = 0;
    let mut out = Vec::new();
    for (role, text, start, end) in turns(call) {
        if role == "caller" {
            callers += 1;
        } else if callers == n + 1 {
            out.push((text, start, end));
        }
    }
    out
}

fn words(text: &str) -> HashSet<String> {
    speech::normalize(text)
        .split_whitespace()
        .filter(|w| w.len() >= 4)
        .map(str::to_owned)
        .collect()
}

/// The agent's channel (right) of the stereo recording is louder than silence between `from_ms`
/// and `to_ms`.
fn agent_audible(recording: &std::path::Path, from_ms: u64, to_ms: u64) -> bool {
    let mut reader = hound::WavReader::open(recording).expect("the recording opens");
    let rate = u64::from(reader.spec().sample_rate);
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    let (from, to) = ((from_ms * rate / 1000) as usize, (to_ms * rate / 1000) as usize);
    let right: Vec<f64> = samples
        .chunks(2)
        .skip(from)
        .take(to.saturating_sub(from))
        .map(|pair| f64::from(*pair.get(1).unwrap_or(&0)))
        .collect();
    let rms = (right.iter().map(|x| x * x).sum::<f64>() / right.len().max(1) as f64).sqrt();
    rms > 300.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_model_s_words_reach_the_phone_and_its_tool_calls_are_carried_out() {
    let server = llama().await;
    let (base_url, log) = start_proxy(
        server.base_url(),
        vec![Turn::Speak, Turn::Call("collect_field"), Turn::Call("end_call")],
    )
    .await;
    let (run, _data) = converse(
        llm_config(base_url),
        server.model(),
        &[
            "Yes, Tuesday at three works for me.",
            "My email is jane at example dot com.",
            "Yes, that is right.",
        ],
        &log,
        2,
    )
    .await;
    let call = &run.call;
    eprintln!("transcript: {:#}", call["transcript"]);
    let log = log.lock().expect("lock").clone();
    let streamed: Vec<&Exchange> = log.iter().filter(|e| e.request["stream"] == true).collect();
    let report = || {
        let exchanges: Vec<String> = log
            .iter()
            .map(|e| {
                format!(
                    "{}\n-> {}",
                    e.request["tool_choice"],
                    read_stream(&e.response).summary()
                )
            })
            .collect();
        format!(
            "{call:#}\nthe model's turns:\n{}\nserver log tail:\n{}",
            exchanges.join("\n"),
            tail(&server.log())
        )
    };

    // Every request named the workflow's model (the call's `model`), not the configured default.
    assert!(
        log.iter().all(|e| e.request["model"] == server.model()),
        "{:?}",
        log.iter().map(|e| e.request["model"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(streamed.len(), 3, "one model turn per callee line: {}", report());
    let first = agent_after_caller(call, 0);
    assert!(
        turns(call)[0].1.starts_with("Hello, this is an AI assistant"),
        "the disclosure comes first: {}",
        report()
    );

    // 1. The model's streamed words were spoken, sentence by sentence, and the phone heard them.
    let spoken = read_stream(&streamed[0].response);
    assert!(
        !spoken.text.trim().is_empty(),
        "the model wrote words: {:?}",
        streamed[0].response
    );
    let written = speech::normalize(&spoken.text);
    assert!(
        !first.is_empty(),
        "the agent answered the first line: {}",
        report()
    );
    for (sentence, _, _) in &first {
        assert!(
            written.contains(&speech::normalize(sentence)),
            "{sentence:?} is the model's ({:?}): {}",
            spoken.text,
            report()
        );
    }
    let recording = run.recording_file.as_ref().expect("the call was recorded");
    for (sentence, start, end) in &first {
        assert!(
            agent_audible(recording, *start, *end),
            "the agent's channel is silent while it says {sentence:?} ({start}-{end} ms)"
        );
    }
    let heard = words(
        &speech::transcribe(run.phone_heard.as_ref().expect("the phone recorded"))
            .await
            .expect("transcribes"),
    );
    let model_words: HashSet<String> = first.iter().flat_map(|(s, _, _)| words(s)).collect();
    assert!(
        model_words.iter().any(|w| heard.contains(w)),
        "the phone heard the model's words {model_words:?}; it heard {heard:?}"
    );

    // 2. The forced collect_field, in the server's own streaming format, filled that field.
    // (The server may go on to a second, repeated call and stop at the token limit with
    // `finish_reason: "length"`: the first call is whole, and is carried out.)
    let collected = read_stream(&streamed[1].response);
    assert!(
        matches!(collected.finish.as_deref(), Some("tool_calls" | "length")),
        "{:?}",
        streamed[1].response
    );
    let (name, args) = collected.calls.first().expect("the server streamed a tool call");
    assert_eq!(name, "collect_field");
    let field = args["name"].as_str().expect("a field name");
    // Carried out under the safety rule: the field is filled when the model's value (or the
    // callee's own words) reads as the field's kind; else the callee's words are kept as
    // `<field>_unparsed` and the model's text is never stored.
    let unparsed = format!("{field}_unparsed");
    let caller_said = turns(call)
        .iter()
        .filter(|(role, ..)| role == "caller")
        .map(|(_, text, ..)| text.clone())
        .collect::<Vec<_>>();
    match (call["form_fills"].get(field), call["form_fills"].get(&unparsed)) {
        (Some(_), _) => {}
        (None, Some(kept)) => assert!(
            caller_said.iter().any(|t| Some(t.as_str()) == kept.as_str()),
            "what is kept unparsed is the callee's own words: {kept} ({args}): {}",
            report()
        ),
        (None, None) => panic!("the model's collect_field {args} left no trace: {}", report()),
    }

    // 3. The forced end_call ended the call politely: the closing, then the hang-up.
    let ended = read_stream(&streamed[2].response);
    assert_eq!(
        ended.calls.first().map(|c| c.0.as_str()),
        Some("end_call"),
        "{:?}",
        streamed[2].response
    );
    assert_eq!(call["outcome"], "completed", "{}", report());
    assert_eq!(call["end_reason"], "completed", "{}", report());
    let last = turns(call).last().cloned().expect("a transcript");
    assert_eq!(last.0, "agent", "{}", report());
    assert!(
        last.1.contains("Goodbye"),
        "the call ends with a goodbye: {}",
        report()
    );
}

/// Runs the appointment call with the model's first turn made unusable by `first`; the built-in
/// engine must carry the call to its polite end.
async fn falls_back(first: Turn, llm: impl FnOnce(String) -> LlmConfig) -> (Value, Vec<Exchange>) {
    let server = llama().await;
    let (base_url, log) = start_proxy(server.base_url(), vec![first]).await;
    let (run, _data) = converse(
        llm(base_url),
        server.model(),
        &[
            "Yes, Tuesday at three works for me.",
            "It is jane at example dot com.",
        ],
        &log,
        1,
    )
    .await;
    let call = run.call.clone();
    let log = log.lock().expect("lock").clone();
    let streamed: Vec<&Exchange> = log.iter().filter(|e| e.request["stream"] == true).collect();
    assert_eq!(
        streamed.len(),
        1,
        "after one failure the model is not asked again: {call:#}"
    );
    let turns = turns(&call);
    assert!(
        turns[0].1.starts_with("Hello, this is an AI assistant"),
        "the disclosure comes first: {call:#}"
    );
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
    assert_eq!(call["form_fills"]["email"], "jane@example.com", "{call:#}");
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["end_reason"], "completed", "{call:#}");
    let last = turns.last().cloned().expect("a transcript");
    assert!(
        last.0 == "agent" && last.1.contains("Goodbye"),
        "the call ends with a goodbye: {call:#}"
    );
    (call, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_written_as_text_falls_back_to_the_script() {
    let garbage = "<tool_call>\n{\"name\": \"collect_field\", \"arguments\": {\"name\": ";
    let (call, log) = falls_back(Turn::Write(garbage), llm_config).await;
    let streamed = log.iter().find(|e| e.request["stream"] == true).expect("a turn");
    assert_eq!(
        read_stream(&streamed.response).text,
        garbage,
        "the server sent it as text"
    );
    for (role, text, _, _) in turns(&call) {
        assert!(
            role != "agent" || !(text.contains('<') || text.contains('{')),
            "the markup was not spoken: {call:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_falls_back_to_the_script() {
    let (_, log) = falls_back(Turn::Write(""), llm_config).await;
    let streamed = read_stream(
        &log.iter()
            .find(|e| e.request["stream"] == true)
            .expect("a turn")
            .response,
    );
    assert_eq!((streamed.text.as_str(), streamed.calls.len()), ("", 0));
    assert_eq!(
        streamed.finish.as_deref(),
        Some("stop"),
        "the server's empty answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_falls_back_to_the_script() {
    falls_back(Turn::Stall(Duration::from_secs(10)), |base_url| LlmConfig {
        first_token_timeout_ms: 3_000,
        ..llm_config(base_url)
    })
    .await;
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
