//! Messages we send, as small typed structs rendered to wire text, so the header order, the
//! Content-Length and the exact bytes on the wire are ours.

use crate::message::{Method, Request, grammar};
use crate::transport::Transport;
use std::fmt::Write as _;

/// How we name ourselves on one transport: the sent-by of our Via and the host of our Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The transport.
    pub transport: Transport,
    /// `host:port` we are reached at on it (a configured public address when behind NAT).
    pub host: String,
}

impl Local {
    /// Our Via header value with `branch` and `rport` (RFC 3581).
    pub fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.via_name(),
            self.host
        )
    }

    /// Our Contact header value for `user`.
    pub fn contact(&self, user: &str) -> String {
        format!("<sip:{user}@{}{}>", self.host, self.transport.uri_param())
    }
}

/// A response the transaction user wants sent: the endpoint copies the request's Via, From, To,
/// Call-ID and CSeq into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Tag to add to To when the request had none (our dialog tag, or a fresh one).
    pub to_tag: Option<String>,
    /// Further headers (Contact, Allow, Session-Expires, ...).
    pub headers: Vec<(&'static str, String)>,
    /// An SDP body.
    pub sdp: Option<Vec<u8>>,
}

impl Reply {
    /// A response with no extra headers and no body.
    pub fn new(status: u16, reason: &str) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            to_tag: None,
            headers: Vec::new(),
            sdp: None,
        }
    }

    /// Renders the reply as the answer to `request`.
    pub fn render(&self, request: &Request, user_agent: &str) -> Vec<u8> {
        let headers: Vec<(&str, String)> = self.headers.iter().map(|(n, v)| (*n, v.clone())).collect();
        response_with_body(
            request,
            self.status,
            &self.reason,
            self.to_tag.as_deref(),
            &headers,
            user_agent,
            self.sdp.as_deref().map(|b| ("application/sdp", b)),
        )
    }
}

/// A request we send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Method.
    pub method: Method,
    /// Request-URI.
    pub uri: String,
    /// Value of our single Via header (carries the branch).
    pub via: String,
    /// Route set, in order.
    pub route: Vec<String>,
    /// From header value (with our tag).
    pub from: String,
    /// To header value.
    pub to: String,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number (the method is `method`).
    pub cseq: u32,
    /// Further headers such as Contact, Expires, Authorization.
    pub extra: Vec<(&'static str, String)>,
    /// The application's own headers (`X-` names, checked by [`crate::identity::is_custom_header`]).
    pub custom: Vec<(String, String)>,
    /// Content type and body.
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl OutgoingRequest {
    /// Renders the request.
    pub fn to_bytes(&self, user_agent: &str) -> Vec<u8> {
        let mut head = format!(
            "{} {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n",
            self.method, self.uri, self.via
        );
        for r in &self.route {
            let _ = write!(head, "Route: {r}\r\n");
        }
        let _ = write!(
            head,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.from, self.to, self.call_id, self.cseq, self.method
        );
        for (name, value) in &self.extra {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        for (name, value) in &self.custom {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if !user_agent.is_empty() {
            let _ = write!(head, "User-Agent: {user_agent}\r\n");
        }
        let body: &[u8] = match &self.body {
            Some((content_type, body)) => {
                let _ = write!(head, "Content-Type: {content_type}\r\n");
                body
            }
            None => &[],
        };
        let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    /// The branch parameter of our Via.
    pub fn branch(&self) -> &str {
        self.via
            .split(';')
            .find_map(|p| p.trim().strip_prefix("branch="))
            .unwrap_or_default()
    }

    /// Sets or replaces an extra header.
    pub fn set_extra(&mut self, name: &'static str, value: String) {
        match self.extra.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.extra.push((name, value)),
        }
    }

    /// The ACK for a non-2xx final response: same branch, Request-URI, Route and CSeq number, with the
    /// To header of the response (RFC 3261 17.1.1.3).
    pub fn ack_for_failure(&self, response_to: &str) -> OutgoingRequest {
        OutgoingRequest {
            custom: Vec::new(),
            method: Method::Ack,
            to: response_to.to_owned(),
            extra: Vec::new(),
            body: None,
            ..self.clone()
        }
    }

    /// The CANCEL of this INVITE: same branch, Request-URI, To, Route and CSeq number (RFC 3261 9.1).
    pub fn cancel(&self) -> OutgoingRequest {
        OutgoingRequest {
            custom: Vec::new(),
            method: Method::Cancel,
            extra: Vec::new(),
            body: None,
            ..self.clone()
        }
    }
}

/// Builds a response to `request`: Vias, From, To, Call-ID and CSeq copied, a To tag added if the
/// request had none and `to_tag` is given.
pub fn response_to(
    request: &Request,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    user_agent: &str,
) -> Vec<u8> {
    response_with_body(request, status, reason, to_tag, extra, user_agent, None)
}

/// [`response_to`] with an optional body and its content type.
pub fn response_with_body(
    request: &Request,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    user_agent: &str,
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for header in request.headers.iter() {
        let name = header.name.as_str();
        let value = header.value.as_str();
        if name.eq_ignore_ascii_case("via") {
            let _ = write!(out, "Via: {value}\r\n");
        } else if name.eq_ignore_ascii_case("from") {
            let _ = write!(out, "From: {value}\r\n");
        } else if name.eq_ignore_ascii_case("call-id") {
            let _ = write!(out, "Call-ID: {value}\r\n");
        } else if name.eq_ignore_ascii_case("cseq") {
            let _ = write!(out, "CSeq: {value}\r\n");
        } else if name.eq_ignore_ascii_case("record-route") && (101..300).contains(&status) {
            // A response that may establish a dialog carries the proxies' Record-Route in order
            // (RFC 3261 12.1.1), or the caller's in-dialog requests would bypass them.
            let _ = write!(out, "Record-Route: {value}\r\n");
        } else if name.eq_ignore_ascii_case("to") {
            let has_tag = grammar::name_addr(value).is_ok_and(|a| a.param("tag").is_some());
            match to_tag {
                Some(tag) if !has_tag && status > 100 => {
                    let _ = write!(out, "To: {value};tag={tag}\r\n");
                }
                _ => {
                    let _ = write!(out, "To: {value}\r\n");
                }
            }
        }
    }
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if !user_agent.is_empty() {
        let _ = write!(out, "Server: {user_agent}\r\n");
    }
    let body = match body {
        Some((content_type, body)) => {
            let _ = write!(out, "Content-Type: {content_type}\r\n");
            body
        }
        None => &[],
    };
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Incoming, Limits, parse};

    fn invite() -> OutgoingRequest {
        OutgoingRequest {
            custom: Vec::new(),
            method: Method::Invite,
            uri: "sip:+15551234567@127.0.0.1:5060".into(),
            via: "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKb1;rport".into(),
            route: vec![],
            from: "<sip:agent@trunk.test>;tag=f1".into(),
            to: "<sip:+15551234567@trunk.test>".into(),
            call_id: "c1".into(),
            cseq: 1,
            extra: vec![("Contact", "<sip:agent@127.0.0.1:5080>".into())],
            body: Some(("application/sdp", b"v=0\r\n".to_vec())),
        }
    }

    #[test]
    fn requests_parse_back_with_their_fields() {
        let bytes = invite().to_bytes("ringback");
        let Ok(Incoming::Request(req)) = parse(&bytes, &Limits::default()) else {
            panic!("parses")
        };
        assert_eq!(req.msg.method, Method::Invite);
        assert_eq!(req.common.branch, "z9hG4bKb1");
        assert_eq!(req.common.cseq, 1);
        assert_eq!(req.msg.body, b"v=0\r\n");
        assert_eq!(invite().branch(), "z9hG4bKb1");
    }

    #[test]
    fn ack_and_cancel_keep_the_transaction_identity() {
        let ack = invite().ack_for_failure("<sip:+15551234567@trunk.test>;tag=t9");
        assert_eq!(
            (ack.method.clone(), ack.cseq, ack.branch()),
            (Method::Ack, 1, "z9hG4bKb1")
        );
        assert!(ack.body.is_none() && ack.to.ends_with("tag=t9"));
        let cancel = invite().cancel();
        assert_eq!(
            (cancel.method.clone(), cancel.branch(), cancel.to.as_str()),
            (Method::Cancel, "z9hG4bKb1", "<sip:+15551234567@trunk.test>")
        );
    }

    #[test]
    fn responses_copy_the_dialog_headers_and_add_a_tag() {
        let mut bye = invite();
        bye.method = Method::Bye;
        bye.body = None;
        let Ok(Incoming::Request(req)) = parse(&bye.to_bytes(""), &Limits::default()) else {
            panic!("parses")
        };
        let bytes = response_to(&req.msg, 200, "OK", Some("mytag"), &[], "ringback");
        let Ok(Incoming::Response(resp)) = parse(&bytes, &Limits::default()) else {
            panic!("parses")
        };
        assert_eq!(resp.status, 200);
        assert_eq!(resp.common.branch, "z9hG4bKb1");
        assert_eq!(resp.common.to_tag.as_deref(), Some("mytag"));
        assert_eq!(resp.common.cseq_method, Method::Bye);
    }

    #[test]
    fn dialog_creating_responses_carry_the_record_route_in_order() {
        let mut invite = invite();
        invite.extra.push(("Record-Route", "<sip:p1.test;lr>".into()));
        invite
            .extra
            .push(("Record-Route", "<sip:p2.test;lr;ftag=x>".into()));
        let Ok(Incoming::Request(req)) = parse(&invite.to_bytes(""), &Limits::default()) else {
            panic!("parses")
        };
        for (status, copied) in [(100, false), (180, true), (200, true), (486, false)] {
            let bytes = response_to(&req.msg, status, "X", Some("t"), &[], "");
            let Ok(Incoming::Response(resp)) = parse(&bytes, &Limits::default()) else {
                panic!("parses")
            };
            let rr = crate::message::header_values(&resp.msg.headers, "record-route");
            let expected: Vec<&str> = if copied {
                vec!["<sip:p1.test;lr>", "<sip:p2.test;lr;ftag=x>"]
            } else {
                vec![]
            };
            assert_eq!(rr, expected, "{status}");
        }
    }
}
