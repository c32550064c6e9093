//! The hand-off to a human (the `transfer` tool): the call's bridge number takes over from the
//! agent, in one of two ways.
//!
//! - [`TransferMode::Bridge`] works with any trunk: we call the human on a second leg and, once
//!   they answer, point each party's media at the other with a re-INVITE (third-party call
//!   control, RFC 3725 flow IV in its simple form). Audio then flows phone to phone, not through
//!   us, and the legs are linked so that either hang-up ends both.
//! - [`TransferMode::Refer`] asks the caller's side to call the human itself (REFER, RFC 3515);
//!   only trunks that accept REFER can do it, but no second channel is used.
//!
//! It is a small state machine driven by the call's events; the runner owns the sockets and the
//! clock and feeds it.

use crate::phone::E164;
use serde::{Deserialize, Serialize};
use sip_stack::driver::{PlacedCall, SipHandle};
use sip_stack::sdp::{self, Format, Negotiated, Offer};
use sip_stack::{CallEvent, CallHandle, InviteParams, TrunkId};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// How long the human's phone may ring before the hand-off is given up.
const RING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long each re-INVITE (or the REFER's outcome) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// How a call is handed to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// A second leg to the human, joined to the caller's by re-INVITEs.
    #[default]
    Bridge,
    /// A REFER asking the caller's side to call the human.
    Refer,
}

/// Where and how to hand the call over.
#[derive(Debug, Clone)]
pub struct BridgeTo {
    /// The human's number.
    pub number: E164,
    /// The way.
    pub mode: TransferMode,
    /// The trunk's channels: a bridged hand-off holds one for the human's leg as long as it lasts
    /// (a bridge is two calls on the trunk), and is refused when none is free. `None`: no limit.
    pub channels: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

/// What the runner needs to know of the caller's leg for a hand-off.
#[derive(Debug, Clone)]
pub(super) struct CallerLeg {
    pub handle: CallHandle,
    pub trunk: TrunkId,
    /// Our offer on the caller's leg: its session id stays, the address changes.
    pub offer: Offer,
}

/// How the hand-off ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HandoffEnd {
    /// The human has the caller.
    Connected,
    /// Nobody took the call; the caller is still ours.
    Failed(String),
}

enum State {
    /// REFER sent: the caller's side reports how its call to the human goes.
    Referred,
    /// The human's phone rings.
    Dialing {
        human: PlacedCall,
        /// Keeps the port of our offer to the human bound until the media moves.
        _rtp: UdpSocket,
        offer: Offer,
    },
    /// The caller is offered the human's media; waiting for the caller's answer.
    Redirecting {
        human: PlacedCall,
        offer: Offer,
    },
    /// The human is offered the caller's media; waiting for the human's answer.
    Joining {
        human: PlacedCall,
    },
    /// Phone to phone; the human's leg is kept to drain its events.
    Bridged {
        human: Option<PlacedCall>,
    },
    Over,
}

/// One hand-off in progress.
pub(super) struct Handoff {
    caller: CallerLeg,
    state: State,
    /// The trunk channel the human's leg holds (bridge mode), released with the hand-off.
    _channel: Option<tokio::sync::OwnedSemaphorePermit>,
    deadline: Instant,
    /// Whether the caller was offered the human's media (and must be taken back on failure).
    caller_redirected: bool,
}

impl Handoff {
    /// Starts the hand-off to `to`: the REFER, or the call to the human.
    pub async fn start(
        sip: &SipHandle,
        caller: CallerLeg,
        to: &BridgeTo,
        media: &super::RuntimeConfig,
    ) -> Result<Self, String> {
        let now = Instant::now();
        match to.mode {
            TransferMode::Refer => {
                sip.transfer(caller.handle, to.number.as_str())
                    .await
                    .map_err(|e| format!("REFER: {e}"))?;
                Ok(Handoff {
                    caller,
                    state: State::Referred,
                    _channel: None,
                    deadline: now + RING_TIMEOUT + STEP_TIMEOUT,
                    caller_redirected: false,
                })
            }
            TransferMode::Bridge => {
                let channel = match &to.channels {
                    Some(channels) => Some(
                        Arc::clone(channels)
                            .try_acquire_owned()
                            .map_err(|_| "no free trunk channel for the human's leg".to_owned())?,
                    ),
                    None => None,
                };
                let rtp = UdpSocket::bind((super::rtp_bind_ip(media.rtp_ip, caller.offer.address), 0))
                    .await
                    .map_err(|e| format!("cannot bind an RTP socket: {e}"))?;
                let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
                // The caller's leg named our address; this socket's own mapping may differ.
                let (address, port) = super::stun_mapped(&rtp, media)
                    .await
                    .map_or((caller.offer.address, port), |m| (m.ip(), m.port()));
                let offer = Offer {
                    session_id: u64::from(rand::random::<u32>()),
                    address,
                    port,
                    ..caller.offer.clone()
                };
                let human = sip
                    .invite(InviteParams {
                        from_user: None,
                        headers: Vec::new(),
                        trunk: caller.trunk,
                        to_user: to.number.as_str().to_owned(),
                        sdp_offer: offer.to_sdp().into_bytes(),
                    })
                    .await
                    .map_err(|e| format!("SIP: {e}"))?;
                Ok(Handoff {
                    caller,
                    _channel: channel,
                    state: State::Dialing {
                        human,
                        _rtp: rtp,
                        offer,
                    },
                    deadline: now + RING_TIMEOUT,
                    caller_redirected: false,
                })
            }
        }
    }

    /// When the current step is given up.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Bridged { .. } | State::Over => None,
            _ => Some(self.deadline),
        }
    }

    /// The human's leg, whose events [`on_human_event`](Self::on_human_event) takes.
    pub fn human(&mut self) -> Option<&mut PlacedCall> {
        match &mut self.state {
            State::Dialing { human, .. } | State::Redirecting { human, .. } | State::Joining { human } => {
                Some(human)
            }
            State::Bridged { human } => human.as_mut(),
            State::Referred | State::Over => None,
        }
    }

    /// An event of the caller's leg (answers to our re-INVITE, the REFER's progress).
    pub async fn on_caller_event(&mut self, sip: &SipHandle, event: &CallEvent) -> Option<HandoffEnd> {
        match (&mut self.state, event) {
            (
                State::Referred,
                CallEvent::Transfer {
                    status,
                    reason,
                    done: true,
                },
            ) => {
                self.state = State::Over;
                Some(if (200..300).contains(status) {
                    HandoffEnd::Connected
                } else {
                    HandoffEnd::Failed(format!("the transfer failed: {status} {reason}"))
                })
            }
            (State::Redirecting { .. }, CallEvent::MediaChanged { media }) => {
                let State::Redirecting { human, offer } = std::mem::replace(&mut self.state, State::Over)
                else {
                    return None;
                };
                // The caller's media is on its way to the human: show the human where the caller is.
                let toward_caller = Offer {
                    address: media.remote.ip(),
                    port: media.remote.port(),
                    formats: formats_of(media),
                    ..offer
                };
                if let Err(err) = sip.reoffer(human.handle, toward_caller).await {
                    return Some(
                        self.give_up(sip, human, format!("re-INVITE to the human: {err}"))
                            .await,
                    );
                }
                self.state = State::Joining { human };
                self.deadline = Instant::now() + STEP_TIMEOUT;
                None
            }
            (State::Redirecting { .. }, CallEvent::MediaRefused { status }) => {
                let State::Redirecting { human, .. } = std::mem::replace(&mut self.state, State::Over) else {
                    return None;
                };
                self.caller_redirected = false;
                Some(
                    self.give_up(sip, human, format!("the caller refused the new media: {status}"))
                        .await,
                )
            }
            _ => None,
        }
    }

    /// An event of the human's leg.
    pub async fn on_human_event(&mut self, sip: &SipHandle, event: Option<CallEvent>) -> Option<HandoffEnd> {
        let state = std::mem::replace(&mut self.state, State::Over);
        match (state, event) {
            (State::Dialing { human, offer, .. }, Some(CallEvent::Answered { sdp: answer })) => {
                let media = match sdp::parse_audio(&answer).and_then(|a| sdp::negotiate(&offer, &a)) {
                    Ok(m) => m,
                    Err(err) => {
                        return Some(
                            self.give_up(sip, human, format!("the human's answer: {err}"))
                                .await,
                        );
                    }
                };
                // Point the caller's media at the human; their answer says where the caller is.
                let toward_human = Offer {
                    address: media.remote.ip(),
                    port: media.remote.port(),
                    formats: formats_of(&media),
                    ..self.caller.offer.clone()
                };
                if let Err(err) = sip.reoffer(self.caller.handle, toward_human).await {
                    return Some(
                        self.give_up(sip, human, format!("re-INVITE to the caller: {err}"))
                            .await,
                    );
                }
                self.caller_redirected = true;
                self.state = State::Redirecting { human, offer };
                self.deadline = Instant::now() + STEP_TIMEOUT;
                None
            }
            (State::Joining { human }, Some(CallEvent::MediaChanged { .. })) => {
                if let Err(err) = sip.link(self.caller.handle, human.handle).await {
                    tracing::warn!(%err, "the legs could not be linked");
                }
                tracing::info!("the caller and the human are bridged");
                self.state = State::Bridged { human: Some(human) };
                Some(HandoffEnd::Connected)
            }
            (State::Joining { human }, Some(CallEvent::MediaRefused { status })) => Some(
                self.give_up(sip, human, format!("the human refused the new media: {status}"))
                    .await,
            ),
            (State::Bridged { .. }, None) => {
                self.state = State::Bridged { human: None };
                None
            }
            // Bridged: the link ends the caller's leg too; the runner hears of it there.
            (State::Bridged { .. }, Some(CallEvent::Ended(_))) => {
                self.state = State::Bridged { human: None };
                None
            }
            (_, Some(CallEvent::Ended(cause))) => {
                let reason = format!(
                    "the human's leg ended: {}{}",
                    cause.status.map(|s| format!("{s} ")).unwrap_or_default(),
                    cause.reason
                );
                Some(self.failed(sip, reason).await)
            }
            (_, None) => Some(self.failed(sip, "the human's leg vanished".to_owned()).await),
            (state, Some(_)) => {
                self.state = state;
                None
            }
        }
    }

    /// The current step took too long.
    pub async fn on_deadline(&mut self, sip: &SipHandle) -> HandoffEnd {
        let state = std::mem::replace(&mut self.state, State::Over);
        let reason = "nobody answered in time".to_owned();
        match state {
            State::Dialing { human, .. } | State::Redirecting { human, .. } | State::Joining { human } => {
                self.give_up(sip, human, reason).await
            }
            _ => HandoffEnd::Failed(reason),
        }
    }

    /// Ends the human's leg; the caller stays ours.
    async fn give_up(&mut self, sip: &SipHandle, human: PlacedCall, reason: String) -> HandoffEnd {
        let _ = sip.hangup(human.handle).await;
        self.failed(sip, reason).await
    }

    /// The hand-off is over without the human: if the caller's media was already sent toward
    /// the human, it is brought back to us, so the agent can still be heard.
    async fn failed(&mut self, sip: &SipHandle, reason: String) -> HandoffEnd {
        tracing::warn!(%reason, "hand-off failed");
        self.state = State::Over;
        if self.caller_redirected {
            self.caller_redirected = false;
            if let Err(err) = sip.reoffer(self.caller.handle, self.caller.offer.clone()).await {
                tracing::warn!(%err, "the caller's media could not be taken back");
            }
        }
        HandoffEnd::Failed(reason)
    }
}

/// The formats to offer so that one party sends what the other chose: its codec with its payload
/// type, and telephone-event when it has one.
fn formats_of(media: &Negotiated) -> Vec<Format> {
    let mut formats = vec![media.codec.clone()];
    if let Some(pt) = media.telephone_event {
        formats.push(Format::new(pt, "telephone-event", 8000));
    }
    formats
}
