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

use crate::codec::{Codec, CodecError, Concealment, Decoder, Encoder};
use crate::dtmf::DtmfReceiver;
use crate::endpointing::{EndpointError, Endpointer, EndpointerConfig};
use crate::event::{MediaEvent, MediaStats, SessionSummary};
use crate::frame::{FRAME_DURATION, FRAME_MS, FRAME_SAMPLES, Frame, SILENCE};
use crate::jitter::{Insert, JitterBuffer, JitterConfig, JitterError, Playout};
use crate::opus::OpusParams;
use crate::pacer::{PacedFrame, Pacer, UtteranceId};
use crate::recorder::{Recorder, RecorderError};
use crate::rtp::{self, InterarrivalJitter, Packetizer, PayloadType, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use crate::transmit::{MAX_PAYLOAD, TxQueue};

/// A frame whose RMS is below this (about -40 dBFS) is quiet enough to drop unheard when the
/// jitter buffer shrinks its delay.
const QUIET_RMS: f32 = 330.0;

/// Settings of one session, taken from the SDP offer/answer and the call's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The negotiated audio codec.
    pub codec: Codec,
    /// Its negotiated payload type.
    pub payload_type: PayloadType,
    /// The negotiated `telephone-event/8000` payload type, if any.
    pub telephone_event_pt: Option<PayloadType>,
    /// Where the SDP says to send RTP; replaced by the source of the first valid packet.
    pub remote: SocketAddr,
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
    /// Trailing silence that ends a turn of the remote party, in ms.
    pub end_of_turn_silence_ms: u32,
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
            local_ssrc,
            recording: None,
            opus: OpusParams::default(),
            jitter_delay_ms: JitterConfig::default().initial_delay_ms,
            jitter_min_delay_ms: JitterConfig::default().min_delay_ms,
            jitter_max_delay_ms: JitterConfig::default().max_delay_ms,
            end_of_turn_silence_ms: EndpointerConfig::default().end_silence_ms,
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
    /// The endpointer settings are invalid.
    #[error("endpointer: {0}")]
    Endpointer(#[from] EndpointError),
    /// The recording could not be created, written or finalized.
    #[error(transparent)]
    Recording(#[from] RecorderError),
}

/// Where outgoing packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remote {
    /// The address from SDP; no packet received yet.
    Signalled(SocketAddr),
    /// The source of the first valid packet; only packets from it are accepted.
    Latched(SocketAddr),
}

impl Remote {
    fn addr(self) -> SocketAddr {
        match self {
            Remote::Signalled(addr) | Remote::Latched(addr) => addr,
        }
    }
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
}

/// The media core of one call. See the module docs for the call order.
#[derive(Debug)]
pub struct MediaSession {
    codec: Codec,
    payload_type: PayloadType,
    telephone_event_pt: Option<PayloadType>,
    remote: Remote,
    started: Instant,
    next_tick: Instant,
    ticks: u64,
    inbound: Inbound,
    dtmf: DtmfReceiver,
    endpointer: Endpointer,
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
}

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
        let endpointer = Endpointer::new(EndpointerConfig {
            end_silence_ms: config.end_of_turn_silence_ms,
            ..EndpointerConfig::default()
        })?;
        let recorder = config.recording.as_deref().map(Recorder::create).transpose()?;
        let (first_seq, first_timestamp) = initial_seq_and_timestamp(config.local_ssrc);
        Ok(MediaSession {
            codec: config.codec,
            payload_type: config.payload_type,
            telephone_event_pt: config.telephone_event_pt,
            remote: Remote::Signalled(config.remote),
            started: now,
            next_tick: now,
            ticks: 0,
            inbound: Inbound {
                ssrc: None,
                jitter,
                arrival: InterarrivalJitter::default(),
            },
            dtmf: DtmfReceiver::default(),
            endpointer,
            decoder,
            encoder,
            pacer: Pacer::new(),
            packetizer: Packetizer::new(config.local_ssrc, config.payload_type, first_seq, first_timestamp),
            tx: TxQueue::new(),
            recorder,
            recording_error: None,
            events: VecDeque::with_capacity(16),
            counters: Counters::default(),
            rx_frame: SILENCE,
            tx_frame: SILENCE,
            tx_payload: [0; MAX_PAYLOAD],
        })
    }

    /// Handles one datagram received at `now` from `src`. Malformed packets, packets of other
    /// payload types and packets from anyone but the latched remote are dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if let Remote::Latched(remote) = self.remote
            && remote != src
        {
            self.counters.foreign += 1;
            return;
        }
        if rtp::is_rtcp(bytes) {
            self.counters.rtcp_ignored += 1;
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
            self.latch(src);
            self.handle_audio(now, &packet);
        } else if Some(packet.payload_type) == self.telephone_event_pt {
            self.latch(src);
            self.handle_telephone_event(now, &packet);
        } else {
            self.counters.unknown_payload_type += 1;
        }
    }

    /// Runs every 20 ms tick that is due at `now`. A driver that woke late catches up: each
    /// missed tick still plays, records and sends one frame, with consecutive timestamps.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.next_tick <= now {
            let at = self.next_tick;
            self.tick(at);
            self.ticks += 1;
            self.next_tick = at + FRAME_DURATION;
        }
    }

    /// Writes the next outgoing datagram into `buf` and returns its destination and length.
    /// `buf` should hold at least 12 + 320 bytes; a packet that does not fit is dropped.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let n = self.tx.pop_into(buf)?;
        self.counters.packets_sent += 1;
        Some((self.remote.addr(), n))
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
        self.pacer.play(id, samples_8k);
    }

    /// Drops all queued agent audio now (barge-in). Each dropped utterance is reported as
    /// `PlaybackFinished { interrupted: true }` with how much of it was sent.
    pub fn flush(&mut self) {
        self.pacer.flush();
        self.drain_pacer_events();
    }

    /// Turns the endpointer on or off. The skeleton turns it off while the agent speaks.
    pub fn set_listening(&mut self, listening: bool) {
        if let Some(event) = self.endpointer.set_listening(listening) {
            self.events.push_back(event.into());
        }
    }

    /// Where outgoing packets go now.
    pub fn remote(&self) -> SocketAddr {
        self.remote.addr()
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
            tx_dropped: self.tx.dropped(),
            jitter_ms: self.inbound.arrival.get() * 1000.0 / f64::from(self.codec.clock_rate()),
        }
    }

    /// Ends the session: finalizes the recording and returns the final counters. Fails if the
    /// recording failed at any point of the call.
    pub fn finish(self) -> Result<SessionSummary, SessionError> {
        let stats = self.stats();
        let duration_ms = self.media_time_ms();
        if let Some(err) = self.recording_error {
            return Err(err.into());
        }
        let recording = self.recorder.map(Recorder::finalize).transpose()?;
        Ok(SessionSummary {
            stats,
            recording,
            duration_ms,
        })
    }

    /// One 20 ms tick at media time `at`.
    fn tick(&mut self, at: Instant) {
        // Receive: play one frame out of the jitter buffer, concealing what is missing.
        let playout = self.inbound.jitter.pop(at);
        let was_frame = matches!(playout, Playout::Frame { .. });
        render(&mut self.decoder, playout, &mut self.rx_frame, &mut self.counters);
        // The buffer wants less delay: drop this frame if nobody would hear it go.
        if was_frame
            && let Some(forced) = self.inbound.jitter.wants_shrink()
            && (forced || rms(&self.rx_frame) < QUIET_RMS)
        {
            let playout = self.inbound.jitter.pop_instead();
            render(&mut self.decoder, playout, &mut self.rx_frame, &mut self.counters);
        }
        if let Some(event) = self.endpointer.process(&self.rx_frame) {
            self.events.push_back(event.into());
        }

        // Send: one frame from the pacer, silence when nothing is queued.
        if let PacedFrame::Speech {
            talkspurt_start: true,
            ..
        } = self.pacer.next_frame(&mut self.tx_frame)
        {
            self.packetizer.start_talkspurt();
        }
        let n = match self.encoder.encode(&self.tx_frame, &mut self.tx_payload) {
            Ok(n) => n,
            Err(err) => {
                self.counters.encode_errors += 1;
                tracing::warn!(error = %err, "could not encode outgoing frame");
                0
            }
        };
        let payload = &self.tx_payload[..n];
        let packetizer = &mut self.packetizer;
        if let Err(err) = self
            .tx
            .push_with(|buf| packetizer.write_packet(payload, FRAME_SAMPLES as u32, buf))
        {
            // The slots are sized for the largest frame this session encodes.
            tracing::warn!(error = %err, "could not packetize outgoing frame");
        }
        self.drain_pacer_events();

        // Record both sides of this tick as one stereo frame.
        if let Some(recorder) = &mut self.recorder
            && let Err(err) = recorder.write_frame(&self.rx_frame, &self.tx_frame)
        {
            tracing::warn!(error = %err, "recording failed; the call goes on without it");
            self.recorder = None;
            self.recording_error = Some(err);
        }
    }

    fn handle_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        self.counters.packets_received += 1;
        if self.inbound.ssrc != Some(packet.ssrc) {
            if self.inbound.ssrc.is_some() {
                // A new source (re-INVITE, media server switch): start its stream afresh.
                self.counters.ssrc_changes += 1;
                self.inbound.jitter.reset();
                self.inbound.arrival.reset();
            }
            self.inbound.ssrc = Some(packet.ssrc);
        }
        self.inbound
            .arrival
            .update(self.clock_ticks(now), packet.timestamp);
        let outcome =
            self.inbound
                .jitter
                .insert(now, packet.seq, packet.timestamp, packet.marker, packet.payload);
        if outcome != Insert::Stored {
            tracing::trace!(seq = packet.seq.0, ?outcome, "audio packet not stored");
        }
    }

    fn handle_telephone_event(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        match self.dtmf.on_packet(packet.timestamp, packet.payload) {
            Ok(Some(digit)) => {
                self.counters.dtmf_digits += 1;
                let duration_ms = u64::from(digit.duration) * 1000 / u64::from(self.codec.clock_rate());
                let at_ms = self.elapsed_ms(now).saturating_sub(duration_ms);
                self.events.push_back(MediaEvent::Dtmf {
                    digit: digit.digit,
                    at_ms,
                    duration_ms,
                });
            }
            Ok(None) => {}
            Err(_) => self.counters.malformed += 1,
        }
    }

    /// Symmetric RTP: the first valid packet fixes where we send and whom we accept.
    fn latch(&mut self, src: SocketAddr) {
        if let Remote::Signalled(signalled) = self.remote {
            if signalled != src {
                tracing::debug!(%signalled, latched = %src, "remote media address differs from SDP");
            }
            self.remote = Remote::Latched(src);
            self.events.push_back(MediaEvent::RemoteLatched(src));
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

/// Fills `out` with what plays for one tick of the jitter buffer's output.
fn render(decoder: &mut Decoder, playout: Playout<'_>, out: &mut Frame, counters: &mut Counters) {
    match playout {
        Playout::Frame { payload, .. } => {
            if decoder.decode(payload, out).is_err() {
                counters.decode_errors += 1;
            }
        }
        Playout::Lost { next } => {
            if decoder.conceal(next, out) == Concealment::Fec {
                counters.fec_recovered += 1;
            }
        }
        Playout::Stretch | Playout::Underrun => {
            decoder.conceal(None, out);
        }
        Playout::Silence => decoder.silence(out),
        Playout::Empty => out.fill(0),
    }
}

/// Root mean square of a frame.
fn rms(frame: &Frame) -> f32 {
    let sum: f32 = frame.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
    (sum / frame.len() as f32).sqrt()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::parse;
    use std::time::Duration;

    const TICK: Duration = FRAME_DURATION;

    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        // Virtual time: an arbitrary real instant as origin; only offsets from it matter.
        Instant::now()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    fn pt(n: u8) -> PayloadType {
        PayloadType::new(n).expect("7-bit payload type")
    }

    fn session(t0: Instant) -> MediaSession {
        let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(42));
        config.telephone_event_pt = Some(pt(101));
        MediaSession::new(config, t0).expect("session")
    }

    fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn drain_transmit(s: &mut MediaSession) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Some((to, n)) = s.poll_transmit(&mut buf) {
            out.push((to, buf[..n].to_vec()));
        }
        out
    }

    fn drain_events(s: &mut MediaSession) -> Vec<MediaEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn sends_one_silent_packet_per_tick_from_the_start() {
        let t0 = origin();
        let mut s = session(t0);
        assert_eq!(s.poll_timeout(), t0);
        let mut packets = Vec::new();
        for k in 0..5 {
            let now = t0 + TICK * k;
            assert_eq!(s.poll_timeout(), now);
            s.handle_timeout(now);
            packets.extend(drain_transmit(&mut s));
            assert_eq!(packets.len(), k as usize + 1);
        }
        let parsed: Vec<_> = packets.iter().map(|(_, p)| parse(p).expect("valid")).collect();
        for (i, p) in parsed.iter().enumerate() {
            assert_eq!(p.ssrc, Ssrc(42));
            assert_eq!(p.payload_type, pt(0));
            assert_eq!(p.payload, &[0xFF; 160][..], "mu-law silence");
            assert_eq!(p.marker, i == 0, "marker only on the first packet");
            assert_eq!(p.seq.0, parsed[0].seq.0.wrapping_add(i as u16));
            assert_eq!(p.timestamp.0, parsed[0].timestamp.0.wrapping_add(160 * i as u32));
        }
        assert!(packets.iter().all(|(to, _)| *to == addr("192.0.2.10:4000")));
    }

    #[test]
    fn a_late_wakeup_runs_every_missed_tick() {
        let t0 = origin();
        let mut s = session(t0);
        s.handle_timeout(t0 + Duration::from_millis(99));
        assert_eq!(drain_transmit(&mut s).len(), 5);
        assert_eq!(s.poll_timeout(), t0 + Duration::from_millis(100));
        assert_eq!(s.media_time_ms(), 100);
        s.handle_timeout(t0 + Duration::from_millis(99));
        assert!(drain_transmit(&mut s).is_empty());
    }

    #[test]
    fn marker_bit_starts_each_talkspurt() {
        let t0 = origin();
        let mut s = session(t0);
        let mut markers = Vec::new();
        for k in 0..10u32 {
            if k == 3 {
                s.play(UtteranceId(1), vec![1000; 320]);
            }
            s.handle_timeout(t0 + TICK * k);
            markers.extend(
                drain_transmit(&mut s)
                    .iter()
                    .map(|(_, p)| parse(p).expect("valid").marker),
            );
        }
        assert_eq!(
            markers,
            vec![true, false, false, true, false, false, false, false, false, false]
        );
    }

    #[test]
    fn latches_onto_the_first_valid_source_and_ignores_others() {
        let t0 = origin();
        let mut s = session(t0);
        let nat = addr("203.0.113.7:31000");
        // Garbage first: not latched.
        s.handle_datagram(t0, nat, &[1, 2, 3]);
        s.handle_datagram(t0, nat, &rtp_packet(96, 1, 0, 7, &[0; 160]));
        assert!(drain_events(&mut s).is_empty());
        s.handle_datagram(t0, nat, &rtp_packet(0, 1, 0, 7, &[0xFF; 160]));
        assert_eq!(drain_events(&mut s), vec![MediaEvent::RemoteLatched(nat)]);
        assert_eq!(s.remote(), nat);
        s.handle_timeout(t0);
        assert!(drain_transmit(&mut s).iter().all(|(to, _)| *to == nat));
        // Someone else sending valid RTP is ignored.
        s.handle_datagram(
            t0,
            addr("198.51.100.1:5000"),
            &rtp_packet(0, 2, 160, 7, &[0xFF; 160]),
        );
        let stats = s.stats();
        assert_eq!(
            (
                stats.malformed,
                stats.unknown_payload_type,
                stats.foreign,
                stats.packets_received
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn rtcp_on_the_rtp_port_is_ignored_not_malformed() {
        let t0 = origin();
        let mut s = session(t0);
        s.handle_datagram(
            t0,
            addr("192.0.2.10:4000"),
            &[0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        let stats = s.stats();
        assert_eq!((stats.rtcp_ignored, stats.malformed), (1, 0));
    }

    #[test]
    fn received_audio_is_decoded_after_the_jitter_delay() {
        let t0 = origin();
        let path = std::env::temp_dir().join(format!("media-core-session-{}.wav", std::process::id()));
        let mut config = SessionConfig::new(Codec::Pcma, pt(8), addr("192.0.2.10:4000"), Ssrc(1));
        config.recording = Some(path.clone());
        let mut s = MediaSession::new(config, t0).expect("session");
        let src = addr("192.0.2.10:4000");
        for k in 0..10u32 {
            let now = t0 + TICK * k;
            // A-law 0xAA decodes to +32256.
            s.handle_datagram(now, src, &rtp_packet(8, k as u16, k * 160, 9, &[0xAA; 160]));
            s.handle_timeout(now);
        }
        let summary = s.finish().expect("finish");
        assert_eq!(summary.duration_ms, 200);
        assert_eq!(summary.stats.packets_received, 10);
        assert_eq!(summary.stats.packets_sent, 0, "nothing was polled");
        let info = summary.recording.expect("recording");
        let mut reader = hound::WavReader::open(&info.path).expect("wav");
        let left: Vec<i16> = reader
            .samples::<i16>()
            .step_by(2)
            .map(|s| s.expect("sample"))
            .collect();
        assert_eq!(left.len(), 1600);
        // Ticks 0..3 are the jitter delay; from tick 3 the packets play.
        assert!(left[..480].iter().all(|&v| v == 0));
        assert!(left[480..].iter().all(|&v| v == 32256));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn gaps_are_concealed_and_a_stopped_sender_fades_out() {
        let t0 = origin();
        let path = std::env::temp_dir().join(format!("media-core-session-gaps-{}.wav", std::process::id()));
        let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
        config.recording = Some(path.clone());
        let mut s = MediaSession::new(config, t0).expect("session");
        let src = addr("192.0.2.10:4000");
        // Loud packets 0..8 with 4 lost, then the sender stops.
        for k in 0..18u32 {
            let now = t0 + TICK * k;
            if k < 8 && k != 4 {
                s.handle_datagram(now, src, &rtp_packet(0, k as u16, k * 160, 9, &[0x80; 160]));
            }
            s.handle_timeout(now);
        }
        let summary = s.finish().expect("finish");
        assert_eq!(
            (summary.stats.packets_lost, summary.stats.frames_concealed),
            (1, 1)
        );
        let mut reader = hound::WavReader::open(&path).expect("wav");
        let left: Vec<i16> = reader
            .samples::<i16>()
            .step_by(2)
            .map(|s| s.expect("sample"))
            .collect();
        let frame = |k: usize| &left[k * 160..(k + 1) * 160];
        // Playout starts at tick 3: packets 0..3 at ticks 3..6, the loss concealed at tick 7
        // (G.711 PLC repeats the signal: here a constant), then packets 5..7.
        for k in 0..3 {
            assert!(frame(k).iter().all(|&v| v == 0), "tick {k}");
        }
        for k in [3, 4, 5, 6, 9, 10] {
            assert!(frame(k).iter().all(|&v| v == 32124), "tick {k}");
        }
        // Appendix I fades from 10 ms into an erasure, 20% per 10 ms, and blends the first
        // 8 ms of the next real frame with the synthesis.
        assert!(frame(7)[..80].iter().all(|&v| v == 32124));
        assert!(frame(7)[80..].iter().all(|&v| (25_600..=32_124).contains(&v)));
        assert!(frame(8)[..64].iter().all(|&v| (25_600..=32_124).contains(&v)));
        assert!(frame(8)[64..].iter().all(|&v| v == 32124));
        // The sender stopped: 10 ms more at full level, then a fade, silent 60 ms later.
        assert!(frame(11)[..80].iter().all(|&v| v == 32124));
        assert!(frame(12)[159] < frame(12)[0] && frame(12)[159] > 0);
        for k in 14..18 {
            assert!(frame(k).iter().all(|&v| v == 0), "tick {k}");
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn ssrc_change_restarts_the_stream() {
        let t0 = origin();
        let mut s = session(t0);
        let src = addr("192.0.2.10:4000");
        s.handle_datagram(t0, src, &rtp_packet(0, 100, 0, 1, &[0; 160]));
        s.handle_datagram(t0, src, &rtp_packet(0, 5000, 0, 2, &[0; 160]));
        s.handle_datagram(t0, src, &rtp_packet(0, 5001, 160, 2, &[0; 160]));
        let stats = s.stats();
        assert_eq!((stats.ssrc_changes, stats.late, stats.packets_lost), (1, 0, 0));
    }

    #[test]
    fn dtmf_end_packets_yield_one_digit_and_never_reach_the_decoder() {
        let t0 = origin();
        let mut s = session(t0);
        let src = addr("192.0.2.10:4000");
        let at = t0 + Duration::from_millis(1000);
        for _ in 0..3 {
            s.handle_datagram(at, src, &rtp_packet(101, 7, 8000, 3, &[9, 0x8A, 0x03, 0x20]));
        }
        s.handle_datagram(at, src, &rtp_packet(101, 8, 8000, 3, &[9, 0x8A]));
        let events = drain_events(&mut s);
        assert_eq!(
            events,
            vec![
                MediaEvent::RemoteLatched(src),
                MediaEvent::Dtmf {
                    digit: '9',
                    at_ms: 900,
                    duration_ms: 100
                }
            ]
        );
        let stats = s.stats();
        assert_eq!(
            (stats.dtmf_digits, stats.packets_received, stats.malformed),
            (1, 0, 1)
        );
    }

    #[test]
    fn flush_reports_the_interrupted_utterance() {
        let t0 = origin();
        let mut s = session(t0);
        s.play(UtteranceId(5), vec![500; 8000]);
        s.handle_timeout(t0 + TICK * 9); // ticks 0..=9: 200 ms sent
        s.flush();
        let finished: Vec<_> = drain_events(&mut s)
            .into_iter()
            .filter(|e| matches!(e, MediaEvent::PlaybackFinished { .. }))
            .collect();
        assert_eq!(
            finished,
            vec![MediaEvent::PlaybackFinished {
                id: UtteranceId(5),
                played_ms: 200,
                interrupted: true
            }]
        );
    }

    #[test]
    fn muting_mid_speech_reports_the_discard() {
        let t0 = origin();
        let mut s = session(t0);
        let src = addr("192.0.2.10:4000");
        // Loud mu-law (0x80 is the largest positive value) from tick 0.
        for k in 0..10u32 {
            let now = t0 + TICK * k;
            s.handle_datagram(now, src, &rtp_packet(0, k as u16, k * 160, 9, &[0x80; 160]));
            s.handle_timeout(now);
        }
        s.set_listening(false);
        let events = drain_events(&mut s);
        assert!(
            events.contains(&MediaEvent::SpeechStarted { at_ms: 60 }),
            "{events:?}"
        );
        assert_eq!(
            events.last(),
            Some(&MediaEvent::SpeechDiscarded {
                start_ms: 60,
                end_ms: 200
            })
        );
    }

    #[test]
    fn an_unwritable_recording_path_fails_creation() {
        let t0 = origin();
        let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
        config.recording = Some(PathBuf::from("/nonexistent-dir/rec.wav"));
        assert!(matches!(
            MediaSession::new(config, t0),
            Err(SessionError::Recording(_))
        ));
    }

    #[test]
    fn config_errors() {
        let t0 = origin();
        let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
        config.telephone_event_pt = Some(pt(0));
        assert!(matches!(
            MediaSession::new(config.clone(), t0),
            Err(SessionError::PayloadTypeClash(_))
        ));
        config.telephone_event_pt = None;
        config.jitter_delay_ms = 5000;
        assert!(matches!(
            MediaSession::new(config.clone(), t0),
            Err(SessionError::Jitter(_))
        ));
        config.jitter_delay_ms = 60;
        config.end_of_turn_silence_ms = 0;
        assert!(matches!(
            MediaSession::new(config, t0),
            Err(SessionError::Endpointer(_))
        ));
    }

    #[test]
    fn initial_numbers_differ_between_ssrcs() {
        let (s1, t1) = initial_seq_and_timestamp(Ssrc(1));
        let (s2, t2) = initial_seq_and_timestamp(Ssrc(2));
        assert_ne!(s1, s2);
        assert_ne!(t1, t2);
    }
}
