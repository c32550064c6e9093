//! Smart Turn v3 through ONNX Runtime, and the one worker thread of a process that runs it for
//! every call.
//!
//! The model (`smart-turn-v3.2-cpu.onnx` from the `pipecat-ai` wheel, BSD-2) reads the
//! [`mel`](super::mel) features of the last 8 s of a turn (`input_features` `[B, 80, 800]`) and
//! answers the probability that the speaker has finished (`logits` `[B, 1]`, already a
//! probability). About 20-30 ms a turn on one core, so it runs off the media path: calls submit
//! [`TurnJob`]s through their [`TurnLink`] and poll for the answer at their next tick.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use ort::session::Session;
use ort::value::TensorRef;

use crate::analysis::mel::{FEATURES, FRAMES, LogMel, MELS};
use crate::analysis::onnx::{OnnxEnvError, onnx_environment, quiet_session};
use crate::analysis::turn::{TurnAnswer, TurnJob, TurnService};

/// Why Smart Turn could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmartTurnError {
    /// The model file is missing.
    #[error("Smart Turn model {} is missing; run deploy/setup to install it", path.display())]
    ModelMissing {
        /// The path looked for.
        path: PathBuf,
    },
    /// ONNX Runtime could not be set up.
    #[error(transparent)]
    Environment(#[from] OnnxEnvError),
    /// ONNX Runtime failed to load or run the model.
    #[error("Smart Turn inference")]
    Onnx(#[from] ort::Error),
    /// The model answered something that is not a probability.
    #[error("Smart Turn answered {0}, not a probability")]
    NotAProbability(f32),
}

/// A loaded Smart Turn model with its feature extractor. One thread runs it.
pub struct SmartTurnModel {
    session: Session,
    mel: LogMel,
    features: Vec<f32>,
}

impl std::fmt::Debug for SmartTurnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmartTurnModel").finish_non_exhaustive()
    }
}

impl SmartTurnModel {
    /// Loads ONNX Runtime from `onnxruntime` (once per process) and the model from `model`, to
    /// run on one thread without spinning (the media path shares the cores).
    pub fn load(model: &Path, onnxruntime: &Path) -> Result<Self, SmartTurnError> {
        if !model.exists() {
            return Err(SmartTurnError::ModelMissing {
                path: model.to_path_buf(),
            });
        }
        let session = quiet_session(&onnx_environment(onnxruntime)?, model, 1)?;
        Ok(SmartTurnModel {
            session,
            mel: LogMel::new(),
            features: vec![0.0; FEATURES],
        })
    }

    /// The probability that the turn whose audio is `audio_16k` (16 kHz, -1..1; only the last
    /// 8 s are heard) is complete.
    pub fn predict(&mut self, audio_16k: &[f32]) -> Result<f32, SmartTurnError> {
        self.mel.compute(audio_16k, &mut self.features);
        let outputs = self.session.run(ort::inputs![
            "input_features" => TensorRef::from_array_view(([1, MELS, FRAMES], &self.features[..]))?,
        ])?;
        let (_, logits) = outputs["logits"].try_extract_tensor::<f32>()?;
        let probability = logits.first().copied().unwrap_or(f32::NAN);
        if (0.0..=1.0).contains(&probability) {
            Ok(probability)
        } else {
            Err(SmartTurnError::NotAProbability(probability))
        }
    }
}

/// Something that judges turns: the model, or a test double.
pub trait TurnBackend {
    /// Why judging failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The probability that the turn is complete.
    fn judge(&mut self, audio_16k: &[f32]) -> Result<f32, Self::Error>;
}

impl TurnBackend for SmartTurnModel {
    type Error = SmartTurnError;

    fn judge(&mut self, audio_16k: &[f32]) -> Result<f32, SmartTurnError> {
        self.predict(audio_16k)
    }
}

/// A job and where its answer goes.
struct Envelope {
    job: TurnJob,
    reply: SyncSender<TurnAnswer>,
}

/// The running worker. Dropping it stops the thread (after the job in progress).
#[derive(Debug)]
pub struct SmartTurnWorker {
    jobs: SyncSender<Option<Envelope>>,
    thread: Option<JoinHandle<()>>,
}

/// One call's connection to the worker.
#[derive(Debug)]
pub struct TurnLink {
    jobs: SyncSender<Option<Envelope>>,
    reply: SyncSender<TurnAnswer>,
    answers: Receiver<TurnAnswer>,
}

impl SmartTurnWorker {
    /// Jobs that may queue (all calls together); a pause whose job finds it full is left to the
    /// silence rule.
    const QUEUE: usize = 64;

    /// Starts the worker thread with a loaded model (or a test double).
    pub fn spawn<B>(backend: B) -> std::io::Result<Self>
    where
        B: TurnBackend + Send + 'static,
    {
        let (jobs, queue) = sync_channel(Self::QUEUE);
        let thread = std::thread::Builder::new()
            .name("smart-turn".into())
            .spawn(move || run(backend, &queue))?;
        Ok(SmartTurnWorker {
            jobs,
            thread: Some(thread),
        })
    }

    /// A link for one call.
    pub fn link(&self) -> TurnLink {
        // One check per call is useful at a time; a few slots leave room for late answers.
        let (reply, answers) = sync_channel(4);
        TurnLink {
            jobs: self.jobs.clone(),
            reply,
            answers,
        }
    }
}

impl Drop for SmartTurnWorker {
    fn drop(&mut self) {
        let _ = self.jobs.send(None);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the Smart Turn worker thread panicked");
        }
    }
}

impl TurnLink {
    /// Waits up to `timeout` for an answer (offline use and tests; a live call polls).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<TurnAnswer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

impl TurnService for TurnLink {
    fn submit(&self, job: TurnJob) -> bool {
        let envelope = Envelope {
            job,
            reply: self.reply.clone(),
        };
        match self.jobs.try_send(Some(envelope)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    fn try_recv(&self) -> Option<TurnAnswer> {
        self.answers.try_recv().ok()
    }
}

/// The worker loop: one job at a time, oldest first. A failure is logged once per kind of error
/// and answered with no probability, so the call's silence rule decides.
fn run<B: TurnBackend>(mut backend: B, queue: &Receiver<Option<Envelope>>) {
    let mut warned = false;
    while let Ok(Some(Envelope { job, reply })) = queue.recv() {
        let complete = match backend.judge(&job.audio_16k) {
            Ok(p) => Some(p),
            Err(err) => {
                if !warned {
                    warned = true;
                    tracing::warn!(error = %err, "Smart Turn failed; the silence rule ends these turns (logged once)");
                }
                None
            }
        };
        // A call that hung up, or one whose answers pile up, just misses this one.
        let _ = reply.try_send(TurnAnswer {
            seq: job.seq,
            complete,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Judges by the first sample; fails on NaN.
    struct FirstSample;

    #[derive(Debug, thiserror::Error)]
    #[error("no audio")]
    struct NoAudio;

    impl TurnBackend for FirstSample {
        type Error = NoAudio;
        fn judge(&mut self, audio: &[f32]) -> Result<f32, NoAudio> {
            audio.first().copied().filter(|p| !p.is_nan()).ok_or(NoAudio)
        }
    }

    #[test]
    fn answers_go_back_to_their_call_and_failures_answer_nothing() {
        let worker = SmartTurnWorker::spawn(FirstSample).expect("spawn");
        let a = worker.link();
        let b = worker.link();
        assert!(a.submit(TurnJob {
            seq: 7,
            audio_16k: vec![0.9]
        }));
        assert!(b.submit(TurnJob {
            seq: 3,
            audio_16k: vec![f32::NAN]
        }));
        let answer = a.recv_timeout(Duration::from_secs(10)).expect("answer");
        assert_eq!(
            answer,
            TurnAnswer {
                seq: 7,
                complete: Some(0.9)
            }
        );
        let answer = b.recv_timeout(Duration::from_secs(10)).expect("answer");
        assert_eq!(
            answer,
            TurnAnswer {
                seq: 3,
                complete: None
            }
        );
        drop(worker);
        assert!(!a.submit(TurnJob {
            seq: 8,
            audio_16k: vec![0.1]
        }));
    }
}
