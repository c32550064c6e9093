//! Hints reach Whisper, and only as a bias: with the real on-box models (tiny.en and base, which
//! `deploy/setup` installs; a missing one fails these tests saying so).
//!
//! The clips in `tests/data` are flite voices rendered by `deploy/testbed/py/render_voice.py`
//! (band-limited to 300-3400 Hz, 8 kHz) and companded through G.711 mu-law and back with sox: what
//! a caller's answer sounds like after a phone line. Names are what tiny.en gets wrong on them.
//! Nothing here asserts on time.

#![cfg(feature = "whisper")]

use std::sync::OnceLock;

use agent_runtime::speech::whisper::WhisperStt;
use agent_runtime::speech::{
    Audio, SampleRate, SpeechToText, SttConfig, SttHints, WhisperConfig, WhisperModel,
};

fn load(model: WhisperModel) -> WhisperStt {
    let config = WhisperConfig {
        model: model.clone(),
        ..WhisperConfig::default()
    };
    WhisperStt::load(&config).unwrap_or_else(|e| panic!("loading Whisper {}: {e} ({e:?})", model.name()))
}

fn tiny() -> &'static WhisperStt {
    static MODEL: OnceLock<WhisperStt> = OnceLock::new();
    MODEL.get_or_init(|| load(WhisperModel::TinyEn))
}

fn clip(name: &str) -> Audio {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Audio::from_wav(&bytes).expect("a WAV clip")
}

fn hints(terms: &[&str]) -> SttHints {
    let mut hints = SttHints::new();
    hints.extend(terms.iter().copied());
    hints
}

fn words(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn transcribe(model: &WhisperStt, audio: &Audio, hints: &SttHints) -> String {
    let text = model.transcribe_blocking(audio, hints).expect("transcription");
    eprintln!("{:?} -> {text:?}", hints.prompt());
    text
}

#[test]
fn a_name_tiny_en_mishears_is_right_with_the_hint() {
    let model = tiny();
    for (file, name, said) in [
        ("priya-flite-kal16.wav", "Priya Raman", "yes this is priya"),
        (
            "siobhan-flite-awb.wav",
            "Siobhan Kelly",
            "hi this is siobhan speaking",
        ),
    ] {
        let audio = clip(file);
        let plain = words(&transcribe(model, &audio, &SttHints::new()));
        assert!(
            !plain.contains(&words(name.split(' ').next().unwrap_or(name))),
            "tiny.en got {name} without help ({plain:?}): the clip no longer shows what hints are for"
        );
        let hinted = words(&transcribe(model, &audio, &hints(&[name, "Harborview Clinic"])));
        assert_eq!(hinted, said, "with the hint");
    }
}

#[test]
fn prompt_tokens_never_come_back() {
    let model = tiny();
    let audio = clip("priya-flite-kal16.wav");
    // A hint of words nobody says: none of them may appear, nor any special token.
    let unrelated = hints(&[
        "Quetzalcoatl Zanzibar",
        "Xylophone Orchestra",
        "Tuesday at 9 AM",
        "Friday at 3 PM",
    ]);
    let text = transcribe(model, &audio, &unrelated);
    for word in [
        "quetzalcoatl",
        "zanzibar",
        "xylophone",
        "orchestra",
        "tuesday",
        "friday",
    ] {
        assert!(!words(&text).contains(word), "{word:?} leaked into {text:?}");
    }
    assert!(!text.contains("<|") && !text.contains("|>"), "{text:?}");
    assert!(words(&text).starts_with("yes this is"), "{text:?}");

    // On silence, where a prompt is most often written back, the hint does not come back.
    let silence = Audio::new(SampleRate::HZ_8000, vec![0; 8_000 * 2]);
    let hint = hints(&[
        "Priya Raman",
        "Lakeside Dental",
        "Thursday at 10 AM",
        "Friday at 3 PM",
    ]);
    let text = transcribe(model, &silence, &hint);
    assert!(!hint.echoed_by(&text), "{text:?}");
    assert!(!text.contains("<|"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whisper_base_loads_and_transcribes_with_and_without_hints() {
    let config = SttConfig::Whisper(WhisperConfig {
        model: WhisperModel::Base,
        ..WhisperConfig::default()
    });
    let stt =
        SpeechToText::from_config(&config).unwrap_or_else(|e| panic!("loading Whisper base: {e} ({e:?})"));
    let audio = clip("priya-flite-kal16.wav");
    let plain = words(&stt.transcribe(&audio).await.expect("transcription"));
    eprintln!("base: {plain:?}");
    assert!(plain.starts_with("yes this is"), "{plain:?}");
    let hinted = words(
        &stt.transcribe_with(&audio, &hints(&["Priya Raman", "Harborview Clinic"]))
            .await
            .expect("transcription"),
    );
    eprintln!("base with hints: {hinted:?}");
    assert_eq!(hinted, "yes this is priya");
}

#[test]
fn a_missing_model_is_named() {
    let config = WhisperConfig {
        model: WhisperModel::Dir("/nonexistent/whisper".into()),
        ..WhisperConfig::default()
    };
    let err = WhisperStt::load(&config).expect_err("no such model");
    assert!(err.to_string().contains("/nonexistent/whisper"), "{err}");
}
