//! The inbound half of a call's set-up (RFC 3261 13.3): the INVITE waits for the application, which
//! rings, accepts with an SDP answer, or rejects; the 2xx is retransmitted by the server transaction
//! until the ACK confirms the dialog.

use super::dialog::{self, Dialog};
use super::session::Session;
use super::timer::{self, SessionExpires, SessionTimerConfig};
use super::{Call, CallAction, CallContext, CallDirection, CallHandle, CallIds, HangupBy, Phase};
use crate::message::{IncomingRequest, uri_of};
use crate::outgoing::Reply;
use crate::sdp::{self, Direction, Offer};
use crate::transaction::server::ServerKey;
use crate::transport::Peer;
use crate::trunk::{TrunkConfig, TrunkId};

/// An inbound INVITE waiting for the application.
#[derive(Debug, Clone)]
pub(crate) struct Offered {
    /// The INVITE's server transaction.
    pub key: ServerKey,
    /// The dialog our answer will create.
    pub dialog: Dialog,
    /// The caller's offer (empty when the INVITE had none: our 2xx then carries the offer).
    pub sdp: Vec<u8>,
    /// What the caller asked for about session timers.
    session_expires: Option<SessionExpires>,
    uac_supports_timer: bool,
}

/// Checks an inbound INVITE before the application hears of it: a session interval below our minimum
/// gets 422 (RFC 4028 8.1).
pub(crate) fn check_invite(request: &IncomingRequest, timers: SessionTimerConfig) -> Option<Reply> {
    let se = SessionExpires::parse(&request.msg.headers)?;
    if timers.expires > 0 && se.secs < timers.min_se {
        let mut reply = Reply::new(422, "Session Interval Too Small");
        reply.headers.push(("Min-SE", timers.min_se.to_string()));
        return Some(reply);
    }
    None
}

impl Call {
    /// A new inbound call from `request`, offered to the application.
    pub(crate) fn inbound(
        handle: CallHandle,
        trunk_id: TrunkId,
        trunk: TrunkConfig,
        key: ServerKey,
        request: &IncomingRequest,
        ids: CallIds,
        next_hop: Peer,
    ) -> Self {
        let headers = &request.msg.headers;
        let to = headers.get("to").unwrap_or_default();
        let dialog = Dialog {
            call_id: request.common.call_id.clone(),
            local_tag: ids.local_tag.clone(),
            remote_tag: request.common.from_tag.clone().unwrap_or_default(),
            local: format!("{to};tag={}", ids.local_tag),
            remote: headers.get("from").unwrap_or_default().to_owned(),
            remote_target: headers
                .get("contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_else(|| request.msg.uri.clone()),
            // The UAS keeps the Record-Route order (12.1.1).
            route_set: dialog::record_route(headers),
            local_cseq: 0,
            remote_cseq: request.common.cseq,
            remote_allows_update: dialog::allows_update(headers),
        };
        let offered = Offered {
            key,
            dialog,
            sdp: request.msg.body.clone(),
            session_expires: SessionExpires::parse(headers),
            uac_supports_timer: timer::supports_timer(headers),
        };
        // The caller chose the Call-ID: the call is found under it, not under a fresh one of ours.
        let ids = CallIds {
            call_id: request.common.call_id.clone(),
            ..ids
        };
        Call::new(
            handle,
            (trunk_id, trunk),
            CallDirection::Inbound,
            ids,
            next_hop,
            Phase::Offered(offered),
            Session::new(b""),
        )
    }

    /// The caller's offer, while the call waits for the application.
    pub fn offered_sdp(&self) -> Option<&[u8]> {
        match &self.phase {
            Phase::Offered(offered) => Some(&offered.sdp),
            _ => None,
        }
    }

    /// 180 Ringing for an inbound call that waits for the application.
    pub fn ring(&mut self) -> Vec<CallAction> {
        let Phase::Offered(offered) = &self.phase else {
            return Vec::new();
        };
        let mut reply = Reply::new(180, "Ringing");
        reply.to_tag = Some(self.local_tag.clone());
        vec![CallAction::Respond(offered.key.clone(), reply)]
    }

    /// Accepts an inbound call with our SDP (the answer to the caller's offer, or our offer when the
    /// INVITE had none): 200 OK, then the ACK confirms the dialog.
    pub fn accept(&mut self, sdp: Vec<u8>, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let Phase::Offered(offered) = std::mem::replace(&mut self.phase, Phase::Ended) else {
            return Vec::new();
        };
        self.media = Session::new(&sdp);
        if let (Ok(remote), Ok(local)) = (sdp::parse_audio(&offered.sdp), Offer::from_sdp(&sdp))
            && let Ok((_, media)) = sdp::answer(&local, 0, &remote, None, Direction::SendRecv)
        {
            self.media.set_current(media, remote.origin.map(|o| o.version));
        }
        let mut reply = Reply::new(200, "OK");
        reply.to_tag = Some(self.local_tag.clone());
        reply
            .headers
            .push(("Contact", ctx.local.contact(self.trunk.local_user())));
        reply.headers.push(("Allow", super::ALLOW.to_owned()));
        reply.headers.push(("Supported", "timer".to_owned()));
        reply.headers.extend(self.timer_for_peer_request(
            offered.session_expires,
            offered.uac_supports_timer,
            ctx,
        ));
        reply.sdp = Some(sdp);
        self.phase = Phase::Accepted {
            dialog: offered.dialog,
            remote_sdp: offered.sdp,
            bye_wanted: false,
        };
        vec![CallAction::Respond(offered.key, reply)]
    }

    /// Rejects an inbound call that waits for the application.
    pub fn reject(&mut self, status: u16, reason: &str) -> Vec<CallAction> {
        let Phase::Offered(offered) = &self.phase else {
            return Vec::new();
        };
        let mut reply = Reply::new(status, reason);
        reply.to_tag = Some(self.local_tag.clone());
        let mut actions = vec![CallAction::Respond(offered.key.clone(), reply)];
        actions.extend(self.end(Some(status), reason, HangupBy::Local, false));
        actions
    }

    /// The caller canceled the INVITE (the endpoint already answered it with 487).
    pub fn handle_cancel(&mut self) -> Vec<CallAction> {
        match self.phase {
            Phase::Offered(_) => self.end(Some(487), "CANCEL", HangupBy::Remote, false),
            _ => Vec::new(),
        }
    }

    /// The server transaction key of the INVITE waiting for the application.
    pub fn offered_key(&self) -> Option<&ServerKey> {
        match &self.phase {
            Phase::Offered(offered) => Some(&offered.key),
            _ => None,
        }
    }
}
