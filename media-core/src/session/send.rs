//! The sending half of a session: one packet per tick, from DTMF digits when any are being
//! sent, else from the pacer's agent audio (silence when nothing is queued).

use std::time::Instant;

use super::MediaSession;
use crate::dtmf::send::DtmfStep;
use crate::event::MediaEvent;
use crate::pacer::PacedFrame;
use crate::rtp::{Header, RtpError};

impl MediaSession {
    /// Produces this tick's outgoing packet into the transmit queue, and `tx_frame` for the
    /// recording.
    pub(super) fn send_tick(&mut self, at: Instant) {
        let step = self.dtmf_tx.next_step(&mut self.tx_frame);
        match step {
            DtmfStep::Idle => {
                if let PacedFrame::Speech {
                    talkspurt_start: true,
                    ..
                } = self.pacer.next_frame(&mut self.tx_frame)
                {
                    self.packetizer.start_talkspurt();
                }
                while let Some(id) = self.pacer.poll_started() {
                    let at_ms = self.elapsed_ms(at);
                    self.events.push_back(MediaEvent::PlaybackStarted { id, at_ms });
                }
                self.send_audio();
            }
            DtmfStep::Tone { first } => {
                if first {
                    self.dtmf_started_ms = self.elapsed_ms(at);
                }
                self.send_audio();
            }
            DtmfStep::Gap => self.send_audio(),
            DtmfStep::Event { first, payload } => {
                if first {
                    self.dtmf_started_ms = self.elapsed_ms(at);
                    self.dtmf_event_ts = self.packetizer.next_timestamp();
                }
                self.send_event(first, payload);
                // Audio after the event starts a new talk spurt.
                self.packetizer.start_talkspurt();
            }
        }
        if let Some(sent) = self.dtmf_tx.take_finished() {
            self.events.push_back(MediaEvent::DtmfSent {
                digit: sent.digit,
                at_ms: self.dtmf_started_ms,
                duration_ms: u64::from(sent.duration_ms),
            });
        }
        self.drain_pacer_events();
    }

    /// Encodes `tx_frame` and queues it as the next audio packet.
    fn send_audio(&mut self) {
        let n = match self.encoder.encode(&self.tx_frame, &mut self.tx_payload) {
            Ok(n) => n,
            Err(err) => {
                self.counters.encode_errors += 1;
                tracing::warn!(error = %err, "could not encode outgoing frame");
                0
            }
        };
        let payload = &self.tx_payload[..n];
        self.counters.octets_sent += n as u64;
        let packetizer = &mut self.packetizer;
        let ticks = self.frame_ticks;
        let pushed = self
            .tx
            .push_with(|buf| packetizer.write_packet(payload, ticks, buf));
        log_packetize_error(pushed);
    }

    /// Queues an RFC 4733 event packet; the media clock moves on by one frame.
    fn send_event(&mut self, first: bool, payload: [u8; 4]) {
        let Some(payload_type) = self.telephone_event_pt else {
            return;
        };
        let header = Header {
            payload_type,
            marker: first,
            timestamp: self.dtmf_event_ts,
        };
        let packetizer = &mut self.packetizer;
        let pushed = self
            .tx
            .push_with(|buf| packetizer.write_other(header, &payload, buf));
        log_packetize_error(pushed);
        self.packetizer.advance(self.frame_ticks);
    }
}

fn log_packetize_error(result: Result<(), RtpError>) {
    if let Err(err) = result {
        // The slots are sized for the largest payload this session encodes.
        tracing::warn!(error = %err, "could not packetize outgoing frame");
    }
}
