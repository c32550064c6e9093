//! Audio intelligence on the box: speech detection, endpointing, DTMF, beeps and
//! answering-machine detection, for live calls and files alike.
//!
//! The pieces, each a sans-IO core usable alone (the modules of feature `silero` are named
//! without links, so the docs build with and without it):
//! - [`gate`]: webrtc-vad, the cheap first gate, so silence costs almost nothing.
//! - [`vad`]: per-call Silero chunking with the recurrent state kept per call; jobs go to a
//!   [`VadBackend`]: in line (`silero::SileroModel`) or through the one batching
//!   `worker::SileroWorker` of the process (both with feature `silero`).
//! - [`endpoint`]: speech start and end, end of turn, barge-in.
//! - [`turn`]: semantic end of turn, asked of a model at each pause; [`mel`] computes its input,
//!   `smart_turn` (feature `silero`) runs Smart Turn v3 in the process's one worker thread.
//! - [`dtmf`]: in-band DTMF (Goertzel) and the merge with RFC 4733 digits.
//! - [`beep`]: the tone after a voicemail greeting.
//! - [`amd`]: the answering-machine cascade (beep, greeting cadence, transcript hook).
//! - [`analyzer`]: all of the above for one call, fed 20 ms frames at 8 or 16 kHz.
//! - [`live`]: the analyzer as a live call's ear (in `MediaSession`): turns with their audio
//!   for speech-to-text, barge-in, digits, beeps and AMD as `MediaEvent`s.
//! - [`file`](mod@file): a WAV file through the same analyzer (`ringback analyze`).
//! - `onnx` (feature `silero`): the process-wide ONNX Runtime environment, shared with Piper.
//!
//! # Wiring into a live call
//! - Once per process: `SileroModel::load(models/silero_vad.onnx, libonnxruntime.so)` and
//!   `SileroWorker::spawn(model, WorkerConfig::default())`. Each call takes a
//!   `worker::VadLink` with `worker.link()`.
//! - Per call: an [`Analyzer`] built with the call's rate (8 kHz for G.711), created at answer
//!   (its first frame is the answer for AMD; `amd: None` for inbound calls).
//! - Every 20 ms tick, the frame the jitter buffer played out (decoded, concealed frames too)
//!   goes to [`Analyzer::push_frame`] with its media time. The core hands out jobs with
//!   [`Analyzer::poll_vad_job`]; the driver submits them to its link and, every tick, passes
//!   `link.try_recv()` answers to [`Analyzer::handle_vad_result`] (a failed submit needs
//!   nothing: the gate decides). Then drain [`Analyzer::poll_event`].
//! - RFC 4733 digits (`DtmfReceiver`) go to [`Analyzer::rfc4733_digit`] instead of straight
//!   out, so a digit sent both ways is reported once.
//! - [`Analyzer::set_agent_speaking`] follows the pacer (true while an utterance plays);
//!   `BargeIn` is the cue to flush it.
//! - The runtime may pass a transcript verdict to [`Analyzer::offer_transcript`] (for example
//!   [`amd::classify_transcript`] of the first utterance's STT text).

pub mod amd;
pub mod analyzer;
pub mod beep;
pub mod dtmf;
pub mod endpoint;
pub mod file;
pub mod gate;
pub mod goertzel;
pub mod live;
pub mod mel;
pub mod rate;
pub mod turn;
pub mod vad;

#[cfg(feature = "silero")]
pub mod onnx;
#[cfg(feature = "silero")]
pub mod silero;
#[cfg(feature = "silero")]
pub mod smart_turn;
#[cfg(feature = "silero")]
pub mod worker;

pub use amd::{AmdConfig, AmdDecision, Verdict};
pub use analyzer::{AnalysisError, AnalysisEvent, Analyzer, AnalyzerConfig};
pub use live::{LiveAnalysis, LiveAnalysisConfig, LiveAnalysisError};
pub use rate::AnalysisRate;
pub use vad::{VadBackend, VadJob, VadMode, VadService};
