//! The audio-intelligence evaluation harness. Generates the labelled corpus deterministically
//! (src/corpus.rs, src/eval.rs), runs the same analyzer as live calls (Silero in line) on the
//! audio as a call delivers it (8 kHz through G.711 mu-law; 16 kHz as wideband), and prints one
//! JSON line per figure:
//! - `amd`: per part of the corpus (`base`, `dev`, `held_out`: see `eval::AmdPart`), accuracy,
//!   machine precision/recall, human-as-machine count, decision latency, with the greeting's
//!   words offered to the detector as the runtime offers them (Whisper tiny.en by default;
//!   `AMD_TRANSCRIPT=oracle|none`);
//! - `beep`: detection rate and start error on machine greetings with beeps, false beeps;
//! - `vad`: 10 ms frame accuracy against the labels, at 8 and 16 kHz;
//! - `dtmf`: detection rate and false digits per condition group, next to `multimon-ng -a DTMF`;
//! - `talk_off`: false digits per hour of speech, ours and multimon-ng's.
//!
//! `cargo bench -p ringback-benches --bench analysis_eval` runs the full corpus (a first run
//! renders it with Piper: several minutes); `cargo test --benches` runs a tiny one.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agent_runtime::speech::cleanup::clean_transcript;
use agent_runtime::speech::{Audio, SampleRate, SttHints, WhisperConfig, WhisperModel, WhisperStt};

use media_core::analysis::amd::Verdict;
use media_core::analysis::file::{FileAnalysis, MonoAudio, analyze_audio};
use media_core::analysis::silero::SileroModel;
use media_core::analysis::{AnalysisRate, AnalyzerConfig};
use media_core::g711;
use ringback_benches::corpus::{self, Scene};
use ringback_benches::eval::{self, AmdPart, Size};
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
        // AMD_PARTS=base,dev picks parts of the AMD corpus (all of the full corpus by default);
        // tuning runs leave the held-out part out. The tiny corpus of `cargo test --benches`
        // never runs the held-out part.
        let parts = std::env::var("AMD_PARTS").unwrap_or_else(|_| match size {
            Size::Full => String::new(),
            Size::Tiny => "base,dev".to_owned(),
        });
        let mut listener = Listener::from_env();
        let mut wrong = Vec::new();
        for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
            for part in [AmdPart::Base, AmdPart::Dev, AmdPart::HeldOut] {
                if !parts.is_empty() && !parts.split(',').any(|p| p == part.as_str()) {
                    continue;
                }
                let scenes = eval::greeting_scenes(part, size, rate).unwrap();
                wrong.extend(amd_and_vad(part, &scenes, rate, &mut model, &mut listener));
            }
        }
        // The tiny corpus (a short and a long greeting of each kind, a receptionist among them)
        // is one every working detector gets right: a wrong verdict there means AMD broke.
        if size == Size::Tiny && !matches!(listener, Listener::Deaf) {
            assert!(
                wrong.is_empty(),
                "AMD verdicts wrong on the tiny corpus: {wrong:?}"
            );
        }
        if let Listener::Whisper { spent_ms, .. } = &mut listener {
            let (median, p90) = eval::median_p90(spent_ms);
            println!(
                "{}",
                json!({"metric": "amd_stt", "transcribed": spent_ms.len(), "median_ms": median, "p90_ms": p90,
                       "assumed_delay_ms": stt_delay_ms()})
            );
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

/// How the AMD part hears the greeting's words (`AMD_TRANSCRIPT`): `whisper` (the default, the
/// runtime's on-box Whisper tiny.en on the delivered audio of each turn), `oracle` (the words the
/// scene said, as a perfect recognizer would), or `none` (the audio alone).
enum Listener {
    Whisper {
        stt: WhisperStt,
        cache: PathBuf,
        /// Wall time of each transcription that was not cached, ms.
        spent_ms: Vec<u64>,
    },
    Oracle,
    Deaf,
}

impl Listener {
    fn from_env() -> Self {
        match std::env::var("AMD_TRANSCRIPT").as_deref() {
            Ok("oracle") => Listener::Oracle,
            Ok("none") => Listener::Deaf,
            Ok("whisper") | Err(_) => {
                let config = WhisperConfig {
                    model: WhisperModel::Dir(corpus::models_dir().unwrap().join("whisper-tiny-en")),
                    ..WhisperConfig::default()
                };
                let stt = WhisperStt::load(&config)
                    .unwrap_or_else(|e| panic!("Whisper tiny.en is not installed ({e}); run deploy/setup"));
                let cache = corpus::cache_dir().unwrap().join("amd-transcripts");
                std::fs::create_dir_all(&cache).unwrap();
                Listener::Whisper {
                    stt,
                    cache,
                    spent_ms: Vec::new(),
                }
            }
            Ok(other) => panic!("AMD_TRANSCRIPT={other}: say whisper, oracle or none"),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Listener::Whisper { .. } => "whisper-tiny.en",
            Listener::Oracle => "oracle",
            Listener::Deaf => "none",
        }
    }

    /// The text of one turn's audio (cached on disk by the audio's hash for Whisper).
    fn hear(
        &mut self,
        scene: &Scene,
        rate: AnalysisRate,
        samples: &[i16],
        start_ms: u64,
        end_ms: u64,
    ) -> String {
        match self {
            Listener::Deaf => String::new(),
            Listener::Oracle => eval::oracle_words(scene, start_ms, end_ms),
            Listener::Whisper { stt, cache, spent_ms } => {
                let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
                let key = corpus::fnv64(&[b"whisper-tiny-en".as_slice(), &rate.hz().to_le_bytes(), &bytes]);
                let path = cache.join(format!("{key:016x}.txt"));
                if let Ok(text) = std::fs::read_to_string(&path) {
                    return text;
                }
                let hz = match rate {
                    AnalysisRate::Hz8000 => SampleRate::HZ_8000,
                    AnalysisRate::Hz16000 => SampleRate::HZ_16000,
                };
                #[allow(clippy::disallowed_methods)] // the bench's own stopwatch for Whisper's time
                let started = std::time::Instant::now();
                let raw = stt
                    .transcribe_blocking(&Audio::new(hz, samples.to_vec()), &SttHints::new())
                    .unwrap();
                spent_ms.push(started.elapsed().as_millis() as u64);
                let text = clean_transcript(&raw);
                std::fs::write(&path, &text).unwrap();
                text
            }
        }
    }
}

/// What speech-to-text is taken to need for a turn (Whisper tiny.en on two cores: "most of a
/// second"), ms: the transcript is offered this long after the end of the turn. A fixed figure
/// keeps the verdicts deterministic; `AMD_STT_DELAY_MS` sets another, and the `amd_stt` line
/// gives the times measured on this machine.
const DEFAULT_STT_DELAY_MS: u64 = 800;

fn stt_delay_ms() -> u64 {
    std::env::var("AMD_STT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_STT_DELAY_MS)
}

fn amd_and_vad(
    part: AmdPart,
    scenes: &[Scene],
    rate: AnalysisRate,
    model: &mut SileroModel,
    listener: &mut Listener,
) -> Vec<String> {
    let (mut tp, mut fp, mut fn_, mut correct, mut unknown) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut first_correct, mut audio_correct) = (0u64, 0u64);
    let mut wrong = Vec::new();
    let mut human_as_machine = Vec::new();
    let mut missed_machines = Vec::new();
    let mut latency = Vec::new();
    let (mut latency_human, mut latency_machine) = (Vec::new(), Vec::new());
    let (mut agree, mut frames) = (0u64, 0u64);
    let (mut beeps_truth, mut beeps_found, mut false_beeps) = (0u64, 0u64, 0u64);
    let mut beep_errors = Vec::new();
    let mut audio_ms = 0;
    let (mut chunks, mut inferred) = (0u64, 0u64);
    // The held-out part's scenes are not shown (names of wrong ones, verbose lines) unless
    // AMD_HELD_OUT_DETAILS=1: its figure is for reporting, not for tuning.
    let hidden = part == AmdPart::HeldOut && !std::env::var("AMD_HELD_OUT_DETAILS").is_ok_and(|v| v == "1");
    let verbose = std::env::var("AMD_VERBOSE").is_ok_and(|v| v == "1") && !hidden;
    for scene in scenes {
        let audio = delivered(scene);
        let a = eval::run_amd(
            &audio,
            AnalyzerConfig::default(),
            model,
            stt_delay_ms(),
            &mut |s, start, end| listener.hear(scene, rate, s, start, end),
        )
        .unwrap();
        audio_ms += a.duration_ms;
        chunks += a.vad.chunks;
        inferred += a.vad.inferred;
        let truth = scene.truth.unwrap_or(Verdict::Unknown);
        let got = a.last.verdict;
        if verbose {
            eprintln!(
                "{} {} {}: truth {} audio {:?} first {:?} last {} {} at {} ms; heard {:?}",
                part.as_str(),
                rate.hz(),
                scene.name,
                truth.as_str(),
                a.audio.map(|d| (d.verdict.as_str(), d.cause, d.decided_ms)),
                a.first
                    .map(|d| (d.verdict.as_str(), d.cause.as_str(), d.decided_ms)),
                got.as_str(),
                a.last.cause.as_str(),
                a.last.decided_ms,
                a.heard
            );
        }
        if got != truth {
            wrong.push(format!(
                "{} {}: {} -> {}",
                rate.hz(),
                scene.name,
                truth.as_str(),
                got.as_str()
            ));
        }
        audio_correct += u64::from(a.audio.map(|d| d.verdict) == Some(truth));
        latency.push(a.last.decided_ms);
        match truth {
            Verdict::Human => latency_human.push(a.last.decided_ms),
            _ => latency_machine.push(a.last.decided_ms),
        }
        correct += u64::from(got == truth);
        first_correct += u64::from(a.first.map(|d| d.verdict) == Some(truth));
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
            (Verdict::Human, Verdict::Unknown) => missed_machines.push(format!("{} -> unknown", scene.name)),
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
    if hidden {
        let hide = |v: &mut Vec<String>| *v = vec![format!("{} hidden", v.len())];
        hide(&mut human_as_machine);
        hide(&mut missed_machines);
        hide(&mut wrong);
    }
    let (median, p90) = eval::median_p90(&mut latency);
    let (median_human, _) = eval::median_p90(&mut latency_human);
    let (median_machine, _) = eval::median_p90(&mut latency_machine);
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
            "metric": "amd", "part": part.as_str(), "rate_hz": rate.hz(), "codec": codec(rate),
            "transcript": listener.name(), "stt_delay_ms": stt_delay_ms(),
            "scenes": n, "accuracy": ratio(correct, n), "first_verdict_accuracy": ratio(first_correct, n),
            "audio_only_accuracy": ratio(audio_correct, n), "human_as_machine_count": fp,
            "machine_precision": ratio(tp, tp + fp), "machine_recall": ratio(tp, tp + fn_),
            "unknown": unknown, "human_as_machine": human_as_machine, "missed": missed_machines,
            "median_decision_ms": median, "p90_decision_ms": p90,
            "median_decision_ms_human": median_human, "median_decision_ms_machine": median_machine,
            "goal": {"accuracy": 0.97, "median_decision_ms": 3000},
        })
    );
    let (beep_median, beep_p90) = eval::median_p90(&mut beep_errors);
    println!(
        "{}",
        json!({
            "metric": "beep", "part": part.as_str(), "rate_hz": rate.hz(), "beeps": beeps_truth, "found": beeps_found,
            "start_error_median_ms": beep_median, "start_error_p90_ms": beep_p90, "false_beeps": false_beeps,
        })
    );
    println!(
        "{}",
        json!({
            "metric": "vad", "part": part.as_str(), "rate_hz": rate.hz(), "codec": codec(rate), "audio_s": audio_ms / 1000,
            "frame_accuracy": ratio(agree, frames), "frames": frames,
            "chunks": chunks, "chunks_sent_to_silero": inferred, "gate_pass_fraction": ratio(inferred, chunks),
        })
    );
    wrong
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
