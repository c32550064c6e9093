//! SDP offer/answer for one audio stream (RFC 4566, RFC 3264). We describe media here and never touch
//! it: the call manager hands the negotiated codec and address to the media layer. Payload types are
//! always read from the remote description, never assumed.

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
}

impl Format {
    /// A format with the given payload type, name and clock rate.
    pub fn new(payload_type: u8, encoding: &str, clock_rate: u32) -> Self {
        Self {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
        }
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
}

impl Offer {
    /// Renders the offer as SDP text (version equal to the session id, `sendrecv`).
    pub fn to_sdp(&self) -> String {
        self.render(self.session_id, &self.formats, Direction::SendRecv)
    }

    /// Renders this description with the given version, formats and direction: the form used for
    /// re-offers (hold, resume, a new codec list) and for answers.
    pub fn render(&self, version: u64, formats: &[Format], direction: Direction) -> String {
        let ip = match self.address {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut sdp = format!(
            "v=0\r\no=ringback {id} {version} IN {ip} {addr}\r\ns=ringback\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP",
            id = self.session_id,
            addr = self.address,
            port = self.port,
        );
        for f in formats {
            let _ = write!(sdp, " {}", f.payload_type);
        }
        sdp.push_str("\r\n");
        for f in formats {
            let _ = write!(
                sdp,
                "a=rtpmap:{} {}/{}\r\n",
                f.payload_type, f.encoding, f.clock_rate
            );
            if f.is_telephone_event() {
                let _ = write!(sdp, "a=fmtp:{} 0-16\r\n", f.payload_type);
            }
        }
        let _ = write!(sdp, "a=ptime:{}\r\na={}\r\n", self.ptime, direction.as_str());
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
    let supported = |f: &Format| {
        local
            .formats
            .iter()
            .any(|o| o.encoding.eq_ignore_ascii_case(&f.encoding) && o.clock_rate == f.clock_rate)
    };
    let same =
        |a: &Format, b: &Format| a.encoding.eq_ignore_ascii_case(&b.encoding) && a.clock_rate == b.clock_rate;
    let audio = |f: &&Format| !f.is_telephone_event() && supported(f);
    let codec = prefer
        .and_then(|p| remote.formats.iter().filter(audio).find(|f| same(f, p)))
        .or_else(|| remote.formats.iter().find(audio))
        .cloned()
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = remote
        .formats
        .iter()
        .find(|f| f.is_telephone_event() && f.clock_rate == codec.clock_rate && supported(f))
        .cloned();
    let mut formats = vec![codec.clone()];
    formats.extend(telephone_event.clone());
    let direction = remote.direction.answer(wanted);
    let sdp = local.render(version, &formats, direction);
    let negotiated = Negotiated {
        remote: SocketAddr::new(remote.address, remote.port),
        codec,
        telephone_event: telephone_event.map(|f| f.payload_type),
        ptime: remote.ptime.unwrap_or(local.ptime),
        direction: remote.direction,
    };
    Ok((sdp, negotiated))
}

/// The outcome of negotiation: what to send and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP (until symmetric RTP latches onto the real source).
    pub remote: SocketAddr,
    /// The audio codec, with the payload type the remote uses for it.
    pub codec: Format,
    /// The telephone-event payload type, if both sides support it.
    pub telephone_event: Option<u8>,
    /// Packet time in ms (20 unless the remote asked otherwise).
    pub ptime: u32,
    /// Direction the remote declared.
    pub direction: Direction,
}

/// Parses the audio stream out of a session description.
pub fn parse_audio(body: &[u8]) -> Result<AudioDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session_addr = None;
    let mut audio: Option<(Option<IpAddr>, u16, Vec<u8>)> = None;
    let mut rtpmaps: Vec<(u8, String, u32)> = Vec::new();
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
                let _proto = parts.next().ok_or(SdpError::Malformed("m= proto"))?;
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
                        rtpmaps.push((pt, enc, rate));
                    }
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
            rtpmaps
                .iter()
                .find(|(p, _, _)| *p == pt)
                .map(|(_, enc, rate)| Format::new(pt, enc, *rate))
                .or_else(|| static_format(pt))
        })
        .collect();
    Ok(AudioDescription {
        address,
        port,
        formats,
        ptime,
        direction,
        origin,
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
    let offered = |f: &Format| {
        offer
            .formats
            .iter()
            .any(|o| o.encoding.eq_ignore_ascii_case(&f.encoding) && o.clock_rate == f.clock_rate)
    };
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
    Ok(Negotiated {
        remote: SocketAddr::new(answer.address, answer.port),
        codec,
        telephone_event,
        ptime: answer.ptime.unwrap_or(offer.ptime),
        direction: answer.direction,
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
}
