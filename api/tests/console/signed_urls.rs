//! Signed, expiring recording URLs: minted with a key, played without one, refused (403 with a
//! JSON reason) when expired, tampered with, another call's, or their key is revoked; the secret
//! lives in the store, so a URL outlives a restart.

use crate::common::{StoredCall, store_call, wav};
use crate::harness::Rig;
use axum::http::StatusCode;
use std::time::Duration;

/// A finished call of `key`'s with a two-second recording; its id.
async fn recorded(rig: &Rig, key: &str, id: &'static str) -> Vec<u8> {
    let path = rig.data.path().join("recordings").join(format!("{id}.wav"));
    wav(&path, 2);
    let call = StoredCall {
        id,
        recording: Some(&path),
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), key, &call).await;
    std::fs::read(&path).expect("wav")
}

/// The path and query of a minted URL (the router is driven without a host).
fn local(url: &str) -> String {
    let after_scheme = url.split_once("://").expect("absolute URL").1;
    after_scheme[after_scheme.find('/').expect("a path")..].to_owned()
}

async fn mint(rig: &Rig, key: &str, id: &str, expires_in: Option<u32>) -> crate::harness::Answer {
    let uri = match expires_in {
        Some(secs) => format!("/v1/calls/{id}/recording/url?expires_in={secs}"),
        None => format!("/v1/calls/{id}/recording/url"),
    };
    rig.request("POST", &uri).key(key).send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_plays_without_a_key_until_it_expires() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    let bytes = recorded(&rig, &key, "call_0001signed").await;
    let minted = mint(&rig, &key, "call_0001signed", Some(600)).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
    let url = minted.json["url"].as_str().expect("url");
    assert!(url.starts_with(rig.server.service.public_url()), "{url}");
    assert_eq!(
        minted.json["expires"].as_i64(),
        Some(crate::harness::T0_MS / 1000 + 600)
    );
    assert_eq!(minted.json["expires_at"], "2026-04-07T14:40:00.000Z");
    let path = local(url);
    assert!(path.contains("expires=") && path.contains("sig="), "{path}");

    let played = rig.request("GET", &path).send().await;
    assert_eq!(played.status, StatusCode::OK, "{}", played.text);
    assert_eq!(played.header("content-type"), "audio/wav");
    assert_eq!(played.bytes, bytes);
    let part = rig
        .request("GET", &path)
        .header("range", "bytes=0-43")
        .send()
        .await;
    assert_eq!(
        part.status,
        StatusCode::PARTIAL_CONTENT,
        "an <audio> element seeks with Range"
    );
    assert_eq!(part.bytes, bytes[..44]);

    // The fetch is in the audit log, on the call's key, marked as through a signed URL.
    let log = ringback::audit::read(rig.server.service.store(), 0, 100)
        .await
        .expect("audit");
    let fetched: Vec<_> = log.iter().filter(|r| r.action == "recording.fetched").collect();
    assert_eq!(fetched.len(), 2);
    assert!(
        fetched[0].detail.contains("\"signed_url\":true"),
        "{:?}",
        fetched[0]
    );

    rig.clock.advance(Duration::from_secs(601));
    let expired = rig.request("GET", &path).send().await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert_eq!(
        expired.json["error"]["code"], "signature_expired",
        "{}",
        expired.text
    );
    assert!(
        expired.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );
    // The keyed route keeps working.
    let keyed = rig
        .request("GET", "/v1/calls/call_0001signed/recording")
        .key(&key)
        .send()
        .await;
    assert_eq!(keyed.status, StatusCode::OK);
    assert_eq!(keyed.bytes, bytes);
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_foreign_and_malformed_signatures_are_refused() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    recorded(&rig, &key, "call_0001first").await;
    recorded(&rig, &key, "call_0002second").await;
    let minted = mint(&rig, &key, "call_0001first", None).await;
    assert_eq!(minted.status, StatusCode::OK, "{}", minted.text);
    assert_eq!(
        minted.json["expires"].as_i64(),
        Some(crate::harness::T0_MS / 1000 + 3600),
        "an hour by default"
    );
    let path = local(minted.json["url"].as_str().expect("url"));
    let (_, query) = path.split_once('?').expect("query");
    let sig = query.split("sig=").nth(1).expect("sig").to_owned();
    let expires = minted.json["expires"].as_i64().expect("expires");

    let refused = |code: &'static str| {
        move |a: &crate::harness::Answer| {
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
            assert_eq!(a.json["error"]["code"], code, "{}", a.text);
        }
    };
    // Another call's path with this call's signature.
    let other = rig
        .request("GET", &format!("/v1/calls/call_0002second/recording?{query}"))
        .send()
        .await;
    refused("invalid_signature")(&other);
    // One hex digit changed.
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).expect("hex");
    let tampered = rig
        .request(
            "GET",
            &format!("/v1/calls/call_0001first/recording?expires={expires}&sig={flipped}"),
        )
        .send()
        .await;
    refused("invalid_signature")(&tampered);
    // A later expiry under the same signature.
    let stretched = rig
        .request(
            "GET",
            &format!(
                "/v1/calls/call_0001first/recording?expires={}&sig={sig}",
                expires + 86_400
            ),
        )
        .send()
        .await;
    refused("invalid_signature")(&stretched);
    for malformed in [
        format!("/v1/calls/call_0001first/recording?expires={expires}"),
        format!("/v1/calls/call_0001first/recording?sig={sig}"),
        format!("/v1/calls/call_0001first/recording?expires=soon&sig={sig}"),
        format!("/v1/calls/call_0001first/recording?expires={expires}&sig=not-hex"),
    ] {
        refused("invalid_signature")(&rig.request("GET", &malformed).send().await);
    }
    // Neither key nor signature: the API's one 401.
    let bare = rig
        .request("GET", "/v1/calls/call_0001first/recording")
        .send()
        .await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    // A presented key decides: a wrong one is 401 even with a good signature.
    let wrong_key = rig.request("GET", &path).key("rb_live_wrong").send().await;
    assert_eq!(wrong_key.status, StatusCode::UNAUTHORIZED);

    // Minting: only the call's key, only with a recording, within the lifetime bounds.
    let stranger = rig.key().await;
    assert_eq!(
        mint(&rig, &stranger, "call_0001first", None).await.status,
        StatusCode::NOT_FOUND
    );
    let silent = StoredCall {
        id: "call_0003silent",
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &key, &silent).await;
    let none = mint(&rig, &key, "call_0003silent", None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.json["error"]["code"], "no_recording");
    for bad in [59, 604_801] {
        let answer = mint(&rig, &key, "call_0001first", Some(bad)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.json["error"]["field"], "expires_in");
    }
    let anonymous = rig
        .request("POST", "/v1/calls/call_0001first/recording/url")
        .send()
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_outlives_a_restart_but_not_its_key() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    let bytes = recorded(&rig, &key, "call_0001kept").await;
    let minted = mint(&rig, &key, "call_0001kept", Some(3600)).await;
    let path = local(minted.json["url"].as_str().expect("url"));
    let Rig { data, server, .. } = rig;
    server.shutdown().await;

    // The secret is in the store: the same database checks the same URL after a restart.
    let rig = Rig::start_in(data, |_| {}).await;
    let played = rig.request("GET", &path).send().await;
    assert_eq!(played.status, StatusCode::OK, "{}", played.text);
    assert_eq!(played.bytes, bytes);

    let listed = ringback::keys::list(rig.server.service.store())
        .await
        .expect("keys");
    ringback::keys::revoke(
        rig.server.service.store(),
        &ringback::clock::SystemClock,
        &listed[0].prefix,
    )
    .await
    .expect("revoke")
    .expect("was active");
    let revoked = rig.request("GET", &path).send().await;
    assert_eq!(revoked.status, StatusCode::FORBIDDEN);
    assert_eq!(revoked.json["error"]["code"], "key_revoked", "{}", revoked.text);
    rig.server.shutdown().await;
}
