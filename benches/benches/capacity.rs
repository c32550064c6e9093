//! Capacity scenario: how many concurrent G.711 calls one box carries with the whole media path.
//!
//! Each call is a real `MediaSession` on the [`MediaEngine`] (one 20 ms timer per worker thread,
//! packets handed over through SPSC rings) with its own pair of UDP sockets on loopback. An
//! in-repo load generator plays the far end of every call: one 172-byte PCMU packet per 20 ms
//! per call (speech-like bursts and pauses), and it receives everything the sessions send. Per
//! call, per frame, the path is: receive, jitter buffer, decoding and concealment, the energy
//! endpointer with its 16 kHz resampling, the stereo recording on disk, the on-box audio
//! analysis of the audio-intelligence module (webrtc-vad gate, endpointing, in-band DTMF, beep
//! and answering-machine detection, fed through the engine's frame tap; Silero's batched
//! inference is measured apart by the `silero_cost` bench), the pacer with agent audio queued,
//! encoding and the paced send.
//!
//! It ramps the number of calls up and, at each step, measures the send-time deviation of every
//! frame from its 20 ms grid point and the late frames (sent 20 ms or more after their grid
//! point, or caught up). The capacity is the largest step whose p99 deviation stays under 5 ms
//! with no late frame. Next to the per-call CPU cost it measures the floor: the same packets sent
//! and received over bare UDP sockets, nothing else. It prints one JSON line.
//!
//! `cargo bench -p ringback-benches --bench capacity` for the figures (about two minutes;
//! `RINGBACK_CAPACITY_STEPS=100,500` picks the steps); `cargo test --benches` runs 4 calls for a
//! second.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use media_core::analysis::{Analyzer, AnalyzerConfig, VadMode};
use media_core::engine::{EngineConfig, EngineStats, FrameTap, MediaEngine};
use media_core::{Codec, MediaEvent, MediaSession, PayloadType, SessionConfig, Ssrc, UtteranceId};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The goal: p99 send-time deviation under this, in µs.
const P99_LIMIT_US: u64 = 5_000;
/// Agent audio queued at a time, replayed when it ends: 4 s.
const UTTERANCE_SAMPLES: usize = 4 * 8000;

/// CPU time of the whole process so far (all its threads), in ns.
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

#[allow(clippy::disallowed_methods)] // a load scenario is a driver: it reads the clock
fn now() -> Instant {
    Instant::now()
}

/// One PCMU packet of the far end: a 300 Hz buzz for 1.2 s, then 0.8 s of quiet, repeated.
fn far_end_packet(ssrc: u32, k: u32, out: &mut [u8; 172]) {
    out[..2].copy_from_slice(&[0x80, 0]);
    out[2..4].copy_from_slice(&(k as u16).to_be_bytes());
    out[4..8].copy_from_slice(&(k * 160).to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let talking = k % 100 < 60;
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

/// The far ends of all calls: sends 50 packets/s to each session, receives what it sends.
/// Runs on its own thread on a 20 ms grid offset by half a frame from the engine's.
struct Generator {
    peers: Vec<(StdUdpSocket, SocketAddr)>,
    start: Instant,
}

#[derive(Debug, Default, Clone, Copy)]
struct GeneratorReport {
    sent: u64,
    received: u64,
    ticks: u64,
    late_ticks: u64,
}

impl Generator {
    fn run(self, stop: &AtomicBool) -> GeneratorReport {
        let mut report = GeneratorReport::default();
        let mut packet = [0u8; 172];
        let mut buf = [0u8; 2048];
        let mut grid = self.start + Duration::from_millis(10);
        let mut k = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let t = now();
            if grid > t {
                std::thread::sleep(grid - t);
            } else if t - grid > Duration::from_millis(20) {
                report.late_ticks += 1;
            }
            for (i, (socket, to)) in self.peers.iter().enumerate() {
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
            grid += Duration::from_millis(20);
        }
        report
    }
}

/// The floor: the same packets, both ways, over bare UDP sockets on loopback, one thread.
/// Returns CPU ns per call-second.
fn floor(calls: usize, seconds: f64) -> f64 {
    let pairs: Vec<(StdUdpSocket, StdUdpSocket)> = (0..calls)
        .map(|_| {
            let a = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
            let b = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
            a.set_nonblocking(true).expect("nonblocking");
            b.set_nonblocking(true).expect("nonblocking");
            (a, b)
        })
        .collect();
    let addrs: Vec<(SocketAddr, SocketAddr)> = pairs
        .iter()
        .map(|(a, b)| (a.local_addr().unwrap(), b.local_addr().unwrap()))
        .collect();
    let mut packet = [0u8; 172];
    let mut buf = [0u8; 2048];
    let cpu0 = process_cpu_ns();
    let start = now();
    let mut grid = start;
    let mut k = 0u32;
    while now() - start < Duration::from_secs_f64(seconds) {
        for (i, ((a, b), (a_addr, b_addr))) in pairs.iter().zip(&addrs).enumerate() {
            far_end_packet(i as u32, k, &mut packet);
            let _ = b.send_to(&packet, a_addr);
            let _ = a.recv_from(&mut buf);
            let _ = a.send_to(&packet, b_addr);
            let _ = b.recv_from(&mut buf);
        }
        k += 1;
        grid += Duration::from_millis(20);
        let t = now();
        if grid > t {
            std::thread::sleep(grid - t);
        }
    }
    let elapsed = (now() - start).as_secs_f64();
    (process_cpu_ns() - cpu0) as f64 / (calls as f64 * elapsed)
}

struct Step {
    calls: usize,
    stats: EngineStats,
    cpu_ns_per_call_s: f64,
    floor_ns_per_call_s: f64,
    generator: GeneratorReport,
    received: u64,
    lost: u64,
    late: u64,
    rx_dropped: u64,
    analysis_frames: u64,
}

async fn step(engine: &MediaEngine, calls: usize, warmup: Duration, measure: Duration, dir: &Path) -> Step {
    let utterance: Arc<Vec<i16>> = Arc::new(
        (0..UTTERANCE_SAMPLES)
            .map(|n| ((n as f32 * 0.3).sin() * 5000.0) as i16)
            .collect(),
    );
    let analysis_frames = Arc::new(AtomicU64::new(0));
    let mut running = Vec::with_capacity(calls);
    let mut peers = Vec::with_capacity(calls);
    for i in 0..calls {
        let ours = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let peer = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.set_nonblocking(true).expect("nonblocking");
        let mut config = SessionConfig::new(
            Codec::Pcmu,
            PayloadType::PCMU,
            peer.local_addr().unwrap(),
            Ssrc(0xC000 + i as u32),
        );
        config.recording = Some(dir.join(format!("call-{i}.wav")));
        // Started on the engine's grid, so its ticks are the worker's wake-ups.
        let session = MediaSession::new(config, engine.grid_now()).expect("session");
        peers.push((peer, ours.local_addr().unwrap()));
        let mut analyzer = Analyzer::new(AnalyzerConfig {
            vad: VadMode::GateOnly,
            ..AnalyzerConfig::default()
        })
        .expect("analyzer");
        let counter = analysis_frames.clone();
        let tap: FrameTap = Box::new(move |at_ms, frame| {
            if analyzer.push_frame(at_ms, frame).is_ok() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            while analyzer.poll_event().is_some() {}
        });
        let call = engine
            .spawn_with_tap(ours, None, session, CancellationToken::new(), Some(tap))
            .expect("spawn");
        // The agent talks all the time: a new utterance as soon as the last one ends.
        let media_core::RunningSession {
            handle,
            mut events,
            task,
        } = call;
        handle
            .play(UtteranceId(0), utterance.to_vec())
            .await
            .expect("play");
        let replay = handle.clone();
        let utterance = utterance.clone();
        tokio::spawn(async move {
            let mut id = 0;
            while let Some(event) = events.recv().await {
                if matches!(event, MediaEvent::PlaybackFinished { .. }) {
                    id += 1;
                    let _ = replay.play(UtteranceId(id), utterance.to_vec()).await;
                }
            }
        });
        running.push((handle, task));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let generator = Generator {
        peers,
        start: engine.epoch(),
    };
    let generator = {
        let stop = stop.clone();
        std::thread::spawn(move || generator.run(&stop))
    };
    tokio::time::sleep(warmup).await;
    let before = engine.stats();
    let cpu0 = process_cpu_ns();
    let t0 = now();
    tokio::time::sleep(measure).await;
    let cpu = process_cpu_ns() - cpu0;
    let elapsed = (now() - t0).as_secs_f64();
    let stats = engine.stats().since(&before);
    stop.store(true, Ordering::Relaxed);
    let generator = generator.join().expect("generator");
    let (mut received, mut lost, mut late, mut rx_dropped) = (0, 0, 0, 0);
    for (handle, task) in running {
        let _ = handle.stop().await;
        let summary = task.await.expect("task").expect("summary");
        received += summary.stats.packets_received;
        lost += summary.stats.packets_lost;
        late += summary.stats.late;
        rx_dropped += summary.stats.rx_dropped;
    }
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    Step {
        calls,
        stats,
        cpu_ns_per_call_s: cpu as f64 / (calls as f64 * elapsed),
        floor_ns_per_call_s: floor(calls, measure.as_secs_f64().min(3.0)),
        generator,
        received,
        lost,
        late,
        rx_dropped,
        analysis_frames: analysis_frames.load(Ordering::Relaxed),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let steps: Vec<usize> = match std::env::var("RINGBACK_CAPACITY_STEPS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("RINGBACK_CAPACITY_STEPS: numbers"))
            .collect(),
        Err(_) if full => vec![50, 100, 200, 300, 400, 500, 600, 700, 800, 1000],
        Err(_) => vec![4],
    };
    let (warmup, measure) = if full {
        (Duration::from_secs(3), Duration::from_secs(8))
    } else {
        (Duration::from_millis(300), Duration::from_secs(1))
    };
    let dir: PathBuf = std::env::temp_dir().join(format!("ringback-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("recording dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let config = EngineConfig::default();
    let engine = MediaEngine::start(config).expect("engine");
    let mut results = Vec::new();
    // The capacity: the last step of an unbroken run of passing steps from the first.
    let mut capacity = 0;
    let mut prev_ok = 0;
    for calls in steps {
        let s = runtime.block_on(step(&engine, calls, warmup, measure, &dir));
        let p99 = s.stats.deviation_quantile_us(0.99);
        let ok = p99 < P99_LIMIT_US && s.stats.late_frames == 0 && s.generator.late_ticks == 0;
        assert!(s.received > 0 && s.generator.received > 0, "no media flowed");
        results.push(json!({
            "calls": s.calls,
            "ok": ok,
            "p50_send_deviation_us": s.stats.deviation_quantile_us(0.5),
            "p99_send_deviation_us": p99,
            "max_send_deviation_us": s.stats.max_deviation_us,
            "frames": s.stats.frames,
            "late_frames": s.stats.late_frames,
            "worker_busy_pct": 100.0 * s.stats.busy_us as f64
                / (measure.as_micros() as f64 * config.workers as f64),
            "cpu_ms_per_call_s": s.cpu_ns_per_call_s / 1e6,
            "floor_cpu_ms_per_call_s": s.floor_ns_per_call_s / 1e6,
            "overhead_over_floor": s.cpu_ns_per_call_s / s.floor_ns_per_call_s.max(1.0),
            "packets_received": s.received,
            "packets_lost": s.lost,
            "packets_late": s.late,
            "rx_dropped": s.rx_dropped,
            "analysis_frames": s.analysis_frames,
            "generator_sent": s.generator.sent,
            "generator_received": s.generator.received,
            "generator_late_ticks": s.generator.late_ticks,
        }));
        // The steps go on past a failed one: the figures of the next show how it degrades.
        if ok && capacity == prev_ok {
            capacity = calls;
        }
        if ok {
            prev_ok = calls;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        json!({
            "bench": "capacity",
            "codec": "PCMU",
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "workers": config.workers,
            "goal_calls": 500,
            "p99_limit_us": P99_LIMIT_US,
            "max_calls": capacity,
            "steps": results,
        })
    );
}
