//! Voices for scripted callees: one line of speech in a chosen engine and voice (Piper, espeak-ng,
//! flite), at a chosen rate, with line noise, band-limited and levelled as it would reach a phone
//! (`py/render_voice.py`); and the noise alone, for the line between utterances.
//!
//! Renders are deterministic (the same request gives the same bytes) and cached by a hash of the
//! script and the request under `<cache>/testaudio/voice-<sha256>.wav`.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::speech::{cache_dir, run_python};
use crate::{Result, TestbedError};

const SCRIPT: &str = include_str!("../py/render_voice.py");

/// How a line is spoken.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// `<engine>:<name>`: `piper:joe`, `espeak:<espeak-ng voice>` (`en-gb-scotland`, `en-us+m3`),
    /// `flite:<kal|kal16|awb|rms|slt>`.
    pub voice: String,
    /// Speaking-rate factor (above 1 is faster).
    pub rate: f32,
    /// Piper's sampling seed (the same voice with other prosody).
    pub seed: u32,
    /// Line noise: `white | pink | brown | babble`, its SNR in dB against the speech's active
    /// level, and its generator's seed.
    pub noise: Option<(String, f32, u32)>,
}

impl Voice {
    /// A clean line in `voice` at its natural rate.
    pub fn new(voice: &str) -> Self {
        Self {
            voice: voice.to_owned(),
            rate: 1.0,
            seed: 0,
            noise: None,
        }
    }

    fn request(&self, text: &str, pad_after_s: f32, beep: bool) -> Value {
        json!({
            "text": text,
            "voice": self.voice,
            "rate": self.rate,
            "seed": self.seed,
            "noise": self.noise.as_ref().map(|(kind, snr_db, seed)| json!({"kind": kind, "snr_db": snr_db, "seed": seed})),
            "pad_after_s": pad_after_s,
            "beep": beep,
        })
    }

    /// `text` spoken in this voice, then `pad_after_s` of the line (its noise, or silence); with
    /// `beep`, a 1 kHz beep of 0.5 s right after the words (an answering machine). Returns the
    /// 8 kHz mono 16-bit WAV and the seconds until the end of the words (and beep).
    pub async fn render(&self, text: &str, pad_after_s: f32, beep: bool) -> Result<(PathBuf, f32)> {
        if !pad_after_s.is_finite() || pad_after_s < 0.0 {
            return Err(TestbedError::BadSilence(pad_after_s));
        }
        let request = self.request(text, pad_after_s, beep);
        let key = {
            let mut hash = Sha256::new();
            hash.update(SCRIPT.as_bytes());
            hash.update(request.to_string().as_bytes());
            hex::encode(hash.finalize())
        };
        let dir = cache_dir()?.join("testaudio");
        let out = dir.join(format!("voice-{key}.wav"));
        let meta = dir.join(format!("voice-{key}.json"));
        if out.is_file()
            && let Some(spoken) = std::fs::read_to_string(&meta)
                .ok()
                .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                .and_then(|m| m["spoken_s"].as_f64())
        {
            return Ok((out, spoken as f32));
        }
        std::fs::create_dir_all(&dir).map_err(|source| TestbedError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let part = dir.join(format!(".voice-{key}.wav.part"));
        let mut full = request.clone();
        full["out"] = json!(part);
        let printed = run_python("render_voice.py", SCRIPT, &[], Some(full.to_string())).await?;
        let parsed: Value = serde_json::from_str(printed.trim()).map_err(|_| TestbedError::ToolOutput {
            tool: "render_voice.py",
            output: printed.clone(),
        })?;
        let seconds = parsed["seconds"]
            .as_f64()
            .ok_or_else(|| TestbedError::ToolOutput {
                tool: "render_voice.py",
                output: printed.clone(),
            })? as f32;
        let spoken = (seconds - pad_after_s).max(0.0);
        std::fs::rename(&part, &out).map_err(|source| TestbedError::WriteFile {
            path: out.clone(),
            source,
        })?;
        std::fs::write(&meta, json!({"spoken_s": spoken}).to_string()).map_err(|source| {
            TestbedError::WriteFile {
                path: meta.clone(),
                source,
            }
        })?;
        Ok((out, spoken))
    }

    /// The line with nobody speaking for `seconds`: its noise, or silence.
    pub async fn quiet_line(&self, seconds: f32) -> Result<PathBuf> {
        Ok(self.render("", seconds, false).await?.0)
    }
}
