//! [`Analyzer`]: the audio intelligence of one call, sans-IO.
//!
//! Call order, per 20 ms frame of the remote party's audio (after the jitter buffer, decoded):
//! 1. [`Analyzer::push_frame`] with the frame's media time.
//! 2. [`Analyzer::poll_vad_job`]: hand the job (if any) to the Silero worker (or a
//!    [`VadBackend`](super::VadBackend) in line); give its answer back with
//!    [`Analyzer::handle_vad_result`] whenever it arrives.
//! 3. [`Analyzer::poll_event`] until `None`.
//!
//! Besides audio: [`Analyzer::set_agent_speaking`] (for barge-in), [`Analyzer::rfc4733_digit`]
//! (telephone-events from RTP, merged with in-band digits), [`Analyzer::offer_transcript`] (the
//! AMD transcript hook), and [`Analyzer::finish`] at the end of a file or call.
//!
//! DTMF and beeps are found as the frames arrive; speech events follow Silero's answers, so they
//! lag by the worker's latency (about one batch window). Nothing allocates per frame: buffers and
//! queues are sized in [`Analyzer::new`].

use std::collections::VecDeque;

use crate::analysis::amd::{AmdConfig, AmdDecision, AmdDetector, Verdict};
use crate::analysis::beep::{Beep, BeepConfig, BeepDetector, BeepEvent};
use crate::analysis::dtmf::{DtmfConfig, DtmfDetector, DtmfMerger, DtmfSource, MergedDigit};
use crate::analysis::endpoint::{EndpointConfig, EndpointConfigError, EndpointEvent, Endpointer};
use crate::analysis::rate::{ANALYSIS_FRAME_MS, AnalysisRate};
use crate::analysis::vad::{ChunkClassifier, ChunkDecision, VadJob, VadMode, VadStats};

/// Events kept before the owner drains them; older ones are dropped past this.
const EVENT_CAPACITY: usize = 64;
/// Longest gap in the timeline filled with silence, in ms; a longer one is an error.
const MAX_GAP_MS: u64 = 10_000;

/// Settings of an [`Analyzer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzerConfig {
    /// Rate of the frames.
    pub rate: AnalysisRate,
    /// Silero behind the gate, or the gate alone.
    pub vad: VadMode,
    /// How long the gate stays open after its last voiced frame, in ms.
    pub gate_hangover_ms: u64,
    /// Endpointing thresholds.
    pub endpoint: EndpointConfig,
    /// In-band DTMF thresholds; `None` turns in-band detection off.
    pub dtmf: Option<DtmfConfig>,
    /// Beep detection; `None` turns it off.
    pub beep: Option<BeepConfig>,
    /// AMD; `None` turns it off (inbound calls).
    pub amd: Option<AmdConfig>,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            rate: AnalysisRate::Hz8000,
            vad: VadMode::Silero,
            gate_hangover_ms: 300,
            endpoint: EndpointConfig::default(),
            dtmf: Some(DtmfConfig::default()),
            beep: Some(BeepConfig::default()),
            amd: Some(AmdConfig::default()),
        }
    }
}

/// Why an analyzer could not be built or fed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The endpointer settings are unusable.
    #[error("endpointing: {0}")]
    Endpoint(#[from] EndpointConfigError),
    /// A frame did not hold 20 ms at the configured rate.
    #[error("frame of {got} samples; 20 ms at {rate_hz} Hz is {expected}")]
    FrameSize {
        /// Samples given.
        got: usize,
        /// Samples expected.
        expected: usize,
        /// The configured rate.
        rate_hz: u32,
    },
    /// A frame's time was before the end of the previous frame.
    #[error("frame at {at_ms} ms overlaps the previous one (expected {expected_ms} ms)")]
    TimeWentBack {
        /// The time given.
        at_ms: u64,
        /// The time expected.
        expected_ms: u64,
    },
    /// A gap in the timeline longer than the analyzer fills with silence.
    #[error("gap of {gap_ms} ms before the frame at {at_ms} ms")]
    Gap {
        /// The gap.
        gap_ms: u64,
        /// The frame's time.
        at_ms: u64,
    },
}

/// What the analyzer found. Times are ms of the caller's media timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AnalysisEvent {
    /// The caller started speaking.
    SpeechStarted {
        /// Start of the speech.
        at_ms: u64,
    },
    /// A speech segment ended.
    SpeechEnded {
        /// Its start.
        start_ms: u64,
        /// Its end.
        end_ms: u64,
    },
    /// The caller's turn is over (end-of-turn silence after their speech).
    EndOfTurn {
        /// End of the turn's last speech.
        at_ms: u64,
    },
    /// The caller started talking while the agent was speaking.
    BargeIn {
        /// Start of the caller's speech.
        at_ms: u64,
    },
    /// The caller paused: ask the turn model whether their turn is complete and answer with
    /// [`Analyzer::turn_verdict`] (only with a turn model configured).
    TurnCheck {
        /// Identifies the check.
        seq: u64,
        /// End of the turn's last speech.
        at_ms: u64,
    },
    /// A DTMF digit, in-band or RFC 4733, reported once.
    Dtmf(MergedDigit),
    /// A beep has lasted the minimum length (it may go on): stop talking and wait for its end.
    BeepStarted {
        /// Its start.
        start_ms: u64,
        /// Its frequency so far.
        hz: f32,
    },
    /// A beep ended: speak now (voicemail records from here).
    Beep(Beep),
    /// The AMD verdict. It may come again, revised: a beep after `human` or `unknown` makes it
    /// `machine`, and a transcript can settle an `unknown`. `decided_ms` counts from the
    /// analyzer's first frame, the answer.
    Amd(AmdDecision),
}

/// The audio intelligence of one call. See the module docs for the call order.
#[derive(Debug)]
pub struct Analyzer {
    config: AnalyzerConfig,
    origin_ms: Option<u64>,
    next_ms: u64,
    classifier: Option<ChunkClassifier>,
    endpointer: Endpointer,
    dtmf: Option<DtmfDetector>,
    merger: DtmfMerger,
    beep: Option<BeepDetector>,
    amd: Option<AmdDetector>,
    events: VecDeque<AnalysisEvent>,
    silence: Box<[i16]>,
    dropped_events: u64,
}

impl Analyzer {
    /// Builds an analyzer; its timeline starts with the first frame pushed (take that as the
    /// answer for AMD).
    pub fn new(config: AnalyzerConfig) -> Result<Self, AnalysisError> {
        let rate = config.rate;
        Ok(Analyzer {
            config,
            origin_ms: None,
            next_ms: 0,
            classifier: None,
            endpointer: Endpointer::new(config.endpoint)?,
            dtmf: config.dtmf.map(|c| DtmfDetector::new(c, rate)),
            merger: DtmfMerger::default(),
            beep: config.beep.map(|c| BeepDetector::new(c, rate)),
            amd: None,
            events: VecDeque::with_capacity(EVENT_CAPACITY),
            silence: vec![0; rate.frame_samples()].into_boxed_slice(),
            dropped_events: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// VAD counters (chunks, Silero inferences, fallbacks).
    pub fn vad_stats(&self) -> VadStats {
        self.classifier
            .as_ref()
            .map(ChunkClassifier::stats)
            .unwrap_or_default()
    }

    /// Events dropped because the owner did not drain them.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// The AMD decision so far.
    pub fn amd_decision(&self) -> Option<AmdDecision> {
        self.amd.as_ref().and_then(AmdDetector::decision)
    }

    /// Feeds the 20 ms frame that starts at `at_ms`. Frames must follow each other; a gap of up
    /// to 10 s is filled with silence (lost packets the jitter buffer did not conceal).
    pub fn push_frame(&mut self, at_ms: u64, frame: &[i16]) -> Result<(), AnalysisError> {
        let rate = self.config.rate;
        if frame.len() != rate.frame_samples() {
            return Err(AnalysisError::FrameSize {
                got: frame.len(),
                expected: rate.frame_samples(),
                rate_hz: rate.hz(),
            });
        }
        if self.origin_ms.is_none() {
            self.start(at_ms);
        }
        if at_ms < self.next_ms {
            return Err(AnalysisError::TimeWentBack {
                at_ms,
                expected_ms: self.next_ms,
            });
        }
        let gap_ms = at_ms - self.next_ms;
        if gap_ms > MAX_GAP_MS {
            return Err(AnalysisError::Gap { gap_ms, at_ms });
        }
        for _ in 0..gap_ms / ANALYSIS_FRAME_MS {
            let silence = std::mem::take(&mut self.silence);
            self.process_frame(&silence);
            self.silence = silence;
        }
        self.next_ms = at_ms;
        self.process_frame(frame);
        Ok(())
    }

    /// The next Silero job, if one is ready (at most one is out at a time).
    pub fn poll_vad_job(&mut self) -> Option<VadJob> {
        self.classifier.as_mut()?.poll_job()
    }

    /// The answer to a job from [`poll_vad_job`](Self::poll_vad_job).
    pub fn handle_vad_result(&mut self, job: &VadJob) {
        if let Some(classifier) = self.classifier.as_mut() {
            classifier.handle_result(job);
        }
        self.drain_decisions();
    }

    /// Whether chunks are waiting for Silero answers.
    pub fn is_waiting_for_vad(&self) -> bool {
        self.classifier.as_ref().is_some_and(ChunkClassifier::is_waiting)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<AnalysisEvent> {
        self.events.pop_front()
    }

    /// Tells the analyzer whether the agent is speaking, for barge-in.
    pub fn set_agent_speaking(&mut self, speaking: bool) {
        self.endpointer.set_agent_speaking(speaking);
    }

    /// A digit received as an RFC 4733 telephone-event (`MediaEvent::Dtmf`), merged with the
    /// in-band ones.
    pub fn rfc4733_digit(&mut self, digit: char, start_ms: u64, end_ms: u64) {
        if let Some(d) = self.merger.offer(digit, start_ms, end_ms, DtmfSource::Rfc4733) {
            self.emit(AnalysisEvent::Dtmf(d));
        }
    }

    /// The AMD transcript hook: a verdict the runtime derived from the greeting's transcript at
    /// `at_ms` (see [`classify_transcript`](super::amd::classify_transcript)). Settles AMD when
    /// it is undecided or `unknown`; returns whether it did.
    pub fn offer_transcript(&mut self, at_ms: u64, verdict: Verdict, confidence: f32) -> bool {
        let Some(amd) = self.amd.as_mut() else {
            return false;
        };
        match amd.offer_transcript(at_ms, verdict, confidence) {
            Some(d) => {
                self.emit(AnalysisEvent::Amd(d));
                true
            }
            None => false,
        }
    }

    /// Ends the stream (end of a file): closes a digit, beep or speech segment in progress. Any
    /// Silero job still out must have been answered first, or its chunks stay undecided.
    pub fn finish(&mut self) {
        let now = self.next_ms;
        if let Some(d) = self.dtmf.as_mut().and_then(DtmfDetector::finish) {
            self.in_band_digit(d.digit, d.start_ms, d.end_ms);
        }
        if let Some(b) = self.beep.as_mut().and_then(BeepDetector::finish) {
            self.emit(AnalysisEvent::Beep(b));
        }
        if let Some((start_ms, end_ms)) = self.endpointer.finish(now) {
            self.emit(AnalysisEvent::SpeechEnded { start_ms, end_ms });
        }
    }

    fn start(&mut self, at_ms: u64) {
        self.origin_ms = Some(at_ms);
        self.next_ms = at_ms;
        self.classifier = Some(ChunkClassifier::new(
            self.config.rate,
            self.config.vad,
            self.config.gate_hangover_ms,
            at_ms,
        ));
        self.amd = self.config.amd.map(|c| AmdDetector::new(c, at_ms));
    }

    fn process_frame(&mut self, frame: &[i16]) {
        if let Some(d) = self.dtmf.as_mut().and_then(|det| det.process(frame)) {
            self.in_band_digit(d.digit, d.start_ms + self.origin(), d.end_ms + self.origin());
        }
        if let Some(beep) = self.beep.as_mut() {
            let origin = self.origin_ms.unwrap_or(0);
            let mut found = [None; 2];
            let mut n = 0;
            beep.process(frame, |e| {
                if n < found.len() {
                    found[n] = Some(e);
                    n += 1;
                }
            });
            for event in found.into_iter().flatten() {
                self.beep_event(event, origin);
            }
        }
        if let Some(classifier) = self.classifier.as_mut() {
            classifier.push_frame(frame);
        }
        self.next_ms += ANALYSIS_FRAME_MS;
        self.drain_decisions();
    }

    fn origin(&self) -> u64 {
        self.origin_ms.unwrap_or(0)
    }

    fn in_band_digit(&mut self, digit: char, start_ms: u64, end_ms: u64) {
        if let Some(d) = self.merger.offer(digit, start_ms, end_ms, DtmfSource::InBand) {
            self.emit(AnalysisEvent::Dtmf(d));
        }
    }

    fn beep_event(&mut self, event: BeepEvent, origin: u64) {
        match event {
            BeepEvent::Started { start_ms, hz } => {
                let start_ms = start_ms + origin;
                self.emit(AnalysisEvent::BeepStarted { start_ms, hz });
                let now = self.next_ms + ANALYSIS_FRAME_MS;
                if let Some(d) = self.amd.as_mut().and_then(|amd| amd.beep(now)) {
                    self.emit(AnalysisEvent::Amd(d));
                }
            }
            BeepEvent::Ended(b) => self.emit(AnalysisEvent::Beep(Beep {
                start_ms: b.start_ms + origin,
                end_ms: b.end_ms + origin,
                hz: b.hz,
            })),
        }
    }

    fn drain_decisions(&mut self) {
        while let Some(ChunkDecision {
            start_ms,
            end_ms,
            probability,
        }) = self.classifier.as_mut().and_then(ChunkClassifier::poll_decision)
        {
            let mut found = [None; 4];
            let mut n = 0;
            self.endpointer.process(start_ms, end_ms, probability, |e| {
                if n < found.len() {
                    found[n] = Some(e);
                    n += 1;
                }
            });
            for e in found.into_iter().flatten() {
                self.emit(endpoint_event(e));
            }
            let speech = self.endpointer.is_speech();
            if let Some(d) = self
                .amd
                .as_mut()
                .and_then(|amd| amd.process(start_ms, end_ms, speech))
            {
                self.emit(AnalysisEvent::Amd(d));
            }
        }
    }

    /// The turn model's answer to [`AnalysisEvent::TurnCheck`] `seq`: the probability that the
    /// caller's turn is complete, at media time `now_ms` (see [`Endpointer::turn_verdict`]).
    pub fn turn_verdict(&mut self, seq: u64, complete: f32, now_ms: u64) {
        let mut found = None;
        self.endpointer
            .turn_verdict(seq, complete, now_ms, |e| found = Some(e));
        if let Some(e) = found {
            self.emit(endpoint_event(e));
        }
    }

    fn emit(&mut self, event: AnalysisEvent) {
        if self.events.len() == EVENT_CAPACITY {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
    }
}

fn endpoint_event(e: EndpointEvent) -> AnalysisEvent {
    match e {
        EndpointEvent::SpeechStarted { at_ms } => AnalysisEvent::SpeechStarted { at_ms },
        EndpointEvent::SpeechEnded { start_ms, end_ms } => AnalysisEvent::SpeechEnded { start_ms, end_ms },
        EndpointEvent::EndOfTurn { at_ms } => AnalysisEvent::EndOfTurn { at_ms },
        EndpointEvent::BargeIn { at_ms } => AnalysisEvent::BargeIn { at_ms },
        EndpointEvent::TurnCheck { seq, at_ms } => AnalysisEvent::TurnCheck { seq, at_ms },
    }
}
