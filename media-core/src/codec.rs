//! The audio codecs a session can negotiate, as one enum the rest of the crate matches on, and
//! the per-stream [`Decoder`] and [`Encoder`] that carry each codec's state.
//!
//! G.711 has no state, so [`Codec::decode`]/[`Codec::encode`] are plain functions over slices;
//! its decoder still keeps the packet-loss concealment history ([`crate::plc`]). Opus keeps its
//! whole predictor state in libopus ([`crate::opus`]). Every decoder and encoder works on the
//! session's 8 kHz frames.

use crate::frame::{FRAME_SAMPLES, Frame};
use crate::g711;
use crate::opus::{OpusDecoder, OpusEncoder, OpusError, OpusParams};
use crate::plc::Plc;
use crate::rtp::PayloadType;

/// An audio codec negotiated in SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 mu-law, `PCMU/8000` (North America, Japan).
    Pcmu,
    /// G.711 A-law, `PCMA/8000` (most of the rest of the world).
    Pcma,
    /// Opus, `opus/48000/2` (RFC 7587), decoded and encoded at 8 kHz mono.
    Opus,
}

impl Codec {
    /// RTP clock rate in Hz, as written in the SDP `a=rtpmap` line.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48_000,
        }
    }

    /// Encoding name as written in the SDP `a=rtpmap` line.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    /// The channel count written in `a=rtpmap` (`opus/48000/2` always says 2, RFC 7587), if any.
    pub const fn rtpmap_channels(self) -> Option<u8> {
        match self {
            Codec::Pcmu | Codec::Pcma => None,
            Codec::Opus => Some(2),
        }
    }

    /// Looks a codec up by its SDP encoding name; SDP names are case-insensitive (RFC 4566).
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma, Codec::Opus]
            .into_iter()
            .find(|codec| codec.encoding_name().eq_ignore_ascii_case(name))
    }

    /// The RFC 3551 static payload type, if the codec has one (Opus is always dynamic). Only a
    /// default for offers: always send with the payload type the SDP answer negotiated.
    pub const fn static_payload_type(self) -> Option<PayloadType> {
        match self {
            Codec::Pcmu => Some(PayloadType::PCMU),
            Codec::Pcma => Some(PayloadType::PCMA),
            Codec::Opus => None,
        }
    }

    /// Largest payload of one packet the jitter buffer should keep for this codec.
    pub const fn max_payload(self) -> usize {
        match self {
            // 40 ms, for the odd sender that ignores our ptime.
            Codec::Pcmu | Codec::Pcma => 2 * FRAME_SAMPLES,
            // Speech at sane bit rates is far below this; a full 1275-byte frame is not.
            Codec::Opus => 512,
        }
    }

    /// Decodes a G.711 `payload` into `out`, returning how many samples were written:
    /// `min(payload.len(), out.len())`. Samples past that are left untouched. Stateful codecs
    /// (Opus) need a [`Decoder`] and write nothing here.
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        let decode_one: fn(u8) -> i16 = match self {
            Codec::Pcmu => g711::ulaw_decode,
            Codec::Pcma => g711::alaw_decode,
            Codec::Opus => return 0,
        };
        let n = payload.len().min(out.len());
        for (dst, &code) in out.iter_mut().zip(payload) {
            *dst = decode_one(code);
        }
        n
    }

    /// Encodes `pcm` as G.711 into `out`, returning how many bytes were written:
    /// `min(pcm.len(), out.len())`. Stateful codecs (Opus) need an [`Encoder`].
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        let encode_one: fn(i16) -> u8 = match self {
            Codec::Pcmu => g711::ulaw_encode,
            Codec::Pcma => g711::alaw_encode,
            Codec::Opus => return 0,
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

/// Why a codec could not be set up or a payload not decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Opus failed.
    #[error(transparent)]
    Opus(#[from] OpusError),
}

/// How a lost frame was filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concealment {
    /// Rebuilt from the next packet's in-band FEC.
    Fec,
    /// Extrapolated from what came before.
    Plc,
}

/// The receiving side of one stream: payloads and losses in, 8 kHz frames out.
#[derive(Debug)]
pub enum Decoder {
    /// G.711, with Appendix I concealment.
    G711 {
        /// Which law.
        codec: Codec,
        /// The concealment history.
        plc: Box<Plc>,
    },
    /// Opus, with its own FEC and PLC.
    Opus(Box<OpusDecoder>),
}

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Self, CodecError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Decoder::G711 {
                codec,
                plc: Box::new(Plc::new()),
            },
            Codec::Opus => Decoder::Opus(Box::new(OpusDecoder::new()?)),
        })
    }

    /// Decodes a received payload into `out`. On error (a corrupt Opus packet) `out` is
    /// concealed instead, and the error returned for counting.
    pub fn decode(&mut self, payload: &[u8], out: &mut Frame) -> Result<(), CodecError> {
        match self {
            Decoder::G711 { codec, plc } => {
                let n = codec.decode(payload, out);
                out[n..].fill(0);
                plc.good_frame(out);
                Ok(())
            }
            Decoder::Opus(opus) => {
                let result = opus.decode(payload, out);
                if result.is_err() {
                    // Keep the timeline: conceal what could not be decoded.
                    let _ = opus.conceal(None, out);
                }
                Ok(result?)
            }
        }
    }

    /// Fills `out` for a lost packet; `next` is the packet after it, if already here.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut Frame) -> Concealment {
        match self {
            Decoder::G711 { plc, .. } => {
                plc.conceal(out);
                Concealment::Plc
            }
            Decoder::Opus(opus) => match opus.conceal(next, out) {
                Ok(true) => Concealment::Fec,
                Ok(false) => Concealment::Plc,
                Err(_) => {
                    out.fill(0);
                    Concealment::Plc
                }
            },
        }
    }

    /// Fills `out` for a tick of sender silence (DTX). G.711 plays silence (the concealment
    /// history fades into it); Opus plays its comfort noise.
    pub fn silence(&mut self, out: &mut Frame) {
        match self {
            Decoder::G711 { plc, .. } => {
                out.fill(0);
                plc.good_frame(out);
            }
            Decoder::Opus(opus) => {
                if opus.conceal(None, out).is_err() {
                    out.fill(0);
                }
            }
        }
    }
}

/// The sending side of one stream: 8 kHz frames in, payloads out.
#[derive(Debug)]
pub enum Encoder {
    /// G.711.
    G711(Codec),
    /// Opus.
    Opus(Box<OpusEncoder>),
}

impl Encoder {
    /// An encoder for `codec`, shaped by the peer's Opus parameters where they apply.
    pub fn new(codec: Codec, remote_opus: &OpusParams) -> Result<Self, CodecError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Encoder::G711(codec),
            Codec::Opus => Encoder::Opus(Box::new(OpusEncoder::new(remote_opus)?)),
        })
    }

    /// Encodes one frame into `out`, returning the payload length.
    pub fn encode(&mut self, frame: &Frame, out: &mut [u8]) -> Result<usize, CodecError> {
        match self {
            Encoder::G711(codec) => Ok(codec.encode(frame, out)),
            Encoder::Opus(opus) => Ok(opus.encode(frame, out)?),
        }
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
        assert_eq!(Codec::Pcmu.static_payload_type().map(PayloadType::get), Some(0));
        assert_eq!(Codec::Pcma.static_payload_type().map(PayloadType::get), Some(8));
        assert_eq!(Codec::Opus.static_payload_type(), None);
        assert_eq!(Codec::Opus.to_string(), "opus/48000");
        assert_eq!(Codec::Opus.rtpmap_channels(), Some(2));
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(Codec::from_encoding_name("PCMU"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_encoding_name("PcMa"), Some(Codec::Pcma));
        assert_eq!(Codec::from_encoding_name("OPUS"), Some(Codec::Opus));
        assert_eq!(Codec::from_encoding_name("G722"), None);
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
