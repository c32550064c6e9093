//! sipp (apt `sip-tester`) against the endpoint's tokio driver on a real UDP socket: malformed requests
//! are answered with 400 and unsupported ones with 420, while OPTIONS and INVITEs keep being served,
//! also with many clients at once. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

use sip_stack::driver;
use sip_stack::{EndpointConfig, RegistrationStatus};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::net::UdpSocket;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// Runs sipp as a client of `target` and returns its exit status and its output.
async fn sipp(target: std::net::SocketAddr, scenario: &PathBuf, calls: u32, rate: u32) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new("sipp");
    command
        .arg(target.to_string())
        .arg("-sf")
        .arg(scenario)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
        ])
        .args([
            "-l",
            "50",
            "-timeout",
            "30s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sipp (apt sip-tester; run deploy/setup): {e}"));
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("sipp finished within 60 s")
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with("errors.log") {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_traffic_is_refused_while_the_server_keeps_serving() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (sip, task) = driver::spawn(socket, EndpointConfig::new(addr), Vec::new());
    assert!(
        sip.registrations()
            .borrow()
            .iter()
            .all(|s| *s == RegistrationStatus::Pending)
    );

    // One client, then fifty at 50 per second: every call must complete its scenario.
    for (calls, rate) in [(1, 1), (50, 50)] {
        let (code, output) = sipp(addr, &scenario("uac_malformed.xml"), calls, rate).await;
        assert_eq!(code, 0, "sipp reported failed calls:\n{output}");
    }
    sip.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}
