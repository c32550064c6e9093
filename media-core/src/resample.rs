//! 8 kHz -> 16 kHz upsampling of one 20 ms frame at a time, for speech-to-text models that
//! expect 16 kHz input.
//!
//! Uses rubato's synchronous `Fft` resampler with both chunk sizes fixed (160 in, 320 out): a
//! fixed 1:2 ratio is exactly its use case, it band-limits properly (linear interpolation
//! would fold the 4 kHz edge of the telephone band into audible images), and with buffers
//! allocated at construction `process_into_buffer` does not allocate. The resampler delays
//! its output by a fixed number of 16 kHz samples, [`Upsampler::delay`]; callers that cut
//! audio by time shift their cut points by it.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::frame::{FRAME_SAMPLES, FRAME_SAMPLES_16K, Frame, SAMPLE_RATE_8K};

/// A frame after upsampling: 320 samples at 16 kHz.
pub type Frame16k = [i16; FRAME_SAMPLES_16K];

/// Why the upsampler could not be built or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResampleError {
    /// rubato refused the configuration.
    #[error("building the 8k->16k resampler: {0}")]
    Construction(#[from] rubato::ResamplerConstructionError),
    /// rubato chose chunk sizes other than one frame in, two out.
    #[error("resampler chunk sizes {input}/{output}, expected {FRAME_SAMPLES}/{FRAME_SAMPLES_16K}")]
    ChunkSizes {
        /// Input frames per call rubato chose.
        input: usize,
        /// Output frames per call rubato chose.
        output: usize,
    },
    /// A buffer did not match the frame size.
    #[error("resampler buffer: {0}")]
    Buffer(#[from] rubato::audioadapter_buffers::SizeError),
    /// rubato failed while processing.
    #[error("resampling: {0}")]
    Process(#[from] rubato::ResampleError),
}

/// Streaming 8 kHz -> 16 kHz upsampler working on whole frames.
pub struct Upsampler {
    resampler: Fft<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl std::fmt::Debug for Upsampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upsampler")
            .field("delay", &self.delay())
            .finish_non_exhaustive()
    }
}

impl Upsampler {
    /// Builds the resampler and its buffers.
    pub fn new() -> Result<Self, ResampleError> {
        let resampler = Fft::<f32>::new(
            SAMPLE_RATE_8K as usize,
            2 * SAMPLE_RATE_8K as usize,
            FRAME_SAMPLES,
            1,
            FixedSync::Both,
        )?;
        let (input, output) = (resampler.input_frames_next(), resampler.output_frames_next());
        if input != FRAME_SAMPLES || output != FRAME_SAMPLES_16K {
            return Err(ResampleError::ChunkSizes { input, output });
        }
        Ok(Upsampler {
            resampler,
            input: vec![0.0; FRAME_SAMPLES],
            output: vec![0.0; FRAME_SAMPLES_16K],
        })
    }

    /// Output delay in 16 kHz samples: output sample `n` corresponds to input time
    /// `(n - delay) / 16000` seconds.
    pub fn delay(&self) -> usize {
        self.resampler.output_delay()
    }

    /// Upsamples the next frame of the stream into `out`.
    pub fn process(&mut self, frame: &Frame, out: &mut Frame16k) -> Result<(), ResampleError> {
        for (dst, &s) in self.input.iter_mut().zip(frame.iter()) {
            *dst = f32::from(s) / 32768.0;
        }
        // The adapters only wrap the preallocated slices, whose sizes are fixed in `new`; a
        // mismatch is still passed on as an error rather than assumed away.
        let input = SequentialSlice::new(&self.input[..], 1, FRAME_SAMPLES)?;
        let mut output = SequentialSlice::new_mut(&mut self.output[..], 1, FRAME_SAMPLES_16K)?;
        self.resampler.process_into_buffer(&input, &mut output, None)?;
        for (dst, &s) in out.iter_mut().zip(self.output.iter()) {
            *dst = (s * 32768.0)
                .round()
                .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_comes_out_as_the_same_sine_at_twice_the_rate_after_the_delay() {
        let mut up = Upsampler::new().expect("resampler");
        let delay = up.delay();
        assert!(delay > 0 && delay < 2 * FRAME_SAMPLES_16K, "delay {delay}");
        let freq = 1000.0f64;
        let amp = 10000.0f64;
        let sample_at = |t: f64| amp * (2.0 * std::f64::consts::PI * freq * t).sin();
        let mut out_all = Vec::new();
        for k in 0..50 {
            let mut frame = [0i16; FRAME_SAMPLES];
            for (i, s) in frame.iter_mut().enumerate() {
                *s = sample_at((k * FRAME_SAMPLES + i) as f64 / 8000.0).round() as i16;
            }
            let mut out = [0i16; FRAME_SAMPLES_16K];
            up.process(&frame, &mut out).expect("process");
            out_all.extend_from_slice(&out);
        }
        // Skip the start-up transient, then compare against the ideal 16 kHz signal.
        let mut worst = 0.0f64;
        for (n, &s) in out_all.iter().enumerate().skip(delay + 640) {
            let ideal = sample_at((n - delay) as f64 / 16000.0);
            worst = worst.max((f64::from(s) - ideal).abs());
        }
        assert!(worst < amp * 0.02, "worst error {worst}");
    }

    #[test]
    fn silence_stays_silent() {
        let mut up = Upsampler::new().expect("resampler");
        let mut out = [1i16; FRAME_SAMPLES_16K];
        for _ in 0..5 {
            up.process(&[0; FRAME_SAMPLES], &mut out).expect("process");
            assert!(out.iter().all(|&s| s == 0));
        }
    }
}
