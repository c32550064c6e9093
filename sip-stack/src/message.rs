//! Incoming SIP messages: parsed with `rsip`, bounded by our own limits, and reduced to the fields the
//! transaction and dialog layers need. `rsip` is a permissive parser and unmaintained, so everything
//! that protects us from hostile input (sizes, header counts, Content-Length) is checked here first.

use rsip::prelude::*;
use std::fmt;

/// Bounds applied before any parsing. Defaults suit UDP signalling from a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes (a UDP datagram cannot exceed 65 507).
    pub max_message_bytes: usize,
    /// Most header lines in one message (folded continuation lines count).
    pub max_headers: usize,
    /// Longest single header line, in bytes.
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 65_507,
            max_headers: 128,
            max_header_line: 8_192,
        }
    }
}

/// Why a datagram was not accepted as a SIP message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The message is larger than [`Limits::max_message_bytes`].
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {max} header lines")]
    TooManyHeaders {
        /// The configured limit.
        max: usize,
    },
    /// A header line longer than [`Limits::max_header_line`].
    #[error("a header line exceeds {max} bytes")]
    HeaderTooLong {
        /// The configured limit.
        max: usize,
    },
    /// No blank line separates the headers from the body.
    #[error("no end of headers")]
    NoEndOfHeaders,
    /// Content-Length promises more bytes than the datagram carries.
    #[error("Content-Length {declared} but only {actual} body bytes")]
    BodyTruncated {
        /// The declared Content-Length.
        declared: usize,
        /// Bytes actually present after the headers.
        actual: usize,
    },
    /// Content-Length is not a number.
    #[error("Content-Length is not a number")]
    BadContentLength,
    /// The `rsip` parser refused the message.
    #[error("syntax: {0}")]
    Syntax(#[from] rsip::Error),
    /// A header every request and response must carry is absent or unreadable.
    #[error("missing or malformed {0} header")]
    MissingHeader(&'static str),
}

/// The fields shared by requests and responses that the stack keys on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// The Call-ID.
    pub call_id: String,
    /// CSeq sequence number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: rsip::Method,
    /// Branch parameter of the top Via (the transaction key).
    pub branch: String,
    /// Tag of the From header.
    pub from_tag: Option<String>,
    /// Tag of the To header.
    pub to_tag: Option<String>,
}

/// A parsed request with its key fields.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// The full message.
    pub msg: rsip::Request,
    /// Key fields.
    pub common: Common,
}

/// A parsed response with its key fields and the reason phrase as sent.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    /// The full message.
    pub msg: rsip::Response,
    /// Key fields.
    pub common: Common,
    /// Status code (100..=699).
    pub status: u16,
    /// The reason phrase exactly as the peer sent it (rsip normalizes known codes).
    pub reason: String,
}

/// Either kind of incoming message.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A request.
    Request(IncomingRequest),
    /// A response.
    Response(IncomingResponse),
}

impl fmt::Display for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incoming::Request(r) => write!(f, "{} (cseq {})", r.msg.method, r.common.cseq),
            Incoming::Response(r) => write!(f, "{} {} for {}", r.status, r.reason, r.common.cseq_method),
        }
    }
}

/// Parses one message, enforcing `limits` before handing bytes to `rsip`.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Incoming, ParseError> {
    let msg = parse_bounded(bytes, limits)?;
    match msg {
        rsip::SipMessage::Request(msg) => {
            let common = common_fields(&msg)?;
            Ok(Incoming::Request(IncomingRequest { msg, common }))
        }
        rsip::SipMessage::Response(msg) => {
            let common = common_fields(&msg)?;
            let status = msg.status_code.code();
            let reason = reason_phrase(bytes).unwrap_or_else(|| default_reason(&msg.status_code));
            Ok(Incoming::Response(IncomingResponse {
                msg,
                common,
                status,
                reason,
            }))
        }
    }
}

/// Checks sizes and Content-Length, then parses with `rsip`. The body is cut to Content-Length
/// (RFC 3261 18.3: extra bytes in a datagram are discarded).
pub fn parse_bounded(bytes: &[u8], limits: &Limits) -> Result<rsip::SipMessage, ParseError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let head_end = find_head_end(bytes).ok_or(ParseError::NoEndOfHeaders)?;
    let head = &bytes[..head_end];
    let mut lines = 0usize;
    let mut content_length = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        lines += 1;
        if lines > limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        if line.len() > limits.max_header_line {
            return Err(ParseError::HeaderTooLong {
                max: limits.max_header_line,
            });
        }
        if let Some(value) = header_value(line, "content-length", "l") {
            let text = std::str::from_utf8(value).map_err(|_| ParseError::BadContentLength)?;
            content_length = Some(
                text.trim()
                    .parse::<usize>()
                    .map_err(|_| ParseError::BadContentLength)?,
            );
        }
    }
    let body_start = head_end + separator_len(bytes, head_end);
    let actual = bytes.len() - body_start;
    let end = match content_length {
        Some(declared) if declared > actual => {
            return Err(ParseError::BodyTruncated { declared, actual });
        }
        Some(declared) => body_start + declared,
        None => bytes.len(),
    };
    Ok(rsip::SipMessage::try_from(&bytes[..end])?)
}

/// Index of the first byte of the blank line that ends the headers.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn separator_len(bytes: &[u8], head_end: usize) -> usize {
    if bytes[head_end..].starts_with(b"\r\n\r\n") {
        4
    } else {
        2
    }
}

/// The value of a header line if its name is `long` or the compact form `short`.
fn header_value<'a>(line: &'a [u8], long: &str, short: &str) -> Option<&'a [u8]> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = line[..colon].trim_ascii();
    (name.eq_ignore_ascii_case(long.as_bytes()) || name.eq_ignore_ascii_case(short.as_bytes()))
        .then(|| line[colon + 1..].trim_ascii())
}

fn reason_phrase(bytes: &[u8]) -> Option<String> {
    let line_end = bytes.iter().position(|b| *b == b'\r' || *b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut parts = line.splitn(3, ' ');
    parts.next()?;
    parts.next()?;
    Some(parts.next().unwrap_or("").trim().to_owned())
}

fn default_reason(code: &rsip::StatusCode) -> String {
    let text = code.to_string();
    text.split_once(' ')
        .map(|(_, r)| r.to_owned())
        .unwrap_or_default()
}

fn common_fields<M: HeadersExt>(msg: &M) -> Result<Common, ParseError> {
    let call_id = msg
        .call_id_header()
        .map_err(|_| ParseError::MissingHeader("Call-ID"))?
        .value()
        .to_owned();
    let cseq = msg.cseq_header().map_err(|_| ParseError::MissingHeader("CSeq"))?;
    let cseq_method = cseq.method().map_err(|_| ParseError::MissingHeader("CSeq"))?;
    let cseq = cseq.seq().map_err(|_| ParseError::MissingHeader("CSeq"))?;
    let via = msg.via_header().map_err(|_| ParseError::MissingHeader("Via"))?;
    let via = via.typed().map_err(|_| ParseError::MissingHeader("Via"))?;
    let branch = via
        .branch()
        .map(|b| b.to_string())
        .ok_or(ParseError::MissingHeader("Via"))?;
    let from_tag = msg
        .from_header()
        .map_err(|_| ParseError::MissingHeader("From"))?
        .tag()
        .map_err(|_| ParseError::MissingHeader("From"))?
        .map(|t| t.value().to_owned());
    let to_tag = msg
        .to_header()
        .map_err(|_| ParseError::MissingHeader("To"))?
        .tag()
        .map_err(|_| ParseError::MissingHeader("To"))?
        .map(|t| t.value().to_owned());
    Ok(Common {
        call_id,
        cseq,
        cseq_method,
        branch,
        from_tag,
        to_tag,
    })
}

/// Values of every header named `name` (case-insensitive), in order, as text. Works for headers
/// rsip knows and for the ones it keeps as `Other`.
pub fn header_values(headers: &rsip::Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter_map(|h| {
            let text = h.to_string();
            let (n, v) = text.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .collect()
}

/// The URI inside a name-addr or addr-spec (`"Bob" <sip:bob@host>;tag=1` -> `sip:bob@host`).
pub fn uri_of(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(start), Some(end)) if end > start => &name_addr[start + 1..end],
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

/// Splits a header value list at top-level commas (commas inside `<...>` or quotes stay).
pub fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = value[start..].trim();
    if !last.is_empty() {
        parts.push(last);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE_200: &str = "SIP/2.0 200 Fine Thanks\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc;rport=5080\r\n\
Record-Route: <sip:127.0.0.1:5060;lr>\r\n\
From: <sip:agent@trunk.test>;tag=ft1\r\n\
To: <sip:+15551234567@trunk.test>;tag=tt9\r\n\
Call-ID: c1@ringback\r\n\
CSeq: 2 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:5070>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\r\nEXTRA";

    #[test]
    fn response_fields_and_raw_reason_are_kept() {
        let Ok(Incoming::Response(r)) = parse(INVITE_200.as_bytes(), &Limits::default()) else {
            panic!("expected a response");
        };
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "Fine Thanks");
        assert_eq!(r.common.call_id, "c1@ringback");
        assert_eq!(r.common.cseq, 2);
        assert_eq!(r.common.cseq_method, rsip::Method::Invite);
        assert_eq!(r.common.branch, "z9hG4bKabc");
        assert_eq!(r.common.from_tag.as_deref(), Some("ft1"));
        assert_eq!(r.common.to_tag.as_deref(), Some("tt9"));
        assert_eq!(r.msg.body, b"v=0\r");
        assert_eq!(
            header_values(&r.msg.headers, "record-route"),
            vec!["<sip:127.0.0.1:5060;lr>"]
        );
    }

    #[test]
    fn content_length_beyond_the_datagram_is_refused() {
        let text = INVITE_200.replace("Content-Length: 4", "Content-Length: 400");
        assert!(matches!(
            parse(text.as_bytes(), &Limits::default()),
            Err(ParseError::BodyTruncated { declared: 400, .. })
        ));
    }

    #[test]
    fn limits_are_enforced_before_parsing() {
        let limits = Limits {
            max_message_bytes: 100,
            ..Limits::default()
        };
        assert!(matches!(
            parse(INVITE_200.as_bytes(), &limits),
            Err(ParseError::TooLarge { .. })
        ));
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        assert!(matches!(
            parse(INVITE_200.as_bytes(), &limits),
            Err(ParseError::TooManyHeaders { .. })
        ));
        let limits = Limits {
            max_header_line: 20,
            ..Limits::default()
        };
        assert!(matches!(
            parse(INVITE_200.as_bytes(), &limits),
            Err(ParseError::HeaderTooLong { .. })
        ));
    }

    #[test]
    fn missing_via_is_an_error() {
        let text: String = INVITE_200
            .lines()
            .filter(|l| !l.starts_with("Via"))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert!(parse(text.as_bytes(), &Limits::default()).is_err());
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        for junk in [
            &b""[..],
            b"\r\n\r\n",
            b"HELLO\r\n\r\n",
            &[0xff; 64],
            b"SIP/2.0 abc\r\n\r\n",
        ] {
            assert!(parse(junk, &Limits::default()).is_err());
        }
    }

    #[test]
    fn name_addr_helpers() {
        assert_eq!(uri_of("\"Bob\" <sip:bob@host;lr>;tag=1"), "sip:bob@host;lr");
        assert_eq!(uri_of("sip:bob@host;tag=1"), "sip:bob@host");
        assert_eq!(
            split_list("<sip:a;lr>, \"x,y\" <sip:b>,<sip:c>"),
            vec!["<sip:a;lr>", "\"x,y\" <sip:b>", "<sip:c>"]
        );
    }
}
