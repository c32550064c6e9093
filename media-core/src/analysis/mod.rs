//! Audio intelligence on the box: speech detection, endpointing, DTMF, beeps and
//! answering-machine detection, for live calls and files alike.
//!
//! The pieces, each a sans-IO core usable alone:
//! - [`gate`]: webrtc-vad, the cheap first gate, so silence costs almost nothing.
//! - [`vad`]: per-call Silero chunking with the recurrent state kept per call; jobs go to a
//!   [`VadBackend`]: in line ([`silero::SileroModel`]) or through the one batching
//!   [`worker::SileroWorker`] of the process (both with feature `silero`).
//! - [`endpoint`]: speech start and end, end of turn, barge-in.
//! - [`dtmf`]: in-band DTMF (Goertzel) and the merge with RFC 4733 digits.
//! - [`beep`]: the tone after a voicemail greeting.
//! - [`amd`]: the answering-machine cascade (beep, greeting cadence, transcript hook).
//! - [`analyzer`]: all of the above for one call, fed 20 ms frames at 8 or 16 kHz.
//! - [`file`]: a WAV file through the same analyzer (`ringback analyze`).
//! - [`onnx`] (feature `silero`): the process-wide ONNX Runtime environment, shared with Piper.

pub mod amd;
pub mod analyzer;
pub mod beep;
pub mod dtmf;
pub mod endpoint;
pub mod file;
pub mod gate;
pub mod goertzel;
pub mod rate;
pub mod vad;

#[cfg(feature = "silero")]
pub mod onnx;
#[cfg(feature = "silero")]
pub mod silero;
#[cfg(feature = "silero")]
pub mod worker;

pub use amd::{AmdConfig, AmdDecision, Verdict};
pub use analyzer::{AnalysisError, AnalysisEvent, Analyzer, AnalyzerConfig};
pub use rate::AnalysisRate;
pub use vad::{VadBackend, VadJob, VadMode};
