//! The HTTP API against a real server: bad input gets clear errors and is never stored; calls that
//! cannot reach the trunk, or whose trunk refuses registration, end `failed` with the cause and still
//! produce their callback.

use ringback::config::{Config, TrunkSection};
use ringback::demo::CallbackReceiver;
use ringback::server::Server;
use ringback::{clock::SystemClock, keys};
use ringback_testbed::{Kamailio, KamailioOptions};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

fn config(data: &std::path::Path, trunk: SocketAddr, password: Option<&str>) -> Config {
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.t1_ms = 20;
    config.storage.data_dir = data.to_owned();
    config.webhooks.allow_private = true;
    config.trunks = vec![TrunkSection {
        name: "test".to_owned(),
        proxy: trunk.into(),
        domain: "trunk.test".to_owned(),
        username: password.map(|_| "agent".to_owned()),
        auth_username: None,
        password: password.map(str::to_owned),
        register: Some(password.is_some()),
        register_expires: 300,
        max_concurrent_calls: None,
        ..TrunkSection::default()
    }];
    config
}

/// A UDP port nothing listens on.
fn dead_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

async fn post(server: &Server, key: Option<&str>, header: &str, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/v1/calls", server.http_addr))
        .json(&body);
    if let Some(key) = key {
        request = match header {
            "x-api-key" => request.header("X-Api-Key", key),
            _ => request.bearer_auth(key),
        };
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port(), None))
        .await
        .expect("server starts");
    let key = keys::create(server.service.store(), &SystemClock, None, keys::Issuer::Operator)
        .await
        .expect("key")
        .secret;

    let ok_body = json!({ "to": "+15551234567", "prompt": "Ask if they can come on Tuesday." });
    for (key, header) in [
        (None, "bearer"),
        (Some("rb_live_wrong"), "bearer"),
        (Some("nonsense"), "x-api-key"),
    ] {
        let (status, body) = post(&server, key, header, ok_body.clone()).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    let (status, body) = post(
        &server,
        Some(&key),
        "bearer",
        json!({ "to": "5551234567", "prompt": "Ask if ok?" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("to")),
        "{body}"
    );
    let (status, body) = post(
        &server,
        Some(&key),
        "x-api-key",
        json!({ "to": "+911", "prompt": "Ask if ok?" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("emergency_number")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("emergency")
    );
    let (status, body) = post(
        &server,
        Some(&key),
        "bearer",
        json!({ "to": "+15551234567", "prompt": "  " }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("prompt")),
        "{body}"
    );
    let (status, body) = post(
        &server,
        Some(&key),
        "bearer",
        json!({ "to": "+15551234567", "prompt": "Be nice." }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (422, json!("prompt_too_vague")),
        "{body}"
    );
    let (status, body) = post(&server, Some(&key), "bearer", json!({ "to": 5 })).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_body")),
        "{body}"
    );
    let hook = json!({ "to": "+15551234567", "prompt": "Ask if ok?", "callback_url": "ftp://x" });
    let (status, body) = post(&server, Some(&key), "bearer", hook).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("callback_url")),
        "{body}"
    );

    let missing = reqwest::Client::new()
        .get(format!("http://{}/v1/calls/call_nope", server.http_addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);
    server.shutdown().await;
}

async fn callback_of(receiver: &mut CallbackReceiver) -> Value {
    let (_, body) = tokio::time::timeout(Duration::from_secs(60), receiver.hooks.recv())
        .await
        .expect("a callback within a minute")
        .expect("receiver open");
    serde_json::from_slice(&body).expect("JSON callback")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_trunk_fails_the_call_with_its_cause_and_calls_back() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port(), None))
        .await
        .expect("server starts");
    let key = keys::create(server.service.store(), &SystemClock, None, keys::Issuer::Operator)
        .await
        .expect("key")
        .secret;
    let mut receiver = CallbackReceiver::start().await.expect("receiver");
    let body = json!({
        "to": "+15551234567",
        "prompt": "Ask if they can come on Tuesday.",
        "callback_url": format!("http://{}/callback", receiver.addr),
    });
    let (status, created) = post(&server, Some(&key), "bearer", body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["lifecycle"], "queued");
    let callback = callback_of(&mut receiver).await;
    let call = &callback["data"];
    assert_eq!(call["call_id"], created["call_id"]);
    assert_eq!(call["outcome"], "failed", "{call:#}");
    assert_eq!(call["sip"]["reason"], "no response from the trunk");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_registration_fails_the_call_with_its_cause_and_calls_back() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), trunk.addr(), Some("wrong-password")))
        .await
        .expect("server starts");
    let key = keys::create(server.service.store(), &SystemClock, None, keys::Issuer::Operator)
        .await
        .expect("key")
        .secret;
    let mut receiver = CallbackReceiver::start().await.expect("receiver");
    let body = json!({
        "to": "+15551234567",
        "prompt": "Ask if they can come on Tuesday.",
        "callback_url": format!("http://{}/callback", receiver.addr),
    });
    let (status, created) = post(&server, Some(&key), "bearer", body).await;
    assert_eq!(status, 201, "{created}");
    let callback = callback_of(&mut receiver).await;
    let call = &callback["data"];
    assert_eq!(call["outcome"], "failed", "{call:#}");
    let error = call["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("registration failed") && error.contains("401"),
        "{error}"
    );
    assert_eq!(trunk.count("AUTH-OK REGISTER from agent"), 0);
    assert_eq!(
        trunk.count("INVITE from agent"),
        0,
        "no call is attempted through an unregistered trunk"
    );
    server.shutdown().await;
}
