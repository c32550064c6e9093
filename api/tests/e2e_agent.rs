//! Agent conversations end to end through kamailio to a baresip phone playing scripted human speech
//! (Piper): a confirmation that collects a yes and an email, a barge-in, and the LLM path with tool
//! calls through a deterministic fake OpenAI-compatible server started by the test.

use agent_runtime::llm::LlmConfig;
use axum::body::Body;
use axum::response::Response;
use ringback::demo::{self, DemoOptions, DemoRun};
use ringback_testbed::speech;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APPOINTMENT: &str = "You are calling on behalf of Bright Dental. \
    Ask if they can come to their appointment on Tuesday at 3 PM. \
    If they need to reschedule, offer Monday or Wednesday. \
    Get their email address for the reminder.";

async fn run(prompt: &str, lines: &[(f32, &str)], llm: Option<LlmConfig>) -> (DemoRun, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = prompt.to_owned();
    options.phone_lines = lines.iter().map(|(s, t)| (*s, (*t).to_owned())).collect();
    options.timeout = Duration::from_secs(150);
    options.llm = llm;
    (demo::run(options).await.expect("the call runs"), data)
}

fn turns(call: &Value, role: &str) -> Vec<Value> {
    call["transcript"]
        .as_array()
        .map(|t| t.iter().filter(|x| x["role"] == role).cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_collects_a_yes_and_an_email() {
    let (run, _data) = run(
        APPOINTMENT,
        &[
            (10.0, "Yes, Tuesday at three works for me."),
            (8.0, "It is jane at example dot com."),
        ],
        None,
    )
    .await;
    let call = &run.call;
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
    assert_eq!(call["form_fills"]["email"], "jane@example.com", "{call:#}");
    assert!(
        call["form_fills"].get("reschedule_to").is_none(),
        "the reschedule branch was not taken"
    );
    let agent = turns(call, "agent");
    assert!(
        agent
            .iter()
            .any(|t| t["text"].as_str().unwrap_or("").contains("email address")),
        "{agent:?}"
    );
    // The phone heard the email read back.
    let heard = speech::normalize(
        &speech::transcribe(run.phone_heard.as_ref().expect("recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(heard.contains("example"), "the phone heard: {heard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_can_interrupt_the_agent() {
    // The phone talks over the question (which starts ~3 s in, after the disclosure) and answers.
    let (run, _data) = run(
        "Ask if they can come to their appointment on Tuesday at 3 PM, at the downtown office on Main Street, \
         and remind them to bring their insurance card and arrive fifteen minutes early.",
        &[(4.5, "Yes, yes, I can come.")],
        None,
    )
    .await;
    let call = &run.call;
    let agent = turns(call, "agent");
    let cut = agent
        .iter()
        .find(|t| t["interrupted"] == true)
        .unwrap_or_else(|| panic!("no interrupted turn: {agent:#?}"));
    let question =
        "Can you come to your appointment on Tuesday at 3 PM, at the downtown office on Main Street";
    let said = cut["text"].as_str().unwrap_or_default();
    assert!(
        said.len() < question.len(),
        "only what was played is kept: {said:?}"
    );
    assert!(
        !agent[0]["interrupted"].as_bool().unwrap_or(true),
        "the disclosure is never cut"
    );
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
    assert_eq!(call["outcome"], "completed");

    // In the recording, the agent's channel goes quiet soon after the caller starts talking.
    let recording = run.recording_file.as_ref().expect("recording");
    let (caller_onset, agent_stop) = barge_in_gap(recording, cut);
    let gap = agent_stop.saturating_sub(caller_onset);
    eprintln!(
        "barge-in: caller speech at {caller_onset} ms, agent audio stopped at {agent_stop} ms ({gap} ms)"
    );
    assert!(
        agent_stop > caller_onset,
        "the agent was talking when the caller started"
    );
    // It talks on through the barge-in minimum (a backchannel must not stop it), then stops
    // within a few frames and Silero's lag.
    let minimum = media_core::analysis::endpoint::BARGE_IN_MS;
    assert!(
        gap < minimum + 500,
        "the agent stopped {gap} ms after the caller started (minimum {minimum} ms)"
    );
}

/// From the stereo recording: when the caller's speech started during the cut turn, and when the
/// agent's audio of that turn stopped (ms of recording time, 20 ms frames).
fn barge_in_gap(path: &std::path::Path, cut: &Value) -> (u64, u64) {
    let mut reader = hound::WavReader::open(path).expect("wav");
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    let frames: Vec<(f64, f64)> = samples
        .chunks(320)
        .map(|f| {
            let (mut l, mut r) = (0f64, 0f64);
            for pair in f.chunks(2) {
                l += f64::from(pair[0]).powi(2);
                r += f64::from(*pair.get(1).unwrap_or(&0)).powi(2);
            }
            ((l / 160.0).sqrt(), (r / 160.0).sqrt())
        })
        .collect();
    let start = cut["start_ms"].as_u64().unwrap_or(0) / 20;
    let onset = (start as usize..frames.len())
        .find(|&i| frames[i].0 > 300.0)
        .expect("caller speech") as u64;
    // The agent stops when its channel stays quiet for 200 ms.
    let stop = (onset as usize..frames.len())
        .find(|&i| frames[i..(i + 10).min(frames.len())].iter().all(|f| f.1 < 100.0))
        .expect("agent stops") as u64;
    (onset * 20, stop * 20)
}

/// What the fake model answers to the post-call summary request (the one that does not stream).
const FAKE_SUMMARY: &str = "The callee confirmed Tuesday and gave jane@example.com for the reminder.";

/// A fake OpenAI-compatible server: it streams conversation turns from a script keyed on what the
/// caller said, answers the (non-streaming) summary request with [`FAKE_SUMMARY`], and keeps every
/// request for inspection.
async fn fake_llm(requests: Arc<Mutex<Vec<Value>>>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let requests = requests.clone();
            async move {
                requests.lock().expect("lock").push(body.0.clone());
                if body.0["stream"] != true {
                    let reply = json!({"choices":[{"message":{"role":"assistant","content":FAKE_SUMMARY},"finish_reason":"stop"}]});
                    return Response::builder().header("content-type", "application/json").body(Body::from(reply.to_string())).expect("response");
                }
                let last = body.0["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
                let said = last["content"].as_str().unwrap_or_default().to_lowercase();
                let events: Vec<Value> = if said.contains("tuesday") {
                    vec![
                        json!({"choices":[{"delta":{"content":"Wonderful, I have you down for Tuesday. "}}]}),
                        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"collect_field","arguments":"{\"name\":\"confirmed\",\"value\":\"yes\"}"}}]}}]}),
                        json!({"choices":[{"delta":{"content":"Which email address should the reminder go to?"}}]}),
                        json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
                    ]
                } else if said.contains("example") {
                    vec![
                        json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","type":"function","function":{"name":"collect_field","arguments":"{\"name\":\"email\",\"value\":\"jane at example dot com\"}"}},{"index":1,"id":"c","type":"function","function":{"name":"end_call","arguments":"{}"}}]}}]}),
                        json!({"choices":[{"delta":{"content":"Thank you, the reminder is on its way. Goodbye!"}}]}),
                        json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
                    ]
                } else {
                    vec![json!({"choices":[{"delta":{"content":"Sorry, could you say that again?"},"finish_reason":"stop"}]})]
                };
                let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
                text.push_str("data: [DONE]\n\n");
                Response::builder().header("content-type", "text/event-stream").body(Body::from(text)).expect("response")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_runs_the_conversation_with_tool_calls() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let base_url = fake_llm(requests.clone()).await;
    let llm = LlmConfig {
        base_url,
        model: "fake".into(),
        ..LlmConfig::default()
    };
    let (run, _data) = run(
        APPOINTMENT,
        &[
            (10.0, "Yes, Tuesday at three works for me."),
            (11.0, "It is jane at example dot com."),
        ],
        Some(llm),
    )
    .await;
    let call = &run.call;
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
    assert_eq!(
        call["form_fills"]["email"], "jane@example.com",
        "typed by the extractor: {call:#}"
    );
    let agent: Vec<String> = turns(call, "agent")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        agent.iter().any(|t| t.contains("Which email address")),
        "the model's words were spoken: {agent:?}"
    );
    assert!(
        agent.iter().any(|t| t.contains("the reminder is on its way")),
        "{agent:?}"
    );
    assert!(
        agent[0].starts_with("Hello, this is an AI assistant"),
        "the disclosure comes first: {agent:?}"
    );
    let requests = requests.lock().expect("lock").clone();
    let (turns_asked, others): (Vec<Value>, Vec<Value>) =
        requests.into_iter().partition(|r| r["stream"] == true);
    assert_eq!(turns_asked.len(), 2, "one model turn per caller answer");
    // Besides the turns: the prompt's compilation (JSON mode; the fake's answer is no workflow, so
    // the built-in compiler stands in) and the summary after the call.
    assert_eq!(others.len(), 2, "compilation and summary: {others:?}");
    assert!(
        others[0]["response_format"]["type"] == "json_object",
        "the prompt is compiled by the model first: {others:?}"
    );
    assert_eq!(call["summary"], FAKE_SUMMARY, "the model's summary is kept");
    let requests = turns_asked;
    let tools: Vec<&str> = requests[0]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"collect_field") && tools.contains(&"end_call"),
        "{tools:?}"
    );
    let phone = speech::normalize(
        &speech::transcribe(run.phone_heard.as_ref().expect("recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(
        phone.contains("which email address"),
        "the phone heard the model's words: {phone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keypresses_answer_the_questions() {
    use ringback_testbed::EventKind;
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = "Ask if they can attend on Tuesday. Ask for their account number.".to_owned();
    options.phone_lines = Vec::new();
    let mut session = ringback::demo::DemoSession::start(&options)
        .await
        .expect("starts");
    session.place_call().await.expect("placed");
    session
        .phone
        .wait_for_event(EventKind::CallEstablished, Duration::from_secs(30))
        .await
        .expect("answered");
    // After the disclosure and the first question: 1 is yes. Then the account number, ended by #.
    tokio::time::sleep(Duration::from_secs(8)).await;
    session.phone.send_dtmf('1').await.expect("key");
    tokio::time::sleep(Duration::from_secs(7)).await;
    for key in ['4', '7', '2', '9', '#'] {
        session.phone.send_dtmf(key).await.expect("key");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    assert_eq!(call["form_fills"]["attend_tuesday"], true, "{call:#}");
    assert_eq!(call["form_fills"]["account_number"], "4729", "{call:#}");
    assert_eq!(call["outcome"], "completed");
    let caller: Vec<String> = turns(call, "caller")
        .iter()
        .map(|t| t["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(caller.contains(&"(pressed 4729)".to_owned()), "{caller:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voicemail_gets_the_message_after_the_beep() {
    // The phone is an answering machine: a greeting, a 1 kHz beep, then it records.
    let (audio, beep_start_s, beep_end_s) = speech::machine_greeting(
        0.5,
        "Hi, you have reached Dana Whitfield. I cannot take your call right now. \
         Please leave your name, your number and a short message after the tone, and I will get back to you.",
        1000.0,
        500,
    )
    .await
    .expect("greeting renders");
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = APPOINTMENT.to_owned();
    options.phone_lines = Vec::new();
    options.phone_audio = Some(audio);
    options.timeout = Duration::from_secs(150);
    let run = demo::run(options).await.expect("the call runs");
    let call = &run.call;

    assert_eq!(call["outcome"], "voicemail", "{call:#}");
    assert_eq!(call["amd"]["verdict"], "machine", "{call:#}");
    let decided_ms = call["amd"]["decided_ms"].as_u64().expect("decision time");
    assert!(
        decided_ms <= ((beep_end_s + 1.0) * 1000.0) as u64,
        "decided by the beep at the latest: {call:#}"
    );
    assert_eq!(call["end_reason"], "voicemail", "{call:#}");
    // The message is spoken once the beep is over, so the machine records all of it.
    let agent = turns(call, "agent");
    let message = agent.last().expect("the agent spoke");
    assert!(
        message["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Please call us back"),
        "the voicemail message is the last thing said: {agent:#?}"
    );
    let message_start = message["start_ms"].as_u64().expect("start");
    assert!(
        message_start >= (beep_end_s * 1000.0) as u64,
        "the message starts after the beep ({beep_start_s}-{beep_end_s} s): {agent:#?}"
    );
    assert_eq!(message["interrupted"], false, "{agent:#?}");
    // What the machine recorded after its beep holds the message.
    let heard = speech::normalize(
        &speech::transcribe(run.phone_heard.as_ref().expect("recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(heard.contains("call us back"), "the machine recorded: {heard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_menu_is_navigated_with_keys() {
    use ringback_testbed::EventKind;
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = "Call the utility company. Navigate the phone menu to billing. \
                      Ask whether the late fee can be waived."
        .to_owned();
    options.phone_lines = vec![
        (
            1.0,
            "Thank you for calling Riverside Utilities. For new service, press 1. For billing, press 2. \
             For power outages, press 3."
                .to_owned(),
        ),
        (
            6.0,
            "Billing, this is Sam speaking. How can I help you?".to_owned(),
        ),
    ];
    options.timeout = Duration::from_secs(150);
    let mut session = ringback::demo::DemoSession::start(&options)
        .await
        .expect("starts");
    session.place_call().await.expect("placed");
    // The menu's choice reaches the phone as a key (RFC 4733, which baresip negotiates).
    let key = session
        .phone
        .wait_for_event(EventKind::CallDtmfStart, Duration::from_secs(45))
        .await
        .expect("a key reaches the phone");
    assert_eq!(key.param, "2", "billing is 2: {key:?}");
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    let sent: Vec<&Value> = call["dtmf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["direction"] == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "one key pressed: {call:#}");
    assert_eq!(sent[0]["digit"], "2", "{call:#}");
    assert_ne!(
        call["outcome"], "voicemail",
        "a menu is not a voicemail: {call:#}"
    );
    assert_ne!(call["outcome"], "failed", "{call:#}");
    // After the menu, the human hears the disclosure first.
    let agent = turns(call, "agent");
    assert!(
        agent
            .first()
            .and_then(|t| t["text"].as_str())
            .is_some_and(|t| t.starts_with("Hello, this is an AI assistant")),
        "{agent:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_asks_for_a_person_is_bridged_to_one() {
    use ringback_testbed::{EventKind, Phone, PhoneOptions};
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,agent_runtime=debug")
        .with_test_writer()
        .try_init();
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = APPOINTMENT.to_owned();
    options.phone_lines = vec![
        (10.0, "Can I please speak to a real person?".to_owned()),
        (18.0, "Hi, I have a question about my bill.".to_owned()),
    ];
    options.bridge_number = Some("+15560001111".to_owned());
    options.timeout = Duration::from_secs(150);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    // The human: bob, who greets the caller a few seconds after picking up.
    let greeting = speech::render_phone_audio(
        &[(
            3.0,
            "Hello, this is Bob at the front desk. How can I help you today?",
        )],
        40.0,
    )
    .await
    .expect("renders");
    let bob_records = data.path().join("bob");
    std::fs::create_dir_all(&bob_records).expect("dir");
    let mut bob_options = PhoneOptions::new(session.trunk.addr(), &greeting).account("bob", "bobpw");
    bob_options.record_dir = Some(bob_records);
    let bob = Phone::start(bob_options).await.expect("bob starts");

    session.place_call().await.expect("placed");
    bob.wait_for_event(EventKind::CallEstablished, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("bob's phone never rang: {e}\n{}", session.trunk.log()));
    // Let the two talk (bob's greeting, the caller's question), then the caller hangs up.
    tokio::time::sleep(Duration::from_secs(20)).await;
    session.phone.hangup().await.expect("alice hangs up");
    let trunk = session.trunk.log();
    let run = session.finish().await.expect("the call ends");
    eprintln!("trunk log:\n{trunk}");
    // The legs are linked: the caller's hang-up ends the human's leg too.
    bob.wait_for_event(EventKind::CallClosed, Duration::from_secs(20))
        .await
        .expect("bob's leg ends with the caller's");
    let call = &run.call;

    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["end_reason"], "transferred", "{call:#}");
    let agent = turns(call, "agent");
    assert!(
        agent
            .last()
            .and_then(|t| t["text"].as_str())
            .is_some_and(|t| t.contains("connect you with a person")),
        "the agent's last words are the hold line: {agent:#?}"
    );
    assert!(
        trunk.contains("REQ INVITE sip:+15560001111"),
        "a second leg to the bridge number went through the trunk:\n{trunk}"
    );
    // Audio flows phone to phone: each heard the other's words.
    let alice_heard = speech::normalize(
        &speech::transcribe(run.phone_heard.as_ref().expect("alice recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(
        alice_heard.contains("front desk"),
        "the caller heard: {alice_heard}"
    );
    let bob_heard = speech::normalize(
        &speech::transcribe(bob.heard_wav().expect("bob recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(bob_heard.contains("my bill"), "the human heard: {bob_heard}");
    assert!(
        !bob_heard.contains("ai assistant"),
        "the human hears the caller, not the agent: {bob_heard}"
    );
}

/// A bridge does not run for ever: past `[media] max_bridged_secs` both legs are hung up, though
/// neither party hangs up (a free-running bridge between two numbers is what toll fraud sells).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_ends_at_its_limit_when_nobody_hangs_up() {
    use ringback_testbed::{EventKind, Phone, PhoneOptions};
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = APPOINTMENT.to_owned();
    options.phone_lines = vec![(10.0, "Can I please speak to a real person?".to_owned())];
    options.bridge_number = Some("+15560001111".to_owned());
    options.max_bridged_secs = Some(8);
    options.timeout = Duration::from_secs(150);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    let silence = speech::silence(120.0).expect("silence");
    let bob = Phone::start(PhoneOptions::new(session.trunk.addr(), &silence).account("bob", "bobpw"))
        .await
        .expect("bob starts");
    session.place_call().await.expect("placed");
    let up = bob
        .wait_for_event(EventKind::CallEstablished, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("bob's phone never rang: {e}\n{}", session.trunk.log()));
    drop(up);
    // Nobody hangs up: the limit does, for both.
    bob.wait_for_event(EventKind::CallClosed, Duration::from_secs(40))
        .await
        .expect("the human's leg is hung up at the bridge's limit");
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["end_reason"], "transferred", "{call:#}");
    assert_eq!(call["sip"]["hangup_by"], "agent", "{call:#}");
}

/// A bridge is two calls on the trunk: on a trunk allowed one call at a time, the human's leg finds
/// no free channel, so the human is never dialled and the caller is told nobody could be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_needs_a_free_trunk_channel_for_the_human() {
    use ringback_testbed::{EventKind, Phone, PhoneOptions};
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = APPOINTMENT.to_owned();
    options.phone_lines = vec![(10.0, "Can I please speak to a real person?".to_owned())];
    options.bridge_number = Some("+15560001111".to_owned());
    options.max_concurrent_calls = Some(1);
    options.timeout = Duration::from_secs(120);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    let silence = speech::silence(60.0).expect("silence");
    let bob = Phone::start(PhoneOptions::new(session.trunk.addr(), &silence).account("bob", "bobpw"))
        .await
        .expect("bob starts");
    session.place_call().await.expect("placed");
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    assert_eq!(call["end_reason"], "transfer_failed", "{call:#}");
    let agent = turns(call, "agent");
    assert!(
        agent.iter().any(|t| t["text"]
            .as_str()
            .is_some_and(|t| t.contains("could not reach anyone"))),
        "the caller is told: {agent:#?}"
    );
    assert!(
        !run.trunk_log.contains("REQ INVITE sip:+15560001111"),
        "the human was never dialled:\n{}",
        run.trunk_log
    );
    assert!(
        bob.events().iter().all(|e| e.kind != EventKind::CallEstablished),
        "bob's phone never rang"
    );
}

/// A trial key's call is short whatever its workflow allows: `[server] trial_max_call_secs` ends
/// it after answer (here 10 s, before the callee has even answered the question; the same call
/// with an operator's key runs to its end, as `e2e_call` shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_keys_call_ends_at_the_trial_limit() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.trial_max_call_secs = Some(10);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    let trial = ringback::keys::create(
        session.server.service.store(),
        &ringback::clock::SystemClock,
        Some("trial".to_owned()),
        ringback::keys::Issuer::Trial {
            source: Some("127.0.0.1".parse().expect("ip")),
        },
    )
    .await
    .expect("trial key");
    session.api_key = trial.secret;
    session.place_call().await.expect("placed");
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    assert_eq!(call["end_reason"], "max_duration", "{call:#}");
    let talk = call["talk_seconds"].as_f64().unwrap_or(0.0);
    assert!((9.0..16.0).contains(&talk), "talked {talk} s: {call:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_to_a_routed_number_is_answered_by_its_agent() {
    use ringback::config::InboundRoute;
    use ringback_testbed::EventKind;
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    // alice calls in: she hears the agent's greeting and question, then answers.
    options.phone_lines = vec![(9.0, "Yes, Tuesday at three works for me. Thank you.".to_owned())];
    options.inbound = vec![
        InboundRoute {
            number: "+17770001234".to_owned(),
            prompt: "You answer calls for Bright Dental. \
                     Ask if they can come to their appointment on Tuesday at 3 PM."
                .to_owned(),
            callback_url: None,
            owner_key: None,
            bridge_number: None,
        },
        InboundRoute {
            number: "+17770009999".to_owned(),
            prompt: "You answer calls for the night desk. Ask for the caller's name.".to_owned(),
            callback_url: None,
            owner_key: None,
            bridge_number: None,
        },
    ];
    options.timeout = Duration::from_secs(120);
    let session = demo::DemoSession::start(&options).await.expect("starts");
    let trunk = session.trunk.addr();

    // A number without a route is refused.
    session
        .phone
        .dial(&format!("sip:+17770000000@{trunk}"))
        .await
        .expect("dials");
    let closed = session
        .phone
        .wait_for_event(EventKind::CallClosed, Duration::from_secs(20))
        .await
        .expect("the unrouted call ends");
    assert!(closed.param.contains("404"), "{closed:?}");

    session
        .phone
        .dial(&format!("sip:+17770001234@{trunk}"))
        .await
        .expect("dials");
    let run = session.finish().await.expect("the call ends with a callback");
    assert!(run.callback.signature_valid);
    let call = &run.call;
    assert_eq!(call["direction"], "inbound", "{call:#}");
    assert_eq!(call["to"], "+17770001234", "{call:#}");
    assert_eq!(call["from"], "alice", "{call:#}");
    // The trunk's own headers are kept on the call.
    assert_eq!(
        call["metadata"]["sip_headers"]["X-Carrier-Ref"],
        serde_json::json!(["did-+17770001234"]),
        "{call:#}"
    );
    assert_eq!(
        call["metadata"]["sip_headers"]["P-Asserted-Identity"],
        serde_json::json!(["<sip:alice@trunk.test>"]),
        "{call:#}"
    );
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
    let agent = turns(call, "agent");
    assert!(
        agent
            .first()
            .and_then(|t| t["text"].as_str())
            .is_some_and(|t| t == "Hello, this is an AI assistant for Bright Dental."),
        "the routed number's agent answers, disclosure first: {agent:#?}"
    );
    // The caller heard the agent.
    let heard = speech::normalize(
        &speech::transcribe(run.phone_heard.as_ref().expect("recorded"))
            .await
            .expect("transcribes"),
    );
    assert!(heard.contains("ai assistant"), "the caller heard: {heard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_s_hold_and_resume_are_followed_by_the_media() {
    use ringback_testbed::EventKind;
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.phone_lines = vec![(16.0, "Yes, Tuesday at three works for me. Thank you.".to_owned())];
    options.timeout = Duration::from_secs(120);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    session.place_call().await.expect("placed");
    session
        .phone
        .wait_for_event(EventKind::CallEstablished, Duration::from_secs(30))
        .await
        .expect("answered");
    // The caller puts the agent on hold for a few seconds (a re-INVITE with sendonly), then resumes.
    session.phone.command("hold", "").await.expect("hold");
    tokio::time::sleep(Duration::from_secs(5)).await;
    session.phone.command("resume", "").await.expect("resume");
    let run = session.finish().await.expect("the call ends");
    let call = &run.call;
    let trunk = &run.trunk_log;
    assert!(
        trunk.matches("REQ INVITE sip:agent").count() >= 2,
        "hold and resume went through the trunk as re-INVITEs:\n{trunk}"
    );
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(
        call["form_fills"]["confirmed"], true,
        "the call went on after the hold: {call:#}"
    );
    // While held, the agent sent nothing: about 5 s (250 packets) are missing from the stream.
    let talk_ms = (call["talk_seconds"].as_f64().expect("talk time") * 1000.0) as u64;
    let sent = call["media"]["packets_sent"].as_u64().expect("packets sent");
    assert!(
        sent + 150 <= talk_ms / 20,
        "{sent} packets in {talk_ms} ms: the hold stopped our audio: {call:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receptionist_s_greeting_is_a_person_not_a_machine() {
    // A business greeting with a machine's cadence (2-3 s, many words, then a pause for us):
    // the cadence suspects a machine, the greeting's words clear it (issue 12).
    let (run, _data) = run(
        APPOINTMENT,
        &[
            (0.3, "Good morning, Lakeside Dental, this is Maria."),
            (9.0, "Yes, Tuesday at three works for me."),
            (8.0, "It is jane at example dot com."),
        ],
        None,
    )
    .await;
    let call = &run.call;
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_ne!(call["end_reason"], "voicemail", "{call:#}");
    assert_eq!(call["amd"]["verdict"], "human", "{call:#}");
    assert_eq!(call["form_fills"]["confirmed"], true, "{call:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_who_asks_not_to_be_called_again_is_listed_and_not_called_again() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = DemoOptions::standard(data.path().to_owned());
    options.prompt = APPOINTMENT.to_owned();
    options.phone_lines = vec![(
        10.0,
        "Please stop calling me. Do not call this number again.".to_owned(),
    )];
    options.timeout = Duration::from_secs(150);
    let mut session = demo::DemoSession::start(&options).await.expect("starts");
    let api_key = session.api_key.clone();
    session.place_call().await.expect("placed");
    let run = session.finish().await.expect("the call runs");
    let call = &run.call;
    assert_eq!(call["end_reason"], "do_not_call", "{call:#}");

    // Listed on the calling key's list, by the call, in the same database file.
    let url = format!("sqlite://{}", data.path().join("ringback.db").display());
    let store = ringback::store::Store::open(&url).await.expect("store");
    let key_id = store.keys().await.expect("keys")[0].id.clone();
    let entry = store
        .dnc_entry(&key_id, "+15551234567")
        .await
        .expect("read")
        .expect("the callee is listed");
    assert_eq!(entry.source, "callee_request");
    assert_eq!(entry.call_id.as_deref(), call["call_id"].as_str());
    drop(store);

    // A server on the same database refuses a second call to them with the stable code.
    let mut config = ringback::config::Config::default();
    config.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.storage.data_dir = data.path().to_owned();
    config.trunks = vec![ringback::config::TrunkSection {
        name: "loopback".to_owned(),
        proxy: std::net::SocketAddr::from(([127, 0, 0, 1], 9)).into(),
        domain: "trunk.test".to_owned(),
        register: Some(false),
        ..ringback::config::TrunkSection::default()
    }];
    let server = ringback::server::Server::start(config).await.expect("restarts");
    let again = reqwest::Client::new()
        .post(format!("http://{}/v1/calls", server.http_addr))
        .bearer_auth(&api_key)
        .json(&json!({"to": "+1 555 123 4567", "prompt": APPOINTMENT}))
        .send()
        .await
        .expect("answer");
    assert_eq!(again.status().as_u16(), 403);
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["error"]["code"], "do_not_call", "{body}");
    server.shutdown().await;
}
