//! The outbound half of a call's set-up (RFC 3261 13.2): the INVITE, digest auth on 401/407, a retry
//! with a longer session interval on 422 (RFC 4028), provisional responses with early media, the dialog
//! created by the 2xx and its ACK, and CANCEL before the answer.

use super::dialog::{self, Dialog};
use super::session::Session;
use super::{Call, CallAction, CallContext, CallDirection, CallEvent, CallHandle, CallIds, HangupBy, Phase};
use crate::IdentityMode;
use crate::message::{IncomingResponse, Method, header_values, uri_of};
use crate::outgoing::OutgoingRequest;
use crate::transport::Peer;
use crate::trunk::{TrunkConfig, TrunkId};

/// What the application asks for when placing a call.
#[derive(Debug, Clone)]
pub struct InviteParams {
    /// Trunk to dial through.
    pub trunk: TrunkId,
    /// User part of the Request-URI, typically an E.164 number such as `+15551234567`.
    pub to_user: String,
    /// The SDP offer.
    pub sdp_offer: Vec<u8>,
    /// The caller's number (From, or P-Asserted-Identity as the trunk's
    /// [`identity`](TrunkConfig::identity) says); the trunk's own user when `None` or not a number.
    pub from_user: Option<String>,
    /// The application's own headers (`X-` names); malformed ones are left out (logged).
    pub headers: Vec<(String, String)>,
}

/// The INVITE in flight.
#[derive(Debug, Clone)]
pub(crate) struct Inviting {
    /// The request as last sent (CANCEL and the retries are built from it).
    pub invite: OutgoingRequest,
    /// A challenge was already answered; another refusal means the credentials are wrong.
    authorized: bool,
    /// A provisional response arrived, so a CANCEL may be sent (RFC 3261 9.1).
    provisional: bool,
    /// The application hung up before any provisional response.
    cancel_wanted: bool,
    /// A 422 was already answered with a longer interval.
    interval_raised: bool,
}

impl Call {
    /// A new outbound call and its INVITE; the endpoint starts the INVITE's transaction.
    pub(crate) fn outbound(
        handle: CallHandle,
        trunk_id: TrunkId,
        trunk: TrunkConfig,
        params: InviteParams,
        ids: CallIds,
        next_hop: Peer,
        ctx: &CallContext<'_>,
    ) -> (Self, OutgoingRequest) {
        let domain = trunk.domain();
        let user = trunk.local_user().to_owned();
        let caller = match params.from_user.as_deref() {
            Some(number) if crate::identity::is_caller_number(number) => number.to_owned(),
            Some(bad) => {
                tracing::warn!(from = %crate::Redacted(bad), "not a caller number; using the trunk's user");
                user.clone()
            }
            None => user.clone(),
        };
        let custom = params
            .headers
            .iter()
            .filter(|(name, value)| {
                let ok = crate::identity::is_custom_header(name, value);
                if !ok {
                    tracing::warn!(header = %name.escape_debug(), "malformed custom header left out");
                }
                ok
            })
            .cloned()
            .collect();
        let from = match trunk.identity {
            IdentityMode::Withheld => crate::identity::ANONYMOUS_FROM.to_owned(),
            IdentityMode::From | IdentityMode::Asserted => format!("<sip:{caller}@{domain}>"),
        };
        let mut invite = OutgoingRequest {
            method: Method::Invite,
            uri: format!("sip:{}@{domain}", params.to_user),
            via: String::new(),
            route: Vec::new(),
            from: format!("{from};tag={}", ids.local_tag),
            to: format!("<sip:{}@{domain}>", params.to_user),
            call_id: ids.call_id.clone(),
            cseq: 1,
            extra: vec![
                ("Contact", ctx.local.contact(&user)),
                ("Allow", super::ALLOW.to_owned()),
            ],
            custom,
            body: Some(("application/sdp", params.sdp_offer.clone())),
        };
        if trunk.identity != IdentityMode::From {
            invite
                .extra
                .push(("P-Asserted-Identity", format!("<sip:{caller}@{domain}>")));
        }
        if trunk.identity == IdentityMode::Withheld {
            invite.extra.push(("Privacy", "id".to_owned()));
        }
        if ctx.timers.expires > 0 {
            invite.extra.push(("Supported", "timer".to_owned()));
            invite
                .extra
                .push(("Session-Expires", ctx.timers.expires.to_string()));
            invite.extra.push(("Min-SE", ctx.timers.min_se.to_string()));
        }
        let media = Session::new(&params.sdp_offer);
        let phase = Phase::Inviting(Inviting {
            invite: invite.clone(),
            authorized: false,
            provisional: false,
            cancel_wanted: false,
            interval_raised: false,
        });
        let mut call = Call::new(
            handle,
            (trunk_id, trunk),
            CallDirection::Outbound,
            ids,
            next_hop,
            phase,
            media,
        );
        invite.via = ctx.local.via(&call.next_branch());
        if let Phase::Inviting(inviting) = &mut call.phase {
            inviting.invite.via.clone_from(&invite.via);
        }
        (call, invite)
    }

    pub(super) fn on_invite_response(
        &mut self,
        response: &IncomingResponse,
        ctx: &CallContext<'_>,
    ) -> Vec<CallAction> {
        let status = response.status;
        let fail_over = status == 503 && self.can_fail_over();
        match (&mut self.phase, status) {
            (Phase::Inviting(inviting), 100..=199) => {
                inviting.provisional = true;
                if inviting.cancel_wanted {
                    return self.cancel();
                }
                if status == 100 {
                    return Vec::new();
                }
                let sdp = (!response.msg.body.is_empty()
                    && header_values(&response.msg.headers, "content-type")
                        .first()
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/sdp")))
                .then(|| response.msg.body.clone());
                vec![CallAction::Event(CallEvent::Progress {
                    status,
                    reason: response.reason.clone(),
                    sdp,
                })]
            }
            (Phase::Inviting(_) | Phase::Canceling { .. }, 200..=299) => self.on_invite_2xx(response, ctx),
            (Phase::Inviting(inviting), 401 | 407) if !inviting.authorized => {
                if self.take_challenge(response) {
                    self.retry_invite(ctx, None)
                } else {
                    self.end(Some(status), &response.reason, HangupBy::Remote, false)
                }
            }
            (Phase::Inviting(inviting), 401 | 407) => {
                // Answered before: only a stale nonce is worth another try.
                let stale = header_values(&response.msg.headers, "proxy-authenticate")
                    .iter()
                    .chain(header_values(&response.msg.headers, "www-authenticate").iter())
                    .any(|v| crate::digest::Challenge::parse(v).is_ok_and(|c| c.stale));
                let _ = inviting;
                if stale && self.take_challenge(response) {
                    self.retry_invite(ctx, None)
                } else {
                    self.end(Some(status), &response.reason, HangupBy::Remote, false)
                }
            }
            (Phase::Inviting(inviting), 422) if !inviting.interval_raised => {
                // Session Interval Too Small: ask again with at least the peer's minimum (RFC 4028 7.4).
                let min = header_values(&response.msg.headers, "min-se")
                    .first()
                    .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok())
                    .filter(|m| *m >= ctx.timers.min_se && *m <= 86_400);
                match min {
                    Some(min) => self.retry_invite(ctx, Some(min)),
                    None => self.end(Some(422), &response.reason, HangupBy::Remote, false),
                }
            }
            // The proxy is out of service: another of the trunk's may not be (RFC 3263 4.3).
            (Phase::Inviting(_), 503) if fail_over => self.fail_over(ctx),
            (Phase::Inviting(_), 300..=699) => {
                self.end(Some(status), &response.reason, HangupBy::Remote, false)
            }
            (Phase::Canceling { .. }, 300..=699) => {
                let by = if status == 487 {
                    HangupBy::Local
                } else {
                    HangupBy::Remote
                };
                self.end(Some(status), &response.reason, by, false)
            }
            _ => Vec::new(),
        }
    }

    /// Whether the trunk has a proxy this call's INVITE has not tried yet.
    pub(super) fn can_fail_over(&self) -> bool {
        self.direction == CallDirection::Outbound
            && self.failovers + 1 < self.trunk.failover.len()
            && !matches!(&self.phase, Phase::Inviting(i) if i.cancel_wanted)
    }

    /// Sends the INVITE to the trunk's next proxy in a new transaction, as a fresh attempt: no
    /// credentials (the next proxy challenges for its own), the same Call-ID, From tag and offer.
    pub(super) fn fail_over(&mut self, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let Some(next) = self.trunk.next_proxy(self.next_hop.addr) else {
            return self.end(None, "no response from the trunk", HangupBy::Local, false);
        };
        self.failovers += 1;
        self.next_hop.addr = next;
        self.challenge = None;
        let branch = self.next_branch();
        let Phase::Inviting(inviting) = &mut self.phase else {
            return Vec::new();
        };
        let mut invite = inviting.invite.clone();
        invite.cseq += 1;
        invite.via = ctx.local.via(&branch);
        invite.extra.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("authorization") && !name.eq_ignore_ascii_case("proxy-authorization")
        });
        inviting.authorized = false;
        inviting.provisional = false;
        inviting.invite = invite.clone();
        tracing::warn!(call = %self.handle, to = %next, "INVITE moves on to the trunk's next proxy");
        vec![CallAction::FailedOver(next), CallAction::Send(invite)]
    }

    /// Sends the INVITE again in a new transaction: with credentials for the last challenge, and with
    /// a raised session interval after a 422.
    fn retry_invite(&mut self, ctx: &CallContext<'_>, interval: Option<u32>) -> Vec<CallAction> {
        let branch = self.next_branch();
        let Phase::Inviting(inviting) = &mut self.phase else {
            return Vec::new();
        };
        let mut invite = inviting.invite.clone();
        invite.cseq += 1;
        invite.via = ctx.local.via(&branch);
        if let Some(secs) = interval {
            invite.set_extra("Session-Expires", secs.to_string());
            invite.set_extra("Min-SE", secs.to_string());
            inviting.interval_raised = true;
        } else {
            inviting.authorized = true;
        }
        inviting.provisional = false;
        inviting.cancel_wanted = false;
        self.add_credentials(&mut invite);
        if let Phase::Inviting(inviting) = &mut self.phase {
            inviting.invite = invite.clone();
        }
        vec![CallAction::Send(invite)]
    }

    fn on_invite_2xx(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let (invite, cancel_requested) = match &self.phase {
            Phase::Inviting(inviting) => (inviting.invite.clone(), inviting.cancel_wanted),
            Phase::Canceling { invite } => (invite.clone(), true),
            _ => return Vec::new(),
        };
        let remote_target = header_values(&response.msg.headers, "contact")
            .first()
            .map(|c| uri_of(c).to_owned())
            .unwrap_or_else(|| invite.uri.clone());
        // The UAC's route set is the Record-Route of the 2xx in reverse order (12.1.2).
        let mut route_set = dialog::record_route(&response.msg.headers);
        route_set.reverse();
        let dialog = Dialog {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: response.common.to_tag.clone().unwrap_or_default(),
            local: invite.from.clone(),
            remote: header_values(&response.msg.headers, "to")
                .into_iter()
                .next()
                .unwrap_or_default(),
            remote_target,
            route_set,
            local_cseq: invite.cseq,
            remote_cseq: 0,
            remote_allows_update: dialog::allows_update(&response.msg.headers),
        };
        let branch = self.next_branch();
        let ack = dialog.ack(invite.cseq, ctx.local, &branch);
        self.last_ack = Some(ack.clone());
        self.phase = Phase::Established(dialog);
        let mut actions = vec![CallAction::SendStateless(ack)];
        if cancel_requested {
            // The 2xx crossed our CANCEL: the call is up, so end it properly with a BYE.
            actions.extend(self.bye(ctx, "BYE"));
            return actions;
        }
        if ctx.timers.expires > 0 {
            self.restart_timer_from_response(response, ctx);
        }
        if let Err(err) = self.media.on_answer(&response.msg.body) {
            tracing::debug!(call = %self.handle, %err, "SDP answer not readable here");
        }
        actions.push(CallAction::Event(CallEvent::Answered {
            sdp: response.msg.body.clone(),
        }));
        actions
    }

    /// CANCEL of the INVITE in flight (RFC 3261 9.1), or a note to send it once a provisional response
    /// arrives.
    pub(super) fn cancel(&mut self) -> Vec<CallAction> {
        match std::mem::replace(&mut self.phase, Phase::Ended) {
            Phase::Inviting(inviting) if inviting.provisional => {
                let cancel = inviting.invite.cancel();
                self.phase = Phase::Canceling {
                    invite: inviting.invite,
                };
                vec![CallAction::Send(cancel)]
            }
            Phase::Inviting(mut inviting) => {
                inviting.cancel_wanted = true;
                self.phase = Phase::Inviting(inviting);
                Vec::new()
            }
            phase => {
                self.phase = phase;
                Vec::new()
            }
        }
    }
}
