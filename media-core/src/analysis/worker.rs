//! The one Silero batching worker of a process: a thread that collects the ready chunks of all
//! calls and runs them in a single inference.
//!
//! Each call holds a [`VadLink`]: it submits the [`VadJob`] its analyzer hands out and polls for
//! the answer (at its next 20 ms tick; the answer carries the call's recurrent state, so the
//! worker keeps nothing per call). The worker sleeps until a job arrives, waits `batch_window`
//! for the other calls' chunks to come in, then runs everything queued (up to `max_batch`) at
//! once. The queues are bounded: a call whose submit fails (worker saturated or gone) simply
//! lets its gate decide, see [`vad`](super::vad).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::analysis::silero::SileroModel;
use crate::analysis::vad::{VadBackend, VadJob};

/// Settings of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Most chunks per inference.
    pub max_batch: usize,
    /// How long to wait after the first chunk for others, so they share the inference.
    pub batch_window: Duration,
    /// Chunks that may queue for the worker (all calls together).
    pub queue: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_batch: 64,
            batch_window: Duration::from_millis(8),
            queue: 256,
        }
    }
}

/// Counters of the worker, readable while it runs.
#[derive(Debug, Default)]
pub struct WorkerStats {
    batches: AtomicU64,
    jobs: AtomicU64,
    failures: AtomicU64,
    infer_ns: AtomicU64,
}

/// A snapshot of [`WorkerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Inferences run.
    pub batches: u64,
    /// Chunks run.
    pub jobs: u64,
    /// Inferences that failed (their chunks answered with no probability).
    pub failures: u64,
    /// Time spent inside inference, in ns.
    pub infer_ns: u64,
}

impl WorkerStats {
    /// The counters now.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            infer_ns: self.infer_ns.load(Ordering::Relaxed),
        }
    }
}

/// A job and where its answer goes.
struct Envelope {
    job: VadJob,
    reply: SyncSender<VadJob>,
}

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The worker's queue is full.
    #[error("the Silero worker queue is full")]
    Full,
    /// The worker has stopped.
    #[error("the Silero worker has stopped")]
    Stopped,
}

/// The running worker. Dropping it stops the thread (after the batch in progress).
#[derive(Debug)]
pub struct SileroWorker {
    jobs: SyncSender<Option<Envelope>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<WorkerStats>,
}

/// One call's connection to the worker.
#[derive(Debug)]
pub struct VadLink {
    jobs: SyncSender<Option<Envelope>>,
    reply: SyncSender<VadJob>,
    answers: Receiver<VadJob>,
}

impl SileroWorker {
    /// Starts the worker thread with a loaded model.
    pub fn spawn(model: SileroModel, config: WorkerConfig) -> std::io::Result<Self> {
        Self::spawn_backend(model, config)
    }

    /// Starts the worker thread with any backend (tests use a double).
    pub fn spawn_backend<B>(backend: B, config: WorkerConfig) -> std::io::Result<Self>
    where
        B: VadBackend + Send + 'static,
    {
        let (jobs, queue) = sync_channel(config.queue.max(1));
        let stats = Arc::new(WorkerStats::default());
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("silero-vad".into())
            .spawn(move || run(backend, config, &queue, &thread_stats))?;
        Ok(SileroWorker {
            jobs,
            thread: Some(thread),
            stats,
        })
    }

    /// A link for one call.
    pub fn link(&self) -> VadLink {
        // One job per call is out at a time; two slots leave room for a late answer.
        let (reply, answers) = sync_channel(2);
        VadLink {
            jobs: self.jobs.clone(),
            reply,
            answers,
        }
    }

    /// The counters.
    pub fn stats(&self) -> WorkerSnapshot {
        self.stats.snapshot()
    }
}

impl Drop for SileroWorker {
    fn drop(&mut self) {
        // The stop message waits behind queued jobs; a full queue drains within a batch.
        let _ = self.jobs.send(None);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the Silero worker thread panicked");
        }
    }
}

impl VadLink {
    /// Hands a job to the worker; on failure the job is dropped and the call's gate decides.
    pub fn submit(&self, job: VadJob) -> Result<(), SubmitError> {
        let envelope = Envelope {
            job,
            reply: self.reply.clone(),
        };
        self.jobs.try_send(Some(envelope)).map_err(|err| match err {
            TrySendError::Full(_) => SubmitError::Full,
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }

    /// An answer, if one has arrived.
    pub fn try_recv(&self) -> Option<VadJob> {
        self.answers.try_recv().ok()
    }

    /// Waits up to `timeout` for an answer (for offline use and tests; a live call polls).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<VadJob> {
        self.answers.recv_timeout(timeout).ok()
    }
}

impl super::vad::VadService for VadLink {
    fn submit(&self, job: VadJob) -> bool {
        VadLink::submit(self, job).is_ok()
    }

    fn try_recv(&self) -> Option<VadJob> {
        VadLink::try_recv(self)
    }
}

/// The worker loop.
fn run<B: VadBackend>(
    mut backend: B,
    config: WorkerConfig,
    queue: &Receiver<Option<Envelope>>,
    stats: &WorkerStats,
) {
    let max_batch = config.max_batch.max(1);
    let mut batch: Vec<Envelope> = Vec::with_capacity(max_batch);
    let mut jobs: Vec<VadJob> = Vec::with_capacity(max_batch);
    let mut stopping = false;
    while !stopping {
        match queue.recv() {
            Ok(Some(first)) => batch.push(first),
            Ok(None) | Err(_) => break,
        }
        if !config.batch_window.is_zero() {
            std::thread::sleep(config.batch_window);
        }
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(Some(envelope)) => batch.push(envelope),
                Ok(None) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        jobs.clear();
        jobs.extend(batch.iter().map(|e| e.job.clone()));
        #[allow(clippy::disallowed_methods)] // the worker is a driver thread; this times inference
        let started = std::time::Instant::now();
        let result = backend.infer(&mut jobs);
        let elapsed = started.elapsed();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        stats.infer_ns.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if let Err(err) = result {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "Silero inference failed; the calls' gates decide these chunks");
            for job in &mut jobs {
                job.probability = f32::NAN;
            }
        }
        for (envelope, job) in batch.drain(..).zip(jobs.drain(..)) {
            // A call that hung up, or one whose queue is full, just misses its answer.
            let _ = envelope.reply.try_send(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rate::AnalysisRate;

    /// Probability = first input sample; state counts inferences; records batch sizes.
    struct Echo(Arc<std::sync::Mutex<Vec<usize>>>);

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl VadBackend for Echo {
        type Error = Never;
        fn infer(&mut self, jobs: &mut [VadJob]) -> Result<(), Never> {
            self.0.lock().expect("lock").push(jobs.len());
            for job in jobs {
                job.probability = job.input[0];
                job.state[0] += 1.0;
            }
            Ok(())
        }
    }

    fn job(seq: u64, value: f32) -> VadJob {
        let mut input = [0.0; crate::analysis::rate::MAX_SILERO_WIDTH];
        input[0] = value;
        VadJob {
            seq,
            rate: AnalysisRate::Hz8000,
            input,
            state: [0.0; crate::analysis::vad::STATE_LEN],
            probability: 0.0,
        }
    }

    #[test]
    fn chunks_of_many_calls_share_one_inference_and_answers_go_back_to_their_call() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let worker = SileroWorker::spawn_backend(
            Echo(Arc::clone(&sizes)),
            WorkerConfig {
                batch_window: Duration::from_millis(50),
                ..WorkerConfig::default()
            },
        )
        .expect("spawn");
        let links: Vec<VadLink> = (0..8).map(|_| worker.link()).collect();
        for (i, link) in links.iter().enumerate() {
            link.submit(job(i as u64, i as f32 / 10.0)).expect("submit");
        }
        for (i, link) in links.iter().enumerate() {
            let answer = link.recv_timeout(Duration::from_secs(10)).expect("answer");
            assert_eq!(answer.seq, i as u64);
            assert_eq!(answer.probability, i as f32 / 10.0);
            assert_eq!(answer.state[0], 1.0);
        }
        // Eight submissions within the window: one inference (or, on a stalled machine, few).
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 8);
        assert_eq!(worker.stats().jobs, 8);
        drop(worker);
        assert_eq!(links[0].submit(job(9, 0.0)), Err(SubmitError::Stopped));
    }
}
