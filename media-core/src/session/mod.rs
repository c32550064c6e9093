//! [`MediaSession`]: the sans-IO media core of one call.
//!
//! It owns everything between the RTP socket and the conversation engine: the jitter buffer,
//! G.711, the endpointer, the send queue and the recorder. It never reads a clock or touches a
//! socket. The driver feeds it datagrams and the time, and drains what it produces:
//!
//! 1. On a datagram: [`MediaSession::handle_datagram`].
//! 2. When [`MediaSession::poll_timeout`] passes: [`MediaSession::handle_timeout`].
//! 3. On a command from the agent: [`MediaSession::play`], [`MediaSession::flush`],
//!    [`MediaSession::set_listening`].
//! 4. After any of these: [`MediaSession::poll_transmit`] until `None` (send each datagram),
//!    then [`MediaSession::poll_event`] until `None`, then sleep until `poll_timeout`.
//!
//! Everything runs on one 20 ms grid that starts at the `now` given to [`MediaSession::new`]:
//! every tick plays one frame out of the jitter buffer (into the endpointer and the left
//! channel of the recording) and sends one packet from the pacer (also recorded, on the right),
//! silence included, so the far end's NAT binding stays open and the recording stays aligned.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use crate::analysis::{LiveAnalysis, LiveAnalysisConfig, LiveAnalysisError, VadService, Verdict};
use crate::codec::{Codec, CodecError, Decoder, Encoder};
use crate::dtmf::DtmfReceiver;
use crate::dtmf::send::{DtmfSendError, DtmfSender};
use crate::endpointing::{EndpointError, Endpointer, EndpointerConfig};
use crate::event::{MediaEvent, MediaStats, SessionSummary};
use crate::frame::{FRAME_DURATION, FRAME_MS, Frame, SILENCE};
use crate::jitter::{JitterBuffer, JitterConfig, JitterError};
use crate::opus::OpusParams;
use crate::pacer::{Pacer, UtteranceId};
use crate::recorder::{Recorder, RecorderError};
use crate::rtcp::{MAX_RTCP, RemoteReport, RtcpMode, RtcpSession};
use crate::rtp::{self, InterarrivalJitter, Packetizer, PayloadType, RtpTimestamp, SeqNo, Ssrc};
use crate::srtp::{SrtpConfig, SrtpError, SrtpSession};
use crate::transmit::{MAX_PAYLOAD, TxQueue};

/// Settings of one session, taken from the SDP offer/answer and the call's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// The negotiated audio codec.
    pub codec: Codec,
    /// Its negotiated payload type.
    pub payload_type: PayloadType,
    /// The negotiated `telephone-event/8000` payload type, if any.
    pub telephone_event_pt: Option<PayloadType>,
    /// Where the SDP says to send RTP, and whose RTP we accept; another source is taken only as
    /// `latch` allows (see [`LatchPolicy`]).
    pub remote: SocketAddr,
    /// When media from a source other than `remote` is taken (the far end's NAT).
    pub latch: LatchPolicy,
    /// Our SSRC. Pick it at random: the first sequence number and timestamp are derived from
    /// it, which gives them the randomness RFC 3550 asks for without an RNG in the core.
    pub local_ssrc: Ssrc,
    /// Where to write the stereo recording, if anywhere.
    pub recording: Option<PathBuf>,
    /// The peer's Opus `a=fmtp` parameters (used when `codec` is Opus).
    pub opus: OpusParams,
    /// Initial playout delay of the jitter buffer, in ms, until it has measured the network.
    pub jitter_delay_ms: u32,
    /// Smallest playout delay the jitter buffer adapts down to, in ms.
    pub jitter_min_delay_ms: u32,
    /// Largest playout delay the jitter buffer adapts up to, in ms.
    pub jitter_max_delay_ms: u32,
    /// Trailing silence that ends a turn of the remote party, in ms (energy endpointer).
    pub end_of_turn_silence_ms: u32,
    /// The on-box audio intelligence (Silero VAD behind webrtc-vad, endpointing with barge-in,
    /// in-band DTMF, beeps, AMD) in place of the energy endpointer; see
    /// [`MediaSession::attach_vad`] for the Silero worker.
    pub analysis: Option<LiveAnalysisConfig>,
    /// Where RTCP goes, if anywhere.
    pub rtcp: RtcpMode,
    /// SRTP keys, when the SDP negotiated `RTP/SAVP` with SDES.
    pub srtp: Option<SrtpConfig>,
    /// The wall clock at the session's start, as NTP 32.32 fixed point, for the sender
    /// reports (0 if unknown; round-trip times do not need it).
    pub ntp_origin: u64,
}

impl SessionConfig {
    /// A configuration with the defaults: no telephone-event, no recording, a jitter buffer
    /// adapting between 20 and 200 ms from 60 ms, 700 ms end-of-turn silence.
    pub fn new(codec: Codec, payload_type: PayloadType, remote: SocketAddr, local_ssrc: Ssrc) -> Self {
        SessionConfig {
            codec,
            payload_type,
            telephone_event_pt: None,
            remote,
            latch: LatchPolicy::default(),
            local_ssrc,
            recording: None,
            opus: OpusParams::default(),
            jitter_delay_ms: JitterConfig::default().initial_delay_ms,
            jitter_min_delay_ms: JitterConfig::default().min_delay_ms,
            jitter_max_delay_ms: JitterConfig::default().max_delay_ms,
            end_of_turn_silence_ms: EndpointerConfig::default().end_silence_ms,
            analysis: None,
            rtcp: RtcpMode::Off,
            srtp: None,
            ntp_origin: 0,
        }
    }
}

/// Why a session could not be created or finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Audio and telephone-event share a payload type.
    #[error("payload type {0} is configured for both audio and telephone-event")]
    PayloadTypeClash(PayloadType),
    /// The jitter buffer settings are invalid.
    #[error("jitter buffer: {0}")]
    Jitter(#[from] JitterError),
    /// The codec could not be set up.
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    /// The SRTP keys could not be set up.
    #[error("SRTP: {0}")]
    Srtp(#[from] SrtpError),
    /// The endpointer settings are invalid.
    #[error("endpointer: {0}")]
    Endpointer(#[from] EndpointError),
    /// The live analysis could not start.
    #[error("analysis: {0}")]
    Analysis(#[from] LiveAnalysisError),
    /// The recording could not be created, written or finalized.
    #[error(transparent)]
    Recording(#[from] RecorderError),
    /// A renegotiation asked for a codec at another clock rate.
    #[error("cannot change codec from {from:?} to {to:?} in a call")]
    CodecChange {
        /// The codec in use.
        from: Codec,
        /// The one asked for.
        to: Codec,
    },
}

/// The remote audio stream.
#[derive(Debug)]
struct Inbound {
    ssrc: Option<Ssrc>,
    jitter: JitterBuffer,
    arrival: InterarrivalJitter,
}

/// Counters kept by the session itself (the jitter buffer keeps its own).
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    packets_received: u64,
    packets_sent: u64,
    malformed: u64,
    foreign: u64,
    unknown_payload_type: u64,
    rtcp_ignored: u64,
    ssrc_changes: u64,
    dtmf_digits: u64,
    fec_recovered: u64,
    decode_errors: u64,
    encode_errors: u64,
    octets_sent: u64,
    rtcp_sent: u64,
    rtcp_received: u64,
    tx_rtcp_dropped: u64,
    srtp_rejected: u64,
}

/// What RTCP told us about the call.
#[derive(Debug, Clone, Copy, Default)]
struct Quality {
    rtt: Option<std::time::Duration>,
    remote: Option<RemoteReport>,
}

/// What listens to the remote party: the skeleton's energy endpointer, or the live analysis.
#[derive(Debug)]
enum Ear {
    Energy(Box<Endpointer>),
    Analysis(Box<LiveAnalysis>),
}

/// The media core of one call. See the module docs for the call order.
#[derive(Debug)]
pub struct MediaSession {
    codec: Codec,
    payload_type: PayloadType,
    telephone_event_pt: Option<PayloadType>,
    remote: Remote,
    /// The address the last description named (the remote may have latched elsewhere).
    signalled: SocketAddr,
    latch: LatchPolicy,
    started: Instant,
    next_tick: Instant,
    ticks: u64,
    inbound: Inbound,
    dtmf: DtmfReceiver,
    ear: Ear,
    decoder: Decoder,
    encoder: Encoder,
    pacer: Pacer,
    packetizer: Packetizer,
    tx: TxQueue,
    recorder: Option<Recorder>,
    recording_error: Option<RecorderError>,
    events: VecDeque<MediaEvent>,
    counters: Counters,
    rx_frame: Frame,
    tx_frame: Frame,
    tx_payload: [u8; MAX_PAYLOAD],
    /// RTP clock ticks per 20 ms frame.
    frame_ticks: u32,
    dtmf_tx: DtmfSender,
    /// Start of the digit being sent, in media ms, and its RFC 4733 event timestamp.
    dtmf_started_ms: u64,
    dtmf_event_ts: RtpTimestamp,
    /// When the last telephone-event packet arrived.
    last_telephone_event: Option<Instant>,
    rtcp_mode: RtcpMode,
    rtcp: Option<RtcpSession>,
    rtcp_buf: Box<[u8; MAX_RTCP]>,
    rtcp_pending: Option<usize>,
    quality: Quality,
    srtp: Option<SrtpSession>,
    /// Whether the peer wants our audio (not while it holds us).
    sending: bool,
    /// Where received SRTP is decrypted; taken while a packet is handled.
    plain: Option<Box<[u8; PLAIN_BUFFER]>>,
    /// The listening half of the latest tick, when the driver split it off.
    half_tick: Option<HalfTick>,
}

/// What the listening half of a tick needs from its sending half.
#[derive(Debug, Clone, Copy)]
struct HalfTick {
    at: Instant,
    /// Media time at the tick's start, in ms.
    at_ms: u64,
    /// Whether agent audio was queued when the tick started.
    agent_speaking: bool,
}

/// Largest datagram decrypted (anything longer is not a packet we would accept).
const PLAIN_BUFFER: usize = 2048;

impl MediaSession {
    /// Creates the session at time `now`, which is also when its first tick is due. Creates the
    /// recording file when one is configured.
    pub fn new(config: SessionConfig, now: Instant) -> Result<Self, SessionError> {
        if config.telephone_event_pt == Some(config.payload_type) {
            return Err(SessionError::PayloadTypeClash(config.payload_type));
        }
        let jitter = JitterBuffer::new(JitterConfig {
            min_delay_ms: config.jitter_min_delay_ms,
            max_delay_ms: config.jitter_max_delay_ms,
            initial_delay_ms: config.jitter_delay_ms,
            max_payload: config.codec.max_payload(),
            clock_rate: config.codec.clock_rate(),
            ..JitterConfig::default()
        })?;
        let decoder = Decoder::new(config.codec)?;
        let encoder = Encoder::new(config.codec, &config.opus)?;
        let ear = match config.analysis {
            Some(analysis) => Ear::Analysis(Box::new(LiveAnalysis::new(analysis)?)),
            None => Ear::Energy(Box::new(Endpointer::new(EndpointerConfig {
                end_silence_ms: config.end_of_turn_silence_ms,
                ..EndpointerConfig::default()
            })?)),
        };
        // A recording that cannot be created does not stop the call: it goes on unrecorded and
        // says why when it ends.
        let (recorder, recording_error) = match config.recording.as_deref().map(Recorder::create) {
            Some(Ok(recorder)) => (Some(recorder), None),
            Some(Err(err)) => {
                tracing::warn!(error = %err, "recording cannot be created; the call goes on without it");
                (None, Some(err))
            }
            None => (None, None),
        };
        let (first_seq, first_timestamp) = initial_seq_and_timestamp(config.local_ssrc);
        Ok(MediaSession {
            codec: config.codec,
            payload_type: config.payload_type,
            telephone_event_pt: config.telephone_event_pt,
            remote: Remote::signalled(config.remote),
            signalled: config.remote,
            latch: config.latch,
            started: now,
            next_tick: now,
            ticks: 0,
            inbound: Inbound {
                ssrc: None,
                jitter,
                arrival: InterarrivalJitter::default(),
            },
            dtmf: DtmfReceiver::default(),
            ear,
            decoder,
            encoder,
            pacer: Pacer::new(),
            packetizer: Packetizer::new(config.local_ssrc, config.payload_type, first_seq, first_timestamp),
            tx: TxQueue::new(),
            recorder,
            recording_error,
            events: VecDeque::with_capacity(16),
            counters: Counters::default(),
            rx_frame: SILENCE,
            tx_frame: SILENCE,
            tx_payload: [0; MAX_PAYLOAD],
            frame_ticks: config.codec.clock_rate() / 50,
            dtmf_tx: DtmfSender::new(config.telephone_event_pt.map(|_| config.codec.clock_rate())),
            dtmf_started_ms: 0,
            dtmf_event_ts: first_timestamp,
            last_telephone_event: None,
            rtcp_mode: config.rtcp,
            rtcp: (config.rtcp != RtcpMode::Off)
                .then(|| RtcpSession::new(config.local_ssrc, now, config.ntp_origin)),
            rtcp_buf: Box::new([0; MAX_RTCP]),
            rtcp_pending: None,
            quality: Quality::default(),
            plain: config.srtp.is_some().then(|| Box::new([0; PLAIN_BUFFER])),
            srtp: config.srtp.as_ref().map(SrtpSession::new).transpose()?,
            sending: true,
            half_tick: None,
        })
    }

    /// Handles one datagram received at `now` from `src`. Malformed packets, packets of other
    /// payload types, packets that fail SRTP authentication and packets from anyone but the
    /// remote's media source (the signalled address, or one latched as [`LatchPolicy`] allows)
    /// are dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        self.finish_timeout();
        if let Some(remote) = self.remote.fixed()
            && remote != src
        {
            self.counters.foreign += 1;
            return;
        }
        if self.srtp.is_some() {
            let rtcp = rtp::is_rtcp(bytes);
            if rtcp && self.rtcp_mode != RtcpMode::Mux {
                self.counters.rtcp_ignored += 1;
                return;
            }
            self.with_decrypted(bytes, rtcp, |session, plain| {
                if rtcp {
                    session.handle_plain_rtcp(now, plain);
                } else {
                    session.handle_plain(now, src, plain);
                }
            });
            return;
        }
        self.handle_plain(now, src, bytes);
    }

    /// Decrypts an SRTP or SRTCP datagram and hands the plain packet to `handle`; one that
    /// fails is dropped and counted.
    pub(super) fn with_decrypted(&mut self, bytes: &[u8], rtcp: bool, handle: impl FnOnce(&mut Self, &[u8])) {
        let (Some(srtp), Some(mut plain)) = (&mut self.srtp, self.plain.take()) else {
            return;
        };
        let opened = if rtcp {
            srtp.unprotect_rtcp(bytes, &mut plain[..])
        } else {
            srtp.unprotect_rtp(bytes, &mut plain[..])
        };
        match opened {
            Ok(n) => handle(self, &plain[..n]),
            Err(err) => {
                self.counters.srtp_rejected += 1;
                tracing::trace!(error = %err, "dropped SRTP packet");
            }
        }
        self.plain = Some(plain);
    }

    /// Handles a plain (or decrypted) RTP or muxed RTCP datagram.
    fn handle_plain(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if rtp::is_rtcp(bytes) {
            if self.rtcp_mode == RtcpMode::Mux {
                self.handle_rtcp(now, src, bytes);
            } else {
                self.counters.rtcp_ignored += 1;
            }
            return;
        }
        let packet = match rtp::parse(bytes) {
            Ok(packet) => packet,
            Err(err) => {
                self.counters.malformed += 1;
                tracing::trace!(%src, error = %err, "dropped malformed RTP");
                return;
            }
        };
        if packet.payload_type == self.payload_type {
            if self.admit(src) {
                self.handle_audio(now, &packet);
            }
        } else if Some(packet.payload_type) == self.telephone_event_pt {
            if self.admit(src) {
                self.handle_telephone_event(now, &packet);
            }
        } else {
            self.counters.unknown_payload_type += 1;
        }
    }

    /// Runs every 20 ms tick that is due at `now`. A driver that woke late catches up: each
    /// missed tick still plays, records and sends one frame, with consecutive timestamps.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_send(now);
        self.finish_timeout();
    }

    /// [`handle_timeout`](Self::handle_timeout) in two halves, for a driver that runs many
    /// sessions on one timer: this one runs the ticks due at `now` except the listening half
    /// of the last (jitter buffer, decoding, ear, recording), so the driver can send every
    /// session's packet ([`poll_transmit`](Self::poll_transmit)) before any session does the
    /// slower listening; [`finish_timeout`](Self::finish_timeout) runs that half. Every other
    /// call that changes the session (a datagram, a command, closing) finishes it first, so
    /// the halves of a tick always run in order.
    pub fn handle_timeout_send(&mut self, now: Instant) {
        self.finish_timeout();
        while self.next_tick <= now {
            let at = self.next_tick;
            let half = self.tick_send(at);
            self.ticks += 1;
            self.next_tick = at + FRAME_DURATION;
            if self.next_tick <= now {
                self.tick_listen(half);
            } else {
                self.half_tick = Some(half);
            }
        }
    }

    /// Runs the listening half that [`handle_timeout_send`](Self::handle_timeout_send) left
    /// pending, if any.
    pub fn finish_timeout(&mut self) {
        if let Some(half) = self.half_tick.take() {
            self.tick_listen(half);
        }
    }

    /// Writes the next outgoing datagram into `buf` and returns its destination and length.
    /// `buf` should hold at least 12 + 320 bytes; a packet that does not fit is dropped.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        loop {
            let n = self.tx.pop_into(buf)?;
            if !self.sending {
                // On hold: the stream's clock runs on, its packets go nowhere.
                continue;
            }
            let n = match &mut self.srtp {
                None => n,
                Some(srtp) => match srtp.protect_rtp(buf, n) {
                    Ok(n) => n,
                    Err(err) => {
                        self.counters.encode_errors += 1;
                        tracing::warn!(error = %err, "could not protect outgoing packet");
                        continue;
                    }
                },
            };
            self.counters.packets_sent += 1;
            return Some((self.remote.addr(), n));
        }
    }

    /// Takes the next event, oldest first.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When the next tick is due. There always is one: media never stops while the call runs.
    pub fn poll_timeout(&self) -> Instant {
        self.next_tick
    }

    /// Queues agent audio (8 kHz mono) to be sent after whatever is queued. Takes the buffer
    /// by value so handing over a TTS result costs no copy.
    pub fn play(&mut self, id: UtteranceId, samples_8k: Vec<i16>) {
        self.finish_timeout();
        self.pacer.play(id, samples_8k);
    }

    /// Drops all queued agent audio now (barge-in). Each dropped utterance is reported as
    /// `PlaybackFinished { interrupted: true }` with how much of it was sent.
    pub fn flush(&mut self) {
        self.finish_timeout();
        self.pacer.flush();
        self.drain_pacer_events();
    }

    /// Queues DTMF digits (`0-9 * # A-D`, `,` for a half-second pause) with tones of
    /// `tone_ms`: RFC 4733 events when the peer negotiated telephone-event, in-band tones
    /// otherwise. Agent audio waits while they are sent; each digit is reported with
    /// [`MediaEvent::DtmfSent`].
    pub fn send_dtmf(&mut self, digits: &str, tone_ms: u32) -> Result<(), DtmfSendError> {
        self.finish_timeout();
        self.dtmf_tx.queue(digits, tone_ms)
    }

    /// A verdict on who answered that the runtime took from the greeting's transcript (the
    /// answering-machine detector's transcript hook), at `at_ms` of the media timeline. It settles
    /// the detector only while it is undecided or `unknown`; a [`MediaEvent::Amd`] follows when it
    /// does. Without live analysis there is no detector, and nothing happens.
    pub fn offer_transcript(&mut self, at_ms: u64, verdict: Verdict, confidence: f32) {
        if let Ear::Analysis(live) = &mut self.ear {
            live.offer_transcript(at_ms, verdict, confidence);
            self.drain_ear();
        }
    }

    /// Turns the reporting of the remote party's speech on or off.
    pub fn set_listening(&mut self, listening: bool) {
        self.finish_timeout();
        let now_ms = self.media_time_ms();
        match &mut self.ear {
            Ear::Energy(endpointer) => {
                if let Some(event) = endpointer.set_listening(listening) {
                    self.events.push_back(event.into());
                }
            }
            Ear::Analysis(live) => {
                live.set_listening(listening, now_ms);
                self.drain_ear();
            }
        }
    }

    /// Sends this session's Silero jobs to the process's batching worker. Without it (or
    /// without live analysis) the webrtc-vad gate decides alone. Returns whether the session
    /// runs live analysis.
    pub fn attach_vad(&mut self, vad: Box<dyn VadService>) -> bool {
        match &mut self.ear {
            Ear::Analysis(live) => {
                live.attach_vad(vad);
                true
            }
            Ear::Energy(_) => false,
        }
    }

    /// Sends this session's end-of-turn questions to the process's turn model worker (see
    /// [`LiveAnalysis::attach_turn_model`](crate::analysis::LiveAnalysis::attach_turn_model)).
    /// Returns whether the session runs live analysis.
    pub fn attach_turn_model(&mut self, turn: Box<dyn crate::analysis::turn::TurnService>) -> bool {
        match &mut self.ear {
            Ear::Analysis(live) => {
                live.attach_turn_model(turn);
                true
            }
            Ear::Energy(_) => false,
        }
    }

    /// Where outgoing packets go now.
    pub fn remote(&self) -> SocketAddr {
        self.remote.addr()
    }

    /// The remote party's audio the latest tick played out (decoded, concealed where lost):
    /// the left channel of the recording, and what audio analysis listens to.
    pub fn remote_frame(&self) -> &Frame {
        &self.rx_frame
    }

    /// Media time elapsed: ticks run so far, in ms.
    pub fn media_time_ms(&self) -> u64 {
        self.ticks * u64::from(FRAME_MS)
    }

    /// Current counters.
    pub fn stats(&self) -> MediaStats {
        let jitter = self.inbound.jitter.stats();
        let c = self.counters;
        MediaStats {
            packets_received: c.packets_received,
            packets_sent: c.packets_sent,
            packets_lost: jitter.lost(),
            late: jitter.late,
            duplicates: jitter.duplicates,
            malformed: c.malformed,
            foreign: c.foreign,
            unknown_payload_type: c.unknown_payload_type,
            rtcp_ignored: c.rtcp_ignored,
            frames_concealed: jitter.concealed,
            fec_recovered: c.fec_recovered,
            decode_errors: c.decode_errors,
            frames_stretched: jitter.stretched,
            frames_shrunk: jitter.shrunk,
            jitter_buffer_ms: jitter.delay_ms,
            jitter_target_ms: jitter.target_delay_ms,
            ssrc_changes: c.ssrc_changes,
            dtmf_digits: c.dtmf_digits,
            tx_dropped: self.tx.dropped() + c.tx_rtcp_dropped,
            rx_dropped: 0,
            jitter_ms: self.inbound.arrival.get() * 1000.0 / f64::from(self.codec.clock_rate()),
            rtcp_sent: c.rtcp_sent,
            rtcp_received: c.rtcp_received,
            srtp_rejected: c.srtp_rejected,
            rtt_ms: self.quality.rtt.map(|d| d.as_secs_f64() * 1000.0),
            remote_loss_pct: self.quality.remote.map(|r| r.fraction_lost_pct),
            remote_jitter_ms: self
                .quality
                .remote
                .map(|r| f64::from(r.jitter) * 1000.0 / f64::from(self.codec.clock_rate())),
            mos: 0.0,
        }
        .with_mos(self.codec)
    }

    /// Ends the session: finalizes the recording and returns the final counters. A recording that
    /// failed at any point is reported in the summary, not as an error: the call's outcome,
    /// transcript and stats stand without it.
    pub fn finish(mut self) -> Result<SessionSummary, SessionError> {
        self.finish_timeout();
        let stats = self.stats();
        let duration_ms = self.media_time_ms();
        let (recording, recording_failed) = match (self.recording_error, self.recorder) {
            (Some(err), _) => (None, Some(err.to_string())),
            (None, Some(recorder)) => match recorder.finalize() {
                Ok(info) => (Some(info), None),
                Err(err) => {
                    tracing::warn!(error = %err, "recording cannot be finalized");
                    (None, Some(err.to_string()))
                }
            },
            (None, None) => (None, None),
        };
        Ok(SessionSummary {
            stats,
            recording,
            recording_failed,
            duration_ms,
        })
    }

    /// The sending half of a 20 ms tick at media time `at`: RTCP that is due and this tick's
    /// packet. It runs first so a driver of many sessions can send every packet before any
    /// session listens.
    fn tick_send(&mut self, at: Instant) -> HalfTick {
        self.rtcp_tick(at);
        // Agent audio still queued at this tick means the agent is talking.
        let agent_speaking = !self.pacer.is_idle();
        self.send_tick(at);
        HalfTick {
            at,
            at_ms: self.media_time_ms(),
            agent_speaking,
        }
    }

    /// The listening half of a tick: the remote frame out of the jitter buffer, into the ear
    /// and, with what was sent, into the recording.
    fn tick_listen(&mut self, half: HalfTick) {
        self.receive_tick(half.at);
        match &mut self.ear {
            Ear::Energy(endpointer) => {
                if let Some(event) = endpointer.process(&self.rx_frame) {
                    self.events.push_back(event.into());
                }
            }
            Ear::Analysis(live) => {
                live.set_agent_speaking(half.agent_speaking);
                live.process(half.at_ms, &self.rx_frame);
            }
        }
        self.drain_ear();
        // Record both sides of this tick as one stereo frame.
        if let Some(recorder) = &mut self.recorder
            && let Err(err) = recorder.write_frame(&self.rx_frame, &self.tx_frame)
        {
            tracing::warn!(error = %err, "recording failed; the call goes on without it");
            self.recorder = None;
            self.recording_error = Some(err);
        }
    }

    fn drain_ear(&mut self) {
        if let Ear::Analysis(live) = &mut self.ear {
            while let Some(event) = live.poll_event() {
                self.events.push_back(event);
            }
        }
    }

    fn drain_pacer_events(&mut self) {
        while let Some(finished) = self.pacer.poll_finished() {
            self.events.push_back(finished.into());
        }
    }

    fn elapsed_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    /// `now` in codec clock ticks since the session started, for interarrival jitter.
    fn clock_ticks(&self, now: Instant) -> i64 {
        let nanos = now.saturating_duration_since(self.started).as_nanos();
        i64::try_from(nanos * u128::from(self.codec.clock_rate()) / 1_000_000_000).unwrap_or(i64::MAX)
    }
}

/// First sequence number and timestamp, derived from the (random) SSRC with the splitmix64
/// finalizer so they look unrelated to it and to each other.
fn initial_seq_and_timestamp(ssrc: Ssrc) -> (SeqNo, RtpTimestamp) {
    let mut z = u64::from(ssrc.0).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (SeqNo(z as u16), RtpTimestamp((z >> 32) as u32))
}

mod control;
mod receive;
mod renegotiate;

pub use renegotiate::MediaUpdate;
mod source;
use source::Remote;
pub use source::{LATCH_WINDOW, LatchPolicy, is_unreachable};
mod send;
#[cfg(test)]
mod tests;
