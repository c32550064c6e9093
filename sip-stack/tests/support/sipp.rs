//! Runs sipp (apt `sip-tester`) with a scenario from `tests/sipp/`, as a client or a server on its
//! own port of 127.0.0.1, and collects its verdict and output (errors log included).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Child;

/// A scenario file of `tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

/// A UDP port of 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sipp, killed when dropped.
pub struct Sipp {
    child: Child,
    dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Sipp {
    /// Starts sipp on `port` with `scenario`, sending to `target` when it is a client; it runs
    /// `calls` calls at `rate` per second and then exits.
    pub fn start(scenario_name: &str, port: u16, target: Option<SocketAddr>, calls: u32, rate: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = tokio::process::Command::new("sipp");
        if let Some(target) = target {
            command.arg(target.to_string());
        }
        command
            .arg("-sf")
            .arg(scenario(scenario_name))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &calls.to_string(), "-r", &rate.to_string(), "-l", "50"])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sipp (apt sip-tester; run deploy/setup): {e}"));
        Self {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// Waits for sipp to finish its calls: its exit code (0 when every call passed) and its output.
    pub async fn finish(self) -> (i32, String) {
        let Self { child, dir, .. } = self;
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
}
