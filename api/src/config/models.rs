//! Where each on-box model is, as the configuration decides it: a path set for that model wins,
//! else its usual name in the models directory ([`ModelsConfig::dir`](super::ModelsConfig::dir), the
//! one place the directory is decided). The server loads from these paths and `config check` looks
//! for them, so the two cannot disagree.

use super::{Config, TurnModelChoice, VadChoice};
use agent_runtime::speech::{PiperConfig, SttConfig, TtsConfig, WHISPER_MODEL_FILES};
use serde::Serialize;
use std::path::PathBuf;

/// One model file (or directory) the configuration needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelFile {
    /// The key that names it, or that names its directory.
    pub key: &'static str,
    /// What uses it.
    pub used_by: &'static str,
    /// Where it is looked for.
    pub path: PathBuf,
    /// Whether start-up fails without it (Smart Turn falls back to the silence rule instead).
    pub required: bool,
}

impl Config {
    /// The text-to-speech provider in effect, its model files in the models directory.
    pub fn tts(&self) -> TtsConfig {
        self.providers.tts(&self.models.dir())
    }

    /// The speech-to-text provider in effect, its named models in the models directory.
    pub fn stt(&self) -> SttConfig {
        self.providers.stt(&self.models.dir())
    }

    /// The ONNX Runtime library every on-box model shares (one environment per process): Piper's
    /// setting when Piper speaks, else the same default Piper would take.
    pub fn onnxruntime(&self) -> PathBuf {
        match self.tts() {
            TtsConfig::Piper(piper) => piper.onnxruntime_path(),
            _ => PiperConfig {
                models_dir: self.models.dir(),
                ..PiperConfig::default()
            }
            .onnxruntime_path(),
        }
    }

    /// The Silero VAD model.
    pub fn silero_model(&self) -> PathBuf {
        self.media
            .silero_model
            .clone()
            .unwrap_or_else(|| self.models.dir().join("silero_vad.onnx"))
    }

    /// The Smart Turn end-of-turn model.
    pub fn smart_turn_model(&self) -> PathBuf {
        self.media
            .smart_turn_model
            .clone()
            .unwrap_or_else(|| self.models.dir().join("smart-turn-v3.2-cpu.onnx"))
    }

    /// Every model file this configuration loads at start-up.
    pub fn model_files(&self) -> Vec<ModelFile> {
        let file = |key, used_by, path, required| ModelFile {
            key,
            used_by,
            path,
            required,
        };
        let mut files = Vec::new();
        let silero = self.media.vad == VadChoice::Silero;
        let piper = match self.tts() {
            TtsConfig::Piper(piper) => Some(piper),
            _ => None,
        };
        if silero || piper.is_some() {
            let key = if piper.as_ref().is_some_and(|p| p.onnxruntime.is_some()) {
                "providers.tts.onnxruntime"
            } else {
                "models.dir"
            };
            files.push(file(key, "ONNX Runtime", self.onnxruntime(), true));
        }
        if silero {
            let key = self
                .media
                .silero_model
                .as_ref()
                .map_or("models.dir", |_| "media.silero_model");
            files.push(file(key, "Silero VAD", self.silero_model(), true));
            if self.media.turn_model == TurnModelChoice::SmartTurn {
                let key = self
                    .media
                    .smart_turn_model
                    .as_ref()
                    .map_or("models.dir", |_| "media.smart_turn_model");
                files.push(file(key, "Smart Turn", self.smart_turn_model(), false));
            }
        }
        if let Some(piper) = piper {
            let key = piper
                .model
                .as_ref()
                .map_or("models.dir", |_| "providers.tts.model");
            files.push(file(key, "Piper voice", piper.model_path(), true));
            let key = piper
                .model_config
                .as_ref()
                .map_or(key, |_| "providers.tts.model_config");
            files.push(file(key, "Piper voice config", piper.model_config_path(), true));
        }
        if let SttConfig::Whisper(whisper) = self.stt() {
            let key = match whisper.model {
                agent_runtime::speech::WhisperModel::Dir(_) => "providers.stt.model",
                _ => "models.dir",
            };
            let dir = whisper.model_dir();
            for name in WHISPER_MODEL_FILES {
                files.push(file(key, "Whisper", dir.join(name), true));
            }
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn models_dir_moves_every_model_and_a_path_of_its_own_wins() {
        let config = Config::from_toml("[models]\ndir = \"/srv/models\"\n").expect("valid");
        let files = config.model_files();
        assert!(!files.is_empty());
        for file in &files {
            // ORT_DYLIB_PATH, when the environment sets it, names the runtime wherever it is.
            if file.used_by != "ONNX Runtime" || std::env::var_os("ORT_DYLIB_PATH").is_none() {
                assert!(file.path.starts_with("/srv/models"), "{file:?}");
            }
        }
        for used_by in ["Silero VAD", "Smart Turn", "Piper voice", "Whisper"] {
            assert!(files.iter().any(|f| f.used_by == used_by), "{used_by} missing");
        }
        let config =
            Config::from_toml("[models]\ndir = \"/srv/models\"\n[media]\nsilero_model = \"/opt/vad.onnx\"\n")
                .expect("valid");
        assert_eq!(config.silero_model(), Path::new("/opt/vad.onnx"));
        let silero = config
            .model_files()
            .into_iter()
            .find(|f| f.used_by == "Silero VAD");
        assert_eq!(silero.map(|f| f.key), Some("media.silero_model"));
        let TtsConfig::Piper(piper) = config.tts() else {
            panic!("piper is the default voice")
        };
        assert_eq!(piper.model_path(), Path::new("/srv/models/piper-voice.onnx"));
        let SttConfig::Whisper(whisper) = config.stt() else {
            panic!("whisper is the default recognizer")
        };
        assert_eq!(whisper.model_dir(), Path::new("/srv/models/whisper-tiny-en"));
    }

    #[test]
    fn remote_providers_and_the_energy_detector_need_no_model() {
        let config = Config::from_toml(
            "[media]\nvad = \"energy\"\n[providers.tts]\nprovider = \"openai\"\n\
             [providers.stt]\nprovider = \"openai\"\n",
        )
        .expect("valid");
        assert_eq!(config.model_files(), []);
    }
}
