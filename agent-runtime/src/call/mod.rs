//! The call runner: places one call through the SIP driver, terminates its media, and drives the
//! conversation until the call ends, then reports. It is an async driver: the decisions live in the
//! sans-IO pieces it wires together ([`sip_stack`], [`media_core`], [`Conversation`]); this module
//! only moves events between them and measures.

pub mod continuation;
mod converse;
mod handoff;
mod latency;
mod media_sdp;
mod speaker;

pub use handoff::{BridgeTo, TransferMode};
pub use latency::TurnLatency;

use crate::conversation::{Conversation, ConversationConfig};
use crate::outcome::{Lifecycle, LocalEnd, Outcome, SipResult, outcome_of};
use crate::phone::E164;
use crate::speech::{SpeechToText, TextToSpeech};
use crate::transcript::Turn;
use crate::workflow::Workflow;
use media_core::analysis::turn::{TurnModelTiming, TurnService};
use media_core::analysis::{LiveAnalysisConfig, VadMode, VadService, Verdict};
use media_core::engine::MediaEngine;
use media_core::{Codec, LatchPolicy, MediaSession, Ssrc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sip_stack::driver::{IncomingCallHandle, PlacedCall, SipHandle};
use sip_stack::sdp::{self, Offer};
use sip_stack::{AddressError, CallEvent, CallHandle, EndCause, HangupBy, InviteParams, TrunkId};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The speech providers a call uses, shared by all calls.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Text to speech.
    pub tts: TextToSpeech,
    /// Speech to text.
    pub stt: SpeechToText,
    /// The language model, if one is configured; without one the deterministic engine runs the call.
    pub llm: Option<crate::llm::LlmClient>,
    /// Silero VAD, if loaded; without it webrtc-vad alone decides what is speech.
    pub vad: Option<VadPool>,
    /// The end-of-turn model (Smart Turn), if loaded, and when its verdicts end a turn; without
    /// it a fixed silence (`end_of_turn_ms`) does.
    pub turn: Option<TurnPool>,
}

impl Speech {
    /// The providers for a call of `workflow`: the workflow's own model, when it chose one, answers
    /// the call's turns and writes its summary; otherwise the configured model does.
    pub fn for_workflow(&self, workflow: &Workflow) -> std::borrow::Cow<'_, Speech> {
        match (&self.llm, &workflow.model) {
            (Some(llm), Some(model)) => std::borrow::Cow::Owned(Speech {
                llm: Some(llm.with_model(model)),
                ..self.clone()
            }),
            _ => std::borrow::Cow::Borrowed(self),
        }
    }
}

/// The process's Silero VAD: each call links its media session to one batching worker, whose
/// single inference runs the ready chunks of all calls.
#[derive(Clone)]
pub struct VadPool(Arc<dyn Fn() -> Box<dyn VadService> + Send + Sync>);

impl VadPool {
    /// A pool whose links `link` makes (e.g. `move || Box::new(worker.link())`, the closure
    /// keeping the worker alive).
    pub fn new(link: impl Fn() -> Box<dyn VadService> + Send + Sync + 'static) -> Self {
        VadPool(Arc::new(link))
    }

    /// A link for one call.
    pub fn link(&self) -> Box<dyn VadService> {
        (self.0)()
    }
}

impl std::fmt::Debug for VadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VadPool")
    }
}

/// The process's end-of-turn model: each call links its analysis to the one Smart Turn worker.
#[derive(Clone)]
pub struct TurnPool {
    link: Arc<dyn Fn() -> Box<dyn TurnService> + Send + Sync>,
    timing: TurnModelTiming,
}

impl TurnPool {
    /// A pool whose links `link` makes (the closure keeps the worker alive), used with `timing`.
    pub fn new(
        timing: TurnModelTiming,
        link: impl Fn() -> Box<dyn TurnService> + Send + Sync + 'static,
    ) -> Self {
        TurnPool {
            link: Arc::new(link),
            timing,
        }
    }

    /// A link for one call.
    pub fn link(&self) -> Box<dyn TurnService> {
        (self.link)()
    }

    /// When the model's verdicts end a turn.
    pub fn timing(&self) -> TurnModelTiming {
        self.timing
    }
}

impl std::fmt::Debug for TurnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnPool").field("timing", &self.timing).finish()
    }
}

/// Settings of the call runner.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Address to bind RTP sockets on. The unspecified address (the default) advertises, for each
    /// call, our address on the route towards its trunk.
    pub rtp_ip: IpAddr,
    /// Address to advertise in SDP (a public address behind NAT); found as said of `rtp_ip` when
    /// `None`.
    pub public_ip: Option<IpAddr>,
    /// A STUN server (RFC 8489) to ask, per call, which address and port our RTP socket is seen
    /// from; the SDP then names them. Used only when `public_ip` is not set; without an answer in
    /// 1.5 s the call goes on with the address found as said of `rtp_ip` (logged).
    pub stun_server: Option<SocketAddr>,
    /// How long to let a call ring before giving up (CANCEL, outcome `no_answer`).
    pub ring_timeout: Duration,
    /// Longest a call may last once answered (the workflow may ask for less).
    pub max_duration: Duration,
    /// Longest a caller and a human stay bridged after a hand-off (both legs are then hung up).
    pub max_bridged: Duration,
    /// Jitter buffer playout delay.
    pub jitter_delay_ms: u32,
    /// Trailing silence that ends the caller's turn.
    pub end_of_turn_ms: u32,
    /// Speech over the agent that stops it, ms; shorter speech (a backchannel, a cough) is
    /// judged by its words.
    pub barge_in_ms: u32,
    /// Quiet after a caller's turn before the agent answers it, ms (0: as soon as its words are
    /// in). A pause shorter than this never cuts the caller off; every answer waits this long.
    pub turn_patience_ms: u32,
    /// Start speech-to-text at the caller's first pause (see `MediaEvent::TurnPaused`).
    pub speculative_stt: bool,
    /// The on-box audio intelligence (VAD, barge-in, in-band DTMF, beeps, answering-machine
    /// detection) listens to the call; `false` falls back to the energy endpointer.
    pub analysis: bool,
    /// Offer Opus (after G.711, so it is used only where G.711 is not).
    pub opus: bool,
    /// Offer SRTP (`RTP/SAVP` with an SDES key); an answer without it fails the call.
    pub srtp: bool,
    /// When media from another source than the SDP's is taken (the far end's NAT); packets from
    /// anyone else are dropped and counted.
    pub latch: LatchPolicy,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            rtp_ip: IpAddr::from([0, 0, 0, 0]),
            public_ip: None,
            stun_server: None,
            ring_timeout: Duration::from_secs(60),
            max_duration: Duration::from_secs(600),
            max_bridged: Duration::from_secs(3600),
            jitter_delay_ms: 60,
            end_of_turn_ms: 500,
            barge_in_ms: media_core::analysis::endpoint::BARGE_IN_MS as u32,
            turn_patience_ms: 0,
            speculative_stt: true,
            analysis: true,
            opus: true,
            srtp: false,
            latch: LatchPolicy::default(),
        }
    }
}

/// One call to place.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// Who to call.
    pub to: E164,
    /// What to do.
    pub workflow: Workflow,
    /// Which trunk to dial through.
    pub trunk: TrunkId,
    /// Where to write the stereo recording.
    pub recording: Option<PathBuf>,
    /// A human to hand the call to when the callee asks for one (the `transfer` tool).
    pub bridge: Option<BridgeTo>,
    /// The caller ID to present (E.164); the trunk's own user when `None`.
    pub from: Option<E164>,
    /// Headers for the INVITE (`X-` names, e.g. a campaign id for the carrier's records).
    pub headers: Vec<(String, String)>,
}

/// Progress reported while the call runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallUpdate {
    /// The lifecycle moved on.
    Lifecycle(Lifecycle),
    /// A turn was completed (the agent finished speaking, or the caller's words were transcribed).
    Turn(Turn),
    /// A key was pressed (by the caller) or sent (by the agent).
    Dtmf(DtmfRecord),
}

/// A DTMF digit on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfRecord {
    /// The key.
    pub digit: String,
    /// When, ms from the answer.
    pub at_ms: u64,
    /// `received` (the caller pressed it) or `sent` (the agent did).
    pub direction: String,
}

/// The answering-machine verdict of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmdRecord {
    /// `human`, `machine` or `unknown`.
    pub verdict: String,
    /// Confidence, 0-1.
    pub confidence: f64,
    /// When it was decided, ms from the answer.
    pub decided_ms: u64,
}

impl AmdRecord {
    fn new(verdict: Verdict, confidence_pct: u8, decided_ms: u64) -> Self {
        AmdRecord {
            verdict: verdict.as_str().to_owned(),
            confidence: f64::from(confidence_pct) / 100.0,
            decided_ms,
        }
    }

    /// The call's verdict (the audio's weighed with the greeting's words and beeps).
    fn judged(j: crate::amd::Judgement) -> Self {
        AmdRecord {
            verdict: j.verdict.as_str().to_owned(),
            confidence: f64::from((j.confidence * 100.0).round()) / 100.0,
            decided_ms: j.decided_ms,
        }
    }
}

/// Media quality of the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaReport {
    /// Codec name, e.g. `PCMU`.
    pub codec: String,
    /// Lost packets in percent.
    pub loss_pct: f64,
    /// Interarrival jitter in ms.
    pub jitter_ms: f64,
    /// Packets received.
    pub packets_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets dropped because they came from another source than the callee's media (strict
    /// media source: someone spraying our RTP port, or a source the latch policy refused).
    #[serde(default)]
    pub packets_foreign: u64,
    /// Why the call has no recording though one was asked for (the disk filled, the directory
    /// went read-only): the call went on without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_failed: Option<String>,
}

/// Everything known when a call is over.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// How it ended.
    pub outcome: Outcome,
    /// The SIP side of it.
    pub sip: SipResult,
    /// Whether it was answered.
    pub answered: bool,
    /// Milliseconds from answer to hangup.
    pub talk_ms: u64,
    /// The conversation.
    pub transcript: Vec<Turn>,
    /// Fields collected.
    pub form_fills: Map<String, Value>,
    /// Summary of the conversation.
    pub summary: Option<String>,
    /// Keys pressed and sent.
    pub dtmf: Vec<DtmfRecord>,
    /// Why the agent ended the call, when it did.
    pub end_reason: Option<String>,
    /// The answering-machine verdict, when one was reached.
    pub amd: Option<AmdRecord>,
    /// Per-turn latency, caller's end of speech to the agent's first audio.
    pub latency: Vec<TurnLatency>,
    /// The stereo recording, if one was written.
    pub recording: Option<PathBuf>,
    /// Media statistics, if media flowed.
    pub media: Option<MediaReport>,
    /// What went wrong, for failed calls.
    pub error: Option<String>,
}

impl CallReport {
    /// A call that failed before anything reached the callee, with the cause.
    pub fn failed(reason: String) -> Self {
        Self {
            outcome: Outcome::Failed,
            sip: SipResult {
                status: None,
                reason: Some(reason.clone()),
                hangup_by: Some("system".to_owned()),
            },
            answered: false,
            talk_ms: 0,
            transcript: Vec::new(),
            form_fills: Map::new(),
            summary: None,
            dtmf: Vec::new(),
            end_reason: None,
            amd: None,
            latency: Vec::new(),
            recording: None,
            media: None,
            error: Some(reason),
        }
    }
}

/// Places and runs one call to its end. Never panics on peer behaviour; every failure becomes a
/// report with outcome `failed` and the cause.
pub async fn run_call(
    sip: &SipHandle,
    speech: &Speech,
    config: &RuntimeConfig,
    request: CallRequest,
    updates: mpsc::UnboundedSender<CallUpdate>,
    cancel: CancellationToken,
) -> CallReport {
    let peer = match sip.trunk_addr(request.trunk).await {
        // No address to find our own towards: the driver looks the name up again on the trunk's
        // next registration or keep-alive.
        Ok(addr) if addr == sip_stack::trunk::UNRESOLVED => {
            return CallReport::failed("SIP: the trunk's name has not resolved yet".to_owned());
        }
        Ok(addr) => addr.ip(),
        Err(err) => return CallReport::failed(format!("SIP: {err}")),
    };
    let (socket, offer) = match local_media(config, peer).await {
        Ok(m) => m,
        Err(err) => return CallReport::failed(err.to_string()),
    };
    // Render the first words while the phone rings, so the agent speaks the moment it is answered.
    let prerendered = prerender_opening(speech, &request.workflow);
    let _ = updates.send(CallUpdate::Lifecycle(Lifecycle::Dialing));
    tracing::info!(to = %request.to, "dialing");
    let params = InviteParams {
        from_user: request.from.as_ref().map(|f| f.as_str().to_owned()),
        headers: request.headers.clone(),
        trunk: request.trunk,
        to_user: request.to.as_str().to_owned(),
        sdp_offer: offer.to_sdp().into_bytes(),
    };
    let mut placed = match sip.invite(params).await {
        Ok(p) => p,
        Err(err) => return CallReport::failed(format!("SIP: {err}")),
    };
    let mut local_end = None;
    let answer = match until_answered(sip, config, &updates, &cancel, &mut placed, &mut local_end).await {
        Ok(sdp) => sdp,
        Err(cause) => {
            prerendered.abort();
            let outcome = outcome_of(&cause, local_end, false);
            return CallReport {
                outcome,
                sip: SipResult::from_cause(&cause),
                error: (outcome == Outcome::Failed).then(|| cause.reason.clone()),
                ..CallReport::failed(String::new())
            };
        }
    };
    let media = sdp::parse_audio(&answer)
        .and_then(|a| sdp::negotiate(&offer, &a))
        .map_err(|e| e.to_string());
    let answered = Answered {
        placed,
        socket,
        offer,
        prerendered,
    };
    let plan = Plan {
        workflow: request.workflow,
        trunk: request.trunk,
        recording: request.recording,
        bridge: request.bridge,
    };
    converse_to_the_end(sip, speech, config, &plan, answered, media, updates, cancel).await
}

/// What an answered call is to do, whichever side called.
struct Plan {
    workflow: Workflow,
    trunk: TrunkId,
    recording: Option<PathBuf>,
    bridge: Option<BridgeTo>,
}

/// One inbound call to answer.
#[derive(Debug)]
pub struct InboundRequest {
    /// The call, as the SIP driver offered it.
    pub call: IncomingCallHandle,
    /// What to do (the workflow the dialled number maps to).
    pub workflow: Workflow,
    /// Where to write the stereo recording.
    pub recording: Option<PathBuf>,
    /// A human to hand the call to when the caller asks for one.
    pub bridge: Option<BridgeTo>,
}

/// Answers one inbound call and runs it to its end: 180 while the first words render, our SDP
/// answer to the caller's offer (codecs and payload types from the offer), then the same
/// conversation as an outbound call. A caller who hangs up first gives outcome `no_answer`;
/// an offer we cannot serve is refused with 488 and outcome `failed`.
pub async fn answer_call(
    sip: &SipHandle,
    speech: &Speech,
    config: &RuntimeConfig,
    request: InboundRequest,
    updates: mpsc::UnboundedSender<CallUpdate>,
    cancel: CancellationToken,
) -> CallReport {
    let InboundRequest {
        call,
        workflow,
        recording,
        bridge,
    } = request;
    let handle = call.info.call;
    let refuse = |status: u16, reason: String| async move {
        let _ = sip.reject(handle, status).await;
        let mut report = CallReport::failed(reason);
        report.sip.status = Some(status);
        report
    };
    let remote = match sdp::parse_audio(&call.info.sdp) {
        Ok(remote) => remote,
        Err(err) => return refuse(488, format!("the caller's offer: {err}")).await,
    };
    let (socket, local) = match local_media(config, call.info.source.addr.ip()).await {
        Ok(m) => m,
        Err(err) => return refuse(500, err.to_string()).await,
    };
    let (answer, negotiated) =
        match sdp::answer(&local, local.session_id, &remote, None, sdp::Direction::SendRecv) {
            Ok(a) => a,
            Err(err) => return refuse(488, format!("the caller's offer: {err}")).await,
        };
    let _ = updates.send(CallUpdate::Lifecycle(Lifecycle::Ringing));
    let _ = sip.ring(handle).await;
    let prerendered = prerender_opening(speech, &workflow);
    tracing::info!(dialled = %call.info.to_user, "answering an inbound call");
    if let Err(err) = sip.accept(handle, answer.into_bytes()).await {
        prerendered.abort();
        return CallReport::failed(format!("SIP: {err}"));
    }
    let mut placed = PlacedCall {
        handle,
        events: call.events,
    };
    // Answered once our 2xx is acknowledged; the caller may still hang up first.
    loop {
        match placed.events.recv().await {
            Some(CallEvent::Answered { .. }) => break,
            Some(CallEvent::Ended(cause)) => {
                prerendered.abort();
                return CallReport {
                    outcome: outcome_of(&cause, None, false),
                    sip: SipResult::from_cause(&cause),
                    error: None,
                    ..CallReport::failed(String::new())
                };
            }
            Some(_) => {}
            None => return CallReport::failed("SIP driver stopped".to_owned()),
        }
    }
    let answered = Answered {
        placed,
        socket,
        offer: local,
        prerendered,
    };
    let plan = Plan {
        workflow,
        trunk: call.info.trunk,
        recording,
        bridge,
    };
    converse_to_the_end(
        sip,
        speech,
        config,
        &plan,
        answered,
        Ok(negotiated),
        updates,
        cancel,
    )
    .await
}

/// Why a call's media socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalMediaError {
    /// The RTP socket could not be bound.
    #[error("cannot bind an RTP socket: {0}")]
    Bind(std::io::Error),
    /// No address the peer can reach can be named in our SDP.
    #[error("media address: {0}")]
    Address(#[from] AddressError),
}

/// The address our SDP names to a call whose signalling peer (its trunk's proxy, or the source of
/// an inbound call) is `peer`: `public_ip` if set, else `rtp_ip` if it is a specific address, else
/// our address on the route towards the peer. Never the unspecified address (which a peer reads as
/// hold), never loopback to a peer elsewhere. The server checks each trunk with it at start-up.
pub fn media_address(config: &RuntimeConfig, peer: IpAddr) -> Result<IpAddr, AddressError> {
    let route = (config.public_ip.is_none() && config.rtp_ip.is_unspecified())
        .then(|| sip_stack::driver::local_ip_towards(peer).ok())
        .flatten();
    sip_stack::address::advertised_ip(config.rtp_ip, config.public_ip, route, peer)
}

/// A bound RTP socket and our description of it (either direction's offer or answer is derived
/// from it), for a call whose signalling peer is `peer`: the address of [`media_address`], or the
/// STUN server's answer for this socket when one is configured.
pub async fn local_media(
    config: &RuntimeConfig,
    peer: IpAddr,
) -> Result<(UdpSocket, Offer), LocalMediaError> {
    let address = media_address(config, peer)?;
    let socket = UdpSocket::bind(SocketAddr::new(rtp_bind_ip(config.rtp_ip, address), 0))
        .await
        .map_err(LocalMediaError::Bind)?;
    let port = socket.local_addr().map_err(LocalMediaError::Bind)?.port();
    let (address, port) = stun_mapped(&socket, config)
        .await
        .map_or((address, port), |mapped| (mapped.ip(), mapped.port()));
    let offer = Offer {
        session_id: u64::from(rand::random::<u32>()),
        address,
        port,
        formats: media_sdp::offered_formats(config.opus),
        ptime: 20,
        crypto: if config.srtp {
            vec![media_sdp::offered_crypto()]
        } else {
            Vec::new()
        },
    };
    Ok((socket, offer))
}

/// The address an RTP socket binds to: `rtp_ip`, except that the unspecified IPv4 address (the
/// default) becomes the unspecified IPv6 one when the SDP names an IPv6 address, so a call over an
/// IPv6 trunk gets a socket that can receive its media.
pub(crate) fn rtp_bind_ip(rtp_ip: IpAddr, advertised: IpAddr) -> IpAddr {
    match (rtp_ip, advertised) {
        (IpAddr::V4(v4), IpAddr::V6(_)) if v4.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => rtp_ip,
    }
}

/// Where `socket`'s packets are seen from outside our NAT, asked of the configured STUN server;
/// `None` when `public_ip` says it already, no server is configured, or the server did not answer
/// (logged: the call then names the address [`media_address`] found).
pub(crate) async fn stun_mapped(socket: &UdpSocket, config: &RuntimeConfig) -> Option<SocketAddr> {
    let server = config.stun_server.filter(|_| config.public_ip.is_none())?;
    match media_core::stun::discover(socket, server).await {
        Ok(mapped) => {
            tracing::debug!(%server, %mapped, "STUN: our RTP is seen from");
            Some(mapped)
        }
        Err(err) => {
            tracing::warn!(%server, %err, "STUN gave no address; the SDP names our own");
            None
        }
    }
}

/// Starts rendering the disclosure and the first question, so the agent speaks the moment the
/// call is up.
fn prerender_opening(
    speech: &Speech,
    workflow: &Workflow,
) -> tokio::task::JoinHandle<Vec<(String, crate::speech::Audio)>> {
    speaker::prerender(speech.tts.clone(), workflow.first_words())
}

/// An answered call, ours to talk on.
struct Answered {
    placed: PlacedCall,
    socket: UdpSocket,
    /// Our side of the session description.
    offer: Offer,
    prerendered: tokio::task::JoinHandle<Vec<(String, crate::speech::Audio)>>,
}

/// Runs the conversation of an answered call (either direction) to its end, and reports.
#[allow(clippy::too_many_arguments)]
async fn converse_to_the_end(
    sip: &SipHandle,
    speech: &Speech,
    config: &RuntimeConfig,
    plan: &Plan,
    answered: Answered,
    media: Result<sdp::Negotiated, String>,
    updates: mpsc::UnboundedSender<CallUpdate>,
    cancel: CancellationToken,
) -> CallReport {
    let Answered {
        mut placed,
        socket,
        offer,
        prerendered,
    } = answered;
    let speech = &*speech.for_workflow(&plan.workflow);
    let answered_at = Instant::now();
    let _ = updates.send(CallUpdate::Lifecycle(Lifecycle::Answered));
    let media = media
        .and_then(|n| start_media(&n, config, speech, plan))
        .and_then(|(codec, session)| {
            // Every call runs on the process's media engine: one 20 ms timer per core for all
            // calls, instead of a task and a timer per call.
            let engine = MediaEngine::global().map_err(|e| e.to_string())?;
            let running = engine
                .spawn(socket, None, session, cancel.child_token())
                .map_err(|e| e.to_string())?;
            Ok((codec, running))
        })
        .map_err(|reason| {
            tracing::warn!(%reason, "media could not start; hanging up");
            reason
        });
    let (codec, running) = match media {
        Ok(m) => m,
        Err(reason) => {
            let cause = hang_up_and_wait(sip, placed.handle, &mut placed).await;
            let mut report = CallReport::failed(format!("media: {reason}"));
            report.sip = SipResult::from_cause(&cause);
            return report;
        }
    };
    let mut conversation_config = ConversationConfig::new(today());
    conversation_config.can_transfer = plan.bridge.is_some();
    conversation_config.llm = speech.llm.is_some();
    let mut workflow = plan.workflow.clone();
    // A bridge number given with the call is the permission to use it, whatever the prompt says.
    workflow.transfer_on_request |= plan.bridge.is_some();
    let bridge = plan.bridge.clone().map(|to| converse::Bridge {
        to,
        caller: handoff::CallerLeg {
            handle: placed.handle,
            trunk: plan.trunk,
            offer: offer.clone(),
        },
        media: config.clone(),
        max_bridged: config.max_bridged,
    });
    let limit = u32::try_from(config.max_duration.as_secs()).unwrap_or(u32::MAX);
    workflow.max_duration_secs = workflow.max_duration_secs.min(limit);
    let conversation = Conversation::new(workflow, conversation_config);
    let ended = converse::Converse::new(
        sip,
        speech,
        updates,
        cancel,
        placed.handle,
        running,
        prerendered,
        bridge,
    )
    .with_turn_patience(u64::from(config.turn_patience_ms))
    .with_speculative_stt(config.speculative_stt)
    .run(&mut placed, conversation)
    .await;
    let talk_ms = u64::try_from(answered_at.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (recording, media_report) = match ended.media {
        Some(s) => (
            s.recording.map(|r| r.path),
            Some(MediaReport {
                codec: codec.encoding_name().to_owned(),
                loss_pct: s.stats.loss_pct(),
                jitter_ms: s.stats.jitter_ms,
                packets_received: s.stats.packets_received,
                packets_sent: s.stats.packets_sent,
                packets_foreign: s.stats.foreign,
                recording_failed: s.recording_failed,
            }),
        ),
        None => (None, None),
    };
    let conversation = ended.conversation;
    let summary = match &speech.llm {
        Some(llm) if !conversation.transcript().is_empty() => {
            crate::llm::summarize(
                llm,
                conversation.workflow(),
                &conversation.transcript(),
                conversation.fields(),
            )
            .await
        }
        _ => None,
    }
    .unwrap_or_else(|| conversation.summary());
    CallReport {
        outcome: outcome_of(&ended.cause, ended.local_end, conversation.reached_machine()),
        sip: SipResult::from_cause(&ended.cause),
        answered: true,
        talk_ms,
        transcript: conversation.transcript(),
        form_fills: conversation.fields().clone(),
        summary: Some(summary),
        dtmf: ended.dtmf,
        end_reason: ended.end_reason.map(|r| r.as_str().to_owned()),
        amd: ended.amd,
        latency: ended.latency,
        recording,
        media: media_report,
        error: None,
    }
}

/// Today's date in UTC: the driver reads the clock for the sans-IO conversation.
fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn start_media(
    n: &sdp::Negotiated,
    config: &RuntimeConfig,
    speech: &Speech,
    plan: &Plan,
) -> Result<(Codec, MediaSession), String> {
    let (codec, mut session_config) = media_sdp::session_config(n, Ssrc(rand::random()))?;
    session_config.recording = plan.recording.clone();
    session_config.jitter_delay_ms = config.jitter_delay_ms;
    session_config.end_of_turn_silence_ms = config.end_of_turn_ms;
    session_config.latch = config.latch;
    if config.analysis {
        let mut analysis = LiveAnalysisConfig::default();
        analysis.analyzer.endpoint.end_of_turn_ms = u64::from(config.end_of_turn_ms);
        analysis.analyzer.endpoint.barge_in_ms = u64::from(config.barge_in_ms);
        analysis.analyzer.endpoint.turn_model = speech.turn.as_ref().map(TurnPool::timing);
        analysis.analyzer.vad = if speech.vad.is_some() {
            VadMode::Silero
        } else {
            VadMode::GateOnly
        };
        session_config.analysis = Some(analysis);
    }
    // Started on the engine's 20 ms grid, so its ticks fall on the worker's wake-ups.
    let start = MediaEngine::global().map_err(|e| e.to_string())?.grid_now();
    let mut session = MediaSession::new(session_config, start).map_err(|e| e.to_string())?;
    if config.analysis
        && let Some(vad) = &speech.vad
    {
        session.attach_vad(vad.link());
    }
    if config.analysis
        && let Some(turn) = &speech.turn
    {
        session.attach_turn_model(turn.link());
    }
    Ok((codec, session))
}

/// Waits for the answer; returns the SDP answer, or how the call ended.
async fn until_answered(
    sip: &SipHandle,
    config: &RuntimeConfig,
    updates: &mpsc::UnboundedSender<CallUpdate>,
    cancel: &CancellationToken,
    placed: &mut PlacedCall,
    local_end: &mut Option<LocalEnd>,
) -> Result<Vec<u8>, EndCause> {
    let ring_deadline = Instant::now() + config.ring_timeout;
    loop {
        tokio::select! {
            event = placed.events.recv() => match event {
                Some(CallEvent::Progress { status, .. }) if status == 180 || status == 183 => {
                    let _ = updates.send(CallUpdate::Lifecycle(Lifecycle::Ringing));
                }
                Some(CallEvent::Progress { .. }) => {}
                // Answered as we gave up: the SIP layer ends it with a BYE.
                Some(CallEvent::Answered { .. }) if local_end.is_some() => {}
                Some(CallEvent::Answered { sdp }) => return Ok(sdp),
                Some(CallEvent::Ended(cause)) => return Err(cause),
                // In-dialog events (media changes, transfers) only follow the answer.
                Some(_) => {}
                None => return Err(driver_gone(false)),
            },
            () = cancel.cancelled(), if local_end.is_none() => {
                *local_end = Some(LocalEnd::Canceled);
                let _ = sip.hangup(placed.handle).await;
            }
            () = tokio::time::sleep_until(ring_deadline), if local_end.is_none() => {
                *local_end = Some(LocalEnd::RingTimeout);
                let _ = sip.hangup(placed.handle).await;
            }
        }
    }
}

/// Hangs up and waits (bounded) for the SIP layer to confirm the end.
async fn hang_up_and_wait(sip: &SipHandle, handle: CallHandle, placed: &mut PlacedCall) -> EndCause {
    let _ = sip.hangup(handle).await;
    let wait = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match placed.events.recv().await {
                Some(CallEvent::Ended(cause)) => return cause,
                Some(_) => {}
                None => return driver_gone(true),
            }
        }
    });
    wait.await.unwrap_or_else(|_| EndCause {
        status: None,
        reason: "hangup not confirmed".to_owned(),
        by: HangupBy::Local,
        answered: true,
    })
}

fn driver_gone(answered: bool) -> EndCause {
    EndCause {
        status: None,
        reason: "SIP driver stopped".to_owned(),
        by: HangupBy::Local,
        answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn the_default_rtp_address_is_the_unspecified_one_and_never_advertised() {
        let config = RuntimeConfig::default();
        assert!(config.rtp_ip.is_unspecified());
        // The route to a loopback trunk is loopback.
        assert_eq!(media_address(&config, ip("127.0.0.1")), Ok(ip("127.0.0.1")));
        let public = RuntimeConfig {
            public_ip: Some(ip("203.0.113.7")),
            ..RuntimeConfig::default()
        };
        assert_eq!(media_address(&public, ip("192.0.2.1")), Ok(ip("203.0.113.7")));
        let loopback = RuntimeConfig {
            rtp_ip: ip("127.0.0.1"),
            ..RuntimeConfig::default()
        };
        assert!(matches!(
            media_address(&loopback, ip("192.0.2.1")),
            Err(AddressError::Loopback { .. })
        ));
    }

    #[tokio::test]
    async fn an_unspecified_bind_offers_the_route_towards_a_loopback_trunk_in_sdp() {
        let (socket, offer) = local_media(&RuntimeConfig::default(), ip("127.0.0.1"))
            .await
            .expect("media socket");
        assert!(socket.local_addr().expect("bound").ip().is_unspecified());
        let sdp = offer.to_sdp();
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"), "{sdp}");
        assert!(sdp.contains(" IN IP4 127.0.0.1\r\n"), "o= line: {sdp}");
        assert!(!sdp.contains("0.0.0.0"), "{sdp}");
    }
}
