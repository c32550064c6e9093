//! RTP (RFC 3550) on the wire: identifier newtypes, parsing of received packets, and a
//! packetizer that writes outgoing packets into a caller-provided buffer.
//!
//! Parsing is delegated to `rtp-rs`'s `RtpReader`, which validates the header (version,
//! CSRC list, extension, padding) before any field is read, so a malformed datagram from the
//! network becomes an [`RtpError`] rather than a panic. Writing is ten lines of big-endian
//! stores, done here so the send path never allocates (the `rtp-rs` builder returns a `Vec`).

use rtp_rs::{RtpReader, RtpReaderError};

/// Length of the fixed RTP header we write: no CSRCs, no extension.
pub const RTP_HEADER_LEN: usize = 12;

/// Synchronisation source identifier of an RTP stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ssrc(pub u32);

/// RTP sequence number (16 bits, wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNo(pub u16);

impl SeqNo {
    /// The sequence number after this one, wrapping from 65535 to 0.
    pub const fn next(self) -> SeqNo {
        SeqNo(self.0.wrapping_add(1))
    }
}

/// RTP timestamp, in units of the codec clock rate (wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpTimestamp(pub u32);

/// RTP payload type: 7 bits, so only 0..=127 can be constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// RFC 3551 static assignment for PCMU.
    pub const PCMU: PayloadType = PayloadType(0);
    /// RFC 3551 static assignment for PCMA.
    pub const PCMA: PayloadType = PayloadType(8);

    /// Wraps `value`, or `None` when it does not fit in the 7-bit field.
    pub const fn new(value: u8) -> Option<PayloadType> {
        if value <= 127 {
            Some(PayloadType(value))
        } else {
            None
        }
    }

    /// The numeric payload type.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl std::fmt::Display for PayloadType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Why an RTP packet could not be parsed or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Fewer bytes than the 12-byte fixed header.
    #[error("datagram of {len} bytes is shorter than an RTP header")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    UnsupportedVersion(u8),
    /// The CSRC list or header extension runs past the end of the datagram.
    #[error("RTP header of {header_len} bytes truncated to {buffer_len}")]
    HeadersTruncated {
        /// Bytes the header claims.
        header_len: usize,
        /// Bytes available.
        buffer_len: usize,
    },
    /// The padding count is zero or larger than the payload.
    #[error("invalid RTP padding length {0}")]
    InvalidPadding(u8),
    /// The output buffer cannot hold header and payload.
    #[error("buffer of {available} bytes cannot hold an RTP packet of {needed}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}

impl From<RtpReaderError> for RtpError {
    fn from(err: RtpReaderError) -> Self {
        match err {
            RtpReaderError::BufferTooShort(len) => RtpError::TooShort { len },
            RtpReaderError::UnsupportedVersion(v) => RtpError::UnsupportedVersion(v),
            RtpReaderError::HeadersTruncated {
                header_len,
                buffer_len,
            } => RtpError::HeadersTruncated {
                header_len,
                buffer_len,
            },
            RtpReaderError::PaddingLengthInvalid(p) => RtpError::InvalidPadding(p),
        }
    }
}

/// The fields of a received RTP packet that the media path uses, borrowing the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Source of the stream.
    pub ssrc: Ssrc,
    /// Sequence number.
    pub seq: SeqNo,
    /// Media timestamp.
    pub timestamp: RtpTimestamp,
    /// Payload type (checked against the negotiated ones by the caller).
    pub payload_type: PayloadType,
    /// Marker bit: start of a talk spurt for audio, start of an event for RFC 4733.
    pub marker: bool,
    /// Payload without header, CSRCs, extension or padding.
    pub payload: &'a [u8],
}

/// Parses and validates one RTP datagram.
pub fn parse(bytes: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let reader = RtpReader::new(bytes)?;
    Ok(RtpPacket {
        ssrc: Ssrc(reader.ssrc()),
        seq: SeqNo(u16::from(reader.sequence_number())),
        timestamp: RtpTimestamp(reader.timestamp()),
        // `payload_type()` masks out the marker bit, so the value is always 7 bits wide.
        payload_type: PayloadType(reader.payload_type() & 0x7F),
        marker: reader.mark(),
        payload: reader.payload(),
    })
}

/// Whether a datagram is RTCP rather than RTP, by the RFC 5761 section 4 rule: RTCP packet
/// types 192..=223 land where RTP would have marker bit plus payload types 64..=95, which no
/// one assigns to RTP. Lets a session on a muxed port ignore RTCP instead of calling it garbage.
pub fn is_rtcp(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0] >> 6 == 2 && (192..=223).contains(&bytes[1])
}

/// Writes the packets of one outgoing RTP stream: sequence numbers and timestamps advance by
/// themselves, and the marker bit is set on the first packet of each talk spurt (RFC 3551
/// section 4.1), which includes the first packet of the stream.
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: Ssrc,
    payload_type: PayloadType,
    next_seq: SeqNo,
    next_timestamp: RtpTimestamp,
    marker_pending: bool,
}

impl Packetizer {
    /// A packetizer whose first packet carries `first_seq` and `first_timestamp`. RFC 3550 wants
    /// both random; the caller supplies them so this core needs no random number generator.
    pub fn new(
        ssrc: Ssrc,
        payload_type: PayloadType,
        first_seq: SeqNo,
        first_timestamp: RtpTimestamp,
    ) -> Self {
        Packetizer {
            ssrc,
            payload_type,
            next_seq: first_seq,
            next_timestamp: first_timestamp,
            marker_pending: true,
        }
    }

    /// Writes later packets with `payload_type` (a renegotiation changed it); the stream's sequence
    /// and timestamps go on.
    pub fn set_payload_type(&mut self, payload_type: PayloadType) {
        self.payload_type = payload_type;
    }

    /// Sets the marker bit on the next packet: a talk spurt starts there.
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Sequence number the next packet will carry.
    pub fn next_seq(&self) -> SeqNo {
        self.next_seq
    }

    /// Timestamp the next packet will carry.
    pub fn next_timestamp(&self) -> RtpTimestamp {
        self.next_timestamp
    }

    /// SSRC written into every packet.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Writes header and `payload` into `buf` and returns the packet length. On success the
    /// sequence number advances by one and the timestamp by `duration`, the number of samples
    /// (clock ticks) the payload covers. On error nothing advances.
    pub fn write_packet(&mut self, payload: &[u8], duration: u32, buf: &mut [u8]) -> Result<usize, RtpError> {
        let header = Header {
            payload_type: self.payload_type,
            marker: self.marker_pending,
            timestamp: self.next_timestamp,
        };
        let n = self.write_other(header, payload, buf)?;
        self.marker_pending = false;
        self.advance(duration);
        Ok(n)
    }

    /// Writes a packet of this stream with its own payload type, marker and timestamp (an
    /// RFC 4733 event, which keeps its start timestamp across its packets). Only the sequence
    /// number advances; move the media clock on with [`advance`](Self::advance).
    pub fn write_other(&mut self, header: Header, payload: &[u8], buf: &mut [u8]) -> Result<usize, RtpError> {
        let needed = RTP_HEADER_LEN + payload.len();
        let Some(packet) = buf.get_mut(..needed) else {
            return Err(RtpError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        };
        let (head, body) = packet.split_at_mut(RTP_HEADER_LEN);
        head[0] = 0x80; // version 2, no padding, no extension, no CSRC
        head[1] = (u8::from(header.marker) << 7) | header.payload_type.0;
        head[2..4].copy_from_slice(&self.next_seq.0.to_be_bytes());
        head[4..8].copy_from_slice(&header.timestamp.0.to_be_bytes());
        head[8..12].copy_from_slice(&self.ssrc.0.to_be_bytes());
        body.copy_from_slice(payload);
        self.next_seq = self.next_seq.next();
        Ok(needed)
    }

    /// Moves the media clock on by `duration` ticks without sending.
    pub fn advance(&mut self, duration: u32) {
        self.next_timestamp = RtpTimestamp(self.next_timestamp.0.wrapping_add(duration));
    }
}

/// The per-packet header fields of [`Packetizer::write_other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload type.
    pub payload_type: PayloadType,
    /// Marker bit.
    pub marker: bool,
    /// Timestamp.
    pub timestamp: RtpTimestamp,
}

/// RFC 3550 section 6.4.1 interarrival jitter: a running estimate of how much packet spacing
/// on arrival deviates from their spacing in media time, in timestamp units. Fed with arrival
/// times in clock ticks so the estimator itself never touches `Instant`.
#[derive(Debug, Clone, Copy, Default)]
pub struct InterarrivalJitter {
    last: Option<(i64, u32)>,
    jitter: f64,
}

impl InterarrivalJitter {
    /// Records a packet that arrived at `arrival` (in clock ticks since any fixed origin) with
    /// RTP timestamp `timestamp`.
    pub fn update(&mut self, arrival: i64, timestamp: RtpTimestamp) {
        if let Some((last_arrival, last_ts)) = self.last {
            // Timestamp difference as a signed, wrap-aware value.
            let media = i64::from(timestamp.0.wrapping_sub(last_ts) as i32);
            let transit_delta = (arrival - last_arrival) - media;
            self.jitter += ((transit_delta.abs() as f64) - self.jitter) / 16.0;
        }
        self.last = Some((arrival, timestamp.0));
    }

    /// Current estimate in timestamp units.
    pub fn get(&self) -> f64 {
        self.jitter
    }

    /// Forgets the previous packet, for a new source.
    pub fn reset(&mut self) {
        *self = InterarrivalJitter::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packetizer() -> Packetizer {
        Packetizer::new(
            Ssrc(0xDEAD_BEEF),
            PayloadType::PCMU,
            SeqNo(65534),
            RtpTimestamp(u32::MAX - 160),
        )
    }

    #[test]
    fn payload_type_is_seven_bits() {
        assert_eq!(PayloadType::new(127).map(PayloadType::get), Some(127));
        assert_eq!(PayloadType::new(128), None);
        assert_eq!(
            PayloadType::new(101).map(|p| p.to_string()),
            Some("101".to_owned())
        );
    }

    #[test]
    fn written_packets_parse_back_with_advancing_seq_and_timestamp() {
        let mut p = packetizer();
        let mut buf = [0u8; 200];
        let payload = [0x55u8; 160];
        let mut seen = Vec::new();
        for _ in 0..3 {
            let n = p.write_packet(&payload, 160, &mut buf).expect("fits");
            assert_eq!(n, 172);
            let pkt = parse(&buf[..n]).expect("valid");
            assert_eq!(pkt.ssrc, Ssrc(0xDEAD_BEEF));
            assert_eq!(pkt.payload_type, PayloadType::PCMU);
            assert_eq!(pkt.payload, &payload[..]);
            seen.push((pkt.seq.0, pkt.timestamp.0, pkt.marker));
        }
        // Wraps at 65535 and at 2^32; marker only on the first packet.
        assert_eq!(
            seen,
            vec![
                (65534, u32::MAX - 160, true),
                (65535, u32::MAX, false),
                (0, 159, false)
            ]
        );
    }

    #[test]
    fn marker_set_at_each_talkspurt() {
        let mut p = packetizer();
        let mut buf = [0u8; 64];
        let mut markers = Vec::new();
        for i in 0..5 {
            if i == 3 {
                p.start_talkspurt();
            }
            let n = p.write_packet(&[1, 2, 3], 160, &mut buf).expect("fits");
            markers.push(parse(&buf[..n]).expect("valid").marker);
        }
        assert_eq!(markers, vec![true, false, false, true, false]);
    }

    #[test]
    fn too_small_buffer_is_an_error_and_nothing_advances() {
        let mut p = packetizer();
        let mut buf = [0u8; 20];
        assert_eq!(
            p.write_packet(&[0; 160], 160, &mut buf),
            Err(RtpError::BufferTooSmall {
                needed: 172,
                available: 20
            })
        );
        assert_eq!(p.next_seq(), SeqNo(65534));
        assert_eq!(p.next_timestamp(), RtpTimestamp(u32::MAX - 160));
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::UnsupportedVersion(1)));
        // Two CSRCs announced, none present.
        let mut csrc = [0u8; 14];
        csrc[0] = 0x82;
        assert!(matches!(parse(&csrc), Err(RtpError::HeadersTruncated { .. })));
        // Extension flag with no extension header.
        let mut ext = [0u8; 12];
        ext[0] = 0x90;
        assert!(matches!(parse(&ext), Err(RtpError::HeadersTruncated { .. })));
        // Padding flag with a zero padding count, and with one larger than the packet.
        let mut pad = [0u8; 16];
        pad[0] = 0xA0;
        assert_eq!(parse(&pad), Err(RtpError::InvalidPadding(0)));
        pad[15] = 9;
        assert_eq!(parse(&pad), Err(RtpError::InvalidPadding(9)));
    }

    #[test]
    fn padding_and_csrcs_are_stripped_from_payload() {
        let mut pkt = vec![0xA1, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0, 0, 0, 7]); // one CSRC
        pkt.extend_from_slice(&[1, 2, 3]); // payload
        pkt.extend_from_slice(&[0, 2]); // two bytes of padding
        let parsed = parse(&pkt).expect("valid");
        assert_eq!(parsed.payload, &[1, 2, 3]);
        assert_eq!(parsed.ssrc, Ssrc(9));
    }

    #[test]
    fn rtcp_is_recognised() {
        // Receiver report header: V=2, PT=201.
        assert!(is_rtcp(&[0x81, 201, 0, 1, 0, 0, 0, 1]));
        // RTP PCMU with marker (byte 1 = 0x80) is not RTCP.
        assert!(!is_rtcp(&[0x80, 0x80, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
        assert!(!is_rtcp(&[0x81, 201]));
    }

    #[test]
    fn interarrival_jitter_is_zero_for_perfect_spacing_and_grows_with_variation() {
        let mut j = InterarrivalJitter::default();
        for i in 0..50i64 {
            j.update(i * 160, RtpTimestamp((i * 160) as u32));
        }
        assert!(j.get().abs() < 1e-9);
        for i in 50..100i64 {
            let wobble = if i % 2 == 0 { 40 } else { -40 };
            j.update(i * 160 + wobble, RtpTimestamp((i * 160) as u32));
        }
        // Alternating +-40 tick offsets make every transit difference 80 ticks.
        assert!((j.get() - 80.0).abs() < 5.0, "{}", j.get());
    }
}
