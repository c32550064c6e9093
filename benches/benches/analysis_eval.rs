//! The audio-intelligence evaluation harness. Generates the labelled corpus deterministically
//! (src/corpus.rs, src/eval.rs), runs the same analyzer as live calls (Silero in line) on the
//! audio as a call delivers it (8 kHz through G.711 mu-law; 16 kHz as wideband), and prints one
//! JSON line per figure:
//! - `amd`: accuracy, machine precision/recall, human-as-machine count, decision latency;
//! - `beep`: detection rate and start error on machine greetings with beeps, false beeps;
//! - `vad`: 10 ms frame accuracy against the labels, at 8 and 16 kHz;
//! - `dtmf`: detection rate and false digits per condition group, next to `multimon-ng -a DTMF`;
//! - `talk_off`: false digits per hour of speech, ours and multimon-ng's.
//!
//! `cargo bench -p ringback-benches --bench analysis_eval` runs the full corpus (a first run
//! renders it with Piper: several minutes); `cargo test --benches` runs a tiny one.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use media_core::analysis::amd::Verdict;
use media_core::analysis::file::{FileAnalysis, MonoAudio, analyze_audio};
use media_core::analysis::silero::SileroModel;
use media_core::analysis::{AnalysisRate, AnalyzerConfig};
use media_core::g711;
use ringback_benches::corpus::{self, Scene};
use ringback_benches::eval::{self, Size};
use serde_json::json;

fn main() {
    let full =
        std::env::args().any(|a| a == "--bench") && std::env::var("EVAL_SIZE").as_deref() != Ok("tiny");
    let size = if full { Size::Full } else { Size::Tiny };
    let models = corpus::models_dir().unwrap();
    let mut model = SileroModel::load(&models.join("silero_vad.onnx"), &models.join("libonnxruntime.so"))
        .unwrap_or_else(|e| panic!("Silero VAD is not installed ({e}); run deploy/setup"));
    let work = corpus::cache_dir().unwrap().join("eval-work");
    std::fs::create_dir_all(&work).unwrap();
    eprintln!("analysis_eval: {size:?} corpus");

    // EVAL_ONLY=amd,dtmf,talk picks parts (all by default).
    let only = std::env::var("EVAL_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    if wanted("amd") {
        for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
            let scenes = eval::amd_scenes(size, rate).unwrap();
            amd_and_vad(&scenes, rate, &mut model);
        }
    }
    if wanted("dtmf") {
        dtmf(size, &mut model, &work);
    }
    if wanted("talk") {
        talk_off(size, &mut model, &work);
    }
}

/// The audio as a call would deliver it: 8 kHz scenes cross G.711 mu-law (PCMU), the
/// telephone path; 16 kHz scenes stand for wideband calls and go as they are.
fn delivered(scene: &Scene) -> MonoAudio {
    let mut audio = scene.audio();
    if audio.rate == AnalysisRate::Hz8000 {
        for s in &mut audio.samples {
            *s = g711::ulaw_decode(g711::ulaw_encode(*s));
        }
    }
    audio
}

fn codec(rate: AnalysisRate) -> &'static str {
    match rate {
        AnalysisRate::Hz8000 => "pcmu",
        AnalysisRate::Hz16000 => "linear16",
    }
}

fn analyze(scene: &Scene, model: &mut SileroModel) -> FileAnalysis {
    analyze_audio(&delivered(scene), AnalyzerConfig::default(), Some(model)).unwrap()
}

fn amd_and_vad(scenes: &[Scene], rate: AnalysisRate, model: &mut SileroModel) {
    let (mut tp, mut fp, mut fn_, mut correct, mut unknown) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut human_as_machine = Vec::new();
    let mut missed_machines = Vec::new();
    let mut latency = Vec::new();
    let (mut agree, mut frames) = (0u64, 0u64);
    let (mut beeps_truth, mut beeps_found, mut false_beeps) = (0u64, 0u64, 0u64);
    let mut beep_errors = Vec::new();
    let mut audio_ms = 0;
    let (mut chunks, mut inferred) = (0u64, 0u64);
    for scene in scenes {
        let a = analyze(scene, model);
        audio_ms += a.duration_ms;
        chunks += a.vad.chunks;
        inferred += a.vad.inferred;
        let truth = scene.truth.unwrap_or(Verdict::Unknown);
        let got = a.amd.verdict;
        latency.push(a.amd.decided_ms);
        correct += u64::from(got == truth);
        unknown += u64::from(got == Verdict::Unknown);
        match (truth, got) {
            (Verdict::Machine, Verdict::Machine) => tp += 1,
            (Verdict::Human, Verdict::Machine) => {
                fp += 1;
                human_as_machine.push(scene.name.clone());
            }
            (Verdict::Machine, _) => {
                fn_ += 1;
                missed_machines.push(format!("{} -> {}", scene.name, got.as_str()));
            }
            _ => {}
        }
        let (g, f) = eval::frame_agreement(&eval::merged_speech(scene), &a.speech, a.duration_ms);
        agree += g;
        frames += f;
        for b in &scene.beeps {
            beeps_truth += 1;
            if let Some(found) = a
                .beeps
                .iter()
                .find(|x| x.start_ms <= b.end_ms && b.start_ms <= x.end_ms)
            {
                beeps_found += 1;
                beep_errors.push(found.start_ms.abs_diff(b.start_ms));
            }
        }
        false_beeps += a
            .beeps
            .iter()
            .filter(|x| {
                !scene
                    .beeps
                    .iter()
                    .any(|b| x.start_ms <= b.end_ms && b.start_ms <= x.end_ms)
            })
            .count() as u64;
    }
    let n = scenes.len() as u64;
    let (median, p90) = eval::median_p90(&mut latency);
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            (a as f64 / b as f64 * 1e4).round() / 1e4
        }
    };
    println!(
        "{}",
        json!({
            "metric": "amd", "rate_hz": rate.hz(), "codec": codec(rate), "scenes": n, "accuracy": ratio(correct, n),
            "machine_precision": ratio(tp, tp + fp), "machine_recall": ratio(tp, tp + fn_),
            "unknown": unknown, "human_as_machine": human_as_machine, "missed_machines": missed_machines,
            "median_decision_ms": median, "p90_decision_ms": p90,
            "goal": {"accuracy": 0.95, "median_decision_ms": 3000},
        })
    );
    let (beep_median, beep_p90) = eval::median_p90(&mut beep_errors);
    println!(
        "{}",
        json!({
            "metric": "beep", "rate_hz": rate.hz(), "beeps": beeps_truth, "found": beeps_found,
            "start_error_median_ms": beep_median, "start_error_p90_ms": beep_p90, "false_beeps": false_beeps,
        })
    );
    println!(
        "{}",
        json!({
            "metric": "vad", "rate_hz": rate.hz(), "codec": codec(rate), "audio_s": audio_ms / 1000,
            "frame_accuracy": ratio(agree, frames), "frames": frames,
            "chunks": chunks, "chunks_sent_to_silero": inferred, "gate_pass_fraction": ratio(inferred, chunks),
        })
    );
}

fn dtmf(size: Size, model: &mut SileroModel, work: &Path) {
    let rate = AnalysisRate::Hz8000;
    // Per group: (label digits, ours matched, ours false, multimon matched, multimon false).
    let mut groups: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, c) in eval::dtmf_conditions(size).iter().enumerate() {
        let scene = eval::dtmf_scene(c, rate, 100 + i as u64).unwrap();
        let a = analyze(&scene, model);
        let found = eval::found_digits(&a);
        let (matched, false_digits) = eval::match_digits(&scene.digits, &found);
        let wav = work.join("dtmf.wav");
        corpus::write_wav(&wav, &delivered(&scene)).unwrap();
        let mm = corpus::multimon_dtmf(&wav).unwrap();
        let expected: String = scene.digits.iter().map(|d| d.digit).collect();
        let mm_matched = eval::lcs(&expected, &mm);
        let group = if !c.valid {
            "reject_deviation_3.5_5pct".to_owned()
        } else if c.deviation != 0.0 {
            "deviation_1.5pct".to_owned()
        } else {
            format!(
                "on{}ms_{}_snr{}",
                c.on_ms,
                match (c.low_dbfs - c.high_dbfs).round() as i64 {
                    0 => "flat",
                    d if d > 0 => "twist_normal8",
                    _ => "twist_reverse4",
                },
                c.snr_db.map_or("inf".into(), |s| s.to_string())
            )
        };
        let g = groups.entry(group).or_default();
        let extra_mm = mm.chars().count() - mm_matched;
        g[0] += scene.digits.len() as u64;
        g[1] += matched as u64;
        g[2] += false_digits as u64;
        g[3] += mm_matched as u64;
        g[4] += extra_mm as u64;
        if matched != scene.digits.len() || false_digits > 0 {
            let got: String = found.iter().map(|d| d.0).collect();
            failures.push(format!("{}: got {got}", c.name()));
        }
    }
    let mut total = [0u64; 5];
    for (name, g) in &groups {
        for (t, v) in total.iter_mut().zip(g) {
            *t += v;
        }
        println!(
            "{}",
            json!({"metric": "dtmf_group", "group": name, "digits": g[0], "ours_detected": g[1], "ours_false": g[2],
                   "multimon_detected": g[3], "multimon_false": g[4]})
        );
    }
    let rate_of = |a: u64, b: u64| {
        if b == 0 {
            1.0
        } else {
            (a as f64 / b as f64 * 1e4).round() / 1e4
        }
    };
    println!(
        "{}",
        json!({
            "metric": "dtmf", "codec": "pcmu", "valid_digits": total[0], "ours_detected": total[1],
            "ours_detection_rate": rate_of(total[1], total[0]), "ours_false": total[2],
            "multimon_detected": total[3], "multimon_detection_rate": rate_of(total[3], total[0]),
            "multimon_false": total[4], "ours_failures": failures,
        })
    );
}

fn talk_off(size: Size, model: &mut SileroModel, work: &Path) {
    let rate = AnalysisRate::Hz8000;
    let scenes = eval::talk_scenes(size, rate).unwrap();
    let (mut ms, mut ours, mut theirs, mut beeps) = (0u64, 0u64, 0u64, 0u64);
    let mut ours_digits = String::new();
    for scene in &scenes {
        let a = analyze(scene, model);
        ms += a.duration_ms;
        ours += a.dtmf.len() as u64;
        beeps += a.beeps.len() as u64;
        ours_digits.extend(a.dtmf.iter().map(|d| d.digit));
        let wav = work.join("talk.wav");
        corpus::write_wav(&wav, &delivered(scene)).unwrap();
        theirs += corpus::multimon_dtmf(&wav).unwrap().chars().count() as u64;
    }
    let hours = ms as f64 / 3_600_000.0;
    let per_hour = |n: u64| {
        if hours > 0.0 {
            (n as f64 / hours * 10.0).round() / 10.0
        } else {
            0.0
        }
    };
    println!(
        "{}",
        json!({
            "metric": "talk_off", "codec": "pcmu", "speech_hours": (hours * 1000.0).round() / 1000.0,
            "ours_false_digits": ours, "ours_per_hour": per_hour(ours), "ours_digits": ours_digits,
            "multimon_false_digits": theirs, "multimon_per_hour": per_hour(theirs),
            "false_beeps": beeps,
        })
    );
}
