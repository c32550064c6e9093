//! The HTTP API through its router (`tower::ServiceExt::oneshot`) on a real server (real store file,
//! real SIP socket, a trunk that never answers): auth, the three faces, idempotency (also under
//! concurrent duplicates), limits, hangup, workflows, recordings with Range, operations, MCP.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{config, dead_port, key, trunk_section};
use http_body_util::BodyExt;
use ringback::http::{AppState, app};
use ringback::server::Server;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    bytes: Vec<u8>,
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes,
    }
}

async fn start(edit: impl FnOnce(&mut ringback::config::Config)) -> (tempfile::TempDir, Server, Router) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), dead_port());
    edit(&mut config);
    let rpm = config.limits.requests_per_minute;
    let trial = config.server.trial_keys;
    let server = Server::start(config).await.expect("server starts");
    let router = app(AppState::new(server.service.clone(), rpm, trial));
    (data, server, router)
}

const PROMPT: &str = "Ask if they can come on Tuesday.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_revocable_and_never_told_apart() {
    let (_data, server, router) = start(|_| {}).await;
    let key = key(&server).await;
    let ok = call(&router, "GET", "/v1/calls", Some(&key), None, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let by_header = call(&router, "GET", "/v1/calls", None, None, &[("x-api-key", &key)]).await;
    assert_eq!(by_header.status, StatusCode::OK);

    let missing = call(&router, "GET", "/v1/calls", None, None, &[]).await;
    let unknown = call(&router, "GET", "/v1/calls", Some("rb_live_unknown"), None, &[]).await;
    let malformed = call(
        &router,
        "GET",
        "/v1/calls",
        None,
        None,
        &[("authorization", "Basic abc")],
    )
    .await;
    for answer in [&missing, &unknown, &malformed] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.bytes, missing.bytes, "every 401 says the same thing");
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
    }

    let listed = ringback::keys::list(server.service.store()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].hash.contains(&key), "only a hash is stored");
    let revoked = ringback::keys::revoke(
        server.service.store(),
        &ringback::clock::SystemClock,
        &listed[0].prefix,
    )
    .await
    .expect("revoke");
    assert!(revoked.is_some());
    let after = call(&router, "GET", "/v1/calls", Some(&key), None, &[]).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.bytes, missing.bytes);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_calls_list_with_filters_and_cursor_and_stay_with_their_key() {
    let (_data, server, router) = start(|c| c.limits.requests_per_minute = 1000).await;
    let key = key(&server).await;
    let other = common::key(&server).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let to = format!("+1555000100{n}");
        let created = call(
            &router,
            "POST",
            "/v1/calls",
            Some(&key),
            Some(json!({"to": to, "prompt": PROMPT, "metadata": {"n": n}})),
            &[],
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["lifecycle"], "queued");
        assert_eq!(created.body["metadata"]["n"], n);
        ids.push(created.body["call_id"].as_str().expect("id").to_owned());
    }
    // Pages of two, newest first, covering every call once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..4 {
        let uri = match &cursor {
            Some(c) => format!("/v1/calls?limit=2&cursor={c}"),
            None => "/v1/calls?limit=2".to_owned(),
        };
        let page = call(&router, "GET", &uri, Some(&key), None, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for c in page.body["data"].as_array().expect("data") {
            seen.push(c["call_id"].as_str().expect("id").to_owned());
        }
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let by_to = call(
        &router,
        "GET",
        "/v1/calls?to=%2B15550001003",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(
        by_to.body["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        by_to.body
    );
    let future = call(
        &router,
        "GET",
        "/v1/calls?created_after=2999-01-01T00:00:00Z",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(future.body["data"], json!([]));
    for bad in [
        "/v1/calls?lifecycle=sleeping",
        "/v1/calls?limit=0",
        "/v1/calls?limit=x",
        "/v1/calls?cursor=%%%",
        "/v1/calls?created_after=yesterday",
    ] {
        let answer = call(&router, "GET", bad, Some(&key), None, &[]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {}", answer.body);
    }
    // Another key sees none of them.
    let theirs = call(&router, "GET", "/v1/calls", Some(&other), None, &[]).await;
    assert_eq!(theirs.body["data"], json!([]));
    let get = call(
        &router,
        "GET",
        &format!("/v1/calls/{}", ids[0]),
        Some(&other),
        None,
        &[],
    )
    .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    // The dead trunk fails them all, with the cause; the outcome filter finds them.
    let done = common::finalized(&server, &key, &ids[4]).await;
    assert_eq!(done["outcome"], "failed");
    assert_eq!(done["sip"]["reason"], "no response from the trunk");
    for id in &ids {
        common::finalized(&server, &key, id).await;
    }
    let failed = call(
        &router,
        "GET",
        "/v1/calls?outcome=failed&lifecycle=finalized&limit=100",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(failed.body["data"].as_array().map(Vec::len), Some(5));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_returns_the_original_call_and_never_dials_twice() {
    let (_data, server, router) = start(|c| c.limits.requests_per_minute = 1000).await;
    let key = key(&server).await;
    let body = json!({"to": "+15551234567", "prompt": PROMPT});
    let first = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(body.clone()),
        &[("idempotency-key", "order-1")],
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(body.clone()),
        &[("idempotency-key", "order-1")],
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["call_id"], first.body["call_id"]);
    // The key in the body works the same; a different request with it is refused.
    let in_body = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT, "idempotency_key": "order-1"})),
        &[],
    )
    .await;
    assert_eq!(in_body.body["call_id"], first.body["call_id"]);
    let changed = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15557654321", "prompt": PROMPT})),
        &[("idempotency-key", "order-1")],
    )
    .await;
    assert_eq!(changed.status, StatusCode::CONFLICT);
    assert_eq!(changed.body["error"]["code"], "idempotency_key_reused");

    // Twenty concurrent duplicates: one call, one answer.
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let router = router.clone();
            let key = key.clone();
            let body = json!({"to": "+15552223333", "prompt": PROMPT});
            tokio::spawn(async move {
                call(
                    &router,
                    "POST",
                    "/v1/calls",
                    Some(&key),
                    Some(body),
                    &[("idempotency-key", "race")],
                )
                .await
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for racer in racers {
        let answer = racer.await.expect("task");
        assert!(
            answer.status == StatusCode::CREATED || answer.status == StatusCode::OK,
            "{}",
            answer.body
        );
        created += usize::from(answer.status == StatusCode::CREATED);
        ids.insert(answer.body["call_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(
        (created, ids.len()),
        (1, 1),
        "exactly one call for twenty duplicates"
    );
    let listed = call(
        &router,
        "GET",
        "/v1/calls?to=%2B15552223333",
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_expire_after_their_window() {
    let (_data, server, router) = start(|c| c.limits.idempotency_window = Duration::from_millis(500)).await;
    let key = key(&server).await;
    let body = json!({"to": "+15551234567", "prompt": PROMPT});
    let first = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(body.clone()),
        &[("idempotency-key", "k")],
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let later = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(body),
        &[("idempotency-key", "k")],
    )
    .await;
    assert_eq!(
        later.status,
        StatusCode::CREATED,
        "the key is free again after its window"
    );
    assert_ne!(later.body["call_id"], first.body["call_id"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let (_data, server, router) = start(|c| c.limits.requests_per_minute = 3).await;
    let key = key(&server).await;
    let other = common::key(&server).await;
    for remaining in ["2", "1", "0"] {
        let answer = call(&router, "GET", "/v1/calls", Some(&key), None, &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["ratelimit-limit"], "3");
        assert_eq!(answer.headers["ratelimit-remaining"], remaining);
        assert!(answer.headers.contains_key("ratelimit-reset"));
    }
    let limited = call(&router, "GET", "/v1/calls", Some(&key), None, &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    let theirs = call(&router, "GET", "/v1/calls", Some(&other), None, &[]).await;
    assert_eq!(theirs.status, StatusCode::OK, "limits are per key");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_cap_and_emergency_numbers_are_refused() {
    let (_data, server, router) = start(|c| c.limits.daily_calls_per_key = 2).await;
    let key = key(&server).await;
    for _ in 0..2 {
        let ok = call(
            &router,
            "POST",
            "/v1/calls",
            Some(&key),
            Some(json!({"to": "+15551234567", "prompt": PROMPT})),
            &[],
        )
        .await;
        assert_eq!(ok.status, StatusCode::CREATED);
    }
    let capped = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(capped.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(capped.body["error"]["code"], "daily_cap_reached");
    assert!(capped.headers.contains_key("retry-after"));
    let other = common::key(&server).await;
    for number in ["+911", "+112", "+44999", "+1911"] {
        let refused = call(
            &router,
            "POST",
            "/v1/calls",
            Some(&other),
            Some(json!({"to": number, "prompt": PROMPT})),
            &[],
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{number}");
        assert_eq!(refused.body["error"]["code"], "emergency_number", "{number}");
        let poll = call(
            &router,
            "POST",
            "/call",
            Some(&other),
            Some(json!({"to": number, "task": PROMPT})),
            &[],
        )
        .await;
        assert_eq!(poll.body["error"]["code"], "emergency_number", "{number}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_stays_up_while_readiness_follows_the_trunks() {
    // A registering trunk that never answers: the node is alive but not ready.
    let (_data, server, router) = start(|c| {
        c.trunks = vec![trunk_section("down", dead_port(), Some("pw"))];
    })
    .await;
    let live = call(&router, "GET", "/livez", None, None, &[]).await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.body);
    assert_eq!(live.body["status"], "ok");
    assert_eq!(live.body["version"], env!("CARGO_PKG_VERSION"));
    let ready = call(&router, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    assert_eq!(ready.body["status"], "unavailable");
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["trunks"][0]["name"], "down");
    assert_eq!(ready.body["trunks"][0]["ready"], false);
    let health = call(&router, "GET", "/healthz", None, None, &[]).await;
    assert_eq!(
        (
            health.status,
            &health.body["status"],
            &health.body["trunks"][0]["ready"]
        ),
        (
            ready.status,
            &ready.body["status"],
            &ready.body["trunks"][0]["ready"]
        ),
        "/healthz is /readyz under its older name"
    );
    // Neither probe wants a key.
    for path in ["/livez", "/readyz"] {
        let answer = call(&router, "GET", path, None, None, &[]).await;
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    server.shutdown().await;

    // With nothing to wait for, ready too.
    let (_data, server, router) = start(|_| {}).await;
    let ready = call(&router, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["status"], "ok");
    let live = call(&router, "GET", "/livez", None, None, &[]).await;
    assert_eq!(live.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_trunk_queues_calls_up_to_its_bound_and_hangup_cancels_them() {
    // The trunk registers and never answers: each placed call holds the one channel while it waits
    // for a registration that never comes.
    let (_data, server, router) = start(|c| {
        c.trunks = vec![trunk_section("slow", dead_port(), Some("pw"))];
        c.trunks[0].max_concurrent_calls = Some(1);
        c.limits.queue_capacity = 2;
        c.limits.requests_per_minute = 1000;
    })
    .await;
    let key = key(&server).await;
    let new = |n: u32| json!({"to": format!("+1555000200{n}"), "prompt": PROMPT});
    let a = call(&router, "POST", "/v1/calls", Some(&key), Some(new(1)), &[]).await;
    let a_id = a.body["call_id"].as_str().expect("id").to_owned();
    for _ in 0..100 {
        let got = call(
            &router,
            "GET",
            &format!("/v1/calls/{a_id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
        if got.body["lifecycle"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = call(&router, "POST", "/v1/calls", Some(&key), Some(new(2)), &[]).await;
    let c = call(&router, "POST", "/v1/calls", Some(&key), Some(new(3)), &[]).await;
    assert_eq!((b.status, c.status), (StatusCode::CREATED, StatusCode::CREATED));
    let full = call(&router, "POST", "/v1/calls", Some(&key), Some(new(4)), &[]).await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE, "{}", full.body);
    assert_eq!(full.body["error"]["code"], "queue_full");
    let health = call(&router, "GET", "/healthz", None, None, &[]).await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "an unregistered trunk is not ready"
    );
    assert_eq!(health.body["trunks"][0]["queued"], 2);
    assert_eq!(health.body["trunks"][0]["active"], 1);

    // Hanging up a queued call cancels it at once and frees its place.
    let b_id = b.body["call_id"].as_str().expect("id");
    let hung = call(
        &router,
        "POST",
        &format!("/v1/calls/{b_id}/hangup"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(hung.status, StatusCode::ACCEPTED);
    assert_eq!(
        (hung.body["lifecycle"].clone(), hung.body["outcome"].clone()),
        (json!("finalized"), json!("canceled"))
    );
    let again = call(
        &router,
        "POST",
        &format!("/v1/calls/{b_id}/hangup"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let d = call(&router, "POST", "/v1/calls", Some(&key), Some(new(5)), &[]).await;
    assert_eq!(d.status, StatusCode::CREATED);
    // Hanging up the call that holds the channel cancels it; the next one is placed.
    let hung = call(
        &router,
        "POST",
        &format!("/v1/calls/{a_id}/hangup"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(hung.status, StatusCode::ACCEPTED);
    let a_done = common::finalized(&server, &key, &a_id).await;
    assert_eq!(a_done["outcome"], "canceled", "{a_done}");
    let c_id = c.body["call_id"].as_str().expect("id");
    for _ in 0..100 {
        let got = call(
            &router,
            "GET",
            &format!("/v1/calls/{c_id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
        if got.body["lifecycle"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c_now = call(
        &router,
        "GET",
        &format!("/v1/calls/{c_id}"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_ne!(
        c_now.body["lifecycle"], "queued",
        "the freed channel takes the next call"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_and_the_prompt_to_call_face() {
    let (_data, server, router) = start(|c| c.limits.requests_per_minute = 1000).await;
    let key = key(&server).await;
    let vague = call(
        &router,
        "POST",
        "/v1/workflows",
        Some(&key),
        Some(json!({"prompt": "Be nice."})),
        &[],
    )
    .await;
    assert_eq!(vague.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(vague.body["error"]["code"], "prompt_too_vague");
    let wf = call(
        &router,
        "POST",
        "/v1/workflows",
        Some(&key),
        Some(json!({"prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(wf.status, StatusCode::CREATED, "{}", wf.body);
    assert!(
        wf.body["opening"].as_str().unwrap_or("").contains("AI assistant"),
        "the disclosure is always there"
    );
    let wf_id = wf.body["workflow_id"].as_str().expect("id");
    let got = call(
        &router,
        "GET",
        &format!("/v1/workflows/{wf_id}"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(got.body["questions"], wf.body["questions"]);
    let other = common::key(&server).await;
    let hidden = call(
        &router,
        "GET",
        &format!("/v1/workflows/{wf_id}"),
        Some(&other),
        None,
        &[],
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    let created = call(&router, "POST", "/api/call-prompt", Some(&key),
        Some(json!({"prompt": PROMPT, "recipient_phone": "+14155551234", "idempotency_key": "order-12345-confirm"})), &[]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["success"], true);
    let keys: Vec<&String> = created.body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 3, "{}", created.body);
    assert!(
        created.body["workflow_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("wf_")
    );
    assert!(
        created.body["call_id"]
            .as_str()
            .unwrap_or("")
            .starts_with("call_")
    );
    let replay = call(&router, "POST", "/api/call-prompt", Some(&key),
        Some(json!({"prompt": PROMPT, "recipient_phone": "+14155551234", "idempotency_key": "order-12345-confirm"})), &[]).await;
    assert_eq!(replay.body["call_id"], created.body["call_id"]);
    let with_wf = call(
        &router,
        "POST",
        "/api/call",
        Some(&key),
        Some(json!({"workflow_id": wf_id, "recipient_phone": "+14155551234"})),
        &[],
    )
    .await;
    assert_eq!(with_wf.status, StatusCode::OK, "{}", with_wf.body);
    assert_eq!(with_wf.body["workflow_id"], wf.body["workflow_id"]);
    // Its errors: 400 / 401 / 422, with success false and a message.
    let bad_phone = call(
        &router,
        "POST",
        "/api/call-prompt",
        Some(&key),
        Some(json!({"prompt": PROMPT, "recipient_phone": "4155551234"})),
        &[],
    )
    .await;
    assert_eq!(bad_phone.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_phone.body["success"], false);
    assert!(bad_phone.body["message"].as_str().unwrap_or("").contains("E.164"));
    let missing = call(
        &router,
        "POST",
        "/api/call-prompt",
        Some(&key),
        Some(json!({"prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let too_vague = call(
        &router,
        "POST",
        "/api/call-prompt",
        Some(&key),
        Some(json!({"prompt": "Hi.", "recipient_phone": "+14155551234"})),
        &[],
    )
    .await;
    assert_eq!(too_vague.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_vague.body["success"], false);
    let no_key = call(
        &router,
        "POST",
        "/api/call-prompt",
        None,
        Some(json!({"prompt": PROMPT, "recipient_phone": "+14155551234"})),
        &[],
    )
    .await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fire_and_poll_face_keeps_lifecycle_apart_from_outcome_and_can_issue_trial_keys() {
    let (_data, server, router) = start(|c| {
        c.limits.requests_per_minute = 1000;
        c.server.trial_keys = true;
    })
    .await;
    let fired = call(
        &router,
        "POST",
        "/call",
        None,
        Some(json!({"to": "+15555550123", "task": "Ask what the weather is like?"})),
        &[],
    )
    .await;
    assert_eq!(fired.status, StatusCode::OK, "{}", fired.body);
    assert_eq!(fired.body["lifecycle"], "queued");
    let trial = fired.body["api_key"]
        .as_str()
        .expect("a trial key for an anonymous first call")
        .to_owned();
    let id = fired.body["call_id"].as_str().expect("id").to_owned();
    let polled = call(
        &router,
        "GET",
        &format!("/call/{id}"),
        None,
        None,
        &[("x-api-key", &trial)],
    )
    .await;
    assert_eq!(polled.status, StatusCode::OK);
    assert_ne!(
        polled.body["lifecycle"], "ringing",
        "ringing shows as dialing on this face"
    );
    let mut last = polled.body;
    for _ in 0..300 {
        if last["lifecycle"] == "finalized" {
            break;
        }
        assert!(last["outcome"].is_null(), "no outcome before finalized: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = call(
            &router,
            "GET",
            &format!("/call/{id}"),
            None,
            None,
            &[("x-api-key", &trial)],
        )
        .await
        .body;
    }
    assert_eq!(last["lifecycle"], "finalized");
    assert_eq!(last["outcome"], "failed");
    assert_eq!(last["hangup_cause"], "network_out_of_order");
    assert_eq!(last["talk_seconds"], 0.0);
    assert_eq!(last["transcript"], json!([]));
    // With a key, no new key is issued; bad input mints none either.
    let keyed = call(
        &router,
        "POST",
        "/call",
        None,
        Some(json!({"to": "+15555550123", "task": PROMPT})),
        &[("x-api-key", &trial)],
    )
    .await;
    assert!(keyed.body.get("api_key").is_none());
    let before = ringback::keys::list(server.service.store())
        .await
        .expect("keys")
        .len();
    let bad = call(
        &router,
        "POST",
        "/call",
        None,
        Some(json!({"to": "nope", "task": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        ringback::keys::list(server.service.store())
            .await
            .expect("keys")
            .len(),
        before
    );
    let unknown = call(
        &router,
        "GET",
        "/call/call_nope",
        None,
        None,
        &[("x-api-key", &trial)],
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_served_with_range_and_only_to_their_key() {
    let (data, server, router) = start(|_| {}).await;
    let key = key(&server).await;
    let owner = ringback::keys::authenticate(server.service.store(), &key)
        .await
        .expect("store")
        .expect("key")
        .id;
    // A finished call as the call runner leaves it (on a trunk no dispatcher serves, so nothing dials it).
    let id = "call_0000recorded".to_owned();
    let store = server.service.store();
    let row = ringback::store::CallRow {
        id: id.clone(),
        workflow_id: "wf_0000recorded".into(),
        api_key_id: Some(owner.clone()),
        direction: "outbound".into(),
        to_number: "+15551234567".into(),
        from_number: None,
        trunk: "archive".into(),
        lifecycle: "queued".into(),
        outcome: None,
        sip_status: None,
        sip_reason: None,
        hangup_by: None,
        summary: None,
        transcript: "[]".into(),
        form_fills: "{}".into(),
        talk_ms: None,
        recording_path: None,
        media: None,
        callback_url: None,
        metadata: "{}".into(),
        error: None,
        created_at: "2026-01-01T00:00:00.000Z".into(),
        answered_at: None,
        ended_at: None,
        face: "v1".into(),
        idempotency_key: None,
        bridge_number: None,
        created_ms: 0,
        purged_at: None,
        dtmf: "[]".into(),
        amd: None,
        end_reason: None,
        latency: "[]".into(),
        campaign_id: None,
    };
    let workflow = ringback::store::WorkflowRow {
        id: row.workflow_id.clone(),
        prompt: PROMPT.into(),
        definition: "{}".into(),
        created_at: row.created_at.clone(),
        api_key_id: Some(owner),
    };
    store
        .insert_call(&row, Some(&workflow), None)
        .await
        .expect("insert");
    let none = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.body["error"]["code"], "no_recording");
    let wav = data.path().join("recordings").join(format!("{id}.wav"));
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&wav, &bytes).expect("write");
    let transcript = r#"[{"role":"agent","text":"Hello","start_ms":0,"end_ms":500,"interrupted":false}]"#;
    let f = ringback::store::Finalized {
        outcome: "completed",
        transcript: Some(transcript),
        recording_path: Some(wav.to_str().expect("utf-8")),
        ended_at: "2026-01-01T00:01:00.000Z",
        ..Default::default()
    };
    store
        .finalize(&id, &f, false, |_| None)
        .await
        .expect("finalize")
        .expect("was live");
    let whole = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&key),
        None,
        &[],
    )
    .await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.headers["content-type"], "audio/wav");
    assert_eq!(whole.bytes, bytes);
    let part = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&key),
        None,
        &[("range", "bytes=100-199")],
    )
    .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers["content-range"], "bytes 100-199/4096");
    assert_eq!(part.bytes, bytes[100..200]);
    let poll_face = call(
        &router,
        "GET",
        &format!("/call/{id}/recording"),
        Some(&key),
        None,
        &[("range", "bytes=4000-")],
    )
    .await;
    assert_eq!(poll_face.bytes, bytes[4000..]);
    let unsatisfiable = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&key),
        None,
        &[("range", "bytes=9000-9100")],
    )
    .await;
    assert_eq!(unsatisfiable.status, StatusCode::RANGE_NOT_SATISFIABLE);
    let anonymous = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let other = common::key(&server).await;
    let theirs = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&other),
        None,
        &[],
    )
    .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let call_obj = call(&router, "GET", &format!("/v1/calls/{id}"), Some(&key), None, &[]).await;
    assert!(
        call_obj.body["recording_url"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!("/v1/calls/{id}/recording"))
    );

    // Retention purges the recording and the transcript once the call is old enough.
    let deleted = ringback::retention::purge(server.service.store(), &ringback::clock::SystemClock, 30)
        .await
        .expect("purge");
    assert_eq!(deleted, 1);
    assert!(!wav.exists());
    let purged = call(&router, "GET", &format!("/v1/calls/{id}"), Some(&key), None, &[]).await;
    assert!(purged.body["recording_url"].is_null());
    assert_eq!(purged.body["transcript"], json!([]));
    assert_eq!(purged.body["outcome"], "completed", "the outcome stays");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_and_the_openapi_document() {
    let (_data, server, router) = start(|_| {}).await;
    let health = call(&router, "GET", "/healthz", None, None, &[]).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.body);
    assert_eq!(health.body["trunks"][0]["registration"], "not_required");
    let key = key(&server).await;
    let created = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT})),
        &[],
    )
    .await;
    common::finalized(&server, &key, created.body["call_id"].as_str().expect("id")).await;
    let metrics = call(&router, "GET", "/metrics", None, None, &[]).await;
    let text = String::from_utf8(metrics.bytes).expect("utf-8");
    for family in [
        "ringback_calls_total{outcome=\"failed\"} 1",
        "ringback_active_calls 0",
        "ringback_trunk_registered{trunk=\"test\"} 1",
        "ringback_webhook_backlog 0",
        "ringback_media_loss_percent",
        "ringback_media_jitter_ms",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    let doc = call(&router, "GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(doc.status, StatusCode::OK);
    let paths = doc.body["paths"].as_object().expect("paths");
    for path in [
        "/v1/calls",
        "/v1/calls/{id}",
        "/v1/calls/{id}/hangup",
        "/v1/calls/{id}/recording",
        "/v1/calls/{id}/events",
        "/v1/calls/{id}/webhooks",
        "/v1/calls/{id}/webhooks/{delivery_id}/redeliver",
        "/v1/workflows",
        "/v1/workflows/{id}",
        "/api/call-prompt",
        "/api/call",
        "/call",
        "/call/{id}",
        "/call/{id}/recording",
        "/healthz",
        "/livez",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} undocumented");
    }
    assert_eq!(
        doc.body["paths"]["/readyz"]["get"]["responses"], doc.body["paths"]["/healthz"]["get"]["responses"],
        "the alias is documented as what it is"
    );
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_endpoint_places_and_follows_calls() {
    let (_data, server, router) = start(|c| c.limits.requests_per_minute = 1000).await;
    let key = key(&server).await;
    let rpc = |id: u32, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mcp = |body: Value| {
        let router = router.clone();
        let key = key.clone();
        async move {
            call(
                &router,
                "POST",
                "/mcp",
                Some(&key),
                Some(body),
                &[("accept", "application/json, text/event-stream")],
            )
            .await
        }
    };
    let init = mcp(rpc(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))).await;
    assert_eq!(init.body["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init.body["result"]["serverInfo"]["name"], "ringback");
    let note = mcp(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(note.status, StatusCode::ACCEPTED);
    let tools = mcp(rpc(2, "tools/list", json!({}))).await;
    let names: Vec<&str> = tools.body["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["call_phone", "get_call_status", "get_recording", "list_calls"]
    );
    let placed = mcp(rpc(
        3,
        "tools/call",
        json!({"name": "call_phone", "arguments": {"to": "+15551234567", "task": PROMPT}}),
    ))
    .await;
    assert_eq!(placed.body["result"]["isError"], false, "{}", placed.body);
    let id = placed.body["result"]["structuredContent"]["call_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let text: Value = serde_json::from_str(
        placed.body["result"]["content"][0]["text"]
            .as_str()
            .expect("text"),
    )
    .expect("json text");
    assert_eq!(text["call_id"], id.as_str());
    common::finalized(&server, &key, &id).await;
    let status = mcp(rpc(
        4,
        "tools/call",
        json!({"name": "get_call_status", "arguments": {"call_id": id}}),
    ))
    .await;
    assert_eq!(status.body["result"]["structuredContent"]["outcome"], "failed");
    let listed = mcp(rpc(
        5,
        "tools/call",
        json!({"name": "list_calls", "arguments": {"limit": 5}}),
    ))
    .await;
    assert_eq!(
        listed.body["result"]["structuredContent"]["data"][0]["call_id"],
        id.as_str()
    );
    let recording = mcp(rpc(
        6,
        "tools/call",
        json!({"name": "get_recording", "arguments": {"call_id": id}}),
    ))
    .await;
    assert_eq!(
        recording.body["result"]["isError"], true,
        "no recording for an unanswered call"
    );
    let emergency = mcp(rpc(
        7,
        "tools/call",
        json!({"name": "call_phone", "arguments": {"to": "+911", "task": PROMPT}}),
    ))
    .await;
    assert_eq!(emergency.body["result"]["isError"], true);
    let unknown = mcp(rpc(8, "resources/list", json!({}))).await;
    assert_eq!(unknown.body["error"]["code"], -32601);
    let garbage = call(&router, "POST", "/mcp", Some(&key), None, &[]).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let anonymous = call(
        &router,
        "POST",
        "/mcp",
        None,
        Some(rpc(9, "ping", json!({}))),
        &[],
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.shutdown().await;
}

/// A chat-completions server that answers every request with a workflow the built-in compiler's
/// rules refuse (so the built-in one stands in) and keeps the `model` each request named.
async fn model_recorder(models: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let models = models.clone();
            async move {
                let model = body.0["model"].as_str().unwrap_or_default().to_owned();
                models.lock().expect("lock").push(model);
                axum::Json(json!({"choices":[{"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_chosen_per_workflow_and_checked() {
    let models = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let base_url = model_recorder(models.clone()).await;
    let (_data, server, router) = start(|c| {
        c.limits.requests_per_minute = 1000;
        c.providers.llm = Some(agent_runtime::llm::LlmConfig {
            base_url,
            model: "configured-model".into(),
            ..Default::default()
        });
    })
    .await;
    let key = key(&server).await;
    let post = |uri: &'static str, body: Value| {
        let (router, key) = (router.clone(), key.clone());
        async move { call(&router, "POST", uri, Some(&key), Some(body), &[]).await }
    };
    let get_workflow = |id: String| {
        let (router, key) = (router.clone(), key.clone());
        async move {
            call(
                &router,
                "GET",
                &format!("/v1/workflows/{id}"),
                Some(&key),
                None,
                &[],
            )
            .await
        }
    };

    // A workflow keeps its model, and its compilation already asks that model.
    let chosen = post(
        "/v1/workflows",
        json!({"prompt": PROMPT, "model": "meta-llama/Llama-3.1-8B-Instruct"}),
    )
    .await;
    assert_eq!(chosen.status, StatusCode::CREATED, "{}", chosen.body);
    assert_eq!(chosen.body["model"], "meta-llama/Llama-3.1-8B-Instruct");
    let id = chosen.body["workflow_id"].as_str().expect("id").to_owned();
    assert_eq!(
        get_workflow(id.clone()).await.body["model"],
        "meta-llama/Llama-3.1-8B-Instruct"
    );
    let default = post("/v1/workflows", json!({"prompt": PROMPT})).await;
    assert_eq!(default.status, StatusCode::CREATED, "{}", default.body);
    assert_eq!(
        default.body["model"],
        Value::Null,
        "the configured model: {}",
        default.body
    );
    assert_eq!(
        *models.lock().expect("lock"),
        vec![
            "meta-llama/Llama-3.1-8B-Instruct".to_owned(),
            "configured-model".to_owned()
        ],
        "each compilation asked the workflow's model, else the configured one"
    );

    // Bad names are refused with a 400 that names the field and the rule.
    for bad in [json!(""), json!("gpt 4o"), json!("x\"}"), json!("a".repeat(129))] {
        let refused = post("/v1/workflows", json!({"prompt": PROMPT, "model": bad})).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "invalid_model", "{}", refused.body);
        assert_eq!(refused.body["error"]["field"], "model", "{}", refused.body);
    }
    let wrong_type = post("/v1/workflows", json!({"prompt": PROMPT, "model": 7})).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST, "{}", wrong_type.body);

    // A call with a prompt and a model: its workflow is stored with the model.
    let placed = post(
        "/v1/calls",
        json!({"to": "+15551234567", "prompt": PROMPT, "model": "qwen2.5:7b"}),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    let wf = placed.body["workflow_id"].as_str().expect("workflow").to_owned();
    assert_eq!(get_workflow(wf).await.body["model"], "qwen2.5:7b");
    let refused = post(
        "/v1/calls",
        json!({"to": "+15551234567", "prompt": PROMPT, "model": "qwen 2.5"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "invalid_model");
    // A stored workflow already chose its model.
    let with_stored = post(
        "/v1/calls",
        json!({"to": "+15551234567", "workflow_id": id, "model": "gpt-4o"}),
    )
    .await;
    assert_eq!(
        with_stored.status,
        StatusCode::BAD_REQUEST,
        "{}",
        with_stored.body
    );
    assert_eq!(with_stored.body["error"]["code"], "model_with_workflow_id");
    assert!(
        with_stored.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("POST /v1/workflows"),
        "{}",
        with_stored.body
    );
    // Another model is another request for idempotency.
    let first = post(
        "/v1/calls",
        json!({"to": "+15551234567", "prompt": PROMPT, "model": "a-model", "idempotency_key": "m-1"}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = post(
        "/v1/calls",
        json!({"to": "+15551234567", "prompt": PROMPT, "model": "a-model", "idempotency_key": "m-1"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let other = post(
        "/v1/calls",
        json!({"to": "+15551234567", "prompt": PROMPT, "model": "b-model", "idempotency_key": "m-1"}),
    )
    .await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.body);

    // The prompt-to-call face takes the model too, and refuses a bad one in its own shape.
    let prompt_face = post(
        "/api/call-prompt",
        json!({"prompt": PROMPT, "recipient_phone": "+14155551234", "model": "gpt-4o-mini"}),
    )
    .await;
    assert_eq!(prompt_face.status, StatusCode::OK, "{}", prompt_face.body);
    let wf = prompt_face.body["workflow_id"]
        .as_str()
        .expect("workflow")
        .to_owned();
    assert_eq!(get_workflow(wf).await.body["model"], "gpt-4o-mini");
    let bad = post(
        "/api/call-prompt",
        json!({"prompt": PROMPT, "recipient_phone": "+14155551234", "model": "gpt-4o mini"}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["success"], false);
    assert!(
        bad.body["message"].as_str().unwrap_or("").contains("model"),
        "{}",
        bad.body
    );

    // The OpenAPI document offers the field on all three requests.
    let doc = call(&router, "GET", "/openapi.json", None, None, &[]).await;
    for schema in ["CreateCall", "CreateWorkflow", "CallPrompt", "WorkflowObject"] {
        assert!(
            doc.body["components"]["schemas"][schema]["properties"]["model"].is_object(),
            "{schema} has no model: {}",
            doc.body["components"]["schemas"][schema]
        );
    }
    server.shutdown().await;
}

/// Toll fraud: premium-rate, satellite and international destinations are refused on every face
/// before anything is stored or dialled (and before a trial key is minted); an anonymous trial
/// cannot bridge; an operator opens countries in `[policy]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_policy_refuses_toll_fraud_numbers_on_every_face() {
    let (_data, server, router) = start(|c| {
        c.limits.requests_per_minute = 1000;
        c.server.trial_keys = true;
    })
    .await;
    let key = key(&server).await;
    for number in ["+19005550123", "+18765550123", "+881612345678", "+442071838750"] {
        let refused = call(
            &router,
            "POST",
            "/v1/calls",
            Some(&key),
            Some(json!({"to": number, "prompt": PROMPT})),
            &[],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{number}: {}",
            refused.body
        );
        assert_eq!(refused.body["error"]["code"], "destination_not_allowed");
        assert_eq!(refused.body["error"]["field"], "to");
        let bridged = call(
            &router,
            "POST",
            "/v1/calls",
            Some(&key),
            Some(json!({"to": "+15551234567", "prompt": PROMPT, "bridge_number": number})),
            &[],
        )
        .await;
        assert_eq!(bridged.status, StatusCode::FORBIDDEN, "{number}");
        assert_eq!(bridged.body["error"]["field"], "bridge_number");
        let anonymous = call(
            &router,
            "POST",
            "/call",
            None,
            Some(json!({"to": number, "task": PROMPT})),
            &[],
        )
        .await;
        assert_eq!(anonymous.status, StatusCode::FORBIDDEN, "{number}");
        assert!(
            anonymous.body["api_key"].is_null(),
            "a refused number mints no key"
        );
    }
    let trial_bridge = call(
        &router,
        "POST",
        "/call",
        None,
        Some(json!({"to": "+15551234567", "task": PROMPT, "bridge_number": "+15551230000"})),
        &[],
    )
    .await;
    assert_eq!(trial_bridge.status, StatusCode::FORBIDDEN);
    assert_eq!(trial_bridge.body["error"]["code"], "bridge_not_allowed_for_trial");
    let listed = ringback::keys::list(server.service.store()).await.expect("list");
    assert_eq!(listed.len(), 1, "no trial key was minted by a refused request");
    let calls = server
        .service
        .store()
        .calls(&ringback::store::CallFilter {
            limit: 100,
            ..ringback::store::CallFilter::default()
        })
        .await
        .expect("list");
    assert!(calls.is_empty(), "nothing refused was stored");
    server.shutdown().await;

    // International dialling is something the operator turns on; blocked ranges stay blocked.
    let (_data, server, router) =
        start(|c| c.policy.allowed_country_codes = vec!["1".into(), "44".into()]).await;
    let uk_key = common::key(&server).await;
    let uk = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&uk_key),
        Some(json!({"to": "+442071838750", "prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(uk.status, StatusCode::CREATED, "{}", uk.body);
    server.shutdown().await;
}

/// The daily cap holds under a burst: concurrent requests of one key cannot all pass the count
/// before any of them is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_calls_cannot_pass_the_daily_cap() {
    let (_data, server, router) = start(|c| {
        c.limits.daily_calls_per_key = 3;
        c.limits.requests_per_minute = 1000;
    })
    .await;
    let key = key(&server).await;
    let burst = (0..16).map(|i| {
        let router = router.clone();
        let key = key.clone();
        tokio::spawn(async move {
            call(
                &router,
                "POST",
                "/v1/calls",
                Some(&key),
                Some(json!({"to": format!("+1555123{i:04}"), "prompt": PROMPT})),
                &[],
            )
            .await
            .status
        })
    });
    let mut statuses = Vec::new();
    for task in burst.collect::<Vec<_>>() {
        statuses.push(task.await.expect("task"));
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let capped = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, capped), (3, 13), "{statuses:?}");
    server.shutdown().await;
}

/// A recording that cannot be created (a full disk, a directory that is not writable) refuses the
/// call before dialing, with that cause, instead of answering into dead air.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_recording_cannot_be_created_fails_before_dialing() {
    let (data, server, router) = start(|c| c.limits.requests_per_minute = 1000).await;
    let key = key(&server).await;
    // The recordings directory becomes a file: nothing can be created in it.
    let recordings = data.path().join("recordings");
    std::fs::remove_dir_all(&recordings).expect("remove");
    std::fs::write(&recordings, b"not a directory").expect("file");
    let created = call(
        &router,
        "POST",
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551234567", "prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["call_id"].as_str().expect("id").to_owned();
    let call = common::finalized(&server, &key, &id).await;
    assert_eq!(call["outcome"], "failed", "{call:#}");
    assert!(
        call["error"].as_str().unwrap_or("").contains("recording"),
        "the cause names the recording: {call:#}"
    );
    server.shutdown().await;
}

/// Trial keys cannot be farmed: each client address mints its share per day, a forwarded
/// address is believed only from a configured proxy, and other clients are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trial_keys_are_capped_per_client_address() {
    use axum::extract::ConnectInfo;
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), dead_port());
    config.limits.requests_per_minute = 1000;
    let server = Server::start(config).await.expect("server starts");
    let state =
        AppState::new(server.service.clone(), 1000, true).with_trial(ringback::http::trial::TrialPolicy {
            enabled: true,
            keys_per_source_per_day: 2,
            trusted_proxies: vec!["127.0.0.1".parse().expect("ip")],
        });
    // Every request arrives from the proxy on 127.0.0.1.
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
    let router = app(state).layer(axum::Extension(ConnectInfo(proxy)));
    let mint = |client: &'static str| {
        let router = router.clone();
        async move {
            call(
                &router,
                "POST",
                "/call",
                None,
                Some(json!({"to": "+15555550123", "task": PROMPT})),
                &[("x-forwarded-for", client)],
            )
            .await
        }
    };
    for _ in 0..2 {
        let ok = mint("203.0.113.7").await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert!(ok.body["api_key"].is_string());
    }
    let capped = mint("203.0.113.7").await;
    assert_eq!(capped.status, StatusCode::TOO_MANY_REQUESTS, "{}", capped.body);
    assert_eq!(capped.body["error"]["code"], "trial_limit_reached");
    assert!(capped.body["api_key"].is_null());
    assert!(capped.headers.contains_key("retry-after"));
    // Prepending a made-up address does not help: the proxy's own hop is the one believed.
    let spoofed = mint("198.51.100.1, 203.0.113.7").await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
    // Another client is not affected.
    let other = mint("203.0.113.8").await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    let trials = ringback::keys::list(server.service.store())
        .await
        .expect("keys")
        .len();
    assert_eq!(trials, 3, "two for the first client, one for the other");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_audited_act_writes_its_row_with_the_client_address_and_never_a_secret() {
    use axum::extract::ConnectInfo;
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port()))
        .await
        .expect("server starts");
    let store = server.service.store().clone();
    let state =
        AppState::new(server.service.clone(), 1000, true).with_trial(ringback::http::trial::TrialPolicy {
            enabled: true,
            keys_per_source_per_day: 5,
            trusted_proxies: Vec::new(),
        });
    let client = std::net::SocketAddr::from(([203, 0, 113, 9], 40_000));
    let router = app(state).layer(axum::Extension(ConnectInfo(client)));
    let rows = || {
        let store = store.clone();
        async move { ringback::audit::read(&store, 0, 1000).await.expect("audit log") }
    };

    // An operator's key.
    let key = key(&server).await;
    let owner = ringback::keys::authenticate(&store, &key)
        .await
        .expect("store")
        .expect("key")
        .id;
    let log = rows().await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].action.as_str(),
            log[0].subject.as_deref()
        ),
        ("operator", "key.created", Some(owner.as_str()))
    );

    // A trial key minted by an anonymous POST /call.
    let minted = call(
        &router,
        "POST",
        "/call",
        None,
        Some(json!({"to": "+15555550123", "task": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.body);
    let trial_secret = minted.body["api_key"].as_str().expect("trial key").to_owned();
    let trial_id = ringback::keys::authenticate(&store, &trial_secret)
        .await
        .expect("store")
        .expect("trial key")
        .id;
    let row = rows().await.pop().expect("row");
    assert_eq!(
        (
            row.actor.as_str(),
            row.action.as_str(),
            row.subject.as_deref(),
            row.source.as_deref()
        ),
        (
            "anonymous",
            "key.trial_minted",
            Some(trial_id.as_str()),
            Some("203.0.113.9")
        )
    );

    // Refusals: a premium `to` on v1, a satellite bridge on v1, a trial asking to bridge, a
    // Caribbean number on the prompt face and an anonymous UK number on fire-and-poll.
    let before = rows().await.len();
    for (uri, auth, body) in [
        (
            "/v1/calls",
            Some(key.as_str()),
            json!({"to": "+19005550123", "prompt": PROMPT}),
        ),
        (
            "/v1/calls",
            Some(key.as_str()),
            json!({"to": "+15555550123", "prompt": PROMPT, "bridge_number": "+881612345678"}),
        ),
        (
            "/call",
            None,
            json!({"to": "+15555550123", "task": PROMPT, "bridge_number": "+15557654321"}),
        ),
        (
            "/api/call-prompt",
            Some(key.as_str()),
            json!({"recipient_phone": "+18765550123", "prompt": PROMPT}),
        ),
        ("/call", None, json!({"to": "+442071838750", "task": PROMPT})),
    ] {
        let refused = call(&router, "POST", uri, auth, Some(body), &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{uri}: {}", refused.body);
    }
    let log = rows().await;
    let refusals = &log[before..];
    assert_eq!(refusals.len(), 5, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r.action == "policy.refused" && r.source.as_deref() == Some("203.0.113.9"))
    );
    let detail = |i: usize| -> Value { serde_json::from_str(&refusals[i].detail).expect("json") };
    assert_eq!(refusals[0].actor, owner);
    assert_eq!(refusals[0].subject.as_deref(), Some("+1********23"), "masked");
    assert_eq!(detail(0)["field"], "to");
    assert_eq!(detail(0)["prefix"], "+1900");
    assert_eq!(detail(1)["field"], "bridge_number");
    assert_eq!(
        detail(1)["why"],
        "Global mobile satellite systems (Iridium, Globalstar)"
    );
    assert_eq!(refusals[2].actor, "anonymous");
    assert_eq!(detail(2)["rule"], "bridge_not_allowed_for_trial");
    assert_eq!(
        (refusals[3].actor.as_str(), detail(3)["prefix"].as_str()),
        (owner.as_str(), Some("+1876"))
    );
    assert_eq!(
        (refusals[4].actor.as_str(), detail(4)["rule"].as_str()),
        ("anonymous", Some("country_code"))
    );

    // A recording fetched by its key is recorded; another key's 404 is not a fetch.
    let id = "call_0000audited".to_owned();
    let wav = data.path().join("recordings").join(format!("{id}.wav"));
    std::fs::write(&wav, vec![7u8; 1024]).expect("write");
    let row = ringback::store::CallRow {
        id: id.clone(),
        workflow_id: "wf_0000audited".into(),
        api_key_id: Some(owner.clone()),
        direction: "outbound".into(),
        to_number: "+15551234567".into(),
        trunk: "archive".into(),
        lifecycle: "queued".into(),
        transcript: "[]".into(),
        form_fills: "{}".into(),
        metadata: "{}".into(),
        created_at: "2026-01-01T00:00:00.000Z".into(),
        face: "v1".into(),
        dtmf: "[]".into(),
        latency: "[]".into(),
        ..Default::default()
    };
    let workflow = ringback::store::WorkflowRow {
        id: row.workflow_id.clone(),
        prompt: PROMPT.into(),
        definition: "{}".into(),
        created_at: row.created_at.clone(),
        api_key_id: Some(owner.clone()),
    };
    store
        .insert_call(&row, Some(&workflow), None)
        .await
        .expect("insert");
    let f = ringback::store::Finalized {
        outcome: "completed",
        recording_path: Some(wav.to_str().expect("utf-8")),
        ended_at: "2026-01-01T00:01:00.000Z",
        ..Default::default()
    };
    store
        .finalize(&id, &f, false, |_| None)
        .await
        .expect("finalize")
        .expect("was live");
    let before = rows().await.len();
    let stranger = call(
        &router,
        "GET",
        &format!("/v1/calls/{id}/recording"),
        Some(&trial_secret),
        None,
        &[],
    )
    .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert_eq!(rows().await.len(), before, "no row for a refused fetch");
    for uri in [
        format!("/v1/calls/{id}/recording"),
        format!("/call/{id}/recording"),
    ] {
        let fetched = call(&router, "GET", &uri, Some(&key), None, &[("range", "bytes=0-99")]).await;
        assert_eq!(fetched.status, StatusCode::PARTIAL_CONTENT, "{uri}");
    }
    let log = rows().await;
    let fetches = &log[before..];
    assert_eq!(fetches.len(), 2);
    for fetch in fetches {
        assert_eq!(
            (
                fetch.actor.as_str(),
                fetch.action.as_str(),
                fetch.subject.as_deref(),
                fetch.source.as_deref()
            ),
            (
                owner.as_str(),
                "recording.fetched",
                Some(id.as_str()),
                Some("203.0.113.9")
            )
        );
        assert_eq!(
            serde_json::from_str::<Value>(&fetch.detail).expect("json")["range"],
            "bytes=0-99"
        );
    }

    // Revocation by the operator.
    ringback::keys::revoke(&store, &ringback::clock::SystemClock, &trial_id)
        .await
        .expect("revoke")
        .expect("was active");
    let row = rows().await.pop().expect("row");
    assert_eq!(
        (row.actor.as_str(), row.action.as_str(), row.subject.as_deref()),
        ("operator", "key.revoked", Some(trial_id.as_str()))
    );

    // Nothing in the log gives a key away: not the secrets, their hashes or displayed prefixes,
    // nor a refused number whole.
    let everything = format!("{:?}", rows().await);
    for key_row in ringback::keys::list(&store).await.expect("keys") {
        assert!(!everything.contains(&key_row.hash), "a key hash in the audit log");
        assert!(
            !everything.contains(&key_row.prefix),
            "a key prefix in the audit log"
        );
    }
    for secret in [&key, &trial_secret] {
        assert!(!everything.contains(secret.as_str()), "a key in the audit log");
    }
    for number in ["+19005550123", "+881612345678", "+18765550123", "+442071838750"] {
        assert!(!everything.contains(number), "{number} whole in the audit log");
    }
    server.shutdown().await;
}

/// A key's own destinations (`ringback keys policy`): they narrow the installation's `[policy]` on
/// every face and for bridge numbers; they widen it only when the operator said so for that key, and
/// never past a blocked range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_own_destinations_narrow_the_installation_and_widen_only_by_the_operators_word() {
    use ringback::policy::KeyPolicy;
    let (_data, server, router) = start(|c| {
        c.limits.requests_per_minute = 1000;
        c.server.trial_keys = true;
    })
    .await;
    let store = server.service.store().clone();
    let clock = ringback::clock::SystemClock;
    let id_of = |secret: String| {
        let store = store.clone();
        async move {
            let id = ringback::keys::authenticate(&store, &secret)
                .await
                .expect("store")
                .expect("key")
                .id;
            (secret, id)
        }
    };
    let (sf, sf_id) = id_of(key(&server).await).await;
    let (london, london_id) = id_of(key(&server).await).await;
    let (london_narrow, london_narrow_id) = id_of(key(&server).await).await;
    let (plain, _) = id_of(key(&server).await).await;
    let set = |id: String, policy: KeyPolicy| {
        let store = store.clone();
        async move {
            ringback::keys::set_policy(&store, &clock, &id, Some(&policy))
                .await
                .expect("set")
                .expect("active key");
        }
    };
    set(
        sf_id.clone(),
        KeyPolicy {
            prefixes: vec!["+1415".into()],
            ..KeyPolicy::default()
        },
    )
    .await;
    set(
        london_id.clone(),
        KeyPolicy {
            country_codes: vec!["44".into()],
            prefixes: vec!["+881".into()],
            beyond_installation: true,
        },
    )
    .await;
    set(
        london_narrow_id.clone(),
        KeyPolicy {
            country_codes: vec!["44".into()],
            ..KeyPolicy::default()
        },
    )
    .await;

    let v1 = |key: &str, to: &str, bridge: Option<&str>| {
        let router = router.clone();
        let mut body = json!({"to": to, "prompt": PROMPT});
        if let Some(b) = bridge {
            body["bridge_number"] = json!(b);
        }
        let key = key.to_owned();
        async move { call(&router, "POST", "/v1/calls", Some(&key), Some(body), &[]).await }
    };
    let refused = |answer: &Answer, field: &str| {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], "destination_not_allowed");
        assert_eq!(answer.body["error"]["field"], field);
    };

    // Narrowing: San Francisco only, on every face and for bridges.
    assert_eq!(v1(&sf, "+14155550123", None).await.status, StatusCode::CREATED);
    let other_city = v1(&sf, "+12125550123", None).await;
    refused(&other_city, "to");
    assert!(
        other_city.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("+1415") && m.contains("keys policy")),
        "{}",
        other_city.body
    );
    refused(
        &v1(&sf, "+14155550123", Some("+12125550123")).await,
        "bridge_number",
    );
    let poll = call(
        &router,
        "POST",
        "/call",
        Some(&sf),
        Some(json!({"to": "+12125550123", "task": PROMPT})),
        &[],
    )
    .await;
    refused(&poll, "to");
    let prompt_face = call(
        &router,
        "POST",
        "/api/call-prompt",
        Some(&sf),
        Some(json!({"recipient_phone": "+12125550123", "prompt": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(prompt_face.status, StatusCode::FORBIDDEN, "{}", prompt_face.body);
    let mcp = call(
        &router,
        "POST",
        "/mcp",
        Some(&sf),
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "call_phone", "arguments": {"to": "+12125550123", "task": PROMPT}}})),
        &[],
    )
    .await;
    assert_eq!(mcp.body["result"]["isError"], true, "{}", mcp.body);

    // A key's list without the operator's override cannot reach past the installation (+1 only).
    refused(&v1(&london_narrow, "+442071838750", None).await, "to");
    // With it, the key reaches the UK (also on fire-and-poll's early check), only its list, and
    // never a blocked range even when its list names one.
    assert_eq!(
        v1(&london, "+442071838750", None).await.status,
        StatusCode::CREATED
    );
    let poll = call(
        &router,
        "POST",
        "/call",
        Some(&london),
        Some(json!({"to": "+442071838751", "task": PROMPT})),
        &[],
    )
    .await;
    assert_eq!(poll.status, StatusCode::OK, "{}", poll.body);
    refused(&v1(&london, "+14155550123", None).await, "to");
    refused(&v1(&london, "+881612345678", None).await, "to");
    // Keys without a list follow the installation alone.
    assert_eq!(v1(&plain, "+12125550123", None).await.status, StatusCode::CREATED);
    refused(&v1(&plain, "+442071838750", None).await, "to");

    // Clearing a list: the key follows the installation again.
    ringback::keys::set_policy(&store, &clock, &sf_id, None)
        .await
        .expect("clear")
        .expect("active");
    assert_eq!(v1(&sf, "+12125550123", None).await.status, StatusCode::CREATED);

    // Every change is in the audit log, with the list; refusals by a key's list name the rule.
    let log = ringback::audit::read(&store, 0, 1000).await.expect("audit");
    let sets: Vec<_> = log.iter().filter(|r| r.action == "key.policy_set").collect();
    assert_eq!(sets.len(), 4);
    assert!(sets.iter().all(|r| r.actor == "operator"));
    let london_set: Value = serde_json::from_str(&sets[1].detail).expect("json");
    assert_eq!(sets[1].subject.as_deref(), Some(london_id.as_str()));
    assert_eq!(london_set["policy"]["beyond_installation"], true);
    assert_eq!(
        serde_json::from_str::<Value>(&sets[3].detail).expect("json")["policy"],
        Value::Null
    );
    assert!(log.iter().any(|r| r.action == "policy.refused"
        && r.actor == sf_id
        && serde_json::from_str::<Value>(&r.detail).expect("json")["rule"] == "key_list"));
    server.shutdown().await;
}

/// The trial keys minted for one client share one daily call cap, whichever of its keys places the
/// call, on whichever face, from whichever address; a client past it mints no more keys; a burst
/// cannot pass it; other clients and operators' keys are not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trial_calls_are_capped_per_client_whichever_key_places_them() {
    use axum::extract::ConnectInfo;
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), dead_port());
    config.limits.requests_per_minute = 1000;
    config.server.trial_calls_per_source = 3;
    let server = Server::start(config).await.expect("server starts");
    let state =
        AppState::new(server.service.clone(), 1000, true).with_trial(ringback::http::trial::TrialPolicy {
            enabled: true,
            keys_per_source_per_day: 10,
            trusted_proxies: vec!["127.0.0.1".parse().expect("ip")],
        });
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000));
    let router = app(state).layer(axum::Extension(ConnectInfo(proxy)));
    let poll = |client: &'static str, key: Option<String>| {
        let router = router.clone();
        async move {
            call(
                &router,
                "POST",
                "/call",
                key.as_deref(),
                Some(json!({"to": "+15555550123", "task": PROMPT})),
                &[("x-forwarded-for", client)],
            )
            .await
        }
    };
    let v1 = |client: &'static str, key: String| {
        let router = router.clone();
        async move {
            call(
                &router,
                "POST",
                "/v1/calls",
                Some(&key),
                Some(json!({"to": "+15555550123", "prompt": PROMPT})),
                &[("x-forwarded-for", client)],
            )
            .await
        }
    };
    let capped = |answer: &Answer| {
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.body);
        assert_eq!(answer.body["error"]["code"], "trial_limit_reached");
        assert!(answer.headers.contains_key("retry-after"));
    };

    // Client A: two anonymous calls (two keys), then one with its first key on the native face.
    let first = poll("203.0.113.7", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let first_key = first.body["api_key"].as_str().expect("trial key").to_owned();
    let second = poll("203.0.113.7", None).await;
    let second_key = second.body["api_key"].as_str().expect("trial key").to_owned();
    assert_eq!(
        v1("203.0.113.7", first_key.clone()).await.status,
        StatusCode::CREATED
    );
    // A's share is used up: by its other key, on either face, and from another address too.
    capped(&v1("203.0.113.7", second_key.clone()).await);
    capped(&poll("203.0.113.7", Some(first_key.clone())).await);
    capped(&v1("198.51.100.20", first_key.clone()).await);
    // A mints no more keys.
    let keys_before = ringback::keys::list(server.service.store())
        .await
        .expect("keys")
        .len();
    let again = poll("203.0.113.7", None).await;
    capped(&again);
    assert!(again.body["api_key"].is_null());
    assert_eq!(
        ringback::keys::list(server.service.store())
            .await
            .expect("keys")
            .len(),
        keys_before,
        "a client past its share mints nothing"
    );

    // Client B is not touched; a burst of its key's calls cannot pass its share.
    let b = poll("203.0.113.8", None).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.body);
    let b_key = b.body["api_key"].as_str().expect("trial key").to_owned();
    let burst: Vec<_> = (0..8)
        .map(|_| tokio::spawn(v1("203.0.113.8", b_key.clone())))
        .collect();
    let mut created = 0;
    for answer in burst {
        let answer = answer.await.expect("task");
        match answer.status {
            StatusCode::CREATED => created += 1,
            _ => capped(&answer),
        }
    }
    assert_eq!(created, 2, "B had 2 of its 3 calls left");

    // An operator's key is not a trial key.
    let operator = key(&server).await;
    for _ in 0..4 {
        assert_eq!(
            v1("203.0.113.7", operator.clone()).await.status,
            StatusCode::CREATED
        );
    }
    server.shutdown().await;
}

/// Oversized and malformed request bodies get a clear JSON error and store nothing: a 3 MB prompt
/// (past the 2 MB body limit), a body that is not JSON, and JSON of the wrong shape.
#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_and_store_nothing() {
    let (_data, server, router) = start(|_| {}).await;
    let key = key(&server).await;
    let huge = json!({"to": "+15551234567", "prompt": "a".repeat(3 * 1024 * 1024)});
    let answer = call(&router, "POST", "/v1/calls", Some(&key), Some(huge), &[]).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", answer.body);
    assert!(answer.body["error"]["code"].is_string(), "{:?}", answer.body);

    let request = Request::builder()
        .method("POST")
        .uri("/v1/calls")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from("{\"to\": \"+15551234567\", \"prompt\": "))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let wrong = json!({"to": 15551234567u64, "prompt": ["not", "text"]});
    let answer = call(&router, "POST", "/v1/calls", Some(&key), Some(wrong), &[]).await;
    assert!(
        answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{:?} {:?}",
        answer.status,
        answer.body
    );
    assert!(answer.body["error"]["code"].is_string(), "{:?}", answer.body);

    let list = call(&router, "GET", "/v1/calls", Some(&key), None, &[]).await;
    assert_eq!(list.body["data"], json!([]), "nothing was stored");
}
