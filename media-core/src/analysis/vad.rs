//! Speech probability per 32 ms chunk: the webrtc-vad gate in front, Silero VAD behind it.
//!
//! Silero runs elsewhere (one batching worker for all calls, see `analysis::worker`, feature `silero`), so
//! this side is sans-IO: the [`ChunkClassifier`] cuts the stream into Silero chunks, hands out
//! at most one [`VadJob`] at a time, and takes the answer back. The recurrent state belongs to the
//! call: it travels with each job and comes back updated, so the worker keeps nothing per call
//! and a call that ends leaves nothing behind. One job in flight per call is what the state
//! dependency allows anyway; inference takes well under a chunk's 32 ms.
//!
//! Chunks the gate calls silence (no voiced frame within the hang-over) are decided at once with
//! probability 0 and reset the recurrent state, as if Silero restarted on the next speech: that is
//! what keeps silence nearly free. If the worker falls behind so far that [`MAX_QUEUE`] chunks
//! wait, the oldest is decided by the gate alone, so a stalled worker degrades detection instead
//! of stalling the call.

use std::collections::VecDeque;

use crate::analysis::gate::VoiceGate;
use crate::analysis::rate::{AnalysisRate, CHUNK_MS, MAX_SILERO_WIDTH};

/// Floats in Silero's recurrent state for one stream (`[2, 1, 128]`).
pub const STATE_LEN: usize = 2 * 128;
/// Chunks that may wait for the worker before the oldest is decided by the gate (about 0.4 s).
pub const MAX_QUEUE: usize = 12;

/// Which classifier decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VadMode {
    /// Silero behind the webrtc-vad gate; the owner runs the jobs.
    #[default]
    Silero,
    /// webrtc-vad alone (no model, or a build without the `silero` feature).
    GateOnly,
}

/// One Silero inference request and, once run, its answer. The analyzer fills `input` and
/// `state`; the backend writes `probability` and the next `state`.
#[derive(Clone)]
pub struct VadJob {
    /// Sequence number of the chunk within its stream.
    pub seq: u64,
    /// The rate of `input`.
    pub rate: AnalysisRate,
    /// Context then chunk, as f32 in [-1, 1]; the first `rate.silero_width()` values are used.
    pub input: [f32; MAX_SILERO_WIDTH],
    /// The recurrent state before this chunk; after inference, the state after it.
    pub state: [f32; STATE_LEN],
    /// Speech probability, set by the backend.
    pub probability: f32,
}

impl std::fmt::Debug for VadJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VadJob")
            .field("seq", &self.seq)
            .field("rate", &self.rate)
            .field("probability", &self.probability)
            .finish_non_exhaustive()
    }
}

impl VadJob {
    /// The part of `input` the model reads.
    pub fn row(&self) -> &[f32] {
        &self.input[..self.rate.silero_width()]
    }
}

/// Something that runs Silero jobs in place: the model itself (feature `silero`), or a test
/// double.
pub trait VadBackend {
    /// Why inference failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Runs every job (any mix of rates), writing probability and next state into each.
    fn infer(&mut self, jobs: &mut [VadJob]) -> Result<(), Self::Error>;
}

/// Where a live call's Silero jobs go: the process's batching worker
/// (`worker::VadLink`, feature `silero`). Neither call blocks: a job that finds the queue full is
/// dropped, and the webrtc-vad gate decides its chunks.
pub trait VadService: std::fmt::Debug + Send {
    /// Hands a job over; `false` when it was dropped.
    fn submit(&self, job: VadJob) -> bool;
    /// An answer, if one has arrived.
    fn try_recv(&self) -> Option<VadJob>;
}

/// A decided chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkDecision {
    /// Start of the chunk, in ms.
    pub start_ms: u64,
    /// End of the chunk, in ms.
    pub end_ms: u64,
    /// Speech probability, 0..=1.
    pub probability: f32,
}

/// Counters of one classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VadStats {
    /// Chunks cut from the stream.
    pub chunks: u64,
    /// Chunks sent to Silero.
    pub inferred: u64,
    /// Chunks decided by the gate because the worker was too far behind.
    pub fallbacks: u64,
    /// Answers that arrived for a chunk no longer waiting (after a fallback).
    pub stale_results: u64,
}

// Inline on purpose: the queue is allocated once, and a chunk must not allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum ChunkKind {
    /// The gate found no voice near it.
    Gated,
    /// Waiting for Silero (or the gate alone in `GateOnly` mode, decided at once).
    Open {
        input: [f32; MAX_SILERO_WIDTH],
        in_flight: bool,
    },
}

#[derive(Clone)]
struct Chunk {
    seq: u64,
    start_ms: u64,
    kind: ChunkKind,
}

/// Cuts one stream into Silero chunks and decides each. See the module docs.
pub struct ChunkClassifier {
    rate: AnalysisRate,
    mode: VadMode,
    hangover_ms: u64,
    gate: VoiceGate,
    origin_ms: u64,
    /// Samples of the chunk being filled.
    fill: Box<[f32]>,
    filled: usize,
    /// The last context samples before the chunk being filled.
    context: Box<[f32]>,
    state: [f32; STATE_LEN],
    queue: VecDeque<Chunk>,
    outbox: Option<VadJob>,
    decided: VecDeque<ChunkDecision>,
    next_seq: u64,
    /// Samples consumed.
    samples: u64,
    /// End of the last frame the gate called voice, in ms.
    last_voice_end_ms: Option<u64>,
    stats: VadStats,
}

impl std::fmt::Debug for ChunkClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkClassifier")
            .field("rate", &self.rate)
            .field("mode", &self.mode)
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ChunkClassifier {
    /// A classifier whose timeline starts at `origin_ms`; `hangover_ms` keeps the gate open after
    /// the last voiced frame, so word endings and short pauses still reach Silero.
    pub fn new(rate: AnalysisRate, mode: VadMode, hangover_ms: u64, origin_ms: u64) -> Self {
        ChunkClassifier {
            rate,
            mode,
            hangover_ms,
            gate: VoiceGate::new(rate),
            origin_ms,
            fill: vec![0.0; rate.chunk_samples()].into_boxed_slice(),
            filled: 0,
            context: vec![0.0; rate.context_samples()].into_boxed_slice(),
            state: [0.0; STATE_LEN],
            queue: VecDeque::with_capacity(MAX_QUEUE + 1),
            outbox: None,
            decided: VecDeque::with_capacity(MAX_QUEUE + 4),
            next_seq: 0,
            samples: 0,
            last_voice_end_ms: None,
            stats: VadStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> VadStats {
        self.stats
    }

    /// Feeds one 20 ms frame (its length checked by the caller).
    pub fn push_frame(&mut self, frame: &[i16]) {
        let frame_end_ms = self.ms_at(self.samples + frame.len() as u64);
        if self.gate.is_voice(frame) {
            self.last_voice_end_ms = Some(frame_end_ms);
        }
        for &s in frame {
            self.fill[self.filled] = f32::from(s) / 32768.0;
            self.filled += 1;
            self.samples += 1;
            if self.filled == self.fill.len() {
                self.filled = 0;
                self.chunk_complete();
            }
        }
        self.pump();
    }

    /// The next job for the Silero backend, if one is ready. At most one is out at a time.
    pub fn poll_job(&mut self) -> Option<VadJob> {
        self.outbox.take()
    }

    /// Takes a backend's answer. Answers for chunks no longer waiting are ignored (and counted).
    pub fn handle_result(&mut self, job: &VadJob) {
        let matches = matches!(
            self.queue.front(),
            Some(Chunk { seq, kind: ChunkKind::Open { in_flight: true, .. }, .. }) if *seq == job.seq
        );
        if !matches {
            self.stats.stale_results += 1;
            return;
        }
        self.state = job.state;
        let probability = if job.probability.is_finite() {
            job.probability.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.decide_front(probability);
        self.pump();
    }

    /// The next decided chunk, in stream order.
    pub fn poll_decision(&mut self) -> Option<ChunkDecision> {
        self.decided.pop_front()
    }

    /// Whether chunks still wait for Silero.
    pub fn is_waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    fn ms_at(&self, samples: u64) -> u64 {
        self.origin_ms + samples / self.rate.per_ms() as u64
    }

    fn chunk_complete(&mut self) {
        let end_ms = self.ms_at(self.samples);
        let start_ms = end_ms - CHUNK_MS;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.chunks += 1;
        let voiced_near = self
            .last_voice_end_ms
            .is_some_and(|v| v + self.hangover_ms > start_ms);
        let kind = match self.mode {
            VadMode::GateOnly => {
                let voiced_in = self.last_voice_end_ms.is_some_and(|v| v > start_ms);
                let p = if voiced_in { 1.0 } else { 0.0 };
                self.push_decision(start_ms, p);
                None
            }
            VadMode::Silero if voiced_near => {
                let mut input = [0.0f32; MAX_SILERO_WIDTH];
                let ctx = self.context.len();
                input[..ctx].copy_from_slice(&self.context);
                input[ctx..ctx + self.fill.len()].copy_from_slice(&self.fill);
                Some(ChunkKind::Open {
                    input,
                    in_flight: false,
                })
            }
            VadMode::Silero => Some(ChunkKind::Gated),
        };
        let ctx = self.context.len();
        let tail = self.fill.len() - ctx;
        self.context.copy_from_slice(&self.fill[tail..]);
        if let Some(kind) = kind {
            if self.queue.len() >= MAX_QUEUE {
                // The worker is far behind: let the gate decide the oldest chunk.
                self.stats.fallbacks += 1;
                if let Some(front) = self.queue.front()
                    && self.outbox.as_ref().is_some_and(|job| job.seq == front.seq)
                {
                    self.outbox = None;
                }
                self.decide_front(1.0);
            }
            self.queue.push_back(Chunk { seq, start_ms, kind });
        }
    }

    /// Decides the front chunk with `probability`.
    fn decide_front(&mut self, probability: f32) {
        if let Some(chunk) = self.queue.pop_front() {
            self.push_decision(chunk.start_ms, probability);
        }
    }

    fn push_decision(&mut self, start_ms: u64, probability: f32) {
        if self.decided.len() == self.decided.capacity() {
            // The owner is not draining decisions; keep the newest.
            self.decided.pop_front();
        }
        self.decided.push_back(ChunkDecision {
            start_ms,
            end_ms: start_ms + CHUNK_MS,
            probability,
        });
    }

    /// Decides gated chunks at the head and issues the job for the first open one.
    fn pump(&mut self) {
        loop {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            match &mut front.kind {
                ChunkKind::Gated => {
                    self.state = [0.0; STATE_LEN];
                    self.decide_front(0.0);
                }
                ChunkKind::Open { in_flight: true, .. } => return,
                ChunkKind::Open { input, in_flight } => {
                    if self.outbox.is_none() {
                        *in_flight = true;
                        self.stats.inferred += 1;
                        self.outbox = Some(VadJob {
                            seq: front.seq,
                            rate: self.rate,
                            input: *input,
                            state: self.state,
                            probability: 0.0,
                        });
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buzz(k: usize) -> Vec<i16> {
        (0..160)
            .map(|i| {
                let t = (k * 160 + i) as f32 / 8000.0;
                let v: f32 = (1..20)
                    .map(|h| (2.0 * std::f32::consts::PI * 130.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                (v * 6000.0) as i16
            })
            .collect()
    }

    #[test]
    fn silence_never_reaches_silero() {
        let mut c = ChunkClassifier::new(AnalysisRate::Hz8000, VadMode::Silero, 200, 0);
        let mut n = 0;
        for _ in 0..50 {
            c.push_frame(&[0; 160]);
            assert!(c.poll_job().is_none());
            while let Some(d) = c.poll_decision() {
                assert_eq!(d.probability, 0.0);
                assert_eq!(d.start_ms, 32 * n);
                n += 1;
            }
        }
        assert_eq!(n, 1000 / 32);
    }

    #[test]
    fn voice_goes_out_one_job_at_a_time_with_the_state_coming_back() {
        let mut c = ChunkClassifier::new(AnalysisRate::Hz8000, VadMode::Silero, 200, 1000);
        let mut jobs = 0;
        let mut last_state = 0.0;
        let mut first = None;
        for k in 0..40 {
            c.push_frame(&buzz(k));
            first = first.or_else(|| c.poll_decision());
            if let Some(mut job) = c.poll_job() {
                assert!(c.poll_job().is_none());
                assert_eq!(
                    job.state[0], last_state,
                    "the state of the previous answer comes back"
                );
                job.probability = 0.9;
                last_state += 1.0;
                job.state[0] = last_state;
                c.handle_result(&job);
                jobs += 1;
            }
        }
        assert!(jobs >= 20, "{jobs}");
        let first = first.or_else(|| c.poll_decision()).expect("decided");
        assert_eq!(first.start_ms, 1000);
        assert_eq!(first.probability, 0.9);
    }

    #[test]
    fn a_stalled_worker_falls_back_to_the_gate() {
        let mut c = ChunkClassifier::new(AnalysisRate::Hz8000, VadMode::Silero, 200, 0);
        let first = loop {
            c.push_frame(&buzz(0));
            if let Some(job) = c.poll_job() {
                break job;
            }
        };
        for k in 0..40 {
            c.push_frame(&buzz(k));
        }
        assert!(c.stats().fallbacks > 0);
        c.handle_result(&first);
        assert_eq!(c.stats().stale_results, 1);
        assert!(c.poll_decision().is_some());
    }
}
