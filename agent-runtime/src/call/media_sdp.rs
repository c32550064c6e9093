//! Between SDP and media: what we offer, and the media session's settings from the answer.
//!
//! `sip-stack` describes media and `media-core` runs it; neither knows the other, so the call
//! runner joins them here. Everything the session uses comes from the negotiated answer: the
//! payload types (the peer may renumber Opus or telephone-event), the peer's Opus parameters
//! and, on SRTP, the peer's SDES key. Nothing is assumed from what we offered.

use media_core::opus::OpusParams;
use media_core::srtp::{SdesKey, SrtpConfig};
use media_core::{Codec, PayloadType, SessionConfig, Ssrc};
use sip_stack::sdp::{Crypto, Format, Negotiated};

/// The payload type we offer Opus under (dynamic; the answer's number is the one used).
const OPUS_PT: u8 = 111;
/// The payload type we offer telephone-event under, at G.711's clock.
const TELEPHONE_EVENT_PT: u8 = 101;
/// The payload type of telephone-event at Opus's clock (RFC 4733 runs events on the audio's).
const TELEPHONE_EVENT_48K_PT: u8 = 102;
/// The tag of our one `a=crypto` line.
const CRYPTO_TAG: u32 = 1;

/// The formats we offer, in preference order: G.711 first (cheapest, and what trunks carry),
/// then Opus when enabled (RFC 7587: always `opus/48000/2`, our receive preferences in fmtp),
/// then telephone-event at each audio clock offered.
pub(crate) fn offered_formats(opus: bool) -> Vec<Format> {
    let mut formats = vec![Format::new(0, "PCMU", 8000), Format::new(8, "PCMA", 8000)];
    if opus {
        formats.push(
            Format::new(OPUS_PT, "opus", 48000)
                .with_channels(2)
                .with_fmtp(&OpusParams::ours().to_fmtp()),
        );
    }
    formats.push(Format::new(TELEPHONE_EVENT_PT, "telephone-event", 8000));
    if opus {
        formats.push(Format::new(TELEPHONE_EVENT_48K_PT, "telephone-event", 48000));
    }
    formats
}

/// A fresh SDES key for one call's offer, as its `a=crypto` line.
pub(crate) fn offered_crypto() -> Crypto {
    let key = SdesKey::from_random(rand::random());
    // Our own rendering always parses; the fallback keeps a bug here from being a panic.
    Crypto::parse(&key.to_attribute(CRYPTO_TAG)).unwrap_or(Crypto {
        tag: CRYPTO_TAG,
        suite: String::new(),
        params: String::new(),
    })
}

/// The session's settings from the negotiated answer; the rest of `SessionConfig` keeps its
/// defaults for the caller to fill in.
pub(crate) fn session_config(n: &Negotiated, ssrc: Ssrc) -> Result<(Codec, SessionConfig), String> {
    let codec = Codec::from_encoding_name(&n.codec.encoding).ok_or("negotiated codec unsupported")?;
    let pt = PayloadType::new(n.codec.payload_type).ok_or("bad payload type")?;
    let mut config = SessionConfig::new(codec, pt, n.remote, ssrc);
    config.telephone_event_pt = n.telephone_event.and_then(PayloadType::new);
    if codec == Codec::Opus {
        config.opus = OpusParams::parse_fmtp(n.codec.fmtp.as_deref().unwrap_or(""))
            .map_err(|e| format!("the peer's Opus parameters: {e}"))?;
    }
    if let Some(keys) = &n.crypto {
        let key = |c: &Crypto| {
            SdesKey::parse_attribute(&c.to_value())
                .map(|(_, key)| key)
                .map_err(|e| format!("SRTP key: {e}"))
        };
        config.srtp = Some(SrtpConfig {
            local: key(&keys.local)?,
            remote: key(&keys.remote)?,
        });
    }
    Ok((codec, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_stack::sdp::{Offer, negotiate, parse_audio};

    fn offer(opus: bool, srtp: bool) -> Offer {
        Offer {
            session_id: 9,
            address: "127.0.0.1".parse().expect("ip"),
            port: 40000,
            formats: offered_formats(opus),
            ptime: 20,
            crypto: if srtp { vec![offered_crypto()] } else { Vec::new() },
        }
    }

    #[test]
    fn the_offer_carries_opus_after_g711_and_a_fresh_key_when_asked() {
        let sdp = offer(true, true).to_sdp();
        assert!(
            sdp.contains("m=audio 40000 RTP/SAVP 0 8 111 101 102\r\n"),
            "{sdp}"
        );
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2\r\n"));
        let fmtp = format!("a=fmtp:111 {}\r\n", OpusParams::ours().to_fmtp());
        assert!(sdp.contains(&fmtp), "{sdp}");
        assert!(sdp.contains("a=rtpmap:102 telephone-event/48000\r\n"));
        assert!(sdp.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
        assert_ne!(offered_crypto(), offered_crypto(), "a new key per call");
        let plain = offer(false, false).to_sdp();
        assert!(plain.contains("m=audio 40000 RTP/AVP 0 8 101\r\n") && !plain.contains("opus"));
    }

    #[test]
    fn the_session_uses_what_the_answer_picked() {
        let ours = offer(true, true);
        let their_key = SdesKey::from_random([7; 30]).to_attribute(1);
        // Opus renumbered to 96 with the peer's own parameters, telephone-event (at Opus's
        // clock) to 100.
        let answer = format!(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
m=audio 30000 RTP/SAVP 96 100\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 maxplaybackrate=8000;useinbandfec=0\r\n\
a=rtpmap:100 telephone-event/48000\r\na=crypto:{their_key}\r\n"
        );
        let n = negotiate(&ours, &parse_audio(answer.as_bytes()).expect("parses")).expect("negotiates");
        let (codec, config) = session_config(&n, Ssrc(5)).expect("config");
        assert_eq!(codec, Codec::Opus);
        assert_eq!(config.payload_type, PayloadType::new(96).expect("pt"));
        assert_eq!(config.telephone_event_pt, PayloadType::new(100));
        assert_eq!(config.remote, "10.0.0.9:30000".parse().expect("addr"));
        assert_eq!(config.opus.max_playback_rate, 8000);
        assert!(!config.opus.use_inband_fec);
        let keys = config.srtp.expect("SRTP keys");
        assert_eq!(keys.remote, SdesKey::from_random([7; 30]));
        let (_, ours_key) = SdesKey::parse_attribute(&ours.crypto[0].to_value()).expect("our key");
        assert_eq!(keys.local, ours_key);
        // A G.711 answer without SRTP to a plain offer: PCMA at its static number.
        let answer = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 30000 RTP/AVP 8\r\n";
        let n = negotiate(
            &offer(true, false),
            &parse_audio(answer.as_bytes()).expect("parses"),
        )
        .expect("negotiates");
        let (codec, config) = session_config(&n, Ssrc(5)).expect("config");
        assert_eq!((codec, config.payload_type), (Codec::Pcma, PayloadType::PCMA));
        assert!(config.srtp.is_none() && config.telephone_event_pt.is_none());
    }
}
