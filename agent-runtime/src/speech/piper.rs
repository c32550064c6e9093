//! On-box text-to-speech: a Piper VITS voice run through ONNX Runtime (`ort`), fed with IPA
//! phonemes from espeak-ng.
//!
//! Text is phonemized into sentences ([`espeak`](super::espeak)), each sentence is mapped to the
//! voice's phoneme ids and rendered in one inference, and the result is peak-normalized to 16 bits.
//! Rendering sentence by sentence lets the caller start playing the first sentence while the rest
//! is still being computed ([`PiperTts::sentences`] + [`PiperTts::synthesize_sentence`]).
//!
//! ONNX Runtime is loaded at run time from `libonnxruntime.so` (ort's `load-dynamic`), since ort's
//! own download cannot work offline. ort allows one environment per process, so every ort user in
//! Ringback gets it from [`onnx_environment`] (kept in `media_core::analysis::onnx`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use media_core::analysis::onnx::quiet_session;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use super::espeak::Phonemizer;
use super::{Audio, PiperConfig, SampleRate, SpeechError, require_file};

/// Beginning of utterance.
const BOS: char = '^';
/// End of utterance.
const EOS: char = '$';
/// Padding, put after every phoneme (Piper was trained that way).
const PAD: char = '_';

/// Loads ONNX Runtime (once per process) and returns the process-wide environment, which lives in
/// media-core so that Silero VAD and Piper share it (ort refuses a second environment per process).
pub fn onnx_environment(dylib: &Path) -> Result<Environment, SpeechError> {
    use media_core::analysis::onnx::OnnxEnvError;
    media_core::analysis::onnx::onnx_environment(dylib).map_err(|err| match err {
        OnnxEnvError::LibraryMissing { path } => SpeechError::ModelMissing { path },
        OnnxEnvError::Load { path, source } => SpeechError::OnnxRuntimeLoad { path, source },
        OnnxEnvError::Build(source) => SpeechError::Onnx(source),
        // The enum is non-exhaustive; anything newer is still an ONNX Runtime failure to set up.
        other => SpeechError::Onnx(ort::Error::new(other.to_string())),
    })
}

/// The parts of a Piper voice's `.onnx.json` that inference needs.
#[derive(Debug, Clone)]
pub struct PiperVoice {
    /// Output sample rate.
    pub sample_rate: SampleRate,
    /// `[noise_scale, length_scale, noise_w]`, the model's `scales` input.
    pub scales: [f32; 3],
    /// espeak-ng voice the phonemes must come from.
    pub espeak_voice: String,
    /// Number of speakers; above one the model takes a `sid` input.
    pub num_speakers: u32,
    id_map: HashMap<char, Vec<i64>>,
    phoneme_map: HashMap<char, Vec<char>>,
}

#[derive(Deserialize)]
struct RawVoice {
    audio: RawAudio,
    espeak: RawEspeak,
    inference: RawInference,
    #[serde(default = "espeak_type")]
    phoneme_type: String,
    #[serde(default)]
    phoneme_map: HashMap<String, Vec<String>>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    num_speakers: u32,
}

#[derive(Deserialize)]
struct RawAudio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct RawEspeak {
    voice: String,
}

#[derive(Deserialize)]
struct RawInference {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

fn espeak_type() -> String {
    "espeak".to_owned()
}

fn one() -> u32 {
    1
}

/// A single code point, or `None` for keys that are not exactly one.
fn single_char(key: &str) -> Option<char> {
    let mut chars = key.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

impl PiperVoice {
    /// Parses a voice config (`piper-voice.onnx.json`).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let raw: RawVoice = serde_json::from_str(json)?;
        Self::from_raw(raw).map_err(serde::de::Error::custom)
    }

    fn from_raw(raw: RawVoice) -> Result<Self, &'static str> {
        if raw.phoneme_type != "espeak" {
            return Err("only espeak phoneme voices are supported");
        }
        let sample_rate = SampleRate::new(raw.audio.sample_rate).ok_or("audio.sample_rate is zero")?;
        // Every key of a Piper map is one code point; anything else could never match a phoneme.
        let id_map: HashMap<char, Vec<i64>> = raw
            .phoneme_id_map
            .into_iter()
            .filter_map(|(k, v)| Some((single_char(&k)?, v)))
            .collect();
        for required in [BOS, EOS, PAD] {
            if !id_map.contains_key(&required) {
                return Err("phoneme_id_map lacks one of ^ $ _");
            }
        }
        let phoneme_map = raw
            .phoneme_map
            .into_iter()
            .filter_map(|(k, v)| Some((single_char(&k)?, v.iter().flat_map(|s| s.chars()).collect())))
            .collect();
        Ok(Self {
            sample_rate,
            scales: [
                raw.inference.noise_scale,
                raw.inference.length_scale,
                raw.inference.noise_w,
            ],
            espeak_voice: raw.espeak.voice,
            num_speakers: raw.num_speakers,
            id_map,
            phoneme_map,
        })
    }

    /// Maps one sentence of phonemes to model input ids: `^`, `_`, then every phoneme followed by
    /// `_`, then `$`. Phonemes are taken per code point after NFD normalization (so `ç` is `c` plus a
    /// combining cedilla, as in training); those the voice does not know are skipped.
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(2 * phonemes.len() + 3);
        let push = |c: char, ids: &mut Vec<i64>| match self.id_map.get(&c) {
            Some(mapped) => {
                ids.extend_from_slice(mapped);
                true
            }
            None => false,
        };
        push(BOS, &mut ids);
        push(PAD, &mut ids);
        for phoneme in phonemes.nfd() {
            let mapped = self
                .phoneme_map
                .get(&phoneme)
                .map_or(std::slice::from_ref(&phoneme), Vec::as_slice);
            for &phoneme in mapped {
                if push(phoneme, &mut ids) {
                    push(PAD, &mut ids);
                } else {
                    tracing::debug!(?phoneme, "phoneme not in the voice's id map; skipped");
                }
            }
        }
        push(EOS, &mut ids);
        ids
    }
}

/// A loaded Piper voice. Cheap to clone: the session and the maps are shared.
#[derive(Clone)]
pub struct PiperTts {
    inner: Arc<Inner>,
}

struct Inner {
    /// `Session::run` takes `&mut self`; one inference at a time per voice is also what a 2-core
    /// box can afford.
    session: Mutex<Session>,
    voice: PiperVoice,
    phonemizer: Phonemizer,
    /// Set when the model has a `sid` input (multi-speaker voices).
    speaker_id: Option<i64>,
    sentence_pause: Duration,
}

impl std::fmt::Debug for PiperTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperTts")
            .field("sample_rate", &self.inner.voice.sample_rate)
            .field("espeak_voice", &self.inner.voice.espeak_voice)
            .finish_non_exhaustive()
    }
}

impl PiperTts {
    /// Loads ONNX Runtime (once per process), the voice and its config, and espeak-ng. Blocks for
    /// most of a second.
    pub fn load(config: &PiperConfig) -> Result<Self, SpeechError> {
        let model = config.model_path();
        let config_path = config.model_config_path();
        require_file(&model)?;
        require_file(&config_path)?;
        let json = std::fs::read_to_string(&config_path).map_err(|source| SpeechError::ReadFile {
            path: config_path.clone(),
            source,
        })?;
        let voice = PiperVoice::from_json(&json).map_err(|source| SpeechError::VoiceConfig {
            path: config_path.clone(),
            source,
        })?;
        let phonemizer = Phonemizer::new(config.espeak_voice.as_deref().unwrap_or(&voice.espeak_voice))?;

        let environment = onnx_environment(&config.onnxruntime_path())?;
        let session = quiet_session(&environment, &model, config.threads)?;
        let takes_sid = session.inputs().iter().any(|input| input.name() == "sid");
        Ok(Self {
            inner: Arc::new(Inner {
                session: Mutex::new(session),
                voice,
                phonemizer,
                speaker_id: takes_sid.then_some(config.speaker_id),
                sentence_pause: Duration::from_millis(u64::from(config.sentence_pause_ms)),
            }),
        })
    }

    /// The voice's output rate.
    pub fn sample_rate(&self) -> SampleRate {
        self.inner.voice.sample_rate
    }

    /// The voice's config, as loaded.
    pub fn voice(&self) -> &PiperVoice {
        &self.inner.voice
    }

    /// Phonemizes `text` into sentences, the unit of [`synthesize_sentence`](Self::synthesize_sentence).
    pub fn sentences(&self, text: &str) -> Result<Vec<String>, SpeechError> {
        Ok(self.inner.phonemizer.sentences(text)?)
    }

    /// Renders one sentence of phonemes (from [`sentences`](Self::sentences)) as audio, peak-
    /// normalized. Blocks for roughly a tenth of the audio's duration.
    pub fn synthesize_sentence(&self, phonemes: &str) -> Result<Audio, SpeechError> {
        let ids = self.inner.voice.phoneme_ids(phonemes);
        let samples = self.infer(ids)?;
        Ok(Audio::new(self.inner.voice.sample_rate, normalize(&samples)))
    }

    /// Renders every sentence of `text`, one [`Audio`] each.
    pub fn synthesize_sentences(&self, text: &str) -> Result<Vec<Audio>, SpeechError> {
        self.sentences(text)?
            .iter()
            .map(|sentence| self.synthesize_sentence(sentence))
            .collect()
    }

    /// Renders `text` in one piece, sentences joined by the configured pause.
    pub fn synthesize_blocking(&self, text: &str) -> Result<Audio, SpeechError> {
        let rate = self.inner.voice.sample_rate;
        let pause = Audio::silence(rate, self.inner.sentence_pause);
        let mut out = Audio::new(rate, Vec::new());
        for (i, sentence) in self.synthesize_sentences(text)?.into_iter().enumerate() {
            if i > 0 {
                out.samples.extend_from_slice(&pause.samples);
            }
            out.samples.extend_from_slice(&sentence.samples);
        }
        Ok(out)
    }

    /// One inference: ids in, float audio out.
    fn infer(&self, ids: Vec<i64>) -> Result<Vec<f32>, SpeechError> {
        let len = ids.len();
        // Lengths of a few thousand ids at most; i64 holds them.
        let mut inputs: Vec<(&str, DynValue)> = vec![
            ("input", Tensor::from_array(([1usize, len], ids))?.into_dyn()),
            (
                "input_lengths",
                Tensor::from_array(([1usize], vec![len as i64]))?.into_dyn(),
            ),
            (
                "scales",
                Tensor::from_array(([3usize], self.inner.voice.scales.to_vec()))?.into_dyn(),
            ),
        ];
        if let Some(sid) = self.inner.speaker_id {
            inputs.push(("sid", Tensor::from_array(([1usize], vec![sid]))?.into_dyn()));
        }
        // A panic while the lock was held cannot leave the session half-updated: `run` either
        // returned or unwound out of ONNX Runtime's C API, which keeps no state between runs.
        let mut session = self.inner.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(inputs)?;
        // Piper voices have one output, the waveform, shaped [1, 1, samples].
        let waveform = outputs.values().next().ok_or(SpeechError::NoModelOutput)?;
        let (_, audio) = waveform.try_extract_tensor::<f32>()?;
        Ok(audio.to_vec())
    }
}

/// Scales float audio so its peak sits at full scale (as Piper does; the voice's raw level varies
/// from sentence to sentence), then converts to 16 bits. Near-silence is not blown up.
fn normalize(samples: &[f32]) -> Vec<i16> {
    let peak = samples.iter().fold(0.0f32, |peak, s| peak.max(s.abs())).max(0.01);
    let gain = 32_767.0 / peak;
    // After the clamp the value is within i16's range, so the cast is exact up to rounding.
    samples
        .iter()
        .map(|s| (s * gain).round().clamp(-32_767.0, 32_767.0) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOICE: &str = r#"{
        "audio": {"sample_rate": 22050},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], ",": [8], ".": [10], "a": [14],
                           "c": [16], "h": [20], "\u0327": [140], "ˈ": [120], "ab": [99]},
        "num_speakers": 1
    }"#;

    #[test]
    fn ids_are_bos_pad_then_phoneme_pad_pairs_then_eos() {
        let voice = PiperVoice::from_json(VOICE).expect("voice");
        assert_eq!(voice.sample_rate, SampleRate::HZ_22050);
        assert_eq!(voice.scales, [0.667, 1.0, 0.8]);
        assert_eq!(voice.phoneme_ids(""), [1, 0, 2]);
        assert_eq!(
            voice.phoneme_ids("hˈa, a."),
            [1, 0, 20, 0, 120, 0, 14, 0, 8, 0, 3, 0, 14, 0, 10, 0, 2]
        );
    }

    #[test]
    fn ids_use_nfd_code_points_and_skip_unknown_phonemes() {
        let voice = PiperVoice::from_json(VOICE).expect("voice");
        // Precomposed ç (U+00E7) becomes c + combining cedilla (U+0327).
        assert_eq!(voice.phoneme_ids("\u{e7}"), [1, 0, 16, 0, 140, 0, 2]);
        // `z` is unknown: dropped with its padding, not mapped to something else.
        assert_eq!(voice.phoneme_ids("aza"), [1, 0, 14, 0, 14, 0, 2]);
    }

    #[test]
    fn phoneme_map_substitutes_before_ids() {
        let json = VOICE.replace(r#""phoneme_map": {}"#, r#""phoneme_map": {"x": ["a", "h"]}"#);
        let voice = PiperVoice::from_json(&json).expect("voice");
        assert_eq!(voice.phoneme_ids("x"), [1, 0, 14, 0, 20, 0, 2]);
    }

    #[test]
    fn voice_config_is_validated() {
        let text_voice = VOICE.replace(r#""phoneme_type": "espeak""#, r#""phoneme_type": "text""#);
        assert!(PiperVoice::from_json(&text_voice).is_err());
        let no_pad = VOICE.replace(r#""_": [0], "#, "");
        assert!(PiperVoice::from_json(&no_pad).is_err());
    }

    #[test]
    fn normalize_brings_the_peak_to_full_scale() {
        assert_eq!(normalize(&[0.25, -0.5, 0.0]), [16_384, -32_767, 0]);
        // Near-silence keeps its level instead of being amplified into noise.
        assert_eq!(normalize(&[0.001]), [3_277]);
    }
}
