//! Whisper-style log-mel features of an 8 s window of 16 kHz audio: the input of the Smart Turn
//! end-of-turn model.
//!
//! The same numbers as `transformers.WhisperFeatureExtractor(chunk_length=8)` with
//! `do_normalize=True` (pipecat's `_whisper_features.py` is a numpy copy of it): the window is
//! normalized to zero mean and unit variance, framed with a 400-sample periodic Hann window every
//! 160 samples after reflect padding (801 frames), turned into a power spectrum (201 bins),
//! projected on 80 Slaney-normalized mel filters, floored at 1e-10, `log10`, the last frame
//! dropped, clamped to 8 below the window's maximum, and mapped by `(x + 4) / 4`. The output is
//! mel-major, `[80][800]`, as the model's `input_features` `[1, 80, 800]` wants it.
//!
//! Everything is sized in [`LogMel::new`]; [`LogMel::compute`] allocates nothing.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Samples per second the features expect.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples in one window (8 s).
pub const WINDOW_SAMPLES: usize = 8 * SAMPLE_RATE;
/// Mel bands.
pub const MELS: usize = 80;
/// Frames per window (after the last one is dropped).
pub const FRAMES: usize = WINDOW_SAMPLES / HOP;
/// Length of the features of one window.
pub const FEATURES: usize = MELS * FRAMES;

const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;
const MEL_FLOOR: f64 = 1e-10;
const VARIANCE_EPS: f64 = 1e-7;

/// One mel filter: its first frequency bin and its weights from there.
#[derive(Debug, Clone)]
struct Filter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// The feature extractor, with its FFT plan, window and filters built once.
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    filters: Vec<Filter>,
    /// The normalized, reflect-padded window.
    padded: Vec<f64>,
    frame: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    /// log10 mel energies, mel-major, all 801 frames.
    log_mel: Vec<f64>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel").finish_non_exhaustive()
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// Builds the plan, the window and the filter bank.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT);
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        let window = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        let pad = N_FFT / 2;
        LogMel {
            fft,
            window,
            filters: slaney_filters(),
            padded: vec![0.0; WINDOW_SAMPLES + 2 * pad],
            frame: vec![0.0; N_FFT],
            spectrum,
            scratch,
            power: vec![0.0; BINS],
            log_mel: vec![0.0; MELS * (FRAMES + 1)],
        }
    }

    /// Features of `audio` (16 kHz, any scale): its last 8 s, or all of it after leading zeros
    /// when shorter, as Smart Turn is fed. `out` must hold [`FEATURES`] values.
    pub fn compute(&mut self, audio: &[f32], out: &mut [f32]) {
        assert_eq!(out.len(), FEATURES, "the features of one window");
        let pad = N_FFT / 2;
        let tail = &audio[audio.len().saturating_sub(WINDOW_SAMPLES)..];
        let lead = WINDOW_SAMPLES - tail.len();
        // Zero-mean, unit-variance over the whole window (leading zeros included).
        let n = WINDOW_SAMPLES as f64;
        let mean = tail.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
        let variance = (tail.iter().map(|&s| (f64::from(s) - mean).powi(2)).sum::<f64>()
            + lead as f64 * mean * mean)
            / n;
        let scale = 1.0 / (variance + VARIANCE_EPS).sqrt();
        let body = &mut self.padded[pad..pad + WINDOW_SAMPLES];
        body[..lead].fill(-mean * scale);
        for (dst, &s) in body[lead..].iter_mut().zip(tail) {
            *dst = (f64::from(s) - mean) * scale;
        }
        // Reflect padding, the edge sample not repeated (numpy's "reflect").
        for i in 0..pad {
            self.padded[i] = self.padded[2 * pad - i];
            self.padded[pad + WINDOW_SAMPLES + i] = self.padded[pad + WINDOW_SAMPLES - 2 - i];
        }
        let frames = FRAMES + 1;
        let mut max = f64::NEG_INFINITY;
        for t in 0..frames {
            let start = t * HOP;
            for ((dst, &s), &w) in self
                .frame
                .iter_mut()
                .zip(&self.padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *dst = s * w;
            }
            if self
                .fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .is_err()
            {
                // Only wrong buffer lengths fail, and they are sized in `new`.
                unreachable!("FFT buffers are sized at construction");
            }
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.norm_sqr();
            }
            for (m, filter) in self.filters.iter().enumerate() {
                let energy: f64 = filter
                    .weights
                    .iter()
                    .zip(&self.power[filter.first_bin..])
                    .map(|(w, p)| w * p)
                    .sum();
                let value = energy.max(MEL_FLOOR).log10();
                self.log_mel[m * frames + t] = value;
                // The clamp uses the maximum over the frames kept.
                if t < FRAMES {
                    max = max.max(value);
                }
            }
        }
        let floor = max - 8.0;
        for m in 0..MELS {
            for t in 0..FRAMES {
                let value = self.log_mel[m * frames + t].max(floor);
                out[m * FRAMES + t] = ((value + 4.0) / 4.0) as f32;
            }
        }
    }
}

fn hertz_to_mel(hz: f64) -> f64 {
    if hz >= 1000.0 {
        15.0 + (hz / 1000.0).ln() * (27.0 / 6.4f64.ln())
    } else {
        3.0 * hz / 200.0
    }
}

fn mel_to_hertz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * ((6.4f64.ln() / 27.0) * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// Triangular filters between 0 and 8 kHz, evenly spaced on the Slaney mel scale, each scaled to
/// unit area (`2 / width`), kept as their non-zero run of bins.
fn slaney_filters() -> Vec<Filter> {
    let nyquist = SAMPLE_RATE as f64 / 2.0;
    let (low, high) = (hertz_to_mel(0.0), hertz_to_mel(nyquist));
    let edges: Vec<f64> = (0..MELS + 2)
        .map(|i| mel_to_hertz(low + (high - low) * i as f64 / (MELS + 1) as f64))
        .collect();
    let bin_hz: Vec<f64> = (0..BINS)
        .map(|k| nyquist * k as f64 / (BINS - 1) as f64)
        .collect();
    (0..MELS)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let weights: Vec<f64> = bin_hz
                .iter()
                .map(|&f| {
                    let down = (f - left) / (centre - left);
                    let up = (right - f) / (right - centre);
                    down.min(up).max(0.0) * norm
                })
                .collect();
            let first_bin = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last_bin = weights.iter().rposition(|&w| w > 0.0).unwrap_or(first_bin);
            Filter {
                first_bin,
                weights: weights[first_bin..=last_bin].to_vec(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2 s of a 440 Hz tone and a 1.5 kHz tone over a slow ramp, as `f32`.
    fn signal() -> Vec<f32> {
        (0..2 * SAMPLE_RATE)
            .map(|i| {
                let t = i as f64 / SAMPLE_RATE as f64;
                (0.3 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                    + 0.1 * (2.0 * std::f64::consts::PI * 1500.0 * t).sin()
                    + 0.05 * t) as f32
            })
            .collect()
    }

    /// Values printed by pipecat 1.14.0's numpy `compute_whisper_log_mel_features` for the same
    /// signal left-padded with zeros to 8 s (as `local_smart_turn_v3.py` pads it):
    /// `(mel, frame, value)`.
    const REFERENCE: [(usize, usize, f32); 8] = [
        (0, 0, 1.117_403_9),
        (10, 700, 1.707_883_1),
        (24, 640, -0.202_650_68),
        (33, 720, 0.383_560_33),
        (5, 650, -0.202_650_68),
        (60, 799, 0.114_469_46),
        (79, 799, -0.076_559_25),
        (2, 599, 0.708_826_3),
    ];

    #[test]
    fn features_match_the_reference_extractor() {
        let mut mel = LogMel::new();
        let mut out = vec![0.0; FEATURES];
        mel.compute(&signal(), &mut out);
        for (m, t, expected) in REFERENCE {
            let got = out[m * FRAMES + t];
            assert!(
                (got - expected).abs() < 1e-3,
                "mel {m} frame {t}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn the_last_eight_seconds_are_used_and_scale_does_not_matter() {
        let mut mel = LogMel::new();
        let mut short = vec![0.0; FEATURES];
        mel.compute(&signal(), &mut short);
        let mut long_input = vec![0.7; 3 * SAMPLE_RATE];
        long_input.extend(std::iter::repeat_n(0.0, WINDOW_SAMPLES - signal().len()));
        long_input.extend(signal().iter().map(|s| s * 8.0));
        let mut long = vec![0.0; FEATURES];
        mel.compute(&long_input, &mut long);
        let worst = short
            .iter()
            .zip(&long)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "worst difference {worst}");
    }

    #[test]
    fn filters_cover_the_band_in_order() {
        let filters = slaney_filters();
        assert_eq!(filters.len(), MELS);
        assert!(filters.windows(2).all(|w| w[0].first_bin <= w[1].first_bin));
        assert!(filters.iter().all(|f| !f.weights.is_empty()));
    }
}
