//! Sans-IO media for Ringback: everything between a call's RTP socket and its conversation
//! engine.
//!
//! The core, [`MediaSession`], is a deterministic state machine. It never reads a clock or
//! touches a socket: the caller hands it datagrams and the current time, and drains the
//! datagrams to send, the events, and the next deadline (see the [`session`] module for the
//! call order). That makes every loss pattern, reordering and timer reproducible in a plain
//! test with virtual time. The [`driver`] module (feature `driver`) is the thin tokio task that
//! owns the socket and the sleep.
//!
//! The pieces, each usable alone:
//! - [`g711`], [`opus`] and [`codec`]: G.711 mu-law/A-law, Opus, and the [`Codec`] enum with
//!   the stateful [`codec::Decoder`] and [`codec::Encoder`]; [`plc`]: G.711 loss concealment.
//! - [`rtp`]: identifiers, parsing, and an allocation-free [`Packetizer`].
//! - [`jitter`]: the adaptive jitter buffer (20 to 200 ms).
//! - [`pacer`]: the send queue of agent utterances, with flush for barge-in.
//! - [`recorder`]: the stereo call recording (remote left, agent right).
//! - [`endpointing`]: energy-based speech detection and utterance segmentation, handing
//!   utterances over at 16 kHz.
//! - [`dtmf`]: RFC 4733 telephone-events, received and sent, and in-band DTMF tones.
//! - [`rtcp`]: sender and receiver reports, round-trip time; [`quality`]: an E-model MOS.
//! - [`srtp`]: SRTP with SDES keys (AES_CM_128_HMAC_SHA1_80).
//! - [`stun`]: a STUN Binding, for the address our RTP leaves a NAT with.
//! - [`analysis`]: audio intelligence: Silero VAD behind a webrtc-vad gate, endpointing and
//!   barge-in, in-band DTMF, beeps, answering-machine detection, and whole-file analysis.
//!
//! Media time runs on one 20 ms grid ([`frame`]); all `*_ms` values in events are
//! milliseconds since the session started, the timeline of the recording.
//!
//! On the per-packet path nothing allocates and nothing locks: buffers are sized when a session
//! is created, and allocation happens once per utterance (queued, or detected) at most.

#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod analysis;
pub mod codec;
pub mod dtmf;
pub mod endpointing;
pub mod event;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod g711;
pub mod jitter;
pub mod opus;
pub mod pacer;
pub mod plc;
pub mod quality;
pub mod recorder;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod srtp;
pub mod stun;
mod transmit;

#[cfg(feature = "driver")]
pub mod driver;
#[cfg(feature = "driver")]
pub mod engine;

pub use codec::Codec;
pub use event::{MediaEvent, MediaStats, SessionSummary};
pub use pacer::UtteranceId;
pub use recorder::RecordingInfo;
pub use rtp::{Packetizer, PayloadType, RtpTimestamp, SeqNo, Ssrc};
pub use session::{LatchPolicy, MediaSession, MediaUpdate, SessionConfig, SessionError};

#[cfg(feature = "driver")]
pub use driver::{DriverError, MediaHandle, RunningSession};
