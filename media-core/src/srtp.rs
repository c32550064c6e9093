//! SRTP (RFC 3711) with keys exchanged in SDP (SDES, RFC 4568), for trunks that offer
//! `RTP/SAVP`: the suite every SIP trunk and phone supports, `AES_CM_128_HMAC_SHA1_80`.
//!
//! Keys: [`SdesKey`] parses and renders the `a=crypto` attribute (`1 AES_CM_128_HMAC_SHA1_80
//! inline:<base64 of 16-byte key and 14-byte salt>`). Each direction has its own key: we
//! encrypt with ours (sent in our SDP) and decrypt with the peer's. The core has no random
//! number generator, so a fresh key is built from 30 random bytes the caller supplies.
//!
//! Crypto: `webrtc-srtp` (0.17) does AES counter mode and HMAC-SHA1, rollover counters and
//! the replay window. Its API returns a new buffer per packet, so SRTP calls allocate once per
//! packet each way; plain RTP calls do not. Anything that fails authentication, replays, or is
//! too short to carry a tag is dropped and counted by the session, never decrypted into the
//! media path.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

/// The one suite we speak.
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
/// Master key length of the suite.
pub const KEY_LEN: usize = 16;
/// Master salt length of the suite.
pub const SALT_LEN: usize = 14;
/// Bytes SRTP adds to an RTP packet (the 80-bit tag).
pub const RTP_OVERHEAD: usize = 10;
/// Bytes SRTCP adds to an RTCP packet (E flag and index, then the tag).
pub const RTCP_OVERHEAD: usize = 14;
/// Packets the replay window remembers.
const REPLAY_WINDOW: usize = 128;
/// Shortest SRTCP packet: header and SSRC, index, tag.
const MIN_SRTCP: usize = 8 + RTCP_OVERHEAD;

/// Why an `a=crypto` attribute was refused, or a packet could not be protected or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// The attribute does not have the `tag suite key-params` shape.
    #[error("malformed a=crypto attribute {0:?}")]
    Malformed(String),
    /// A suite other than AES_CM_128_HMAC_SHA1_80.
    #[error("unsupported SRTP crypto suite {0}")]
    UnsupportedSuite(String),
    /// The key is not `inline:` base64 of 30 bytes.
    #[error("bad SRTP key material: {0}")]
    BadKey(String),
    /// A master key index (MKI) or several keys, which we do not support.
    #[error("SRTP MKI or multiple keys are not supported")]
    Mki,
    /// An RFC 8285 header extension element runs past the end of its block. Refused before
    /// `webrtc-srtp` reads the header: its parser (rtp 0.17) panics on such an element.
    #[error("RTP header extension element runs past its block")]
    BadHeaderExtension,
    /// Too short to be an SRTP or SRTCP packet.
    #[error("packet of {0} bytes is too short for SRTP")]
    TooShort(usize),
    /// SRTCP with the E bit clear: unencrypted SRTCP, never negotiated here, and which
    /// `webrtc-srtp` 0.17 would accept without checking its authentication tag.
    #[error("unencrypted SRTCP refused")]
    UnencryptedSrtcp,
    /// Authentication, replay check or encryption failed.
    #[error("SRTP: {0}")]
    Crypto(#[from] webrtc_srtp::Error),
    /// The protected packet does not fit the output buffer.
    #[error("protected packet of {needed} bytes does not fit {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// One direction's SDES master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesKey {
    key: [u8; KEY_LEN],
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for SdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("SdesKey(..)")
    }
}

impl SdesKey {
    /// A key from 30 bytes of fresh randomness (key, then salt).
    pub fn from_random(bytes: [u8; KEY_LEN + SALT_LEN]) -> Self {
        let mut key = [0; KEY_LEN];
        let mut salt = [0; SALT_LEN];
        key.copy_from_slice(&bytes[..KEY_LEN]);
        salt.copy_from_slice(&bytes[KEY_LEN..]);
        SdesKey { key, salt }
    }

    /// Parses the value of an `a=crypto:` attribute, returning its tag and key. Only
    /// AES_CM_128_HMAC_SHA1_80 with one inline key and no MKI is accepted; a lifetime is
    /// allowed and ignored (calls are far shorter than 2^31 packets).
    pub fn parse_attribute(value: &str) -> Result<(u32, SdesKey), SrtpError> {
        let malformed = || SrtpError::Malformed(value.chars().take(120).collect());
        let mut fields = value.split_whitespace();
        let tag = fields
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .ok_or_else(malformed)?;
        let suite = fields.next().ok_or_else(malformed)?;
        if !suite.eq_ignore_ascii_case(SUITE) {
            return Err(SrtpError::UnsupportedSuite(suite.chars().take(40).collect()));
        }
        let params = fields.next().ok_or_else(malformed)?;
        if params.contains(';') {
            return Err(SrtpError::Mki);
        }
        let inline = params
            .strip_prefix("inline:")
            .ok_or_else(|| SrtpError::BadKey("not inline:".to_owned()))?;
        let mut parts = inline.split('|');
        let material = parts.next().unwrap_or_default();
        // Lifetime (`2^31` or a number), then MKI (`1:4`).
        if parts.clone().any(|p| p.contains(':')) {
            return Err(SrtpError::Mki);
        }
        let bytes = STANDARD
            .decode(material)
            .map_err(|e| SrtpError::BadKey(e.to_string()))?;
        let bytes: [u8; KEY_LEN + SALT_LEN] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| SrtpError::BadKey(format!("{} bytes, expected 30", b.len())))?;
        Ok((tag, SdesKey::from_random(bytes)))
    }

    /// Renders the `a=crypto:` attribute value offering this key under `tag`.
    pub fn to_attribute(&self, tag: u32) -> String {
        let mut material = [0u8; KEY_LEN + SALT_LEN];
        material[..KEY_LEN].copy_from_slice(&self.key);
        material[KEY_LEN..].copy_from_slice(&self.salt);
        format!("{tag} {SUITE} inline:{}", STANDARD.encode(material))
    }
}

/// The keys of one SRTP session: ours for sending, the peer's for receiving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpConfig {
    /// Our key (in our SDP).
    pub local: SdesKey,
    /// The peer's key (in its SDP).
    pub remote: SdesKey,
}

/// Protects what we send and opens what we receive. See the module docs.
pub struct SrtpSession {
    outbound: Context,
    inbound: Context,
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession").finish_non_exhaustive()
    }
}

impl SrtpSession {
    /// Sets up both directions.
    pub fn new(config: &SrtpConfig) -> Result<Self, SrtpError> {
        let context = |k: &SdesKey, replay: bool| {
            let (srtp, srtcp) = if replay {
                (
                    Some(srtp_replay_protection(REPLAY_WINDOW)),
                    Some(srtcp_replay_protection(REPLAY_WINDOW)),
                )
            } else {
                (None, None)
            };
            Context::new(
                &k.key,
                &k.salt,
                ProtectionProfile::Aes128CmHmacSha1_80,
                srtp,
                srtcp,
            )
        };
        Ok(SrtpSession {
            outbound: context(&config.local, false)?,
            inbound: context(&config.remote, true)?,
        })
    }

    /// Encrypts the RTP packet in `buf[..len]` in place, returning the new length (10 more).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let plain = buf.get(..len).ok_or(SrtpError::TooShort(len))?;
        check_header_extension(plain)?;
        let protected = self.outbound.encrypt_rtp(plain)?;
        copy_into(&protected, buf)
    }

    /// Encrypts the RTCP packet in `buf[..len]` in place, returning the new length (14 more).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let plain = buf.get(..len).ok_or(SrtpError::TooShort(len))?;
        let protected = self.outbound.encrypt_rtcp(plain)?;
        copy_into(&protected, buf)
    }

    /// Authenticates and decrypts a received SRTP packet into `out`, returning its length.
    pub fn unprotect_rtp(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, SrtpError> {
        if packet.len() < crate::rtp::RTP_HEADER_LEN + RTP_OVERHEAD {
            return Err(SrtpError::TooShort(packet.len()));
        }
        check_header_extension(packet)?;
        let plain = self.inbound.decrypt_rtp(packet)?;
        copy_into(&plain, out)
    }

    /// Authenticates and decrypts a received SRTCP packet into `out`, returning its length.
    pub fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, SrtpError> {
        if packet.len() < MIN_SRTCP {
            return Err(SrtpError::TooShort(packet.len()));
        }
        // The E flag leads the 4-byte index before the tag. With it clear, webrtc-srtp 0.17
        // returns the packet unauthenticated: anyone could inject reports. Refuse it.
        if packet[packet.len() - RTCP_OVERHEAD] & 0x80 == 0 {
            return Err(SrtpError::UnencryptedSrtcp);
        }
        let plain = self.inbound.decrypt_rtcp(packet)?;
        copy_into(&plain, out)
    }
}

fn copy_into(bytes: &[u8], buf: &mut [u8]) -> Result<usize, SrtpError> {
    let available = buf.len();
    let dst = buf.get_mut(..bytes.len()).ok_or(SrtpError::BufferTooSmall {
        needed: bytes.len(),
        available,
    })?;
    dst.copy_from_slice(bytes);
    Ok(bytes.len())
}

/// Checks the RFC 8285 header extension of an RTP packet before `webrtc-srtp` sees it. The SRTP
/// header is in the clear and is parsed (rtp 0.17, `Header::unmarshal`) before anything is
/// authenticated, and that parser takes each one- or two-byte element's length on trust: an
/// element longer than what is left of the packet makes it panic (`copy_to_bytes` out of bounds),
/// so one forged datagram from anyone the session still listens to would take the media thread
/// down (found by the `rtp_session` fuzz target). We ask what RFC 8285 asks: every element ends
/// inside the extension block, which ends inside the packet. Other profiles are one opaque block,
/// which rtp 0.17 bounds itself.
fn check_header_extension(packet: &[u8]) -> Result<(), SrtpError> {
    const ONE_BYTE: u16 = 0xBEDE;
    const TWO_BYTE: u16 = 0x1000;
    let Some(&first) = packet.first() else {
        return Err(SrtpError::TooShort(0));
    };
    if first & 0x10 == 0 {
        return Ok(());
    }
    let start = crate::rtp::RTP_HEADER_LEN + 4 * usize::from(first & 0x0F);
    let Some(&[p0, p1, l0, l1]) = packet.get(start..start + 4) else {
        return Err(SrtpError::BadHeaderExtension);
    };
    let len = 4 * usize::from(u16::from_be_bytes([l0, l1]));
    let block = packet
        .get(start + 4..start + 4 + len)
        .ok_or(SrtpError::BadHeaderExtension)?;
    let two_byte = match u16::from_be_bytes([p0, p1]) {
        ONE_BYTE => false,
        TWO_BYTE => true,
        _ => return Ok(()),
    };
    let mut at = 0;
    while let Some(&b) = block.get(at) {
        if b == 0 {
            at += 1; // padding
            continue;
        }
        if two_byte {
            let n = block.get(at + 1).ok_or(SrtpError::BadHeaderExtension)?;
            at += 2 + usize::from(*n);
        } else if b >> 4 == 0xF {
            break; // the reserved id ends the block (RFC 8285 4.2)
        } else {
            at += 1 + usize::from(b & 0x0F) + 1;
        }
        if at > block.len() {
            return Err(SrtpError::BadHeaderExtension);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{Packetizer, PayloadType, RtpTimestamp, SeqNo, Ssrc, parse};

    fn key(seed: u8) -> SdesKey {
        SdesKey::from_random(std::array::from_fn(|i| seed.wrapping_add(i as u8)))
    }

    fn pair() -> (SrtpSession, SrtpSession) {
        let (a, b) = (key(1), key(100));
        let alice = SrtpSession::new(&SrtpConfig {
            local: a.clone(),
            remote: b.clone(),
        })
        .expect("alice");
        let bob = SrtpSession::new(&SrtpConfig { local: b, remote: a }).expect("bob");
        (alice, bob)
    }

    /// An RTP header with an RFC 8285 extension block (`profile`, `block`) and a short payload.
    fn with_extension(profile: u16, block: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x90, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0x0a, 0xbc];
        packet.extend_from_slice(&profile.to_be_bytes());
        packet.extend_from_slice(&u16::try_from(block.len() / 4).expect("small").to_be_bytes());
        packet.extend_from_slice(block);
        packet.extend_from_slice(&[0xff; 20]);
        packet
    }

    #[test]
    fn an_extension_element_past_its_block_is_refused_not_a_panic() {
        // The rtp_session fuzz target's find: rtp 0.17 panicked on these, before authentication.
        let (mut alice, mut bob) = pair();
        let one_byte = with_extension(0xBEDE, &[0x1f, 0, 0, 0]); // id 1, 16 bytes, in a 4-byte block
        let two_byte = with_extension(0x1000, &[0x01, 0x78, 0, 0]); // id 1, 120 bytes
        let dangling = with_extension(0x1000, &[0, 0, 0, 0x01]); // a length byte past the block
        for packet in [one_byte, two_byte, dangling] {
            let mut out = [0u8; 256];
            assert!(matches!(
                bob.unprotect_rtp(&packet, &mut out),
                Err(SrtpError::BadHeaderExtension)
            ));
            let mut buf = packet.clone();
            buf.resize(packet.len() + RTP_OVERHEAD, 0);
            assert!(matches!(
                alice.protect_rtp(&mut buf, packet.len()),
                Err(SrtpError::BadHeaderExtension)
            ));
        }
    }

    #[test]
    fn a_sound_extension_still_passes() {
        // A one-byte element (id 1, 2 bytes) and padding; two-byte elements (id 1, 3 bytes; id 2,
        // none) and padding.
        for packet in [
            with_extension(0xBEDE, &[0x11, 0xaa, 0xbb, 0x00]),
            with_extension(0x1000, &[0x01, 0x03, 0xaa, 0xbb, 0xcc, 0x02, 0x00, 0x00]),
        ] {
            let (mut alice, mut bob) = pair();
            let mut buf = packet.clone();
            buf.resize(packet.len() + RTP_OVERHEAD, 0);
            let n = alice.protect_rtp(&mut buf, packet.len()).expect("protects");
            let mut out = [0u8; 256];
            let m = bob.unprotect_rtp(&buf[..n], &mut out).expect("opens");
            assert_eq!(&out[..m], &packet[..]);
        }
    }

    #[test]
    fn attributes_round_trip_and_match_the_rfc_example() {
        // The key of RFC 4568 section 9.1; its MKI is refused, without it the key is taken.
        let example = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
        assert!(matches!(
            SdesKey::parse_attribute(&format!("{example}|2^20|1:4")),
            Err(SrtpError::Mki)
        ));
        let (tag, k) = SdesKey::parse_attribute(&format!("{example}|2^20")).expect("valid");
        assert_eq!(tag, 1);
        assert_eq!(
            k.to_attribute(1),
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
        );
        let ours = key(7);
        assert_eq!(
            SdesKey::parse_attribute(&ours.to_attribute(3)).expect("ours"),
            (3, ours)
        );
        assert_eq!(format!("{:?}", key(7)), "SdesKey(..)");
    }

    #[test]
    fn bad_attributes_are_errors() {
        for (attr, what) in [
            ("", "malformed"),
            ("x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "malformed"),
            (
                "1 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
                "suite",
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
                "key",
            ),
            ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "key"),
            ("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "key"),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR;inline:x",
                "mki",
            ),
        ] {
            let err = SdesKey::parse_attribute(attr).expect_err(attr);
            let ok = match what {
                "malformed" => matches!(err, SrtpError::Malformed(_)),
                "suite" => matches!(err, SrtpError::UnsupportedSuite(_)),
                "key" => matches!(err, SrtpError::BadKey(_)),
                _ => matches!(err, SrtpError::Mki),
            };
            assert!(ok, "{attr}: {err}");
        }
    }

    #[test]
    fn packets_round_trip_and_tampering_or_replay_is_refused() {
        let (mut alice, mut bob) = pair();
        let mut p = Packetizer::new(Ssrc(9), PayloadType::PCMU, SeqNo(65530), RtpTimestamp(0));
        let mut out = [0u8; 256];
        for i in 0..10u8 {
            let mut buf = [0u8; 256];
            let n = p.write_packet(&[i; 160], 160, &mut buf).expect("packet");
            let plain = buf[..n].to_vec();
            let m = alice.protect_rtp(&mut buf, n).expect("protect");
            assert_eq!(m, n + RTP_OVERHEAD);
            assert_ne!(&buf[12..n], &plain[12..], "payload encrypted");
            assert_eq!(&buf[..12], &plain[..12], "header in the clear");
            let k = bob.unprotect_rtp(&buf[..m], &mut out).expect("unprotect");
            assert_eq!(&out[..k], &plain[..]);
            assert_eq!(parse(&out[..k]).expect("rtp").payload, &[i; 160]);
            if i == 5 {
                // The same packet again is a replay.
                assert!(bob.unprotect_rtp(&buf[..m], &mut out).is_err());
                // A flipped payload bit fails authentication.
                buf[20] ^= 1;
                assert!(bob.unprotect_rtp(&buf[..m], &mut out).is_err());
            }
        }
        assert!(matches!(
            bob.unprotect_rtp(&[0x80; 15], &mut out),
            Err(SrtpError::TooShort(15))
        ));
        // Alice cannot open her own packets: the directions have different keys.
        let mut buf = [0u8; 256];
        let n = p.write_packet(&[1; 10], 160, &mut buf).expect("packet");
        let m = alice.protect_rtp(&mut buf, n).expect("protect");
        assert!(alice.unprotect_rtp(&buf[..m], &mut out).is_err());
    }

    #[test]
    fn rtcp_round_trips() {
        let (mut alice, mut bob) = pair();
        // A minimal receiver report: V=2, RC=0, PT=201, length 1, SSRC.
        let plain = [0x80, 201, 0, 1, 0, 0, 0, 9];
        let mut buf = [0u8; 64];
        buf[..8].copy_from_slice(&plain);
        let m = alice.protect_rtcp(&mut buf, 8).expect("protect");
        assert_eq!(m, 8 + RTCP_OVERHEAD);
        let mut out = [0u8; 64];
        let k = bob.unprotect_rtcp(&buf[..m], &mut out).expect("unprotect");
        assert_eq!(&out[..k], &plain);
        for short in 0..MIN_SRTCP {
            assert!(bob.unprotect_rtcp(&buf[..short], &mut out).is_err());
        }
        // A forgery with the E bit clear and a zero tag is refused, not passed through.
        let mut forged = [0u8; 8 + RTCP_OVERHEAD];
        forged[..8].copy_from_slice(&plain);
        assert!(matches!(
            bob.unprotect_rtcp(&forged, &mut out),
            Err(SrtpError::UnencryptedSrtcp)
        ));
        // And with the E bit set, the tag is checked.
        forged[8] = 0x80;
        assert!(matches!(
            bob.unprotect_rtcp(&forged, &mut out),
            Err(SrtpError::Crypto(_))
        ));
    }
}
