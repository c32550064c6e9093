//! The endpoint as a server: requests are matched to server transactions (retransmissions answered by
//! the transaction), ACKs and CANCELs to the INVITE they belong to (RFC 3261 17.2.3, 9.2), and new
//! requests are checked (RFC 3261 8.2) and handed to the dialog they belong to, to the admission of
//! inbound calls, or answered here.

use super::{ALLOW, Endpoint, ServerEntry, ServerKey, server_key};
use crate::message::{IncomingRequest, Method, verdict};
use crate::outgoing::{Reply, response_to};
use crate::transaction::server::{ServerState, ServerTransaction};
use crate::transport::Peer;
use std::net::SocketAddr;
use std::time::Instant;

impl Endpoint {
    pub(super) fn on_request(&mut self, now: Instant, from: Peer, mut request: IncomingRequest) {
        let method = request.msg.method.clone();
        stamp_received(&mut request, from.addr);
        if method == Method::Ack {
            self.on_ack(now, &request);
            return;
        }
        let key = server_key(&request.common, &method);
        if let Some(entry) = self.servers.get_mut(&key) {
            // A retransmission: the transaction repeats its last response, if it has one.
            self.scratch.clear();
            entry.txn.handle_retransmission(&mut self.scratch);
            self.transmits.extend(self.scratch.drain(..));
            return;
        }
        let destination = response_destination(&request, from);
        let stranger = !self.is_trunk_source(from.addr.ip());
        if !self.room_for_transaction(stranger) {
            self.refuse_for_room(from, destination, stranger, &request);
            return;
        }
        let trying = (method == Method::Invite).then(|| {
            let server = self.server_header(from.addr.ip());
            response_to(&request.msg, 100, "Trying", None, &[], server)
        });
        self.scratch.clear();
        let txn = ServerTransaction::new(
            method == Method::Invite,
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
                request: Some(request.msg.clone()),
                call: None,
                stranger,
            },
        );
        if let Some(refusal) = verdict::check_request(&request.msg) {
            let mut reply = Reply::new(refusal.status, refusal.reason);
            reply.to_tag = Some(self.token(10));
            reply.headers = refusal.headers;
            self.reply(now, &key, &reply);
            return;
        }
        if method == Method::Cancel {
            self.on_cancel(now, &key, &request);
            return;
        }
        if request.common.to_tag.is_some() {
            self.on_in_dialog(now, key, &request);
            return;
        }
        match method {
            Method::Invite => self.on_new_invite(now, from, key, &request),
            Method::Options => {
                let mut reply = Reply::new(200, "OK");
                reply.to_tag = Some(self.token(10));
                reply.headers.push(("Allow", ALLOW.to_owned()));
                reply.headers.push(("Accept", "application/sdp".to_owned()));
                self.reply(now, &key, &reply);
            }
            Method::Bye | Method::Notify | Method::Update | Method::Refer | Method::Info => {
                self.reply(now, &key, &Reply::new(481, "Call/Transaction Does Not Exist"));
            }
            _ => {
                let mut reply = Reply::new(405, "Method Not Allowed");
                reply.to_tag = Some(self.token(10));
                reply.headers.push(("Allow", ALLOW.to_owned()));
                self.reply(now, &key, &reply);
            }
        }
    }

    /// Whether a new server transaction fits: strangers stop short of the trunks' reserve.
    fn room_for_transaction(&self, stranger: bool) -> bool {
        let max = self.config.max_server_transactions;
        let limit = if stranger {
            max.saturating_sub(self.config.trunk_server_transactions)
        } else {
            max
        };
        self.servers.len() < limit
    }

    /// A new request with no room for its transaction. A stranger's is dropped unanswered: under a
    /// flood of distinct (often spoofed) sources an answer would make us a reflector and cost what
    /// serving costs, while a genuine UDP client retransmits and is served once transactions expire.
    /// A trunk's is answered 503 with Retry-After, statelessly, so it fails over or retries (RFC
    /// 3261 21.5.4); its address is configured, not spoofable into a reflection.
    fn refuse_for_room(&mut self, from: Peer, destination: Peer, stranger: bool, request: &IncomingRequest) {
        self.servers_refused += 1;
        if stranger {
            tracing::debug!(from = %from.addr, "server transaction table full: request dropped");
            return;
        }
        tracing::warn!(
            from = %from.addr,
            max = self.config.max_server_transactions,
            "server transaction table full: 503 to a trunk"
        );
        let tag = self.token(10);
        let payload = response_to(
            &request.msg,
            503,
            "Service Unavailable",
            Some(&tag),
            &[("Retry-After", "5".to_owned())],
            &self.config.user_agent,
        );
        self.transmits.push_back(crate::transaction::Transmit {
            transport: destination.transport,
            destination: destination.addr,
            payload,
        });
    }

    /// A request with a To tag: it belongs to one of our dialogs, or gets 481.
    fn on_in_dialog(&mut self, now: Instant, key: ServerKey, request: &IncomingRequest) {
        let handle = self
            .by_call_id
            .get(&request.common.call_id)
            .copied()
            .filter(|h| self.calls.get(h).is_some_and(|c| c.matches_dialog(request)));
        let Some(handle) = handle else {
            self.reply(now, &key, &Reply::new(481, "Call/Transaction Does Not Exist"));
            return;
        };
        if request.msg.method == Method::Invite
            && let Some(entry) = self.servers.get_mut(&key)
        {
            entry.call = Some(handle);
        }
        let _ = self.with_call(now, handle, |call, ctx| call.handle_request(key, request, ctx));
    }

    /// Renders `reply` as the answer to the request of `key` and sends it through the transaction
    /// (with our `Server` header only when the request came from a trunk).
    pub(super) fn reply(&mut self, now: Instant, key: &ServerKey, reply: &Reply) {
        let Some(entry) = self.servers.get(key) else {
            return;
        };
        let Some(request) = &entry.request else {
            return;
        };
        let server = if entry.stranger {
            ""
        } else {
            &self.config.user_agent
        };
        let payload = reply.render(request, server);
        self.respond(now, key, reply.status, payload);
    }

    /// Sends a response through the server transaction `key`.
    pub(super) fn respond(&mut self, now: Instant, key: &ServerKey, status: u16, payload: Vec<u8>) {
        let Some(entry) = self.servers.get_mut(key) else {
            return;
        };
        self.scratch.clear();
        entry.txn.respond(now, status, payload, &mut self.scratch);
        if entry.txn.is_answered() {
            entry.request = None;
        }
        self.transmits.extend(self.scratch.drain(..));
    }

    /// An ACK: for a non-2xx final it has the INVITE's branch (17.2.3); for a 2xx it is a new
    /// transaction of the dialog, matched by Call-ID and CSeq number, and the dialog hears of it.
    fn on_ack(&mut self, now: Instant, request: &IncomingRequest) {
        let invite_key = server_key(&request.common, &Method::Invite);
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
        let handle = self
            .by_call_id
            .get(&request.common.call_id)
            .copied()
            .filter(|h| self.calls.get(h).is_some_and(|c| c.matches_dialog(request)));
        if let Some(handle) = handle {
            let _ = self.with_call(now, handle, |call, ctx| call.handle_ack(request, ctx));
        }
    }

    /// CANCEL (RFC 3261 9.2): matched to the INVITE server transaction with the same branch. 481 if
    /// there is none; 200 otherwise, and an INVITE still pending is ended with 487.
    fn on_cancel(&mut self, now: Instant, key: &ServerKey, request: &IncomingRequest) {
        let invite_key = server_key(&request.common, &Method::Invite);
        let pending = match self.servers.get(&invite_key) {
            None => {
                self.reply(now, key, &Reply::new(481, "Call/Transaction Does Not Exist"));
                return;
            }
            Some(entry) => !entry.txn.is_answered(),
        };
        let mut ok = Reply::new(200, "OK");
        ok.to_tag = Some(self.token(10));
        self.reply(now, key, &ok);
        if pending {
            let call = self.servers.get(&invite_key).and_then(|e| e.call);
            let mut terminated = Reply::new(487, "Request Terminated");
            terminated.to_tag = Some(self.token(10));
            self.reply(now, &invite_key, &terminated);
            if let Some(handle) = call {
                let _ = self.with_call(now, handle, |call, _| call.handle_cancel());
            }
        }
    }
}

/// Writes `received` (when the source IP differs from the sent-by host) and the `rport` value into the
/// top Via (RFC 3261 18.2.1, RFC 3581 4), so our responses tell a NATed client where we saw it.
fn stamp_received(request: &mut IncomingRequest, from: SocketAddr) {
    let Some(header) = request
        .msg
        .headers
        .0
        .iter_mut()
        .find(|h| h.name.eq_ignore_ascii_case("via"))
    else {
        return;
    };
    let parts = crate::message::grammar::split_commas(&header.value);
    let Some(top) = parts.first() else {
        return;
    };
    let Ok(via) = crate::message::grammar::via(top) else {
        return;
    };
    let ip = from.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let needs_received = host != ip;
    let rport = via.param("rport");
    if !needs_received && rport.is_none_or(|v| !v.is_empty()) {
        return;
    }
    let mut stamped = String::with_capacity(top.len() + 40);
    // Rebuild the top via-parm: everything up to the parameters, then the parameters with rport
    // filled in and received added.
    let params_start = top.find(';').unwrap_or(top.len());
    stamped.push_str(&top[..params_start]);
    for (name, value) in &via.params {
        if name.eq_ignore_ascii_case("rport") {
            stamped.push_str(&format!(";rport={}", from.port()));
        } else if name.eq_ignore_ascii_case("received") {
            continue;
        } else if value.is_empty() {
            stamped.push_str(&format!(";{name}"));
        } else {
            stamped.push_str(&format!(";{name}={value}"));
        }
    }
    if needs_received || rport.is_some() {
        stamped.push_str(&format!(";received={ip}"));
    }
    let rest: Vec<&str> = parts[1..].to_vec();
    header.value = std::iter::once(stamped.as_str())
        .chain(rest)
        .collect::<Vec<_>>()
        .join(", ");
}

/// Where a response to `request` goes (RFC 3261 18.2.2, RFC 3581): over a stream, back on the
/// connection; with `rport` the source address; otherwise the source IP (what `received` says) at the
/// sent-by port, 5060 by default.
pub(super) fn response_destination(request: &IncomingRequest, from: Peer) -> Peer {
    if from.transport.is_reliable() {
        return from;
    }
    let top = request
        .msg
        .headers
        .get("via")
        .and_then(|v| crate::message::grammar::split_commas(v).into_iter().next())
        .and_then(|v| crate::message::grammar::via(v).ok());
    match top {
        Some(via) if via.param("rport").is_none() => {
            Peer::udp(SocketAddr::new(from.addr.ip(), via.port.unwrap_or(5060)))
        }
        _ => from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Incoming, Limits, parse};

    fn request(via: &str) -> IncomingRequest {
        let text = format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP proxy;branch=z9hG4bKp\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes(), &Limits::default()) {
            Ok(Incoming::Request(r)) => r,
            other => panic!("fixture: {other:?}"),
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn two_clients_with_the_same_branch_are_two_transactions() {
        let now = Instant::now();
        let mut config = crate::EndpointConfig::new("127.0.0.1:5080".parse().expect("addr"));
        config.guard.enabled = false;
        let mut ep = Endpoint::new(now, config, Vec::new());
        let options = |port: u16| {
            format!(
                "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKsame;rport\r\n\
From: <sip:x@y>;tag={port}\r\nTo: <sip:a@b>\r\nCall-ID: c{port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
        };
        for port in [6001u16, 6002] {
            ep.handle_datagram(
                now,
                SocketAddr::from(([127, 0, 0, 1], port)),
                options(port).as_bytes(),
            );
        }
        let answered: Vec<u16> = std::iter::from_fn(|| ep.poll_transmit())
            .map(|t| t.destination.port())
            .collect();
        assert_eq!(answered, [6001, 6002], "each client gets its own answer");
    }

    #[test]
    fn rport_and_received_are_written_into_the_top_via() {
        let from: SocketAddr = "203.0.113.7:40123".parse().expect("addr");
        let mut r = request("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport");
        stamp_received(&mut r, from);
        let vias: Vec<&str> = r.msg.headers.values("via").collect();
        assert_eq!(
            vias[0],
            "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport=40123;received=203.0.113.7"
        );
        assert_eq!(vias[1], "SIP/2.0/UDP proxy;branch=z9hG4bKp", "only the top Via");
        assert_eq!(
            response_destination(&r, Peer::udp(from)),
            Peer::udp(from),
            "rport: answer the source"
        );

        // No rport, but a different address: received only; the answer goes to the sent-by port.
        let mut r = request("SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK2");
        stamp_received(&mut r, from);
        assert_eq!(
            r.msg.headers.get("via"),
            Some("SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK2;received=203.0.113.7")
        );
        assert_eq!(
            response_destination(&r, Peer::udp(from)).addr,
            "203.0.113.7:5070".parse().expect("addr")
        );

        // Same address, no rport: untouched.
        let mut r = request("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK3");
        stamp_received(&mut r, from);
        assert_eq!(
            r.msg.headers.get("via"),
            Some("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK3")
        );
    }
}
