//! Round trips through the real on-box models: Piper speaks, Whisper listens.
//!
//! The models are installed by `deploy/setup`; a missing one fails these tests with a message
//! saying so, rather than skipping them. Timings are printed to stderr (run with `--nocapture
//! --test-threads=1` to read them undisturbed); nothing here asserts on time.

#![cfg(all(feature = "piper", feature = "whisper"))]

use std::sync::OnceLock;

use agent_runtime::speech::{
    Audio, PiperConfig, SampleRate, SpeechToText, SttConfig, TextToSpeech, TtsConfig, WhisperConfig, resample,
};
use tokio::time::Instant;

const SENTENCE: &str = "Hello, this is an AI assistant calling. Can you hear me?";

struct Models {
    tts: TextToSpeech,
    stt: SpeechToText,
}

/// Loads both models once for the whole test binary.
fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let started = Instant::now();
        let tts = TextToSpeech::from_config(&TtsConfig::Piper(PiperConfig::default()))
            .unwrap_or_else(|e| panic!("loading Piper: {e} ({e:?})"));
        eprintln!("piper load: {:?}", started.elapsed());
        let started = Instant::now();
        let stt = SpeechToText::from_config(&SttConfig::Whisper(WhisperConfig::default()))
            .unwrap_or_else(|e| panic!("loading Whisper: {e} ({e:?})"));
        eprintln!("whisper load: {:?}", started.elapsed());
        Models { tts, stt }
    })
}

async fn speak(text: &str) -> Audio {
    let started = Instant::now();
    let audio = models().tts.synthesize(text).await.expect("Piper synthesis");
    eprintln!(
        "piper synthesis: {:?} for {:.2} s of audio ({} words)",
        started.elapsed(),
        audio.duration().as_secs_f64(),
        text.split_whitespace().count()
    );
    audio
}

async fn listen(audio: &Audio) -> String {
    let started = Instant::now();
    let text = models()
        .stt
        .transcribe(audio)
        .await
        .expect("Whisper transcription");
    eprintln!(
        "whisper transcription: {:?} for {:.2} s of audio: {text:?}",
        started.elapsed(),
        audio.duration().as_secs_f64()
    );
    text
}

/// Lower case, letters and digits only, single spaces: "A.I. assistant" -> "ai assistant".
fn normalized(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_heard(text: &str) {
    let text = normalized(text);
    assert!(
        text.contains("ai assistant"),
        "transcript {text:?} lacks \"ai assistant\""
    );
    assert!(text.contains("hear me"), "transcript {text:?} lacks \"hear me\"");
}

fn rms(audio: &Audio) -> f64 {
    let energy: f64 = audio.samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (energy / audio.samples.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piper_speech_is_transcribed_by_whisper() {
    let audio = speak(SENTENCE).await;
    assert_eq!(audio.sample_rate, SampleRate::HZ_22050);
    let seconds = audio.duration().as_secs_f64();
    assert!((2.0..=8.0).contains(&seconds), "implausible duration {seconds} s");
    let peak = audio.samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak > 16_000, "peak {peak}: not normalized");
    assert!(rms(&audio) > 1_000.0, "rms {}: near silence", rms(&audio));

    // A second run shows the warm cost, which is what a call pays.
    let _ = speak(SENTENCE).await;

    let wideband = resample(&audio, SampleRate::HZ_16000);
    assert_heard(&listen(&wideband).await);
    // Warm again.
    let _ = listen(&wideband).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_survives_a_telephone_channel() {
    let audio = speak(SENTENCE).await;
    // What the caller's side would receive: 8 kHz, companded to G.711 mu-law and back.
    let narrowband = resample(&audio, SampleRate::HZ_8000);
    let companded = Audio::new(
        SampleRate::HZ_8000,
        narrowband
            .samples
            .iter()
            .map(|&s| mulaw_decode(mulaw_encode(s)))
            .collect(),
    );
    let wideband = resample(&companded, SampleRate::HZ_16000);
    assert_heard(&listen(&wideband).await);
    // The provider resamples by itself too.
    assert_heard(&listen(&companded).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piper_renders_sentence_by_sentence() {
    let TextToSpeech::Piper(piper) = &models().tts else {
        panic!("Piper expected")
    };
    let sentences = piper.sentences(SENTENCE).expect("phonemize");
    assert_eq!(sentences.len(), 2, "{sentences:?}");
    let started = Instant::now();
    let first = piper.synthesize_sentence(&sentences[0]).expect("first sentence");
    eprintln!(
        "piper first sentence: {:?} for {:.2} s",
        started.elapsed(),
        first.duration().as_secs_f64()
    );
    assert!(
        first.duration().as_secs_f64() > 1.0,
        "first sentence {:?}",
        first.duration()
    );
    assert!(piper.sentences("").expect("empty").is_empty());
    let silence = models().tts.synthesize("").await.expect("empty text");
    assert!(silence.is_empty());
}

#[tokio::test]
async fn whisper_returns_nothing_for_no_audio() {
    let text = models()
        .stt
        .transcribe(&Audio::new(SampleRate::HZ_16000, vec![]))
        .await
        .expect("empty");
    assert_eq!(text, "");
}

/// G.711 mu-law encoding of one sample (ITU-T G.711, with the usual 0x84 bias).
fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut magnitude = i32::from(sample);
    let sign = if magnitude < 0 {
        magnitude = -magnitude;
        0x80
    } else {
        0
    };
    magnitude = magnitude.min(CLIP) + BIAS;
    let mut exponent = 7;
    while exponent > 0 && magnitude & (0x80 << exponent) == 0 {
        exponent -= 1;
    }
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    // Sign, exponent and mantissa fit in 8 bits by construction.
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// G.711 mu-law decoding of one byte.
fn mulaw_decode(byte: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let byte = !byte;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    // At most 32124, within i16.
    (if byte & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

#[test]
fn mulaw_round_trip_is_close() {
    for sample in [0i16, 1, -1, 100, -100, 1_000, -8_000, 20_000, i16::MAX, i16::MIN] {
        let back = mulaw_decode(mulaw_encode(sample));
        let error = (i32::from(back) - i32::from(sample)).abs();
        assert!(
            error <= (i32::from(sample).abs() / 16).max(8) + 700,
            "{sample} -> {back}"
        );
    }
}
