//! Admission of inbound calls: an out-of-dialog INVITE is taken only from a configured trunk, known by
//! its source address or by digest credentials we challenge for (RFC 3261 22). Everyone else gets the
//! same 403, whether the user exists or not, and the guard counts their failures.

use super::{Endpoint, Event, ServerKey};
use crate::call::{Call, CallHandle, uas};
use crate::digest::{self, Algorithm};
use crate::message::{IncomingRequest, grammar};
use crate::outgoing::Reply;
use crate::redact::Redacted;
use crate::transport::Peer;
use crate::trunk::TrunkId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// An inbound call offered to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The call's handle, for [`Endpoint::accept`], [`Endpoint::reject`] and later commands.
    pub call: CallHandle,
    /// The trunk it came through.
    pub trunk: TrunkId,
    /// The dialled number or user: the user part of the Request-URI (what the trunk routes on, the
    /// DID), falling back to the To URI.
    pub to_user: String,
    /// The caller's number or user (From), if any.
    pub from_user: Option<String>,
    /// The caller's offer; empty when the INVITE had none (our answer then carries an offer).
    pub sdp: Vec<u8>,
    /// Where the INVITE came from.
    pub source: Peer,
    /// What the trunk said about the call beyond From and To: P-Asserted-Identity, Privacy,
    /// Diversion, History-Info and every `X-` header, as received (at most 32).
    pub headers: Vec<(String, String)>,
}

/// The headers of an inbound INVITE kept for the application (see [`IncomingCall::headers`]).
const KEPT_HEADERS: [&str; 4] = ["p-asserted-identity", "privacy", "diversion", "history-info"];
/// Most headers kept of one INVITE.
const MAX_KEPT: usize = 32;

/// The trunk's headers of an inbound INVITE worth keeping on the call.
fn kept_headers(headers: &crate::message::Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|h| {
            let name = h.name.to_ascii_lowercase();
            KEPT_HEADERS.contains(&name.as_str()) || name.starts_with("x-")
        })
        .take(MAX_KEPT)
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect()
}

/// How long a nonce we issued stays good.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Most nonces outstanding; the oldest are forgotten first when a flood would grow the table.
const MAX_NONCES: usize = 4096;
/// Realm of our challenges.
const REALM: &str = "ringback";

/// The nonces of our own challenges.
#[derive(Debug, Default)]
pub(crate) struct Nonces {
    issued: HashMap<String, Instant>,
}

impl Nonces {
    fn issue(&mut self, now: Instant, nonce: String) {
        if self.issued.len() >= MAX_NONCES {
            self.expire(now);
            if self.issued.len() >= MAX_NONCES {
                self.issued.clear();
            }
        }
        self.issued.insert(nonce, now);
    }

    /// `Some(true)` for a live nonce, `Some(false)` for an expired one of ours, `None` for unknown.
    fn check(&self, now: Instant, nonce: &str) -> Option<bool> {
        self.issued
            .get(nonce)
            .map(|at| now.saturating_duration_since(*at) < NONCE_LIFETIME)
    }

    pub fn expire(&mut self, now: Instant) {
        self.issued
            .retain(|_, at| now.saturating_duration_since(*at) < NONCE_LIFETIME * 2);
    }
}

/// The user part of a SIP URI, unescaped only as far as we need (numbers and plain names).
fn user_of(uri: &str) -> Option<String> {
    grammar::sip_uri(uri)
        .ok()
        .and_then(|u| u.user)
        .map(|u| u.split(';').next().unwrap_or(u).to_owned())
}

impl Endpoint {
    /// An out-of-dialog INVITE: admitted from a trunk, challenged or refused otherwise.
    pub(super) fn on_new_invite(
        &mut self,
        now: Instant,
        from: Peer,
        key: ServerKey,
        request: &IncomingRequest,
    ) {
        let trunk = match self.trunk_by_source(from) {
            Some(trunk) => trunk,
            None => match self.authenticate(now, from, request) {
                Ok(trunk) => trunk,
                Err(reply) => {
                    // Nothing about us goes to a stranger: no Server header, no hint why.
                    let Some(req) = self.servers.get(&key).and_then(|e| e.request.clone()) else {
                        return;
                    };
                    let payload = reply.render(&req, "");
                    self.respond(now, &key, reply.status, payload);
                    return;
                }
            },
        };
        if self.calls.len() >= self.config.max_calls {
            tracing::warn!(
                max = self.config.max_calls,
                "call cap reached: inbound call refused"
            );
            let mut reply = Reply::new(503, "Service Unavailable");
            reply.to_tag = Some(self.token(10));
            reply.headers.push(("Retry-After", "5".to_owned()));
            self.reply(now, &key, &reply);
            return;
        }
        if let Some(mut reply) = uas::check_invite(request, self.config.session_timers) {
            reply.to_tag = Some(self.token(10));
            self.reply(now, &key, &reply);
            return;
        }
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let ids = self.new_ids();
        let config = self.trunks[trunk.0].clone();
        // In-dialog requests go back to the trunk's proxy when the call came from it, else to the source.
        let next_hop = if config.proxy.ip() == from.addr.ip() && config.transport == from.transport {
            Peer {
                transport: config.transport,
                addr: config.proxy,
            }
        } else {
            from
        };
        let call = Call::inbound(handle, trunk, config, key.clone(), request, ids, next_hop);
        let to_user = user_of(&request.msg.uri)
            .or_else(|| {
                request
                    .msg
                    .headers
                    .get("to")
                    .and_then(|t| grammar::name_addr(t).ok())
                    .and_then(|a| user_of(a.uri))
            })
            .unwrap_or_default();
        let from_user = request
            .msg
            .headers
            .get("from")
            .and_then(|f| grammar::name_addr(f).ok())
            .and_then(|a| user_of(a.uri));
        tracing::info!(
            call = %handle,
            %trunk,
            to = %Redacted(&to_user),
            from = %Redacted(from_user.as_deref().unwrap_or("")),
            "inbound call"
        );
        let incoming = IncomingCall {
            call: handle,
            trunk,
            to_user,
            from_user,
            sdp: call.offered_sdp().unwrap_or_default().to_vec(),
            source: from,
            headers: kept_headers(&request.msg.headers),
        };
        if let Some(entry) = self.servers.get_mut(&key) {
            entry.call = Some(handle);
        }
        self.by_call_id.insert(call.call_id().to_owned(), handle);
        self.calls.insert(handle, call);
        self.events.push_back(Event::Incoming(incoming));
    }

    /// The trunk whose proxy or configured sources include the source address.
    fn trunk_by_source(&self, from: Peer) -> Option<TrunkId> {
        self.trunks
            .iter()
            .position(|t| t.accepts_calls_from(from.addr.ip()))
            .map(TrunkId)
    }

    /// Digest authentication of a trunk calling from an address we do not know (RFC 3261 22.3, as a
    /// proxy would: 407 and Proxy-Authorization). Unknown users and wrong passwords get the same 403.
    fn authenticate(
        &mut self,
        now: Instant,
        from: Peer,
        request: &IncomingRequest,
    ) -> Result<TrunkId, Reply> {
        let forbidden = || Reply::new(403, "Forbidden");
        let digest_trunks = self.trunks.iter().any(|t| t.inbound.credentials.is_some());
        if !digest_trunks {
            self.guard.auth_failure(now, from.addr.ip());
            self.report_bans();
            return Err(forbidden());
        }
        let header = request
            .msg
            .headers
            .get("proxy-authorization")
            .or_else(|| request.msg.headers.get("authorization"));
        let Some(header) = header else {
            return Err(self.challenge(now, false));
        };
        let Ok(auth) = digest::Authorization::parse(header) else {
            self.guard.auth_failure(now, from.addr.ip());
            self.report_bans();
            return Err(forbidden());
        };
        let fresh = self.nonces.check(now, &auth.nonce);
        let trunk = self.trunks.iter().position(|t| {
            t.inbound
                .credentials
                .as_ref()
                .is_some_and(|c| c.auth_user() == auth.username)
        });
        // The password is checked even for an unknown user (against a dummy), so neither the answer
        // nor its timing tells the two apart.
        let password = trunk
            .and_then(|i| self.trunks[i].inbound.credentials.as_ref())
            .map_or("\u{0}unknown", |c| c.password.as_str());
        // Our challenge requires qop=auth (so the client nonce and count bind the answer), and the
        // answer must be for this request's URI, not one captured from another request.
        let valid = auth.realm == REALM
            && auth.qop.is_some()
            && auth.uri == request.msg.uri
            && auth.verify(request.msg.method.as_str(), password)
            && trunk.is_some();
        match (valid, fresh) {
            (true, Some(true)) => {
                self.nonces.issued.remove(&auth.nonce);
                Ok(TrunkId(trunk.unwrap_or_default()))
            }
            // Right password, but a nonce that expired or was used up (one call per nonce, so a
            // captured INVITE cannot be replayed): ask again without counting a failure (RFC 2617
            // stale).
            (true, Some(false) | None) => Err(self.challenge(now, true)),
            _ => {
                tracing::info!(from = %from, "inbound INVITE failed authentication");
                self.guard.auth_failure(now, from.addr.ip());
                self.report_bans();
                Err(forbidden())
            }
        }
    }

    fn challenge(&mut self, now: Instant, stale: bool) -> Reply {
        let nonce = self.token(24);
        self.nonces.issue(now, nonce.clone());
        let mut reply = Reply::new(407, "Proxy Authentication Required");
        reply.to_tag = Some(self.token(10));
        let value = digest::challenge_header(REALM, &nonce, Algorithm::Md5, stale);
        reply.headers.push(("Proxy-Authenticate", value));
        reply
    }

    /// Rings an inbound call (180) while the application gets ready.
    pub fn ring(&mut self, now: Instant, handle: CallHandle) -> Result<(), super::EndpointError> {
        self.check_offered(handle)?;
        self.with_call(now, handle, |call, _| call.ring())
    }

    /// Accepts an inbound call with our SDP answer (200 OK). [`CallEvent::Answered`](crate::CallEvent)
    /// follows when the caller's ACK arrives.
    pub fn accept(
        &mut self,
        now: Instant,
        handle: CallHandle,
        sdp: Vec<u8>,
    ) -> Result<(), super::EndpointError> {
        self.check_offered(handle)?;
        self.with_call(now, handle, |call, ctx| call.accept(sdp, ctx))
    }

    /// Rejects an inbound call with a final status (e.g. 486 busy, 603 decline, 480 unavailable).
    pub fn reject(
        &mut self,
        now: Instant,
        handle: CallHandle,
        status: u16,
    ) -> Result<(), super::EndpointError> {
        self.check_offered(handle)?;
        let status = if (300..700).contains(&status) { status } else { 500 };
        let reason = reason_of(status);
        self.with_call(now, handle, |call, _| call.reject(status, reason))
    }

    fn check_offered(&self, handle: CallHandle) -> Result<(), super::EndpointError> {
        match self.calls.get(&handle) {
            None => Err(super::EndpointError::UnknownCall(handle)),
            Some(call) if call.offered_key().is_some() => Ok(()),
            Some(_) => Err(super::EndpointError::WrongState(handle)),
        }
    }
}

/// Reason phrases for the refusals an application may choose.
fn reason_of(status: u16) -> &'static str {
    match status {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Refused",
    }
}
