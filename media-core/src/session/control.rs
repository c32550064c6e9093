//! The RTCP side of a session: reports out on schedule, reports in for round-trip time and the
//! peer's view of our stream, `BYE` at the end.

use std::net::SocketAddr;
use std::time::Instant;

use super::MediaSession;
use crate::rtcp::{ReceiverInfo, RtcpMode, SenderInfo};

impl MediaSession {
    /// Handles one RTCP datagram received at `now` from `src` (on the RTCP port, or demuxed
    /// from the RTP port with rtcp-mux). Datagrams from another host than the remote's, and
    /// malformed ones, are dropped and counted.
    pub fn handle_rtcp(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        self.finish_timeout();
        // Only from the IP of the fixed media source: before RTP has fixed it, nothing vouches for
        // an RTCP sender.
        if self.remote.fixed().is_none_or(|fixed| fixed.ip() != src.ip()) {
            self.counters.foreign += 1;
            return;
        }
        if self.srtp.is_some() {
            self.with_decrypted(bytes, true, |session, plain| {
                session.handle_plain_rtcp(now, plain)
            });
        } else {
            self.handle_plain_rtcp(now, bytes);
        }
    }

    /// Handles a plain (or decrypted) RTCP datagram.
    pub(super) fn handle_plain_rtcp(&mut self, now: Instant, bytes: &[u8]) {
        let Some(rtcp) = &mut self.rtcp else {
            self.counters.rtcp_ignored += 1;
            return;
        };
        match rtcp.handle(now, bytes) {
            Ok(info) => {
                self.counters.rtcp_received += 1;
                if let Some(rtt) = info.rtt {
                    self.quality.rtt = Some(rtt);
                }
                if let Some(report) = info.report {
                    self.quality.remote = Some(report);
                }
                if info.bye {
                    tracing::debug!("remote sent RTCP BYE");
                }
            }
            Err(err) => {
                self.counters.malformed += 1;
                tracing::trace!(error = %err, "dropped malformed RTCP");
            }
        }
    }

    /// Writes the next outgoing RTCP datagram into `buf` and returns its destination and
    /// length. Send it on the RTCP socket, or on the RTP socket with rtcp-mux.
    pub fn poll_transmit_rtcp(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let n = self.rtcp_pending.take()?;
        let dst = match self.rtcp_mode {
            RtcpMode::Separate { remote } => remote,
            RtcpMode::Mux | RtcpMode::Off => self.remote.addr(),
        };
        let Some(out) = buf.get_mut(..n) else {
            self.counters.tx_rtcp_dropped += 1;
            return None;
        };
        out.copy_from_slice(&self.rtcp_buf[..n]);
        let n = match &mut self.srtp {
            None => n,
            Some(srtp) => match srtp.protect_rtcp(buf, n) {
                Ok(n) => n,
                Err(err) => {
                    self.counters.tx_rtcp_dropped += 1;
                    tracing::warn!(error = %err, "could not protect RTCP");
                    return None;
                }
            },
        };
        self.counters.rtcp_sent += 1;
        Some((dst, n))
    }

    /// Whether RTCP goes on the RTP socket (rtcp-mux) rather than its own.
    pub fn rtcp_mode(&self) -> RtcpMode {
        self.rtcp_mode
    }

    /// Says goodbye (a final report and RTCP `BYE`), for the driver to send before
    /// [`finish`](Self::finish).
    pub fn close(&mut self, now: Instant) {
        self.finish_timeout();
        let receiver = self.receiver_info();
        let Some(rtcp) = &mut self.rtcp else {
            return;
        };
        match rtcp.build_bye(now, receiver, &mut self.rtcp_buf[..]) {
            Ok(n) => self.rtcp_pending = Some(n),
            Err(err) => tracing::warn!(error = %err, "could not build RTCP BYE"),
        }
    }

    /// Builds the periodic report when it is due at tick time `at`.
    pub(super) fn rtcp_tick(&mut self, at: Instant) {
        if self.rtcp.as_ref().is_none_or(|r| at < r.next_report()) {
            return;
        }
        let receiver = self.receiver_info();
        let sender = SenderInfo {
            // The timestamp of the packet this tick sends, which goes out now.
            rtp_time: self.packetizer.next_timestamp().0,
            packets: self.counters.packets_sent as u32,
            octets: self.counters.octets_sent as u32,
        };
        let Some(rtcp) = &mut self.rtcp else {
            return;
        };
        match rtcp.build_report(at, sender, receiver, &mut self.rtcp_buf[..]) {
            Ok(n) => self.rtcp_pending = Some(n),
            Err(err) => tracing::warn!(error = %err, "could not build RTCP report"),
        }
    }

    /// What a reception report says about the remote stream, once there is one.
    fn receiver_info(&self) -> Option<ReceiverInfo> {
        let ssrc = self.inbound.ssrc?;
        let jitter = self.inbound.jitter.stats();
        Some(ReceiverInfo {
            ssrc,
            extended_highest: self.inbound.jitter.extended_highest()?,
            expected: jitter.expected,
            received: self.counters.packets_received,
            jitter: self.inbound.arrival.get() as u32,
        })
    }
}
