//! Word error rate of on-box speech-to-text on telephone speech, per voice engine, line noise,
//! Whisper model and hints. One JSON line: WER per cell = {piper, espeak-ng, flite} x {no noise,
//! moderate (20 dB SNR), heavy (12 dB)} x {tiny.en, base} x {hints off, on}, for the development
//! and the held-out part of `benches/stt` (see `src/stt.rs`), and the median time to transcribe
//! one utterance per model, with and without hints.
//!
//! The audio is what a real call delivers. Each caller answer is rendered by
//! `deploy/testbed/py/render_voice.py` (the engine's voice, band-limited to 300-3400 Hz, levelled,
//! line noise mixed in), the answers of one engine and noise level are laid end to end on a tape,
//! and the tape is played into a call through the testbed: baresip `bob` calls baresip `alice`
//! through kamailio over G.711 (PCMU), each phone playing one tape, and each phone's recording of
//! what it heard is cut back into answers (`stt::align`). Renders and recordings are cached under
//! `$RINGBACK_CACHE/stt-wer/` by content hash, so the calls happen once; decoding runs offline,
//! one encoder pass per answer and model, then a decode without and one with hints (the code path
//! of a real turn: `WhisperStt::decode`, then `clean_transcript`).
//!
//! `cargo bench -p ringback-benches --bench stt_wer`: the whole corpus (594 answers, five calls,
//! about 15 minutes the first time, then about 25 minutes of decoding). `cargo test --benches`:
//! three answers, one per engine, in one call, both models (CI). `STT_WER_PARTS=dev` decodes the
//! development part only (for tuning the hints without looking at the held-out part);
//! `STT_WER_MODELS=tiny.en` one model; `STT_WER_HINTS=on` (or `off`) one side of each pair;
//! `STT_WER_PARALLEL=n` calls at a time (default 2); `STT_WER_SHOW=1` prints every transcript to
//! stderr. `STT_WER_SHORT_WINDOWS=1` runs the encoder on windows just longer than each answer.
#![allow(missing_docs)]
#![allow(clippy::print_stdout)] // the JSON line is this program's output

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_runtime::speech::cleanup::clean_transcript;
use agent_runtime::speech::whisper::WhisperStt;
use agent_runtime::speech::{Audio, SampleRate, SttHints, WhisperConfig, WhisperModel, resample};
use ringback_benches::stt::{self, Utterance};
use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Bumped when the way tapes are recorded changes, so old recordings are not reused.
const RECORDING: &str = "baresip bob -> kamailio -> baresip alice, PCMU, v1";
/// Silence before the first answer of a tape, and between answers.
const LEAD_S: f32 = 1.0;
const GAP_S: f32 = 0.7;
/// Line (noise, or silence) rendered before and after each answer's words.
const PAD_S: f32 = 0.3;
/// The phone's rate.
const RATE: u32 = 8_000;
/// A clip found in the recording with a worse envelope correlation than this is a broken call.
const MIN_SCORE: f64 = 0.6;

const PIPER: [&str; 1] = ["joe"];
const ESPEAK: [&str; 6] = ["en-us", "en-gb", "en-us+m3", "en+f3", "en-gb-scotland", "en-029"];
const FLITE: [&str; 4] = ["kal16", "slt", "awb", "rms"];
const RATES: [f32; 4] = [1.0, 0.92, 1.08, 1.0];
const NOISE_KINDS: [&str; 4] = ["pink", "babble", "white", "brown"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Engine {
    Piper,
    Espeak,
    Flite,
}

impl Engine {
    const ALL: [Engine; 3] = [Engine::Piper, Engine::Espeak, Engine::Flite];

    fn name(self) -> &'static str {
        match self {
            Engine::Piper => "piper",
            Engine::Espeak => "espeak-ng",
            Engine::Flite => "flite",
        }
    }

    /// The voice and rate of the `i`-th answer: every engine's voices take turns.
    fn voice(self, i: usize) -> (String, f32) {
        match self {
            Engine::Piper => (format!("piper:{}", PIPER[i % PIPER.len()]), RATES[i % 4]),
            Engine::Espeak => (format!("espeak:{}", ESPEAK[i % ESPEAK.len()]), RATES[(i + 1) % 4]),
            Engine::Flite => (format!("flite:{}", FLITE[i % FLITE.len()]), RATES[(i + 2) % 4]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Noise {
    None,
    Moderate,
    Heavy,
}

impl Noise {
    const ALL: [Noise; 3] = [Noise::None, Noise::Moderate, Noise::Heavy];

    fn name(self) -> &'static str {
        match self {
            Noise::None => "none",
            Noise::Moderate => "moderate_20db",
            Noise::Heavy => "heavy_12db",
        }
    }

    /// The render request's noise for the `i`-th answer: kinds take turns, each with its seed.
    fn spec(self, i: usize) -> Value {
        let snr = match self {
            Noise::None => return Value::Null,
            Noise::Moderate => 20.0,
            Noise::Heavy => 12.0,
        };
        json!({"kind": NOISE_KINDS[i % NOISE_KINDS.len()], "snr_db": snr, "seed": i})
    }
}

/// One answer as rendered for one cell.
struct Clip {
    utterance: usize,
    part: &'static str,
    engine: Engine,
    noise: Noise,
    request: Value,
}

/// Answers laid end to end, played into one call.
struct Tape {
    clips: Vec<Clip>,
}

fn cache() -> PathBuf {
    ringback_testbed::speech::cache_dir()
        .expect("a cache directory (RINGBACK_CACHE or HOME)")
        .join("stt-wer")
}

fn sha256(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hex::encode(hash.finalize())
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mono: Vec<i16> = samples
        .chunks(usize::from(spec.channels.max(1)))
        .map(|frame| frame[0])
        .collect();
    if spec.sample_rate == RATE {
        return mono;
    }
    let rate = SampleRate::new(spec.sample_rate).expect("a WAV with a sample rate");
    resample(&Audio::new(rate, mono), SampleRate::new(RATE).expect("8 kHz")).samples
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let part = path.with_extension("wav.part");
    let mut writer =
        hound::WavWriter::create(&part, spec).unwrap_or_else(|e| panic!("{}: {e}", part.display()));
    for &s in samples {
        writer.write_sample(s).expect("write sample");
    }
    writer.finalize().expect("finish WAV");
    std::fs::rename(&part, path).expect("rename WAV into place");
}

/// The render script, read from the checkout (the testbed's, shared with the scripted callees).
fn render_script() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/testbed/py/render_voice.py");
    assert!(script.is_file(), "{} is missing", script.display());
    script
}

/// Renders every clip not in the cache, two at a time; returns each clip's WAV path.
async fn render_all(tapes: &[Tape]) -> Vec<Vec<PathBuf>> {
    let script = render_script();
    let script_bytes = std::fs::read(&script).expect("read render_voice.py");
    let python = ringback_testbed::speech::cache_dir()
        .expect("cache dir")
        .join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run deploy/setup",
        python.display()
    );
    let dir = cache().join("render");
    std::fs::create_dir_all(&dir).expect("create the render cache");
    let paths: Vec<Vec<PathBuf>> = tapes
        .iter()
        .map(|tape| {
            tape.clips
                .iter()
                .map(|c| {
                    let key = sha256(&[&script_bytes, c.request.to_string().as_bytes()]);
                    dir.join(format!("{key}.wav"))
                })
                .collect()
        })
        .collect();
    let todo: Vec<(Value, PathBuf)> = tapes
        .iter()
        .zip(&paths)
        .flat_map(|(tape, paths)| tape.clips.iter().zip(paths))
        .filter(|(_, path)| !path.is_file())
        .map(|(clip, path)| (clip.request.clone(), path.clone()))
        .collect();
    let mut jobs = tokio::task::JoinSet::new();
    let mut todo = todo.into_iter();
    let mut running = 0;
    loop {
        while running < 2 {
            let Some((mut request, out)) = todo.next() else {
                break;
            };
            let part = out.with_extension("render.wav");
            request["out"] = json!(part);
            let (python, script) = (python.clone(), script.clone());
            jobs.spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut child = tokio::process::Command::new(&python)
                    .arg(&script)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("start render_voice.py");
                let mut stdin = child.stdin.take().expect("stdin");
                stdin
                    .write_all(request.to_string().as_bytes())
                    .await
                    .expect("write the request");
                drop(stdin);
                let done = child.wait_with_output().await.expect("render_voice.py runs");
                assert!(
                    done.status.success(),
                    "render_voice.py failed on {request}: {}",
                    String::from_utf8_lossy(&done.stderr)
                );
                std::fs::rename(&part, &out).expect("rename the render into place");
            });
            running += 1;
        }
        match jobs.join_next().await {
            Some(result) => {
                result.expect("render task");
                running -= 1;
            }
            None => break,
        }
    }
    paths
}

/// A tape's samples and where each clip lies on it.
fn lay_out(clips: &[PathBuf]) -> (Vec<i16>, Vec<(usize, usize)>) {
    let gap = vec![0i16; (GAP_S * RATE as f32) as usize];
    let mut tape = vec![0i16; (LEAD_S * RATE as f32) as usize];
    let mut spans = Vec::with_capacity(clips.len());
    for path in clips {
        let start = tape.len();
        tape.extend(read_wav(path));
        spans.push((start, tape.len()));
        tape.extend_from_slice(&gap);
    }
    (tape, spans)
}

/// Where a tape's recording (its clips cut out) is cached.
fn heard_dir(tape: &[i16]) -> PathBuf {
    let bytes: Vec<u8> = tape.iter().flat_map(|s| s.to_le_bytes()).collect();
    cache()
        .join("heard")
        .join(sha256(&[RECORDING.as_bytes(), &bytes]))
}

/// A tape waiting to be recorded.
struct Pending {
    samples: Vec<i16>,
    spans: Vec<(usize, usize)>,
    dir: PathBuf,
}

/// Plays up to two tapes into one call (bob's into alice's ear, alice's into bob's) and cuts each
/// recording into its clips under the tape's cache directory.
async fn record_call(tapes: Vec<Pending>, scratch: &Path) {
    let longest = tapes.iter().map(|t| t.samples.len()).max().unwrap_or(0);
    // baresip hangs up when its microphone's WAV ends: both play past the end of the call.
    let mic = |name: &str, samples: Option<&[i16]>| {
        let mut padded = samples.map(<[i16]>::to_vec).unwrap_or_default();
        padded.resize(longest + 30 * RATE as usize, 0);
        let path = scratch.join(format!("{name}.wav"));
        write_wav(&path, &padded);
        path
    };
    let bob_mic = mic("bob-mic", tapes.first().map(|t| t.samples.as_slice()));
    let alice_mic = mic("alice-mic", tapes.get(1).map(|t| t.samples.as_slice()));
    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio starts (run deploy/setup)");
    let mut alice_options = PhoneOptions::new(trunk.addr(), &alice_mic);
    alice_options.record_dir = Some(scratch.join("alice"));
    let mut bob_options = PhoneOptions::new(trunk.addr(), &bob_mic).account("bob", "bobpw");
    bob_options.auto_answer = false;
    bob_options.record_dir = Some(scratch.join("bob"));
    let alice = Phone::start(alice_options).await.expect("alice registers");
    let bob = Phone::start(bob_options).await.expect("bob registers");
    let timeout = Duration::from_secs(10);
    bob.dial(&format!("sip:+15551234567@{}", trunk.addr()))
        .await
        .expect("bob dials");
    alice
        .wait_for_event(EventKind::CallEstablished, timeout)
        .await
        .expect("alice answers");
    bob.wait_for_event(EventKind::CallEstablished, timeout)
        .await
        .expect("bob's call is up");
    tokio::time::sleep(Duration::from_secs_f32(longest as f32 / RATE as f32 + 1.5)).await;
    bob.hangup().await.expect("bob hangs up");
    for phone in [&alice, &bob] {
        phone
            .wait_for_event(EventKind::CallClosed, timeout)
            .await
            .expect("the call ends");
    }
    let recordings = [heard(&alice).await, heard(&bob).await];
    for (tape, recording) in tapes.iter().zip(recordings) {
        cut(tape, &read_wav(&recording));
    }
}

/// The phone's recording of the call that just ended (baresip completes it as the call closes).
async fn heard(phone: &Phone) -> PathBuf {
    for _ in 0..100 {
        if let Some(path) = phone.heard_wav() {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{} left no recording in {}",
        phone.user(),
        phone.record_dir().display()
    );
}

/// Finds the tape's clips in a recording and stores them, with how well each was found.
fn cut(tape: &Pending, heard: &[i16]) {
    let found = stt::align(&tape.samples, heard, &tape.spans, 3 * RATE as usize, 2_400);
    let worst = found.iter().map(|f| f.score).fold(f64::INFINITY, f64::min);
    assert!(
        worst >= MIN_SCORE,
        "a clip was not found in the call's recording (envelope correlation {worst:.2}): \
         audio was lost on the way; scores {:?}",
        found
            .iter()
            .map(|f| (f.score * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    let part = tape.dir.with_extension("part");
    let _ = std::fs::remove_dir_all(&part);
    std::fs::create_dir_all(&part).expect("create the recording cache");
    for (i, (&(start, end), f)) in tape.spans.iter().zip(&found).enumerate() {
        let from = (start as i64 + f.lag).clamp(0, heard.len() as i64) as usize;
        let to = (end as i64 + f.lag).clamp(0, heard.len() as i64) as usize;
        write_wav(&part.join(format!("{i:03}.wav")), &heard[from..to.max(from)]);
    }
    let meta = json!({
        "recording": RECORDING,
        "lags": found.iter().map(|f| f.lag).collect::<Vec<_>>(),
        "scores": found.iter().map(|f| (f.score * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
    });
    std::fs::write(part.join("meta.json"), meta.to_string()).expect("write meta.json");
    let _ = std::fs::remove_dir_all(&tape.dir);
    std::fs::create_dir_all(tape.dir.parent().expect("heard/")).expect("create heard/");
    std::fs::rename(&part, &tape.dir).expect("move the recording into place");
}

/// Every tape recorded through real calls (cached); returns each tape's clip directory.
async fn record_all(tapes: &[Tape], parallel: usize) -> Vec<PathBuf> {
    let rendered = render_all(tapes).await;
    let mut dirs = Vec::new();
    let mut pending = Vec::new();
    for clips in &rendered {
        let (samples, spans) = lay_out(clips);
        let dir = heard_dir(&samples);
        if !dir.join("meta.json").is_file() {
            pending.push(Pending {
                samples,
                spans,
                dir: dir.clone(),
            });
        }
        dirs.push(dir);
    }
    let mut calls: Vec<Vec<Pending>> = Vec::new();
    let mut pending = pending.into_iter();
    while let Some(first) = pending.next() {
        calls.push(std::iter::once(first).chain(pending.next()).collect());
    }
    let scratch = tempfile::tempdir().expect("scratch dir");
    let mut calls = calls.into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < parallel.max(1) {
            let Some((i, call)) = calls.next() else { break };
            let dir = scratch.path().join(format!("call{i}"));
            std::fs::create_dir_all(&dir).expect("call scratch dir");
            running.spawn(async move { record_call(call, &dir).await });
        }
        match running.join_next().await {
            Some(result) => result.expect("call task"),
            None => break,
        }
    }
    dirs
}

/// One cell's counts.
#[derive(Default, Clone, Copy)]
struct Count {
    words: usize,
    errors: usize,
    answers: usize,
}

impl Count {
    fn json(self) -> Value {
        let wer = self.errors as f64 / self.words.max(1) as f64;
        json!({"answers": self.answers, "words": self.words, "errors": self.errors, "wer": (wer * 1000.0).round() / 1000.0})
    }
}

fn median_ms(values: &mut [Duration]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).map_or(0, |d| d.as_millis() as u64)
}

#[allow(clippy::disallowed_methods)] // a benchmark's own stopwatch
fn now() -> Instant {
    Instant::now()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let parts: Vec<&'static str> = match std::env::var("STT_WER_PARTS").ok().as_deref() {
        Some("dev") => vec!["dev"],
        Some("heldout") => vec!["heldout"],
        _ => vec!["dev", "heldout"],
    };
    let models: Vec<WhisperModel> = match std::env::var("STT_WER_MODELS").ok() {
        Some(list) => list
            .split(',')
            .map(|m| WhisperModel::try_from(m.trim().to_owned()).expect("a Whisper model name"))
            .collect(),
        None => vec![WhisperModel::TinyEn, WhisperModel::Base],
    };
    // For tuning the hints: STT_WER_HINTS=on skips the decodes without them.
    let hint_modes: Vec<bool> = match std::env::var("STT_WER_HINTS").ok().as_deref() {
        Some("on") => vec![true],
        Some("off") => vec![false],
        _ => vec![false, true],
    };
    let parallel = std::env::var("STT_WER_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);

    let mut corpus: Vec<(&'static str, Utterance)> = Vec::new();
    for part in ["dev", "heldout"] {
        corpus.extend(
            stt::load(part)
                .expect("the corpus")
                .into_iter()
                .map(|u| (part, u)),
        );
    }
    let request = |i: usize, engine: Engine, noise: Noise| {
        let (voice, rate) = engine.voice(i);
        json!({
            "text": corpus[i].1.text, "voice": voice, "rate": rate, "seed": i % 5,
            "noise": noise.spec(i), "pad_before_s": PAD_S, "pad_after_s": PAD_S,
        })
    };
    let clip = |i: usize, engine: Engine, noise: Noise| Clip {
        utterance: i,
        part: corpus[i].0,
        engine,
        noise,
        request: request(i, engine, noise),
    };
    let tapes: Vec<Tape> = if full {
        let mut tapes = Vec::new();
        for engine in Engine::ALL {
            for noise in Noise::ALL {
                tapes.push(Tape {
                    clips: (0..corpus.len()).map(|i| clip(i, engine, noise)).collect(),
                });
            }
        }
        tapes
    } else {
        // CI: one answer per engine, clean, in one call.
        vec![Tape {
            clips: Engine::ALL
                .iter()
                .enumerate()
                .map(|(i, &engine)| clip(i, engine, Noise::None))
                .collect(),
        }]
    };
    let dirs = record_all(&tapes, parallel).await;

    let mut cells: BTreeMap<(Engine, Noise, String, bool, &str), Count> = BTreeMap::new();
    let mut timing = serde_json::Map::new();
    let mut fallbacks = serde_json::Map::new();
    for model in &models {
        let config = WhisperConfig {
            model: model.clone(),
            short_windows: std::env::var("STT_WER_SHORT_WINDOWS").is_ok_and(|v| v == "1"),
            ..WhisperConfig::default()
        };
        let whisper =
            WhisperStt::load(&config).unwrap_or_else(|e| panic!("loading Whisper {}: {e}", model.name()));
        let (mut plain, mut hinted) = (Vec::new(), Vec::new());
        let mut echoed = 0;
        for (tape, dir) in tapes.iter().zip(&dirs) {
            for (i, clip) in tape.clips.iter().enumerate() {
                if !parts.contains(&clip.part) {
                    continue;
                }
                let utterance = &corpus[clip.utterance].1;
                let audio = Audio::new(
                    SampleRate::new(RATE).expect("8 kHz"),
                    read_wav(&dir.join(format!("{i:03}.wav"))),
                );
                let hints = utterance.hints();
                let started = now();
                let encoded = whisper.encode(&audio).expect("encode").expect("audio");
                let encoded_in = started.elapsed();
                let mut texts = Vec::with_capacity(2);
                for with_hints in hint_modes.iter().copied() {
                    let started = now();
                    let given = if with_hints {
                        hints.clone()
                    } else {
                        SttHints::new()
                    };
                    let text = clean_transcript(&whisper.decode(&encoded, &given).expect("decode"));
                    let took = encoded_in + started.elapsed();
                    if with_hints {
                        hinted.push(took);
                        echoed += usize::from(hints.echoed_by(&text));
                    } else {
                        plain.push(took);
                    }
                    texts.push((with_hints, text));
                }
                let reference = stt::normalize(&utterance.text);
                for (with_hints, text) in &texts {
                    let with_hints = *with_hints;
                    let errors = stt::word_errors(&reference, &stt::normalize(text));
                    let key = (clip.engine, clip.noise, model.name(), with_hints, clip.part);
                    let count = cells.entry(key).or_default();
                    count.words += reference.len();
                    count.errors += errors;
                    count.answers += 1;
                    if std::env::var_os("STT_WER_SHOW").is_some() {
                        eprintln!(
                            "{} {} {} {} hints={with_hints} errors={errors}: {:?} -> {text:?}",
                            utterance.id,
                            clip.engine.name(),
                            clip.noise.name(),
                            model.name(),
                            utterance.text
                        );
                    }
                }
            }
        }
        timing.insert(
            model.name(),
            json!({"hints_off": median_ms(&mut plain), "hints_on": median_ms(&mut hinted), "answers": plain.len()}),
        );
        fallbacks.insert(model.name(), json!(echoed));
    }

    let mut rows = Vec::new();
    let mut totals: BTreeMap<(String, bool, &str), Count> = BTreeMap::new();
    for ((engine, noise, model, hints, part), count) in &cells {
        let total = totals.entry((model.clone(), *hints, part)).or_default();
        total.words += count.words;
        total.errors += count.errors;
        total.answers += count.answers;
        rows.push(json!({
            "engine": engine.name(), "noise": noise.name(), "model": model, "hints": hints,
            "part": part, "wer": count.json()["wer"], "words": count.words, "errors": count.errors,
        }));
    }
    let totals: Vec<Value> = totals
        .iter()
        .map(|((model, hints, part), c)| json!({"model": model, "hints": hints, "part": part, "count": c.json()}))
        .collect();
    println!(
        "{}",
        json!({
            "bench": "stt_wer",
            "mode": if full { "full" } else { "tiny" },
            "answers": tapes
                .iter()
                .flat_map(|t| &t.clips)
                .filter(|c| parts.contains(&c.part))
                .map(|c| c.utterance)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            "clips_per_model": tapes.iter().map(|t| t.clips.iter().filter(|c| parts.contains(&c.part)).count()).sum::<usize>(),
            "path": RECORDING,
            "totals": totals,
            "cells": rows,
            "median_transcribe_ms": timing,
            "hinted_still_echoing": fallbacks,
            "threads": WhisperConfig::default().threads,
        })
    );
}
