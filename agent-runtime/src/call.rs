//! The call runner: places one call through the SIP driver, terminates its media, and drives the
//! conversation until the call ends, then reports. It is an async driver: the decisions live in the
//! sans-IO pieces it wires together ([`sip_stack`], [`media_core`], [`Conversation`]).

use crate::conversation::{Action, Conversation, Input, SayId};
use crate::outcome::{Lifecycle, LocalEnd, Outcome, SipResult, outcome_of};
use crate::phone::E164;
use crate::speech::{Audio, SampleRate, SpeechToText, TextToSpeech, resample};
use crate::transcript::Turn;
use crate::workflow::Workflow;
use media_core::driver::{MediaHandle, RunningSession};
use media_core::{Codec, MediaEvent, MediaSession, PayloadType, SessionConfig, Ssrc, UtteranceId};
use serde_json::{Map, Value};
use sip_stack::driver::{PlacedCall, SipHandle};
use sip_stack::sdp::{self, Format, Offer};
use sip_stack::{CallEvent, CallHandle, EndCause, HangupBy, InviteParams, TrunkId};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The speech providers a call uses, shared by all calls.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Text to speech.
    pub tts: TextToSpeech,
    /// Speech to text.
    pub stt: SpeechToText,
}

/// Settings of the call runner.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Address to bind RTP sockets on.
    pub rtp_ip: IpAddr,
    /// Address to advertise in SDP (a public address behind NAT); `rtp_ip` when `None`.
    pub public_ip: Option<IpAddr>,
    /// How long to let a call ring before giving up (CANCEL, outcome `no_answer`).
    pub ring_timeout: Duration,
    /// Longest a call may last once answered.
    pub max_duration: Duration,
    /// Jitter buffer playout delay.
    pub jitter_delay_ms: u32,
    /// Trailing silence that ends the caller's turn.
    pub end_of_turn_ms: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            rtp_ip: IpAddr::from([127, 0, 0, 1]),
            public_ip: None,
            ring_timeout: Duration::from_secs(60),
            max_duration: Duration::from_secs(600),
            jitter_delay_ms: 60,
            end_of_turn_ms: 700,
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
}

/// Progress reported while the call runs.
#[derive(Debug, Clone, PartialEq)]
pub enum CallUpdate {
    /// The lifecycle moved on.
    Lifecycle(Lifecycle),
    /// A turn was completed (the agent finished speaking, or the caller's words were transcribed).
    Turn(Turn),
}

/// Media quality of the call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    let socket = match UdpSocket::bind(SocketAddr::new(config.rtp_ip, 0)).await {
        Ok(s) => s,
        Err(err) => return CallReport::failed(format!("cannot bind an RTP socket: {err}")),
    };
    let port = match socket.local_addr() {
        Ok(a) => a.port(),
        Err(err) => return CallReport::failed(format!("RTP socket has no address: {err}")),
    };
    let offer = Offer {
        session_id: u64::from(rand::random::<u32>()),
        address: config.public_ip.unwrap_or(config.rtp_ip),
        port,
        formats: vec![
            Format::new(0, "PCMU", 8000),
            Format::new(8, "PCMA", 8000),
            Format::new(101, "telephone-event", 8000),
        ],
        ptime: 20,
    };
    // Render the first words while the phone rings, so the agent speaks the moment it is answered.
    let first_words = format!("{} {}", request.workflow.opening, request.workflow.question);
    let greeting = {
        let tts = speech.tts.clone();
        let text = first_words.clone();
        tokio::spawn(async move { tts.synthesize(&text).await })
    };
    let _ = updates.send(CallUpdate::Lifecycle(Lifecycle::Dialing));
    tracing::info!(to = %request.to, "dialing");
    let params = InviteParams {
        trunk: request.trunk,
        to_user: request.to.as_str().to_owned(),
        sdp_offer: offer.to_sdp().into_bytes(),
    };
    let mut placed = match sip.invite(params).await {
        Ok(p) => p,
        Err(err) => return CallReport::failed(format!("SIP: {err}")),
    };
    let mut runner = Runner {
        sip,
        speech,
        config,
        updates,
        cancel,
        handle: placed.handle,
        local_end: None,
    };
    let answer = match runner.until_answered(&mut placed).await {
        Ok(sdp) => sdp,
        Err(cause) => {
            greeting.abort();
            let outcome = outcome_of(&cause, runner.local_end, false);
            return CallReport {
                outcome,
                sip: SipResult::from_cause(&cause),
                error: (outcome == Outcome::Failed).then(|| cause.reason.clone()),
                ..CallReport::failed(String::new())
            };
        }
    };
    let answered_at = Instant::now();
    let _ = runner.updates.send(CallUpdate::Lifecycle(Lifecycle::Answered));
    let negotiated = sdp::parse_audio(&answer).and_then(|a| sdp::negotiate(&offer, &a));
    let media = negotiated.map_err(|e| e.to_string()).and_then(|n| {
        let codec = Codec::from_encoding_name(&n.codec.encoding).ok_or("negotiated codec unsupported")?;
        let pt = PayloadType::new(n.codec.payload_type).ok_or("bad payload type")?;
        let mut session_config = SessionConfig::new(codec, pt, n.remote, Ssrc(rand::random()));
        session_config.telephone_event_pt = n.telephone_event.and_then(PayloadType::new);
        session_config.recording = request.recording.clone();
        session_config.jitter_delay_ms = config.jitter_delay_ms;
        session_config.end_of_turn_silence_ms = config.end_of_turn_ms;
        let session =
            MediaSession::new(session_config, Instant::now().into_std()).map_err(|e| e.to_string())?;
        Ok((codec, session))
    });
    let (codec, session) = match media {
        Ok(m) => m,
        Err(reason) => {
            tracing::warn!(%reason, "media could not start; hanging up");
            let cause = runner.hang_up_and_wait(&mut placed).await;
            let mut report = CallReport::failed(format!("media: {reason}"));
            report.sip = SipResult::from_cause(&cause);
            return report;
        }
    };
    let media_cancel = runner.cancel.child_token();
    let running = media_core::driver::spawn(socket, session, media_cancel.clone());
    let mut conversation = Conversation::new(request.workflow.clone());
    let cause = runner
        .converse(
            &mut placed,
            running_parts(running),
            &mut conversation,
            greeting,
            first_words,
        )
        .await;
    let (cause, summary) = cause;
    let talk_ms = u64::try_from(answered_at.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (recording, media_report) = match summary {
        Some(s) => (
            s.recording.map(|r| r.path),
            Some(MediaReport {
                codec: codec.encoding_name().to_owned(),
                loss_pct: s.stats.loss_pct(),
                jitter_ms: s.stats.jitter_ms,
                packets_received: s.stats.packets_received,
                packets_sent: s.stats.packets_sent,
            }),
        ),
        None => (None, None),
    };
    CallReport {
        outcome: outcome_of(&cause, runner.local_end, false),
        sip: SipResult::from_cause(&cause),
        answered: true,
        talk_ms,
        transcript: conversation.transcript().to_vec(),
        form_fills: conversation.fields().clone(),
        summary: Some(conversation.summary()),
        recording,
        media: media_report,
        error: None,
    }
}

type MediaParts = (
    MediaHandle,
    mpsc::Receiver<MediaEvent>,
    tokio::task::JoinHandle<Result<media_core::SessionSummary, media_core::DriverError>>,
);

fn running_parts(r: RunningSession) -> MediaParts {
    (r.handle, r.events, r.task)
}

struct Runner<'a> {
    sip: &'a SipHandle,
    speech: &'a Speech,
    config: &'a RuntimeConfig,
    updates: mpsc::UnboundedSender<CallUpdate>,
    cancel: CancellationToken,
    handle: CallHandle,
    local_end: Option<LocalEnd>,
}

/// Results of background speech work, fed back into the conversation.
enum SpeechDone {
    Synthesized {
        id: SayId,
        audio: Result<Audio, String>,
    },
    Transcribed {
        text: Result<String, String>,
        start_ms: u64,
        end_ms: u64,
    },
}

impl Runner<'_> {
    /// Waits for the answer; returns the SDP answer, or how the call ended.
    async fn until_answered(&mut self, placed: &mut PlacedCall) -> Result<Vec<u8>, EndCause> {
        let ring_deadline = Instant::now() + self.config.ring_timeout;
        loop {
            tokio::select! {
                event = placed.events.recv() => match event {
                    Some(CallEvent::Progress { status, .. }) if status == 180 || status == 183 => {
                        let _ = self.updates.send(CallUpdate::Lifecycle(Lifecycle::Ringing));
                    }
                    Some(CallEvent::Progress { .. }) => {}
                    Some(CallEvent::Answered { sdp }) => {
                        if self.local_end.is_some() {
                            // Answered as we gave up: the SIP layer ends it with a BYE.
                            continue;
                        }
                        return Ok(sdp);
                    }
                    Some(CallEvent::Ended(cause)) => return Err(cause),
                    None => return Err(driver_gone()),
                },
                () = self.cancel.cancelled(), if self.local_end.is_none() => {
                    self.local_end = Some(LocalEnd::Canceled);
                    let _ = self.sip.hangup(self.handle).await;
                }
                () = tokio::time::sleep_until(ring_deadline), if self.local_end.is_none() => {
                    self.local_end = Some(LocalEnd::RingTimeout);
                    let _ = self.sip.hangup(self.handle).await;
                }
            }
        }
    }

    /// Hangs up and waits (bounded) for the SIP layer to confirm the end.
    async fn hang_up_and_wait(&mut self, placed: &mut PlacedCall) -> EndCause {
        let _ = self.sip.hangup(self.handle).await;
        let wait = tokio::time::timeout(Duration::from_secs(40), async {
            loop {
                match placed.events.recv().await {
                    Some(CallEvent::Ended(cause)) => return cause,
                    Some(_) => {}
                    None => return driver_gone(),
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

    /// The answered call: conversation turns until someone hangs up.
    async fn converse(
        &mut self,
        placed: &mut PlacedCall,
        (media, mut media_events, media_task): MediaParts,
        conversation: &mut Conversation,
        greeting: tokio::task::JoinHandle<Result<Audio, crate::speech::SpeechError>>,
        first_words: String,
    ) -> (EndCause, Option<media_core::SessionSummary>) {
        let started = Instant::now();
        let deadline = started + self.config.max_duration;
        let mut work: JoinSet<SpeechDone> = JoinSet::new();
        let mut durations: HashMap<SayId, u64> = HashMap::new();
        let mut greeting = Some((greeting, first_words));
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        let now_ms = |at: Instant| u64::try_from(at.duration_since(started).as_millis()).unwrap_or(u64::MAX);
        conversation.handle(Input::Answered { now_ms: 0 });
        let mut reported_turns = 0usize;
        let mut hanging_up = false;
        let cause = loop {
            // Carry out what the conversation asked for.
            while let Some(action) = conversation.poll_action() {
                match action {
                    Action::Say { id, text } => {
                        let pre_rendered = greeting.take_if(|(_, words)| *words == text).map(|(h, _)| h);
                        let tts = self.speech.tts.clone();
                        work.spawn(async move {
                            let audio = match pre_rendered {
                                Some(handle) => handle
                                    .await
                                    .map_err(|e| e.to_string())
                                    .and_then(|r| r.map_err(|e| e.to_string())),
                                None => tts.synthesize(&text).await.map_err(|e| e.to_string()),
                            };
                            SpeechDone::Synthesized { id, audio }
                        });
                    }
                    Action::Listen(on) => {
                        let _ = media.set_listening(on).await;
                    }
                    Action::Hangup { reason } => {
                        tracing::info!(reason, "agent hangs up");
                        hanging_up = true;
                        break_with_hangup(self.sip, self.handle).await;
                    }
                }
            }
            for turn in &conversation.transcript()[reported_turns..] {
                if turn.end_ms > turn.start_ms || turn.role == crate::transcript::Role::Caller {
                    let _ = self.updates.send(CallUpdate::Turn(turn.clone()));
                    reported_turns += 1;
                } else {
                    break;
                }
            }
            tokio::select! {
                event = placed.events.recv() => match event {
                    Some(CallEvent::Ended(cause)) => break cause,
                    Some(_) => {}
                    None => break driver_gone(),
                },
                Some(event) = media_events.recv() => match event {
                    MediaEvent::PlaybackFinished { id, played_ms, interrupted } => {
                        let id = SayId(id.0);
                        let total_ms = durations.get(&id).copied().unwrap_or(played_ms);
                        conversation.handle(Input::PlaybackFinished { id, played_ms, interrupted, total_ms, now_ms: now_ms(Instant::now()) });
                    }
                    MediaEvent::Utterance { start_ms, end_ms, samples_16k, .. } => {
                        let stt = self.speech.stt.clone();
                        work.spawn(async move {
                            let audio = Audio::new(SampleRate::HZ_16000, samples_16k);
                            let text = stt.transcribe(&audio).await.map_err(|e| e.to_string());
                            SpeechDone::Transcribed { text, start_ms, end_ms }
                        });
                    }
                    MediaEvent::SpeechStarted { .. } => conversation.handle(Input::CallerSpeaking { now_ms: now_ms(Instant::now()) }),
                    MediaEvent::SpeechDiscarded { .. } => conversation.handle(Input::CallerNoise { now_ms: now_ms(Instant::now()) }),
                    other => tracing::debug!(?other, "media event"),
                },
                Some(done) = work.join_next() => match done {
                    Ok(SpeechDone::Synthesized { id, audio: Ok(audio) }) => {
                        let audio = resample(&audio, SampleRate::HZ_8000);
                        durations.insert(id, audio.samples.len() as u64 / 8);
                        if media.play(UtteranceId(id.0), audio.samples).await.is_err() {
                            break driver_gone();
                        }
                    }
                    Ok(SpeechDone::Synthesized { id, audio: Err(err) }) => {
                        tracing::error!(%err, "speech synthesis failed; ending the call");
                        conversation.handle(Input::PlaybackFinished { id, played_ms: 0, interrupted: true, total_ms: 1, now_ms: now_ms(Instant::now()) });
                        hanging_up = true;
                        break_with_hangup(self.sip, self.handle).await;
                    }
                    Ok(SpeechDone::Transcribed { text, start_ms, end_ms }) => {
                        let text = text.unwrap_or_else(|err| {
                            tracing::warn!(%err, "transcription failed");
                            String::new()
                        });
                        tracing::info!(words = text.split_whitespace().count(), "caller said");
                        conversation.handle(Input::CallerSaid { text, start_ms, end_ms, now_ms: now_ms(Instant::now()) });
                    }
                    Err(err) => tracing::error!(%err, "speech task failed"),
                },
                _ = ticker.tick() => conversation.handle(Input::Tick { now_ms: now_ms(Instant::now()) }),
                () = self.cancel.cancelled(), if !hanging_up => {
                    self.local_end = Some(LocalEnd::Canceled);
                    hanging_up = true;
                    break_with_hangup(self.sip, self.handle).await;
                }
                () = tokio::time::sleep_until(deadline), if !hanging_up => {
                    tracing::info!("maximum call duration reached");
                    hanging_up = true;
                    break_with_hangup(self.sip, self.handle).await;
                }
            }
        };
        work.abort_all();
        let _ = media.stop().await;
        let summary = match media_task.await {
            Ok(Ok(summary)) => Some(summary),
            Ok(Err(err)) => {
                tracing::error!(%err, "media session failed");
                None
            }
            Err(err) => {
                tracing::error!(%err, "media task failed");
                None
            }
        };
        for turn in &conversation.transcript()[reported_turns..] {
            let _ = self.updates.send(CallUpdate::Turn(turn.clone()));
        }
        (cause, summary)
    }
}

async fn break_with_hangup(sip: &SipHandle, handle: CallHandle) {
    if let Err(err) = sip.hangup(handle).await {
        tracing::warn!(%err, "hangup failed");
    }
}

fn driver_gone() -> EndCause {
    EndCause {
        status: None,
        reason: "SIP driver stopped".to_owned(),
        by: HangupBy::Local,
        answered: false,
    }
}
