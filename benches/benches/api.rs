//! API load scenario: call-create requests per second through the real HTTP API (auth, rate-limit
//! check, validation, workflow compile, idempotency claim and store write), and webhook deliveries
//! per second from the durable outbox to a local receiver. Prints one JSON line.
//!
//! `cargo bench -p ringback-benches --bench api` runs the full size; `cargo test --benches` runs a
//! tiny one (CI).
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // the JSON line is this program's output

use ringback::config::{Config, TrunkSection};
use ringback::server::Server;
use ringback::store::{CallRow, Finalized, NewDelivery, WorkflowRow};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn config(data: &std::path::Path) -> Config {
    let mut config = Config::from_toml(
        "[providers.tts]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n\
         [providers.stt]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\n",
    )
    .expect("config");
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.storage.data_dir = data.to_owned();
    config.webhooks.allow_private = true;
    config.webhooks.concurrency = 32;
    config.limits.requests_per_minute = 10_000_000;
    config.limits.daily_calls_per_key = 0;
    config.limits.queue_capacity = 10_000_000;
    // A registering trunk that never answers: one call waits for it, every other stays queued, so
    // the figure is the API's and the store's, not the SIP stack's.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port");
    config.trunks = vec![TrunkSection {
        name: "bench".into(),
        proxy: dead.into(),
        domain: "trunk.test".into(),
        username: Some("agent".into()),
        auth_username: None,
        password: Some("pw".into()),
        register: Some(true),
        register_expires: 300,
        max_concurrent_calls: Some(1),
        ..TrunkSection::default()
    }];
    config
}

async fn create_calls(server: &Server, key: &str, total: usize, concurrency: usize) -> f64 {
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/calls", server.http_addr);
    let next = Arc::new(AtomicUsize::new(0));
    #[allow(clippy::disallowed_methods)] // a benchmark's own stopwatch
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, key, next) = (client.clone(), url.clone(), key.to_owned(), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::SeqCst) < total {
                    let n = next.load(Ordering::SeqCst);
                    let response = client
                        .post(&url)
                        .bearer_auth(&key)
                        .header("idempotency-key", format!("bench-{n}"))
                        .json(&json!({"to": "+15551234567", "prompt": "Ask if they can come on Tuesday at 3 PM."}))
                        .send()
                        .await
                        .expect("request");
                    assert!(response.status().is_success(), "{}", response.status());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn deliver_webhooks(server: &Server, total: usize) -> f64 {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    // Finished calls with callbacks, written as the call runner writes them (on a trunk no
    // dispatcher serves), while the outbox sleeps.
    let store = server.service.store();
    let payload =
        json!({"type": "call.finalized", "data": {"call_id": "x", "outcome": "completed"}}).to_string();
    for n in 0..total {
        let id = format!("call_bench{n:08}");
        let row = CallRow {
            id: id.clone(),
            workflow_id: format!("wf_bench{n:08}"),
            api_key_id: None,
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
            callback_url: Some(hook.clone()),
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
            latency: "[]".to_owned(),
            campaign_id: None,
        };
        let workflow = WorkflowRow {
            id: row.workflow_id.clone(),
            prompt: "p".into(),
            definition: "{}".into(),
            created_at: row.created_at.clone(),
            api_key_id: None,
        };
        store
            .insert_call(&row, Some(&workflow), None)
            .await
            .expect("insert");
        let f = Finalized {
            outcome: "completed",
            ended_at: "2026-01-01T00:01:00.000Z",
            ..Default::default()
        };
        store
            .finalize(&id, &f, false, |row| {
                Some(NewDelivery {
                    id: format!("msg_bench{n:08}"),
                    call_id: row.id.clone(),
                    url: hook.clone(),
                    event_type: "call.finalized".into(),
                    payload: payload.clone(),
                    created_at: "2026-01-01T00:01:00.000Z".into(),
                    created_ms: 0,
                })
            })
            .await
            .expect("finalize");
    }
    #[allow(clippy::disallowed_methods)] // a benchmark's own stopwatch
    let started = Instant::now();
    server.service.wake_outbox();
    while received.load(Ordering::SeqCst) < total {
        assert!(started.elapsed() < Duration::from_secs(600), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, hooks, concurrency) = if full { (2000, 2000, 16) } else { (20, 20, 4) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let data = tempfile::tempdir().expect("temp dir");
        let server = Server::start(config(data.path())).await.expect("server");
        let key = ringback::keys::create(
            server.service.store(),
            &ringback::clock::SystemClock,
            None,
            ringback::keys::Issuer::Operator,
        )
        .await
        .expect("key")
        .secret;
        let create_rps = create_calls(&server, &key, calls, concurrency).await;
        let webhook_dps = deliver_webhooks(&server, hooks).await;
        println!(
            "{}",
            json!({
                "bench": "api",
                "store": "sqlite",
                "calls_created": calls,
                "concurrency": concurrency,
                "create_requests_per_s": (create_rps * 10.0).round() / 10.0,
                "webhooks_delivered": hooks,
                "webhook_deliveries_per_s": (webhook_dps * 10.0).round() / 10.0,
            })
        );
        server.shutdown().await;
    });
}
