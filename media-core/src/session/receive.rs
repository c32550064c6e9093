//! The receiving half of a session: audio packets into the jitter buffer, telephone-events into
//! digits, and one frame per tick out of the buffer through the decoder.

use std::net::SocketAddr;
use std::time::Instant;

use super::source::Admit;
use super::{Counters, Ear, MediaSession};
use crate::codec::{Concealment, Decoder};
use crate::dtmf::Digit;
use crate::event::MediaEvent;
use crate::frame::Frame;
use crate::jitter::{Insert, Playout};
use crate::rtp::RtpPacket;

/// A frame whose RMS is below this (about -40 dBFS) is quiet enough to drop unheard when the
/// jitter buffer shrinks its delay.
const QUIET_RMS: f32 = 330.0;
/// A telephone-event without packets for this long has ended, whether or not its end came.
const DTMF_QUIET_MS: u64 = 500;

impl MediaSession {
    /// Plays one frame out of the jitter buffer into `rx_frame`, concealing what is missing.
    pub(super) fn receive_tick(&mut self, at: Instant) {
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
        // A digit whose end packets never came is reported once its packets stop.
        if self.dtmf.in_event()
            && self.last_telephone_event.is_some_and(|last| {
                self.elapsed_ms(at).saturating_sub(self.elapsed_ms(last)) >= DTMF_QUIET_MS
            })
            && let Some(digit) = self.dtmf.flush()
        {
            self.report_digit(at, digit);
        }
    }

    pub(super) fn handle_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
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

    pub(super) fn handle_telephone_event(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        self.last_telephone_event = Some(now);
        match self.dtmf.on_packet(packet.timestamp, packet.payload) {
            Ok(digits) => {
                for digit in digits.into_iter().flatten() {
                    self.report_digit(now, digit);
                }
            }
            Err(_) => self.counters.malformed += 1,
        }
    }

    fn report_digit(&mut self, now: Instant, digit: Digit) {
        self.counters.dtmf_digits += 1;
        let duration_ms = u64::from(digit.duration) * 1000 / u64::from(self.codec.clock_rate());
        let end_ms = self.elapsed_ms(now);
        let at_ms = end_ms.saturating_sub(duration_ms);
        match &mut self.ear {
            // The analysis merges it with the in-band digits, so one sent both ways is
            // reported once.
            Ear::Analysis(live) => {
                live.rfc4733_digit(digit.digit, at_ms, end_ms);
                self.drain_ear();
            }
            Ear::Energy(_) => self.events.push_back(MediaEvent::Dtmf {
                digit: digit.digit,
                at_ms,
                duration_ms,
                volume_dbm0: Some(digit.volume),
            }),
        }
    }

    /// Whether a valid packet from `src` is the remote's (strict source, see the `source`
    /// module); the first that fixes the source is reported, those refused are
    /// counted as foreign.
    pub(super) fn admit(&mut self, src: SocketAddr) -> bool {
        let signalled = self.remote.addr();
        match self.remote.admit(self.latch, src) {
            Admit::Accept => true,
            Admit::Fixed(fixed) => {
                if fixed != signalled {
                    tracing::debug!(%signalled, latched = %fixed, "remote media address differs from SDP");
                }
                self.events.push_back(MediaEvent::RemoteLatched(fixed));
                true
            }
            Admit::Refuse => {
                self.counters.foreign += 1;
                tracing::trace!(%src, %signalled, "dropped RTP from a foreign source");
                false
            }
        }
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
