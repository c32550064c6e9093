//! The answered call: moves events between the media session, the speech providers and the
//! conversation until someone hangs up, and measures each turn.

use super::latency::{Probe, TurnLatency};
use super::speaker::{Finished, Part, Playbacks, Voice};
use super::{AmdRecord, CallUpdate, DtmfRecord, Speech, driver_gone};
use crate::conversation::{Action, Conversation, EndReason, Input, SayId, ThinkRequest, Thought, ThoughtId};
use crate::llm::{Delta, LlmClient, SentenceSplitter};
use crate::outcome::LocalEnd;
use crate::speech::{Audio, SampleRate};
use media_core::analysis::Verdict;
use media_core::driver::{MediaHandle, RunningSession};
use media_core::{DriverError, MediaEvent, SessionSummary};
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
}

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
        }
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
            tokio::select! {
                event = placed.events.recv() => match event {
                    Some(CallEvent::Ended(cause)) => break cause,
                    Some(_) => {}
                    None => break driver_gone(true),
                },
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
                _ = ticker.tick() => conversation.handle(Input::Tick { now_ms: self.now_ms() }),
                () = self.cancel.cancelled(), if !self.hanging_up => {
                    self.local_end = Some(LocalEnd::Canceled);
                    self.hang_up().await;
                }
                () = tokio::time::sleep_until(deadline), if !self.hanging_up => {
                    tracing::warn!("hard call duration limit reached");
                    self.end_reason = Some(EndReason::MaxDuration);
                    self.hang_up().await;
                }
            }
        };
        self.transcriptions.abort_all();
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
        Ended {
            cause,
            media,
            conversation,
            local_end: self.local_end,
            dtmf: self.dtmf,
            latency: self.latency,
            end_reason: self.end_reason,
            amd: self.amd,
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
                Action::Transfer => {
                    tracing::warn!("transfer requested but no bridge is available; ending the call");
                    self.end_reason = Some(EndReason::Completed);
                    self.hang_up().await;
                }
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
            MediaEvent::SpeechStarted { .. } => conversation.handle(Input::CallerSpeaking { now_ms }),
            MediaEvent::SpeechDiscarded { .. } => conversation.handle(Input::CallerNoise { now_ms }),
            MediaEvent::Utterance {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => {
                let speech_end = self.started + Duration::from_millis(end_ms);
                self.probe = Some(Probe {
                    speech_end: speech_end.min(Instant::now()),
                    utterance_at: Instant::now(),
                    transcript_at: None,
                    llm_first_token_ms: 0,
                    tts: None,
                });
                self.probe_say = None;
                let stt = self.speech.stt.clone();
                self.transcriptions.spawn(async move {
                    let audio = Audio::new(SampleRate::HZ_16000, samples_16k);
                    let text = stt.transcribe(&audio).await.map_err(|e| e.to_string());
                    Transcribed {
                        text,
                        start_ms,
                        end_ms,
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
                self.amd = Some(AmdRecord::new(verdict, confidence_pct, decided_ms));
                if verdict == Verdict::Machine {
                    conversation.handle(Input::Machine { now_ms });
                }
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
        tracing::info!(words = text.split_whitespace().count(), "caller said");
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
        if first {
            conversation.started_playing(say, self.now_ms());
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
