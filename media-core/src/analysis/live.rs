//! [`LiveAnalysis`]: the [`Analyzer`] as a call's ear, turning its findings into the
//! [`MediaEvent`]s the agent runtime acts on.
//!
//! The analyzer says *when* the caller spoke; speech-to-text needs the audio of the whole turn.
//! So the caller's 8 kHz frames also go into a ring that holds the longest turn, and at the end
//! of a turn (Silero's end-of-turn silence) the turn is cut out of the ring, pre-roll and
//! post-roll included, and upsampled once to 16 kHz. Nothing allocates per frame: the ring is
//! sized in [`LiveAnalysis::new`]; each finished turn is copied out once.
//!
//! Mapping: the start of a turn (or a barge-in) is `SpeechStarted`. While the agent speaks, a
//! start is only a barge-in: speech shorter than the endpointer's `barge_in_ms` (a backchannel,
//! a cough) is not announced, so it does not stop the agent; it is still handed over at its end,
//! for its words to decide, and announced when the agent falls silent while it goes on. The
//! end of a turn is
//! `Utterance`; digits (in-band and RFC 4733, merged) are `Dtmf`; a finished beep is `Beep`; each
//! AMD verdict (and revision) is `Amd`. With listening off, speech is not reported (digits,
//! beeps and AMD still are).

use std::collections::VecDeque;

use crate::analysis::amd::Verdict;

/// How often the speech so far of a greeting the answering-machine detector calls a machine is
/// handed over while it goes on (see [`MediaEvent::TurnPaused`]), ms: the runtime listens for a
/// recording's language in it rather than wait for the end of a long greeting.
pub const GREETING_SO_FAR_EVERY_MS: u64 = 1_000;

/// How long the agent's audio must have stopped before it has fallen silent, ms: the pacer runs
/// dry for a tick or two between queued utterances (the disclosure and the question, sentences
/// synthesised one at a time), and a backchannel heard across such a gap must not become the
/// caller's turn.
pub const AGENT_GAP_MS: u64 = 300;
use crate::analysis::analyzer::{AnalysisError, AnalysisEvent, Analyzer, AnalyzerConfig};
use crate::analysis::mel::WINDOW_SAMPLES;
use crate::analysis::turn::{TurnJob, TurnService};
use crate::analysis::vad::VadService;
use crate::event::MediaEvent;
use crate::frame::{FRAME_MS, FRAME_SAMPLES, FRAME_SAMPLES_16K, Frame, SILENCE};
use crate::resample::{Frame16k, ResampleError, Upsampler};

/// Settings of a [`LiveAnalysis`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveAnalysisConfig {
    /// The analyzer (rate must be 8 kHz: the session's frames are).
    pub analyzer: AnalyzerConfig,
    /// Audio kept before a turn's detected start, in ms.
    pub pre_roll_ms: u64,
    /// Audio kept after a turn's detected end, in ms.
    pub post_roll_ms: u64,
    /// Longest turn; a longer one is handed over in pieces of this length.
    pub max_turn_ms: u64,
}

impl Default for LiveAnalysisConfig {
    fn default() -> Self {
        LiveAnalysisConfig {
            analyzer: AnalyzerConfig::default(),
            pre_roll_ms: 200,
            post_roll_ms: 150,
            max_turn_ms: 30_000,
        }
    }
}

/// Why live analysis could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveAnalysisError {
    /// The analyzer settings are unusable.
    #[error(transparent)]
    Analyzer(#[from] AnalysisError),
    /// Sessions carry 8 kHz frames.
    #[error("live analysis runs at 8 kHz, not {0} Hz")]
    Rate(u32),
    /// The upsampler could not be built.
    #[error("upsampler: {0}")]
    Resample(#[from] ResampleError),
}

/// The audio intelligence of one live call. See the module docs.
pub struct LiveAnalysis {
    analyzer: Analyzer,
    vad: Option<Box<dyn VadService>>,
    turn: Option<Box<dyn TurnService>>,
    /// The caller's last frames, indexed by frame number modulo its length.
    ring: Box<[i16]>,
    ring_frames: u64,
    /// Frame number of the next frame written (media time / 20 ms).
    next_frame: u64,
    /// Frame number of the first frame written.
    first_frame: Option<u64>,
    turn_start_ms: Option<u64>,
    /// The open turn has been reported as `SpeechStarted` (not yet when it began over the agent).
    turn_announced: bool,
    /// The agent is speaking (the pacer is playing).
    agent_speaking: bool,
    /// The agent's audio stopped at the last frame handed in (its media time is set there).
    agent_just_stopped: bool,
    /// When the agent's audio last stopped (`None`: speaking, or it has not spoken yet).
    agent_stopped_at_ms: Option<u64>,
    /// The turn in which the answering-machine detector said "machine" (its start) and when
    /// its speech so far was last handed over: again every [`GREETING_SO_FAR_EVERY_MS`] while
    /// it goes on.
    greeting_so_far: Option<(u64, u64)>,
    listening: bool,
    config: LiveAnalysisConfig,
    events: VecDeque<MediaEvent>,
}

impl std::fmt::Debug for LiveAnalysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAnalysis")
            .field("config", &self.config)
            .field("silero_attached", &self.vad.is_some())
            .field("turn_model_attached", &self.turn.is_some())
            .field("turn_start_ms", &self.turn_start_ms)
            .field("listening", &self.listening)
            .finish_non_exhaustive()
    }
}

impl LiveAnalysis {
    /// Builds the analysis of one call. Without [`attach_vad`](Self::attach_vad), Silero jobs
    /// are never answered and the webrtc-vad gate decides alone.
    pub fn new(config: LiveAnalysisConfig) -> Result<Self, LiveAnalysisError> {
        let rate = config.analyzer.rate.hz();
        if rate != 8000 {
            return Err(LiveAnalysisError::Rate(rate));
        }
        // Checked here, not at the first turn, so a bad build fails the call set-up.
        Upsampler::new()?;
        let frame_ms = u64::from(FRAME_MS);
        let ring_frames = (config.max_turn_ms + config.pre_roll_ms + config.post_roll_ms + 1_000)
            .div_ceil(frame_ms)
            .max(1);
        Ok(LiveAnalysis {
            analyzer: Analyzer::new(config.analyzer)?,
            vad: None,
            turn: None,
            ring: vec![0; ring_frames as usize * FRAME_SAMPLES].into_boxed_slice(),
            ring_frames,
            next_frame: 0,
            first_frame: None,
            turn_start_ms: None,
            turn_announced: false,
            agent_speaking: false,
            agent_just_stopped: false,
            agent_stopped_at_ms: None,
            greeting_so_far: None,
            listening: true,
            config,
            events: VecDeque::with_capacity(16),
        })
    }

    /// Sends this call's Silero jobs to `vad` (the process's batching worker).
    pub fn attach_vad(&mut self, vad: Box<dyn VadService>) {
        self.vad = Some(vad);
    }

    /// Sends this call's end-of-turn questions to `turn` (the process's Smart Turn worker). Only
    /// useful with `analyzer.endpoint.turn_model` set; without it the silence rule ends turns.
    pub fn attach_turn_model(&mut self, turn: Box<dyn TurnService>) {
        self.turn = Some(turn);
    }

    /// The caller's frame that starts at media time `at_ms` (a multiple of 20 ms).
    pub fn process(&mut self, at_ms: u64, frame: &Frame) {
        let number = at_ms / u64::from(FRAME_MS);
        if self.first_frame.is_none() {
            self.first_frame = Some(number);
            self.next_frame = number;
        }
        // Frames come one per tick; a skipped one is stored as silence.
        while self.next_frame < number {
            self.store(self.next_frame, &SILENCE);
            self.next_frame += 1;
        }
        if number >= self.next_frame {
            self.store(number, frame);
            self.next_frame = number + 1;
        }
        if let Err(err) = self.analyzer.push_frame(at_ms, frame) {
            tracing::debug!(error = %err, "frame not analysed");
        }
        self.exchange_vad();
        self.collect_turn_verdicts(at_ms + u64::from(FRAME_MS));
        if std::mem::take(&mut self.agent_just_stopped) {
            self.agent_stopped_at_ms = Some(at_ms);
        }
        self.translate(at_ms);
        self.announce_after_the_agent(at_ms);
        self.cut_overlong_turn(at_ms + u64::from(FRAME_MS));
    }

    /// Whether the agent is speaking now (barge-in needs it). When the agent has fallen silent
    /// ([`AGENT_GAP_MS`]) while the caller's unannounced speech goes on, that speech is announced:
    /// it is the caller's turn from there.
    pub fn set_agent_speaking(&mut self, speaking: bool) {
        self.analyzer.set_agent_speaking(speaking);
        if speaking {
            self.agent_stopped_at_ms = None;
        }
        self.agent_just_stopped = self.agent_speaking && !speaking;
        self.agent_speaking = speaking;
    }

    /// The agent is speaking, or stopped less than [`AGENT_GAP_MS`] before `now_ms`.
    fn agent_holds_the_floor(&self, now_ms: u64) -> bool {
        self.agent_speaking
            || self
                .agent_stopped_at_ms
                .is_some_and(|t| now_ms < t + AGENT_GAP_MS)
    }

    /// Announces the caller's turn that began over the agent, once the agent has fallen silent.
    fn announce_after_the_agent(&mut self, now_ms: u64) {
        if self.listening
            && !self.turn_announced
            && !self.agent_holds_the_floor(now_ms)
            && let Some(at_ms) = self.turn_start_ms
        {
            self.turn_announced = true;
            self.events.push_back(MediaEvent::SpeechStarted { at_ms });
        }
    }

    /// A telephone-event digit, merged with in-band detection so it is reported once.
    pub fn rfc4733_digit(&mut self, digit: char, start_ms: u64, end_ms: u64) {
        self.analyzer.rfc4733_digit(digit, start_ms, end_ms);
        self.translate(end_ms);
    }

    /// Turns the reporting of speech on or off; a turn in progress when it goes off is reported
    /// as discarded.
    pub fn set_listening(&mut self, listening: bool, now_ms: u64) {
        if !listening && let Some(start_ms) = self.turn_start_ms.take() {
            self.events.push_back(MediaEvent::SpeechDiscarded {
                start_ms,
                end_ms: now_ms,
            });
        }
        self.listening = listening;
    }

    /// The AMD transcript hook (see [`Analyzer::offer_transcript`]).
    pub fn offer_transcript(&mut self, at_ms: u64, verdict: Verdict, confidence: f32) {
        self.analyzer.offer_transcript(at_ms, verdict, confidence);
        self.translate(at_ms);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Silero chunks sent to the worker and decided by it, and those the gate decided alone.
    pub fn vad_stats(&self) -> crate::analysis::vad::VadStats {
        self.analyzer.vad_stats()
    }

    fn store(&mut self, number: u64, frame: &Frame) {
        let slot = (number % self.ring_frames) as usize * FRAME_SAMPLES;
        self.ring[slot..slot + FRAME_SAMPLES].copy_from_slice(frame);
    }

    /// Answers in, then the next job out: one job per call is out at a time.
    fn exchange_vad(&mut self) {
        let Some(vad) = self.vad.as_ref() else {
            return;
        };
        while let Some(job) = vad.try_recv() {
            self.analyzer.handle_vad_result(&job);
        }
        if let Some(job) = self.analyzer.poll_vad_job() {
            // A full worker queue drops the job; the gate decides those chunks.
            let _ = vad.submit(job);
        }
    }

    fn collect_turn_verdicts(&mut self, now_ms: u64) {
        let Some(turn) = self.turn.as_ref() else {
            return;
        };
        while let Some(answer) = turn.try_recv() {
            if let Some(complete) = answer.complete {
                self.analyzer.turn_verdict(answer.seq, complete, now_ms);
            }
        }
    }

    /// Sends the open turn's audio, up to now and at most the model's window, to the turn model.
    fn ask_turn_model(&mut self, seq: u64, now_ms: u64) {
        let (Some(turn), Some(start_ms)) = (self.turn.as_ref(), self.turn_start_ms) else {
            return;
        };
        let frame_ms = u64::from(FRAME_MS);
        let window_ms = (WINDOW_SAMPLES / 16) as u64;
        let oldest = self.oldest_frame();
        let from = (start_ms.saturating_sub(self.config.pre_roll_ms) / frame_ms)
            .max(now_ms.saturating_sub(window_ms) / frame_ms)
            .max(oldest);
        let to = self.next_frame;
        if to <= from {
            return;
        }
        match self.upsample(from, to) {
            Ok(samples) => {
                let audio_16k = samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
                // A full queue drops the question; the silence rule ends this pause.
                let _ = turn.submit(TurnJob { seq, audio_16k });
            }
            Err(err) => tracing::debug!(error = %err, "turn audio not upsampled"),
        }
    }

    /// The turn's speech so far up to `now_ms`, as a [`MediaEvent::TurnPaused`].
    fn hand_over_so_far(&mut self, start_ms: u64, now_ms: u64) {
        if self.listening
            && let Some((audio_start_ms, samples_16k)) = self.cut(start_ms, now_ms, now_ms)
        {
            self.events.push_back(MediaEvent::TurnPaused {
                start_ms,
                end_ms: now_ms,
                audio_start_ms,
                samples_16k,
            });
        }
    }

    fn translate(&mut self, now_ms: u64) {
        self.translate_events(now_ms);
        // A long greeting the detector calls a machine: its words so far, every so often.
        if let Some((start_ms, last_ms)) = self.greeting_so_far
            && self.turn_start_ms == Some(start_ms)
            && now_ms >= last_ms + GREETING_SO_FAR_EVERY_MS
        {
            self.greeting_so_far = Some((start_ms, now_ms));
            self.hand_over_so_far(start_ms, now_ms);
        }
    }

    fn translate_events(&mut self, now_ms: u64) {
        while let Some(event) = self.analyzer.poll_event() {
            match event {
                AnalysisEvent::SpeechStarted { at_ms } => {
                    if self.listening && self.turn_start_ms.is_none() {
                        self.turn_start_ms = Some(at_ms);
                        // Over the agent, only a barge-in stops it (see the module docs).
                        self.turn_announced = !self.agent_holds_the_floor(now_ms);
                        if self.turn_announced {
                            self.events.push_back(MediaEvent::SpeechStarted { at_ms });
                        }
                    }
                }
                AnalysisEvent::BargeIn { at_ms } => {
                    if self.listening && !(self.turn_start_ms.is_some() && self.turn_announced) {
                        let start_ms = *self.turn_start_ms.get_or_insert(at_ms);
                        self.turn_announced = true;
                        self.events
                            .push_back(MediaEvent::SpeechStarted { at_ms: start_ms });
                    }
                }
                AnalysisEvent::EndOfTurn { at_ms } => {
                    if let Some(start_ms) = self.turn_start_ms.take() {
                        self.hand_over(start_ms, at_ms.max(start_ms), now_ms);
                    }
                }
                AnalysisEvent::Dtmf(d) => self.events.push_back(MediaEvent::Dtmf {
                    digit: d.digit,
                    at_ms: d.start_ms,
                    duration_ms: d.end_ms.saturating_sub(d.start_ms),
                    volume_dbm0: None,
                }),
                AnalysisEvent::Beep(b) => self.events.push_back(MediaEvent::Beep {
                    start_ms: b.start_ms,
                    end_ms: b.end_ms,
                    hz: b.hz.round() as u32,
                }),
                AnalysisEvent::Amd(d) => {
                    self.events.push_back(MediaEvent::Amd {
                        verdict: d.verdict,
                        confidence_pct: (d.confidence.clamp(0.0, 1.0) * 100.0).round() as u8,
                        decided_ms: d.decided_ms,
                    });
                    // A machine verdict on the cadence comes while the greeting goes on: its
                    // words so far, to confirm or clear it (a receptionist sounds alike).
                    if d.verdict == Verdict::Machine
                        && let Some(start_ms) = self.turn_start_ms
                    {
                        self.greeting_so_far = Some((start_ms, now_ms));
                        self.hand_over_so_far(start_ms, now_ms);
                    }
                }
                AnalysisEvent::TurnCheck { seq, .. } => {
                    if self.listening {
                        self.ask_turn_model(seq, now_ms);
                    }
                }
                AnalysisEvent::SpeechEnded { end_ms, .. } => {
                    if self.listening
                        && let Some(start_ms) = self.turn_start_ms
                        && let Some((audio_start_ms, samples_16k)) =
                            self.cut(start_ms, end_ms.max(start_ms), now_ms)
                    {
                        self.events.push_back(MediaEvent::TurnPaused {
                            start_ms,
                            end_ms: end_ms.max(start_ms),
                            audio_start_ms,
                            samples_16k,
                        });
                    }
                }
                AnalysisEvent::BeepStarted { .. } => {}
            }
        }
    }

    /// A caller who talks past the longest turn is handed over in pieces, so the ring never
    /// overwrites a turn still being collected.
    fn cut_overlong_turn(&mut self, now_ms: u64) {
        if let Some(start_ms) = self.turn_start_ms
            && now_ms.saturating_sub(start_ms) >= self.config.max_turn_ms
        {
            self.hand_over(start_ms, now_ms, now_ms);
            self.turn_start_ms = Some(now_ms);
        }
    }

    /// Cuts `[start - pre-roll, end + post-roll)` out of the ring (as far as it reaches) and
    /// reports it as an utterance at 16 kHz.
    fn hand_over(&mut self, start_ms: u64, end_ms: u64, now_ms: u64) {
        if let Some((audio_start_ms, samples_16k)) = self.cut(start_ms, end_ms, now_ms) {
            self.events.push_back(MediaEvent::Utterance {
                start_ms,
                end_ms,
                audio_start_ms,
                samples_16k,
            });
        }
    }

    /// `[start - pre-roll, end + post-roll)` out of the ring (as far as it reaches, and no
    /// further than `now_ms`) at 16 kHz, with the media time of its first sample.
    fn cut(&self, start_ms: u64, end_ms: u64, now_ms: u64) -> Option<(u64, Vec<i16>)> {
        let frame_ms = u64::from(FRAME_MS);
        let oldest = self.oldest_frame();
        let from = (start_ms.saturating_sub(self.config.pre_roll_ms) / frame_ms).max(oldest);
        let to = ((end_ms + self.config.post_roll_ms).div_ceil(frame_ms))
            .min(self.next_frame)
            .min(now_ms.div_ceil(frame_ms).max(from));
        if to <= from {
            return None;
        }
        match self.upsample(from, to) {
            Ok(samples_16k) => Some((from * frame_ms, samples_16k)),
            Err(err) => {
                tracing::warn!(error = %err, "could not upsample the caller's turn");
                None
            }
        }
    }

    /// The number of the oldest frame the ring still holds.
    fn oldest_frame(&self) -> u64 {
        self.next_frame
            .saturating_sub(self.ring_frames)
            .max(self.first_frame.unwrap_or(0))
    }

    fn upsample(&self, from: u64, to: u64) -> Result<Vec<i16>, ResampleError> {
        let mut upsampler = Upsampler::new()?;
        let delay = upsampler.delay();
        let frames = (to - from) as usize;
        let mut out = Vec::with_capacity((frames + 1) * FRAME_SAMPLES_16K);
        let mut frame: Frame = SILENCE;
        let mut frame_16k: Frame16k = [0; FRAME_SAMPLES_16K];
        // One extra frame of silence flushes the resampler's delay.
        for number in from..=to {
            if number < to {
                let slot = (number % self.ring_frames) as usize * FRAME_SAMPLES;
                frame.copy_from_slice(&self.ring[slot..slot + FRAME_SAMPLES]);
            } else {
                frame = SILENCE;
            }
            upsampler.process(&frame, &mut frame_16k)?;
            out.extend_from_slice(&frame_16k);
        }
        let end = (delay + frames * FRAME_SAMPLES_16K).min(out.len());
        Ok(out[delay.min(end)..end].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::vad::VadMode;

    fn gate_only() -> LiveAnalysisConfig {
        let mut config = LiveAnalysisConfig::default();
        config.analyzer.vad = VadMode::GateOnly;
        config
    }

    /// A vowel-like buzz: harmonics of 140 Hz with a slow tremolo, loud enough for the gate.
    fn voiced(n: usize, offset: usize) -> Frame {
        let mut frame = SILENCE;
        for (i, s) in frame.iter_mut().enumerate().take(n) {
            let t = (offset + i) as f32 / 8000.0;
            let mut v = 0.0;
            for h in 1..12 {
                v += (2.0 * std::f32::consts::PI * 140.0 * h as f32 * t).sin() / h as f32;
            }
            *s = (v * 6000.0) as i16;
        }
        frame
    }

    fn run(live: &mut LiveAnalysis, from_ms: u64, to_ms: u64, speech: bool) -> Vec<MediaEvent> {
        let mut events = Vec::new();
        let mut at = from_ms;
        while at < to_ms {
            let frame = if speech {
                voiced(FRAME_SAMPLES, (at * 8) as usize)
            } else {
                SILENCE
            };
            live.process(at, &frame);
            while let Some(e) = live.poll_event() {
                events.push(e);
            }
            at += u64::from(FRAME_MS);
        }
        events
    }

    #[test]
    fn rejects_a_16k_analyzer() {
        let mut config = gate_only();
        config.analyzer.rate = crate::analysis::AnalysisRate::Hz16000;
        assert!(matches!(
            LiveAnalysis::new(config),
            Err(LiveAnalysisError::Rate(16000))
        ));
    }

    #[test]
    fn a_turn_is_handed_over_with_its_audio() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        let mut events = run(&mut live, 0, 1_000, false);
        events.extend(run(&mut live, 1_000, 2_000, true));
        events.extend(run(&mut live, 2_000, 3_500, false));
        let started = events
            .iter()
            .filter(|e| matches!(e, MediaEvent::SpeechStarted { .. }))
            .count();
        assert_eq!(started, 1, "{events:?}");
        let (start_ms, end_ms, audio_start_ms, samples) = events
            .iter()
            .find_map(|e| match e {
                MediaEvent::Utterance {
                    start_ms,
                    end_ms,
                    audio_start_ms,
                    samples_16k,
                } => Some((*start_ms, *end_ms, *audio_start_ms, samples_16k.clone())),
                _ => None,
            })
            .expect("an utterance");
        assert!((800..=1_150).contains(&start_ms), "start {start_ms}");
        assert!((1_850..=2_400).contains(&end_ms), "end {end_ms}");
        assert!(audio_start_ms <= start_ms);
        // The handed-over audio covers the speech and is 16 kHz.
        let audio_ms = samples.len() as u64 / 16;
        assert!(audio_ms >= end_ms - start_ms, "{audio_ms} ms of audio");
        let speech_at = ((1_200 - audio_start_ms) * 16) as usize;
        let loud = samples[speech_at..speech_at + 1600]
            .iter()
            .map(|s| i32::from(*s).abs())
            .max()
            .unwrap_or(0);
        assert!(loud > 2_000, "speech missing from the audio: peak {loud}");
    }

    #[test]
    fn speech_is_not_reported_while_not_listening_but_digits_are() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        live.set_listening(false, 0);
        let mut events = run(&mut live, 0, 1_000, true);
        events.extend(run(&mut live, 1_000, 2_000, false));
        live.rfc4733_digit('5', 2_000, 2_100);
        while let Some(e) = live.poll_event() {
            events.push(e);
        }
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, MediaEvent::SpeechStarted { .. } | MediaEvent::Utterance { .. })),
            "{events:?}"
        );
        assert!(events.contains(&MediaEvent::Dtmf {
            digit: '5',
            at_ms: 2_000,
            duration_ms: 100,
            volume_dbm0: None
        }));
    }

    #[test]
    fn barge_in_is_reported_as_speech_started_while_the_agent_talks() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        run(&mut live, 0, 500, false);
        live.set_agent_speaking(true);
        let events = run(&mut live, 500, 1_500, true);
        let started: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::SpeechStarted { at_ms } => Some(*at_ms),
                _ => None,
            })
            .collect();
        assert_eq!(started.len(), 1, "{events:?}");
        assert!(
            (400..=700).contains(&started[0]),
            "dated from the speech's start: {started:?}"
        );
    }

    #[test]
    fn a_short_utterance_over_the_agent_is_handed_over_unannounced() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        run(&mut live, 0, 500, false);
        live.set_agent_speaking(true);
        // A backchannel's length: shorter than the barge-in minimum.
        let mut events = run(&mut live, 500, 800, true);
        events.extend(run(&mut live, 800, 2_000, false));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, MediaEvent::SpeechStarted { .. })),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| matches!(e, MediaEvent::Utterance { .. })),
            "its words are still to be heard: {events:?}"
        );
    }

    #[test]
    fn speech_over_the_agent_is_announced_once_the_agent_has_fallen_silent() {
        let started = |events: &[MediaEvent]| {
            events.iter().find_map(|e| match e {
                MediaEvent::SpeechStarted { at_ms } => Some(*at_ms),
                _ => None,
            })
        };
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        run(&mut live, 0, 500, false);
        live.set_agent_speaking(true);
        assert_eq!(started(&run(&mut live, 500, 700, true)), None);
        // A gap between two of the agent's utterances: not yet the caller's turn.
        live.set_agent_speaking(false);
        assert_eq!(started(&run(&mut live, 700, 700 + AGENT_GAP_MS - 40, true)), None);
        // The agent stays quiet: the speech, still going on, is announced from its start.
        let at_ms = started(&run(&mut live, 700 + AGENT_GAP_MS - 40, 1_300, true));
        assert!(at_ms.is_some_and(|t| (400..=700).contains(&t)), "{at_ms:?}");
    }

    #[test]
    fn speech_across_a_gap_in_the_agents_audio_stays_unannounced() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        run(&mut live, 0, 500, false);
        live.set_agent_speaking(true);
        let mut events = run(&mut live, 500, 600, true);
        live.set_agent_speaking(false);
        events.extend(run(&mut live, 600, 700, true));
        live.set_agent_speaking(true);
        events.extend(run(&mut live, 700, 1_500, false));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, MediaEvent::SpeechStarted { .. })),
            "{events:?}"
        );
    }

    #[test]
    fn a_long_greeting_called_a_machine_is_handed_over_as_it_goes() {
        let mut live = LiveAnalysis::new(gate_only()).expect("live");
        let mut events = run(&mut live, 0, 500, false);
        events.extend(run(&mut live, 500, 6_000, true));
        let verdict_at = events
            .iter()
            .position(|e| {
                matches!(
                    e,
                    MediaEvent::Amd {
                        verdict: Verdict::Machine,
                        ..
                    }
                )
            })
            .unwrap_or_else(|| panic!("no machine verdict on a long greeting: {} events", events.len()));
        // The speech so far follows the verdict at once, then every second while it goes on.
        let so_far: Vec<u64> = events[verdict_at..]
            .iter()
            .filter_map(|e| match e {
                MediaEvent::TurnPaused {
                    end_ms, samples_16k, ..
                } => {
                    assert!(!samples_16k.is_empty(), "no audio so far");
                    Some(*end_ms)
                }
                _ => None,
            })
            .collect();
        assert!(so_far.len() >= 3, "{so_far:?}");
        assert!(
            so_far.windows(2).all(|w| w[1] >= w[0] + GREETING_SO_FAR_EVERY_MS),
            "{so_far:?}"
        );
        // A turn after the greeting's is not handed over so (only at its own pauses).
        let mut after = run(&mut live, 6_000, 9_000, false);
        after.extend(run(&mut live, 9_000, 10_500, true));
        let later: Vec<u64> = after
            .iter()
            .filter_map(|e| match e {
                MediaEvent::TurnPaused { start_ms, end_ms, .. } if *start_ms >= 8_000 => Some(*end_ms),
                _ => None,
            })
            .collect();
        assert!(later.is_empty(), "{later:?}");
    }

    #[test]
    fn a_monologue_is_handed_over_in_pieces() {
        let mut config = gate_only();
        config.max_turn_ms = 2_000;
        let mut live = LiveAnalysis::new(config).expect("live");
        let events = run(&mut live, 0, 5_000, true);
        let pieces = events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Utterance { .. }))
            .count();
        assert_eq!(pieces, 2, "{events:?}");
    }
}
