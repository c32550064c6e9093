//! Opus (RFC 6716) over RTP (RFC 7587) through `audiopus` and the system libopus.
//!
//! The session runs on 8 kHz frames, so the decoder and the encoder run at 8 kHz too: libopus
//! resamples internally (far cheaper than decoding at 48 kHz and resampling here), and the RTP
//! clock stays at 48 kHz as RFC 7587 requires. We therefore ask peers for narrowband audio
//! (`maxplaybackrate=8000`) and say we capture no more (`sprop-maxcapturerate=8000`).
//!
//! Loss handling is Opus's own: a lost packet whose successor carries in-band FEC (LBRR data,
//! sent when the receiver asked with `useinbandfec=1`) is rebuilt from it; otherwise the
//! decoder's PLC extrapolates, fading into comfort noise over longer gaps, which is also what
//! plays during the sender's DTX silences.

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Bandwidth, Bitrate, Channels, MutSignals, SampleRate};

use crate::frame::{FRAME_SAMPLES, Frame, SAMPLE_RATE_8K};

/// Largest Opus packet (RFC 6716 section 3.4: 120 ms at most, 1275 bytes per frame).
pub const MAX_PACKET: usize = 1275;
/// Samples of the longest Opus packet (120 ms) at our 8 kHz.
const MAX_DECODED: usize = 120 * (SAMPLE_RATE_8K as usize / 1000);
/// Bit rate we send: plenty for narrowband speech, with room for FEC.
const BITRATE: i32 = 24_000;
/// Expected loss we tell the encoder when FEC is on, which makes it spend bits on LBRR.
const FEC_LOSS_PERCENT: u8 = 10;

/// Why an Opus parameter or packet was refused, or libopus failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// An `a=fmtp` parameter has a value outside its range.
    #[error("opus fmtp parameter {name} has invalid value {value:?}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
    },
    /// libopus refused the configuration or a packet.
    #[error("libopus: {0}")]
    Codec(#[from] audiopus::Error),
}

/// The `a=fmtp` parameters of Opus (RFC 7587 section 6.1) that shape what we send and receive.
/// Parsed from the peer's SDP; ours come from [`OpusParams::ours`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusParams {
    /// Highest audio rate the receiver can play (`maxplaybackrate`, default 48000).
    pub max_playback_rate: u32,
    /// Highest rate the sender captures (`sprop-maxcapturerate`, default 48000).
    pub max_capture_rate: u32,
    /// The receiver prefers stereo (`stereo`, default no).
    pub stereo: bool,
    /// The receiver can use in-band FEC (`useinbandfec`, default no): send it.
    pub use_inband_fec: bool,
    /// The receiver prefers DTX (`usedtx`, default no).
    pub use_dtx: bool,
    /// The receiver's cap on the average bit rate (`maxaveragebitrate`).
    pub max_average_bitrate: Option<u32>,
}

impl Default for OpusParams {
    /// The RFC 7587 defaults, which apply when the peer sends no `a=fmtp`.
    fn default() -> Self {
        OpusParams {
            max_playback_rate: 48_000,
            max_capture_rate: 48_000,
            stereo: false,
            use_inband_fec: false,
            use_dtx: false,
            max_average_bitrate: None,
        }
    }
}

impl OpusParams {
    /// What we put in our own `a=fmtp`: narrowband mono (our audio path is 8 kHz), and please
    /// send in-band FEC.
    pub fn ours() -> Self {
        OpusParams {
            max_playback_rate: SAMPLE_RATE_8K,
            max_capture_rate: SAMPLE_RATE_8K,
            stereo: false,
            use_inband_fec: true,
            use_dtx: false,
            max_average_bitrate: None,
        }
    }

    /// Parses the value of an `a=fmtp:<pt> ...` line for Opus (the part after the payload
    /// type): `key=value` pairs separated by `;`. Unknown keys are ignored, as RFC 7587 asks.
    pub fn parse_fmtp(fmtp: &str) -> Result<Self, OpusError> {
        let mut params = OpusParams::default();
        for pair in fmtp.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            let bad = || OpusError::BadParameter {
                name: name.clone(),
                value: value.to_owned(),
            };
            let flag = || match value {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad()),
            };
            let rate = || match value.parse::<u32>() {
                Ok(r) if (8000..=48_000).contains(&r) => Ok(r),
                _ => Err(bad()),
            };
            match name.as_str() {
                "maxplaybackrate" => params.max_playback_rate = rate()?,
                "sprop-maxcapturerate" => params.max_capture_rate = rate()?,
                "stereo" => params.stereo = flag()?,
                "useinbandfec" => params.use_inband_fec = flag()?,
                "usedtx" => params.use_dtx = flag()?,
                "maxaveragebitrate" => match value.parse::<u32>() {
                    Ok(b) if (6000..=510_000).contains(&b) => params.max_average_bitrate = Some(b),
                    _ => return Err(bad()),
                },
                _ => {}
            }
        }
        Ok(params)
    }

    /// Renders the parameters for an `a=fmtp` line.
    pub fn to_fmtp(&self) -> String {
        let mut out = format!(
            "maxplaybackrate={};sprop-maxcapturerate={};stereo={};sprop-stereo=0;useinbandfec={};usedtx={}",
            self.max_playback_rate,
            self.max_capture_rate,
            u8::from(self.stereo),
            u8::from(self.use_inband_fec),
            u8::from(self.use_dtx),
        );
        if let Some(b) = self.max_average_bitrate {
            out.push_str(&format!(";maxaveragebitrate={b}"));
        }
        out
    }

    /// The widest band worth encoding for a receiver that plays up to `max_playback_rate`.
    fn bandwidth(&self) -> Bandwidth {
        match self.max_playback_rate {
            ..=8000 => Bandwidth::Narrowband,
            8001..=12_000 => Bandwidth::Mediumband,
            12_001..=16_000 => Bandwidth::Wideband,
            16_001..=24_000 => Bandwidth::Superwideband,
            _ => Bandwidth::Fullband,
        }
    }
}

/// Decodes one Opus stream into 8 kHz frames.
pub struct OpusDecoder {
    decoder: Decoder,
    scratch: Box<[i16; MAX_DECODED]>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A mono decoder at 8 kHz (a stereo packet is mixed down by libopus).
    pub fn new() -> Result<Self, OpusError> {
        Ok(OpusDecoder {
            decoder: Decoder::new(SampleRate::Hz8000, Channels::Mono)?,
            scratch: Box::new([0; MAX_DECODED]),
        })
    }

    /// Decodes a packet into one frame. A packet longer than 20 ms plays its first 20 ms.
    pub fn decode(&mut self, payload: &[u8], out: &mut Frame) -> Result<(), OpusError> {
        let packet = Packet::try_from(payload)?;
        let signals = MutSignals::try_from(&mut self.scratch[..])?;
        let n = self.decoder.decode(Some(packet), signals, false)?;
        copy_frame(&self.scratch[..n.min(MAX_DECODED)], out);
        Ok(())
    }

    /// Fills a frame for a lost packet: rebuilt from the in-band FEC of `next` (the packet
    /// after it) when there is one, otherwise extrapolated by the decoder's PLC. Returns
    /// whether FEC was used.
    pub fn conceal(&mut self, next: Option<&[u8]>, out: &mut Frame) -> Result<bool, OpusError> {
        if let Some(next) = next.filter(|p| !p.is_empty()) {
            let packet = Packet::try_from(next)?;
            // With FEC, libopus decodes exactly the requested duration: the lost 20 ms.
            let signals = MutSignals::try_from(&mut self.scratch[..FRAME_SAMPLES])?;
            if let Ok(n) = self.decoder.decode(Some(packet), signals, true) {
                copy_frame(&self.scratch[..n.min(FRAME_SAMPLES)], out);
                return Ok(true);
            }
        }
        let signals = MutSignals::try_from(&mut self.scratch[..FRAME_SAMPLES])?;
        let n = self.decoder.decode(None, signals, false)?;
        copy_frame(&self.scratch[..n.min(FRAME_SAMPLES)], out);
        Ok(false)
    }
}

/// Encodes 8 kHz frames as Opus packets, as the peer's parameters ask.
pub struct OpusEncoder {
    encoder: Encoder,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// A mono VoIP encoder at 8 kHz honouring the peer's `remote` parameters: band limit from
    /// `maxplaybackrate`, FEC when it uses it, DTX when it wants it, bit rate capped.
    pub fn new(remote: &OpusParams) -> Result<Self, OpusError> {
        let mut encoder = Encoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)?;
        let bitrate = remote
            .max_average_bitrate
            .map_or(BITRATE, |cap| BITRATE.min(i32::try_from(cap).unwrap_or(i32::MAX)));
        encoder.set_bitrate(Bitrate::BitsPerSecond(bitrate))?;
        encoder.set_max_bandwidth(remote.bandwidth())?;
        encoder.set_force_channels(Channels::Mono)?;
        encoder.set_inband_fec(remote.use_inband_fec)?;
        if remote.use_inband_fec {
            encoder.set_packet_loss_perc(FEC_LOSS_PERCENT)?;
        }
        encoder.set_dtx(remote.use_dtx)?;
        Ok(OpusEncoder { encoder })
    }

    /// Encodes one frame into `out`, returning the packet length.
    pub fn encode(&mut self, frame: &Frame, out: &mut [u8]) -> Result<usize, OpusError> {
        Ok(self.encoder.encode(frame, out)?)
    }
}

/// Copies decoded samples into a frame, padding a short decode with silence.
fn copy_frame(decoded: &[i16], out: &mut Frame) {
    let n = decoded.len().min(FRAME_SAMPLES);
    out[..n].copy_from_slice(&decoded[..n]);
    out[n..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(k: usize) -> Frame {
        let mut f = [0i16; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            let t = (k * FRAME_SAMPLES + i) as f32 / 8000.0;
            *s = ((2.0 * std::f32::consts::PI * 440.0 * t).sin() * 8000.0) as i16;
        }
        f
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn fmtp_round_trips_and_defaults_apply() {
        let p = OpusParams::parse_fmtp("minptime=10; useinbandfec=1;maxplaybackrate=16000; stereo=0")
            .expect("valid");
        assert_eq!(
            p,
            OpusParams {
                max_playback_rate: 16_000,
                use_inband_fec: true,
                ..OpusParams::default()
            }
        );
        assert_eq!(OpusParams::parse_fmtp("").expect("empty"), OpusParams::default());
        let ours = OpusParams::ours();
        assert_eq!(OpusParams::parse_fmtp(&ours.to_fmtp()).expect("ours"), ours);
        assert!(ours.to_fmtp().contains("maxplaybackrate=8000"));
        assert!(ours.to_fmtp().contains("useinbandfec=1"));
        assert!(ours.to_fmtp().contains("stereo=0"));
    }

    #[test]
    fn bad_fmtp_values_are_errors() {
        for bad in [
            "useinbandfec=yes",
            "maxplaybackrate=100",
            "stereo=2",
            "maxaveragebitrate=x",
        ] {
            assert!(
                matches!(OpusParams::parse_fmtp(bad), Err(OpusError::BadParameter { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_tone_survives_encoding_and_decoding() {
        let mut enc = OpusEncoder::new(&OpusParams::ours()).expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut buf = [0u8; MAX_PACKET];
        let mut decoded = Vec::new();
        for k in 0..50 {
            let n = enc.encode(&tone(k), &mut buf).expect("encode");
            assert!(n > 2 && n < 200, "{n} bytes");
            let mut out = [0i16; FRAME_SAMPLES];
            dec.decode(&buf[..n], &mut out).expect("decode");
            decoded.extend_from_slice(&out);
        }
        // After the codec's start-up, the level matches the 8000-peak tone (rms 5657).
        let level = rms(&decoded[4000..]);
        assert!((4500.0..6800.0).contains(&level), "rms {level}");
    }

    #[test]
    fn a_lost_packet_is_rebuilt_from_the_next_ones_fec() {
        let mut enc = OpusEncoder::new(&OpusParams {
            use_inband_fec: true,
            ..OpusParams::ours()
        })
        .expect("encoder");
        let mut packets = Vec::new();
        let mut buf = [0u8; MAX_PACKET];
        for k in 0..40 {
            let n = enc.encode(&tone(k), &mut buf).expect("encode");
            packets.push(buf[..n].to_vec());
        }
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut out = [0i16; FRAME_SAMPLES];
        let mut used_fec = false;
        for (k, packet) in packets.iter().enumerate() {
            if k == 30 {
                used_fec = dec
                    .conceal(packets.get(31).map(Vec::as_slice), &mut out)
                    .expect("fec");
                assert!(rms(&out) > 3000.0, "rebuilt frame rms {}", rms(&out));
            } else {
                dec.decode(packet, &mut out).expect("decode");
            }
        }
        assert!(used_fec);
        // Without a next packet, PLC still continues the tone.
        let mut plc = [0i16; FRAME_SAMPLES];
        assert!(!dec.conceal(None, &mut plc).expect("plc"));
        assert!(rms(&plc) > 1000.0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut out = [0i16; FRAME_SAMPLES];
        assert!(dec.decode(&[], &mut out).is_err());
        // A TOC byte promising more frames than present.
        assert!(dec.decode(&[0xFF, 0xFF, 0xFF], &mut out).is_err());
        // Still usable afterwards.
        assert!(dec.conceal(None, &mut out).is_ok());
    }
}
