//! Do-not-call lists (issue 18) through the router on a real server (real store file, real SIP
//! socket): the API to add, list, remove and import; the refusal on every face with the stable
//! `do_not_call` code and nothing stored to dial; the installation's list against the key's own;
//! and the dial-time check for a call that was queued before its number was listed, against a
//! real UDP socket standing in for a trunk that never answers (what it receives is what was dialled).

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{config, dead_port, key};
use http_body_util::BodyExt;
use ringback::http::{AppState, app};
use ringback::server::Server;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

const PROMPT: &str = "Ask if they can come on Tuesday.";

struct Answer {
    status: StatusCode,
    body: Value,
}

async fn send(router: &Router, method: &str, uri: &str, key: &str, body: Option<Value>) -> Answer {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream");
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    answer(router, request).await
}

async fn send_csv(router: &Router, uri: &str, key: &str, csv: &str) -> Answer {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "text/csv")
        .body(Body::from(csv.to_owned()))
        .expect("request");
    answer(router, request).await
}

async fn answer(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn start(
    trunk: std::net::SocketAddr,
    edit: impl FnOnce(&mut ringback::config::Config),
) -> (tempfile::TempDir, Server, Router) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), trunk);
    config.limits.requests_per_minute = 1000;
    edit(&mut config);
    let server = Server::start(config).await.expect("server starts");
    let router = app(AppState::new(server.service.clone(), 1000, false));
    (data, server, router)
}

/// The numbers of every call stored for `key`.
async fn stored_calls(router: &Router, key: &str) -> Vec<String> {
    let list = send(router, "GET", "/v1/calls?limit=100", key, None).await;
    list.body["data"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["to"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_number_is_refused_on_every_face_and_nothing_is_queued() {
    let (_data, server, router) = start(dead_port(), |_| {}).await;
    let key_a = key(&server).await;
    let key_b = key(&server).await;

    // Listed in key A's list, written the way people write numbers: stored normalized.
    let added = send(
        &router,
        "POST",
        "/v1/dnc",
        &key_a,
        Some(json!({"number": "+1 (555) 123-0001"})),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["number"], "+15551230001");
    assert_eq!(added.body["scope"], "key");
    assert_eq!(added.body["source"], "api");
    let again = send(
        &router,
        "POST",
        "/v1/dnc",
        &key_a,
        Some(json!({"number": "+15551230001"})),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "a second add keeps the first entry");
    let bad = send(
        &router,
        "POST",
        "/v1/dnc",
        &key_a,
        Some(json!({"number": "555-0001"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["code"], "invalid_number");

    // Every face refuses it for key A with the same code, and stores nothing to dial.
    let v1 = send(
        &router,
        "POST",
        "/v1/calls",
        &key_a,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(v1.status, StatusCode::FORBIDDEN, "{}", v1.body);
    assert_eq!(v1.body["error"]["code"], "do_not_call");
    assert_eq!(v1.body["error"]["field"], "to");
    let prompt = send(
        &router,
        "POST",
        "/api/call-prompt",
        &key_a,
        Some(json!({"prompt": PROMPT, "recipient_phone": "+1 555 123 0001"})),
    )
    .await;
    assert_eq!(prompt.status, StatusCode::FORBIDDEN, "{}", prompt.body);
    assert_eq!(prompt.body["error"]["code"], "do_not_call");
    assert_eq!(prompt.body["success"], false);
    let poll = send(
        &router,
        "POST",
        "/call",
        &key_a,
        Some(json!({"to": "+15551230001", "task": PROMPT})),
    )
    .await;
    assert_eq!(poll.body["error"]["code"], "do_not_call", "{}", poll.body);
    let mcp = send(
        &router,
        "POST",
        "/mcp",
        &key_a,
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "call_phone", "arguments": {"to": "+15551230001", "task": PROMPT}}})),
    )
    .await;
    assert_eq!(mcp.body["result"]["isError"], true, "{}", mcp.body);
    assert!(
        mcp.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("do-not-call"),
        "{}",
        mcp.body
    );
    // A bridge number on the list is refused too.
    let bridge = send(
        &router,
        "POST",
        "/v1/calls",
        &key_a,
        Some(json!({"to": "+15551239999", "prompt": PROMPT, "bridge_number": "+15551230001"})),
    )
    .await;
    assert_eq!(bridge.body["error"]["code"], "do_not_call");
    assert_eq!(bridge.body["error"]["field"], "bridge_number");
    assert!(
        stored_calls(&router, &key_a).await.is_empty(),
        "nothing was queued"
    );

    // Key A's list is key A's: key B may call the number...
    let b = send(
        &router,
        "POST",
        "/v1/calls",
        &key_b,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    // ...until the installation lists it, which holds for every key.
    let inst = send(
        &router,
        "POST",
        "/v1/dnc",
        &key_b,
        Some(json!({"number": "+15551230001", "scope": "installation"})),
    )
    .await;
    assert_eq!(inst.status, StatusCode::CREATED, "{}", inst.body);
    let b2 = send(
        &router,
        "POST",
        "/v1/calls",
        &key_b,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(b2.body["error"]["code"], "do_not_call");
    assert!(
        b2.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("installation"),
        "{}",
        b2.body
    );
    assert_eq!(
        stored_calls(&router, &key_b).await.len(),
        1,
        "only the call made before listing"
    );

    // The refusals are in the audit log, the number masked.
    let audit = server.service.store().audit_log(0, 100).await.expect("audit");
    let refused: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "policy.refused" && r.detail.contains("do_not_call"))
        .collect();
    assert!(refused.len() >= 4, "{audit:?}");
    assert!(
        refused
            .iter()
            .all(|r| !r.subject.as_deref().unwrap_or("").contains("5551230001"))
    );

    // Key A may not take off what key B put on the installation's list (it would widen what
    // every key may dial); key B may.
    let refused = send(
        &router,
        "DELETE",
        "/v1/dnc/+15551230001?scope=installation",
        &key_a,
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"], "forbidden_scope",
        "{}",
        refused.body
    );
    let still = send(
        &router,
        "POST",
        "/v1/calls",
        &key_a,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(still.body["error"]["code"], "do_not_call", "{}", still.body);

    // Taken off both lists, key A may call it again; the removal is audited.
    let gone = send(&router, "DELETE", "/v1/dnc/+15551230001", &key_a, None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let gone = send(
        &router,
        "DELETE",
        "/v1/dnc/+15551230001?scope=installation",
        &key_b,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let missing = send(&router, "DELETE", "/v1/dnc/+15551230001", &key_a, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let allowed = send(
        &router,
        "POST",
        "/v1/calls",
        &key_a,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
    let audit = server.service.store().audit_log(0, 100).await.expect("audit");
    assert_eq!(audit.iter().filter(|r| r.action == "dnc.removed").count(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_import_names_bad_rows_and_refuses_or_skips_them_as_asked() {
    let (_data, server, router) = start(dead_port(), |_| {}).await;
    let key = key(&server).await;
    let csv = "name,number\nSam,+15551230001\nLee,not a number\nAna,\"+1 555 123 0003\"\nBo,911\nSam again,+15551230001\n";

    let refused = send_csv(&router, "/v1/dnc/import", &key, csv).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], "invalid_rows");
    let rows: Vec<u64> = refused.body["error"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["row"].as_u64())
        .collect();
    assert_eq!(rows, vec![3, 5], "{}", refused.body);
    let list = send(&router, "GET", "/v1/dnc", &key, None).await;
    assert_eq!(list.body["data"], json!([]), "nothing imported");

    let skipped = send_csv(&router, "/v1/dnc/import?on_error=skip", &key, csv).await;
    assert_eq!(skipped.status, StatusCode::OK, "{}", skipped.body);
    assert_eq!(skipped.body["added"], 2);
    assert_eq!(skipped.body["rejected"].as_array().map(Vec::len), Some(2));
    let list = send(&router, "GET", "/v1/dnc?limit=1", &key, None).await;
    assert_eq!(list.body["data"][0]["number"], "+15551230001");
    assert_eq!(list.body["data"][0]["source"], "import");
    let cursor = list.body["next_cursor"].as_str().expect("a second page");
    let page = send(
        &router,
        "GET",
        &format!("/v1/dnc?limit=1&cursor={}", cursor.replace('+', "%2B")),
        &key,
        None,
    )
    .await;
    assert_eq!(page.body["data"][0]["number"], "+15551230003", "{}", page.body);
    assert_eq!(page.body["next_cursor"], Value::Null);

    let again = send_csv(
        &router,
        "/v1/dnc/import",
        &key,
        "number\n+15551230003\n+15551230004\n",
    )
    .await;
    assert_eq!(again.body["added"], 1);
    assert_eq!(again.body["already_listed"], 1);
    // A bare list of numbers, no header line: its first number is listed too.
    let bare = send_csv(&router, "/v1/dnc/import", &key, "+15551230005\n+15551230006\n").await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.body);
    assert_eq!(bare.body["added"], 2, "{}", bare.body);
    let call = send(
        &router,
        "POST",
        "/v1/calls",
        &key,
        Some(json!({"to": "+15551230004", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(call.body["error"]["code"], "do_not_call");
    let empty = send_csv(&router, "/v1/dnc/import", &key, "").await;
    assert_eq!(empty.body["error"]["code"], "invalid_csv");
    server.shutdown().await;
}

/// Receives the trunk's datagrams until one is an INVITE; answers its Request-URI line.
async fn next_invite(trunk: &tokio::net::UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(30), trunk.recv_from(&mut buf))
            .await
            .expect("a datagram within 30 s")
            .expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("INVITE ") {
            return text.lines().next().unwrap_or_default().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_queued_before_its_number_was_listed_is_not_dialled() {
    // One channel, and a trunk that never answers: the first call holds the channel (its INVITE
    // transaction runs until Timer B, 64 x T1), the second waits in the queue.
    let trunk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (_data, server, router) = start(trunk.local_addr().expect("addr"), |c| {
        c.sip.t1_ms = 100;
        c.trunks[0].max_concurrent_calls = Some(1);
    })
    .await;
    let key = key(&server).await;
    let first = send(
        &router,
        "POST",
        "/v1/calls",
        &key,
        Some(json!({"to": "+15551230001", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let invite = next_invite(&trunk).await;
    assert!(invite.contains("15551230001"), "{invite}");
    let second = send(
        &router,
        "POST",
        "/v1/calls",
        &key,
        Some(json!({"to": "+15551230002", "prompt": PROMPT})),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let second_id = second.body["call_id"].as_str().expect("id").to_owned();
    let listed = send(
        &router,
        "POST",
        "/v1/dnc",
        &key,
        Some(json!({"number": "+15551230002", "scope": "installation"})),
    )
    .await;
    assert_eq!(listed.status, StatusCode::CREATED);

    // The second call ends without ever being dialled.
    let mut call = Value::Null;
    for _ in 0..600 {
        call = send(&router, "GET", &format!("/v1/calls/{second_id}"), &key, None)
            .await
            .body;
        if call["lifecycle"] == "finalized" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(call["lifecycle"], "finalized", "{call:#}");
    assert_eq!(call["outcome"], "failed", "{call:#}");
    // The refusal is the end reason too: a campaign ends such a recipient `do_not_call`, for good.
    assert_eq!(call["end_reason"], "do_not_call", "{call:#}");
    assert!(call["sip"]["status"].is_null(), "{call:#}");
    assert!(
        call["sip"]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("do_not_call"),
        "{call:#}"
    );
    // Nobody answered, so nobody asked: the key's own list gained no "callee_request" entry.
    let own = send(&router, "GET", "/v1/dnc", &key, None).await;
    assert_eq!(own.body["data"], json!([]), "{}", own.body);
    // Whatever the trunk received, none of it was for the listed number.
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(10), trunk.recv_from(&mut buf)).await
    {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !text.contains("15551230002"),
            "the listed number was dialled: {text}"
        );
    }
    server.shutdown().await;
}
