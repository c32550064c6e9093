//! The unit of media time: one 20 ms frame of 8 kHz mono audio.
//!
//! Every stage of the skeleton (jitter buffer, pacer, recorder, endpointer) runs on this one grid,
//! so the channels of the recording and the event timestamps line up by construction instead of
//! by bookkeeping.

use std::time::Duration;

/// Sample rate of the telephone side (G.711), in Hz.
pub const SAMPLE_RATE_8K: u32 = 8000;

/// Duration of one frame (and one RTP packet), in milliseconds.
pub const FRAME_MS: u32 = 20;

/// Duration of one frame (and one RTP packet).
pub const FRAME_DURATION: Duration = Duration::from_millis(FRAME_MS as u64);

/// Samples in one frame at 8 kHz.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE_8K / 1000 * FRAME_MS) as usize;

/// Samples in one frame after upsampling to 16 kHz for speech-to-text.
pub const FRAME_SAMPLES_16K: usize = FRAME_SAMPLES * 2;

/// One 20 ms frame of 8 kHz mono linear PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of digital silence.
pub const SILENCE: Frame = [0; FRAME_SAMPLES];
