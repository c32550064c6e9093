//! The chat-completions client against a fake OpenAI-compatible server started by the test: streaming
//! with tool calls, retries, timeouts, and error statuses.

use agent_runtime::llm::{ChatMessage, ChatRole, Delta, LlmClient, LlmConfig, LlmError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Clone)]
struct Fake {
    calls: Arc<AtomicUsize>,
    /// Fail this many requests with 503 first.
    fail_first: usize,
    /// Wait this long before answering.
    delay: Duration,
    bodies: Arc<std::sync::Mutex<Vec<Value>>>,
}

async fn chat(State(fake): State<Fake>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let n = fake.calls.fetch_add(1, Ordering::SeqCst);
    fake.bodies.lock().expect("lock").push(body.0.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return (StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    if n < fake.fail_first {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    tokio::time::sleep(fake.delay).await;
    if body.0["stream"] == json!(true) {
        let events = [
            json!({"choices":[{"delta":{"role":"assistant","content":"Great, "}}]}),
            json!({"choices":[{"delta":{"content":"thank you."}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"collect_field","arguments":"{\"name\":\"conf"}}]}}]}),
            json!({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"irmed\",\"value\":\"yes\"}"}}]}}]}),
            json!({"choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
        ];
        let mut text = String::new();
        for e in events {
            text.push_str(&format!("data: {e}\n\n"));
        }
        text.push_str("data: [DONE]\n\n");
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(text))
            .expect("response")
    } else {
        axum::Json(json!({"choices":[{"message":{"role":"assistant","content":"{\"ok\":true}"}}]}))
            .into_response()
    }
}

async fn server(fake: Fake) -> String {
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

fn fake(fail_first: usize, delay: Duration) -> Fake {
    Fake {
        calls: Arc::default(),
        fail_first,
        delay,
        bodies: Arc::default(),
    }
}

fn client(base_url: String, first_token_ms: u64) -> LlmClient {
    LlmClient::new(LlmConfig {
        base_url,
        api_key: Some("sk-test".into()),
        model: "test-model".into(),
        first_token_timeout_ms: first_token_ms,
        timeout_ms: 5_000,
        retries: 2,
        temperature: 0.0,
        max_tokens: 100,
    })
    .expect("client")
}

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::text(ChatRole::System, "be brief"),
        ChatMessage::text(ChatRole::User, "yes"),
    ]
}

#[tokio::test]
async fn a_stream_yields_text_then_the_assembled_tool_call() {
    let f = fake(0, Duration::ZERO);
    let base = server(f.clone()).await;
    let mut stream = client(base, 5_000)
        .stream(&messages(), &[])
        .await
        .expect("stream starts");
    let mut got = Vec::new();
    while let Some(d) = stream.deltas.recv().await {
        got.push(d.expect("no error"));
    }
    assert_eq!(got[0], Delta::Text("Great, ".into()));
    assert_eq!(got[1], Delta::Text("thank you.".into()));
    let Delta::ToolCall(call) = &got[2] else {
        panic!("{got:?}")
    };
    assert_eq!(call.function.name, "collect_field");
    assert_eq!(call.args(), json!({"name": "confirmed", "value": "yes"}));
    assert_eq!(got.last(), Some(&Delta::Done));
    let body = f.bodies.lock().expect("lock")[0].clone();
    assert_eq!(
        (body["model"].clone(), body["stream"].clone()),
        (json!("test-model"), json!(true))
    );
    assert_eq!(body["messages"][1]["content"], "yes");
    assert_eq!(body["max_tokens"], 100, "a turn is bounded");
}

#[tokio::test]
async fn busy_servers_are_retried() {
    let f = fake(2, Duration::ZERO);
    let base = server(f.clone()).await;
    let reply = client(base, 5_000)
        .complete(&messages(), &[], true, None)
        .await
        .expect("third try works");
    assert_eq!(reply.text, "{\"ok\":true}");
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        f.bodies.lock().expect("lock")[2]["response_format"]["type"],
        "json_object"
    );
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_bad_keys_are_reported() {
    let f = fake(0, Duration::from_secs(3));
    let base = server(f).await;
    let err = client(base.clone(), 300)
        .stream(&messages(), &[])
        .await
        .expect_err("too slow");
    assert!(matches!(err, LlmError::Timeout(_)), "{err}");

    let mut bad = LlmConfig {
        base_url: base,
        model: "m".into(),
        ..LlmConfig::default()
    };
    bad.api_key = Some("wrong".into());
    let err = LlmClient::new(bad)
        .expect("client")
        .complete(&messages(), &[], false, None)
        .await
        .expect_err("401");
    assert!(matches!(err, LlmError::Status { status: 401, .. }), "{err}");
}

/// A server that answers with the head of an event stream the way llama.cpp's `llama-server` does
/// while it is still reading a long prompt: a role-only chunk, a keep-alive comment, then nothing
/// for `stall` (then one token).
async fn stalling_server(stall: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let role = "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n";
                let _ = socket.write_all(format!("{head}{role}:\n\n").as_bytes()).await;
                tokio::time::sleep(stall).await;
                let token = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                let _ = socket.write_all(token.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn keep_alives_before_the_first_token_do_not_stop_its_clock() {
    let base = stalling_server(Duration::from_secs(3)).await;
    let mut stream = client(base, 300)
        .stream(&messages(), &[])
        .await
        .expect("the stream's head arrives at once");
    let mut got = Vec::new();
    while let Some(d) = stream.deltas.recv().await {
        got.push(d);
    }
    assert!(
        matches!(got.as_slice(), [Err(LlmError::Timeout(t))] if *t == Duration::from_millis(300)),
        "the first-token timeout, not the whole answer's: {got:?}"
    );
}
