//! Capacity scenario: how many concurrent G.711 calls one box carries with the whole media path.
//!
//! Each call is a real `MediaSession` on the [`MediaEngine`] (one 20 ms timer per worker thread)
//! with its own UDP socket on loopback. The far ends of all calls are a load generator in a
//! separate process (this binary re-executed, see `capacity/generator.rs`), so the CPU counted
//! for the engine is the engine process's alone and the generator does not compete inside it:
//! one 172-byte PCMU packet per 20 ms per call (speech-like bursts and pauses), and it receives
//! everything the sessions send. Per call, per frame, the path is the one a real call runs
//! (the agent runtime's default): receive, jitter buffer, decoding and concealment, the on-box
//! audio analysis as the session's ear (webrtc-vad gate, endpointing, in-band DTMF, beep and
//! answering-machine detection, the turn ring; Silero's batched inference is measured apart by
//! the `silero_cost` bench; the 16 kHz resampling runs once per finished turn), the stereo
//! recording on disk, the pacer with agent audio queued, encoding and the paced send.
//!
//! It ramps the number of calls up and, at each step, measures the send-time deviation of every
//! frame from its 20 ms grid point and the late frames (sent 20 ms or more after their grid
//! point, or caught up). The capacity is the largest step whose p99 deviation stays under 5 ms
//! with no late frame. Next to the engine's CPU per call it measures the floor: one thread of this
//! process receiving and sending the same packets over bare UDP sockets against the same
//! generator, nothing else. It prints one JSON line.
//!
//! `cargo bench -p ringback-benches --bench capacity` for the figures (about two minutes;
//! `RINGBACK_CAPACITY_STEPS=100,500` picks the steps); `cargo test --benches` runs 4 calls for a
//! second.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "capacity/generator.rs"]
mod generator;

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use generator::{Generator, Report, far_end_packet, process_cpu_ns, thread_cpu_ns};
use media_core::analysis::{AnalyzerConfig, LiveAnalysisConfig, VadMode};
use media_core::engine::{EngineConfig, EngineStats, MediaEngine};
use media_core::{Codec, MediaEvent, MediaSession, PayloadType, SessionConfig, Ssrc, UtteranceId};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The goal: p99 send-time deviation under this, in µs.
const P99_LIMIT_US: u64 = 5_000;
/// Agent audio queued at a time, replayed when it ends: 4 s.
const UTTERANCE_SAMPLES: usize = 4 * 8000;

#[allow(clippy::disallowed_methods)] // a load scenario is a driver: it reads the clock
fn now() -> Instant {
    Instant::now()
}

/// The floor: the same packets over bare UDP sockets, nothing else. One thread in this process
/// plays the engine's side of `calls` calls against a generator child: every 20 ms, on the
/// engine's grid, it reads what each socket received and sends one 172-byte packet back.
/// Returns that thread's CPU ns per call-second.
fn floor(calls: usize, seconds: f64, epoch: Instant) -> f64 {
    let sockets: Vec<StdUdpSocket> = (0..calls)
        .map(|_| {
            let s = StdUdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let ours: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut generator = Generator::start(&ours);
    let peers = generator.peers.clone();
    generator.go(epoch);
    let mut packet = [0u8; 172];
    far_end_packet(0xF100, 0, &mut packet);
    let mut buf = [0u8; 2048];
    let cpu0 = thread_cpu_ns();
    let start = now();
    let mut grid = start;
    while now() - start < Duration::from_secs_f64(seconds) {
        for (socket, peer) in sockets.iter().zip(&peers) {
            while socket.recv_from(&mut buf).is_ok() {}
            let _ = socket.send_to(&packet, peer);
        }
        grid += Duration::from_millis(20);
        let t = now();
        if grid > t {
            std::thread::sleep(grid - t);
        }
    }
    let cpu = thread_cpu_ns() - cpu0;
    let elapsed = (now() - start).as_secs_f64();
    let _ = generator.stop();
    cpu as f64 / (calls as f64 * elapsed)
}

struct Step {
    calls: usize,
    stats: EngineStats,
    cpu_ns_per_call_s: f64,
    floor_ns_per_call_s: f64,
    generator: Report,
    received: u64,
    lost: u64,
    late: u64,
    rx_dropped: u64,
    speech_turns: u64,
}

async fn step(engine: &MediaEngine, calls: usize, warmup: Duration, measure: Duration, dir: &Path) -> Step {
    let utterance: Arc<Vec<i16>> = Arc::new(
        (0..UTTERANCE_SAMPLES)
            .map(|n| ((n as f32 * 0.3).sin() * 5000.0) as i16)
            .collect(),
    );
    let turns = Arc::new(AtomicU64::new(0));
    let mut running = Vec::with_capacity(calls);
    let mut sockets = Vec::with_capacity(calls);
    for _ in 0..calls {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    }
    let ours: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
    let mut generator = Generator::start(&ours);
    for (i, (ours, peer)) in sockets.into_iter().zip(generator.peers.clone()).enumerate() {
        let mut config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, peer, Ssrc(0xC000 + i as u32));
        config.recording = Some(dir.join(format!("call-{i}.wav")));
        // The ear of a real call (the agent runtime's default): the on-box analysis with the
        // webrtc-vad gate deciding alone (Silero is batched off the media path).
        config.analysis = Some(LiveAnalysisConfig {
            analyzer: AnalyzerConfig {
                vad: VadMode::GateOnly,
                ..AnalyzerConfig::default()
            },
            ..LiveAnalysisConfig::default()
        });
        // Started on the engine's grid, so its ticks are the worker's wake-ups.
        let session = MediaSession::new(config, engine.grid_now()).expect("session");
        let call = engine
            .spawn(ours, None, session, CancellationToken::new())
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
        let turns = turns.clone();
        tokio::spawn(async move {
            let mut id = 0;
            while let Some(event) = events.recv().await {
                match event {
                    MediaEvent::PlaybackFinished { .. } => {
                        id += 1;
                        let _ = replay.play(UtteranceId(id), utterance.to_vec()).await;
                    }
                    // The analysis heard the far end's bursts.
                    MediaEvent::SpeechStarted { .. } => {
                        turns.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
        running.push((handle, task));
    }
    generator.go(engine.epoch());
    tokio::time::sleep(warmup).await;
    let before = engine.stats();
    let cpu0 = process_cpu_ns();
    let t0 = now();
    tokio::time::sleep(measure).await;
    let cpu = process_cpu_ns() - cpu0;
    let elapsed = (now() - t0).as_secs_f64();
    let stats = engine.stats().since(&before);
    let generator = generator.stop();
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
        floor_ns_per_call_s: floor(calls, measure.as_secs_f64().min(3.0), engine.epoch()),
        generator,
        received,
        lost,
        late,
        rx_dropped,
        speech_turns: turns.load(Ordering::Relaxed),
    }
}

fn main() {
    if std::env::args().any(|a| a == generator::ROLE_ARG) {
        generator::run_child();
        return;
    }
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
    // A step passing after a failed one does not count: the failure already bounds it.
    let mut broken = false;
    for calls in steps {
        let s = runtime.block_on(step(&engine, calls, warmup, measure, &dir));
        let p99 = s.stats.deviation_quantile_us(0.99);
        let ok = p99 < P99_LIMIT_US && s.stats.late_frames == 0 && s.generator.late_ticks == 0;
        assert!(s.received > 0 && s.generator.received > 0, "no media flowed");
        assert!(s.speech_turns > 0, "the analysis heard no speech");
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
            "engine_cpu_ms_per_call_s": s.cpu_ns_per_call_s / 1e6,
            "floor_cpu_ms_per_call_s": s.floor_ns_per_call_s / 1e6,
            "overhead_over_floor": s.cpu_ns_per_call_s / s.floor_ns_per_call_s.max(1.0),
            "packets_received": s.received,
            "packets_lost": s.lost,
            "packets_late": s.late,
            "rx_dropped": s.rx_dropped,
            "speech_turns_heard": s.speech_turns,
            "generator_sent": s.generator.sent,
            "generator_received": s.generator.received,
            "generator_late_ticks": s.generator.late_ticks,
            "generator_cpu_ms_per_s": s.generator.cpu_ns_per_s / 1e6,
        }));
        // The steps go on past a failed one: the figures of the next show how it degrades.
        if !ok {
            broken = true;
        } else if !broken {
            capacity = calls;
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
