//! The `ringback` binary as an operator and a script use it: `keys create` writes a key to the local
//! database, `serve` reads a TOML file with `RINGBACK_*` overrides, `call` is a client of the HTTP API
//! that finds the server and key in `RINGBACK_URL` / `RINGBACK_API_KEY`.

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// Kills the server when the test ends, however it ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn dead_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn keys_serve_and_call_work_together_from_the_command_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ringback.toml");
    // The file names a port that the environment overrides: proof that RINGBACK_* wins.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[sip]\nlisten = \"127.0.0.1:0\"\nt1_ms = 20\n\
             [storage]\ndata_dir = \"{}\"\n[[trunks]]\nname = \"nowhere\"\nproxy = \"127.0.0.1:{}\"\n",
            dir.path().join("data").display(),
            dead_udp_port()
        ),
    )
    .expect("write config");

    let created = Command::new(BIN)
        .args(["keys", "create", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(key.starts_with("rb_live_") && key.len() > 30, "{key}");

    let port = free_tcp_port();
    let server = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("RINGBACK_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let _server = Serve(server);
    let url = format!("http://127.0.0.1:{port}");
    #[allow(clippy::disallowed_methods)] // a test's own deadline, not protocol time
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server never listened on the overridden port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A bad key is refused by the server; the CLI exits non-zero and prints the error.
    let refused = Command::new(BIN)
        .args([
            "call",
            "--to",
            "+15551234567",
            "--prompt",
            "Ask if they can come on Tuesday.",
        ])
        .env("RINGBACK_URL", &url)
        .env("RINGBACK_API_KEY", "rb_live_not_a_key")
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&refused.stdout).expect("JSON error");
    assert_eq!(error["error"]["code"], "unauthorized");

    // With the key, the call is placed and --wait prints the finalized call: the trunk does not answer,
    // so it fails with that cause and the CLI exits 1.
    let call = Command::new(BIN)
        .args([
            "call",
            "--to",
            "+15551234567",
            "--prompt",
            "Ask if they can come on Tuesday.",
            "--wait",
        ])
        .env("RINGBACK_URL", &url)
        .env("RINGBACK_API_KEY", &key)
        .output()
        .expect("runs");
    assert_eq!(
        call.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&call.stderr)
    );
    let last = String::from_utf8(call.stdout).expect("utf-8");
    let finalized: Value = serde_json::from_str(last.lines().last().unwrap_or_default()).expect("JSON call");
    assert_eq!(finalized["lifecycle"], "finalized");
    assert_eq!(finalized["outcome"], "failed");
    assert_eq!(finalized["trunk"], "nowhere");
    assert_eq!(finalized["sip"]["reason"], "no response from the trunk");
}

#[test]
fn the_audit_command_prints_what_operators_did_to_keys_and_never_a_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ringback.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8(out.stdout).expect("utf-8"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, secret, err) = run(&["keys", "create", "--name", "ops"]);
    assert!(ok, "{err}");
    let secret = secret.trim().to_owned();
    let (_, listed, _) = run(&["keys", "list"]);
    let key: Value = serde_json::from_str(listed.lines().next().expect("one key")).expect("json");
    let id = key["id"].as_str().expect("id").to_owned();
    let (ok, _, err) = run(&["keys", "revoke", &id]);
    assert!(ok, "{err}");

    let (ok, printed, err) = run(&["audit"]);
    assert!(ok, "{err}");
    let rows: Vec<Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 2, "{printed}");
    assert_eq!(
        (&rows[0]["action"], &rows[0]["actor"], &rows[0]["subject"]),
        (
            &Value::from("key.created"),
            &Value::from("operator"),
            &Value::from(id.as_str())
        )
    );
    assert_eq!(rows[0]["detail"]["name"], "ops");
    assert_eq!(
        (&rows[1]["action"], &rows[1]["subject"]),
        (&Value::from("key.revoked"), &Value::from(id.as_str()))
    );
    assert!(
        rows.iter()
            .all(|r| r["at"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
    assert!(!printed.contains(&secret), "the key itself in the audit output");
    assert!(
        !printed.contains(key["prefix"].as_str().expect("prefix")),
        "the key's prefix in the audit output"
    );

    let (ok, later, _) = run(&["audit", "--since", "2999-01-01T00:00:00Z"]);
    assert!(ok && later.is_empty(), "{later}");
    let (ok, _, err) = run(&["audit", "--since", "yesterday"]);
    assert!(!ok && err.contains("--since"), "{err}");
}

#[test]
fn keys_policy_sets_lists_and_clears_a_keys_own_destinations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ringback.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8(out.stdout).expect("utf-8"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(run(&["keys", "create"]).0);
    let (_, listed, _) = run(&["keys", "list"]);
    let key: Value = serde_json::from_str(listed.trim()).expect("json");
    assert_eq!(key["policy"], Value::Null);
    let prefix = key["prefix"].as_str().expect("prefix").to_owned();

    let (ok, printed, err) = run(&[
        "keys",
        "policy",
        &prefix,
        "--country",
        "44",
        "--prefix",
        "+1415",
        "--beyond-installation",
    ]);
    assert!(ok, "{err}");
    let set: Value = serde_json::from_str(printed.trim()).expect("json");
    assert_eq!(set["policy"]["country_codes"], serde_json::json!(["44"]));
    let (_, listed, _) = run(&["keys", "list"]);
    let key: Value = serde_json::from_str(listed.trim()).expect("json");
    assert_eq!(key["policy"]["prefixes"], serde_json::json!(["+1415"]));
    assert_eq!(key["policy"]["beyond_installation"], true);

    // Malformed, empty and contradictory requests change nothing.
    for bad in [
        vec!["keys", "policy", prefix.as_str(), "--country", "+44"],
        vec!["keys", "policy", prefix.as_str(), "--prefix", "4420"],
        vec!["keys", "policy", prefix.as_str(), "--country", "*"],
        vec!["keys", "policy", prefix.as_str()],
        vec!["keys", "policy", prefix.as_str(), "--clear", "--country", "44"],
        vec!["keys", "policy", "key_nobody", "--country", "44"],
    ] {
        let (ok, _, err) = run(&bad);
        assert!(!ok, "{bad:?} was accepted");
        assert!(!err.is_empty(), "{bad:?} said nothing");
    }
    let (_, listed, _) = run(&["keys", "list"]);
    let unchanged: Value = serde_json::from_str(listed.trim()).expect("json");
    assert_eq!(unchanged["policy"], key["policy"]);

    let (ok, _, err) = run(&["keys", "policy", &prefix, "--clear"]);
    assert!(ok, "{err}");
    let (_, listed, _) = run(&["keys", "list"]);
    let cleared: Value = serde_json::from_str(listed.trim()).expect("json");
    assert_eq!(cleared["policy"], Value::Null);
    let (_, audit, _) = run(&["audit"]);
    assert_eq!(audit.matches("key.policy_set").count(), 2, "{audit}");
}
