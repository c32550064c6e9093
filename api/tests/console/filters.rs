//! `GET /v1/calls` filters beside the existing ones: direction, number suffix, and a search in
//! transcripts (a case-insensitive substring of one turn's text).

use crate::common::{StoredCall, store_call};
use crate::harness::Rig;
use axum::http::StatusCode;

const TUESDAY: &str = r#"[{"role":"agent","text":"Hi, I'm an AI assistant. Can you come on Tuesday?","start_ms":0,"end_ms":2000,"interrupted":false},{"role":"caller","text":"Yes, TUESDAY at 3 works, 100% sure.","start_ms":2500,"end_ms":4000,"interrupted":false}]"#;
const REFUND: &str = r#"[{"role":"agent","text":"I'm an AI assistant calling about your refund.","start_ms":0,"end_ms":2000,"interrupted":true},{"role":"caller","text":"Please call back later.","start_ms":2100,"end_ms":3000,"interrupted":false}]"#;

/// The ids a list answer holds, in order.
fn ids(answer: &crate::harness::Answer) -> Vec<String> {
    answer.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", answer.text))
        .iter()
        .map(|c| c["call_id"].as_str().expect("id").to_owned())
        .collect()
}

pub async fn three_calls(rig: &Rig, key: &str) {
    let store = rig.server.service.store();
    let calls = [
        StoredCall {
            id: "call_0001tuesday",
            to: "+15551234567",
            transcript: TUESDAY,
            summary: Some("They can come on Tuesday at 3 PM."),
            ..StoredCall::default()
        },
        StoredCall {
            id: "call_0002refund",
            to: "+15559994567",
            outcome: "voicemail",
            transcript: REFUND,
            ..StoredCall::default()
        },
        StoredCall {
            id: "call_0003inbound",
            direction: "inbound",
            to: "+15557650000",
            from: Some("+442071234000"),
            transcript: "[]",
            created_at: "2026-01-02T00:00:00.000Z",
            ..StoredCall::default()
        },
    ];
    for call in &calls {
        store_call(store, key, call).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_filtered_by_direction_number_suffix_and_transcript_text() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    three_calls(&rig, &key).await;
    // Another key's call that matches every filter never shows.
    let other = rig.key().await;
    let theirs = StoredCall {
        id: "call_0009theirs",
        to: "+15550004567",
        transcript: TUESDAY,
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &other, &theirs).await;

    let rig_ref = &rig;
    let list = move |query: &str| {
        let uri = format!("/v1/calls?{query}");
        let key = key.clone();
        async move { rig_ref.request("GET", &uri).key(&key).send().await }
    };
    let all = list("").await;
    assert_eq!(
        ids(&all),
        ["call_0003inbound", "call_0002refund", "call_0001tuesday"]
    );
    assert_eq!(ids(&list("direction=inbound").await), ["call_0003inbound"]);
    assert_eq!(
        ids(&list("direction=outbound").await),
        ["call_0002refund", "call_0001tuesday"]
    );
    // The suffix matches the number called or the number calling.
    assert_eq!(
        ids(&list("number_suffix=4567").await),
        ["call_0002refund", "call_0001tuesday"]
    );
    assert_eq!(ids(&list("number_suffix=1234000").await), ["call_0003inbound"]);
    assert!(ids(&list("number_suffix=9999999").await).is_empty());
    // Transcript search ignores case and takes LIKE's wildcards literally.
    assert_eq!(ids(&list("q=tuesday").await), ["call_0001tuesday"]);
    assert_eq!(ids(&list("q=Call%20Back").await), ["call_0002refund"]);
    assert_eq!(ids(&list("q=100%25").await), ["call_0001tuesday"]);
    assert!(ids(&list("q=1_0").await).is_empty(), "_ is not a wildcard");
    assert!(ids(&list("q=%25").await).len() == 1, "% matches only a literal %");
    // The JSON around the text is not searched.
    assert!(ids(&list("q=role").await).is_empty());
    assert!(ids(&list("q=start_ms").await).is_empty());
    // The summary is not the transcript.
    assert!(ids(&list("q=3%20PM").await).is_empty());
    // Together with each other and with the existing filters.
    assert_eq!(
        ids(&list("direction=outbound&number_suffix=4567&q=refund&outcome=voicemail").await),
        ["call_0002refund"]
    );
    assert!(ids(&list("q=refund&outcome=completed").await).is_empty());
    assert_eq!(
        ids(&list("q=AI%20assistant&limit=1").await),
        ["call_0002refund"],
        "paged like any list"
    );

    for (query, field) in [
        ("direction=sideways", "direction"),
        ("number_suffix=45a7", "number_suffix"),
        ("number_suffix=", "number_suffix"),
        ("number_suffix=1234567890123456", "number_suffix"),
        ("q=", "q"),
        ("q=%00", "q"),
    ] {
        let answer = list(query).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.json["error"]["field"], field, "{query}: {}", answer.text);
    }
    let long = "a".repeat(201);
    let answer = list(&format!("q={long}")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_new_filters_and_routes() {
    let rig = Rig::start(|_| {}).await;
    let doc = rig.request("GET", "/openapi.json").send().await.json;
    let params: Vec<&str> = doc["paths"]["/v1/calls"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["direction", "number_suffix", "q"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    assert!(doc["paths"]["/v1/calls/{id}/recording/url"]["post"].is_object());
    let recording: Vec<&str> = doc["paths"]["/v1/calls/{id}/recording"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        recording.contains(&"expires") && recording.contains(&"sig"),
        "{recording:?}"
    );
    rig.server.shutdown().await;
}
