//! Campaigns (issue 18) on a real server (real store file, real SIP): recipients called through a
//! real kamailio trunk answering 486, 603, 480 and 404, each retried or not as the rules say; bad
//! input named by row with nothing dialled; idempotent creation; pause, resume and cancel; and a
//! campaign that survives a restart of the server without calling anyone twice. The calling
//! window is opened to the whole day here so that no test depends on the hour it runs at; the
//! window rules themselves are tested at fixed instants in `campaign::window` and `campaign::plan`.

mod common;

use common::{config, dead_port, key, send, trunk_section};
use reqwest::Method;
use ringback::server::Server;
use ringback_testbed::{Kamailio, KamailioOptions};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const PROMPT: &str = "You are calling on behalf of Bright Dental. Remind {name} that invoice {invoice} is due on Friday. Ask if they can pay by then.";

fn all_day() -> Value {
    json!({"start": "00:00", "end": "24:00"})
}

async fn kamailio_server(data: &std::path::Path, trunk: &Kamailio) -> Server {
    let mut config = config(data, trunk.addr());
    config.trunks = vec![trunk_section("kamailio", trunk.addr(), Some("agentpw"))];
    config.limits.requests_per_minute = 10_000;
    Server::start(config).await.expect("server starts")
}

/// A server whose trunk never answers (nothing these tests create is meant to be dialled).
async fn dead_trunk_server(data: &std::path::Path) -> Server {
    let mut config = config(data, dead_port());
    config.limits.requests_per_minute = 10_000;
    Server::start(config).await.expect("server")
}

/// Polls a campaign until it is finished (bounded).
async fn finished(server: &Server, key: &str, id: &str) -> Value {
    let mut campaign = Value::Null;
    for _ in 0..600 {
        campaign = send(
            server,
            Method::GET,
            &format!("/v1/campaigns/{id}"),
            Some(key),
            None,
        )
        .await
        .2;
        if !campaign["finished_at"].is_null() {
            return campaign;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("campaign {id} did not finish within 60 s: {campaign:#}");
}

async fn recipients(server: &Server, key: &str, id: &str) -> Vec<Value> {
    let (status, _, list) = send(
        server,
        Method::GET,
        &format!("/v1/campaigns/{id}/recipients"),
        Some(key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().cloned().expect("recipients")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_are_called_through_the_trunk_and_retried_only_when_the_rules_say() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let data = tempfile::tempdir().expect("temp dir");
    let server = kamailio_server(data.path(), &trunk).await;
    let key = key(&server).await;
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(json!({
            "name": "invoices",
            "prompt": PROMPT,
            "recipients": [
                {"to": "+15550000486", "variables": {"name": "Sam", "invoice": 4521}},
                {"to": "+15550000603", "variables": {"name": "Lee", "invoice": 4522}},
                {"to": "+15550000404", "variables": {"name": "Ana", "invoice": 4523}},
                {"to": "+15550000480", "variables": {"name": "Bo", "invoice": 4524}, "time_zone": "America/Chicago"},
            ],
            "time_zone": "America/New_York",
            "window": all_day(),
            "concurrency": 2,
            "retry": {"max_attempts": 2, "after_secs": 0},
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    assert_eq!(created["progress"]["total"], 4);
    assert_eq!(
        created["settings"]["retry"]["outcomes"],
        json!(["no_answer", "busy", "failed"])
    );

    let campaign = finished(&server, &key, &id).await;
    assert_eq!(campaign["state"], "finished", "{campaign:#}");
    assert_eq!(
        campaign["progress"]["done"],
        json!({"busy": 1, "declined": 1, "failed": 1, "no_answer": 1}),
        "{campaign:#}"
    );
    let list = recipients(&server, &key, &id).await;
    let calls: BTreeMap<String, usize> = list
        .iter()
        .map(|r| {
            (
                r["to"].as_str().unwrap_or_default().to_owned(),
                r["call_ids"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    // Busy (486) and no answer (480) are tried twice; a decline (603) and a lasting failure
    // (404) once.
    assert_eq!(
        calls,
        BTreeMap::from([
            ("+15550000404".to_owned(), 1),
            ("+15550000480".to_owned(), 2),
            ("+15550000486".to_owned(), 2),
            ("+15550000603".to_owned(), 1),
        ])
    );
    // Each call is a real call with the recipient's own prompt and the campaign in its metadata.
    let first = &list[0];
    for call_id in first["call_ids"].as_array().expect("ids") {
        let (_, _, call) = send(
            &server,
            Method::GET,
            &format!("/v1/calls/{}", call_id.as_str().unwrap_or("")),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(call["outcome"], "busy", "{call:#}");
        assert_eq!(call["sip"]["status"], 486);
        assert_eq!(call["metadata"]["campaign_id"], id.as_str());
        let (_, _, workflow) = send(
            &server,
            Method::GET,
            &format!("/v1/workflows/{}", call["workflow_id"].as_str().unwrap_or("")),
            Some(&key),
            None,
        )
        .await;
        let prompt = workflow["prompt"].as_str().unwrap_or_default();
        assert!(prompt.contains("Remind Sam that invoice 4521"), "{prompt}");
    }
    assert!(trunk.count("AUTH-OK INVITE from agent") >= 6, "{}", trunk.log());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_recipients_are_named_by_row_and_nothing_is_dialled() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = dead_trunk_server(data.path()).await;
    let key = key(&server).await;
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/v1/dnc",
        Some(&key),
        Some(json!({"number": "+15551230006"})),
    )
    .await;
    assert_eq!(status, 201);
    let csv = "to,name,invoice,time_zone\n\
               +15551230001,Sam,4521,\n\
               not a number,Lee,4522,\n\
               +15551230003,Ana,,\n\
               +15551230004,Bo,4524,Mars/Olympus_Mons\n\
               +15551230005,Cy,4525,America/Chicago\n\
               +15551230006,Di,4526,\n\
               +1 555 123 0001,Sam again,4527,\n\
               +19005550123,Premium,4528,\n";
    let request = |on_error: &str, time_zone: Option<&str>| {
        json!({
            "prompt": PROMPT,
            "recipients_csv": csv,
            "time_zone": time_zone,
            "on_error": on_error,
            "starts_at": "2099-01-01T00:00:00Z",
        })
    };
    let (status, _, refused) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(request("refuse", Some("America/New_York"))),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_rows");
    let rows: BTreeMap<u64, String> = refused["error"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap_or(0),
                r["error"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows.keys().copied().collect::<Vec<_>>(),
        vec![3, 4, 5, 7, 8, 9],
        "{refused:#}"
    );
    assert!(rows[&4].contains("{invoice}"), "{}", rows[&4]);
    assert!(rows[&5].contains("time_zone"), "{}", rows[&5]);
    assert!(rows[&7].starts_with("do_not_call"), "{}", rows[&7]);
    assert!(rows[&8].contains("row 2"), "{}", rows[&8]);
    assert!(rows[&9].starts_with("destination_not_allowed"), "{}", rows[&9]);

    // Without a campaign zone, recipients that name none are refused too.
    let (_, _, no_zone) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(request("refuse", None)),
    )
    .await;
    let rows: Vec<u64> = no_zone["error"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["row"].as_u64())
        .collect();
    assert!(rows.contains(&2) && !rows.contains(&6), "{no_zone:#}");

    // Settings that cannot work are refused as a whole.
    for (body, code) in [
        (
            json!({"prompt": PROMPT, "recipients": [{"to": "+15551230001", "variables": {"name": "S", "invoice": 1}}], "time_zone": "Atlantis/Capital"}),
            "invalid_time_zone",
        ),
        (
            json!({"prompt": PROMPT, "recipients": [{"to": "+15551230001", "variables": {"name": "S", "invoice": 1}}], "time_zone": "UTC", "retry": {"outcomes": ["declined"]}}),
            "invalid_retry",
        ),
        (
            json!({"prompt": PROMPT, "recipients": [{"to": "+15551230001", "variables": {"name": "S", "invoice": 1}}], "time_zone": "UTC", "window": {"start": "21:00", "end": "08:00"}}),
            "invalid_window",
        ),
        (
            json!({"prompt": PROMPT, "recipients": [], "time_zone": "UTC"}),
            "invalid_recipients",
        ),
        (
            json!({"prompt": PROMPT, "recipients_csv": "name\nSam\n", "time_zone": "UTC"}),
            "invalid_csv",
        ),
        (
            json!({"prompt": PROMPT, "recipients": [{"to": "+15551230001", "variables": {"name": "S", "invoice": 1}}], "time_zone": "UTC", "trunk": "mian"}),
            "unknown_trunk",
        ),
    ] {
        let (status, _, answer) = send(&server, Method::POST, "/v1/campaigns", Some(&key), Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }

    // With on_error=skip the good rows make a campaign and the bad ones are named.
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(request("skip", Some("America/New_York"))),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["progress"]["total"], 2, "rows 2 and 6");
    assert_eq!(created["progress"]["queued"], 2);
    assert_eq!(created["rejected"].as_array().map(Vec::len), Some(6));
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    let list = recipients(&server, &key, &id).await;
    assert_eq!(list[1]["time_zone"], "America/Chicago");
    assert_eq!(list[1]["variables"]["name"], "Cy");

    // Nothing was dialled: no call exists (the campaign starts in 2099).
    let (_, _, calls) = send(&server, Method::GET, "/v1/calls", Some(&key), None).await;
    assert_eq!(calls["data"], json!([]), "{calls}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_is_idempotent_and_pause_resume_cancel_follow_their_states() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = dead_trunk_server(data.path()).await;
    let key = key(&server).await;
    let body = json!({
        "prompt": PROMPT,
        "recipients": [
            {"to": "+15551230001", "variables": {"name": "Sam", "invoice": 1}},
            {"to": "+15551230002", "variables": {"name": "Lee", "invoice": 2}},
        ],
        "time_zone": "UTC",
        "starts_at": "2099-01-01T00:00:00Z",
        "idempotency_key": "march-invoices",
    });
    let (status, _, first) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let (status, headers, again) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["campaign_id"], first["campaign_id"]);
    let mut other = body.clone();
    other["recipients"][1]["to"] = json!("+15551230009");
    let (status, _, reused) = send(&server, Method::POST, "/v1/campaigns", Some(&key), Some(other)).await;
    assert_eq!(status, 409, "{reused}");
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    // Another key sees nothing of it.
    let stranger = common::key(&server).await;
    let id = first["campaign_id"].as_str().expect("id").to_owned();
    let (status, _, _) = send(
        &server,
        Method::GET,
        &format!("/v1/campaigns/{id}"),
        Some(&stranger),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let path = |verb: &str| format!("/v1/campaigns/{id}/{verb}");
    let (status, _, paused) = send(&server, Method::POST, &path("pause"), Some(&key), None).await;
    assert_eq!((status, paused["state"].as_str()), (200, Some("paused")));
    let (status, _, resumed) = send(&server, Method::POST, &path("resume"), Some(&key), None).await;
    assert_eq!((status, resumed["state"].as_str()), (200, Some("running")));
    let (status, _, canceled) = send(&server, Method::POST, &path("cancel"), Some(&key), None).await;
    assert_eq!((status, canceled["state"].as_str()), (200, Some("canceled")));
    let (status, _, late) = send(&server, Method::POST, &path("resume"), Some(&key), None).await;
    assert_eq!(status, 409, "{late}");
    assert_eq!(late["error"]["code"], "invalid_state");
    let done = finished(&server, &key, &id).await;
    assert_eq!(done["state"], "canceled");
    assert_eq!(done["progress"]["done"], json!({"canceled": 2}), "{done:#}");
    let (_, _, calls) = send(&server, Method::GET, "/v1/calls", Some(&key), None).await;
    assert_eq!(calls["data"], json!([]), "a canceled campaign dialled nobody");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_survives_a_restart_and_calls_nobody_twice() {
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio");
    let data = tempfile::tempdir().expect("temp dir");
    let server = kamailio_server(data.path(), &trunk).await;
    let key = key(&server).await;
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(json!({
            "prompt": PROMPT,
            "recipients": [
                {"to": "+15550000404", "variables": {"name": "Sam", "invoice": 1}},
                {"to": "+15550000603", "variables": {"name": "Lee", "invoice": 2}},
                {"to": "+15550000486", "variables": {"name": "Ana", "invoice": 3}},
            ],
            "time_zone": "UTC",
            "window": all_day(),
            "concurrency": 1,
            "retry": {"max_attempts": 1},
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    server.shutdown().await;

    let server = kamailio_server(data.path(), &trunk).await;
    let campaign = finished(&server, &key, &id).await;
    assert_eq!(
        campaign["progress"]["done"],
        json!({"busy": 1, "declined": 1, "failed": 1}),
        "{campaign:#}"
    );
    let list = recipients(&server, &key, &id).await;
    for r in &list {
        assert_eq!(r["call_ids"].as_array().map(Vec::len), Some(1), "{r}");
    }
    let (_, _, calls) = send(&server, Method::GET, "/v1/calls?limit=100", Some(&key), None).await;
    let mut numbers: Vec<&str> = calls["data"]
        .as_array()
        .expect("calls")
        .iter()
        .filter_map(|c| c["to"].as_str())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        vec!["+15550000404", "+15550000486", "+15550000603"],
        "one call each"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_listed_after_creation_is_never_dialled() {
    // One call at a time to a trunk that never answers: the first recipient's INVITE runs until
    // Timer B (64 x T1 = 6.4 s), long after the second recipient's number is listed.
    let trunk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), trunk.local_addr().expect("addr"));
    cfg.sip.t1_ms = 100;
    cfg.limits.requests_per_minute = 10_000;
    let server = Server::start(cfg).await.expect("server");
    let key = key(&server).await;
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(json!({
            "prompt": PROMPT,
            "recipients": [
                {"to": "+15551230001", "variables": {"name": "Sam", "invoice": 1}},
                {"to": "+15551230002", "variables": {"name": "Lee", "invoice": 2}},
            ],
            "time_zone": "UTC",
            "window": all_day(),
            "concurrency": 1,
            "retry": {"max_attempts": 1},
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _, _) = send(
        &server,
        Method::POST,
        "/v1/dnc",
        Some(&key),
        Some(json!({"number": "+15551230002"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    let campaign = finished(&server, &key, &id).await;
    assert_eq!(
        campaign["progress"]["done"],
        json!({"do_not_call": 1, "failed": 1}),
        "{campaign:#}"
    );
    let list = recipients(&server, &key, &id).await;
    assert_eq!(list[1]["result"], "do_not_call");
    assert_eq!(list[1]["call_ids"], json!([]), "no call was even created");
    // What reached the trunk was for the first recipient only.
    let mut buf = vec![0u8; 65536];
    let mut invites = 0;
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(10), trunk.recv_from(&mut buf)).await
    {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !text.contains("15551230002"),
            "the listed number was dialled: {text}"
        );
        invites += usize::from(text.starts_with("INVITE "));
    }
    assert!(invites >= 1, "the first recipient was dialled");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_outside_its_window_waits_until_it_opens() {
    // The server's wall clock is fixed: Monday 2026-12-07 12:00 UTC is 07:00 in New York (before
    // the default 08:00 start) and 12:00 in London.
    let at = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(ringback::clock::unix_ms)
            .expect("instant")
    };
    let clock = std::sync::Arc::new(ringback::clock::FixedClock::at_ms(at("2026-12-07T12:00:00Z")));
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), dead_port());
    cfg.limits.requests_per_minute = 10_000;
    let server = Server::start_with_clock(cfg, clock.clone())
        .await
        .expect("server");
    let key = key(&server).await;
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(json!({
            "prompt": PROMPT,
            "recipients": [
                {"to": "+15551230001", "variables": {"name": "Sam", "invoice": 1}, "time_zone": "America/New_York"},
                {"to": "+15551230002", "variables": {"name": "Lee", "invoice": 2}, "time_zone": "Europe/London"},
            ],
            "concurrency": 2,
            "retry": {"max_attempts": 1},
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["settings"]["window"],
        json!({"start": "08:00", "end": "21:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]})
    );
    let id = created["campaign_id"].as_str().expect("id").to_owned();

    // London is called and its call ends; the pass that dialled London weighed New York too, at
    // 07:00 its time, and left it waiting with no call made.
    let mut list = Vec::new();
    for _ in 0..600 {
        list = recipients(&server, &key, &id).await;
        if list[1]["state"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list[1]["state"], "done", "{list:#?}");
    assert_eq!(list[1]["call_ids"].as_array().map(Vec::len), Some(1));
    let list = recipients(&server, &key, &id).await;
    assert_eq!(list[0]["state"], "waiting", "{list:#?}");
    assert_eq!(
        list[0]["attempts"], 0,
        "New York was not called at 07:00 local time"
    );

    // At 08:00 in New York it is called.
    clock.advance(Duration::from_secs(3600));
    let campaign = finished(&server, &key, &id).await;
    let list = recipients(&server, &key, &id).await;
    assert_eq!(list[0]["attempts"], 1, "{campaign:#}");
    let (_, _, call) = send(
        &server,
        Method::GET,
        &format!("/v1/calls/{}", list[0]["call_ids"][0].as_str().unwrap_or("")),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(call["created_at"], "2026-12-07T13:00:00.000Z", "{call:#}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_keys_campaign_dials_nobody_more() {
    let trunk = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), trunk.local_addr().expect("addr"));
    cfg.limits.requests_per_minute = 10_000;
    let server = Server::start(cfg).await.expect("server");
    let new_key = ringback::keys::create(
        server.service.store(),
        &ringback::clock::SystemClock,
        None,
        ringback::keys::Issuer::Operator,
    )
    .await
    .expect("key");
    // Starts in two seconds: the key is revoked before its first call is due.
    let starts_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let starts_at = starts_at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&new_key.secret),
        Some(json!({
            "prompt": PROMPT,
            "recipients": [{"to": "+15551230001", "variables": {"name": "Sam", "invoice": 1}}],
            "time_zone": "UTC",
            "window": all_day(),
            "starts_at": starts_at,
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    server
        .service
        .store()
        .revoke_key(&new_key.row.id, "2026-01-01T00:00:00Z")
        .await
        .expect("revoke")
        .expect("was active");
    // Well past the start: several scheduler passes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let row = server.service.store().recipients(&id).await.expect("recipients");
    assert_eq!(row[0].attempts, 0, "a revoked key's campaign placed a call");
    let mut buf = vec![0u8; 65536];
    let reached = tokio::time::timeout(Duration::from_millis(200), trunk.recv_from(&mut buf)).await;
    assert!(reached.is_err(), "something reached the trunk");
}

/// Polls the campaign's only recipient until `ready` holds (bounded).
async fn recipient_until(server: &Server, key: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = recipients(server, key, id).await.remove(0);
        if ready(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the recipient never got there: {last:#}");
}

async fn call(server: &Server, key: &str, id: &str) -> Value {
    send(server, Method::GET, &format!("/v1/calls/{id}"), Some(key), None)
        .await
        .2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_or_cancel_holds_back_calls_already_queued() {
    // One channel, held by a single call the dead trunk keeps ringing (INVITE retransmitted until
    // timer B, 64 x T1 = 32 s): the campaign's call waits in the queue behind it.
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = config(data.path(), dead_port());
    config.sip.t1_ms = 500;
    config.trunks[0].max_concurrent_calls = Some(1);
    config.limits.requests_per_minute = 10_000;
    let server = Server::start(config).await.expect("server");
    let key = key(&server).await;
    let (status, _, blocking) = send(
        &server,
        Method::POST,
        "/v1/calls",
        Some(&key),
        Some(json!({"to": "+15559990001", "prompt": "Ask if they can come on Tuesday."})),
    )
    .await;
    assert_eq!(status, 201, "{blocking}");
    let blocking = blocking["call_id"].as_str().expect("id").to_owned();
    for _ in 0..100 {
        if call(&server, &key, &blocking).await["lifecycle"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(call(&server, &key, &blocking).await["lifecycle"], "dialing");

    let (status, _, created) = send(
        &server,
        Method::POST,
        "/v1/campaigns",
        Some(&key),
        Some(json!({
            "prompt": PROMPT,
            "recipients": [{"to": "+15551230001", "variables": {"name": "Sam", "invoice": 1}}],
            "time_zone": "UTC",
            "window": all_day(),
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["campaign_id"].as_str().expect("id").to_owned();
    let path = |verb: &str| format!("/v1/campaigns/{id}/{verb}");
    let calling = recipient_until(&server, &key, &id, |r| r["state"] == "calling").await;
    let first = calling["call_id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| calling["call_ids"][0].as_str().expect("a call id").to_owned());
    assert_eq!(call(&server, &key, &first).await["lifecycle"], "queued");

    // Paused: the queued call is taken out undialled; the recipient waits again, no attempt spent.
    let (status, _, _) = send(&server, Method::POST, &path("pause"), Some(&key), None).await;
    assert_eq!(status, 200);
    let waiting = recipient_until(&server, &key, &id, |r| r["state"] == "waiting").await;
    assert_eq!(waiting["attempts"], 0, "{waiting:#}");
    assert_eq!(waiting["call_ids"], json!([first.clone()]), "{waiting:#}");
    let withdrawn = call(&server, &key, &first).await;
    assert_eq!(withdrawn["lifecycle"], "finalized", "{withdrawn:#}");
    assert_eq!(withdrawn["outcome"], "canceled", "{withdrawn:#}");
    assert!(
        withdrawn["answered_at"].is_null() && withdrawn["sip"]["status"].is_null(),
        "{withdrawn:#}"
    );
    assert_eq!(call(&server, &key, &blocking).await["lifecycle"], "dialing");

    // Resumed: a new call (its own idempotency key) is queued for the recipient.
    let (status, _, _) = send(&server, Method::POST, &path("resume"), Some(&key), None).await;
    assert_eq!(status, 200);
    let again = recipient_until(&server, &key, &id, |r| r["state"] == "calling").await;
    let ids = again["call_ids"].as_array().cloned().expect("ids");
    assert_eq!(ids.len(), 2, "{again:#}");
    assert_ne!(ids[1].as_str(), Some(first.as_str()));
    let second = ids[1].as_str().expect("id").to_owned();
    assert_eq!(call(&server, &key, &second).await["lifecycle"], "queued");

    // Canceled: that call is taken out too and the recipient ends `canceled`; nothing was dialled.
    let (status, _, _) = send(&server, Method::POST, &path("cancel"), Some(&key), None).await;
    assert_eq!(status, 200);
    let done = finished(&server, &key, &id).await;
    assert_eq!(done["progress"]["done"], json!({"canceled": 1}), "{done:#}");
    for id in [&first, &second] {
        let ended = call(&server, &key, id).await;
        assert_eq!(
            (ended["lifecycle"].as_str(), ended["outcome"].as_str()),
            (Some("finalized"), Some("canceled")),
            "{ended:#}"
        );
        assert!(
            ended["answered_at"].is_null() && ended["sip"]["status"].is_null(),
            "{ended:#}"
        );
    }
    assert_eq!(
        call(&server, &key, &blocking).await["lifecycle"],
        "dialing",
        "the blocking call was still dialling: the channel stayed taken"
    );
    let (status, _, _) = send(
        &server,
        Method::POST,
        &format!("/v1/calls/{blocking}/hangup"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, 202);
    server.shutdown().await;
}
