//! The answered call: moves events between the media session, the speech providers and the
//! conversation until someone hangs up, and measures each turn.

use super::continuation::{Continuation, TurnText};
use super::handoff::{BridgeTo, CallerLeg, Handoff, HandoffEnd};
use super::latency::{Probe, TurnLatency};
use super::speaker::{Finished, Part, Playbacks, Voice};
use super::{AmdRecord, CallUpdate, DtmfRecord, Speech, driver_gone};
use crate::conversation::{Action, Conversation, EndReason, Input, SayId, ThinkRequest, Thought, ThoughtId};
use crate::llm::{Delta, LlmClient, SentenceSplitter};
use crate::outcome::LocalEnd;
use crate::speech::{Audio, SampleRate};
use media_core::driver::{MediaHandle, RunningSession};
use media_core::{Codec, DriverError, MediaEvent, MediaUpdate, PayloadType, SessionSummary};
use sip_stack::driver::{PlacedCall, SipHandle};
use sip_stack::{CallEvent, CallHandle, EndCause};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long each key the agent presses sounds, in ms.
const DTMF_TONE_MS: u32 = 100;

/// How a conversation ended.
pub struct Ended {
    /// The SIP end.
    pub cause: EndCause,
    /// The media session's summary.
    pub media: Option<SessionSummary>,
    /// The conversation, for its transcript and fields.
    pub conversation: Conversation,
    /// Whether we ended it on purpose (canceled through the API).
    pub local_end: Option<LocalEnd>,
    /// Keys pressed and sent.
    pub dtmf: Vec<DtmfRecord>,
    /// Per-turn latency.
    pub latency: Vec<TurnLatency>,
    /// Why the agent hung up, if it did.
    pub end_reason: Option<EndReason>,
    /// The last answering-machine verdict.
    pub amd: Option<AmdRecord>,
}

/// What a model turn running in the background reports.
enum ThinkEvent {
    FirstToken { ms: u64 },
    Thought { id: ThoughtId, thought: Thought },
}

/// Streams one model turn, cut into sentences as they complete.
async fn think(
    client: LlmClient,
    id: ThoughtId,
    request: ThinkRequest,
    tx: mpsc::UnboundedSender<ThinkEvent>,
) {
    let started = Instant::now();
    let send = |thought| {
        let _ = tx.send(ThinkEvent::Thought { id, thought });
    };
    let mut stream = match client.stream(&request.messages, &request.tools).await {
        Ok(s) => s,
        Err(err) => return send(Thought::Failed(err.to_string())),
    };
    let mut splitter = SentenceSplitter::default();
    let mut first = true;
    while let Some(item) = stream.deltas.recv().await {
        if first && matches!(item, Ok(Delta::Text(_) | Delta::ToolCall(_))) {
            first = false;
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let _ = tx.send(ThinkEvent::FirstToken { ms });
        }
        match item {
            Ok(Delta::Text(text)) => splitter
                .push(&text)
                .into_iter()
                .for_each(|s| send(Thought::Sentence(s))),
            Ok(Delta::ToolCall(call)) => send(Thought::Tool(call)),
            // The token limit cut the last sentence: it is not said half.
            Ok(Delta::Truncated) => {
                splitter = SentenceSplitter::default();
            }
            Ok(Delta::Done) => break,
            Err(err) => {
                if let Some(rest) = splitter.finish() {
                    send(Thought::Sentence(rest));
                }
                return send(Thought::Failed(err.to_string()));
            }
        }
    }
    if let Some(rest) = splitter.finish() {
        send(Thought::Sentence(rest));
    }
    send(Thought::Done);
}

struct Transcribed {
    text: Result<String, String>,
    start_ms: u64,
    end_ms: u64,
    /// The greeting so far, transcribed at a pause for the answering-machine judge; not a turn.
    so_far: bool,
}

/// The longest pause inside an unfinished turn when no turn model says otherwise, ms.
const DEFAULT_MAX_PAUSE_MS: u64 = 2_000;

/// The loop's state.
pub struct Converse<'a> {
    sip: &'a SipHandle,
    speech: &'a Speech,
    updates: mpsc::UnboundedSender<CallUpdate>,
    cancel: CancellationToken,
    handle: CallHandle,
    media: MediaHandle,
    media_events: mpsc::Receiver<MediaEvent>,
    media_task: JoinHandle<Result<SessionSummary, DriverError>>,
    voice: Voice,
    parts: mpsc::UnboundedReceiver<Part>,
    playbacks: Playbacks,
    transcriptions: JoinSet<Transcribed>,
    thinking: Option<JoinHandle<()>>,
    thoughts_tx: mpsc::UnboundedSender<ThinkEvent>,
    thoughts: mpsc::UnboundedReceiver<ThinkEvent>,
    started: Instant,
    local_end: Option<LocalEnd>,
    dtmf: Vec<DtmfRecord>,
    latency: Vec<TurnLatency>,
    probe: Option<Probe>,
    /// The utterance whose first audio closes the probe.
    probe_say: Option<SayId>,
    hanging_up: bool,
    end_reason: Option<EndReason>,
    amd: Option<AmdRecord>,
    /// Where the `transfer` tool hands the call, if the call has a bridge number.
    bridge: Option<Bridge>,
    handoff: Option<Handoff>,
    /// The caller talks to the human now: the agent is out of the call.
    bridged: bool,
    /// When a bridge in place ends, whatever the parties do.
    bridged_until: Option<tokio::time::Instant>,
    /// The caller's unfinished turn, held until they finish it.
    continuation: Continuation,
    /// Speculative recognition: the turn so far, transcribed from its first pause. Used when the
    /// turn ends without more speech, dropped when the caller goes on.
    draft: Option<Draft>,
    /// Whether the greeting so far is being transcribed for the answering-machine judge.
    hearing_greeting: bool,
    /// Whether drafts are made at all.
    speculative_stt: bool,
}

/// A transcription started at a pause in the caller's turn.
struct Draft {
    start_ms: u64,
    end_ms: u64,
    task: JoinHandle<Result<String, String>>,
}

/// A bridge number and what a hand-off needs of the caller's leg.
pub struct Bridge {
    pub(super) to: BridgeTo,
    pub(super) caller: CallerLeg,
    /// How the human's leg binds its RTP and learns its address (`rtp_ip`, STUN).
    pub(super) media: super::RuntimeConfig,
    /// Longest the two parties stay bridged: a bridge costs two trunk legs for as long as it
    /// lasts, the agent's own limit no longer applies, and a free-running bridge between two
    /// numbers is the toll fraudster's product.
    pub(super) max_bridged: Duration,
}

/// The next event of the human's leg, or never when there is none.
async fn human_event(handoff: Option<&mut Handoff>) -> Option<CallEvent> {
    match handoff.and_then(Handoff::human) {
        Some(human) => human.events.recv().await,
        None => std::future::pending().await,
    }
}

impl<'a> Converse<'a> {
    /// Wires a running media session to the speech providers.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sip: &'a SipHandle,
        speech: &'a Speech,
        updates: mpsc::UnboundedSender<CallUpdate>,
        cancel: CancellationToken,
        handle: CallHandle,
        running: RunningSession,
        prerendered: JoinHandle<Vec<(String, Audio)>>,
        bridge: Option<Bridge>,
    ) -> Self {
        let (voice, parts) = Voice::start(speech.tts.clone(), Some(prerendered));
        let (thoughts_tx, thoughts) = mpsc::unbounded_channel();
        Self {
            sip,
            speech,
            updates,
            cancel,
            handle,
            media: running.handle,
            media_events: running.events,
            media_task: running.task,
            voice,
            parts,
            playbacks: Playbacks::default(),
            transcriptions: JoinSet::new(),
            thinking: None,
            thoughts_tx,
            thoughts,
            started: Instant::now(),
            local_end: None,
            dtmf: Vec::new(),
            latency: Vec::new(),
            probe: None,
            probe_say: None,
            hanging_up: false,
            end_reason: None,
            amd: None,
            bridge,
            handoff: None,
            bridged: false,
            bridged_until: None,
            draft: None,
            hearing_greeting: false,
            speculative_stt: true,
            continuation: Continuation::new(
                speech
                    .turn
                    .as_ref()
                    .map_or(DEFAULT_MAX_PAUSE_MS, |t| t.timing().max_pause_ms),
            ),
        }
    }

    /// Answers no caller turn before they have been quiet `ms` after it (see
    /// [`Continuation::with_patience`]); the default is 0.
    pub fn with_turn_patience(mut self, ms: u64) -> Self {
        self.continuation = self.continuation.with_patience(ms);
        self
    }

    /// Whether speech-to-text starts at the caller's first pause (the default) or at the end of
    /// their turn.
    pub fn with_speculative_stt(mut self, on: bool) -> Self {
        self.speculative_stt = on;
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs the conversation to the end of the call.
    pub async fn run(mut self, placed: &mut PlacedCall, mut conversation: Conversation) -> Ended {
        // Listen from the start: barge-in needs to hear the caller while the agent talks.
        let _ = self.media.set_listening(true).await;
        conversation.handle(Input::Answered { now_ms: 0 });
        // A hard stop a little after the workflow's own limit, in case the polite end cannot play.
        let deadline = self.started
            + Duration::from_secs(u64::from(conversation.workflow().max_duration_secs))
            + Duration::from_secs(15);
        let mut ticker = tokio::time::interval(Duration::from_millis(100));
        let cause = loop {
            self.carry_out(&mut conversation).await;
            let handoff_deadline = self.handoff.as_ref().and_then(Handoff::deadline);
            tokio::select! {
                event = placed.events.recv() => match event {
                    Some(CallEvent::Ended(cause)) => break cause,
                    Some(event) => match self.handoff.as_mut() {
                        Some(handoff) => {
                            if let Some(end) = handoff.on_caller_event(self.sip, &event).await {
                                self.handoff_ended(end, &mut conversation).await;
                            }
                        }
                        None => self.on_call_event(event).await,
                    },
                    None => break driver_gone(true),
                },
                event = human_event(self.handoff.as_mut()), if self.handoff.is_some() => {
                    if let Some(handoff) = self.handoff.as_mut()
                        && let Some(end) = handoff.on_human_event(self.sip, event).await
                    {
                        self.handoff_ended(end, &mut conversation).await;
                    }
                }
                () = tokio::time::sleep_until(handoff_deadline.unwrap_or(deadline)), if handoff_deadline.is_some() => {
                    if let Some(handoff) = self.handoff.as_mut() {
                        let end = handoff.on_deadline(self.sip).await;
                        self.handoff_ended(end, &mut conversation).await;
                    }
                }
                Some(event) = self.media_events.recv() => self.on_media(event, &mut conversation),
                Some(part) = self.parts.recv() => self.on_part(part, &mut conversation).await,
                Some(event) = self.thoughts.recv() => match event {
                    ThinkEvent::FirstToken { ms, .. } => {
                        if let Some(probe) = self.probe.as_mut() {
                            probe.llm_first_token_ms = ms;
                        }
                    }
                    ThinkEvent::Thought { id, thought } => {
                        conversation.handle(Input::Thought { id, thought, now_ms: self.now_ms() });
                    }
                },
                Some(done) = self.transcriptions.join_next() => match done {
                    Ok(t) => self.on_transcript(t, &mut conversation),
                    Err(err) => tracing::error!(%err, "transcription task failed"),
                },
                _ = ticker.tick() => {
                    if let Some(turn) = self.continuation.due(self.now_ms()) {
                        self.caller_said(turn, &mut conversation);
                    }
                    conversation.handle(Input::Tick { now_ms: self.now_ms() });
                }
                () = self.cancel.cancelled(), if !self.hanging_up => {
                    self.local_end = Some(LocalEnd::Canceled);
                    self.hang_up().await;
                }
                // Once bridged, the call is the human's: the agent's time limit no longer applies,
                // the bridge's own does.
                () = tokio::time::sleep_until(deadline), if !self.hanging_up && !self.bridged => {
                    tracing::warn!("hard call duration limit reached");
                    self.end_reason = Some(EndReason::MaxDuration);
                    self.hang_up().await;
                }
                () = tokio::time::sleep_until(self.bridged_until.unwrap_or(deadline)),
                    if !self.hanging_up && self.bridged_until.is_some() =>
                {
                    tracing::warn!("bridged call duration limit reached; hanging up both legs");
                    self.hang_up().await;
                }
            }
        };
        self.transcriptions.abort_all();
        if let Some(draft) = self.draft.take() {
            draft.task.abort();
        }
        if let Some(task) = self.thinking.take() {
            task.abort();
        }
        let _ = self.media.stop().await;
        let media = match (&mut self.media_task).await {
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
        let amd = conversation.amd_judgement().map(AmdRecord::judged).or(self.amd);
        Ended {
            cause,
            media,
            conversation,
            local_end: self.local_end,
            dtmf: self.dtmf,
            latency: self.latency,
            end_reason: self.end_reason,
            amd,
        }
    }

    /// Does what the conversation asked for.
    async fn carry_out(&mut self, conversation: &mut Conversation) {
        while let Some(action) = conversation.poll_action() {
            match action {
                Action::Say { id, text } => {
                    if self.probe.as_ref().is_some_and(|p| p.transcript_at.is_some())
                        && self.probe_say.is_none()
                    {
                        self.probe_say = Some(id);
                    }
                    self.playbacks.start(id, &text);
                    self.voice.say(id, text);
                }
                Action::Think { id, request } => {
                    if let Some(task) = self.thinking.take() {
                        task.abort();
                    }
                    match self.speech.llm.clone() {
                        Some(client) => {
                            self.thinking =
                                Some(tokio::spawn(think(client, id, request, self.thoughts_tx.clone())));
                        }
                        None => {
                            let thought = Thought::Failed("no language model is configured".to_owned());
                            conversation.handle(Input::Thought {
                                id,
                                thought,
                                now_ms: self.now_ms(),
                            });
                        }
                    }
                }
                Action::StopSpeaking => {
                    // The rest of a model turn would only be dropped: stop writing it.
                    if let Some(task) = self.thinking.take() {
                        task.abort();
                    }
                    self.voice.cut();
                    let _ = self.media.flush().await;
                    for f in self.playbacks.cut_all() {
                        self.finished(conversation, f);
                    }
                }
                Action::SendDtmf { digits } => {
                    tracing::info!(digits = digits.len(), "pressing keys");
                    let at_ms = self.now_ms();
                    for digit in digits.chars() {
                        let record = DtmfRecord {
                            digit: digit.to_string(),
                            at_ms,
                            direction: "sent".to_owned(),
                        };
                        let _ = self.updates.send(CallUpdate::Dtmf(record.clone()));
                        self.dtmf.push(record);
                    }
                    // RFC 4733 events when the callee negotiated telephone-event, in-band tones
                    // otherwise; 100 ms per key, as IVRs expect from a person.
                    if let Err(err) = self.media.send_dtmf(&digits, DTMF_TONE_MS).await {
                        tracing::warn!(%err, "keys could not be sent");
                    }
                }
                Action::Transfer => self.start_handoff(conversation).await,
                Action::Hangup { reason } => {
                    tracing::info!(reason = reason.as_str(), "agent hangs up");
                    self.end_reason = Some(reason);
                    self.hang_up().await;
                }
            }
        }
    }

    fn on_media(&mut self, event: MediaEvent, conversation: &mut Conversation) {
        let now_ms = self.now_ms();
        match event {
            MediaEvent::PlaybackFinished {
                id,
                played_ms,
                interrupted,
            } => {
                if let Some(f) = self.playbacks.played(id, played_ms, interrupted) {
                    self.finished(conversation, f);
                }
            }
            MediaEvent::PlaybackStarted { id, at_ms } => {
                // Turn times follow the audio on the wire (the recording's timeline), not the
                // moment an utterance was queued behind another.
                if let Some(say) = Playbacks::first_part_of(id) {
                    conversation.started_playing(say, at_ms);
                }
            }
            MediaEvent::SpeechStarted { .. } => {
                self.continuation.caller_started();
                conversation.handle(Input::CallerSpeaking { now_ms });
            }
            MediaEvent::SpeechDiscarded { .. } => {
                self.continuation.caller_discarded();
                conversation.handle(Input::CallerNoise { now_ms });
            }
            MediaEvent::TurnPaused {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => {
                // While the cadence suspects a machine, its greeting so far goes to the judge: a
                // recording's language confirms it long before the greeting ends. One at a time.
                if conversation.suspects_machine() && !self.hearing_greeting {
                    self.hearing_greeting = true;
                    let stt = self.speech.stt.clone();
                    let audio = Audio::new(SampleRate::HZ_16000, samples_16k.clone());
                    self.transcriptions.spawn(async move {
                        let text = stt.transcribe(&audio).await.map_err(|e| e.to_string());
                        Transcribed {
                            text,
                            start_ms,
                            end_ms,
                            so_far: true,
                        }
                    });
                }
                // One draft at a time: a newer pause waits for the turn's end instead.
                if !self.speculative_stt || self.draft.as_ref().is_some_and(|d| !d.task.is_finished()) {
                    return;
                }
                let stt = self.speech.stt.clone();
                let hints = conversation.stt_hints();
                let task = tokio::spawn(async move {
                    let audio = Audio::new(SampleRate::HZ_16000, samples_16k);
                    stt.transcribe_with(&audio, &hints)
                        .await
                        .map_err(|e| e.to_string())
                });
                if let Some(old) = self.draft.replace(Draft {
                    start_ms,
                    end_ms,
                    task,
                }) {
                    old.task.abort();
                }
            }
            MediaEvent::Utterance {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => {
                self.continuation.turn_ended();
                let speech_end = self.started + Duration::from_millis(end_ms);
                self.probe = Some(Probe {
                    speech_end: speech_end.min(Instant::now()),
                    utterance_at: Instant::now(),
                    transcript_at: None,
                    llm_first_token_ms: 0,
                    tts: None,
                });
                self.probe_say = None;
                match self.draft.take() {
                    // The caller said nothing more since the pause: the draft is this turn's words.
                    Some(draft) if draft.start_ms == start_ms && draft.end_ms == end_ms => {
                        self.transcriptions.spawn(async move {
                            let text = draft.task.await.unwrap_or_else(|e| Err(e.to_string()));
                            Transcribed {
                                text,
                                start_ms,
                                end_ms,
                                so_far: false,
                            }
                        });
                        return;
                    }
                    Some(stale) => stale.task.abort(),
                    None => {}
                }
                let stt = self.speech.stt.clone();
                // What the turn is expected to contain (names, offered options), to bias the
                // recognizer; taken now, while the conversation still waits for this answer.
                let hints = conversation.stt_hints();
                self.transcriptions.spawn(async move {
                    let audio = Audio::new(SampleRate::HZ_16000, samples_16k);
                    let text = stt
                        .transcribe_with(&audio, &hints)
                        .await
                        .map_err(|e| e.to_string());
                    Transcribed {
                        text,
                        start_ms,
                        end_ms,
                        so_far: false,
                    }
                });
            }
            MediaEvent::Dtmf { digit, at_ms, .. } => {
                let record = DtmfRecord {
                    digit: digit.to_string(),
                    at_ms,
                    direction: "received".to_owned(),
                };
                let _ = self.updates.send(CallUpdate::Dtmf(record.clone()));
                self.dtmf.push(record);
                conversation.handle(Input::Dtmf { digit, now_ms });
            }
            MediaEvent::Amd {
                verdict,
                confidence_pct,
                decided_ms,
            } => {
                tracing::info!(
                    verdict = verdict.as_str(),
                    confidence_pct,
                    decided_ms,
                    "answering-machine verdict"
                );
                // The audio's verdict; the call's own weighs the greeting's words too (see
                // `crate::amd`) and replaces it when there is one.
                self.amd = Some(AmdRecord::new(verdict, confidence_pct, decided_ms));
                conversation.handle(Input::Amd {
                    verdict,
                    confidence: f32::from(confidence_pct) / 100.0,
                    now_ms,
                });
            }
            MediaEvent::Beep { start_ms, end_ms, hz } => {
                tracing::info!(start_ms, end_ms, hz, "beep");
                conversation.handle(Input::Beep { now_ms });
            }
            other => tracing::debug!(?other, "media event"),
        }
    }

    fn on_transcript(&mut self, t: Transcribed, conversation: &mut Conversation) {
        let text = t.text.unwrap_or_else(|err| {
            tracing::warn!(%err, "transcription failed");
            String::new()
        });
        if t.so_far {
            self.hearing_greeting = false;
        }
        // The answering-machine judge hears the words now, not when the turn is known to be over.
        conversation.handle(Input::GreetingSoFar {
            text: text.clone(),
            speech_ms: t.end_ms.saturating_sub(t.start_ms),
            complete: !t.so_far,
            now_ms: self.now_ms(),
        });
        if t.so_far {
            return;
        }
        tracing::info!(words = text.split_whitespace().count(), "caller said");
        let part = TurnText {
            text,
            start_ms: t.start_ms,
            end_ms: t.end_ms,
        };
        if let Some(turn) = self.continuation.transcript(part, self.now_ms()) {
            self.caller_said(turn, conversation);
        }
    }

    /// The caller's turn, finished, goes to the conversation.
    fn caller_said(&mut self, t: TurnText, conversation: &mut Conversation) {
        let text = t.text;
        if let Some(probe) = self.probe.as_mut() {
            probe.transcript_at = Some(Instant::now());
        }
        conversation.handle(Input::CallerSaid {
            text,
            start_ms: t.start_ms,
            end_ms: t.end_ms,
            now_ms: self.now_ms(),
        });
        if let Some(turn) = conversation.last_caller_turn()
            && turn.end_ms == t.end_ms
        {
            let _ = self.updates.send(CallUpdate::Turn(turn.clone()));
        }
    }

    async fn on_part(&mut self, part: Part, conversation: &mut Conversation) {
        let say = part.say;
        let (first, rendered) = (part.index == 0, part.rendered);
        let mut failed = false;
        let Some((id, samples)) = self
            .playbacks
            .rendered(part, self.voice.generation(), &mut failed)
        else {
            if failed {
                if let Some(f) = self.playbacks.abandon(say) {
                    self.finished(conversation, f);
                }
                self.end_reason = Some(EndReason::Error);
                self.hang_up().await;
            }
            return;
        };
        if first
            && self.probe_say == Some(say)
            && let Some(probe) = self.probe.as_mut()
        {
            probe.tts = Some(rendered);
        }
        if self.media.play(id, samples).await.is_err() {
            tracing::error!("media session gone");
            return;
        }
        if first && self.probe_say == Some(say) {
            if let Some(latency) = self.probe.take().and_then(|p| p.finish(Instant::now())) {
                tracing::info!(?latency, "turn latency");
                self.latency.push(latency);
            }
            self.probe_say = None;
        }
    }

    /// An utterance is over (played, cut, or never rendered): tell the conversation and report
    /// the turn as it was heard.
    fn finished(&self, conversation: &mut Conversation, f: Finished) {
        conversation.handle(Input::PlaybackFinished {
            id: f.say,
            played_ms: f.played_ms,
            interrupted: f.interrupted,
            total_ms: f.total_ms,
            now_ms: self.now_ms(),
        });
        if let Some(turn) = conversation.turn_for(f.say) {
            let _ = self.updates.send(CallUpdate::Turn(turn));
        }
    }

    /// In-dialog news from the SIP side: a renegotiation (hold, resume, a new address or codec)
    /// is followed by the media session.
    async fn on_call_event(&mut self, event: CallEvent) {
        let CallEvent::MediaChanged { media } = event else {
            return;
        };
        let (Some(codec), Some(payload_type)) = (
            Codec::from_encoding_name(&media.codec.encoding),
            PayloadType::new(media.codec.payload_type),
        ) else {
            tracing::warn!(codec = %media.codec.encoding, "renegotiated to a codec we cannot run");
            return;
        };
        let update = MediaUpdate {
            remote: media.remote,
            codec,
            payload_type,
            telephone_event_pt: media.telephone_event.and_then(PayloadType::new),
            sending: media.direction.receives(),
        };
        tracing::info!(remote = %update.remote, sending = update.sending, "media renegotiated");
        let _ = self.media.update_media(update).await;
    }

    /// The `transfer` tool: call the human (or REFER the caller to them).
    async fn start_handoff(&mut self, conversation: &mut Conversation) {
        let Some(bridge) = &self.bridge else {
            tracing::warn!("transfer requested but the call has no bridge number");
            conversation.handle(Input::TransferResult {
                connected: false,
                now_ms: self.now_ms(),
            });
            return;
        };
        tracing::info!(mode = ?bridge.to.mode, "handing the call to a human");
        match Handoff::start(self.sip, bridge.caller.clone(), &bridge.to, &bridge.media).await {
            Ok(handoff) => self.handoff = Some(handoff),
            Err(reason) => self.handoff_ended(HandoffEnd::Failed(reason), conversation).await,
        }
    }

    async fn handoff_ended(&mut self, end: HandoffEnd, conversation: &mut Conversation) {
        let connected = end == HandoffEnd::Connected;
        if connected {
            tracing::info!("the human has the call");
            self.bridged = true;
            self.bridged_until = self
                .bridge
                .as_ref()
                .map(|b| tokio::time::Instant::now() + b.max_bridged);
            self.end_reason = Some(EndReason::Transferred);
            // Our media is out of the path now (or our leg is about to end): close the recording.
            let _ = self.media.stop().await;
        } else {
            // The human's leg (if any) is over; a bridged leg stays to drain its events.
            self.handoff = None;
        }
        conversation.handle(Input::TransferResult {
            connected,
            now_ms: self.now_ms(),
        });
    }

    async fn hang_up(&mut self) {
        if self.hanging_up {
            return;
        }
        self.hanging_up = true;
        if let Err(err) = self.sip.hangup(self.handle).await {
            tracing::warn!(%err, "hangup failed");
        }
    }
}
