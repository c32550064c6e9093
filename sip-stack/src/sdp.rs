//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264). We describe media here and never touch
//! it: the call manager hands the negotiated codec and address to the media layer. Payload types are
//! always read from the remote description, never assumed; so are the peer's format parameters
//! (`a=fmtp`, e.g. Opus's RFC 7587 ones) and, on `RTP/SAVP`, its SDES key (`a=crypto`, RFC 4568).

mod crypto;

pub use crypto::Crypto;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// Why a session description was not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8 text.
    #[error("SDP is not UTF-8")]
    NotText,
    /// No `m=audio` line.
    #[error("no audio stream")]
    NoAudio,
    /// No connection address at media or session level.
    #[error("no connection address")]
    NoConnection,
    /// A line could not be read.
    #[error("malformed line: {0}")]
    Malformed(&'static str),
    /// The answer accepted none of the codecs we offered.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The remote rejected the audio stream (port 0).
    #[error("audio stream rejected")]
    Rejected,
    /// SRTP was required (by our offer, or by the remote's `RTP/SAVP` offer) and no `a=crypto`
    /// line of the other side matches ours by tag and suite.
    #[error("no SRTP crypto suite in common")]
    NoCommonCrypto,
}

/// One payload format of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type number.
    pub payload_type: u8,
    /// Encoding name as written in `a=rtpmap` (or the static table), e.g. `PCMU`.
    pub encoding: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels, when `a=rtpmap` names them (`opus/48000/2`).
    pub channels: Option<u8>,
    /// The `a=fmtp` parameters, as written.
    pub fmtp: Option<String>,
}

impl Format {
    /// A format with the given payload type, name and clock rate. `telephone-event` gets the
    /// `0-16` parameters (the DTMF events) every peer expects.
    pub fn new(payload_type: u8, encoding: &str, clock_rate: u32) -> Self {
        let telephone_event = encoding.eq_ignore_ascii_case("telephone-event");
        Self {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels: None,
            fmtp: telephone_event.then(|| "0-16".to_owned()),
        }
    }

    /// The same format with its channel count in `a=rtpmap`.
    #[must_use]
    pub fn with_channels(mut self, channels: u8) -> Self {
        self.channels = Some(channels);
        self
    }

    /// The same format with `a=fmtp` parameters.
    #[must_use]
    pub fn with_fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = Some(fmtp.to_owned());
        self
    }

    /// Whether `other` is the same codec, whatever its payload type and parameters.
    fn same_codec(&self, other: &Format) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding) && self.clock_rate == other.clock_rate
    }

    fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Both ways (the default).
    #[default]
    SendRecv,
    /// We may only send.
    SendOnly,
    /// We may only receive.
    RecvOnly,
    /// On hold.
    Inactive,
}

impl Direction {
    /// The attribute as written in SDP (`sendrecv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether the side that declared this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side that declared this direction receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The direction an answerer declares for an offer with direction `self` when it wants `wanted`
    /// (RFC 3264 6.1): it may only send what the offerer receives and receive what it sends.
    pub fn answer(self, wanted: Direction) -> Direction {
        Direction::from_flags(
            wanted.sends() && self.receives(),
            wanted.receives() && self.sends(),
        )
    }
}

/// The `o=` line: who made the description, and its version, which grows with every change (RFC 4566
/// 5.2, RFC 3264 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Session id.
    pub session_id: u64,
    /// Session version.
    pub version: u64,
}

/// The audio stream of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDescription {
    /// Where RTP goes.
    pub address: IpAddr,
    /// RTP port (0 means rejected).
    pub port: u16,
    /// Formats in preference order.
    pub formats: Vec<Format>,
    /// Packet time in ms, if given.
    pub ptime: Option<u32>,
    /// Direction.
    pub direction: Direction,
    /// The `o=` line, when it could be read.
    pub origin: Option<Origin>,
    /// Whether the stream is `RTP/SAVP` (SRTP).
    pub secure: bool,
    /// The `a=crypto` lines of the stream, in preference order.
    pub crypto: Vec<Crypto>,
}

/// What we offer.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Session id and version for the `o=` line.
    pub session_id: u64,
    /// Address we receive RTP on (a configured public address when behind NAT).
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Audio formats in preference order, telephone-event included.
    pub formats: Vec<Format>,
    /// Packet time in ms.
    pub ptime: u32,
    /// SDES keys to offer, in preference order: when there is any, the stream is `RTP/SAVP`
    /// and the answer must accept one of them.
    pub crypto: Vec<Crypto>,
}

impl Offer {
    /// Renders the offer as SDP text (version equal to the session id, `sendrecv`).
    pub fn to_sdp(&self) -> String {
        self.render(self.session_id, &self.formats, Direction::SendRecv)
    }

    /// Renders this description with the given version, formats and direction: the form used for
    /// re-offers (hold, resume, a new codec list) and for answers.
    pub fn render(&self, version: u64, formats: &[Format], direction: Direction) -> String {
        self.render_with(version, formats, direction, &self.crypto)
    }

    /// [`render`](Self::render) with the given `a=crypto` lines (an answer's one).
    fn render_with(
        &self,
        version: u64,
        formats: &[Format],
        direction: Direction,
        crypto: &[Crypto],
    ) -> String {
        let ip = match self.address {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut sdp = format!(
            "v=0\r\no=ringback {id} {version} IN {ip} {addr}\r\ns=ringback\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} {proto}",
            id = self.session_id,
            addr = self.address,
            port = self.port,
            proto = if crypto.is_empty() { "RTP/AVP" } else { "RTP/SAVP" },
        );
        for f in formats {
            let _ = write!(sdp, " {}", f.payload_type);
        }
        sdp.push_str("\r\n");
        for f in formats {
            let _ = write!(sdp, "a=rtpmap:{} {}/{}", f.payload_type, f.encoding, f.clock_rate);
            if let Some(channels) = f.channels {
                let _ = write!(sdp, "/{channels}");
            }
            sdp.push_str("\r\n");
            if let Some(fmtp) = &f.fmtp {
                let _ = write!(sdp, "a=fmtp:{} {fmtp}\r\n", f.payload_type);
            }
        }
        let _ = write!(sdp, "a=ptime:{}\r\na={}\r\n", self.ptime, direction.as_str());
        for c in crypto {
            let _ = write!(sdp, "a=crypto:{}\r\n", c.to_value());
        }
        sdp
    }

    /// Reads one of our own descriptions back (the offer the application gave for a call), so that
    /// later offers and answers can be derived from it.
    pub fn from_sdp(body: &[u8]) -> Result<Self, SdpError> {
        let audio = parse_audio(body)?;
        Ok(Self {
            session_id: audio.origin.as_ref().map_or(1, |o| o.session_id),
            address: audio.address,
            port: audio.port,
            formats: audio.formats,
            ptime: audio.ptime.unwrap_or(20),
            crypto: audio.crypto,
        })
    }
}

/// Answers `remote` (an offer) from our capabilities `local` (RFC 3264 6.1): the first codec of the
/// offer that we support, keeping `prefer` (the codec in use) when the offer still has it, plus
/// telephone-event at the offer's payload type. Payload type numbers are the offer's. `wanted` is the
/// direction we want (`SendOnly` to hold); the answer's direction also respects the offer's.
pub fn answer(
    local: &Offer,
    version: u64,
    remote: &AudioDescription,
    prefer: Option<&Format>,
    wanted: Direction,
) -> Result<(String, Negotiated), SdpError> {
    if remote.port == 0 {
        return Err(SdpError::Rejected);
    }
    let supported = |f: &Format| local.formats.iter().any(|o| o.same_codec(f));
    let audio = |f: &&Format| !f.is_telephone_event() && supported(f);
    let codec = prefer
        .and_then(|p| remote.formats.iter().filter(audio).find(|f| f.same_codec(p)))
        .or_else(|| remote.formats.iter().find(audio))
        .cloned()
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = remote
        .formats
        .iter()
        .find(|f| f.is_telephone_event() && f.clock_rate == codec.clock_rate && supported(f))
        .cloned();
    // An SRTP offer is answered with our key of the first suite we share, under the offer's tag.
    let crypto = if remote.secure {
        let (theirs, ours) = remote
            .crypto
            .iter()
            .find_map(|t| local.crypto.iter().find(|o| o.same_suite(t)).map(|o| (t, o)))
            .ok_or(SdpError::NoCommonCrypto)?;
        let ours = Crypto {
            tag: theirs.tag,
            ..ours.clone()
        };
        Some(NegotiatedCrypto {
            local: ours,
            remote: theirs.clone(),
        })
    } else {
        None
    };
    // The offer's payload type, with our own parameters for it: an answer's fmtp says what
    // the answerer wants to receive (RFC 7587 7.1 for Opus).
    let ours = Format {
        fmtp: local
            .formats
            .iter()
            .find(|o| o.same_codec(&codec))
            .and_then(|o| o.fmtp.clone()),
        ..codec.clone()
    };
    let mut formats = vec![ours];
    formats.extend(telephone_event.clone());
    let direction = remote.direction.answer(wanted);
    let answer_crypto: Vec<Crypto> = crypto.iter().map(|c| c.local.clone()).collect();
    let sdp = local.render_with(version, &formats, direction, &answer_crypto);
    let negotiated = Negotiated {
        remote: SocketAddr::new(remote.address, remote.port),
        codec,
        telephone_event: telephone_event.map(|f| f.payload_type),
        ptime: remote.ptime.unwrap_or(local.ptime),
        direction: remote.direction,
        crypto,
    };
    Ok((sdp, negotiated))
}

/// The outcome of negotiation: what to send and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP, and whose RTP to take (another source only as the media layer's latch
    /// policy allows).
    pub remote: SocketAddr,
    /// The audio codec, with the payload type the remote uses for it.
    pub codec: Format,
    /// The telephone-event payload type, if both sides support it.
    pub telephone_event: Option<u8>,
    /// Packet time in ms (20 unless the remote asked otherwise).
    pub ptime: u32,
    /// Direction the remote declared.
    pub direction: Direction,
    /// The SDES keys of both sides, when the stream is SRTP.
    pub crypto: Option<NegotiatedCrypto>,
}

/// The `a=crypto` lines the two sides agreed on: the media layer protects with `local` and
/// opens with `remote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCrypto {
    /// Ours (what we send with).
    pub local: Crypto,
    /// The peer's (what it sends with).
    pub remote: Crypto,
}

/// Parses the audio stream out of a session description.
pub fn parse_audio(body: &[u8]) -> Result<AudioDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session_addr = None;
    let mut audio: Option<(Option<IpAddr>, u16, Vec<u8>)> = None;
    let mut rtpmaps: Vec<(u8, String, u32, Option<u8>)> = Vec::new();
    let mut fmtps: Vec<(u8, String)> = Vec::new();
    let mut crypto = Vec::new();
    let mut secure = false;
    let mut ptime = None;
    let mut direction = Direction::SendRecv;
    let mut origin = None;
    let mut in_other_media = false;
    for line in text.lines().map(str::trim_end) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "o" => {
                let mut parts = value.split_ascii_whitespace().skip(1);
                let id = parts.next().and_then(|p| p.parse().ok());
                let version = parts.next().and_then(|p| p.parse().ok());
                if let (Some(session_id), Some(version)) = (id, version) {
                    origin = Some(Origin { session_id, version });
                }
            }
            "m" => {
                let mut parts = value.split_ascii_whitespace();
                let media = parts.next().ok_or(SdpError::Malformed("m="))?;
                if media != "audio" || audio.is_some() {
                    in_other_media = true;
                    continue;
                }
                in_other_media = false;
                let port = parts.next().and_then(|p| p.split('/').next()?.parse().ok());
                let port = port.ok_or(SdpError::Malformed("m= port"))?;
                let proto = parts.next().ok_or(SdpError::Malformed("m= proto"))?;
                secure = proto.eq_ignore_ascii_case("RTP/SAVP");
                let pts = parts.filter_map(|p| p.parse::<u8>().ok()).collect();
                audio = Some((None, port, pts));
            }
            _ if in_other_media => {}
            "c" => {
                let addr = value
                    .split_ascii_whitespace()
                    .nth(2)
                    .ok_or(SdpError::Malformed("c="))?;
                let addr: IpAddr = addr
                    .split('/')
                    .next()
                    .unwrap_or(addr)
                    .parse()
                    .map_err(|_| SdpError::Malformed("c="))?;
                match audio.as_mut() {
                    Some(a) => a.0 = Some(addr),
                    None => session_addr = Some(addr),
                }
            }
            "a" if audio.is_some() || session_addr.is_some() => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                match name {
                    "rtpmap" => {
                        let (pt, spec) = arg.split_once(' ').ok_or(SdpError::Malformed("rtpmap"))?;
                        let pt = pt.parse().map_err(|_| SdpError::Malformed("rtpmap"))?;
                        let mut spec = spec.split('/');
                        let enc = spec.next().unwrap_or_default().to_owned();
                        let rate = spec
                            .next()
                            .and_then(|r| r.parse().ok())
                            .ok_or(SdpError::Malformed("rtpmap"))?;
                        let channels = spec.next().and_then(|c| c.parse().ok());
                        rtpmaps.push((pt, enc, rate, channels));
                    }
                    "fmtp" => {
                        let (pt, params) = arg.split_once(' ').ok_or(SdpError::Malformed("fmtp"))?;
                        let pt = pt.parse().map_err(|_| SdpError::Malformed("fmtp"))?;
                        fmtps.push((pt, params.trim().to_owned()));
                    }
                    // Keys belong to a stream, never to the session.
                    "crypto" if audio.is_some() => crypto.push(Crypto::parse(arg)?),
                    "ptime" => ptime = arg.trim().parse().ok(),
                    "sendrecv" => direction = Direction::SendRecv,
                    "sendonly" => direction = Direction::SendOnly,
                    "recvonly" => direction = Direction::RecvOnly,
                    "inactive" => direction = Direction::Inactive,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let (media_addr, port, pts) = audio.ok_or(SdpError::NoAudio)?;
    let address = media_addr.or(session_addr).ok_or(SdpError::NoConnection)?;
    let formats = pts
        .into_iter()
        .filter_map(|pt| {
            let mut format = rtpmaps
                .iter()
                .find(|(p, ..)| *p == pt)
                .map(|(_, enc, rate, channels)| Format {
                    channels: *channels,
                    ..Format::new(pt, enc, *rate)
                })
                .or_else(|| static_format(pt))?;
            if let Some((_, fmtp)) = fmtps.iter().find(|(p, _)| *p == pt) {
                format.fmtp = Some(fmtp.clone());
            }
            Some(format)
        })
        .collect();
    Ok(AudioDescription {
        address,
        port,
        formats,
        ptime,
        direction,
        origin,
        secure,
        crypto,
    })
}

/// RFC 3551 static payload types we understand without an rtpmap.
fn static_format(pt: u8) -> Option<Format> {
    match pt {
        0 => Some(Format::new(0, "PCMU", 8000)),
        8 => Some(Format::new(8, "PCMA", 8000)),
        9 => Some(Format::new(9, "G722", 8000)),
        _ => None,
    }
}

/// Negotiates against our offer: the first format of the answer that we offered (matched by name and
/// rate, not by number), and telephone-event if the answer kept it.
pub fn negotiate(offer: &Offer, answer: &AudioDescription) -> Result<Negotiated, SdpError> {
    if answer.port == 0 {
        return Err(SdpError::Rejected);
    }
    let offered = |f: &Format| offer.formats.iter().any(|o| o.same_codec(f));
    let codec = answer
        .formats
        .iter()
        .find(|f| !f.is_telephone_event() && offered(f))
        .cloned()
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = answer
        .formats
        .iter()
        .find(|f| f.is_telephone_event() && f.clock_rate == codec.clock_rate && offered(f))
        .map(|f| f.payload_type);
    // SRTP offered: the answer must be SRTP and accept one of our lines (same tag and suite,
    // RFC 4568 5.1.2). Not offered: an SRTP answer is a mismatch, not something to ignore.
    let crypto = match (offer.crypto.is_empty(), answer.secure) {
        (true, false) => None,
        (true, true) | (false, false) => return Err(SdpError::NoCommonCrypto),
        (false, true) => Some(
            answer
                .crypto
                .iter()
                .find_map(|theirs| {
                    offer
                        .crypto
                        .iter()
                        .find(|o| o.tag == theirs.tag && o.same_suite(theirs))
                        .map(|ours| NegotiatedCrypto {
                            local: ours.clone(),
                            remote: theirs.clone(),
                        })
                })
                .ok_or(SdpError::NoCommonCrypto)?,
        ),
    };
    Ok(Negotiated {
        remote: SocketAddr::new(answer.address, answer.port),
        codec,
        telephone_event,
        ptime: answer.ptime.unwrap_or(offer.ptime),
        direction: answer.direction,
        crypto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Offer {
        Offer {
            session_id: 42,
            address: "127.0.0.1".parse().expect("ip"),
            port: 40000,
            formats: vec![
                Format::new(0, "PCMU", 8000),
                Format::new(8, "PCMA", 8000),
                Format::new(101, "telephone-event", 8000),
            ],
            ptime: 20,
            crypto: Vec::new(),
        }
    }

    #[test]
    fn offer_round_trips_through_the_parser() {
        let sdp = offer().to_sdp();
        assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
        assert!(sdp.contains("a=fmtp:101 0-16\r\n"));
        let parsed = parse_audio(sdp.as_bytes()).expect("parses");
        assert_eq!(parsed.port, 40000);
        assert_eq!(parsed.formats, offer().formats);
        assert_eq!(parsed.ptime, Some(20));
    }

    #[test]
    fn answer_payload_types_come_from_the_answer() {
        // The answerer renumbered telephone-event to 96 and prefers PCMA.
        let answer = "v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 30000 RTP/AVP 8 96\r\nc=IN IP4 10.0.0.10\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\na=ptime:30\r\n";
        let n = negotiate(&offer(), &parse_audio(answer.as_bytes()).expect("parses")).expect("negotiates");
        assert_eq!(n.remote, "10.0.0.10:30000".parse().expect("addr"));
        assert_eq!(n.codec, Format::new(8, "PCMA", 8000));
        assert_eq!(n.telephone_event, Some(96));
        assert_eq!(n.ptime, 30);
    }

    #[test]
    fn static_types_without_rtpmap_and_failures() {
        let answer = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n";
        let n = negotiate(&offer(), &parse_audio(answer.as_bytes()).expect("parses")).expect("negotiates");
        assert_eq!(n.codec.encoding, "PCMU");
        assert_eq!(n.telephone_event, None);
        let g729 = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(
            negotiate(&offer(), &parse_audio(g729.as_bytes()).expect("parses")),
            Err(SdpError::NoCommonCodec)
        );
        let rejected = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            negotiate(&offer(), &parse_audio(rejected.as_bytes()).expect("parses")),
            Err(SdpError::Rejected)
        );
        assert_eq!(parse_audio(b"v=0\r\n"), Err(SdpError::NoAudio));
        assert_eq!(
            parse_audio(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::NoConnection)
        );
    }

    const KEY_A: &str = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    const KEY_B: &str = "inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj";
    const OPUS_FMTP: &str = "maxplaybackrate=16000;sprop-maxcapturerate=16000;useinbandfec=1;stereo=0";

    fn crypto(tag: u32, params: &str) -> Crypto {
        Crypto {
            tag,
            suite: "AES_CM_128_HMAC_SHA1_80".to_owned(),
            params: params.to_owned(),
        }
    }

    /// Opus first, then G.711 and telephone-event, on SRTP with two keys.
    fn secure_opus_offer() -> Offer {
        let mut o = offer();
        o.formats.insert(
            0,
            Format::new(111, "opus", 48000)
                .with_channels(2)
                .with_fmtp(OPUS_FMTP),
        );
        o.crypto = vec![crypto(1, KEY_A), crypto(2, KEY_B)];
        o
    }

    #[test]
    fn an_opus_srtp_offer_is_written_as_rfc_7587_and_4568_ask_and_reads_back() {
        let sdp = secure_opus_offer().to_sdp();
        assert!(sdp.contains("m=audio 40000 RTP/SAVP 111 0 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:111 opus/48000/2\r\n"));
        assert!(sdp.contains(&format!("a=fmtp:111 {OPUS_FMTP}\r\n")));
        assert!(sdp.contains("a=rtpmap:0 PCMU/8000\r\n"));
        assert!(sdp.contains(&format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 {KEY_A}\r\n")));
        assert!(sdp.contains(&format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 {KEY_B}\r\n")));
        let parsed = parse_audio(sdp.as_bytes()).expect("parses");
        assert!(parsed.secure);
        assert_eq!(parsed.formats, secure_opus_offer().formats);
        assert_eq!(parsed.crypto, secure_opus_offer().crypto);
        let back = Offer::from_sdp(sdp.as_bytes()).expect("reads back");
        assert_eq!(back.to_sdp(), sdp);
        // Without keys, the same offer is plain RTP with no crypto line.
        let plain = offer().to_sdp();
        assert!(plain.contains("RTP/AVP") && !plain.contains("a=crypto"));
    }

    #[test]
    fn negotiation_honours_the_answers_payload_type_parameters_and_key() {
        // The answerer renumbered Opus to 98, asked for 8 kHz playback, and took our second
        // key (tag 2) with its own.
        let answer = format!(
            "v=0\r\no=- 5 5 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
m=audio 30000 RTP/SAVP 98 97\r\na=rtpmap:98 opus/48000/2\r\na=fmtp:98 maxplaybackrate=8000; useinbandfec=0\r\n\
a=rtpmap:97 telephone-event/48000\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 {KEY_A}\r\n"
        );
        let n = negotiate(
            &secure_opus_offer(),
            &parse_audio(answer.as_bytes()).expect("parses"),
        )
        .expect("negotiates");
        assert_eq!(n.codec.payload_type, 98);
        assert_eq!(n.codec.encoding, "opus");
        assert_eq!(n.codec.channels, Some(2));
        assert_eq!(
            n.codec.fmtp.as_deref(),
            Some("maxplaybackrate=8000; useinbandfec=0")
        );
        // telephone-event at 48 kHz was not offered (ours runs at 8 kHz).
        assert_eq!(n.telephone_event, None);
        let keys = n.crypto.expect("SRTP");
        assert_eq!(keys.local, crypto(2, KEY_B), "our key of the tag the answer took");
        assert_eq!(keys.remote, crypto(2, KEY_A));
    }

    #[test]
    fn srtp_mismatches_fail_negotiation() {
        let parse = |sdp: &str| parse_audio(sdp.as_bytes()).expect("parses");
        let plain = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n";
        let unknown_tag = format!(
            "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:7 AES_CM_128_HMAC_SHA1_80 {KEY_A}\r\n"
        );
        let other_suite = "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:x\r\n";
        for answer in [plain, unknown_tag.as_str(), other_suite] {
            assert_eq!(
                negotiate(&secure_opus_offer(), &parse(answer)),
                Err(SdpError::NoCommonCrypto),
                "{answer}"
            );
        }
        // SRTP answered to a plain offer is a mismatch too.
        assert_eq!(
            negotiate(&offer(), &parse(&unknown_tag)),
            Err(SdpError::NoCommonCrypto)
        );
    }

    #[test]
    fn an_srtp_opus_offer_is_answered_with_our_key_under_its_tag_and_our_parameters() {
        let remote = format!(
            "v=0\r\no=- 5 5 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n\
m=audio 30000 RTP/SAVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1\r\n\
a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:y\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 {KEY_B}\r\n"
        );
        let remote = parse_audio(remote.as_bytes()).expect("parses");
        let (sdp, n) = answer(&secure_opus_offer(), 3, &remote, None, Direction::SendRecv).expect("answers");
        assert!(sdp.contains("m=audio 40000 RTP/SAVP 96\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:96 opus/48000/2\r\n"));
        assert!(sdp.contains(&format!("a=fmtp:96 {OPUS_FMTP}\r\n")));
        assert!(sdp.contains(&format!("a=crypto:9 AES_CM_128_HMAC_SHA1_80 {KEY_A}\r\n")));
        assert_eq!(sdp.matches("a=crypto").count(), 1);
        assert_eq!(
            n.codec.fmtp.as_deref(),
            Some("stereo=1"),
            "the offerer's parameters"
        );
        let keys = n.crypto.expect("SRTP");
        assert_eq!(keys.remote, crypto(9, KEY_B));
        assert_eq!(keys.local, crypto(9, KEY_A));
        // No SRTP of ours: an SRTP offer cannot be answered.
        assert_eq!(
            answer(&offer(), 3, &remote, None, Direction::SendRecv).map(|(_, n)| n),
            Err(SdpError::NoCommonCrypto)
        );
    }
}
