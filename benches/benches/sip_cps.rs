//! SIP call set-ups per second through a real trunk: sipp (apt `sip-tester`) places calls as `bob`
//! through kamailio (the testbed trunk: 407 challenge, record-route, location lookup) to Ringback's
//! SIP driver, registered there as `agent`, which accepts each call, and sipp hangs up 200 ms later.
//! The rate rises step by step until more than 1% of a step's calls fail. Prints one JSON line: the
//! highest clean rate, each step's rate, calls, failures and Ringback's CPU share (its process).
//!
//! `cargo bench -p ringback-benches --bench sip_cps` runs the full ramp; `cargo test --benches` runs
//! one tiny step (CI).
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // the JSON line is this program's output
#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use ringback_testbed::{Kamailio, KamailioOptions};
use serde_json::json;
use sip_stack::driver::{self, DriverOptions, Sockets};
use sip_stack::{EndpointConfig, RegistrationStatus, TrunkConfig, TrunkCredentials};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

const ANSWER: &str = "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n";

/// CPU time of this process so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; USER_HZ is 100.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

struct Step {
    rate: u32,
    calls: u32,
    successful: u32,
    failed: u32,
    seconds: f64,
    cpu_share: f64,
}

/// Runs sipp for `calls` calls at `rate` per second; returns (successful, failed).
async fn sipp(trunk: std::net::SocketAddr, rate: u32, calls: u32) -> (u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sipp/uac_call.xml");
    let stats = dir.path().join("stats.csv");
    let mut command = tokio::process::Command::new("sipp");
    command
        .arg(trunk.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args([
            "-s",
            "agent",
            "-au",
            "bob",
            "-ap",
            "bobpw",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args([
            "-m",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
            "-l",
            &(rate * 4).to_string(),
        ])
        .args([
            "-timeout",
            "120s",
            "-nostdin",
            "-trace_err",
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
        ])
        .arg(&stats)
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sipp (apt sip-tester; run deploy/setup): {e}"));
    let out = child.wait_with_output().await.unwrap();
    let text = std::fs::read_to_string(&stats).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = lines.last().unwrap_or_default().split(';').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    match (column("SuccessfulCall(C)"), column("FailedCall(C)")) {
        (Some(ok), Some(failed)) => {
            if failed > 0 {
                // The first failures, for whoever reads the run: the figures alone do not say why.
                for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
                    if entry.file_name().to_string_lossy().ends_with("errors.log") {
                        let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                        eprintln!(
                            "sipp errors at {rate}/s:\n{}",
                            log.chars().take(3000).collect::<String>()
                        );
                    }
                }
            }
            (ok, failed)
        }
        _ => panic!(
            "no sipp statistics ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rates, seconds_per_step): (Vec<u32>, u32) = if full {
        (vec![10, 20, 40, 80, 120, 160, 240, 320, 480, 640], 10)
    } else {
        (vec![5], 2)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let trunk = Kamailio::start(KamailioOptions::default())
            .await
            .expect("kamailio (run deploy/setup)");
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let mut config = TrunkConfig::new("kamailio", trunk.addr());
        config.domain = "trunk.test".into();
        config.register = true;
        config.credentials = Some(TrunkCredentials {
            username: "agent".into(),
            auth_username: None,
            password: "agentpw".into(),
        });
        let mut endpoint = EndpointConfig::new(local);
        endpoint.max_calls = 100_000;
        let sockets = Sockets {
            udp: socket,
            tcp: None,
            tls: None,
        };
        let options = DriverOptions {
            incoming_queue: 4096,
            ..DriverOptions::default()
        };
        let mut sip = driver::start(sockets, options, endpoint, vec![config]);
        let mut registrations = sip.handle.registrations();
        tokio::time::timeout(
            Duration::from_secs(10),
            registrations.wait_for(|r| matches!(r.first(), Some(RegistrationStatus::Registered { .. }))),
        )
        .await
        .expect("registered in time")
        .expect("driver running");

        // The application side: accept every call, follow it to its end.
        let handle = sip.handle.clone();
        let answering = tokio::spawn(async move {
            let mut calls = JoinSet::new();
            while let Some(mut incoming) = sip.incoming.recv().await {
                let _ = handle
                    .accept(incoming.info.call, ANSWER.as_bytes().to_vec())
                    .await;
                calls.spawn(async move { while incoming.events.recv().await.is_some() {} });
                while calls.try_join_next().is_some() {}
            }
            calls.shutdown().await;
        });

        let mut steps = Vec::new();
        for rate in rates {
            let calls = rate * seconds_per_step;
            let (cpu0, t0) = (cpu_time(), Instant::now());
            let (successful, failed) = sipp(trunk.addr(), rate, calls).await;
            let seconds = t0.elapsed().as_secs_f64();
            let cpu_share = (cpu_time() - cpu0).as_secs_f64() / seconds;
            steps.push(Step {
                rate,
                calls,
                successful,
                failed,
                seconds,
                cpu_share,
            });
            if f64::from(failed) > f64::from(calls) * 0.01 || successful < calls * 99 / 100 {
                break;
            }
        }
        let clean = steps
            .iter()
            .filter(|s| {
                f64::from(s.failed) <= f64::from(s.calls) * 0.01 && s.successful >= s.calls * 99 / 100
            })
            .map(|s| f64::from(s.successful) / s.seconds)
            .fold(None, |best: Option<f64>, cps| {
                Some(best.map_or(cps, |b| b.max(cps)))
            })
            .map(|cps| (cps * 10.0).round() / 10.0);
        let last = steps.last().expect("one step");
        println!(
            "{}",
            json!({
                "bench": "sip_cps",
                "path": "sipp -> kamailio (407, record-route) -> ringback driver (accept) ; BYE after 200 ms",
                "max_clean_cps": clean,
                "note": "max_clean_cps: the best achieved rate over steps with at most 1% failed calls",
                "failure_rate_at_last_step": f64::from(last.failed) / f64::from(last.calls.max(1)),
                "steps": steps.iter().map(|s| json!({
                    "cps": s.rate,
                    "calls": s.calls,
                    "successful": s.successful,
                    "failed": s.failed,
                    "achieved_cps": ((f64::from(s.successful) / s.seconds) * 10.0).round() / 10.0,
                    "ringback_cpu_share": (s.cpu_share * 1000.0).round() / 1000.0,
                })).collect::<Vec<_>>(),
            })
        );
        sip.handle.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), sip.task).await;
        answering.abort();
    });
}
