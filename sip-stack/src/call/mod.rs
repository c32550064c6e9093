//! One call, in either direction (RFC 3261 12 to 15): the INVITE transaction as UAC (`uac`) or UAS
//! (`uas`), then the dialog, with re-INVITE and UPDATE from either side (hold, resume, codec changes
//! and session refreshes, `session`), session timers (`timer`, RFC 4028), blind transfer by REFER
//! (`refer`, RFC 3515) and BYE. Pure state: the endpoint runs the transactions this module asks for and
//! feeds it their outcomes.

/// What we allow, for `Allow` headers of 405, OPTIONS answers, INVITEs and their 2xx.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY, INFO";

mod dialog;
mod refer;
mod session;
pub mod timer;
mod uac;
pub(crate) mod uas;

use crate::digest::{self, Challenge, Credentials, RequestParts};
use crate::message::{IncomingRequest, IncomingResponse, Method, header_values};
use crate::outgoing::{Local, OutgoingRequest, Reply};
use crate::sdp::{Negotiated, Offer};
use crate::transport::Peer;
use crate::trunk::{TrunkConfig, TrunkId};
use dialog::Dialog;
use refer::Transfer;
use session::Session;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use timer::{Refresher, SessionExpires, SessionTimer, SessionTimerConfig};

pub use uac::InviteParams;

/// Handle of a call inside one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

impl fmt::Display for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupBy {
    /// We did (BYE, CANCEL, a refusal, or we gave up).
    Local,
    /// The far end did (BYE, CANCEL, or a final failure response).
    Remote,
}

impl HangupBy {
    /// The word used in call records: `agent` or `remote`.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupBy::Local => "agent",
            HangupBy::Remote => "remote",
        }
    }
}

/// Why and how a call ended, with the raw SIP status kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndCause {
    /// The final SIP status that decided the outcome (e.g. 486), or `None` for a BYE after answer or
    /// when nothing answered.
    pub status: Option<u16>,
    /// Reason phrase or a description.
    pub reason: String,
    /// Who ended it.
    pub by: HangupBy,
    /// Whether the call had been answered.
    pub answered: bool,
}

/// What happened to a call, reported to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A provisional response (180 ringing, 183 progress) to our INVITE.
    Progress {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// The SDP answer of an early dialog (usually on 183 Session Progress): early media to play
        /// or listen to before the answer (ringback tones, announcements, IVR prompts).
        sdp: Option<Vec<u8>>,
    },
    /// The call is up. Outbound: the 2xx arrived and `sdp` is its answer. Inbound: our 2xx was
    /// acknowledged and `sdp` is the caller's description (its offer, or the ACK's answer).
    Answered {
        /// The peer's session description.
        sdp: Vec<u8>,
    },
    /// The media changed inside the dialog: an offer from either side (re-INVITE or UPDATE: hold,
    /// resume, a codec change, a new address) was answered. Point RTP at `media` from now on. Every
    /// answer to an offer of ours ([`hold`](crate::Endpoint::hold), [`reoffer`](crate::Endpoint::reoffer))
    /// is reported this way, even when the peer's side did not change.
    MediaChanged {
        /// What to send and where; `media.direction` is the peer's (`SendOnly` or `Inactive`: we are
        /// on hold).
        media: Negotiated,
    },
    /// An offer of ours (hold, resume, [`reoffer`](crate::Endpoint::reoffer)) was refused; the media in
    /// use stays.
    MediaRefused {
        /// The status of the refusal.
        status: u16,
    },
    /// Progress of a blind transfer we asked for ([`transfer`](crate::Endpoint::transfer)): the
    /// REFER's answer, then what the transfer target answered as relayed by NOTIFY (RFC 3515). After a
    /// final 2xx we end the call with a BYE; after a failure the call stays up.
    Transfer {
        /// Status code (202 accepted, then 100/180/200 or a failure of the new call).
        status: u16,
        /// Reason phrase.
        reason: String,
        /// Whether this is the last word on the transfer.
        done: bool,
    },
    /// The call is over.
    Ended(EndCause),
}

/// What the call wants next.
#[derive(Debug)]
pub(crate) enum CallAction {
    /// Start a client transaction for this request.
    Send(OutgoingRequest),
    /// Send this request outside any transaction (the ACK of a 2xx).
    SendStateless(OutgoingRequest),
    /// Answer the server transaction `key` (the INVITE waiting for the application, or the request
    /// being handled).
    Respond(crate::transaction::server::ServerKey, Reply),
    /// Report to the application.
    Event(CallEvent),
    /// The INVITE moves on to another proxy of the trunk (its next hop is now this one); requests
    /// after this action go there, and the trunk follows.
    FailedOver(SocketAddr),
}

/// What the endpoint lends a call while it handles something.
#[derive(Debug)]
pub(crate) struct CallContext<'a> {
    pub now: Instant,
    /// How we name ourselves on the call's transport.
    pub local: &'a Local,
    /// Session-timer settings.
    pub timers: SessionTimerConfig,
}

/// Which direction the call was set up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    /// We placed it.
    Outbound,
    /// The trunk delivered it to us.
    Inbound,
}

/// Where the call stands.
#[derive(Debug, Clone)]
enum Phase {
    /// Outbound: INVITE sent, no final answer yet.
    Inviting(uac::Inviting),
    /// Outbound: CANCEL sent; the INVITE's 487 (or a 2xx that crossed it) decides.
    Canceling { invite: OutgoingRequest },
    /// Inbound: INVITE received, waiting for the application to accept or reject it.
    Offered(uas::Offered),
    /// Inbound: our 2xx was sent, waiting for the ACK.
    Accepted {
        dialog: Dialog,
        /// The caller's description, reported with `Answered` once the ACK arrives.
        remote_sdp: Vec<u8>,
        /// The application hung up meanwhile: BYE as soon as the ACK arrives (RFC 3261 15).
        bye_wanted: bool,
    },
    /// The dialog is confirmed.
    Established(Dialog),
    /// We sent BYE.
    Terminating { dialog: Dialog, reason: &'static str },
    /// Over.
    Ended,
}

/// A request of ours in the dialog still waiting for its final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A re-INVITE or UPDATE carrying an offer (hold, resume, new media); `refresh` when it only
    /// refreshes the session.
    Offer {
        cseq: u32,
        method_update: bool,
        refresh: bool,
    },
}

/// One call.
#[derive(Debug)]
pub(crate) struct Call {
    handle: CallHandle,
    trunk_id: TrunkId,
    trunk: TrunkConfig,
    direction: CallDirection,
    call_id: String,
    local_tag: String,
    /// Random part of our branches and client nonces; a counter makes each unique.
    token: String,
    counter: u32,
    /// Where our requests go: the trunk's proxy, or where an inbound call came from.
    next_hop: Peer,
    phase: Phase,
    media: Session,
    timer: Option<SessionTimer>,
    pending: Option<Pending>,
    /// A re-offer refused with 491 (glare) waits for this moment to try again (RFC 3261 14.1).
    retry_offer_at: Option<Instant>,
    transfer: Option<Transfer>,
    /// The target of the last REFER, kept to ask again after a challenge.
    refer_target: Option<String>,
    /// The last ACK of a 2xx we sent, re-sent when that 2xx is retransmitted.
    last_ack: Option<OutgoingRequest>,
    nonce_count: u32,
    /// The challenge that last authorized a request in this dialog, reused for later ones.
    challenge: Option<(Challenge, bool)>,
    /// Proxies this call's INVITE has moved on from (503 or no answer).
    failovers: usize,
}

impl Call {
    fn new(
        handle: CallHandle,
        (trunk_id, trunk): (TrunkId, TrunkConfig),
        direction: CallDirection,
        ids: CallIds,
        next_hop: Peer,
        phase: Phase,
        media: Session,
    ) -> Self {
        Self {
            handle,
            trunk_id,
            trunk,
            direction,
            call_id: ids.call_id,
            local_tag: ids.local_tag,
            token: ids.token,
            counter: 0,
            next_hop,
            phase,
            media,
            timer: None,
            pending: None,
            retry_offer_at: None,
            transfer: None,
            refer_target: None,
            last_ack: None,
            nonce_count: 0,
            challenge: None,
            failovers: 0,
        }
    }

    /// The call's handle.
    pub fn handle(&self) -> CallHandle {
        self.handle
    }

    /// The trunk the call goes through.
    pub fn trunk(&self) -> TrunkId {
        self.trunk_id
    }

    /// Where our requests go.
    pub fn next_hop(&self) -> Peer {
        self.next_hop
    }

    /// The SIP Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Whether the call has ended and can be forgotten.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// Whether the call is answered and not yet ending.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established(_))
    }

    fn next_branch(&mut self) -> String {
        self.counter += 1;
        format!("z9hG4bK{}{:x}", self.token, self.counter)
    }

    fn cnonce(&mut self) -> String {
        self.counter += 1;
        format!("{}{:x}", self.token, self.counter)
    }

    fn dialog(&self) -> Option<&Dialog> {
        match &self.phase {
            Phase::Accepted { dialog, .. } | Phase::Established(dialog) => Some(dialog),
            Phase::Terminating { dialog, .. } => Some(dialog),
            Phase::Offered(offered) => Some(&offered.dialog),
            _ => None,
        }
    }

    fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.phase {
            Phase::Accepted { dialog, .. } | Phase::Established(dialog) => Some(dialog),
            Phase::Terminating { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    /// Whether `request` belongs to this call's dialog.
    pub fn matches_dialog(&self, request: &IncomingRequest) -> bool {
        self.dialog().is_some_and(|d| d.matches(request))
    }

    /// A new request in the dialog, or `None` when there is no dialog.
    fn dialog_request(&mut self, method: Method, ctx: &CallContext<'_>) -> Option<OutgoingRequest> {
        let branch = self.next_branch();
        let mut request = self.dialog_mut()?.request(method, ctx.local, &branch);
        self.add_credentials(&mut request);
        Some(request)
    }

    /// Adds credentials for the dialog's last challenge, so a trunk that challenges in-dialog requests
    /// is answered without a round trip.
    fn add_credentials(&mut self, request: &mut OutgoingRequest) {
        let (Some((challenge, proxy)), Some(creds)) =
            (self.challenge.clone(), self.trunk.credentials.clone())
        else {
            return;
        };
        self.nonce_count += 1;
        let cnonce = self.cnonce();
        let value = digest::authorization(
            &challenge,
            Credentials {
                username: creds.auth_user(),
                password: &creds.password,
            },
            RequestParts {
                method: request.method.as_str(),
                uri: &request.uri,
            },
            self.nonce_count,
            &cnonce,
        );
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        request.set_extra(name, value);
    }

    /// Remembers the challenge of a 401/407; `false` when it cannot be answered (no credentials, or an
    /// unreadable challenge).
    fn take_challenge(&mut self, response: &IncomingResponse) -> bool {
        let (header, proxy) = if response.status == 401 {
            ("www-authenticate", false)
        } else {
            ("proxy-authenticate", true)
        };
        let challenge = header_values(&response.msg.headers, header)
            .iter()
            .find_map(|v| Challenge::parse(v).ok());
        match challenge {
            Some(challenge) if self.trunk.credentials.is_some() => {
                if self
                    .challenge
                    .as_ref()
                    .is_none_or(|(old, _)| old.nonce != challenge.nonce)
                {
                    self.nonce_count = 0;
                }
                self.challenge = Some((challenge, proxy));
                true
            }
            _ => false,
        }
    }

    /// Feeds a response of one of this call's client transactions.
    pub fn handle_response(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let method = response.common.cseq_method.clone();
        match method {
            Method::Invite if matches!(self.phase, Phase::Inviting(_) | Phase::Canceling { .. }) => {
                self.on_invite_response(response, ctx)
            }
            Method::Invite | Method::Update => self.on_offer_response(response, ctx),
            Method::Bye => match &self.phase {
                Phase::Terminating { reason, .. } if response.status >= 200 => {
                    let reason = *reason;
                    self.end(None, reason, HangupBy::Local, true)
                }
                _ => Vec::new(),
            },
            Method::Refer => self.on_refer_response(response, ctx),
            // CANCEL answers change nothing: the INVITE's 487 (or 2xx) decides.
            _ => Vec::new(),
        }
    }

    /// A 2xx to an INVITE of ours arrived after its transaction ended: our ACK was lost, send it again
    /// (RFC 3261 13.2.2.4).
    pub fn handle_late_2xx(&mut self, response: &IncomingResponse) -> Vec<CallAction> {
        match &self.last_ack {
            Some(ack) if ack.cseq == response.common.cseq => vec![CallAction::SendStateless(ack.clone())],
            _ => Vec::new(),
        }
    }

    /// The answer to a re-INVITE or UPDATE of ours.
    fn on_offer_response(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let Some(Pending::Offer {
            cseq,
            method_update,
            refresh,
        }) = self.pending
        else {
            // Not ours any more (or a 2xx retransmission): re-ACK a re-INVITE's 2xx.
            if response.status >= 200
                && response.status < 300
                && response.common.cseq_method == Method::Invite
            {
                return self.handle_late_2xx(response);
            }
            return Vec::new();
        };
        if response.common.cseq != cseq || response.status < 200 {
            return Vec::new();
        }
        self.pending = None;
        let mut actions = Vec::new();
        if !method_update {
            // Every final answer to a re-INVITE is acknowledged; non-2xx by the transaction itself.
            if (200..300).contains(&response.status) {
                let branch = self.next_branch();
                if let Some(dialog) = self.dialog() {
                    let ack = dialog.ack(cseq, ctx.local, &branch);
                    self.last_ack = Some(ack.clone());
                    actions.push(CallAction::SendStateless(ack));
                }
            }
        }
        match response.status {
            200..=299 => {
                if let Some(dialog) = self.dialog_mut() {
                    dialog.refresh_target(&response.msg.headers);
                }
                self.restart_timer_from_response(response, ctx);
                if !response.msg.body.is_empty() {
                    match self.media.on_answer(&response.msg.body) {
                        // An offer the application made (hold, resume, a re-offer) is always
                        // answered back, changed or not: it waits for that answer. A session
                        // refresh only reports a change.
                        Ok((media, changed)) if changed || !refresh => {
                            actions.push(CallAction::Event(CallEvent::MediaChanged { media }))
                        }
                        Ok(_) => {}
                        Err(err) => tracing::debug!(call = %self.handle, %err, "unusable SDP answer"),
                    }
                }
            }
            401 | 407 if self.take_challenge(response) => {
                // Ask again with credentials; the same offer goes out.
                actions.extend(self.send_offer(ctx, method_update, refresh, None, None));
            }
            // The dialog or the peer is gone (RFC 3261 14.1, 12.2.1.2): end the call.
            408 | 481 => actions.extend(self.bye(ctx, "dialog lost")),
            491 => {
                // Glare: both sides re-offered at once. Try again after a random wait; we use the
                // owner-of-Call-ID rule of RFC 3261 14.1 (2.1-4 s for the side that placed the call).
                let jitter = u64::from(self.counter % 19) * 100;
                let wait = match self.direction {
                    CallDirection::Outbound => 2100 + jitter,
                    CallDirection::Inbound => jitter,
                };
                self.retry_offer_at = Some(ctx.now + Duration::from_millis(wait));
            }
            status if !refresh => {
                actions.push(CallAction::Event(CallEvent::MediaRefused { status }));
            }
            // A refresh the peer did not like keeps the session as it is (RFC 4028 7.4 allows BYE;
            // the expiry watch decides instead).
            _ => {}
        }
        actions
    }

    /// Sends a re-INVITE (or UPDATE) with our current offer. `hold` and `replace` change the offer;
    /// a refresh re-sends the last description unchanged.
    fn send_offer(
        &mut self,
        ctx: &CallContext<'_>,
        method_update: bool,
        refresh: bool,
        hold: Option<bool>,
        replace: Option<Offer>,
    ) -> Vec<CallAction> {
        if !matches!(self.phase, Phase::Established(_)) || self.pending.is_some() {
            return Vec::new();
        }
        let body = if refresh {
            (!method_update).then(|| self.media.last_local().to_vec())
        } else {
            match self.media.offer(hold, replace) {
                Some(sdp) => Some(sdp),
                None => {
                    return vec![CallAction::Event(CallEvent::MediaRefused { status: 488 })];
                }
            }
        };
        let method = if method_update {
            Method::Update
        } else {
            Method::Invite
        };
        let contact = ctx.local.contact(self.trunk.local_user());
        let Some(mut request) = self.dialog_request(method, ctx) else {
            return Vec::new();
        };
        request.set_extra("Contact", contact);
        request.set_extra("Allow", ALLOW.to_owned());
        if ctx.timers.expires > 0 {
            request.set_extra("Supported", "timer".to_owned());
            let interval = self.timer.map_or(ctx.timers.expires, |t| t.interval);
            let se = SessionExpires {
                secs: interval,
                uac_refreshes: Some(true),
            };
            request.set_extra("Session-Expires", se.header());
            request.set_extra("Min-SE", ctx.timers.min_se.to_string());
        }
        request.body = body.map(|b| ("application/sdp", b));
        self.pending = Some(Pending::Offer {
            cseq: request.cseq,
            method_update,
            refresh,
        });
        vec![CallAction::Send(request)]
    }

    /// Puts the call on hold (`true`) or takes it off (`false`) with a re-INVITE.
    pub fn hold(&mut self, hold: bool, ctx: &CallContext<'_>) -> Vec<CallAction> {
        self.send_offer(ctx, false, false, Some(hold), None)
    }

    /// Offers new media (a new port or codec list) with a re-INVITE.
    pub fn reoffer(&mut self, offer: Offer, ctx: &CallContext<'_>) -> Vec<CallAction> {
        self.send_offer(ctx, false, false, None, Some(offer))
    }

    /// Whether the call could take a re-offer now.
    pub fn can_reoffer(&self) -> bool {
        matches!(self.phase, Phase::Established(_)) && self.pending.is_none()
    }

    /// Starts or restarts the session timer from a 2xx to our INVITE, re-INVITE or UPDATE (we are its
    /// UAC): `refresher=uac` means us.
    fn restart_timer_from_response(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) {
        if ctx.timers.expires == 0 {
            return;
        }
        self.timer = SessionExpires::parse(&response.msg.headers).map(|se| {
            let refresher = match se.uac_refreshes {
                Some(false) => Refresher::Remote,
                _ => Refresher::Local,
            };
            SessionTimer::start(ctx.now, se.secs, refresher)
        });
    }

    /// A request of the peer inside our dialog (not ACK, not CANCEL): the answer and what follows.
    pub fn handle_request(
        &mut self,
        key: crate::transaction::server::ServerKey,
        request: &IncomingRequest,
        ctx: &CallContext<'_>,
    ) -> Vec<CallAction> {
        let respond = |reply: Reply| CallAction::Respond(key.clone(), reply);
        let Some(dialog) = self.dialog_mut() else {
            return vec![respond(Reply::new(481, "Call/Transaction Does Not Exist"))];
        };
        if !dialog.accept_remote_cseq(request) {
            return vec![respond(Reply::new(500, "CSeq Out of Order"))];
        }
        match request.msg.method {
            Method::Bye => {
                let mut actions = vec![respond(Reply::new(200, "OK"))];
                let answered = !matches!(self.phase, Phase::Offered(_));
                actions.extend(self.end(None, "BYE", HangupBy::Remote, answered));
                actions
            }
            Method::Invite | Method::Update => self.on_offer_request(key, request, ctx),
            Method::Notify => self.on_notify(key, request, ctx),
            Method::Options | Method::Info => vec![respond(Reply::new(200, "OK"))],
            // We hand calls over ourselves; a peer moving us elsewhere is refused.
            Method::Refer => vec![respond(Reply::new(403, "Forbidden"))],
            _ => {
                let mut reply = Reply::new(405, "Method Not Allowed");
                reply.headers.push(("Allow", ALLOW.to_owned()));
                vec![respond(reply)]
            }
        }
    }

    /// A re-INVITE or UPDATE from the peer: a target refresh, a session refresh, and usually an offer.
    fn on_offer_request(
        &mut self,
        key: crate::transaction::server::ServerKey,
        request: &IncomingRequest,
        ctx: &CallContext<'_>,
    ) -> Vec<CallAction> {
        let respond = |reply: Reply| vec![CallAction::Respond(key.clone(), reply)];
        if !matches!(self.phase, Phase::Established(_)) {
            // Before the ACK (or while ending) a new offer cannot be taken (RFC 3261 14.2).
            return respond(Reply::new(491, "Request Pending"));
        }
        if matches!(self.pending, Some(Pending::Offer { .. })) {
            // Both sides offered at once: glare (RFC 3261 14.2).
            let mut reply = Reply::new(491, "Request Pending");
            reply.headers.push(("Retry-After", "1".to_owned()));
            return respond(reply);
        }
        let se = SessionExpires::parse(&request.msg.headers);
        if let Some(se) = se
            && ctx.timers.expires > 0
            && se.secs < ctx.timers.min_se
        {
            let mut reply = Reply::new(422, "Session Interval Too Small");
            reply.headers.push(("Min-SE", ctx.timers.min_se.to_string()));
            return respond(reply);
        }
        let mut reply = Reply::new(200, "OK");
        let mut changed = None;
        if request.msg.body.is_empty() {
            // An offerless re-INVITE gets our description as an offer; the ACK brings the answer.
            if request.msg.method == Method::Invite {
                reply.sdp = Some(self.media.last_local().to_vec());
            }
        } else {
            match self.media.on_offer(&request.msg.body) {
                Ok(answered) => {
                    reply.sdp = Some(answered.sdp);
                    changed = answered.changed;
                }
                Err(err) => {
                    tracing::debug!(call = %self.handle, %err, "re-offer refused");
                    return respond(Reply::new(488, "Not Acceptable Here"));
                }
            }
        }
        if let Some(dialog) = self.dialog_mut() {
            dialog.refresh_target(&request.msg.headers);
        }
        reply
            .headers
            .push(("Contact", ctx.local.contact(self.trunk.local_user())));
        reply.headers.push(("Allow", ALLOW.to_owned()));
        let uac_supports = timer::supports_timer(&request.msg.headers);
        reply
            .headers
            .extend(self.timer_for_peer_request(se, uac_supports, ctx));
        let mut actions = respond(reply);
        if let Some(media) = changed {
            actions.push(CallAction::Event(CallEvent::MediaChanged { media }));
        }
        actions
    }

    /// The session timer a request of the peer sets (its INVITE, re-INVITE or UPDATE: the peer is the
    /// UAC), and the headers our 2xx carries for it (RFC 4028 9).
    fn timer_for_peer_request(
        &mut self,
        se: Option<SessionExpires>,
        uac_supports: bool,
        ctx: &CallContext<'_>,
    ) -> Vec<(&'static str, String)> {
        if ctx.timers.expires == 0 {
            return Vec::new();
        }
        let se = match se {
            Some(se) => se,
            // The peer supports timers but asked for none: we set one, and refresh it ourselves.
            None if uac_supports => SessionExpires {
                secs: ctx.timers.expires,
                uac_refreshes: Some(false),
            },
            None => {
                self.timer = None;
                return Vec::new();
            }
        };
        // RFC 4028 9: the UAS picks `uac` when the UAC supports timers and did not choose.
        let uac_refreshes = se.uac_refreshes.unwrap_or(uac_supports);
        let se = SessionExpires {
            secs: se.secs,
            uac_refreshes: Some(uac_refreshes),
        };
        let refresher = if uac_refreshes {
            Refresher::Remote
        } else {
            Refresher::Local
        };
        self.timer = Some(SessionTimer::start(ctx.now, se.secs, refresher));
        let mut headers = vec![("Session-Expires", se.header())];
        if uac_supports {
            headers.push(("Require", "timer".to_owned()));
        }
        headers
    }

    /// An ACK for one of our 2xx responses (the inbound INVITE's, or a re-INVITE's).
    pub fn handle_ack(&mut self, request: &IncomingRequest, ctx: &CallContext<'_>) -> Vec<CallAction> {
        match std::mem::replace(&mut self.phase, Phase::Ended) {
            Phase::Accepted {
                dialog,
                remote_sdp,
                bye_wanted,
            } => {
                self.phase = Phase::Established(dialog);
                let sdp = if request.msg.body.is_empty() {
                    remote_sdp
                } else {
                    // Our 2xx carried the offer (the INVITE had none): this is the answer.
                    let _ = self.media.on_answer(&request.msg.body);
                    request.msg.body.clone()
                };
                let mut actions = vec![CallAction::Event(CallEvent::Answered { sdp })];
                if bye_wanted {
                    actions.extend(self.bye(ctx, "BYE"));
                }
                actions
            }
            phase => {
                self.phase = phase;
                if !request.msg.body.is_empty() && matches!(self.phase, Phase::Established(_)) {
                    // The answer to the offer of our 2xx to an offerless re-INVITE.
                    if let Ok((media, true)) = self.media.on_answer(&request.msg.body) {
                        return vec![CallAction::Event(CallEvent::MediaChanged { media })];
                    }
                }
                Vec::new()
            }
        }
    }

    /// Our 2xx to the inbound INVITE was never acknowledged (Timer H): end the session with a BYE
    /// (RFC 3261 13.3.1.4).
    pub fn handle_ack_timeout(&mut self, ctx: &CallContext<'_>) -> Vec<CallAction> {
        if let Phase::Accepted { dialog, .. } = &self.phase {
            self.phase = Phase::Established(dialog.clone());
            return self.bye(ctx, "no ACK");
        }
        Vec::new()
    }

    /// Ends the call from our side: CANCEL before answer, a refusal of an inbound call still offered,
    /// BYE after.
    pub fn hangup(&mut self, ctx: &CallContext<'_>) -> Vec<CallAction> {
        match &mut self.phase {
            Phase::Inviting(_) | Phase::Canceling { .. } => self.cancel(),
            Phase::Offered(_) => self.reject(480, "Temporarily Unavailable"),
            Phase::Accepted { bye_wanted, .. } => {
                *bye_wanted = true;
                Vec::new()
            }
            Phase::Established(_) => self.bye(ctx, "BYE"),
            Phase::Terminating { .. } | Phase::Ended => Vec::new(),
        }
    }

    /// Sends BYE; the call ends when it is answered (or times out).
    fn bye(&mut self, ctx: &CallContext<'_>, reason: &'static str) -> Vec<CallAction> {
        let Some(bye) = self.dialog_request(Method::Bye, ctx) else {
            return Vec::new();
        };
        if let Phase::Established(dialog) = std::mem::replace(&mut self.phase, Phase::Ended) {
            self.phase = Phase::Terminating { dialog, reason };
        }
        self.timer = None;
        self.pending = None;
        self.retry_offer_at = None;
        vec![CallAction::Send(bye)]
    }

    /// A transaction of this call timed out (or its transport failed).
    pub fn handle_transaction_timeout(&mut self, method: &Method, ctx: &CallContext<'_>) -> Vec<CallAction> {
        match (&self.phase, method) {
            (Phase::Inviting(_), Method::Invite) if self.can_fail_over() => self.fail_over(ctx),
            (Phase::Inviting(_) | Phase::Canceling { .. }, Method::Invite) => {
                // Nothing answered at all: no status to report (a 408 would read as "no answer").
                self.end(None, "no response from the trunk", HangupBy::Local, false)
            }
            // A BYE nobody answers still ends the call (RFC 3261 15.1.1).
            (Phase::Terminating { .. }, Method::Bye) => {
                self.end(None, "BYE (no response)", HangupBy::Local, true)
            }
            (Phase::Established(_), Method::Invite | Method::Update) => {
                self.pending = None;
                self.bye(ctx, "dialog lost")
            }
            (Phase::Established(_), Method::Refer) => self.refer_failed(408, "Request Timeout"),
            _ => Vec::new(),
        }
    }

    /// When the call next wants to act on its own (a session refresh, a BYE on expiry, a glare retry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !matches!(self.phase, Phase::Established(_)) {
            return None;
        }
        self.timer
            .map(|t| t.deadline)
            .into_iter()
            .chain(self.retry_offer_at)
            .min()
    }

    /// Acts on whatever is due at `now`.
    pub fn handle_timeout(&mut self, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let mut actions = Vec::new();
        if self.retry_offer_at.is_some_and(|at| at <= ctx.now) {
            self.retry_offer_at = None;
            actions.extend(self.send_offer(ctx, false, false, None, None));
        }
        if let Some(timer) = self.timer
            && timer.deadline <= ctx.now
        {
            match timer.refresher {
                Refresher::Local => {
                    // Refresh; the 2xx restarts the timer. Until then, watch for the expiry.
                    self.timer = Some(SessionTimer::awaiting_refresh(ctx.now, timer.interval));
                    let update = self.dialog().is_some_and(|d| d.remote_allows_update);
                    if self.pending.is_none() {
                        actions.extend(self.send_offer(ctx, update, true, None, None));
                    }
                }
                Refresher::Remote => {
                    tracing::info!(call = %self.handle, "session expired without a refresh");
                    actions.extend(self.bye(ctx, "session timer expired"));
                }
            }
        }
        actions
    }

    fn end(&mut self, status: Option<u16>, reason: &str, by: HangupBy, answered: bool) -> Vec<CallAction> {
        self.phase = Phase::Ended;
        self.timer = None;
        vec![CallAction::Event(CallEvent::Ended(EndCause {
            status,
            reason: reason.to_owned(),
            by,
            answered,
        }))]
    }
}

/// Fresh identifiers for a new call, made by the endpoint.
#[derive(Debug)]
pub(crate) struct CallIds {
    pub call_id: String,
    pub local_tag: String,
    pub token: String,
}
