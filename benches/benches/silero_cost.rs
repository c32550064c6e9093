//! Silero VAD cost per stream: one call at a time against the batches of the one worker, at 8 and
//! 16 kHz, in CPU time of the inferring thread (`/proc/thread-self/schedstat`). Prints one JSON
//! line per (rate, batch) with microseconds per chunk per stream and milliseconds of CPU per
//! call-second (31.25 chunks), the figure the goal is set in (2 ms or less, batched).
//!
//! `cargo bench -p ringback-benches --bench silero_cost` for figures; `cargo test --benches`
//! runs a few iterations.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use media_core::analysis::AnalysisRate;
use media_core::analysis::rate::MAX_SILERO_WIDTH;
use media_core::analysis::silero::SileroModel;
use media_core::analysis::vad::{STATE_LEN, VadBackend, VadJob};
use ringback_benches::corpus;
use serde_json::json;

/// CPU time of this thread so far, in ns.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iterations = if full { 400 } else { 3 };
    let models = corpus::models_dir().unwrap();
    let mut model = SileroModel::load(&models.join("silero_vad.onnx"), &models.join("libonnxruntime.so"))
        .unwrap_or_else(|e| panic!("Silero VAD is not installed ({e}); run deploy/setup"));
    let rate_cases = [AnalysisRate::Hz8000, AnalysisRate::Hz16000];
    for rate in rate_cases {
        let mut per_stream_single = 0.0;
        for batch in [1usize, 8, 32] {
            // Speech-like input: a buzz with harmonics, different phase per stream.
            let mut jobs: Vec<VadJob> = (0..batch)
                .map(|b| {
                    let mut input = [0.0f32; MAX_SILERO_WIDTH];
                    for (i, x) in input.iter_mut().take(rate.silero_width()).enumerate() {
                        let t = (i + 37 * b) as f32 / rate.hz() as f32;
                        *x = (1..10)
                            .map(|h| (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32)
                            .sum::<f32>()
                            * 0.2;
                    }
                    VadJob {
                        seq: 0,
                        rate,
                        input,
                        state: [0.0; STATE_LEN],
                        probability: 0.0,
                    }
                })
                .collect();
            model.infer(&mut jobs).unwrap(); // warm-up
            #[allow(clippy::disallowed_methods)] // a benchmark measures wall time too
            let wall = std::time::Instant::now();
            let cpu0 = thread_cpu_ns();
            for _ in 0..iterations {
                model.infer(&mut jobs).unwrap();
            }
            let cpu = thread_cpu_ns() - cpu0;
            let wall_ns = wall.elapsed().as_nanos() as f64;
            let us_per_stream = cpu as f64 / 1000.0 / (iterations * batch) as f64;
            if batch == 1 {
                per_stream_single = us_per_stream;
            }
            let chunks_per_second = 1000.0 / media_core::analysis::rate::CHUNK_MS as f64;
            // schedstat advances in scheduler ticks: a tiny run may see none (reported as null).
            let cpu_or_null = |v: f64| {
                if cpu > 0 {
                    json!((v * 1000.0).round() / 1000.0)
                } else {
                    serde_json::Value::Null
                }
            };
            println!(
                "{}",
                json!({
                    "metric": "silero_cost", "rate_hz": rate.hz(), "batch": batch, "iterations": iterations,
                    "cpu_us_per_chunk_per_stream": cpu_or_null(us_per_stream),
                    "wall_us_per_chunk_per_stream": (wall_ns / 1000.0 / (iterations * batch) as f64 * 10.0).round() / 10.0,
                    "cpu_ms_per_call_second": cpu_or_null(us_per_stream * chunks_per_second / 1000.0),
                    "speedup_vs_single": if us_per_stream > 0.0 && per_stream_single > 0.0 { json!(((per_stream_single / us_per_stream) * 100.0).round() / 100.0) } else { serde_json::Value::Null },
                })
            );
        }
    }
}
