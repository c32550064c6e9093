//! The far ends of all calls, in a process of their own.
//!
//! The capacity scenario measures the engine's CPU per call from the engine process's own
//! counters; a load generator inside that process would be counted as ours and would compete
//! with the workers for the same scheduler. So the bench binary re-executes itself with
//! [`ROLE_ARG`] and talks to that child over its stdin and stdout, one line at a time:
//!
//! 1. parent -> child: `N`, then N lines with the engine side's addresses;
//! 2. child -> parent: N lines with the addresses of its own sockets (the sessions' remotes);
//! 3. parent -> child: `go <phase_ns>`: how far past its last 20 ms grid point the engine is
//!    now; the child sends on the same grid offset by half a frame;
//! 4. parent -> child: `stop`; the child answers with one JSON line ([`Report`]) and exits.
//!
//! Both processes read `CLOCK_MONOTONIC` through `Instant`, but an `Instant` cannot cross a
//! process boundary, hence the phase instead of a time point.

use std::io::{BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The argument that makes the bench binary a load generator.
pub const ROLE_ARG: &str = "--capacity-generator";

/// One 20 ms frame.
const FRAME: Duration = Duration::from_millis(20);

#[allow(clippy::disallowed_methods)] // a load generator is a driver: it reads the clock
fn now() -> Instant {
    Instant::now()
}

/// CPU time of the calling thread so far, in ns (`/proc/thread-self/schedstat`).
pub fn thread_cpu_ns() -> u64 {
    schedstat("/proc/thread-self/schedstat")
}

/// CPU time of the whole process so far (all its threads, live ones), in ns.
pub fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| Some(schedstat(t.ok()?.path().join("schedstat"))))
        .sum()
}

fn schedstat(path: impl AsRef<std::path::Path>) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One PCMU packet of the far end: a 300 Hz buzz for 1.2 s, then 0.8 s of quiet, repeated,
/// each call at its own phase (`ssrc` picks it), as independent callers would be: were they in
/// step, every call's turn would end on the same tick and the work of all turn ends (cutting
/// and upsampling the turn) would land on one wake-up.
pub fn far_end_packet(ssrc: u32, k: u32, out: &mut [u8; 172]) {
    out[..2].copy_from_slice(&[0x80, 0]);
    out[2..4].copy_from_slice(&(k as u16).to_be_bytes());
    out[4..8].copy_from_slice(&(k.wrapping_mul(160)).to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let phase = ssrc.wrapping_mul(37) % 100;
    let talking = (k + phase) % 100 < 60;
    for (i, b) in out[12..].iter_mut().enumerate() {
        let n = (k as usize * 160 + i) as f32;
        let s = if talking {
            ((n * 2.0 * std::f32::consts::PI * 300.0 / 8000.0).sin() * 6000.0) as i16
        } else {
            ((n * 7.0).sin() * 40.0) as i16
        };
        *b = media_core::g711::ulaw_encode(s);
    }
}

/// What the generator did, as it reports it on stop.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub sent: u64,
    pub received: u64,
    pub ticks: u64,
    /// Ticks that started a frame or more after their grid point.
    pub late_ticks: u64,
    /// CPU the generator process used while sending, per second of it, in ns.
    pub cpu_ns_per_s: f64,
}

/// The parent's end of a generator child.
pub struct Generator {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The child's socket addresses, one per engine-side address, in order.
    pub peers: Vec<SocketAddr>,
}

impl Generator {
    /// Starts the child and has it bind one socket per address in `targets`.
    pub fn start(targets: &[SocketAddr]) -> Generator {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .arg(ROLE_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the load generator");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut request = format!("{}\n", targets.len());
        for t in targets {
            request.push_str(&format!("{t}\n"));
        }
        stdin.write_all(request.as_bytes()).expect("to the generator");
        stdin.flush().expect("to the generator");
        let peers = (0..targets.len())
            .map(|_| read_line(&mut stdout).parse().expect("generator address"))
            .collect();
        Generator {
            child,
            stdin,
            stdout,
            peers,
        }
    }

    /// Starts sending, on the 20 ms grid that started at `epoch` (in this process).
    pub fn go(&mut self, epoch: Instant) {
        let phase = (now() - epoch).as_nanos() % FRAME.as_nanos();
        writeln!(self.stdin, "go {phase}").expect("to the generator");
        self.stdin.flush().expect("to the generator");
    }

    /// Stops it and returns its report.
    pub fn stop(mut self) -> Report {
        writeln!(self.stdin, "stop").expect("to the generator");
        self.stdin.flush().expect("to the generator");
        let line = read_line(&mut self.stdout);
        let _ = self.child.wait();
        let v: Value = serde_json::from_str(&line).expect("generator report");
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Report {
            sent: n("sent"),
            received: n("received"),
            ticks: n("ticks"),
            late_ticks: n("late_ticks"),
            cpu_ns_per_s: v["cpu_ns_per_s"].as_f64().unwrap_or(0.0),
        }
    }
}

fn read_line(from: &mut impl BufRead) -> String {
    let mut line = String::new();
    from.read_line(&mut line).expect("from the generator");
    line.trim().to_owned()
}

/// The child's side: the protocol of the module docs on stdin and stdout.
pub fn run_child() {
    let mut input = BufReader::new(std::io::stdin());
    let mut out = BufWriter::new(std::io::stdout().lock());
    let n: usize = read_line(&mut input).parse().expect("call count");
    let targets: Vec<SocketAddr> = (0..n)
        .map(|_| read_line(&mut input).parse().expect("target address"))
        .collect();
    let sockets: Vec<UdpSocket> = targets
        .iter()
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    for s in &sockets {
        writeln!(out, "{}", s.local_addr().expect("addr")).expect("to the parent");
    }
    out.flush().expect("to the parent");
    let go = read_line(&mut input);
    let phase: u64 = go
        .strip_prefix("go ")
        .and_then(|p| p.parse().ok())
        .expect("go <phase_ns>");
    // The parent's grid point just before now, plus half a frame.
    let start = now() - Duration::from_nanos(phase) + FRAME / 2;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // `stop`, or the parent gone.
            let _ = read_line(&mut input);
            stop.store(true, Ordering::Relaxed);
        })
    };
    let cpu0 = process_cpu_ns();
    let t0 = now();
    let report = send_loop(&sockets, &targets, start, &stop);
    let cpu_ns_per_s = (process_cpu_ns() - cpu0) as f64 / (now() - t0).as_secs_f64();
    let _ = watcher.join();
    writeln!(
        out,
        "{}",
        json!({
            "sent": report.sent,
            "received": report.received,
            "ticks": report.ticks,
            "late_ticks": report.late_ticks,
            "cpu_ns_per_s": cpu_ns_per_s,
        })
    )
    .expect("to the parent");
    out.flush().expect("to the parent");
}

/// Every 20 ms: one packet to each target, and everything that came back read.
fn send_loop(sockets: &[UdpSocket], targets: &[SocketAddr], start: Instant, stop: &AtomicBool) -> Report {
    let mut report = Report::default();
    let mut packet = [0u8; 172];
    let mut buf = [0u8; 2048];
    let mut grid = start;
    let mut k = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let t = now();
        if grid > t {
            std::thread::sleep(grid - t);
        } else if t - grid >= FRAME {
            report.late_ticks += 1;
        }
        for (i, (socket, to)) in sockets.iter().zip(targets).enumerate() {
            far_end_packet(0x1000 + i as u32, k, &mut packet);
            if socket.send_to(&packet, to).is_ok() {
                report.sent += 1;
            }
            loop {
                match socket.recv_from(&mut buf) {
                    Ok(_) => report.received += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
        report.ticks += 1;
        k = k.wrapping_add(1);
        grid += FRAME;
    }
    report
}
