//! On-box speech-to-text: Whisper (tiny.en or the multilingual base) through CTranslate2
//! (`ct2rs`), int8 on CPU.
//!
//! Every call pays for a full 30 s encoder window whatever the utterance length, so a 3 s turn and
//! a 10 s turn cost about the same; greedy decoding (beam 1) keeps the decoder share small.
//!
//! We drive ct2rs's low-level `sys::Whisper` rather than its `Whisper::generate`, which builds its
//! own decoder prompt. Ours can start with the turn's hints as previous text:
//!
//! ```text
//! <|startofprev|> Priya Raman, Lakeside Dental, Thursday at 10 AM. <|startoftranscript|> [<|en|> <|transcribe|>] <|notimestamps|>
//! ```
//!
//! (English-only models were trained without the language and task tokens, and are more accurate
//! without them.) CTranslate2 feeds the prompt into the decoder and returns only what it generates
//! after it, so prompt tokens cannot come back as such; special tokens the decoder does generate are
//! dropped here, and [`super::cleanup`] catches anything else. Because the encoder output does not
//! depend on the prompt, [`WhisperStt::encode`] and [`WhisperStt::decode`] are separate: a decode
//! that wrote the hint back ([`SttHints::echoed_by`]) or looped is redone without the hint at the
//! price of the decoder alone, and the word-error-rate bench decodes one encoding both ways.
//!
//! The log-mel features are computed as ct2rs computes them (per-frame normalization, zero
//! padding), so a decode without hints is what `Whisper::generate` gave before.

use std::path::Path;
use std::sync::Arc;

use ct2rs::Tokenizer as _;
use ct2rs::sys::{self, ComputeType, Config, StorageView, WhisperOptions};
use ct2rs::tokenizers::hf;
use mel_spec::mel::{log_mel_spectrogram, mel, norm_mel};
use mel_spec::stft::Spectrogram;
use ndarray::{Array2, Array3, s};
use serde::Deserialize;

use super::cleanup::loop_free_len;
use super::hints::SttHints;
use super::{Audio, SampleRate, SpeechError, WhisperConfig, require_file, resample};

/// At most this many prompt tokens: half what Whisper's decoder takes as previous text (223).
/// [`SttHints`] keeps its text far shorter; this only bounds what a caller of [`WhisperStt::decode`]
/// could do with a hint built elsewhere.
const MAX_PROMPT_TOKENS: usize = 112;

/// Generated tokens allowed per chunk: this many, plus [`TOKENS_PER_SECOND`] per second of audio
/// (capped at Whisper's 224). Speech is at most about five tokens a second, spelled addresses and
/// digits a few more; a decoder stuck in a loop stops here instead of at 224 tokens.
const BASE_TOKENS: f32 = 16.0;
/// See [`BASE_TOKENS`].
const TOKENS_PER_SECOND: f32 = 10.0;
/// Whisper's own limit on generated tokens per window.
const MAX_GENERATED: usize = 224;

/// A loaded Whisper model. Cheap to clone; CTranslate2 serializes calls on its replica itself.
#[derive(Clone)]
pub struct WhisperStt {
    inner: Arc<Model>,
}

struct Model {
    whisper: sys::Whisper,
    tokenizer: hf::Tokenizer,
    features: Features,
    /// The prompt from `<|startoftranscript|>` on.
    task: Vec<String>,
    beam_size: usize,
    short_windows: bool,
}

impl std::fmt::Debug for WhisperStt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperStt")
            .field("task", &self.inner.task)
            .field("beam_size", &self.inner.beam_size)
            .finish_non_exhaustive()
    }
}

/// One utterance through the encoder, ready to be decoded (with or without hints).
pub struct Encoded {
    output: StorageView<'static>,
    chunks: usize,
    /// The longest chunk's length, which bounds how many tokens a decode may take.
    chunk_seconds: f32,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("chunks", &self.chunks)
            .field("chunk_seconds", &self.chunk_seconds)
            .finish_non_exhaustive()
    }
}

/// What one decode produced.
struct Generated {
    text: String,
    /// The decoder looped and the loop was cut off.
    looped: bool,
}

/// CTranslate2's errors (`anyhow`) as ours.
fn ct2(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SpeechError {
    SpeechError::Whisper(e.into())
}

impl WhisperStt {
    /// Loads the CTranslate2 model directory the configuration names. Blocks for about half a
    /// second (tiny.en) to a second (base).
    pub fn load(config: &WhisperConfig) -> Result<Self, SpeechError> {
        let dir = config.model_dir();
        // ct2rs reports a missing file as a bare C++ exception; name it ourselves.
        for file in super::WHISPER_MODEL_FILES {
            require_file(&dir.join(file))?;
        }
        let ct2_config = Config {
            num_threads_per_replica: config.threads.max(1),
            compute_type: ComputeType::INT8,
            ..Config::default()
        };
        let whisper = sys::Whisper::new(&dir, ct2_config).map_err(ct2)?;
        let mut tokenizer = hf::Tokenizer::new(&dir).map_err(ct2)?;
        // The hint is plain text: no `<|endoftext|>` or other template tokens around it.
        tokenizer.disable_spacial_token();
        let features = Features::read(&dir.join("preprocessor_config.json"))?;
        let mut task = vec!["<|startoftranscript|>".to_owned()];
        if whisper.is_multilingual() {
            // Without a language, a multilingual model guesses one per utterance; on short phone
            // answers it guesses wrong often enough to matter.
            task.push(format!("<|{}|>", config.language));
            task.push("<|transcribe|>".to_owned());
        }
        task.push("<|notimestamps|>".to_owned());
        Ok(Self {
            inner: Arc::new(Model {
                whisper,
                tokenizer,
                features,
                task,
                beam_size: config.beam_size.max(1),
                short_windows: config.short_windows,
            }),
        })
    }

    /// Transcribes one utterance at any rate (resampled to 16 kHz here), biased towards `hints`;
    /// returns the trimmed text, empty for no audio. Blocks for most of a second on two cores.
    pub fn transcribe_blocking(&self, audio: &Audio, hints: &SttHints) -> Result<String, SpeechError> {
        match self.encode(audio)? {
            Some(encoded) => self.decode(&encoded, hints),
            None => Ok(String::new()),
        }
    }

    /// Runs the encoder over `audio` (any rate): the expensive, hint-independent half of a
    /// transcription. `None` for no audio.
    pub fn encode(&self, audio: &Audio) -> Result<Option<Encoded>, SpeechError> {
        if audio.is_empty() {
            return Ok(None);
        }
        let samples = resample(audio, SampleRate::HZ_16000).to_f32();
        let model = &self.inner;
        let (mut mel, chunks) = model.features.log_mel(&samples, model.short_windows);
        if chunks == 0 {
            return Ok(None);
        }
        let shape = mel.shape().to_vec();
        let Some(data) = mel.as_slice_mut() else {
            // Invariant: log_mel returns a standard-layout array; a slice of it always exists.
            return Err(SpeechError::Whisper("log-mel features not contiguous".into()));
        };
        let features = StorageView::new(&shape, data, Default::default()).map_err(ct2)?;
        let output = model.whisper.encode(&features, false).map_err(ct2)?;
        let chunk_samples = samples.len().min(model.features.n_samples);
        Ok(Some(Encoded {
            output,
            chunks,
            chunk_seconds: chunk_samples as f32 / model.features.sampling_rate as f32,
        }))
    }

    /// Decodes an encoded utterance, with `hints` as the text before it. When that decode looped
    /// or is little more than the hint written back, the hint is taken for the cause and the
    /// utterance is decoded again without it.
    pub fn decode(&self, encoded: &Encoded, hints: &SttHints) -> Result<String, SpeechError> {
        let previous = self.prompt_tokens(hints)?;
        let hinted = self.generate(encoded, &previous)?;
        if previous.is_empty() || !(hinted.looped || hints.echoed_by(&hinted.text)) {
            return Ok(hinted.text);
        }
        tracing::debug!(
            looped = hinted.looped,
            "the hinted decode looped or wrote the hint back; decoding without the hint"
        );
        Ok(self.generate(encoded, &[])?.text)
    }

    /// The hint's text as Whisper tokens (with the leading space Whisper's own prompts have), no
    /// special tokens, at most [`MAX_PROMPT_TOKENS`] (the first ones: hints come most important
    /// first).
    fn prompt_tokens(&self, hints: &SttHints) -> Result<Vec<String>, SpeechError> {
        let Some(text) = hints.prompt() else {
            return Ok(Vec::new());
        };
        let mut tokens = self.inner.tokenizer.encode(&format!(" {text}")).map_err(ct2)?;
        tokens.retain(|t| !is_special(t));
        tokens.truncate(MAX_PROMPT_TOKENS);
        Ok(tokens)
    }

    fn generate(&self, encoded: &Encoded, previous: &[String]) -> Result<Generated, SpeechError> {
        let model = &self.inner;
        let mut prompt: Vec<&str> = Vec::with_capacity(previous.len() + 1 + model.task.len());
        if !previous.is_empty() {
            prompt.push("<|startofprev|>");
            prompt.extend(previous.iter().map(String::as_str));
        }
        prompt.extend(model.task.iter().map(String::as_str));
        let budget = ((BASE_TOKENS + TOKENS_PER_SECOND * encoded.chunk_seconds) as usize).min(MAX_GENERATED);
        // CTranslate2 generates at most min(max_length / 2, max_length - prompt tokens before the
        // last one): this max_length makes that exactly `budget`.
        let max_length = (2 * budget).max(prompt.len() - 1 + budget);
        let options = WhisperOptions {
            beam_size: model.beam_size,
            max_length,
            ..WhisperOptions::default()
        };
        let results = model
            .whisper
            .generate(&encoded.output, &vec![prompt; encoded.chunks], &options)
            .map_err(ct2)?;
        let mut texts = Vec::with_capacity(results.len());
        let mut looped = false;
        for result in results {
            let Some(tokens) = result.sequences.into_iter().next() else {
                continue;
            };
            // Timestamps and other special tokens are never words (`<|notimestamps|>` once leaked
            // into a caller's turn).
            let mut tokens: Vec<String> = tokens.into_iter().filter(|t| !is_special(t)).collect();
            let keep = loop_free_len(&tokens);
            looped |= keep < tokens.len();
            tokens.truncate(keep);
            let text = model.tokenizer.decode(tokens).map_err(ct2)?;
            let text = text.trim();
            if !text.is_empty() {
                texts.push(text.to_owned());
            }
        }
        Ok(Generated {
            text: texts.join(" "),
            looped,
        })
    }
}

/// `<|...|>`: a special token (task, language, timestamp, end of text), never a word.
fn is_special(token: &str) -> bool {
    token.starts_with("<|") && token.ends_with("|>")
}

/// The feature extractor's settings (`preprocessor_config.json`), and the mel filters.
struct Features {
    n_fft: usize,
    hop_length: usize,
    n_samples: usize,
    nb_max_frames: usize,
    feature_size: usize,
    sampling_rate: usize,
    filters: Array2<f64>,
}

#[derive(Deserialize)]
struct PreprocessorConfig {
    feature_size: usize,
    hop_length: usize,
    n_fft: usize,
    n_samples: usize,
    nb_max_frames: usize,
    sampling_rate: usize,
    #[serde(default)]
    mel_filters: Option<Vec<Vec<f64>>>,
}

impl Features {
    fn read(path: &Path) -> Result<Self, SpeechError> {
        let bytes = std::fs::read(path).map_err(|source| SpeechError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let config: PreprocessorConfig =
            serde_json::from_slice(&bytes).map_err(|source| SpeechError::WhisperConfig {
                path: path.to_owned(),
                source,
            })?;
        if config.hop_length == 0 || config.n_fft < config.hop_length || config.n_samples == 0 {
            return Err(SpeechError::Whisper(
                "preprocessor_config.json: hop_length, n_fft or n_samples out of range".into(),
            ));
        }
        let filters = match config.mel_filters {
            Some(rows) => {
                let cols = rows.first().map_or(0, Vec::len);
                Array2::from_shape_vec((rows.len(), cols), rows.into_iter().flatten().collect())
                    .map_err(ct2)?
            }
            None => mel(
                config.sampling_rate as f64,
                config.n_fft,
                config.feature_size,
                None,
                None,
                false,
                true,
            ),
        };
        if filters.nrows() != config.feature_size || filters.ncols() != config.n_fft / 2 + 1 {
            return Err(SpeechError::Whisper(
                "preprocessor_config.json: mel_filters do not match feature_size and n_fft".into(),
            ));
        }
        Ok(Self {
            n_fft: config.n_fft,
            hop_length: config.hop_length,
            n_samples: config.n_samples,
            nb_max_frames: config.nb_max_frames,
            feature_size: config.feature_size,
            sampling_rate: config.sampling_rate,
            filters,
        })
    }

    /// Log-mel features of `samples` in windows of `n_samples` (30 s), as ct2rs computes them:
    /// `[windows, feature_size, frames]`, zero beyond the audio. `frames` is `nb_max_frames`, or
    /// with `short` and audio shorter than one window, the audio's frames plus a second of
    /// padding, rounded up to a multiple of 100 (the encoder halves it; the decoder attends over
    /// what is left).
    fn log_mel(&self, samples: &[f32], short: bool) -> (Array3<f32>, usize) {
        let mut stft = Spectrogram::new(self.n_fft, self.hop_length);
        let chunks = samples.len().div_ceil(self.n_samples);
        let frames = if short && chunks == 1 {
            let per_second = self.sampling_rate / self.hop_length.max(1);
            (samples.len() / self.hop_length + per_second)
                .div_ceil(100)
                .saturating_mul(100)
                .min(self.nb_max_frames)
        } else {
            self.nb_max_frames
        };
        let mut out = Array3::<f32>::zeros((chunks, self.feature_size, frames));
        for (c, chunk) in samples.chunks(self.n_samples).enumerate() {
            for (i, frame) in chunk.chunks(self.hop_length).enumerate() {
                if i >= frames {
                    break;
                }
                if let Some(fft) = stft.add(frame) {
                    let mel = norm_mel(&log_mel_spectrogram(&fft, &self.filters));
                    let column = mel.slice(s![.., 0]).mapv(|v| v as f32);
                    out.slice_mut(s![c, .., i]).assign(&column);
                }
            }
        }
        (out, chunks)
    }
}
