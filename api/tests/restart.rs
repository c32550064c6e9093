//! Nothing is lost across a crash: the server (the real `ringback serve` process, against kamailio as
//! the trunk) is killed with a call ringing, calls queued behind it and a callback waiting for a
//! retry. After a restart on the same database the ringing call is finalized `failed` with that
//! cause, the queued calls are placed, and every callback is delivered. Also: the outcome words
//! of both compatible faces, from real SIP answers.

mod common;

use common::serve::{BIN, Serve, free_tcp_port};
use common::{Receiver, key, send};
use reqwest::Method;
use ringback::server::Server;
use ringback_testbed::{Kamailio, KamailioOptions};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

const PROMPT: &str = "Ask if they can come on Tuesday.";

/// The server process (`common::serve`), its log beside its config; killed (SIGKILL) when dropped.
async fn serve(config: &std::path::Path, port: u16) -> Serve {
    let log = config.with_extension("log");
    Serve::start(config, port, &log, &[], None).await
}

/// An API key made with `ringback keys create`, as an operator makes one.
fn create_key(config: &std::path::Path) -> String {
    let created = Command::new(BIN)
        .args(["keys", "create", "--config"])
        .arg(config)
        .output()
        .expect("keys create");
    assert!(created.status.success());
    String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

async fn http(port: u16, method: Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_for(port: u16, key: &str, id: &str, lifecycle: &str) -> Value {
    for _ in 0..600 {
        let (_, call) = http(port, Method::GET, &format!("/v1/calls/{id}"), key, None).await;
        if call["lifecycle"] == lifecycle {
            return call;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {id} never reached {lifecycle}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_call_and_no_callback() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_tcp_port();
    let config = dir.path().join("ringback.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[sip]\nlisten = \"127.0.0.1:0\"\nt1_ms = 50\n\
             [media]\nring_timeout_secs = 600\n[storage]\ndata_dir = \"{data}\"\n\
             [webhooks]\nallow_private = true\nsecret = \"{secret}\"\nretry_schedule = [\"3s\", \"3s\"]\n\
             [providers.tts]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n\
             [providers.stt]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n\
             [[trunks]]\nname = \"kamailio\"\nproxy = \"{trunk}\"\ndomain = \"trunk.test\"\nusername = \"agent\"\n\
             password = \"agentpw\"\nmax_concurrent_calls = 1\n",
            data = dir.path().join("data").display(),
            secret = common::SECRET,
            trunk = trunk.addr(),
        ),
    )
    .expect("config");
    let key = create_key(&config);
    // The receiver refuses the very first delivery, takes every later one.
    let mut receiver = Receiver::start(1).await;
    let hook = receiver.url();
    let server = serve(&config, port).await;

    // X: busy at once; its callback is refused and waits 3 s for its retry.
    let (status, x) = http(
        port,
        Method::POST,
        "/v1/calls",
        &key,
        Some(json!({"to": "+15550000486", "prompt": PROMPT, "callback_url": hook})),
    )
    .await;
    assert_eq!(status, 201, "{x}");
    let first_try = receiver.next().await;
    assert_eq!(
        (first_try.answered, first_try.body["data"]["call_id"].clone()),
        (500, x["call_id"].clone())
    );
    // A rings forever on the only channel; B and C queue behind it.
    let (_, a) = http(
        port,
        Method::POST,
        "/v1/calls",
        &key,
        Some(json!({"to": "+15550000408", "prompt": PROMPT, "callback_url": hook})),
    )
    .await;
    let a_id = a["call_id"].as_str().expect("id").to_owned();
    wait_for(port, &key, &a_id, "ringing").await;
    let (_, b) = http(
        port,
        Method::POST,
        "/v1/calls",
        &key,
        Some(json!({"to": "+15550000486", "prompt": PROMPT, "callback_url": hook})),
    )
    .await;
    let (_, c) = http(
        port,
        Method::POST,
        "/api/call-prompt",
        &key,
        Some(json!({"prompt": PROMPT, "recipient_phone": "+15550000603", "callback_url": hook})),
    )
    .await;
    for id in [&b["call_id"], &c["call_id"]] {
        let (_, call) = http(
            port,
            Method::GET,
            &format!("/v1/calls/{}", id.as_str().expect("id")),
            &key,
            None,
        )
        .await;
        assert_eq!(call["lifecycle"], "queued");
    }
    drop(server); // SIGKILL: no shutdown, no hangup, nothing flushed.

    let server = serve(&config, port).await;
    // Every callback arrives: X's retry (same message id), A's failure, B's and C's outcomes.
    let mut by_call: HashMap<String, common::Hook> = HashMap::new();
    while by_call.len() < 4 {
        let hook = receiver.next().await;
        assert!(hook.signature_valid);
        let id = hook.body["data"]["call_id"]
            .as_str()
            .or_else(|| hook.body["call_id"].as_str())
            .expect("call id")
            .to_owned();
        by_call.insert(id, hook);
    }
    let x_hook = &by_call[x["call_id"].as_str().expect("id")];
    assert_eq!(
        x_hook.id, first_try.id,
        "the pending callback was retried, not re-created"
    );
    assert_eq!(x_hook.body["data"]["outcome"], "busy");
    let a_hook = &by_call[&a_id];
    assert_eq!(a_hook.body["data"]["outcome"], "failed");
    assert!(
        a_hook.body["data"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted"),
        "{}",
        a_hook.body
    );
    let b_hook = &by_call[b["call_id"].as_str().expect("id")];
    assert_eq!(
        b_hook.body["data"]["outcome"], "busy",
        "queued before the crash, placed after it"
    );
    assert_eq!(b_hook.body["data"]["sip"]["status"], 486);
    let c_hook = &by_call[c["call_id"].as_str().expect("id")];
    assert_eq!(
        c_hook.body["call_status"], "not picked up",
        "prompt-face payload for a 603"
    );
    assert_eq!(c_hook.body["provider_status"], "declined");
    assert!(trunk.count("INVITE from agent") >= 4, "{}", trunk.log());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sip_answers_map_to_each_faces_words() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = common::config(data.path(), trunk.addr());
    config.trunks = vec![common::trunk_section("kamailio", trunk.addr(), Some("agentpw"))];
    let server = Server::start(config).await.expect("server");
    let key = key(&server).await;
    let mut receiver = Receiver::start(0).await;
    let cases = [
        ("+15550000486", "busy", "busy", "user_busy"),
        (
            "+15550000603",
            "not picked up",
            "declined_by_callee",
            "call_rejected",
        ),
        ("+15550000480", "not picked up", "no_answer", "no_user_response"),
        ("+15550000404", "failed", "failed", "unallocated_number"),
    ];
    for (number, call_status, poll_outcome, cause) in cases {
        let (status, _, created) = send(
            &server,
            Method::POST,
            "/api/call-prompt",
            Some(&key),
            Some(json!({"prompt": PROMPT, "recipient_phone": number, "callback_url": receiver.url()})),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let hook = receiver.next().await;
        assert_eq!(hook.body["call_status"], call_status, "{number}: {}", hook.body);
        let (status, _, fired) = send(
            &server,
            Method::POST,
            "/call",
            Some(&key),
            Some(json!({"to": number, "task": PROMPT})),
        )
        .await;
        assert_eq!(status, 200);
        let id = fired["call_id"].as_str().expect("id");
        let mut polled = Value::Null;
        for _ in 0..300 {
            polled = send(&server, Method::GET, &format!("/call/{id}"), Some(&key), None)
                .await
                .2;
            if polled["lifecycle"] == "finalized" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(polled["outcome"], poll_outcome, "{number}: {polled}");
        assert_eq!(polled["hangup_cause"], cause, "{number}");
        assert_eq!(
            polled["sip_hangup_cause"],
            number[number.len() - 3..].to_string(),
            "{number}"
        );
    }
    server.shutdown().await;
}

/// A server killed in the middle of a conversation (SIGKILL, nothing flushed) leaves a recording
/// that no call row points to (and whose header may lag its audio). After a restart the call is finalized `failed` with
/// the interruption as cause, and its recording is repaired and served (and so later purged by
/// retention), not orphaned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_killed_mid_conversation_keeps_its_recording() {
    use ringback_testbed::{Phone, PhoneOptions, speech};
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let greeting = speech::render_phone_audio(&[(1.0, "Hello, who is this?")], 40.0)
        .await
        .expect("renders");
    let _alice = Phone::start(PhoneOptions::new(trunk.addr(), &greeting))
        .await
        .expect("alice starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = free_tcp_port();
    let config = dir.path().join("ringback.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
             [storage]\ndata_dir = \"{data}\"\n[webhooks]\nallow_private = true\n\
             [[trunks]]\nname = \"kamailio\"\nproxy = \"{trunk}\"\ndomain = \"trunk.test\"\nusername = \"agent\"\n\
             password = \"agentpw\"\n",
            data = data.display(),
            trunk = trunk.addr(),
        ),
    )
    .expect("config");
    let key = create_key(&config);
    let server = serve(&config, port).await;
    let (status, call) = http(
        port,
        Method::POST,
        "/v1/calls",
        &key,
        Some(json!({"to": "+15550001234", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    let id = call["call_id"].as_str().expect("id").to_owned();
    wait_for(port, &key, &id, "answered").await;
    // The agent's disclosure and the phone's greeting reach the recording.
    tokio::time::sleep(Duration::from_secs(6)).await;
    drop(server); // SIGKILL mid-call.

    let file = data.join("recordings").join(format!("{id}.wav"));
    // The recorder keeps its header at most a second behind (media-core's recorder), so what
    // the crash loses is the call's link to the file, not the audio.
    let on_disk = std::fs::metadata(&file)
        .expect("a recording was being written")
        .len();
    assert!(on_disk > 44 + 32_000, "{on_disk} bytes recorded before the kill");

    let server = serve(&config, port).await;
    let call = wait_for(port, &key, &id, "finalized").await;
    assert_eq!(call["outcome"], "failed", "{call:#}");
    assert!(
        call["error"].as_str().unwrap_or("").contains("interrupted"),
        "{call:#}"
    );
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/calls/{id}/recording"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status().as_u16(),
        200,
        "the recovered recording is served"
    );
    let served = response.bytes().await.expect("body");
    let copy = dir.path().join("served.wav");
    std::fs::write(&copy, &served).expect("write");
    let length = speech::wav_duration(&copy).expect("a readable WAV");
    assert!(length > Duration::from_secs(3), "recovered {length:?}");
    let agent = speech::channel_rms(&copy, 1).expect("agent channel");
    assert!(agent > 0.01, "the agent's words survive the crash: RMS {agent}");
    drop(server);
}
