//! The MCP endpoint against an independent client: the official Python MCP SDK (PyPI `mcp`, in the
//! project's virtualenv) over the streamable HTTP transport places a call and follows it.

mod common;

use common::{config, dead_port, key};
use ringback::server::Server;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_mcp_sdk_places_and_follows_a_call() {
    let cache = std::env::var_os("RINGBACK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("ringback")))
        .expect("HOME or RINGBACK_CACHE");
    let python = cache.join("venv").join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run deploy/setup",
        python.display()
    );
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(config(data.path(), dead_port()))
        .await
        .expect("server");
    let key = key(&server).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("mcp_client.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(format!("http://{}/mcp", server.http_addr))
        .arg(&key)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the client finishes")
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed (is the `mcp` package installed? run deploy/setup):\n{stderr}"
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(line.lines().last().unwrap_or_default()).expect("one JSON line");
    assert_eq!(result["server"], "ringback");
    assert_eq!(
        result["tools"],
        serde_json::json!(["call_phone", "get_call_status", "get_recording", "list_calls"])
    );
    assert_eq!(result["placed_error"], false);
    let id = result["call_id"].as_str().expect("call id");
    assert_eq!(result["status"]["call_id"], id);
    assert_eq!(result["listed"][0], id);
    let stored = server.service.store().call(id).await.expect("store");
    assert!(stored.is_some(), "the call the client placed is in the store");
    server.shutdown().await;
}
