//! The endpoint as a server: requests are matched to server transactions (retransmissions answered by
//! the transaction), ACKs and CANCELs to the INVITE they belong to (RFC 3261 17.2.3, 9.2), and new
//! requests are checked (RFC 3261 8.2) and handed to the dialog they belong to, or answered here.

use super::{Endpoint, ServerEntry};
use crate::message::{IncomingRequest, Method, verdict};
use crate::outgoing::response_to;
use crate::server::{ServerState, ServerTransaction};
use std::net::SocketAddr;
use std::time::Instant;

/// What we allow, for `Allow` headers of 405 and OPTIONS answers.
pub(super) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// A transaction key: the top Via's branch (or its RFC 2543 substitute) and the method.
pub(super) type ServerKey = (String, String);

impl Endpoint {
    pub(super) fn on_request(&mut self, now: Instant, from: SocketAddr, request: IncomingRequest) {
        let method = request.msg.method.clone();
        if method == Method::Ack {
            self.on_ack(now, &request);
            return;
        }
        let key: ServerKey = (request.common.branch.clone(), method.to_string());
        if let Some(entry) = self.servers.get_mut(&key) {
            // A retransmission: the transaction repeats its last response, if it has one.
            self.scratch.clear();
            entry.txn.handle_retransmission(&mut self.scratch);
            self.transmits.extend(self.scratch.drain(..));
            return;
        }
        let destination = response_destination(&request, from);
        let trying = (method == Method::Invite)
            .then(|| response_to(&request.msg, 100, "Trying", None, &[], &self.config.user_agent));
        self.scratch.clear();
        let txn = ServerTransaction::new(
            method == Method::Invite,
            false,
            destination,
            self.config.timers,
            trying,
            &mut self.scratch,
        );
        self.transmits.extend(self.scratch.drain(..));
        self.servers.insert(
            key.clone(),
            ServerEntry {
                txn,
                call_id: request.common.call_id.clone(),
                cseq: request.common.cseq,
                invite: (method == Method::Invite).then(|| request.msg.clone()),
            },
        );
        if let Some(refusal) = verdict::check_request(&request.msg) {
            let tag = self.token(10);
            let ua = self.config.user_agent.clone();
            let payload = response_to(
                &request.msg,
                refusal.status,
                refusal.reason,
                Some(&tag),
                &refusal.headers,
                &ua,
            );
            self.respond(now, &key, refusal.status, payload);
            return;
        }
        if method == Method::Cancel {
            self.on_cancel(now, &key, &request);
            return;
        }
        let ua = self.config.user_agent.clone();
        let dialog_call = self
            .calls
            .values()
            .find(|c| c.matches_dialog(&request))
            .map(|c| c.handle());
        let (status, payload) = match (&method, dialog_call) {
            (Method::Bye, Some(handle)) => {
                let actions = self
                    .calls
                    .get_mut(&handle)
                    .map(|c| c.handle_bye())
                    .unwrap_or_default();
                self.apply_call_actions(now, handle, actions);
                (200, response_to(&request.msg, 200, "OK", None, &[], &ua))
            }
            (Method::Options, _) => {
                let allow = ("Allow", ALLOW.to_owned());
                let tag = self.token(10);
                (
                    200,
                    response_to(&request.msg, 200, "OK", Some(&tag), &[allow], &ua),
                )
            }
            // Session refresh and hold are not negotiated yet: refuse politely, keeping the call.
            (Method::Invite, Some(_)) => (
                488,
                response_to(&request.msg, 488, "Not Acceptable Here", None, &[], &ua),
            ),
            (Method::Invite, None) => {
                let tag = self.token(10);
                (
                    480,
                    response_to(&request.msg, 480, "Temporarily Unavailable", Some(&tag), &[], &ua),
                )
            }
            (Method::Bye, None) => (
                481,
                response_to(
                    &request.msg,
                    481,
                    "Call/Transaction Does Not Exist",
                    None,
                    &[],
                    &ua,
                ),
            ),
            _ => {
                let allow = ("Allow", ALLOW.to_owned());
                let tag = self.token(10);
                (
                    405,
                    response_to(&request.msg, 405, "Method Not Allowed", Some(&tag), &[allow], &ua),
                )
            }
        };
        self.respond(now, &key, status, payload);
    }

    /// Sends a response through the server transaction `key`.
    pub(super) fn respond(&mut self, now: Instant, key: &ServerKey, status: u16, payload: Vec<u8>) {
        let Some(entry) = self.servers.get_mut(key) else {
            return;
        };
        self.scratch.clear();
        entry.txn.respond(now, status, payload, &mut self.scratch);
        if entry.txn.is_answered() {
            entry.invite = None;
        }
        self.transmits.extend(self.scratch.drain(..));
    }

    /// Ends an INVITE we have not answered yet with 487 Request Terminated (RFC 3261 9.2).
    fn cancel_pending_invite(&mut self, now: Instant, invite_key: &ServerKey) {
        let Some(invite) = self.servers.get(invite_key).and_then(|e| e.invite.clone()) else {
            return;
        };
        let tag = self.token(10);
        let payload = response_to(
            &invite,
            487,
            "Request Terminated",
            Some(&tag),
            &[],
            &self.config.user_agent,
        );
        self.respond(now, invite_key, 487, payload);
    }

    /// An ACK: for a non-2xx final it has the INVITE's branch (17.2.3); for a 2xx it is a new
    /// transaction of the dialog, matched by Call-ID and CSeq number.
    fn on_ack(&mut self, now: Instant, request: &IncomingRequest) {
        let invite_key = (request.common.branch.clone(), Method::Invite.to_string());
        if let Some(entry) = self.servers.get_mut(&invite_key)
            && entry.txn.state() == ServerState::Completed
        {
            entry.txn.handle_ack(now);
            return;
        }
        if let Some(entry) = self.servers.values_mut().find(|e| {
            e.txn.state() == ServerState::Accepted
                && e.call_id == request.common.call_id
                && e.cseq == request.common.cseq
        }) {
            entry.txn.handle_ack(now);
        }
    }

    /// CANCEL (RFC 3261 9.2): matched to the INVITE server transaction with the same branch. 481 if
    /// there is none; 200 otherwise, and an INVITE still pending is ended with 487.
    fn on_cancel(&mut self, now: Instant, key: &ServerKey, request: &IncomingRequest) {
        let ua = self.config.user_agent.clone();
        let invite_key = (request.common.branch.clone(), Method::Invite.to_string());
        let pending = match self.servers.get(&invite_key) {
            None => {
                let payload = response_to(
                    &request.msg,
                    481,
                    "Call/Transaction Does Not Exist",
                    None,
                    &[],
                    &ua,
                );
                self.respond(now, key, 481, payload);
                return;
            }
            Some(entry) => !entry.txn.is_answered(),
        };
        let tag = self.token(10);
        let payload = response_to(&request.msg, 200, "OK", Some(&tag), &[], &ua);
        self.respond(now, key, 200, payload);
        if pending {
            self.cancel_pending_invite(now, &invite_key);
        }
    }
}

/// Where a response to `request` goes (RFC 3261 18.2.2, RFC 3581): with `rport` the source address;
/// otherwise the source IP (what `received` would say) at the sent-by port, 5060 by default.
pub(super) fn response_destination(request: &IncomingRequest, from: SocketAddr) -> SocketAddr {
    let top = request
        .msg
        .headers
        .get("via")
        .and_then(|v| crate::message::grammar::split_commas(v).into_iter().next())
        .and_then(|v| crate::message::grammar::via(v).ok());
    match top {
        Some(via) if via.param("rport").is_none() => SocketAddr::new(from.ip(), via.port.unwrap_or(5060)),
        _ => from,
    }
}
