//! The audio codecs a session can negotiate, as one enum the rest of the crate matches on.
//!
//! Only G.711 for the walking skeleton: every SIP trunk offers it, it costs nothing to run, and
//! it has no state, so `decode`/`encode` are plain functions over slices. Opus will arrive as a
//! stateful variant later, which is why these are methods on the enum rather than free functions.

use crate::g711;
use crate::rtp::PayloadType;

/// An audio codec negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 mu-law, `PCMU/8000` (North America, Japan).
    Pcmu,
    /// G.711 A-law, `PCMA/8000` (most of the rest of the world).
    Pcma,
}

impl Codec {
    /// RTP clock rate in Hz, as written in the SDP `a=rtpmap` line.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
        }
    }

    /// Encoding name as written in the SDP `a=rtpmap` line.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Looks a codec up by its SDP encoding name; SDP names are case-insensitive (RFC 4566).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|codec| codec.encoding_name().eq_ignore_ascii_case(name))
    }

    /// The RFC 3551 static payload type. Only a default for offers: always send with the payload
    /// type the SDP answer negotiated.
    pub const fn static_payload_type(self) -> PayloadType {
        match self {
            Codec::Pcmu => PayloadType::PCMU,
            Codec::Pcma => PayloadType::PCMA,
        }
    }

    /// Encoded bytes per sample (G.711: one byte per sample).
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            Codec::Pcmu | Codec::Pcma => 1,
        }
    }

    /// Decodes `payload` into `out`, returning how many samples were written:
    /// `min(payload.len(), out.len())` for G.711. Samples past that are left untouched.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        let decode_one: fn(u8) -> i16 = match self {
            Codec::Pcmu => g711::ulaw_decode,
            Codec::Pcma => g711::alaw_decode,
        };
        let n = payload.len().min(out.len());
        for (dst, &code) in out.iter_mut().zip(payload) {
            *dst = decode_one(code);
        }
        n
    }

    /// Encodes `pcm` into `out`, returning how many bytes were written:
    /// `min(pcm.len(), out.len())` for G.711.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let encode_one: fn(i16) -> u8 = match self {
            Codec::Pcmu => g711::ulaw_encode,
            Codec::Pcma => g711::alaw_encode,
        };
        let n = pcm.len().min(out.len());
        for (dst, &sample) in out.iter_mut().zip(pcm) {
            *dst = encode_one(sample);
        }
        n
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.encoding_name(), self.clock_rate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rates() {
        assert_eq!(Codec::Pcmu.encoding_name(), "PCMU");
        assert_eq!(Codec::Pcma.encoding_name(), "PCMA");
        assert_eq!(Codec::Pcmu.clock_rate(), 8000);
        assert_eq!(Codec::Pcma.clock_rate(), 8000);
        assert_eq!(Codec::Pcmu.to_string(), "PCMU/8000");
        assert_eq!(Codec::Pcmu.static_payload_type().get(), 0);
        assert_eq!(Codec::Pcma.static_payload_type().get(), 8);
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(Codec::from_encoding_name("PCMU"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("PcMa"), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding_name("opus"), None);
        assert_eq!(Codec::from_encoding_name(""), None);
        assert_eq!(Codec::from_encoding_name("PCMU/8000"), None);
    }

    #[test]
    fn encode_decode_round_trip_per_codec() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 12000.0) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut wire = [0u8; 160];
            assert_eq!(codec.encode(&pcm, &mut wire), 160);
            let mut back = [0i16; 160];
            assert_eq!(codec.decode(&wire, &mut back), 160);
            for (a, b) in pcm.iter().zip(back.iter()) {
                assert!(
                    (i32::from(*a) - i32::from(*b)).abs() <= 12000 / 32 + 16,
                    "{codec}"
                );
            }
        }
        // The two laws really differ on the wire.
        let mut u = [0u8; 4];
        let mut a = [0u8; 4];
        Codec::Pcmu.encode(&[0, 100, -100, 1000], &mut u);
        Codec::Pcma.encode(&[0, 100, -100, 1000], &mut a);
        assert_ne!(u, a);
        assert_eq!(u[0], 0xFF);
        assert_eq!(a[0], 0xD5);
    }

    #[test]
    fn short_buffers_write_only_what_fits() {
        let mut out = [7i16; 4];
        assert_eq!(Codec::Pcmu.decode(&[0xFF, 0xFF], &mut out), 2);
        assert_eq!(out, [0, 0, 7, 7]);
        let mut wire = [9u8; 1];
        assert_eq!(Codec::Pcma.encode(&[0, 0, 0], &mut wire), 1);
        assert_eq!(wire, [0xD5]);
    }
}
