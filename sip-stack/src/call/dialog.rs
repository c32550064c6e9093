//! The dialog (RFC 3261 12): the identifiers and routing state that every in-dialog request needs, the
//! same for both directions once the dialog exists.

use crate::message::{IncomingRequest, Method, header_values, split_list, uri_of};
use crate::outgoing::{Local, OutgoingRequest};

/// One dialog, seen from our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our name-addr with our tag: From of our requests.
    pub local: String,
    /// The peer's name-addr with its tag: To of our requests.
    pub remote: String,
    /// Where requests go: the peer's Contact URI, updated by target refreshes.
    pub remote_target: String,
    /// Route headers for our requests, in order.
    pub route_set: Vec<String>,
    /// The CSeq of our last request.
    pub local_cseq: u32,
    /// The CSeq of the peer's last request (0 before any).
    pub remote_cseq: u32,
    /// Whether the peer listed UPDATE in its Allow header, so session refreshes can avoid a re-INVITE.
    pub remote_allows_update: bool,
}

impl Dialog {
    /// Whether `request` belongs to this dialog (Call-ID and both tags, RFC 3261 12.2.2).
    pub fn matches(&self, request: &IncomingRequest) -> bool {
        request.common.call_id == self.call_id
            && request.common.to_tag.as_deref() == Some(self.local_tag.as_str())
            && request.common.from_tag.as_deref() == Some(self.remote_tag.as_str())
    }

    /// A new request in this dialog with the next CSeq (RFC 3261 12.2.1.1).
    pub fn request(&mut self, method: Method, local: &Local, branch: &str) -> OutgoingRequest {
        self.local_cseq += 1;
        OutgoingRequest {
            custom: Vec::new(),
            method,
            uri: self.remote_target.clone(),
            via: local.via(branch),
            route: self.route_set.clone(),
            from: self.local.clone(),
            to: self.remote.clone(),
            call_id: self.call_id.clone(),
            cseq: self.local_cseq,
            extra: Vec::new(),
            body: None,
        }
    }

    /// The ACK of a 2xx to our INVITE with CSeq `cseq`: its own transaction, same CSeq number.
    pub fn ack(&self, cseq: u32, local: &Local, branch: &str) -> OutgoingRequest {
        OutgoingRequest {
            custom: Vec::new(),
            method: Method::Ack,
            uri: self.remote_target.clone(),
            via: local.via(branch),
            route: self.route_set.clone(),
            from: self.local.clone(),
            to: self.remote.clone(),
            call_id: self.call_id.clone(),
            cseq,
            extra: Vec::new(),
            body: None,
        }
    }

    /// Checks the order of a request from the peer (RFC 3261 12.2.2): a lower CSeq than the last one is
    /// refused with 500. ACK and CANCEL reuse their INVITE's number and are not checked.
    pub fn accept_remote_cseq(&mut self, request: &IncomingRequest) -> bool {
        if matches!(request.msg.method, Method::Ack | Method::Cancel) {
            return true;
        }
        if self.remote_cseq != 0 && request.common.cseq <= self.remote_cseq {
            return false;
        }
        self.remote_cseq = request.common.cseq;
        true
    }

    /// A target refresh (re-INVITE, UPDATE, or their 2xx) may move the peer's Contact.
    pub fn refresh_target(&mut self, headers: &crate::message::Headers) {
        if let Some(contact) = headers.values("contact").next() {
            self.remote_target = uri_of(contact).to_owned();
        }
        if headers.count("allow") > 0 {
            self.remote_allows_update = allows_update(headers);
        }
    }
}

/// The route set from Record-Route headers, in the order they appear (reverse it for a UAC).
pub(crate) fn record_route(headers: &crate::message::Headers) -> Vec<String> {
    header_values(headers, "record-route")
        .iter()
        .flat_map(|v| split_list(v).into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Whether an Allow header lists UPDATE.
pub(crate) fn allows_update(headers: &crate::message::Headers) -> bool {
    headers
        .values("allow")
        .flat_map(|v| v.split(','))
        .any(|m| m.trim() == "UPDATE")
}
