//! Callbacks over real sockets: a local receiver refuses the first deliveries and checks every
//! signature; the outbox retries on its schedule until a 2xx, logs each attempt, redelivers on
//! request; an unreachable receiver never holds a call up. Live events stream over SSE.

mod common;

use common::{Receiver, config, dead_port, finalized, key, send};
use reqwest::Method;
use ringback::server::Server;
use serde_json::{Value, json};
use std::time::Duration;

const PROMPT: &str = "Ask if they can come on Tuesday.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_retried_until_accepted_signed_logged_and_redeliverable() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port()))
        .await
        .expect("server");
    let key = key(&server).await;
    let mut receiver = Receiver::start(2).await;
    let (status, _, created) = send(&server, Method::POST, "/v1/calls", Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT, "callback_url": receiver.url(), "metadata": {"order": 7}}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["call_id"].as_str().expect("id").to_owned();

    let first = receiver.next().await;
    let second = receiver.next().await;
    let third = receiver.next().await;
    for hook in [&first, &second, &third] {
        assert!(hook.signature_valid, "every attempt is signed");
        assert_eq!(hook.id, first.id, "one webhook-id across retries");
        assert_eq!(hook.body, first.body, "the same body every time");
    }
    assert_eq!((first.answered, second.answered, third.answered), (500, 500, 200));
    assert_eq!(first.body["type"], "call.finalized");
    assert_eq!(first.body["data"]["call_id"], id.as_str());
    assert_eq!(first.body["data"]["outcome"], "failed");
    assert_eq!(first.body["data"]["metadata"]["order"], 7);

    // The delivery log shows the three attempts; the backlog is empty.
    let mut log = Value::Null;
    for _ in 0..50 {
        let (_, _, got) = send(
            &server,
            Method::GET,
            &format!("/v1/calls/{id}/webhooks"),
            Some(&key),
            None,
        )
        .await;
        log = got;
        if log["data"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivery = &log["data"][0];
    assert_eq!(delivery["status"], "delivered", "{log}");
    assert_eq!(delivery["attempts"], 3);
    let codes: Vec<i64> = delivery["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|a| a["status_code"].as_i64())
        .collect();
    assert_eq!(codes, [500, 500, 200]);

    // Redelivery sends the same message again.
    let delivery_id = delivery["delivery_id"].as_str().expect("id");
    let (status, _, _) = send(
        &server,
        Method::POST,
        &format!("/v1/calls/{id}/webhooks/{delivery_id}/redeliver"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let again = receiver.next().await;
    assert_eq!(again.id, first.id);
    assert!(again.signature_valid);
    let (status, _, _) = send(
        &server,
        Method::POST,
        &format!("/v1/calls/{id}/webhooks/msg_nope/redeliver"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_exhausts_the_schedule_and_the_prompt_face_gets_its_own_payload() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port()))
        .await
        .expect("server");
    let key = key(&server).await;
    let mut receiver = Receiver::start(usize::MAX).await;
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/api/call-prompt",
        Some(&key),
        Some(json!({"prompt": PROMPT, "recipient_phone": "+14155551234", "callback_url": receiver.url()})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["call_id"].as_str().expect("id").to_owned();
    // One attempt plus one per schedule entry (two in the test config), then it gives up.
    let hooks = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ];
    let body = &hooks[0].body;
    assert!(hooks.iter().all(|h| h.signature_valid));
    // The prompt-to-call callback, field by field.
    for field in [
        "call_id",
        "workflow_id",
        "call_status",
        "provider_status",
        "call_summary",
        "messages",
        "form_fills",
        "created_at",
    ] {
        assert!(body.get(field).is_some(), "{field} missing in {body}");
    }
    assert_eq!(body["call_id"], id.as_str());
    assert_eq!(body["workflow_id"], created["workflow_id"]);
    assert_eq!(body["call_status"], "failed");
    assert_eq!(body["messages"], json!([]));
    let mut status = Value::Null;
    for _ in 0..50 {
        let (_, _, log) = send(
            &server,
            Method::GET,
            &format!("/v1/calls/{id}/webhooks"),
            Some(&key),
            None,
        )
        .await;
        status = log["data"][0]["status"].clone();
        if status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "failed", "the schedule is spent");
    assert!(
        tokio::time::timeout(Duration::from_millis(800), receiver.hooks.recv())
            .await
            .is_err(),
        "no attempt after the schedule is spent"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_never_holds_a_call_up() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), dead_port());
    cfg.trunks[0].max_concurrent_calls = Some(1);
    cfg.webhooks.timeout_secs = 5;
    let server = Server::start(cfg).await.expect("server");
    let key = key(&server).await;
    // A receiver that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, _, created) = send(&server, Method::POST, "/v1/calls", Some(&key),
            Some(json!({"to": "+15551234567", "prompt": PROMPT, "callback_url": format!("http://{silent_addr}/hook")}))).await;
        assert_eq!(status, 201);
        ids.push(created["call_id"].as_str().expect("id").to_owned());
    }
    // All three are placed one after another on the single channel and finalize, while their
    // callbacks hang on the receiver (5 s timeout each).
    for id in &ids {
        let call = finalized(&server, &key, id).await;
        assert_eq!(call["outcome"], "failed");
    }
    let (_, _, log) = send(
        &server,
        Method::GET,
        &format!("/v1/calls/{}/webhooks", ids[0]),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(log["data"][0]["status"], "pending", "{log}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_stream_over_sse_until_the_call_is_finalized() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), dead_port());
    cfg.trunks[0].max_concurrent_calls = Some(1);
    let server = Server::start(cfg).await.expect("server");
    let key = key(&server).await;
    // A first call holds the only channel, so the second stays queued while we subscribe.
    let (_, _, first) = send(
        &server,
        Method::POST,
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT})),
    )
    .await;
    let (_, _, second) = send(
        &server,
        Method::POST,
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234568", "prompt": PROMPT})),
    )
    .await;
    let id = second["call_id"].as_str().expect("id").to_owned();
    let response = reqwest::Client::new()
        .get(format!("http://{}/v1/calls/{id}/events", server.http_addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let text = tokio::time::timeout(Duration::from_secs(60), response.text())
        .await
        .expect("the stream ends")
        .expect("text");
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).ok()?))
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.first(), Some(&"call"), "{text}");
    if events[0].1["lifecycle"] == "queued" {
        // Subscribed while it waited: the move to dialing came live.
        assert!(names.contains(&"lifecycle"), "{text}");
    }
    assert_eq!(names.last(), Some(&"call.finalized"), "{text}");
    assert_eq!(
        events.last().map(|(_, d)| d["outcome"].clone()),
        Some(json!("failed"))
    );
    assert!(first["call_id"].is_string());
    // A finalized call's stream is its snapshot and the final event, then it ends.
    let replay = reqwest::Client::new()
        .get(format!("http://{}/v1/calls/{id}/events", server.http_addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("stream")
        .text()
        .await
        .expect("text");
    assert_eq!(replay.matches("event: ").count(), 2, "{replay}");
    assert!(replay.contains("event: call.finalized"), "{replay}");
    let other = common::key(&server).await;
    let (status, _, _) = send(
        &server,
        Method::GET,
        &format!("/v1/calls/{id}/events"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        server.service.events().open_channels(),
        0,
        "channels are given back"
    );
    server.shutdown().await;
}
