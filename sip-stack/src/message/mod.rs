//! Incoming SIP messages: framed and checked by our own parser, bounded by our own limits, and reduced
//! to the fields the transaction and dialog layers need.
//!
//! Parsing has two levels. [`frame`] finds the start line, the header fields (unfolded, compact names
//! expanded) and the body; it fails only when the bytes cannot be read as a message at all. The grammar
//! check ([`grammar`]) then decides whether the message is well formed; a request that is framed but
//! malformed can still be answered with 400 (or 505), because its Via, From, To, Call-ID and CSeq are
//! known. [`parse`] does both and extracts the key fields. [`verdict`] holds what a UAS answers to a
//! well-formed request it cannot process (RFC 3261 8.2), and the `sip-parse` report.
//!
//! The whole of RFC 4475 (SIP torture tests) is a test of this module (`tests/rfc4475.rs`).

pub mod grammar;
mod method;
pub mod verdict;

pub use method::Method;

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

/// Why bytes were not accepted as a well-formed SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The start line and headers are not UTF-8 text.
    #[error("headers are not UTF-8")]
    NotUtf8,
    /// The first line is neither a request line nor a status line.
    #[error("bad start line: {0}")]
    BadStartLine(&'static str),
    /// A SIP version other than 2.0.
    #[error("SIP version {0} not supported")]
    VersionNotSupported(String),
    /// The status code is not three digits from 100 to 699.
    #[error("bad status code")]
    BadStatusCode,
    /// A header line without a colon, or with a name that is not a token.
    #[error("bad header line")]
    BadHeaderLine,
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
    /// A header value breaks the grammar of its header.
    #[error("malformed {name} header: {why}")]
    BadHeader {
        /// The header's name.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The Request-URI is malformed.
    #[error("malformed Request-URI: {0}")]
    BadRequestUri(&'static str),
    /// The CSeq method differs from the request method.
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// The request's method.
        method: String,
        /// The CSeq's method.
        cseq: String,
    },
    /// A header every request and response must carry is absent or unreadable.
    #[error("missing or malformed {0} header")]
    MissingHeader(&'static str),
}

impl ParseError {
    /// The status a UAS answers a request with when it fails this way (RFC 3261 21.4.1, 21.5.11,
    /// 21.5.16).
    pub fn response_status(&self) -> u16 {
        match self {
            ParseError::TooLarge { .. } => 513,
            ParseError::VersionNotSupported(_) => 505,
            _ => 400,
        }
    }
}

/// One header field, unfolded, with compact names expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name (the full form for compact names; otherwise as written).
    pub name: String,
    /// The value with surrounding white space removed and folded lines joined by one space.
    pub value: String,
}

/// The header fields of a message, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The values of every field named `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI as written.
    pub uri: String,
    /// Version as written (`SIP/2.0`).
    pub version: String,
    /// Header fields.
    pub headers: Headers,
    /// Body, cut to Content-Length.
    pub body: Vec<u8>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// The reason phrase exactly as sent (possibly empty).
    pub reason: String,
    /// Version as written.
    pub version: String,
    /// Header fields.
    pub headers: Headers,
    /// Body, cut to Content-Length.
    pub body: Vec<u8>,
}

/// Either kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

/// A framed message and the first grammar violation found in it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    /// The message as read.
    pub message: Message,
    /// Why it is not well formed; `None` when it is.
    pub error: Option<ParseError>,
}

/// The fields shared by requests and responses that the stack keys on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// The Call-ID.
    pub call_id: String,
    /// CSeq sequence number.
    pub cseq: u32,
    /// CSeq method.
    pub cseq_method: Method,
    /// The transaction key from the top Via: its branch when it has the RFC 3261 magic cookie,
    /// otherwise a key built from the Via, Call-ID and CSeq (RFC 2543 peers, RFC 3261 17.2.3).
    pub branch: String,
    /// The top Via's sent-by (`host:port`, the port as written or 0): with the branch, it tells one
    /// client's transaction from another's that happens to use the same branch (RFC 3261 17.2.3).
    pub sent_by: String,
    /// Tag of the From header.
    pub from_tag: Option<String>,
    /// Tag of the To header.
    pub to_tag: Option<String>,
}

/// A parsed request with its key fields.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// The full message.
    pub msg: Request,
    /// Key fields.
    pub common: Common,
}

/// A parsed response with its key fields and the reason phrase as sent.
#[derive(Debug, Clone)]
pub struct IncomingResponse {
    /// The full message.
    pub msg: Response,
    /// Key fields.
    pub common: Common,
    /// Status code (100..=699).
    pub status: u16,
    /// The reason phrase exactly as the peer sent it.
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

/// Parses one well-formed message and extracts its key fields.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Incoming, ParseError> {
    match parse_message(bytes, limits)? {
        Message::Request(msg) => {
            let common = common_fields(&msg.headers)?;
            Ok(Incoming::Request(IncomingRequest { msg, common }))
        }
        Message::Response(msg) => {
            let common = common_fields(&msg.headers)?;
            let (status, reason) = (msg.status, msg.reason.clone());
            Ok(Incoming::Response(IncomingResponse {
                msg,
                common,
                status,
                reason,
            }))
        }
    }
}

/// Frames and checks one message; any grammar violation is an error.
pub fn parse_message(bytes: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    let framed = frame(bytes, limits)?;
    match framed.error {
        Some(err) => Err(err),
        None => Ok(framed.message),
    }
}

/// Compact header names (RFC 3261 7.3.3 and later RFCs) and their full forms.
const COMPACT: [(char, &str); 20] = [
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('n', "Identity-Info"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
    ('y', "Identity"),
];

fn full_name(name: &str) -> String {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && let Some((_, full)) = COMPACT.iter().find(|(k, _)| k.eq_ignore_ascii_case(&c))
    {
        return (*full).to_owned();
    }
    name.to_owned()
}

fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Reads the start line, the header fields and the body (cut to Content-Length; extra bytes of a
/// datagram are discarded, RFC 3261 18.3). Fails only when the bytes cannot be read as a message; a
/// readable but malformed message comes back with [`Framed::error`] set.
pub fn frame(bytes: &[u8], limits: &Limits) -> Result<Framed, ParseError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseError::TooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    // CRLFs before the start line are ignored (RFC 3261 7.5).
    let skip = bytes.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    let bytes = &bytes[skip..];
    let (head_end, body_start, mut error) = match find_head_end(bytes) {
        Some((end, sep)) => (end, end + sep, None),
        None => (bytes.len(), bytes.len(), Some(ParseError::NoEndOfHeaders)),
    };
    let head = std::str::from_utf8(&bytes[..head_end]).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or_default();
    let mut headers: Vec<Header> = Vec::new();
    for (count, line) in lines.enumerate() {
        if count >= limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        if line.len() > limits.max_header_line {
            return Err(ParseError::HeaderTooLong {
                max: limits.max_header_line,
            });
        }
        if line.is_empty() {
            // Only possible at the very end, when the blank line after the headers is missing.
            continue;
        }
        if line.starts_with(is_lws) {
            let last = headers.last_mut().ok_or(ParseError::BadHeaderLine)?;
            let more = line.trim_matches(is_lws);
            if !more.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(more);
            }
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::BadHeaderLine)?;
        let name = name.trim_end_matches(is_lws);
        if !grammar::is_token(name) {
            return Err(ParseError::BadHeaderLine);
        }
        headers.push(Header {
            name: full_name(name),
            value: value.trim_matches(is_lws).to_owned(),
        });
    }
    for h in &mut headers {
        let trimmed = h.value.trim_end_matches(is_lws).len();
        h.value.truncate(trimmed);
    }
    let headers = Headers(headers);
    let rest = &bytes[body_start..];
    let body = match headers.get("content-length") {
        None => rest,
        Some(value) => {
            match grammar::small_number(value, u64::MAX >> 1).and_then(|n| usize::try_from(n).ok()) {
                Some(declared) if declared <= rest.len() => &rest[..declared],
                Some(declared) => {
                    error.get_or_insert(ParseError::BodyTruncated {
                        declared,
                        actual: rest.len(),
                    });
                    &[]
                }
                None => {
                    error.get_or_insert(ParseError::BadContentLength);
                    &[]
                }
            }
        }
    };
    let message = start_line(start, headers, body.to_vec(), &mut error)?;
    if error.is_none() {
        error = check_grammar(&message).err();
    }
    Ok(Framed { message, error })
}

/// Reads the start line leniently (so the request can still be answered) and notes where it breaks
/// the strict grammar: single spaces, no white space at the ends, version 2.0, a 3-digit status.
fn start_line(
    line: &str,
    headers: Headers,
    body: Vec<u8>,
    error: &mut Option<ParseError>,
) -> Result<Message, ParseError> {
    if line.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("SIP/")) {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let code = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default();
        let status = match code.parse::<u16>() {
            Ok(s) if code.len() == 3 && (100..=699).contains(&s) => s,
            _ => return Err(ParseError::BadStatusCode),
        };
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            error.get_or_insert(ParseError::VersionNotSupported(version.to_owned()));
        }
        return Ok(Message::Response(Response {
            status,
            reason: reason.to_owned(),
            version: version.to_owned(),
            headers,
            body,
        }));
    }
    let words: Vec<&str> = line.split(is_lws).filter(|w| !w.is_empty()).collect();
    let [method, .., version] = words.as_slice() else {
        return Err(ParseError::BadStartLine("not a request or status line"));
    };
    if words.len() < 3 || !grammar::is_token(method) {
        return Err(ParseError::BadStartLine("not a request or status line"));
    }
    let uri_start = line.find(method).unwrap_or(0) + method.len();
    let uri_end = line.rfind(version).unwrap_or(line.len());
    let uri = line
        .get(uri_start..uri_end)
        .unwrap_or_default()
        .trim_matches(is_lws);
    let version_ok = version.eq_ignore_ascii_case("SIP/2.0");
    if !version_ok && !version.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("SIP/")) {
        return Err(ParseError::BadStartLine("no SIP version"));
    }
    if line != format!("{method} {uri} {version}") || uri.contains(char::is_whitespace) {
        error.get_or_insert(ParseError::BadStartLine(
            "request line must be Method SP URI SP version",
        ));
    }
    if !version_ok {
        error.get_or_insert(ParseError::VersionNotSupported((*version).to_owned()));
    }
    Ok(Message::Request(Request {
        method: Method::from_token(method),
        uri: uri.to_owned(),
        version: (*version).to_owned(),
        headers,
        body,
    }))
}

/// Checks the grammar of the Request-URI and of every header we understand.
fn check_grammar(message: &Message) -> Result<(), ParseError> {
    if let Message::Request(r) = message {
        grammar::check_uri(&r.uri).map_err(ParseError::BadRequestUri)?;
        if grammar::sip_uri(&r.uri).is_ok_and(|u| u.has_headers) {
            return Err(ParseError::BadRequestUri(
                "headers are not allowed in a Request-URI",
            ));
        }
    }
    for h in message.headers().iter() {
        check_header(&h.name, &h.value).map_err(|why| ParseError::BadHeader {
            name: h.name.clone(),
            why,
        })?;
    }
    if let Message::Request(r) = message
        && let Some(value) = r.headers.get("cseq")
        && let Ok((_, method)) = grammar::cseq(value)
        && method != r.method.as_str()
    {
        return Err(ParseError::CSeqMismatch {
            method: r.method.to_string(),
            cseq: method.to_owned(),
        });
    }
    Ok(())
}

/// Whether `value` holds a control character (other than HTAB) that is not a quoted-pair.
fn has_bare_control(value: &str) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '\t' => {}
            c if c.is_control() => return true,
            _ => {}
        }
    }
    false
}

fn check_header(name: &str, value: &str) -> Result<(), grammar::Why> {
    // Header values are TEXT-UTF8 with linear white space (RFC 3261 25.1): a raw NUL or another
    // control character is not valid (it would cut the value short in C peers and logs), except
    // escaped as a quoted-pair inside a quoted string (`"NUL:\<NUL>"`, RFC 4475 3.1.1.2).
    if has_bare_control(value) {
        return Err("control character in value");
    }
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("via") {
        for part in grammar::split_commas(value) {
            grammar::via(part)?;
        }
    } else if is("from") || is("to") || is("reply-to") || is("refer-to") || is("referred-by") {
        grammar::name_addr(value)?;
    } else if is("contact") || is("route") || is("record-route") {
        if !(is("contact") && value == "*") {
            for part in grammar::split_commas(value) {
                grammar::name_addr(part)?;
            }
        }
    } else if is("cseq") {
        grammar::cseq(value)?;
    } else if is("call-id") {
        grammar::check_call_id(value)?;
    } else if is("max-forwards") {
        grammar::small_number(value, 255).ok_or("not a number up to 255")?;
    } else if is("content-length") {
        grammar::small_number(value, u64::MAX >> 1).ok_or("not a number")?;
    } else if is("expires") || is("min-expires") || is("min-se") {
        // delta-seconds larger than 2^32-1 are read as 2^32-1 (RFC 3261 25.1); only digits matter.
        grammar::small_number(value, u64::MAX)
            .map_or_else(
                || value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty(),
                |_| true,
            )
            .then_some(())
            .ok_or("not delta-seconds")?;
    } else if is("date") {
        grammar::check_date(value)?;
    } else if is("warning") {
        for part in grammar::split_commas(value) {
            let code = part.split(is_lws).next().unwrap_or_default();
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err("warn-code must be 3 digits");
            }
        }
    } else if is("retry-after") {
        let seconds = value
            .split(|c: char| c == ';' || c == '(' || is_lws(c))
            .next()
            .unwrap_or_default();
        grammar::small_number(seconds, u64::from(u32::MAX)).ok_or("not delta-seconds")?;
    }
    Ok(())
}

/// Where the headers end: the index of the blank line and the length of the separator.
fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Extracts the key fields; a missing or unreadable one is an error (a UAS answers 400).
pub fn common_fields(headers: &Headers) -> Result<Common, ParseError> {
    let single = |name: &'static str| match headers.count(name) {
        1 => headers.get(name).ok_or(ParseError::MissingHeader(name)),
        _ => Err(ParseError::MissingHeader(name)),
    };
    let call_id = single("Call-ID")?.to_owned();
    let (cseq, cseq_method) =
        grammar::cseq(single("CSeq")?).map_err(|_| ParseError::MissingHeader("CSeq"))?;
    let top_via = headers
        .values("via")
        .flat_map(grammar::split_commas)
        .next()
        .ok_or(ParseError::MissingHeader("Via"))?;
    let via = grammar::via(top_via).map_err(|_| ParseError::MissingHeader("Via"))?;
    let tag = |name: &'static str| -> Result<Option<String>, ParseError> {
        let value = single(name)?;
        let addr = grammar::name_addr(value).map_err(|_| ParseError::MissingHeader(name))?;
        Ok(addr.param("tag").map(str::to_owned))
    };
    let from_tag = tag("From")?;
    let to_tag = tag("To")?;
    let branch = match via.param("branch") {
        Some(b) if b.len() > 7 && b.starts_with("z9hG4bK") => b.to_owned(),
        _ => format!(
            "rfc2543;{}:{};{};{};{}",
            via.host,
            via.port.unwrap_or(0),
            call_id,
            cseq,
            from_tag.as_deref().unwrap_or_default()
        ),
    };
    let sent_by = format!("{}:{}", via.host.to_ascii_lowercase(), via.port.unwrap_or(0));
    Ok(Common {
        call_id,
        cseq,
        cseq_method: Method::from_token(cseq_method),
        branch,
        sent_by,
        from_tag,
        to_tag,
    })
}

/// Values of every header named `name` (case-insensitive), in order, as text.
pub fn header_values(headers: &Headers, name: &str) -> Vec<String> {
    headers.values(name).map(str::to_owned).collect()
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
    grammar::split_commas(value)
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
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
        assert_eq!(r.common.cseq_method, Method::Invite);
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
            b"INVITE sip:x SIP/2.0\r\n folded-first\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nno colon here\r\n\r\n",
        ] {
            assert!(parse(junk, &Limits::default()).is_err());
        }
    }

    #[test]
    fn folding_and_compact_names_are_normalized() {
        let text = "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n\
t: sip:a@b\r\ni: c\r\nSubject: one\r\n  two\r\nCSeq: 1\r\n OPTIONS\r\nl: 0\r\n\r\n";
        let Ok(Incoming::Request(r)) = parse(text.as_bytes(), &Limits::default()) else {
            panic!("valid");
        };
        assert_eq!(r.msg.headers.get("subject"), Some("one two"));
        assert_eq!(r.msg.headers.get("Call-ID"), Some("c"));
        assert_eq!(r.common.cseq, 1);
        assert_eq!(r.msg.headers.get("content-length"), Some("0"));
    }

    #[test]
    fn rfc2543_requests_get_a_synthetic_transaction_key() {
        let text = "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com\r\n\
From: <sip:a@example.com>\r\nTo: sip:b@example.com\r\nCall-ID: k@x\r\nCSeq: 56 INVITE\r\n\r\n";
        let Ok(Incoming::Request(r)) = parse(text.as_bytes(), &Limits::default()) else {
            panic!("valid");
        };
        assert!(r.common.branch.starts_with("rfc2543;gw.example.com"));
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
