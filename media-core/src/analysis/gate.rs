//! The cheap first gate: WebRTC's VAD (GMM over six sub-bands, ~1-3 us a frame) decides whether a
//! frame could be speech at all, so silence and steady noise never reach Silero.
//!
//! The `webrtc-vad` crate wraps libfvad behind a raw pointer, which makes its `Vad` neither `Send`
//! nor `Sync`. An analyzer must move into the task or thread that runs a call, so this module
//! asserts `Send` for a wrapper that owns the instance exclusively.
#![allow(unsafe_code)]

use webrtc_vad::{SampleRate, Vad, VadMode};

use crate::analysis::rate::{AnalysisRate, level_dbfs};

/// Frames quieter than this are silence without asking the VAD, in dBFS.
const SILENCE_DBFS: f32 = -60.0;

/// The gate of one stream.
pub struct VoiceGate {
    vad: Vad,
    frame_samples: usize,
}

// SAFETY: libfvad's instance is a plain heap struct with no thread affinity and no global state;
// `VoiceGate` owns it exclusively (the pointer is never shared or cloned) and every use goes
// through `&mut self`, so moving it to another thread is sound. It is not `Sync`.
unsafe impl Send for VoiceGate {}

impl std::fmt::Debug for VoiceGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceGate")
            .field("frame_samples", &self.frame_samples)
            .finish_non_exhaustive()
    }
}

impl VoiceGate {
    /// A gate for 20 ms frames at `rate`, in libfvad's least aggressive mode: a gate must let all
    /// speech through, and Silero rejects the noise it also lets through.
    pub fn new(rate: AnalysisRate) -> Self {
        let vad_rate = match rate {
            AnalysisRate::Hz8000 => SampleRate::Rate8kHz,
            AnalysisRate::Hz16000 => SampleRate::Rate16kHz,
        };
        VoiceGate {
            vad: Vad::new_with_rate_and_mode(vad_rate, VadMode::Quality),
            frame_samples: rate.frame_samples(),
        }
    }

    /// Whether the 20 ms `frame` may hold speech. A frame of the wrong length counts as voice:
    /// a gate that fails must fail open.
    pub fn is_voice(&mut self, frame: &[i16]) -> bool {
        if frame.len() != self.frame_samples {
            return true;
        }
        if level_dbfs(frame) < SILENCE_DBFS {
            return false;
        }
        self.vad.is_voice_segment(frame).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_closed_and_a_loud_voiced_sound_is_open() {
        let mut gate = VoiceGate::new(AnalysisRate::Hz8000);
        assert!(!gate.is_voice(&[0; 160]));
        // A buzz with a 120 Hz fundamental and many harmonics, like a vowel.
        let mut open = false;
        for k in 0..50 {
            let frame: Vec<i16> = (0..160)
                .map(|i| {
                    let t = (k * 160 + i) as f32 / 8000.0;
                    let v: f32 = (1..20)
                        .map(|h| (2.0 * std::f32::consts::PI * 120.0 * h as f32 * t).sin() / h as f32)
                        .sum();
                    (v * 6000.0) as i16
                })
                .collect();
            open |= gate.is_voice(&frame);
        }
        assert!(open);
        assert!(gate.is_voice(&[1; 7]), "wrong length fails open");
    }
}
