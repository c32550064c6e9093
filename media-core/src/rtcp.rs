//! RTCP (RFC 3550 section 6): the sender and receiver reports of one session, the statistics
//! they carry, and the round-trip time they allow.
//!
//! Packets are built and parsed with the `rtcp` crate (webrtc-rs). Reports go out every five
//! seconds on average, spread over 0.5 to 1.5 times that (section 6.3.1; the spread comes from
//! a generator seeded with our SSRC, so no RNG sits in the core), the first after half an
//! interval. Each is a compound packet: a sender report (we always send: silence keeps the
//! stream alive) with one reception report block about the remote stream once it has sent
//! anything, then an SDES CNAME. `BYE` ends the session.
//!
//! The round-trip time follows section 6.4.1: the peer echoes the middle 32 bits of our last
//! report's NTP time (LSR) with the delay since it got it (DLSR); arrival minus both is the
//! round trip. The NTP clock is the session's own: `ntp_origin` (the wall clock at the start,
//! given by the driver) plus elapsed time, so RTT needs no wall clock at all.
//!
//! Reports are a few per call-minute, so building them allocates (the `rtcp` crate marshals
//! into `Bytes`); nothing here runs per packet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ::rtcp::goodbye::Goodbye;
use ::rtcp::packet::Packet;
use ::rtcp::receiver_report::ReceiverReport;
use ::rtcp::reception_report::ReceptionReport;
use ::rtcp::sender_report::SenderReport;
use ::rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};
use bytes::Bytes;

use crate::rtp::Ssrc;

/// Average interval between reports (the RFC 3550 minimum).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Largest RTCP datagram we build.
pub const MAX_RTCP: usize = 512;
/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Where RTCP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpMode {
    /// No RTCP at all (a driver without an RTCP socket and no rtcp-mux).
    Off,
    /// On the RTP port (RFC 5761 rtcp-mux), to the RTP remote.
    Mux,
    /// On its own port pair: sent to `remote` (by default the RTP port + 1, RFC 3550).
    Separate {
        /// The remote RTCP address.
        remote: SocketAddr,
    },
}

impl RtcpMode {
    /// The RFC 3550 default: RTCP on the port after the remote's RTP port.
    pub fn next_port(rtp_remote: SocketAddr) -> Self {
        let mut remote = rtp_remote;
        remote.set_port(rtp_remote.port().wrapping_add(1));
        RtcpMode::Separate { remote }
    }
}

/// Why an RTCP datagram was not accepted, or a report could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// The datagram is not valid RTCP.
    #[error("malformed RTCP: {0}")]
    Malformed(#[from] ::rtcp::Error),
    /// A built report does not fit the buffer.
    #[error("RTCP report of {needed} bytes does not fit {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// What we know about the stream we send, for the sender info of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// RTP timestamp corresponding to the report's NTP time.
    pub rtp_time: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

/// What we know about the stream we receive, for a reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverInfo {
    /// Its SSRC.
    pub ssrc: Ssrc,
    /// Extended highest sequence number received (wraps in the high 16 bits).
    pub extended_highest: u32,
    /// Packets expected so far (RFC 3550 A.3).
    pub expected: u64,
    /// Packets received so far, duplicates included.
    pub received: u64,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

/// What the peer reported about the stream we send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteReport {
    /// Fraction of our packets lost since its previous report, in percent.
    pub fraction_lost_pct: f64,
    /// Our packets it lost in all (negative with duplicates).
    pub cumulative_lost: i32,
    /// Its interarrival jitter of our stream, in timestamp units.
    pub jitter: u32,
}

/// What one received RTCP datagram told us.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RtcpInfo {
    /// A new round-trip time measurement.
    pub rtt: Option<Duration>,
    /// The peer said goodbye.
    pub bye: bool,
    /// The peer's report about our stream.
    pub report: Option<RemoteReport>,
}

/// The RTCP side of one session. See the module docs.
#[derive(Debug)]
pub struct RtcpSession {
    ssrc: Ssrc,
    cname: Bytes,
    started: Instant,
    ntp_origin: u64,
    next_report: Instant,
    seed: u64,
    /// Middle 32 bits of the peer's last SR NTP time, and when it arrived.
    last_remote_sr: Option<(u32, Instant)>,
    /// `expected` and `received` at our previous report, for the fraction lost.
    prior: (u64, u64),
    reports_sent: u64,
}

impl RtcpSession {
    /// RTCP for the stream `ssrc` of a session started at `started`, when the wall clock read
    /// `ntp_origin` (NTP 32.32 fixed point; 0 if unknown: RTT does not need it).
    pub fn new(ssrc: Ssrc, started: Instant, ntp_origin: u64) -> Self {
        let seed = u64::from(ssrc.0) | 1;
        let mut session = RtcpSession {
            ssrc,
            cname: Bytes::from(format!("ringback-{:08x}", ssrc.0)),
            started,
            ntp_origin,
            next_report: started,
            seed,
            last_remote_sr: None,
            prior: (0, 0),
            reports_sent: 0,
        };
        session.next_report = started + session.interval() / 2;
        session
    }

    /// When the next report is due.
    pub fn next_report(&self) -> Instant {
        self.next_report
    }

    /// NTP time (32.32 fixed point) at `now`.
    pub fn ntp(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.started);
        let fraction = (u64::from(elapsed.subsec_nanos()) << 32) / 1_000_000_000;
        self.ntp_origin
            .wrapping_add(elapsed.as_secs() << 32)
            .wrapping_add(fraction)
    }

    /// Builds the compound report due at `now` into `buf` and schedules the next one.
    pub fn build_report(
        &mut self,
        now: Instant,
        sender: SenderInfo,
        receiver: Option<ReceiverInfo>,
        buf: &mut [u8],
    ) -> Result<usize, RtcpError> {
        let reports = receiver
            .map(|r| vec![self.reception_block(now, r)])
            .unwrap_or_default();
        let sr = SenderReport {
            ssrc: self.ssrc.0,
            ntp_time: self.ntp(now),
            rtp_time: sender.rtp_time,
            packet_count: sender.packets,
            octet_count: sender.octets,
            reports,
            profile_extensions: Bytes::new(),
        };
        let packets: Vec<Box<dyn Packet + Send + Sync>> = vec![Box::new(sr), Box::new(self.sdes())];
        let n = write(&packets, buf)?;
        self.reports_sent += 1;
        self.next_report = now + self.interval();
        Ok(n)
    }

    /// Builds a final receiver report and `BYE` into `buf`.
    pub fn build_bye(
        &mut self,
        now: Instant,
        receiver: Option<ReceiverInfo>,
        buf: &mut [u8],
    ) -> Result<usize, RtcpError> {
        let rr = ReceiverReport {
            ssrc: self.ssrc.0,
            reports: receiver
                .map(|r| vec![self.reception_block(now, r)])
                .unwrap_or_default(),
            profile_extensions: Bytes::new(),
        };
        let bye = Goodbye {
            sources: vec![self.ssrc.0],
            reason: Bytes::new(),
        };
        let packets: Vec<Box<dyn Packet + Send + Sync>> =
            vec![Box::new(rr), Box::new(self.sdes()), Box::new(bye)];
        write(&packets, buf)
    }

    /// Takes in one received RTCP datagram (compound or not).
    pub fn handle(&mut self, now: Instant, bytes: &[u8]) -> Result<RtcpInfo, RtcpError> {
        let mut raw = Bytes::copy_from_slice(bytes);
        let packets = ::rtcp::packet::unmarshal(&mut raw)?;
        let mut info = RtcpInfo::default();
        for packet in &packets {
            let any = packet.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.last_remote_sr = Some(((sr.ntp_time >> 16) as u32, now));
                self.take_blocks(now, &sr.reports, &mut info);
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.take_blocks(now, &rr.reports, &mut info);
            } else if any.downcast_ref::<Goodbye>().is_some() {
                info.bye = true;
            }
        }
        Ok(info)
    }

    /// The reception report block about the remote stream, per RFC 3550 A.3.
    fn reception_block(&mut self, now: Instant, r: ReceiverInfo) -> ReceptionReport {
        let (expected_prior, received_prior) = self.prior;
        let expected_interval = r.expected.saturating_sub(expected_prior);
        let received_interval = r.received.saturating_sub(received_prior);
        self.prior = (r.expected, r.received);
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(expected_interval)
            .map_or(0, |f| u8::try_from(f).unwrap_or(u8::MAX));
        // 24-bit signed cumulative loss, clamped.
        let lost =
            i64::try_from(r.expected).unwrap_or(i64::MAX) - i64::try_from(r.received).unwrap_or(i64::MAX);
        let total_lost = (lost.clamp(-0x80_0000, 0x7F_FFFF) as i32 as u32) & 0xFF_FFFF;
        let (last_sender_report, delay) = match self.last_remote_sr {
            Some((lsr, at)) => {
                let since = now.saturating_duration_since(at);
                let dlsr =
                    since.as_secs() * 65_536 + u64::from(since.subsec_nanos()) * 65_536 / 1_000_000_000;
                (lsr, u32::try_from(dlsr).unwrap_or(u32::MAX))
            }
            None => (0, 0),
        };
        ReceptionReport {
            ssrc: r.ssrc.0,
            fraction_lost,
            total_lost,
            last_sequence_number: r.extended_highest,
            jitter: r.jitter,
            last_sender_report,
            delay,
        }
    }

    fn take_blocks(&self, now: Instant, blocks: &[ReceptionReport], info: &mut RtcpInfo) {
        let Some(block) = blocks.iter().find(|b| b.ssrc == self.ssrc.0) else {
            return;
        };
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((block.total_lost << 8) as i32) >> 8;
        info.report = Some(RemoteReport {
            fraction_lost_pct: f64::from(block.fraction_lost) * 100.0 / 256.0,
            cumulative_lost,
            jitter: block.jitter,
        });
        if block.last_sender_report != 0 {
            // All in units of 1/65536 s, modulo 2^32.
            let arrival = (self.ntp(now) >> 16) as u32;
            let rtt = arrival
                .wrapping_sub(block.last_sender_report)
                .wrapping_sub(block.delay);
            // A peer with a broken DLSR can make this "negative": ignore that.
            if rtt < 65_536 * 60 {
                info.rtt = Some(Duration::from_micros(u64::from(rtt) * 1_000_000 / 65_536));
            }
        }
    }

    fn sdes(&self) -> SourceDescription {
        SourceDescription {
            chunks: vec![SourceDescriptionChunk {
                source: self.ssrc.0,
                items: vec![SourceDescriptionItem {
                    sdes_type: SdesType::SdesCname,
                    text: self.cname.clone(),
                }],
            }],
        }
    }

    /// The next interval: the average times a factor in [0.5, 1.5) (splitmix64 of the seed).
    fn interval(&mut self) -> Duration {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let factor = 0.5 + (z >> 11) as f64 / (1u64 << 53) as f64;
        REPORT_INTERVAL.mul_f64(factor)
    }
}

fn write(packets: &[Box<dyn Packet + Send + Sync>], buf: &mut [u8]) -> Result<usize, RtcpError> {
    let bytes = ::rtcp::packet::marshal(packets)?;
    let Some(dst) = buf.get_mut(..bytes.len()) else {
        return Err(RtcpError::BufferTooSmall {
            needed: bytes.len(),
            available: buf.len(),
        });
    };
    dst.copy_from_slice(&bytes);
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        // Virtual time: only offsets from this instant matter.
        Instant::now()
    }

    fn receiver(expected: u64, received: u64) -> ReceiverInfo {
        ReceiverInfo {
            ssrc: Ssrc(0xB),
            extended_highest: 70_000,
            expected,
            received,
            jitter: 40,
        }
    }

    #[test]
    fn reports_are_spread_around_five_seconds() {
        let t0 = origin();
        let mut rtcp = RtcpSession::new(Ssrc(7), t0, 0);
        let first = rtcp.next_report() - t0;
        assert!(first >= Duration::from_millis(1250) && first < Duration::from_millis(3750));
        let mut at = rtcp.next_report();
        let mut gaps = Vec::new();
        let mut buf = [0u8; MAX_RTCP];
        for _ in 0..200 {
            rtcp.build_report(
                at,
                SenderInfo {
                    rtp_time: 0,
                    packets: 0,
                    octets: 0,
                },
                None,
                &mut buf,
            )
            .expect("report");
            gaps.push((rtcp.next_report() - at).as_secs_f64());
            at = rtcp.next_report();
        }
        assert!(gaps.iter().all(|&g| (2.5..7.5).contains(&g)));
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((4.5..5.5).contains(&mean), "mean {mean}");
    }

    #[test]
    fn two_sessions_measure_their_round_trip_and_each_others_loss() {
        let t0 = origin();
        let mut a = RtcpSession::new(Ssrc(0xA), t0, 0x1234_5678_0000_0000);
        let mut b = RtcpSession::new(Ssrc(0xB), t0, 0x9999_0000_0000_0000);
        let mut buf = [0u8; MAX_RTCP];
        let one_way = Duration::from_millis(40);
        // A reports at 2 s; it reaches B 40 ms later.
        let n = a
            .build_report(
                t0 + Duration::from_secs(2),
                SenderInfo {
                    rtp_time: 16_000,
                    packets: 100,
                    octets: 16_000,
                },
                None,
                &mut buf,
            )
            .expect("report");
        let info = b
            .handle(t0 + Duration::from_secs(2) + one_way, &buf[..n])
            .expect("valid");
        assert_eq!(info, RtcpInfo::default(), "nothing about B's stream yet");
        // B answers 300 ms later, having lost 10 of A's 200 packets; A gets it 40 ms later.
        let at = t0 + Duration::from_secs(2) + one_way + Duration::from_millis(300);
        let n = b
            .build_report(
                at,
                SenderInfo {
                    rtp_time: 0,
                    packets: 5,
                    octets: 800,
                },
                Some(ReceiverInfo {
                    ssrc: Ssrc(0xA),
                    ..receiver(200, 190)
                }),
                &mut buf,
            )
            .expect("report");
        let info = a.handle(at + one_way, &buf[..n]).expect("valid");
        let rtt = info.rtt.expect("rtt");
        assert!(rtt.abs_diff(2 * one_way) < Duration::from_micros(100), "{rtt:?}");
        let report = info.report.expect("report");
        assert_eq!(report.cumulative_lost, 10);
        assert!((report.fraction_lost_pct - 4.69).abs() < 0.01, "{report:?}");
        assert_eq!(report.jitter, 40);
    }

    #[test]
    fn fraction_lost_covers_the_interval_and_duplicates_go_negative() {
        let t0 = origin();
        let mut a = RtcpSession::new(Ssrc(1), t0, 0);
        let mut b = RtcpSession::new(Ssrc(0xB), t0, 0);
        let mut buf = [0u8; MAX_RTCP];
        let sender = SenderInfo {
            rtp_time: 0,
            packets: 0,
            octets: 0,
        };
        a.build_report(t0, sender, Some(receiver(100, 50)), &mut buf)
            .expect("first");
        // 100 more expected, all 100 received: this interval lost nothing.
        let n = a
            .build_report(t0, sender, Some(receiver(200, 150)), &mut buf)
            .expect("second");
        let report = b.handle(t0, &buf[..n]).expect("valid").report.expect("block");
        assert_eq!((report.fraction_lost_pct, report.cumulative_lost), (0.0, 50));
        // More received than expected (duplicates): negative cumulative loss.
        let n = a
            .build_report(t0, sender, Some(receiver(300, 310)), &mut buf)
            .expect("third");
        let report = b.handle(t0, &buf[..n]).expect("valid").report.expect("block");
        assert_eq!(report.cumulative_lost, -10);
    }

    #[test]
    fn bye_is_recognised_and_garbage_is_an_error() {
        let t0 = origin();
        let mut a = RtcpSession::new(Ssrc(1), t0, 0);
        let mut b = RtcpSession::new(Ssrc(2), t0, 0);
        let mut buf = [0u8; MAX_RTCP];
        let n = a.build_bye(t0, None, &mut buf).expect("bye");
        assert!(b.handle(t0, &buf[..n]).expect("valid").bye);
        assert!(b.handle(t0, &[0x81, 200, 0, 50, 1, 2]).is_err());
        assert!(b.handle(t0, &[]).is_err());
        assert!(matches!(
            a.build_report(
                t0,
                SenderInfo {
                    rtp_time: 0,
                    packets: 0,
                    octets: 0
                },
                None,
                &mut [0u8; 8]
            ),
            Err(RtcpError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn ntp_time_advances_with_the_session() {
        let t0 = origin();
        let rtcp = RtcpSession::new(Ssrc(1), t0, 5 << 32);
        assert_eq!(rtcp.ntp(t0), 5 << 32);
        assert_eq!(rtcp.ntp(t0 + Duration::from_millis(1500)), (6 << 32) + (1 << 31));
    }
}
