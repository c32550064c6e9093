//! The console's pages and data: the list and call pages, a 404 page for another key's call, the
//! JSON the pages read (the v1 handlers with the session's key), CSV export, and the assets.

use crate::common::{StoredCall, store_call};
use crate::filters::three_calls;
use crate::harness::{Rig, sign_in};
use axum::http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_sees_only_its_keys_calls() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    three_calls(&rig, &key).await;
    let other = rig.key().await;
    let theirs = StoredCall {
        id: "call_0009theirs",
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &other, &theirs).await;
    let session = sign_in(&rig, &key).await;

    let list = rig
        .request("GET", "/console/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.header("content-type"), "text/html; charset=utf-8");
    assert!(
        list.header("content-security-policy")
            .contains("default-src 'self'")
    );
    assert!(list.text.contains("id=\"filters\"") && list.text.contains("/console/assets/console.js"));
    for name in [
        "outcome",
        "direction",
        "from_date",
        "to_date",
        "number_suffix",
        "q",
    ] {
        assert!(list.text.contains(&format!("name=\"{name}\"")), "filter {name}");
    }

    // The list page's data: the same query as GET /v1/calls, with the same filters.
    let data = rig
        .request("GET", "/console/api/calls")
        .session(&session)
        .send()
        .await;
    let ids: Vec<&str> = data.json["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["call_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["call_0003inbound", "call_0002refund", "call_0001tuesday"]);
    let filtered = rig
        .request(
            "GET",
            "/console/api/calls?outcome=completed&direction=outbound&number_suffix=4567&q=TUESDAY&created_after=2026-01-01T00:00:00Z",
        )
        .session(&session)
        .send()
        .await;
    assert_eq!(
        filtered.json["data"].as_array().map(Vec::len),
        Some(1),
        "{}",
        filtered.text
    );
    assert_eq!(filtered.json["data"][0]["call_id"], "call_0001tuesday");

    // A call page, and the data it renders: turns with the interrupted mark, fields, SIP and media.
    let page = rig
        .request("GET", "/console/calls/call_0002refund")
        .session(&session)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("data-call-id=\"call_0002refund\""));
    let call = rig
        .request("GET", "/console/api/calls/call_0002refund")
        .session(&session)
        .send()
        .await;
    assert_eq!(call.json["transcript"][0]["interrupted"], true, "{}", call.text);
    assert_eq!(call.json["sip"]["status"], 200);
    assert_eq!(call.json["media"]["codec"], "PCMU");
    let deliveries = rig
        .request("GET", "/console/api/calls/call_0002refund/webhooks")
        .session(&session)
        .send()
        .await;
    assert_eq!(deliveries.status, StatusCode::OK);
    assert!(deliveries.json["data"].is_array());

    // Another key's call: a 404 page, and no data.
    let foreign = rig
        .request("GET", "/console/calls/call_0009theirs")
        .session(&session)
        .send()
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(foreign.text.contains("No such call"), "{}", foreign.text);
    assert!(!foreign.text.contains("call_0009theirs"));
    for uri in [
        "/console/api/calls/call_0009theirs",
        "/console/api/calls/call_0009theirs/webhooks",
        "/console/api/calls/call_0009theirs/events",
    ] {
        let answer = rig.request("GET", uri).session(&session).send().await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let mint = rig
        .request("POST", "/console/api/calls/call_0009theirs/recording/url")
        .session(&session)
        .header("x-csrf-token", &session.csrf)
        .send()
        .await;
    assert_eq!(mint.status, StatusCode::NOT_FOUND);
    let unknown = rig
        .request("GET", "/console/calls/call_0000nothing")
        .session(&session)
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The other key's session sees its call and none of ours.
    let theirs_session = sign_in(&rig, &other).await;
    let mine = rig
        .request("GET", "/console/calls/call_0001tuesday")
        .session(&theirs_session)
        .send()
        .await;
    assert_eq!(mine.status, StatusCode::NOT_FOUND);
    let their_list = rig
        .request("GET", "/console/api/calls")
        .session(&theirs_session)
        .send()
        .await;
    assert_eq!(their_list.json["data"].as_array().map(Vec::len), Some(1));
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_list_exports_as_csv_with_its_filters() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    three_calls(&rig, &key).await;
    let formula = StoredCall {
        id: "call_0004formula",
        summary: Some("=HYPERLINK(\"http://evil.example\")"),
        form_fills: r#"{"day":"Tuesday"}"#,
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &key, &formula).await;
    let other = rig.key().await;
    let theirs = StoredCall {
        id: "call_0009theirs",
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &other, &theirs).await;
    let session = sign_in(&rig, &key).await;

    let all = rig
        .request("GET", "/console/calls.csv")
        .session(&session)
        .send()
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.header("content-type"), "text/csv; charset=utf-8");
    assert!(all.header("content-disposition").contains("attachment"));
    let mut reader = csv::Reader::from_reader(all.bytes.as_slice());
    let headers = reader.headers().expect("header").clone();
    assert_eq!(&headers[0], "call_id");
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let ids: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        [
            "call_0004formula",
            "call_0003inbound",
            "call_0002refund",
            "call_0001tuesday"
        ]
    );
    let formula_row = &rows[0];
    assert!(
        formula_row[column("summary")].starts_with("'="),
        "a formula is made inert: {:?}",
        &formula_row[column("summary")]
    );
    assert_eq!(&formula_row[column("form_fills")], r#"{"day":"Tuesday"}"#);
    let refund = &rows[2];
    assert_eq!(&refund[column("outcome")], "voicemail");
    assert!(
        refund[column("transcript")].contains("agent (interrupted): I'm an AI assistant"),
        "{:?}",
        &refund[column("transcript")]
    );

    let filtered = rig
        .request("GET", "/console/calls.csv?direction=inbound")
        .session(&session)
        .send()
        .await;
    let lines: Vec<&str> = filtered.text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", filtered.text);
    assert!(lines[1].starts_with("call_0003inbound,"));
    let bad = rig
        .request("GET", "/console/calls.csv?direction=sideways")
        .session(&session)
        .send()
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let signed_out = rig.request("GET", "/console/calls.csv").send().await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assets_are_embedded_and_load_nothing_from_elsewhere() {
    let rig = Rig::start(|_| {}).await;
    let script = rig.request("GET", "/console/assets/console.js").send().await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("content-type"), "text/javascript; charset=utf-8");
    assert!(script.text.contains("/console/api/calls"));
    let style = rig.request("GET", "/console/assets/console.css").send().await;
    assert_eq!(style.header("content-type"), "text/css; charset=utf-8");
    let form = rig.request("GET", "/console/sign-in").send().await;
    for text in [&script.text, &style.text, &form.text] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "nothing fetched from elsewhere"
        );
    }
    assert!(
        !script.text.contains("innerHTML"),
        "text is set with textContent only"
    );
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflows_page_lists_only_its_keys_workflows() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    let other = rig.key().await;
    for (who, prompt) in [
        (&key, "Ask if they can come on Tuesday at 3 PM."),
        (&other, "Ask if the invoice number 4521 was paid."),
    ] {
        let created = rig
            .request("POST", "/v1/workflows")
            .key(who)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "prompt": prompt }).to_string())
            .send()
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    }
    let session = sign_in(&rig, &key).await;
    let page = rig
        .request("GET", "/console/workflows")
        .session(&session)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("data-page=\"workflows\""));
    let list = rig
        .request("GET", "/console/api/workflows")
        .session(&session)
        .send()
        .await;
    let data = list.json["data"].as_array().expect("a list");
    assert_eq!(data.len(), 1, "{}", list.text);
    assert_eq!(data[0]["prompt"], "Ask if they can come on Tuesday at 3 PM.");
    assert!(
        data[0]["questions"].as_array().is_some_and(|q| !q.is_empty()),
        "{}",
        list.text
    );
    let signed_out = rig.request("GET", "/console/workflows").send().await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    rig.server.shutdown().await;
}
