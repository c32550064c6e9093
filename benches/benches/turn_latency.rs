//! Turn latency on real calls: the demo's path (kamailio trunk, baresip phone speaking Piper audio,
//! Ringback on its on-box defaults: Silero VAD, Whisper tiny.en, Piper) runs an appointment
//! confirmation whose callee answers two questions, and each answered turn's latency is read back
//! from the call object. Prints one JSON line: per stage (endpointing, STT, LLM first token, TTS
//! first audio, the server's own share, total) the median and the worst, over every turn.
//!
//! `cargo bench -p ringback-benches --bench turn_latency` runs 5 calls; `cargo test --benches`
//! runs one (CI). `TURN_LATENCY_CALLS=n` overrides. `TURN_LATENCY_TURN_MODEL=off`,
//! `TURN_LATENCY_SPECULATIVE=0` and `TURN_LATENCY_PATIENCE_MS=n` set the `[media]` turn-taking keys
//! (defaults otherwise), so each step's share can be measured.
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // the JSON line is this program's output

use ringback::config::TurnModelChoice;
use ringback::demo::{self, DemoOptions, TurnTaking};
use serde_json::{Value, json};
use std::time::Duration;

const PROMPT: &str = "Call Jane to confirm her dental appointment on Tuesday at 3 PM. Ask if that still works \
                      and ask for her email address for the reminder.";

const STAGES: [&str; 6] = [
    "endpointing_ms",
    "stt_ms",
    "llm_first_token_ms",
    "tts_first_audio_ms",
    "server_ms",
    "total_ms",
];

fn median(values: &mut [u64]) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let calls: usize = std::env::var("TURN_LATENCY_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 5 } else { 1 });
    let env = |name: &str| std::env::var(name).ok();
    let turn_taking = TurnTaking {
        turn_model: match env("TURN_LATENCY_TURN_MODEL").as_deref() {
            Some("off") => TurnModelChoice::Off,
            _ => TurnModelChoice::SmartTurn,
        },
        speculative_stt: env("TURN_LATENCY_SPECULATIVE").as_deref() != Some("0"),
        turn_patience_ms: env("TURN_LATENCY_PATIENCE_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    };
    let mut turns: Vec<Value> = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..calls {
        let data = tempfile::tempdir().expect("temp dir");
        let mut options = DemoOptions::standard(data.path().to_owned());
        options.prompt = PROMPT.to_owned();
        options.phone_lines = vec![
            (10.0, "Yes, Tuesday at three works for me.".to_owned()),
            (8.0, "It is jane at example dot com.".to_owned()),
        ];
        options.timeout = Duration::from_secs(150);
        options.turn_taking = Some(turn_taking);
        let run = demo::run(options).await.expect("the demo call runs");
        outcomes.push(run.call["outcome"].clone());
        turns.extend(run.call["latency"].as_array().cloned().unwrap_or_default());
    }
    assert!(
        !turns.is_empty(),
        "no answered turn was measured (outcomes {outcomes:?})"
    );
    let mut stages = serde_json::Map::new();
    for stage in STAGES {
        let mut values: Vec<u64> = turns.iter().filter_map(|t| t[stage].as_u64()).collect();
        let worst = values.iter().copied().max();
        stages.insert(
            stage.to_owned(),
            json!({"median": median(&mut values), "max": worst}),
        );
    }
    println!(
        "{}",
        json!({
            "bench": "turn_latency",
            "calls": calls,
            "turns": turns.len(),
            "outcomes": outcomes,
            "stages": stages,
            "stack": "silero vad, whisper tiny.en (ct2), piper (ort), deterministic engine",
            "turn_taking": {
                "turn_model": format!("{:?}", turn_taking.turn_model),
                "speculative_stt": turn_taking.speculative_stt,
                "turn_patience_ms": turn_taking.turn_patience_ms,
            },
        })
    );
}
