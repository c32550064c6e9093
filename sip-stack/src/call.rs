//! One outbound call as a UAC (RFC 3261 13 and 15): INVITE with digest auth on 401/407, provisional
//! responses, the dialog created by the 2xx and its ACK, CANCEL before answer, BYE in either
//! direction. Pure state: the endpoint runs the transactions this module asks for.

use crate::digest::{self, Challenge, Credentials, RequestParts};
use crate::message::Method;
use crate::message::{IncomingRequest, IncomingResponse, header_values, split_list, uri_of};
use crate::outgoing::OutgoingRequest;
use crate::trunk::{TrunkConfig, TrunkId};
use std::fmt;

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
    /// We did (BYE, CANCEL, or we gave up).
    Local,
    /// The far end did (BYE, or a final failure response).
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
pub enum CallEvent {
    /// A provisional response (180 ringing, 183 progress).
    Progress {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// The SDP answer of an early dialog (usually on 183 Session Progress): early media to play
        /// or listen to before the answer (ringback tones, announcements, IVR prompts).
        sdp: Option<Vec<u8>>,
    },
    /// The call was answered; the SDP answer is attached.
    Answered {
        /// Body of the 2xx (the SDP answer).
        sdp: Vec<u8>,
    },
    /// The call is over.
    Ended(EndCause),
}

/// What the application asks for when placing a call.
#[derive(Debug, Clone)]
pub struct InviteParams {
    /// Trunk to dial through.
    pub trunk: TrunkId,
    /// User part of the Request-URI, typically an E.164 number such as `+15551234567`.
    pub to_user: String,
    /// The SDP offer.
    pub sdp_offer: Vec<u8>,
}

/// The dialog established by a 2xx (RFC 3261 12.1.2).
#[derive(Debug, Clone)]
struct Dialog {
    remote_tag: String,
    remote_target: String,
    route_set: Vec<String>,
    remote_to: String,
    ack: OutgoingRequest,
}

#[derive(Debug, Clone)]
enum State {
    Inviting {
        branch: String,
        authorized: bool,
        provisional: bool,
        cancel_wanted: bool,
    },
    Canceling {
        invite_branch: String,
    },
    Established(Dialog),
    Terminating {
        dialog: Dialog,
    },
    Ended,
}

/// What the call wants next.
#[derive(Debug)]
pub enum CallAction {
    /// Start a client transaction for this request.
    Send(OutgoingRequest),
    /// Send this request outside any transaction (the ACK for a 2xx).
    SendStateless(OutgoingRequest),
    /// Report to the application.
    Event(CallEvent),
}

/// Fresh identifiers and our address, supplied by the endpoint for each request built.
#[derive(Debug)]
pub struct CallContext<'a> {
    /// Our `host:port` for Via and Contact.
    pub contact_host: &'a str,
    /// A fresh branch.
    pub branch: &'a str,
    /// A fresh client nonce.
    pub cnonce: &'a str,
}

impl CallContext<'_> {
    fn via(&self) -> String {
        format!("SIP/2.0/UDP {};branch={};rport", self.contact_host, self.branch)
    }
}

/// One outbound call.
#[derive(Debug)]
pub struct OutboundCall {
    handle: CallHandle,
    trunk_id: TrunkId,
    trunk: TrunkConfig,
    call_id: String,
    local_tag: String,
    cseq: u32,
    invite: OutgoingRequest,
    state: State,
    nonce_count: u32,
}

impl OutboundCall {
    /// Builds the INVITE; the endpoint starts its transaction with the returned request.
    pub fn start(
        handle: CallHandle,
        trunk: TrunkConfig,
        params: InviteParams,
        call_id: String,
        local_tag: String,
        ctx: &CallContext<'_>,
    ) -> (Self, OutgoingRequest) {
        let domain = trunk.domain();
        let user = trunk.local_user().to_owned();
        let invite = OutgoingRequest {
            method: Method::Invite,
            uri: format!("sip:{}@{domain}", params.to_user),
            via: ctx.via(),
            route: Vec::new(),
            from: format!("<sip:{user}@{domain}>;tag={local_tag}"),
            to: format!("<sip:{}@{domain}>", params.to_user),
            call_id: call_id.clone(),
            cseq: 1,
            extra: vec![
                ("Contact", format!("<sip:{user}@{}>", ctx.contact_host)),
                ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS".to_owned()),
            ],
            body: Some(("application/sdp", params.sdp_offer)),
        };
        let call = Self {
            handle,
            trunk_id: params.trunk,
            trunk,
            call_id,
            local_tag,
            cseq: 1,
            state: State::Inviting {
                branch: invite.branch().to_owned(),
                authorized: false,
                provisional: false,
                cancel_wanted: false,
            },
            invite: invite.clone(),
            nonce_count: 0,
        };
        (call, invite)
    }

    /// The call's handle.
    pub fn handle(&self) -> CallHandle {
        self.handle
    }

    /// The trunk the call goes through.
    pub fn trunk(&self) -> TrunkId {
        self.trunk_id
    }

    /// The SIP Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Whether the call has ended and can be forgotten.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    /// Whether `request` belongs to this call's dialog.
    pub fn matches_dialog(&self, request: &IncomingRequest) -> bool {
        let dialog = match &self.state {
            State::Established(d) | State::Terminating { dialog: d, .. } => d,
            _ => return false,
        };
        request.common.call_id == self.call_id
            && request.common.to_tag.as_deref() == Some(self.local_tag.as_str())
            && request.common.from_tag.as_deref() == Some(dialog.remote_tag.as_str())
    }

    /// Feeds a response of one of this call's transactions.
    pub fn handle_response(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let method = &response.common.cseq_method;
        if *method == Method::Invite {
            self.on_invite_response(response, ctx)
        } else if *method == Method::Bye {
            match &self.state {
                State::Terminating { .. } if response.status >= 200 => {
                    self.end(None, "BYE", HangupBy::Local, true)
                }
                _ => Vec::new(),
            }
        } else {
            // CANCEL answers change nothing: the INVITE's 487 (or 2xx) decides.
            Vec::new()
        }
    }

    fn on_invite_response(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let status = response.status;
        match (&mut self.state, status) {
            (
                State::Inviting {
                    provisional,
                    cancel_wanted,
                    ..
                },
                100..=199,
            ) => {
                *provisional = true;
                if *cancel_wanted {
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
            (State::Inviting { .. } | State::Canceling { .. }, 200..=299) => {
                let cancel_requested = matches!(self.state, State::Canceling { .. })
                    || matches!(
                        self.state,
                        State::Inviting {
                            cancel_wanted: true,
                            ..
                        }
                    );
                let dialog = self.dialog_from(response, ctx);
                let mut actions = vec![CallAction::SendStateless(dialog.ack.clone())];
                self.state = State::Established(dialog);
                if cancel_requested {
                    // The 2xx crossed our CANCEL: the call is up, so end it properly with a BYE.
                    actions.extend(self.hangup(ctx));
                } else {
                    actions.push(CallAction::Event(CallEvent::Answered {
                        sdp: response.msg.body.clone(),
                    }));
                }
                actions
            }
            (State::Established(dialog) | State::Terminating { dialog, .. }, 200..=299) => {
                // A retransmitted 2xx: our ACK was lost, send it again (RFC 3261 13.2.2.4).
                vec![CallAction::SendStateless(dialog.ack.clone())]
            }
            (State::Inviting { authorized, .. }, 401 | 407) if !*authorized => {
                self.retry_with_auth(response, ctx)
            }
            (State::Inviting { .. }, 300..=699) => {
                self.end(Some(status), &response.reason, HangupBy::Remote, false)
            }
            (State::Canceling { .. }, 300..=699) => {
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

    fn retry_with_auth(&mut self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Vec<CallAction> {
        let (header, out_header) = if response.status == 401 {
            ("www-authenticate", "Authorization")
        } else {
            ("proxy-authenticate", "Proxy-Authorization")
        };
        let challenge = header_values(&response.msg.headers, header)
            .iter()
            .find_map(|v| Challenge::parse(v).ok());
        let (Some(challenge), Some(creds)) = (challenge, self.trunk.credentials.clone()) else {
            return self.end(Some(response.status), &response.reason, HangupBy::Remote, false);
        };
        self.nonce_count += 1;
        self.cseq += 1;
        let mut invite = self.invite.clone();
        invite.cseq = self.cseq;
        invite.via = ctx.via();
        let value = digest::authorization(
            &challenge,
            Credentials {
                username: creds.auth_user(),
                password: &creds.password,
            },
            RequestParts {
                method: "INVITE",
                uri: &invite.uri,
            },
            self.nonce_count,
            ctx.cnonce,
        );
        invite.set_extra(out_header, value);
        self.invite = invite.clone();
        self.state = State::Inviting {
            branch: invite.branch().to_owned(),
            authorized: true,
            provisional: false,
            cancel_wanted: false,
        };
        vec![CallAction::Send(invite)]
    }

    fn dialog_from(&self, response: &IncomingResponse, ctx: &CallContext<'_>) -> Dialog {
        let remote_tag = response.common.to_tag.clone().unwrap_or_default();
        let remote_target = header_values(&response.msg.headers, "contact")
            .first()
            .map(|c| uri_of(c).to_owned())
            .unwrap_or_else(|| self.invite.uri.clone());
        // The UAC's route set is the Record-Route of the 2xx in reverse order (12.1.2).
        let mut route_set: Vec<String> = header_values(&response.msg.headers, "record-route")
            .iter()
            .flat_map(|v| split_list(v).into_iter().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        route_set.reverse();
        let remote_to = header_values(&response.msg.headers, "to")
            .into_iter()
            .next()
            .unwrap_or_default();
        let ack = OutgoingRequest {
            method: Method::Ack,
            uri: remote_target.clone(),
            via: ctx.via(),
            route: route_set.clone(),
            from: self.invite.from.clone(),
            to: remote_to.clone(),
            call_id: self.call_id.clone(),
            cseq: self.invite.cseq,
            extra: Vec::new(),
            body: None,
        };
        Dialog {
            remote_tag,
            remote_target,
            route_set,
            remote_to,
            ack,
        }
    }

    /// Ends the call from our side: CANCEL before answer, BYE after.
    pub fn hangup(&mut self, ctx: &CallContext<'_>) -> Vec<CallAction> {
        match &mut self.state {
            State::Inviting {
                provisional: true, ..
            } => self.cancel(),
            // RFC 3261 9.1: no CANCEL before a provisional response; send it once one arrives.
            State::Inviting { cancel_wanted, .. } => {
                *cancel_wanted = true;
                Vec::new()
            }
            State::Established(dialog) => {
                let dialog = dialog.clone();
                self.cseq += 1;
                let bye = OutgoingRequest {
                    method: Method::Bye,
                    uri: dialog.remote_target.clone(),
                    via: ctx.via(),
                    route: dialog.route_set.clone(),
                    from: self.invite.from.clone(),
                    to: dialog.remote_to.clone(),
                    call_id: self.call_id.clone(),
                    cseq: self.cseq,
                    extra: Vec::new(),
                    body: None,
                };
                self.state = State::Terminating { dialog };
                vec![CallAction::Send(bye)]
            }
            State::Canceling { .. } | State::Terminating { .. } | State::Ended => Vec::new(),
        }
    }

    fn cancel(&mut self) -> Vec<CallAction> {
        let State::Inviting { branch, .. } = &self.state else {
            return Vec::new();
        };
        let invite_branch = branch.clone();
        self.state = State::Canceling { invite_branch };
        vec![CallAction::Send(self.invite.cancel())]
    }

    /// The far end sent BYE inside our dialog; the endpoint answers 200.
    pub fn handle_bye(&mut self) -> Vec<CallAction> {
        match self.state {
            State::Established(_) | State::Terminating { .. } => {
                self.end(None, "BYE", HangupBy::Remote, true)
            }
            _ => Vec::new(),
        }
    }

    /// A transaction of this call timed out.
    pub fn handle_transaction_timeout(&mut self, method: &Method) -> Vec<CallAction> {
        match (&self.state, method) {
            (State::Inviting { .. } | State::Canceling { .. }, Method::Invite) => {
                // Nothing answered at all: no status to report (a 408 would read as "no answer").
                self.end(None, "no response from the trunk", HangupBy::Local, false)
            }
            // A BYE nobody answers still ends the call (RFC 3261 15.1.1).
            (State::Terminating { .. }, Method::Bye) => {
                self.end(None, "BYE (no response)", HangupBy::Local, true)
            }
            _ => Vec::new(),
        }
    }

    /// The branch of the INVITE in flight, used to match CANCEL and its 487.
    pub fn invite_branch(&self) -> Option<&str> {
        match &self.state {
            State::Inviting { branch, .. } => Some(branch),
            State::Canceling { invite_branch } => Some(invite_branch),
            _ => None,
        }
    }

    fn end(&mut self, status: Option<u16>, reason: &str, by: HangupBy, answered: bool) -> Vec<CallAction> {
        self.state = State::Ended;
        vec![CallAction::Event(CallEvent::Ended(EndCause {
            status,
            reason: reason.to_owned(),
            by,
            answered,
        }))]
    }
}
