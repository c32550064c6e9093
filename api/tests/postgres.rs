//! The same store on PostgreSQL (by URL, the same migrations): a throwaway server from the system
//! packages on 127.0.0.1, run as an unprivileged user when the test runs as root. The call path,
//! idempotency under concurrent duplicates, the queue claim, the outbox and the listing all run on
//! it, through the real HTTP API.

mod common;

use common::{Receiver, StoredCall, config, dead_port, finalized, key, send, store_call, wav};
use reqwest::Method;
use ringback::server::Server;
use ringback::store::{CallFilter, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The unprivileged user `deploy/setup` creates for test databases.
const PG_USER: &str = "ringback-pg";

/// A throwaway PostgreSQL; stopped and deleted when dropped.
struct Postgres {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_bin(name: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|_| {
            panic!(
                "PostgreSQL is not installed ({} missing): run deploy/setup",
                root.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("no {name} under {}: run deploy/setup", root.display()))
}

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The command run as the unprivileged user when we are root (PostgreSQL refuses root).
fn as_pg_user(program: &Path) -> Command {
    if output("id", &["-u"]) != "0" {
        return Command::new(program);
    }
    let uid = output("id", &["-u", PG_USER]);
    let gid = output("id", &["-g", PG_USER]);
    assert!(!uid.is_empty(), "user {PG_USER} is missing: run deploy/setup");
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(program);
    command
}

impl Postgres {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).expect("data dir");
        if output("id", &["-u"]) == "0" {
            let status = Command::new("chown")
                .args(["-R", PG_USER])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
            let status = Command::new("chmod")
                .arg("0755")
                .arg(dir.path())
                .status()
                .expect("chmod");
            assert!(status.success());
        }
        let init = as_pg_user(&pg_bin("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "ringback", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = as_pg_user(&pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-F", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let pg = Self {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..300 {
            if Store::open(&pg.url()).await.is_ok() {
                return pg;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("PostgreSQL did not come up on port {port}");
    }

    fn url(&self) -> String {
        format!("postgres://ringback@127.0.0.1:{}/postgres", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_on_postgres_with_the_same_migrations() {
    let pg = Postgres::start().await;
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), dead_port());
    cfg.storage.database_url = Some(pg.url());
    cfg.limits.requests_per_minute = 1000;
    let server = Server::start(cfg).await.expect("server on postgres");
    let key = key(&server).await;
    let mut receiver = Receiver::start(1).await;

    // Concurrent duplicates: one call.
    let racers: Vec<_> = (0..12)
        .map(|_| {
            let url = format!("http://{}/v1/calls", server.http_addr);
            let key = key.clone();
            let hook = receiver.url();
            tokio::spawn(async move {
                let response = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(key)
                    .header("idempotency-key", "pg-race")
                    .json(&json!({"to": "+15551234567", "prompt": "Ask if they can come on Tuesday.", "callback_url": hook}))
                    .send()
                    .await
                    .expect("request");
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("json");
                (status, body["call_id"].as_str().unwrap_or_default().to_owned())
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for racer in racers {
        let (status, id) = racer.await.expect("task");
        assert!(status == 201 || status == 200, "{status}");
        created += usize::from(status == 201);
        ids.insert(id);
    }
    assert_eq!((created, ids.len()), (1, 1));
    let id = ids.into_iter().next().expect("id");

    // The dispatcher claims it from Postgres, the dead trunk fails it, the outbox retries its
    // callback once and delivers it.
    let call = finalized(&server, &key, &id).await;
    assert_eq!(call["outcome"], "failed");
    let first = receiver.next().await;
    let second = receiver.next().await;
    assert_eq!((first.answered, second.answered), (500, 200));
    assert!(first.signature_valid && second.signature_valid);
    assert_eq!(second.body["data"]["call_id"], id.as_str());
    let (_, _, log) = send(
        &server,
        Method::GET,
        &format!("/v1/calls/{id}/webhooks"),
        Some(&key),
        None,
    )
    .await;
    for _ in 0..50 {
        if log["data"][0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, log) = send(
        &server,
        Method::GET,
        &format!("/v1/calls/{id}/webhooks"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(log["data"][0]["attempts"], 2, "{log}");

    // Listing with filters and the prompt-to-call face on Postgres.
    let (status, _, prompt) = send(
        &server,
        Method::POST,
        "/api/call-prompt",
        Some(&key),
        Some(json!({"prompt": "Ask if they can come on Tuesday.", "recipient_phone": "+15557654321"})),
    )
    .await;
    assert_eq!(status, 200, "{prompt}");
    let (_, _, listed) = send(
        &server,
        Method::GET,
        "/v1/calls?to=%2B15551234567&lifecycle=finalized",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1), "{listed}");
    let store = server.service.store();
    let all = store
        .calls(&CallFilter {
            limit: 10,
            ..CallFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    // The audit log on PostgreSQL: the key's creation and a refused number, in order.
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+19005550123", "prompt": "Ask if they can come on Tuesday."})),
    )
    .await;
    assert_eq!(status, 403);
    let log = ringback::audit::read(store, 0, 100).await.expect("audit log");
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["key.created", "policy.refused"]);
    assert_eq!(log[1].source.as_deref(), Some("127.0.0.1"));
    server.shutdown().await;

    // A second server on the same database finds everything (migrations are not re-applied).
    let data2 = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data2.path(), dead_port());
    cfg.storage.database_url = Some(pg.url());
    cfg.limits.requests_per_minute = 1000;
    let server = Server::start(cfg).await.expect("restart on postgres");
    let (status, _, again) = send(&server, Method::GET, &format!("/v1/calls/{id}"), Some(&key), None).await;
    assert_eq!((status, again["outcome"].clone()), (200, json!("failed")));

    // Do-not-call lists and campaigns on PostgreSQL: the same statements as on SQLite.
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/v1/dnc",
        Some(&key),
        Some(json!({"number": "+15551230009"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/v1/dnc",
        Some(&key),
        Some(json!({"number": "+15551230009"})),
    )
    .await;
    assert_eq!(status, 200, "a second add is a no-op");
    let (status, _, refused) = send(
        &server,
        Method::POST,
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15551230009", "prompt": "Ask if they can come on Tuesday."})),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (403, json!("do_not_call"))
    );
    let campaign = json!({
        "prompt": "Ask {name} if they can come on Tuesday.",
        "recipients": [{"to": "+15551230001", "variables": {"name": "Sam"}}],
        "time_zone": "UTC",
        "starts_at": "2099-01-01T00:00:00Z",
        "idempotency_key": "pg-campaign",
    });
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(campaign.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _, replayed) =
        send(&server, Method::POST, "/v1/campaigns", Some(&key), Some(campaign)).await;
    assert_eq!((status, &replayed["campaign_id"]), (200, &created["campaign_id"]));
    let id = created["campaign_id"].as_str().expect("id");
    let (status, _, canceled) = send(
        &server,
        Method::POST,
        &format!("/v1/campaigns/{id}/cancel"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!((status, canceled["state"].clone()), (200, json!("canceled")));
    let mut done = serde_json::Value::Null;
    for _ in 0..100 {
        done = send(
            &server,
            Method::GET,
            &format!("/v1/campaigns/{id}"),
            Some(&key),
            None,
        )
        .await
        .2;
        if !done["finished_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["progress"]["done"], json!({"canceled": 1}), "{done:#}");

    // The console's list filters, sessions and signed recording URLs on PostgreSQL.
    let recording = data2.path().join("recordings").join("call_pgconsole01.wav");
    wav(&recording, 1);
    let stored = StoredCall {
        id: "call_pgconsole01",
        direction: "inbound",
        from: Some("+15550001234"),
        transcript: r#"[{"role":"caller","text":"See you on TUESDAY, 100% sure.","start_ms":0,"end_ms":900,"interrupted":false}]"#,
        recording: Some(&recording),
        // An answered call's talk time (stored as whole ms: a REAL column was float4 here, and
        // the row could not be read back).
        talk_seconds: Some(12.5),
        ..StoredCall::default()
    };
    store_call(server.service.store(), &key, &stored).await;
    let (_, _, shown) = send(
        &server,
        Method::GET,
        "/v1/calls/call_pgconsole01",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(shown["talk_seconds"], json!(12.5), "{shown:#}");
    for (query, expected) in [
        ("q=tuesday&direction=inbound&number_suffix=1234", 1),
        ("q=100%25", 1),
        ("q=1_0", 0),
        ("q=role", 0),
        ("direction=inbound&number_suffix=9999", 0),
    ] {
        let (status, _, listed) = send(
            &server,
            Method::GET,
            &format!("/v1/calls?{query}"),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {listed}");
        assert_eq!(
            listed["data"].as_array().map(Vec::len),
            Some(expected),
            "{query}: {listed}"
        );
    }
    let (status, _, minted) = send(
        &server,
        Method::POST,
        "/v1/calls/call_pgconsole01/recording/url",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{minted}");
    let played = reqwest::get(minted["url"].as_str().expect("url"))
        .await
        .expect("fetch");
    assert_eq!(played.status(), 200, "played without a key");
    let session = ringback::store::SessionRow {
        id_hash: "ab".repeat(32),
        api_key_id: ringback::keys::authenticate(server.service.store(), &key)
            .await
            .expect("store")
            .expect("key")
            .id,
        csrf_token: "token".into(),
        created_ms: 1_000,
        expires_ms: 2_000,
    };
    let store = server.service.store();
    store
        .insert_session(&session, 1_000)
        .await
        .expect("session stored");
    assert!(
        store
            .live_session(&session.id_hash, 1_999)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .live_session(&session.id_hash, 2_000)
            .await
            .expect("read")
            .is_none()
    );
    assert!(store.delete_session(&session.id_hash).await.expect("delete"));
    server.shutdown().await;
}
