//! Console sign-in: a key becomes a session cookie (HttpOnly, SameSite=Strict, Path=/, Secure over
//! https) stored server-side; wrong and revoked keys get a clear page; expired and revoked sessions
//! go back to sign-in; writes need the session's CSRF token and this origin.

use crate::common::{StoredCall, store_call, wav};
use crate::harness::{HOST, Rig, Session, sign_in};
use axum::http::StatusCode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_signs_in_to_a_session_cookie_and_out_again() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;

    // Not signed in: pages go to the form, the JSON routes answer 401.
    let page = rig.request("GET", "/console/calls").send().await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), "/console/sign-in");
    let home = rig.request("GET", "/console").send().await;
    assert_eq!(home.header("location"), "/console/calls");
    let data = rig.request("GET", "/console/api/calls").send().await;
    assert_eq!(data.status, StatusCode::UNAUTHORIZED);
    assert_eq!(data.json["error"]["code"], "session_required");
    // The API key is not a console credential.
    let keyed = rig.request("GET", "/console/api/calls").key(&key).send().await;
    assert_eq!(keyed.status, StatusCode::UNAUTHORIZED);
    let form = rig.request("GET", "/console/sign-in").send().await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("name=\"api_key\""), "{}", form.text);

    // A wrong key: the form again, saying so, and no cookie.
    for wrong in ["rb_live_not-a-key", "", "   "] {
        let answer = rig
            .request("POST", "/console/sign-in")
            .form(&[("api_key", wrong)])
            .send()
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(answer.text.contains("not valid"), "{}", answer.text);
        assert!(answer.set_cookies().is_empty());
    }

    let answer = rig
        .request("POST", "/console/sign-in")
        .header("origin", &format!("http://{HOST}"))
        .form(&[("api_key", &key)])
        .send()
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let cookie = answer.set_cookies().join("\n");
    assert!(
        cookie.starts_with(&format!("{}=", ringback::http::console::COOKIE)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!cookie.contains(&key), "the key is not the cookie");

    let session = sign_in(&rig, &key).await;
    assert!(session.cookie.len() >= 43, "256 random bits");
    let listed = rig
        .request("GET", "/console/api/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.header("cache-control"), "no-store");

    // Sign-out needs the token; with it, the session is over server-side.
    let forged = rig
        .request("POST", "/console/sign-out")
        .session(&session)
        .form(&[("csrf_token", "guess")])
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let out = rig
        .request("POST", "/console/sign-out")
        .session(&session)
        .header("origin", &format!("http://{HOST}"))
        .form(&[("csrf_token", &session.csrf)])
        .send()
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), "/console/sign-in");
    assert!(out.set_cookies().join("").contains("Max-Age=0"));
    let after = rig
        .request("GET", "/console/api/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "the old cookie opens nothing"
    );
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_sessions_go_back_to_sign_in() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    let session = sign_in(&rig, &key).await;
    rig.clock.advance(Duration::from_secs(
        ringback::http::console::SESSION_SECS as u64 - 1,
    ));
    let still = rig
        .request("GET", "/console/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(still.status, StatusCode::OK);
    rig.clock.advance(Duration::from_secs(1));
    let ended = rig
        .request("GET", "/console/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.header("location"), "/console/sign-in?ended=1");
    assert!(
        ended.set_cookies().join("").contains("Max-Age=0"),
        "the stale cookie is cleared"
    );
    let form = rig.request("GET", "/console/sign-in?ended=1").send().await;
    assert!(form.text.contains("Your session has ended"), "{}", form.text);
    let data = rig
        .request("GET", "/console/api/calls")
        .session(&session)
        .send()
        .await;
    assert_eq!(data.status, StatusCode::UNAUTHORIZED);

    // Revoking the key ends its sessions at once, and it can no longer sign in.
    let fresh = sign_in(&rig, &key).await;
    let listed = ringback::keys::list(rig.server.service.store())
        .await
        .expect("keys");
    ringback::keys::revoke(
        rig.server.service.store(),
        &ringback::clock::SystemClock,
        &listed[0].prefix,
    )
    .await
    .expect("revoke");
    let page = rig.request("GET", "/console/calls").session(&fresh).send().await;
    assert_eq!(page.header("location"), "/console/sign-in?ended=1");
    let again = rig
        .request("POST", "/console/sign-in")
        .form(&[("api_key", &key)])
        .send()
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.text.contains("revoked"), "{}", again.text);
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_csrf_token_and_this_origin() {
    let rig = Rig::start(|_| {}).await;
    let key = rig.key().await;
    let path = rig.data.path().join("recordings").join("call_0001csrf.wav");
    wav(&path, 1);
    let call = StoredCall {
        id: "call_0001csrf",
        recording: Some(&path),
        ..StoredCall::default()
    };
    store_call(rig.server.service.store(), &key, &call).await;
    let session = sign_in(&rig, &key).await;
    let mint = "/console/api/calls/call_0001csrf/recording/url";
    let post = |session: &Session| rig.request("POST", mint).session(session);

    let bare = post(&session).send().await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    assert_eq!(bare.json["error"]["code"], "csrf_failed");
    let wrong = post(&session).header("x-csrf-token", "guess").send().await;
    assert_eq!(wrong.json["error"]["code"], "csrf_failed");
    let cross = post(&session)
        .header("x-csrf-token", &session.csrf)
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(cross.json["error"]["code"], "cross_origin");
    let cross_site = post(&session)
        .header("x-csrf-token", &session.csrf)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    assert_eq!(cross_site.json["error"]["code"], "cross_origin");
    // Another session's token is not this one's.
    let second = sign_in(&rig, &key).await;
    assert_ne!(second.csrf, session.csrf);
    let swapped = post(&session).header("x-csrf-token", &second.csrf).send().await;
    assert_eq!(swapped.status, StatusCode::FORBIDDEN);

    let ok = post(&session)
        .header("x-csrf-token", &session.csrf)
        .header("origin", &format!("http://{HOST}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.json["url"].as_str().unwrap_or("").contains("sig="));
    // Hang-up and redelivery are writes too.
    let hangup = rig
        .request("POST", "/console/api/calls/call_0001csrf/hangup")
        .session(&session)
        .send()
        .await;
    assert_eq!(hangup.json["error"]["code"], "csrf_failed");
    let finalized = rig
        .request("POST", "/console/api/calls/call_0001csrf/hangup")
        .session(&session)
        .header("x-csrf-token", &session.csrf)
        .send()
        .await;
    assert_eq!(
        finalized.status,
        StatusCode::CONFLICT,
        "reaches the handler: {}",
        finalized.text
    );

    // A cross-site sign-in is refused (no login CSRF).
    let login = rig
        .request("POST", "/console/sign-in")
        .header("origin", "https://evil.example")
        .form(&[("api_key", &key)])
        .send()
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert!(login.set_cookies().is_empty());
    rig.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_when_the_console_is_served_over_https() {
    let rig = Rig::start(|c| c.server.public_url = Some("https://calls.example.com".to_owned())).await;
    let key = rig.key().await;
    let answer = rig
        .request("POST", "/console/sign-in")
        .form(&[("api_key", &key)])
        .send()
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let cookie = answer.set_cookies().join("\n");
    assert!(cookie.contains("; Secure"), "{cookie}");
    rig.server.shutdown().await;
}
