//! The two sample rates the analyzer runs at, and what follows from each.

/// Sample rate of the audio given to the [`Analyzer`](super::Analyzer): the telephone band
/// (G.711) or wideband (Opus, G.722, files). Silero VAD and webrtc-vad take both natively, and
/// the tone detectors scale their windows, so nothing is resampled on the live path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnalysisRate {
    /// 8 kHz.
    #[default]
    Hz8000,
    /// 16 kHz.
    Hz16000,
}

/// Duration of one analysis frame, in ms: the media grid of the whole crate.
pub const ANALYSIS_FRAME_MS: u64 = 20;

/// Duration of one Silero chunk, in ms (512 samples at 16 kHz, 256 at 8 kHz).
pub const CHUNK_MS: u64 = 32;

impl AnalysisRate {
    /// The rate in Hz.
    pub const fn hz(self) -> u32 {
        match self {
            AnalysisRate::Hz8000 => 8000,
            AnalysisRate::Hz16000 => 16000,
        }
    }

    /// The rate for `hz`, if it is one of the two.
    pub const fn from_hz(hz: u32) -> Option<Self> {
        match hz {
            8000 => Some(AnalysisRate::Hz8000),
            16000 => Some(AnalysisRate::Hz16000),
            _ => None,
        }
    }

    /// Samples per millisecond.
    pub const fn per_ms(self) -> usize {
        self.hz() as usize / 1000
    }

    /// Samples in one 20 ms frame.
    pub const fn frame_samples(self) -> usize {
        self.per_ms() * ANALYSIS_FRAME_MS as usize
    }

    /// Samples in one Silero chunk.
    pub const fn chunk_samples(self) -> usize {
        self.per_ms() * CHUNK_MS as usize
    }

    /// Samples of context Silero wants before each chunk.
    pub const fn context_samples(self) -> usize {
        match self {
            AnalysisRate::Hz8000 => 32,
            AnalysisRate::Hz16000 => 64,
        }
    }

    /// Width of one row of Silero's `input` tensor: context plus chunk.
    pub const fn silero_width(self) -> usize {
        self.context_samples() + self.chunk_samples()
    }
}

/// Widest Silero input row (16 kHz): the size of the buffers that carry chunks between threads.
pub const MAX_SILERO_WIDTH: usize = AnalysisRate::Hz16000.silero_width();

/// Mean power of `samples` relative to a full-scale square wave, in dB; -100 for silence.
pub fn level_dbfs(samples: &[i16]) -> f32 {
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    if energy <= 0.0 || samples.is_empty() {
        return -100.0;
    }
    let mean = energy / samples.len() as f64;
    (10.0 * (mean / (32768.0 * 32768.0)).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_rate() {
        assert_eq!(AnalysisRate::Hz8000.frame_samples(), 160);
        assert_eq!(AnalysisRate::Hz16000.frame_samples(), 320);
        assert_eq!(AnalysisRate::Hz8000.silero_width(), 288);
        assert_eq!(MAX_SILERO_WIDTH, 576);
        assert_eq!(AnalysisRate::from_hz(44100), None);
    }

    #[test]
    fn level_of_reference_signals() {
        assert_eq!(level_dbfs(&[0; 160]), -100.0);
        assert!((level_dbfs(&[3277; 160]) + 20.0).abs() < 0.01);
    }
}
