//! What a [`MediaSession`](crate::MediaSession) tells its owner: events and statistics.

use std::net::SocketAddr;

use crate::analysis::Verdict;
use crate::endpointing::{EndpointEvent, Utterance};
use crate::pacer::{PlaybackFinished, UtteranceId};
use crate::recorder::RecordingInfo;

/// Something the owner of a session should know about, drained with
/// [`MediaSession::poll_event`](crate::MediaSession::poll_event).
///
/// Times are milliseconds of media time since the session started, the timeline of the
/// recording.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// The remote's media source is fixed at this address: the one the SDP names, confirmed by its
    /// first packet, or another one latched onto as the session's `LatchPolicy` allows (the far
    /// end's NAT). Replies go there; packets from anyone else are dropped and counted (`foreign`).
    RemoteLatched(SocketAddr),
    /// The remote party started talking at `at_ms` (reported about 60 ms later). Use it for
    /// barge-in.
    SpeechStarted {
        /// Start of the speech.
        at_ms: u64,
    },
    /// The speech announced by the last `SpeechStarted` was too short to be an utterance, or
    /// listening was turned off during it. No `Utterance` follows for it.
    SpeechDiscarded {
        /// Start of the speech.
        start_ms: u64,
        /// End of the speech.
        end_ms: u64,
    },
    /// The remote party paused inside their turn (a segment of speech ended; the turn may go on).
    /// The turn's audio so far, to start speech-to-text before the turn is known to be over: if
    /// the next `Utterance` has the same `start_ms` and `end_ms`, its audio is this one. Also
    /// sent when the answering-machine detector says "machine" in the middle of a turn (a long
    /// greeting), with the speech so far up to that moment, and again every second while that
    /// turn goes on.
    TurnPaused {
        /// Start of the turn's speech.
        start_ms: u64,
        /// End of its speech so far.
        end_ms: u64,
        /// Media time of `samples_16k[0]`.
        audio_start_ms: u64,
        /// The turn so far at 16 kHz, pre-roll and post-roll included.
        samples_16k: Vec<i16>,
    },
    /// The remote party finished an utterance (after the end-of-turn silence).
    Utterance {
        /// Start of the speech.
        start_ms: u64,
        /// End of the speech.
        end_ms: u64,
        /// Media time of `samples_16k[0]` (the start minus the pre-roll).
        audio_start_ms: u64,
        /// The utterance at 16 kHz, pre-roll and post-roll included, for speech-to-text.
        samples_16k: Vec<i16>,
    },
    /// The first frame of an utterance queued with `play` went out: the utterance starts on the
    /// wire now, after whatever was queued before it.
    PlaybackStarted {
        /// Which utterance.
        id: UtteranceId,
        /// Media time of its first frame, ms.
        at_ms: u64,
    },
    /// An utterance queued with `play` left the send queue.
    PlaybackFinished {
        /// Which utterance.
        id: UtteranceId,
        /// How much of it was sent, in ms.
        played_ms: u64,
        /// Whether `flush` cut it short.
        interrupted: bool,
    },
    /// A DTMF digit arrived as an RFC 4733 telephone-event (or, with live analysis, in-band;
    /// a digit sent both ways is reported once).
    Dtmf {
        /// The digit: `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// When it started (arrival of its end minus its duration).
        at_ms: u64,
        /// How long it was held.
        duration_ms: u64,
        /// Its power level, in -dBm0 (RFC 4733 volume); `None` for a digit heard in-band.
        volume_dbm0: Option<u8>,
    },
    /// A DTMF digit queued with `send_dtmf` finished sending (as RFC 4733 events, or as
    /// in-band tones when the peer has no telephone-event).
    DtmfSent {
        /// The digit.
        digit: char,
        /// When it started.
        at_ms: u64,
        /// How long it sounded.
        duration_ms: u64,
    },
    /// A voicemail beep ended (live analysis only): the machine records from here.
    Beep {
        /// Its start.
        start_ms: u64,
        /// Its end.
        end_ms: u64,
        /// Its frequency.
        hz: u32,
    },
    /// The answering-machine verdict (live analysis only); it may come again, revised.
    Amd {
        /// Human, machine or unknown.
        verdict: Verdict,
        /// Confidence, 0-100.
        confidence_pct: u8,
        /// When it was decided, in ms since the answer.
        decided_ms: u64,
    },
}

impl From<EndpointEvent> for MediaEvent {
    fn from(event: EndpointEvent) -> Self {
        match event {
            EndpointEvent::SpeechStarted { at_ms } => MediaEvent::SpeechStarted { at_ms },
            EndpointEvent::SpeechDiscarded { start_ms, end_ms } => {
                MediaEvent::SpeechDiscarded { start_ms, end_ms }
            }
            EndpointEvent::Utterance(Utterance {
                start_ms,
                end_ms,
                audio_start_ms,
                samples_16k,
            }) => MediaEvent::Utterance {
                start_ms,
                end_ms,
                audio_start_ms,
                samples_16k,
            },
        }
    }
}

impl From<PlaybackFinished> for MediaEvent {
    fn from(f: PlaybackFinished) -> Self {
        MediaEvent::PlaybackFinished {
            id: f.id,
            played_ms: f.played_ms,
            interrupted: f.interrupted,
        }
    }
}

/// Counters of one session. Packet counts are RTP packets; `packets_lost` follows RFC 3550
/// (expected from the sequence numbers minus received), so it is never negative here.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MediaStats {
    /// Valid audio packets received from the remote (late and duplicate ones included).
    pub packets_received: u64,
    /// Packets handed out by `poll_transmit`.
    pub packets_sent: u64,
    /// Audio packets that never arrived.
    pub packets_lost: u64,
    /// Audio packets that arrived after their playout time and were dropped.
    pub late: u64,
    /// Audio packets received twice.
    pub duplicates: u64,
    /// Datagrams that were not valid RTP.
    pub malformed: u64,
    /// Datagrams and valid RTP packets dropped because they came from another source than the
    /// remote's (strict media source), RTCP from another IP included.
    pub foreign: u64,
    /// RTP packets with a payload type that was not negotiated.
    pub unknown_payload_type: u64,
    /// RTCP packets received on the RTP port (rtcp-mux), ignored for now.
    pub rtcp_ignored: u64,
    /// Lost packets whose 20 ms were concealed (PLC, or rebuilt from FEC).
    pub frames_concealed: u64,
    /// Lost Opus packets rebuilt from the next packet's in-band FEC.
    pub fec_recovered: u64,
    /// Payloads the decoder refused (corrupt Opus packets); concealed instead.
    pub decode_errors: u64,
    /// Frames the jitter buffer inserted to grow its delay.
    pub frames_stretched: u64,
    /// Frames the jitter buffer dropped to shrink its delay.
    pub frames_shrunk: u64,
    /// Current playout delay of the jitter buffer, in ms.
    pub jitter_buffer_ms: u32,
    /// Delay the jitter buffer is adapting to, in ms.
    pub jitter_target_ms: u32,
    /// Times the remote audio SSRC changed.
    pub ssrc_changes: u64,
    /// DTMF digits received.
    pub dtmf_digits: u64,
    /// Outgoing packets dropped before being sent (the driver fell behind).
    pub tx_dropped: u64,
    /// Incoming datagrams dropped before the session saw them (the engine's ring was full,
    /// or they were larger than any RTP packet).
    pub rx_dropped: u64,
    /// RFC 3550 interarrival jitter of the remote audio, in ms.
    pub jitter_ms: f64,
    /// RTCP reports sent.
    pub rtcp_sent: u64,
    /// RTCP reports received.
    pub rtcp_received: u64,
    /// SRTP or SRTCP packets that failed authentication or the replay check, dropped.
    pub srtp_rejected: u64,
    /// Round-trip time from the last RTCP report that allowed one, in ms.
    pub rtt_ms: Option<f64>,
    /// Loss of our stream as the peer last reported it (RTCP fraction lost), in percent.
    pub remote_loss_pct: Option<f64>,
    /// Jitter of our stream as the peer last reported it, in ms.
    pub remote_jitter_ms: Option<f64>,
    /// Estimated mean opinion score of what we hear (1.0 to 4.5), from the E-model: loss
    /// (late packets included), jitter-buffer delay and half the round trip.
    pub mos: f64,
}

impl MediaStats {
    /// These stats with [`mos`](Self::mos) filled in for `codec`.
    pub fn with_mos(mut self, codec: crate::Codec) -> Self {
        let expected = self.packets_lost + self.packets_received.saturating_sub(self.duplicates);
        let unplayed = self.packets_lost + self.late;
        let loss_pct = if expected == 0 {
            0.0
        } else {
            100.0 * unplayed as f64 / expected as f64
        };
        // Without RTCP, assume a short network path (20 ms one way).
        let network_ms = self.rtt_ms.map_or(20.0, |rtt| rtt / 2.0);
        self.mos =
            crate::quality::estimate_mos(codec, loss_pct, network_ms + f64::from(self.jitter_buffer_ms));
        self
    }

    /// Lost packets as a percentage of those expected.
    pub fn loss_pct(&self) -> f64 {
        let expected = self.packets_lost + self.packets_received.saturating_sub(self.duplicates);
        if expected == 0 {
            0.0
        } else {
            100.0 * self.packets_lost as f64 / expected as f64
        }
    }
}

/// What a finished session leaves behind.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// Final counters.
    pub stats: MediaStats,
    /// The recording, when one was configured and could be written to the end.
    pub recording: Option<RecordingInfo>,
    /// Why a configured recording could not be created, written or finalized: the call went on
    /// without it (a full disk never costs the call).
    pub recording_failed: Option<String>,
    /// Media time the session ran, in ms.
    pub duration_ms: u64,
}
