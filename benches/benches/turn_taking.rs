//! End of turn and barge-in on the turn-taking corpus (`benches/turns/`): each case rendered in its
//! voice and run through a live call's analysis (real Silero, real Smart Turn) under the silence
//! rule and under Smart Turn. Prints one JSON line: per part (dev, held-out) and rule, the false
//! cut-off rate over the turns with pauses, the end-of-speech to end-of-turn latency (median, p90)
//! over every finished turn, false barge-ins (backchannels, noise), missed barge-ins
//! (interruptions), and Smart Turn's inference time. Then the words: each turn is transcribed by
//! Whisper tiny.en (timed on this machine), and the agent answers either every transcript at once
//! (as before) or holds unfinished turns (`agent_runtime::call::continuation`); for both, false
//! cut-offs (the first turn answered lacks the caller's last part) and the time from the last
//! word to the answered transcript being ready.
//!
//! `cargo bench -p ringback-benches --bench turn_taking` runs everything; `cargo test --benches`
//! runs the dev part's first case of each kind. Set `TURN_TAKING_SHOW=1` for one line per case.
#![allow(missing_docs)]
#![allow(clippy::print_stdout, clippy::print_stderr)] // the JSON line is this program's output

use std::collections::BTreeSet;

use agent_runtime::conversation::takes_the_turn;
use agent_runtime::speech::whisper::WhisperStt;
use agent_runtime::speech::{Audio, SampleRate, SttHints, WhisperConfig};
use media_core::analysis::silero::SileroModel;
use media_core::analysis::smart_turn::SmartTurnModel;
use media_core::analysis::turn::TurnModelTiming;
use ringback_benches::corpus;
use ringback_benches::turns::{self, Answer, Answering, Case, Kind, Models, Outcome, Rule};
use serde_json::{Value, json};
use std::collections::HashMap;

fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(rank).copied()
}

fn median_f(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((values[values.len() / 2] * 10.0).round() / 10.0)
}

fn summary(results: &[(&Case, Outcome)]) -> Value {
    let of = |kind: Kind| results.iter().filter(move |(c, _)| c.kind == kind);
    let paused = of(Kind::Pause).count();
    let cut_offs = of(Kind::Pause).filter(|(_, o)| o.cut_off).count();
    let complete_cut = of(Kind::Complete).filter(|(_, o)| o.cut_off).count();
    let mut latency: Vec<u64> = results
        .iter()
        .filter(|(c, _)| matches!(c.kind, Kind::Complete | Kind::Pause))
        .filter_map(|(_, o)| o.latency_ms)
        .collect();
    let unended = results
        .iter()
        .filter(|(c, o)| matches!(c.kind, Kind::Complete | Kind::Pause) && o.latency_ms.is_none())
        .count();
    let mut complete_latency: Vec<u64> = of(Kind::Complete).filter_map(|(_, o)| o.latency_ms).collect();
    let false_barge = results
        .iter()
        .filter(|(c, o)| matches!(c.kind, Kind::Backchannel | Kind::Noise) && o.barge_in)
        .count();
    let no_barge_cases = results
        .iter()
        .filter(|(c, _)| matches!(c.kind, Kind::Backchannel | Kind::Noise))
        .count();
    let missed = of(Kind::Interrupt).filter(|(_, o)| !o.barge_in).count();
    let by_words = results.iter().filter(|(_, o)| o.barge_in_by_words).count();
    let mut barge_ms: Vec<u64> = of(Kind::Interrupt).filter_map(|(_, o)| o.barge_in_ms).collect();
    let mut model_ms: Vec<f64> = results
        .iter()
        .flat_map(|(_, o)| o.model_ms.iter().copied())
        .collect();
    let checks = model_ms.len();
    json!({
        "cases": results.len(),
        "false_cutoffs": format!("{cut_offs}/{paused}"),
        "false_cutoff_rate": if paused > 0 { Some((cut_offs as f64 / paused as f64 * 1000.0).round() / 1000.0) } else { None },
        "complete_turns_cut": complete_cut,
        "end_of_turn_ms_median": percentile(&mut latency.clone(), 0.5),
        "end_of_turn_ms_p90": percentile(&mut latency, 0.9),
        "complete_end_of_turn_ms_median": percentile(&mut complete_latency, 0.5),
        "turns_never_ended": unended,
        "false_barge_ins": format!("{false_barge}/{no_barge_cases}"),
        "missed_barge_ins": format!("{missed}/{}", of(Kind::Interrupt).count()),
        "barge_ins_by_words": by_words,
        "barge_in_ms_median": percentile(&mut barge_ms, 0.5),
        "turn_checks": checks,
        "smart_turn_ms_median": median_f(&mut model_ms),
    })
}

fn words_summary(results: &[(&Case, Answer)]) -> Value {
    let turns: Vec<_> = results
        .iter()
        .filter(|(c, _)| matches!(c.kind, Kind::Complete | Kind::Pause))
        .collect();
    let paused = turns.iter().filter(|(c, _)| c.kind == Kind::Pause).count();
    let cut = turns
        .iter()
        .filter(|(c, a)| c.kind == Kind::Pause && a.cut_off)
        .count();
    let complete_cut = turns
        .iter()
        .filter(|(c, a)| c.kind == Kind::Complete && a.cut_off)
        .count();
    let mut ready: Vec<u64> = turns.iter().filter_map(|(_, a)| a.ready_ms).collect();
    let unanswered = turns.iter().filter(|(_, a)| a.text.is_none()).count();
    json!({
        "false_cutoffs": format!("{cut}/{paused}"),
        "false_cutoff_rate": if paused > 0 { Some((cut as f64 / paused as f64 * 1000.0).round() / 1000.0) } else { None },
        "complete_turns_cut": complete_cut,
        "transcript_ready_ms_median": percentile(&mut ready.clone(), 0.5),
        "transcript_ready_ms_p90": percentile(&mut ready, 0.9),
        "unanswered": unanswered,
    })
}

#[allow(clippy::disallowed_methods)] // the bench times Whisper as a live call would wait for it
fn transcribe(whisper: &WhisperStt, samples: &[i16]) -> (String, u64) {
    let started = std::time::Instant::now();
    let audio = Audio::new(SampleRate::HZ_16000, samples.to_vec());
    let text = whisper
        .transcribe_blocking(&audio, &SttHints::new())
        .map(|t| agent_runtime::speech::cleanup::clean_transcript(&t))
        .unwrap_or_default();
    (text, started.elapsed().as_millis() as u64)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let show = std::env::var_os("TURN_TAKING_SHOW").is_some();
    let models_dir = corpus::models_dir().expect("models directory");
    let onnxruntime = models_dir.join("libonnxruntime.so");
    let silero = SileroModel::load(&models_dir.join("silero_vad.onnx"), &onnxruntime)
        .unwrap_or_else(|e| panic!("Silero VAD is not installed ({e}); run deploy/setup"));
    let smart_turn = SmartTurnModel::load(&models_dir.join("smart-turn-v3.2-cpu.onnx"), &onnxruntime)
        .unwrap_or_else(|e| panic!("Smart Turn is not installed ({e}); run deploy/setup"));
    let models = Models::new(silero, smart_turn);
    let whisper = WhisperStt::load(&WhisperConfig::default())
        .unwrap_or_else(|e| panic!("Whisper is not installed ({e}); run deploy/setup"));
    let mut stt_ms = Vec::new();
    let timing = TurnModelTiming::default();
    let mut report = serde_json::Map::new();
    for part in ["dev", "heldout"] {
        let mut cases = turns::load(part).expect("turn corpus");
        if !full {
            if part != "dev" {
                continue;
            }
            let mut seen = BTreeSet::new();
            cases.retain(|c| seen.insert(c.kind));
        }
        if let Ok(only) = std::env::var("TURN_TAKING_ONLY") {
            cases.retain(|c| c.id == only);
        }
        let mut rendered = Vec::new();
        for case in &cases {
            rendered.push(turns::render(case).await.expect("render"));
        }
        let mut by_rule = serde_json::Map::new();
        for rule in [Rule::Silence, Rule::SmartTurn] {
            let mut results: Vec<(&Case, Outcome)> = cases
                .iter()
                .zip(&rendered)
                .map(|(case, r)| (case, turns::run(case, r, rule, timing, &models)))
                .collect();
            // Speech over the agent too short to stop it is still heard: when its words take the
            // turn (agent_runtime::conversation::takes_the_turn), the runtime stops the agent once
            // they are transcribed.
            for ((case, outcome), r) in results.iter_mut().zip(&rendered) {
                if !case.kind.agent_speaking() || outcome.barge_in {
                    continue;
                }
                let heard: Vec<(u64, String, u64)> = outcome
                    .heard
                    .iter()
                    .filter_map(|h| match h {
                        turns::Heard::Turn {
                            decided_ms,
                            samples_16k,
                            ..
                        } => {
                            let (text, ms) = transcribe(&whisper, samples_16k);
                            Some((*decided_ms, text, ms))
                        }
                        _ => None,
                    })
                    .collect();
                let first_start = r.speech.first().map_or(0, |s| s.0);
                if let Some((decided_ms, text, ms)) =
                    heard.into_iter().find(|(_, text, _)| takes_the_turn(text))
                {
                    if show {
                        eprintln!("{} barged in by words: {text:?}", case.id);
                    }
                    outcome.barge_in = true;
                    outcome.barge_in_by_words = true;
                    outcome.barge_in_ms = Some((decided_ms + ms).saturating_sub(first_start));
                }
            }
            let name = match rule {
                Rule::Silence => "silence_500ms",
                Rule::SmartTurn => "smart_turn",
            };
            let mut summary = summary(&results);
            // The words of each turn and pause, then when the agent would answer.
            let mut cache: HashMap<(String, u64, u64), (String, u64)> = HashMap::new();
            let mode = |hold, speculative, patience_ms| Answering {
                hold,
                speculative,
                patience_ms,
            };
            let modes = [
                ("answer_every_transcript", mode(false, false, 0)),
                ("hold_unfinished_turns", mode(true, false, 0)),
                ("hold_and_speculative_stt", mode(true, true, 0)),
                ("hold_speculative_patience_1000ms", mode(true, true, 1_000)),
            ];
            let mut answers: Vec<Vec<(&Case, Answer)>> = vec![Vec::new(); modes.len()];
            for ((case, outcome), r) in results.iter().zip(&rendered) {
                if !matches!(case.kind, Kind::Complete | Kind::Pause) {
                    continue;
                }
                let mut words = HashMap::new();
                for (span, samples_16k) in outcome.heard_audio() {
                    let t = cache
                        .entry((case.id.clone(), span.0, span.1))
                        .or_insert_with(|| {
                            let t = transcribe(&whisper, samples_16k);
                            stt_ms.push(t.1);
                            t
                        })
                        .clone();
                    words.insert(span, t);
                }
                for (k, (mode, answering)) in modes.iter().enumerate() {
                    let a = turns::answer(r, outcome, &words, *answering, timing.max_pause_ms);
                    if show {
                        eprintln!(
                            "{rule:?} {mode} {} {:?} cut_off={} ready={:?} text={:?}",
                            case.id, case.kind, a.cut_off, a.ready_ms, a.text
                        );
                    }
                    answers[k].push((*case, a));
                }
            }
            for ((mode, _), answered) in modes.iter().zip(&answers) {
                summary[*mode] = words_summary(answered);
            }
            if show {
                for (case, o) in &results {
                    eprintln!(
                        "{rule:?} {} {:?} cut_off={} latency={:?} barge_in={} checks={}",
                        case.id,
                        case.kind,
                        o.cut_off,
                        o.latency_ms,
                        o.barge_in,
                        o.model_ms.len()
                    );
                }
            }
            by_rule.insert(name.to_owned(), summary);
        }
        report.insert(part.to_owned(), Value::Object(by_rule));
    }
    println!(
        "{}",
        json!({
            "bench": "turn_taking",
            "full": full,
            "timing": {
                "threshold": timing.threshold,
                "max_pause_ms": timing.max_pause_ms,
                "recheck_ms": timing.recheck_ms,
            },
            "parts": report,
            "stt": {"model": "whisper tiny.en", "transcriptions": stt_ms.len(), "median_ms": percentile(&mut stt_ms, 0.5)},
        })
    );
}
