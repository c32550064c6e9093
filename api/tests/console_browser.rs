//! The console in a real browser: headless Chromium (Debian's `chromium`, installed by
//! deploy/setup; nothing is downloaded) driven over the DevTools protocol against the real server
//! on 127.0.0.1 with a real SQLite file. It is refused a wrong key, signs in through the form,
//! finds the call in the list, opens it, reads the transcript and checks that the `<audio>` element
//! loaded the recording through its signed URL, then follows a live call and hangs it up from the
//! page; it saves a screenshot of each step under the test's output directory, checks them, and
//! prints their paths.

mod common;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::{Page, ScreenshotParams};
use common::{StoredCall, config, dead_port, key, send, store_call, store_queued_call, wav};
use futures_util::StreamExt;
use ringback::server::Server;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

const TRANSCRIPT: &str = r#"[
 {"role":"agent","text":"Hello, this is an AI assistant calling for Dr. Lee's office. Can you come on Tuesday at 3 PM?","start_ms":0,"end_ms":1200,"interrupted":true},
 {"role":"caller","text":"Tuesday works, yes.","start_ms":1300,"end_ms":2000,"interrupted":false},
 {"role":"agent","text":"Great, you're booked for Tuesday at 3 PM. Goodbye!","start_ms":2100,"end_ms":2900,"interrupted":false}
]"#;

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run deploy/setup (or `apt-get install chromium`); this test drives the real browser"
    );
    CHROMIUM
}

/// Evaluates `expression` until it is true (bounded: a page that never gets there fails the test
/// with `what`).
async fn until(page: &Page, expression: &str, what: &str) {
    for _ in 0..200 {
        let value: Value = page
            .evaluate(expression)
            .await
            .ok()
            .and_then(|r| r.into_value().ok())
            .unwrap_or(Value::Null);
        if value == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html: Value = page
        .evaluate("document.body ? document.body.innerText : ''")
        .await
        .ok()
        .and_then(|r| r.into_value().ok())
        .unwrap_or(Value::Null);
    panic!("{what}: `{expression}` never held; the page says:\n{html}");
}

async fn value(page: &Page, expression: &str) -> Value {
    page.evaluate(expression)
        .await
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
        .into_value()
        .unwrap_or(Value::Null)
}

/// Saves a full-page screenshot and checks it is a real, non-trivial PNG.
async fn screenshot(page: &Page, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let bytes = std::fs::read(&path).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    assert!(bytes.len() > 10_000, "{name} has content ({} bytes)", bytes.len());
    eprintln!("screenshot: {}", path.display());
    path
}

async fn type_into(page: &Page, selector: &str, text: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .expect("focus")
        .type_str(text)
        .await
        .expect("type");
}

async fn click(page: &Page, selector: &str) {
    page.find_element(selector)
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_lists_opens_and_plays_a_call_in_chromium() {
    let chromium = chromium();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-browser");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port()))
        .await
        .expect("server starts");
    let key = key(&server).await;
    let recording = data.path().join("recordings").join("call_0001browser.wav");
    wav(&recording, 3);
    let call = StoredCall {
        id: "call_0001browser",
        to: "+15551234567",
        transcript: TRANSCRIPT,
        summary: Some("The patient confirmed the appointment on Tuesday at 3 PM."),
        form_fills: r#"{"can_attend":"yes","day":"Tuesday","time":"15:00"}"#,
        dtmf: r#"[{"digit":"1","at_ms":2050,"direction":"received"}]"#,
        recording: Some(&recording),
        created_at: "2026-04-07T14:30:00.000Z",
        ..StoredCall::default()
    };
    store_call(server.service.store(), &key, &call).await;
    let base = format!("http://{}", server.http_addr);

    let profile = tempfile::tempdir().expect("profile dir");
    // `--headless` and `--no-sandbox` (root in CI) come from the builder, the profile is a temporary
    // directory, and nothing in the background may reach for the network (it is closed here).
    let browser_config = BrowserConfig::builder()
        .chrome_executable(chromium)
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1280, 1000)
        .viewport(None)
        .args([
            "disable-gpu",
            "disable-quic",
            "no-first-run",
            "disable-background-networking",
            "disable-component-update",
            "disable-sync",
        ])
        .build()
        .expect("browser config");
    let (mut browser, mut handler) = Browser::launch(browser_config).await.expect("chromium launches");
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });

    let page = browser.new_page(format!("{base}/console")).await.expect("a page");
    // Not signed in: the console sends the browser to the form.
    until(
        &page,
        "location.pathname === '/console/sign-in' && !!document.querySelector('#api_key')",
        "the sign-in form",
    )
    .await;

    // A wrong key: the form again, with the reason.
    type_into(&page, "#api_key", "rb_live_wrong").await;
    click(&page, "#sign-in-form button[type=submit]").await;
    until(
        &page,
        "document.querySelector('#message.error') !== null",
        "the sign-in error",
    )
    .await;
    let message = value(&page, "document.querySelector('#message').textContent").await;
    assert!(message.as_str().unwrap_or("").contains("not valid"), "{message}");
    let refused = screenshot(&page, &shots, "1-sign-in-refused.png").await;

    // The right key: the call list, with the call in it.
    type_into(&page, "#api_key", &key).await;
    click(&page, "#sign-in-form button[type=submit]").await;
    until(
        &page,
        "location.pathname === '/console/calls' && !!document.querySelector('a[data-call-id=\"call_0001browser\"]')",
        "the call in the list",
    )
    .await;
    let cookie_visible = value(&page, "document.cookie.includes('ringback_session')").await;
    assert_eq!(
        cookie_visible,
        Value::Bool(false),
        "the session cookie is HttpOnly"
    );
    let row = value(
        &page,
        "document.querySelector('tr[data-call-id=\"call_0001browser\"]').innerText",
    )
    .await;
    let row = row.as_str().unwrap_or("");
    assert!(row.contains("+15551234567") && row.contains("completed"), "{row}");
    // The transcript search narrows the list through the same query as the API.
    type_into(&page, "input[name=q]", "no such words").await;
    click(&page, "#filters button[type=submit]").await;
    until(
        &page,
        "document.querySelector('#calls tbody').children.length === 0",
        "an empty search",
    )
    .await;
    page.evaluate("document.querySelector('input[name=q]').value = ''")
        .await
        .expect("clear");
    type_into(&page, "input[name=q]", "TUESDAY WORKS").await;
    click(&page, "#filters button[type=submit]").await;
    until(
        &page,
        "!!document.querySelector('a[data-call-id=\"call_0001browser\"]')",
        "the search finds the call",
    )
    .await;
    let more = value(&page, "getComputedStyle(document.querySelector('#more')).display").await;
    assert_eq!(more, "none", "no older calls to page to");
    let list = screenshot(&page, &shots, "2-call-list.png").await;

    // The call page: transcript turn by turn, the interruption marked, the DTMF digit, the
    // fields, and the recording loaded by the player.
    click(&page, "a[data-call-id=\"call_0001browser\"]").await;
    until(
        &page,
        "location.pathname === '/console/calls/call_0001browser' && document.querySelectorAll('#transcript li.turn').length === 3",
        "the transcript",
    )
    .await;
    let turns = value(
        &page,
        "[...document.querySelectorAll('#transcript li.turn')].map(li => li.innerText)",
    )
    .await;
    let turns: Vec<String> = serde_json::from_value(turns).expect("turn texts");
    assert!(
        turns[0].contains("AI assistant") && turns[0].contains("interrupted"),
        "{turns:?}"
    );
    assert!(turns[1].contains("Tuesday works"), "{turns:?}");
    let events_text = value(&page, "document.querySelector('#transcript').innerText").await;
    assert!(
        events_text.as_str().unwrap_or("").contains("DTMF 1 received"),
        "{events_text}"
    );
    let fields = value(&page, "document.querySelector('#fields').innerText").await;
    assert!(fields.as_str().unwrap_or("").contains("Tuesday"), "{fields}");
    until(
        &page,
        "(() => { const a = document.querySelector('#player'); return a.readyState >= 1 && a.duration > 0; })()",
        "the recording loaded in the player",
    )
    .await;
    let duration = value(&page, "document.querySelector('#player').duration").await;
    let duration = duration.as_f64().expect("a duration");
    assert!((duration - 3.0).abs() < 0.1, "the 3 s recording: {duration}");
    let src = value(&page, "document.querySelector('#player').currentSrc").await;
    let src = src.as_str().unwrap_or("");
    assert!(
        src.contains("/v1/calls/call_0001browser/recording?expires=") && src.contains("&sig="),
        "{src}"
    );
    assert!(!src.contains(&key), "no key in the page");
    let live = value(&page, "getComputedStyle(document.querySelector('#live')).display").await;
    assert_eq!(live, "none", "a finished call shows no live banner");
    let call_page = screenshot(&page, &shots, "3-call-page.png").await;

    // A live call (queued on a trunk no dispatcher serves): the banner, then a hang-up from the
    // page (a write with the CSRF token), and the end arriving over server-sent events.
    let waiting = StoredCall {
        id: "call_0002live",
        to: "+15559876543",
        ..StoredCall::default()
    };
    store_queued_call(server.service.store(), &key, &waiting).await;
    page.goto(format!("{base}/console/calls/call_0002live"))
        .await
        .expect("the live call's page");
    until(
        &page,
        "getComputedStyle(document.querySelector('#live')).display !== 'none' && document.querySelector('#live-state').textContent === 'queued'",
        "the live banner",
    )
    .await;
    let live = screenshot(&page, &shots, "4-live-call.png").await;
    click(&page, "#hangup").await;
    until(
        &page,
        "getComputedStyle(document.querySelector('#live')).display === 'none' && document.querySelector('#facts').innerText.includes('canceled')",
        "the hang-up reaching the page as call.finalized",
    )
    .await;
    let ended = server
        .service
        .store()
        .call("call_0002live")
        .await
        .expect("store")
        .expect("the call");
    assert_eq!(ended.outcome.as_deref(), Some("canceled"));

    // The workflows page, reached from the header.
    let (status, _, workflow) = send(
        &server,
        reqwest::Method::POST,
        "/v1/workflows",
        Some(&key),
        Some(serde_json::json!({"prompt": "Ask if they can come on Tuesday at 3 PM."})),
    )
    .await;
    assert_eq!(status, 201, "{workflow}");
    click(&page, "header nav a[href=\"/console/workflows\"]").await;
    until(
        &page,
        "location.pathname === '/console/workflows' && document.querySelectorAll('section.workflow').length === 1",
        "the workflow on its page",
    )
    .await;
    let shown = value(&page, "document.querySelector('section.workflow').innerText").await;
    let shown = shown.as_str().unwrap_or("");
    assert!(
        shown.contains("Ask if they can come on Tuesday at 3 PM.") && shown.contains("Questions"),
        "{shown}"
    );
    let workflows = screenshot(&page, &shots, "5-workflows.png").await;

    browser.close().await.expect("close");
    let _ = browser.wait().await;
    events.abort();
    server.shutdown().await;
    eprintln!(
        "screenshots: {} (wrong key refused), {} (call list after sign-in and search), {} (call page with transcript and player), {} (a live call with its hang-up button), {} (the workflows page)",
        refused.display(),
        list.display(),
        call_page.display(),
        live.display(),
        workflows.display()
    );
}
