//! What a UAS answers to a well-formed request it cannot process as is (RFC 3261 8.2: required headers,
//! Request-URI scheme, Require, Content-Type, Accept), and the one-line report of `ringback sip-parse`.

use super::{Limits, Message, ParseError, Request, frame, grammar};
use serde::Serialize;

/// Option tags of `Require` that we implement.
pub const SUPPORTED_OPTIONS: [&str; 2] = ["timer", "replaces"];

/// URI schemes a UAS can route on. Anything else in the Request-URI gets 416 (RFC 3261 8.2.2.1);
/// `soap.beep(s)` is registered and harmless, so it is read like any other known scheme (RFC 4475
/// 3.3.3).
const KNOWN_SCHEMES: [&str; 6] = ["sip", "sips", "tel", "urn", "soap.beep", "soap.beeps"];

/// Headers that may appear once only (RFC 3261 7.3.1: everything not defined as a list).
const SINGLE: [&str; 7] = [
    "To",
    "From",
    "CSeq",
    "Call-ID",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
];

/// Methods whose body we interpret (an SDP offer or answer).
fn carries_sdp(request: &Request) -> bool {
    use super::Method::{Ack, Invite, Prack, Update};
    matches!(request.method, Invite | Ack | Prack | Update)
}

/// A refusal: status, reason and any header the answer must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Headers to add, such as `Unsupported` for 420 or `Accept` for 415.
    pub headers: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(status: u16, reason: &'static str) -> Self {
        Self {
            status,
            reason,
            headers: Vec::new(),
        }
    }
}

/// The standard reason phrase for the statuses this module produces.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        _ => "Error",
    }
}

/// Checks a well-formed request the way a UAS does before it looks at the method; `None` when it can
/// be processed.
pub fn check_request(request: &Request) -> Option<Refusal> {
    let headers = &request.headers;
    for name in ["To", "From", "CSeq", "Call-ID", "Via"] {
        if headers.get(name).is_none() {
            return Some(Refusal::new(400, "Missing Required Header"));
        }
    }
    if SINGLE.iter().any(|name| headers.count(name) > 1) {
        return Some(Refusal::new(400, "Duplicate Single-Value Header"));
    }
    let scheme = grammar::scheme_of(&request.uri)
        .map(|(s, _)| s)
        .unwrap_or_default();
    if !KNOWN_SCHEMES.iter().any(|k| k.eq_ignore_ascii_case(scheme)) {
        return Some(Refusal::new(416, "Unsupported URI Scheme"));
    }
    if !matches!(request.method, super::Method::Ack | super::Method::Cancel) {
        let unsupported: Vec<&str> = headers
            .values("require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|tag| !tag.is_empty() && !SUPPORTED_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(tag)))
            .collect();
        if !unsupported.is_empty() {
            let mut refusal = Refusal::new(420, "Bad Extension");
            refusal.headers.push(("Unsupported", unsupported.join(", ")));
            return Some(refusal);
        }
    }
    if carries_sdp(request) && !request.body.is_empty() {
        let content_type = headers.get("content-type").unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let encoding_ok = headers
            .values("content-encoding")
            .all(|e| e.trim().eq_ignore_ascii_case("identity"));
        if !media.eq_ignore_ascii_case("application/sdp") || !encoding_ok {
            let mut refusal = Refusal::new(415, "Unsupported Media Type");
            refusal.headers.push(("Accept", "application/sdp".to_owned()));
            refusal.headers.push(("Accept-Encoding", "identity".to_owned()));
            return Some(refusal);
        }
    }
    if request.method == super::Method::Invite {
        let accepts: Vec<&str> = headers.values("accept").flat_map(|v| v.split(',')).collect();
        let sdp_ok = accepts.is_empty()
            || accepts.iter().any(|a| {
                let media = a.split(';').next().unwrap_or_default().trim();
                ["application/sdp", "application/*", "*/*"]
                    .iter()
                    .any(|ok| ok.eq_ignore_ascii_case(media))
            });
        if !sdp_ok {
            let mut refusal = Refusal::new(406, "Not Acceptable");
            refusal.headers.push(("Accept", "application/sdp".to_owned()));
            return Some(refusal);
        }
    }
    None
}

/// The report of `ringback sip-parse`: one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// Whether the message is well formed.
    pub valid: bool,
    /// `request` or `response`, when the start line could be read.
    pub kind: Option<&'static str>,
    /// The method of a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The status of a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The Call-ID, when present.
    pub call_id: Option<String>,
    /// The status a UAS answers a request with, or `None` when it processes it normally (responses
    /// are never answered).
    pub response: Option<u16>,
    /// Why the message is malformed, or why it is refused.
    pub error: Option<String>,
}

impl Inspection {
    /// The report as one line of compact JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"valid\":false}".to_owned())
    }
}

/// Reads one message and says what a UAS would make of it.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Inspection {
    let framed = match frame(bytes, limits) {
        Ok(framed) => framed,
        Err(err) => {
            return Inspection {
                valid: false,
                kind: None,
                method: None,
                status: None,
                call_id: None,
                response: None,
                error: Some(err.to_string()),
            };
        }
    };
    let call_id = framed.message.headers().get("call-id").map(str::to_owned);
    match &framed.message {
        Message::Request(request) => {
            let (response, error) = match &framed.error {
                Some(err) => (Some(err.response_status()), Some(err.to_string())),
                None => match check_request(request) {
                    Some(refusal) => (Some(refusal.status), Some(refusal.reason.to_owned())),
                    None => (None, None),
                },
            };
            Inspection {
                valid: framed.error.is_none(),
                kind: Some("request"),
                method: Some(request.method.to_string()),
                status: None,
                call_id,
                response,
                error,
            }
        }
        Message::Response(response) => Inspection {
            valid: framed.error.is_none(),
            kind: Some("response"),
            method: None,
            status: Some(response.status),
            call_id,
            response: None,
            error: framed.error.as_ref().map(ParseError::to_string),
        },
    }
}
