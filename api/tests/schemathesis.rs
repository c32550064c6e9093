//! Contract test: schemathesis (from PyPI, in the project's virtualenv) generates requests from
//! `/openapi.json` and checks every answer against the document: no server errors, documented
//! statuses, content types and response schemas. It runs against a real server (real store, real
//! SIP socket, a trunk that never answers).

mod common;

use common::{config, dead_port, key};
use ringback::server::Server;
use std::path::PathBuf;
use std::time::Duration;

fn schemathesis() -> PathBuf {
    let cache = std::env::var_os("RINGBACK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("ringback")))
        .expect("HOME or RINGBACK_CACHE");
    let bin = cache.join("venv").join("bin").join("schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run deploy/setup (it installs schemathesis)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_its_openapi_contract() {
    let bin = schemathesis();
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(data.path(), dead_port());
    cfg.limits.requests_per_minute = 100_000;
    cfg.limits.daily_calls_per_key = 0;
    cfg.limits.queue_capacity = 100_000;
    let server = Server::start(cfg).await.expect("server");
    let key = key(&server).await;
    let reports = data.path().join("reports");
    let run = tokio::process::Command::new(&bin)
        .arg("run")
        .arg(format!("http://{}/openapi.json", server.http_addr))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--workers",
            "2",
            "--request-timeout",
            "20",
        ])
        .args(["--exclude-path", "/v1/calls/{id}/events"])
        .args(["--suppress-health-check", "all", "--no-color"])
        .arg("-H")
        .arg(format!("Authorization: Bearer {key}"))
        .arg("--report-dir")
        .arg(&reports)
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(data.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .expect("schemathesis finishes within 15 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found contract violations:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "schemathesis ran no test:\n{stdout}");
    server.shutdown().await;
}
