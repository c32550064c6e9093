//! The audio-intelligence tests on a small fixed corpus: Piper speech (the venv's piper-tts),
//! sox tones, real Silero VAD through ONNX Runtime. Missing tools or models fail the tests with
//! what is missing (run `deploy/setup`).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use media_core::analysis::amd::Verdict;
use media_core::analysis::file::{FileAnalysis, analyze_audio};
use media_core::analysis::silero::SileroModel;
use media_core::analysis::vad::{VadBackend, VadJob};
use media_core::analysis::worker::{SileroWorker, WorkerConfig};
use media_core::analysis::{AnalysisEvent, AnalysisRate, Analyzer, AnalyzerConfig};
use ringback_benches::corpus::{self, Scene};
use ringback_benches::eval::{self, DtmfCondition, KEYS};

fn silero() -> SileroModel {
    let models = corpus::models_dir().unwrap();
    SileroModel::load(&models.join("silero_vad.onnx"), &models.join("libonnxruntime.so"))
        .unwrap_or_else(|e| panic!("Silero VAD is not installed ({e}); run deploy/setup"))
}

fn analyze(scene: &Scene, model: &mut SileroModel) -> FileAnalysis {
    analyze_audio(&scene.audio(), AnalyzerConfig::default(), Some(model)).unwrap()
}

fn digits(a: &FileAnalysis) -> String {
    a.dtmf.iter().map(|d| d.digit).collect()
}

#[test]
fn digits_are_exact_at_the_receiver_limits_and_off_frequency_tones_are_rejected() {
    let mut model = silero();
    let base = DtmfCondition {
        on_ms: 40,
        off_ms: 40,
        low_dbfs: -10.0,
        high_dbfs: -10.0,
        deviation: 0.0,
        snr_db: None,
        valid: true,
    };
    let accepted = [
        DtmfCondition {
            high_dbfs: -18.0,
            snr_db: Some(15.0),
            ..base
        },
        DtmfCondition {
            low_dbfs: -14.0,
            snr_db: Some(15.0),
            ..base
        },
        DtmfCondition {
            deviation: 0.015,
            ..base
        },
        DtmfCondition {
            deviation: -0.015,
            low_dbfs: -25.0,
            high_dbfs: -25.0,
            ..base
        },
    ];
    for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
        for (i, c) in accepted.iter().enumerate() {
            let scene = eval::dtmf_scene(c, rate, i as u64).unwrap();
            let a = analyze(&scene, &mut model);
            assert_eq!(digits(&a), KEYS, "{} at {rate:?}", c.name());
            let (matched, false_digits) = eval::match_digits(&scene.digits, &eval::found_digits(&a));
            assert_eq!(
                (matched, false_digits),
                (16, 0),
                "{} at {rate:?}: times",
                c.name()
            );
        }
    }
    for deviation in [0.035, -0.035] {
        let c = DtmfCondition {
            deviation,
            valid: false,
            ..base
        };
        let scene = eval::dtmf_scene(&c, AnalysisRate::Hz8000, 9).unwrap();
        assert_eq!(digits(&analyze(&scene, &mut model)), "", "{}", c.name());
    }
}

#[test]
fn the_beep_after_a_greeting_is_found_within_50_ms_and_the_call_is_a_machine() {
    let mut model = silero();
    let rate = AnalysisRate::Hz8000;
    let greeting = corpus::utterances(&[(eval::MACHINE_GREETINGS[0], 1.0)], rate).unwrap();
    for (hz, ms) in [(1000.0, 400), (440.0, 250), (1950.0, 200)] {
        let mut scene = Scene::new("machine", rate);
        scene.silence(600).say(&greeting[0], 0.0).silence(450);
        scene.beep(hz, ms, -15.0).unwrap();
        scene.silence(1500).noise(-50.0, 5);
        let a = analyze(&scene, &mut model);
        let truth = scene.beeps[0];
        assert_eq!(a.beeps.len(), 1, "{hz} Hz: {:?}", a.beeps);
        let beep = a.beeps[0];
        assert!(
            beep.start_ms.abs_diff(truth.start_ms) <= 50,
            "{hz} Hz beep at {} ms, truth {} ms",
            beep.start_ms,
            truth.start_ms
        );
        assert!(beep.end_ms.abs_diff(truth.end_ms) <= 50, "{beep:?} vs {truth:?}");
        assert!((f64::from(beep.hz) - hz).abs() < hz * 0.02, "{beep:?}");
        assert_eq!(a.amd.verdict, Verdict::Machine, "{hz} Hz: {:?}", a.amd);
        // Speech segments never include the beep.
        assert!(
            a.speech.iter().all(|&(_, e)| e <= truth.start_ms + 50),
            "{:?}",
            a.speech
        );
    }
}

#[test]
fn a_human_pickup_is_not_classified_as_a_machine() {
    let mut model = silero();
    for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
        let lines: Vec<(&str, f32)> = ["Hello?", "Hi, this is Dana.", "Yeah, hello?"]
            .iter()
            .map(|t| (*t, 1.0))
            .collect();
        for u in corpus::utterances(&lines, rate).unwrap() {
            let mut scene = Scene::new("human", rate);
            scene.silence(700).say(&u, 0.0).silence(3000);
            let a = analyze(&scene, &mut model);
            assert_eq!(
                a.amd.verdict,
                Verdict::Human,
                "{:?} at {rate:?}: {:?}",
                u.text,
                a.amd
            );
            assert!(a.amd.decided_ms < 3000, "{:?}", a.amd);
        }
    }
}

#[test]
fn speech_segments_are_within_100_ms_of_the_labels_at_8_and_16_khz() {
    let mut model = silero();
    let lines = [
        ("Please hold while I check the account.", 1.0),
        ("Thanks, that works for me.", 0.9),
        ("Could you repeat the last number?", 1.15),
    ];
    for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
        let utterances = corpus::utterances(&lines, rate).unwrap();
        let mut scene = Scene::new("segments", rate);
        scene.silence(800);
        let mut truth = Vec::new();
        for u in &utterances {
            let at = scene.now_ms();
            let (s, e) = u.span();
            let per_ms = rate.per_ms() as u64;
            truth.push((at + s as u64 / per_ms, at + e as u64 / per_ms));
            scene.say(u, 0.0).silence(1500);
        }
        scene.noise(-55.0, 11);
        let a = analyze(&scene, &mut model);
        assert_eq!(
            a.speech.len(),
            truth.len(),
            "{rate:?}: {:?} vs {truth:?}",
            a.speech
        );
        for (&(s, e), &(ts, te)) in a.speech.iter().zip(&truth) {
            assert!(
                s.abs_diff(ts) <= 100 && e.abs_diff(te) <= 100,
                "{rate:?}: segment {s}-{e}, label {ts}-{te}"
            );
        }
        // Every segment was followed by an end of turn, and no digit or beep was invented.
        let turns = a
            .events
            .iter()
            .filter(|e| matches!(e, AnalysisEvent::EndOfTurn { .. }))
            .count();
        assert_eq!(turns, truth.len());
        assert!(
            a.dtmf.is_empty() && a.beeps.is_empty(),
            "{:?} {:?}",
            a.dtmf,
            a.beeps
        );
    }
}

#[test]
fn batched_inference_equals_one_call_at_a_time_with_per_call_state() {
    let mut model = silero();
    let lines = [
        ("One two three four five.", 1.0),
        ("Hello there, how are you?", 1.0),
    ];
    let mut streams = Vec::new();
    for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
        for u in corpus::utterances(&lines, rate).unwrap() {
            streams.push((rate, u.samples));
        }
    }
    // Every stream chunked the way the analyzer does: context + chunk.
    let jobs_of = |rate: AnalysisRate, samples: &[i16]| -> Vec<VadJob> {
        let (ctx, n) = (rate.context_samples(), rate.chunk_samples());
        let f: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        (0..f.len() / n)
            .map(|k| {
                let mut input = [0.0f32; media_core::analysis::rate::MAX_SILERO_WIDTH];
                let from = k * n;
                if from >= ctx {
                    input[..ctx].copy_from_slice(&f[from - ctx..from]);
                }
                input[ctx..ctx + n].copy_from_slice(&f[from..from + n]);
                VadJob {
                    seq: k as u64,
                    rate,
                    input,
                    state: [0.0; 256],
                    probability: 0.0,
                }
            })
            .collect()
    };
    let chunked: Vec<Vec<VadJob>> = streams.iter().map(|(r, s)| jobs_of(*r, s)).collect();
    // One at a time.
    let mut single: Vec<Vec<f32>> = Vec::new();
    for jobs in &chunked {
        let mut state = [0.0f32; 256];
        let mut probs = Vec::new();
        for job in jobs {
            let mut j = [VadJob { state, ..job.clone() }];
            model.infer(&mut j).unwrap();
            state = j[0].state;
            probs.push(j[0].probability);
        }
        single.push(probs);
    }
    // All streams batched (both rates in one call), state carried per stream.
    let steps = chunked.iter().map(Vec::len).max().unwrap();
    let mut states = vec![[0.0f32; 256]; chunked.len()];
    let mut batched: Vec<Vec<f32>> = vec![Vec::new(); chunked.len()];
    for k in 0..steps {
        let owners: Vec<usize> = (0..chunked.len()).filter(|&i| k < chunked[i].len()).collect();
        let mut batch: Vec<VadJob> = owners
            .iter()
            .map(|&i| VadJob {
                state: states[i],
                ..chunked[i][k].clone()
            })
            .collect();
        model.infer(&mut batch).unwrap();
        for (job, &i) in batch.iter().zip(&owners) {
            states[i] = job.state;
            batched[i].push(job.probability);
        }
    }
    let mut speech_chunks = 0;
    for (a, b) in single.iter().zip(&batched) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "single {x} vs batched {y}");
            speech_chunks += usize::from(*x > 0.5);
        }
    }
    assert!(speech_chunks > 20, "the speech was heard: {speech_chunks}");
}

#[test]
fn the_live_path_through_the_batching_worker_finds_the_same_segments_as_the_file_path() {
    let rate = AnalysisRate::Hz8000;
    let lines = [
        ("Good afternoon, I am calling about your order.", 1.0),
        ("Yes, please.", 1.0),
    ];
    let utterances = corpus::utterances(&lines, rate).unwrap();
    let mut scene = Scene::new("live", rate);
    scene
        .silence(500)
        .say(&utterances[0], 0.0)
        .silence(1200)
        .say(&utterances[1], 0.0)
        .silence(1500);
    let audio = scene.audio();
    let mut model = silero();
    let offline = analyze_audio(&audio, AnalyzerConfig::default(), Some(&mut model)).unwrap();

    let worker = SileroWorker::spawn(silero(), WorkerConfig::default()).unwrap();
    let link = worker.link();
    let mut analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
    let mut segments = Vec::new();
    for (k, frame) in audio.samples.chunks_exact(rate.frame_samples()).enumerate() {
        analyzer.push_frame(k as u64 * 20, frame).unwrap();
        if let Some(job) = analyzer.poll_vad_job() {
            link.submit(job).unwrap();
            // A live call would pick the answer up at a later tick; here we wait for it, so the
            // comparison with the file path is exact.
            let answer = link
                .recv_timeout(Duration::from_secs(30))
                .expect("worker answers");
            analyzer.handle_vad_result(&answer);
        }
        while let Some(e) = analyzer.poll_event() {
            if let AnalysisEvent::SpeechEnded { start_ms, end_ms } = e {
                segments.push((start_ms, end_ms));
            }
        }
    }
    assert_eq!(segments, offline.speech);
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert!(worker.stats().jobs > 50);
}

#[test]
fn a_caller_talking_over_the_agent_raises_one_barge_in_once_they_have_talked_the_minimum() {
    let mut model = silero();
    let rate = AnalysisRate::Hz8000;
    let u = corpus::utterances(&[("Wait, stop, that is not right.", 1.0)], rate).unwrap();
    let mut scene = Scene::new("barge-in", rate);
    scene.silence(1000).say(&u[0], 0.0).silence(1000).noise(-55.0, 3);
    let label_start = scene.speech[0].0;
    let audio = scene.audio();
    let mut analyzer = Analyzer::new(AnalyzerConfig::default()).unwrap();
    analyzer.set_agent_speaking(true);
    let mut barge_ins = Vec::new();
    for (k, frame) in audio.samples.chunks_exact(rate.frame_samples()).enumerate() {
        let now = k as u64 * 20;
        analyzer.push_frame(now, frame).unwrap();
        while let Some(job) = analyzer.poll_vad_job() {
            let mut jobs = [job];
            model.infer(&mut jobs).unwrap();
            analyzer.handle_vad_result(&jobs[0]);
        }
        while let Some(e) = analyzer.poll_event() {
            if let AnalysisEvent::BargeIn { at_ms } = e {
                barge_ins.push((at_ms, now + 20));
                // What the runtime does: flush the agent's audio, which stops it speaking.
                analyzer.set_agent_speaking(false);
            }
        }
    }
    assert_eq!(barge_ins.len(), 1, "{barge_ins:?}");
    let (at_ms, reported_at) = barge_ins[0];
    assert!(
        at_ms.abs_diff(label_start) <= 100,
        "barge-in at {at_ms} ms, speech at {label_start} ms"
    );
    // Reported once the speech has lasted the minimum that tells it from a backchannel, within
    // about 250 ms of Silero's lag after that: the agent stops mid-sentence, not after it.
    let minimum = media_core::analysis::endpoint::BARGE_IN_MS;
    assert!(
        reported_at >= label_start + minimum - 100 && reported_at <= label_start + minimum + 250,
        "reported at {reported_at} ms, speech at {label_start} ms"
    );
}
