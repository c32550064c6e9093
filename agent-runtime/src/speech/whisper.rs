//! On-box speech-to-text: Whisper (tiny.en by default) through CTranslate2 (`ct2rs`), int8 on CPU.
//!
//! Every call pays for a full 30 s encoder window whatever the utterance length, so a 3 s turn and
//! a 10 s turn cost about the same; greedy decoding (beam 1) keeps the decoder share small.

use std::sync::Arc;

use ct2rs::{ComputeType, Config, Whisper, WhisperOptions};

use super::{Audio, SampleRate, SpeechError, WhisperConfig, require_file, resample};

/// A loaded Whisper model. Cheap to clone; CTranslate2 serializes calls on its replica itself.
#[derive(Clone)]
pub struct WhisperStt {
    model: Arc<Whisper>,
    language: Arc<str>,
    beam_size: usize,
}

impl std::fmt::Debug for WhisperStt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperStt")
            .field("language", &self.language)
            .field("beam_size", &self.beam_size)
            .finish_non_exhaustive()
    }
}

impl WhisperStt {
    /// Loads the CTranslate2 model directory. Blocks for about half a second.
    pub fn load(config: &WhisperConfig) -> Result<Self, SpeechError> {
        // ct2rs reports a missing file as a bare C++ exception; name it ourselves.
        for file in [
            "model.bin",
            "config.json",
            "vocabulary.txt",
            "tokenizer.json",
            "preprocessor_config.json",
        ] {
            require_file(&config.model_dir.join(file))?;
        }
        let ct2_config = Config {
            num_threads_per_replica: config.threads.max(1),
            compute_type: ComputeType::INT8,
            ..Config::default()
        };
        let model =
            Whisper::new(&config.model_dir, ct2_config).map_err(|e| SpeechError::Whisper(e.into()))?;
        Ok(Self {
            model: Arc::new(model),
            language: config.language.as_str().into(),
            beam_size: config.beam_size.max(1),
        })
    }

    /// Transcribes one utterance at any rate (resampled to 16 kHz here); returns the trimmed text,
    /// empty for silence. Blocks for most of a second on two cores.
    pub fn transcribe_blocking(&self, audio: &Audio) -> Result<String, SpeechError> {
        if audio.is_empty() {
            return Ok(String::new());
        }
        let audio = resample(audio, SampleRate::HZ_16000);
        self.transcribe_16k(&audio.to_f32())
    }

    /// Transcribes 16 kHz samples in `[-1, 1]`.
    pub fn transcribe_16k(&self, samples: &[f32]) -> Result<String, SpeechError> {
        let options = WhisperOptions {
            beam_size: self.beam_size,
            ..WhisperOptions::default()
        };
        let chunks = self
            .model
            .generate(samples, Some(&self.language), false, &options)
            .map_err(|e| SpeechError::Whisper(e.into()))?;
        let text: Vec<&str> = chunks
            .iter()
            .map(|chunk| chunk.trim())
            .filter(|c| !c.is_empty())
            .collect();
        Ok(text.join(" "))
    }
}
