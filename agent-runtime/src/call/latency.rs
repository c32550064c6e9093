//! Per-turn latency: from the end of the caller's speech to the agent's first audio, split by stage,
//! so a slow turn says where its time went.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Where one turn's time went, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnLatency {
    /// End of speech to the end-of-turn decision (the trailing silence the endpointer waits for).
    pub endpointing_ms: u64,
    /// Speech to text.
    pub stt_ms: u64,
    /// First token of the language model (0 for the deterministic engine).
    pub llm_first_token_ms: u64,
    /// Text to the first sentence's audio.
    pub tts_first_audio_ms: u64,
    /// The server's own share: queueing and decisions between the stages, and handing the audio to the
    /// media layer.
    pub server_ms: u64,
    /// End of speech to the first audio handed to the media layer.
    pub total_ms: u64,
}

/// Timestamps collected while a turn is in flight.
#[derive(Debug, Clone)]
pub struct Probe {
    /// When the caller stopped speaking.
    pub speech_end: Instant,
    /// When the utterance was handed over (end of turn decided).
    pub utterance_at: Instant,
    /// When the transcript came back.
    pub transcript_at: Option<Instant>,
    /// Time to the language model's first token.
    pub llm_first_token_ms: u64,
    /// When rendering of the first sentence started and ended.
    pub tts: Option<(Instant, Instant)>,
}

fn ms(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u64::MAX)
}

impl Probe {
    /// Closes the probe when the first audio is handed to the media layer at `played_at`.
    pub fn finish(&self, played_at: Instant) -> Option<TurnLatency> {
        let transcript_at = self.transcript_at?;
        let (tts_start, tts_end) = self.tts?;
        let endpointing_ms = ms(self.speech_end, self.utterance_at);
        let stt_ms = ms(self.utterance_at, transcript_at);
        let tts_first_audio_ms = ms(tts_start, tts_end);
        let total_ms = ms(self.speech_end, played_at);
        let server_ms =
            total_ms.saturating_sub(endpointing_ms + stt_ms + self.llm_first_token_ms + tts_first_audio_ms);
        Some(TurnLatency {
            endpointing_ms,
            stt_ms,
            llm_first_token_ms: self.llm_first_token_ms,
            tts_first_audio_ms,
            server_ms,
            total_ms,
        })
    }
}
