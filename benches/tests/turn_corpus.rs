//! End of turn on real models: Silero, Smart Turn and Whisper tiny.en, on turns from the
//! turn-taking corpus (`benches/turns/dev.toml`) rendered in their voices. Missing models fail
//! with what is missing (run `deploy/setup`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use agent_runtime::speech::whisper::WhisperStt;
use agent_runtime::speech::{Audio, SampleRate, SttHints, WhisperConfig};
use media_core::analysis::silero::SileroModel;
use media_core::analysis::smart_turn::SmartTurnModel;
use media_core::analysis::turn::TurnModelTiming;
use ringback_benches::corpus;
use ringback_benches::turns::{self, Answering, Case, Heard, Models, Outcome, Rule};

fn models() -> Models {
    let dir = corpus::models_dir().unwrap();
    let ort = dir.join("libonnxruntime.so");
    let silero = SileroModel::load(&dir.join("silero_vad.onnx"), &ort)
        .unwrap_or_else(|e| panic!("Silero VAD is not installed ({e}); run deploy/setup"));
    let smart_turn = SmartTurnModel::load(&dir.join("smart-turn-v3.2-cpu.onnx"), &ort)
        .unwrap_or_else(|e| panic!("Smart Turn is not installed ({e}); run deploy/setup"));
    Models::new(silero, smart_turn)
}

fn case(id: &str) -> Case {
    turns::load("dev")
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

fn words(whisper: &WhisperStt, outcome: &Outcome) -> HashMap<(u64, u64), (String, u64)> {
    let mut words = HashMap::new();
    for (span, samples_16k) in outcome.heard_audio() {
        let audio = Audio::new(SampleRate::HZ_16000, samples_16k.to_vec());
        let text = whisper.transcribe_blocking(&audio, &SttHints::new()).unwrap();
        // A fixed recognition time keeps the test about order, not speed.
        words.insert(span, (text, 600));
    }
    words
}

#[tokio::test]
async fn smart_turn_ends_a_finished_sentence_sooner_than_the_silence_rule() {
    let models = models();
    let case = case("d-c01");
    let rendered = turns::render(&case).await.unwrap();
    let timing = TurnModelTiming::default();
    let silence = turns::run(&case, &rendered, Rule::Silence, timing, &models);
    let model = turns::run(&case, &rendered, Rule::SmartTurn, timing, &models);
    let (Some(by_silence), Some(by_model)) = (silence.latency_ms, model.latency_ms) else {
        panic!("both rules end the turn: {silence:?} {model:?}")
    };
    assert!(!silence.cut_off && !model.cut_off);
    assert!(!model.model_ms.is_empty(), "the model was asked");
    assert!(silence.model_ms.is_empty());
    // The silence rule waits 500 ms after the segment; a "complete" ends it at the segment.
    assert!(
        by_model + 100 <= by_silence,
        "model {by_model} ms, silence {by_silence} ms"
    );
}

#[tokio::test]
async fn the_turn_so_far_at_a_pause_is_the_turn_when_nothing_follows() {
    let models = models();
    let case = case("d-c02");
    let rendered = turns::render(&case).await.unwrap();
    let outcome = turns::run(
        &case,
        &rendered,
        Rule::Silence,
        TurnModelTiming::default(),
        &models,
    );
    let turn = outcome
        .heard
        .iter()
        .find_map(|h| match h {
            Heard::Turn {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => Some((*start_ms, *end_ms, samples_16k)),
            _ => None,
        })
        .expect("a turn");
    let paused = outcome
        .heard
        .iter()
        .rev()
        .find_map(|h| match h {
            Heard::Paused {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => Some((*start_ms, *end_ms, samples_16k)),
            _ => None,
        })
        .expect("a pause before the end of turn");
    assert_eq!((paused.0, paused.1), (turn.0, turn.1));
    assert_eq!(paused.2, turn.2, "speculative recognition hears exactly the turn");
}

#[tokio::test]
async fn a_caller_who_pauses_after_my_email_address_is_is_not_answered_until_they_finish() {
    let models = models();
    let whisper = WhisperStt::load(&WhisperConfig::default())
        .unwrap_or_else(|e| panic!("Whisper is not installed ({e}); run deploy/setup"));
    let case = case("d-p01");
    let rendered = turns::render(&case).await.unwrap();
    let timing = TurnModelTiming::default();
    let outcome = turns::run(&case, &rendered, Rule::SmartTurn, timing, &models);
    let words = words(&whisper, &outcome);
    let hurried = turns::answer(
        &rendered,
        &outcome,
        &words,
        Answering {
            hold: false,
            speculative: false,
            patience_ms: 0,
        },
        timing.max_pause_ms,
    );
    assert!(hurried.cut_off, "the first part alone is answered: {hurried:?}");
    let held = turns::answer(
        &rendered,
        &outcome,
        &words,
        Answering {
            hold: true,
            speculative: true,
            patience_ms: 0,
        },
        timing.max_pause_ms,
    );
    let text = held.text.clone().unwrap_or_default().to_lowercase();
    assert!(!held.cut_off, "{held:?}");
    assert!(text.contains("address") && text.contains("example"), "{text}");
}
