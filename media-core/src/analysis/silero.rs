//! Silero VAD through ONNX Runtime: one model, run on batches of chunks from many calls.
//!
//! The model (`silero_vad.onnx` from the `silero-vad` wheel) takes `input` `[B, context + chunk]`,
//! `state` `[2, B, 128]` and a scalar `sr`, and returns `output` `[B, 1]` (speech probability) and
//! `stateN` `[2, B, 128]`. One inference per sample rate present in the batch; batching is what
//! makes it cheap (measured about 3x cheaper per stream than one at a time, see
//! `benches/benches/silero.rs`).

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::analysis::onnx::{OnnxEnvError, onnx_environment, quiet_session};
use crate::analysis::rate::AnalysisRate;
use crate::analysis::vad::{STATE_LEN, VadBackend, VadJob};

/// Floats of state per stream and layer.
const STATE_WIDTH: usize = 128;

/// Why Silero could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SileroError {
    /// The model file is missing.
    #[error("Silero model {} is missing; run deploy/setup to install it", path.display())]
    ModelMissing {
        /// The path looked for.
        path: PathBuf,
    },
    /// ONNX Runtime could not be set up.
    #[error(transparent)]
    Environment(#[from] OnnxEnvError),
    /// ONNX Runtime failed to load or run the model.
    #[error("Silero inference")]
    Onnx(#[from] ort::Error),
    /// The model's outputs were not shaped as Silero's are.
    #[error("Silero output {name} has {got} values, expected {expected}")]
    OutputShape {
        /// Which output.
        name: &'static str,
        /// Values found.
        got: usize,
        /// Values expected.
        expected: usize,
    },
}

/// A loaded Silero VAD model. Not `Sync`: one thread runs it (the batching worker).
pub struct SileroModel {
    session: Session,
    input: Vec<f32>,
    state: Vec<f32>,
    picked: Vec<usize>,
}

impl std::fmt::Debug for SileroModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SileroModel").finish_non_exhaustive()
    }
}

impl SileroModel {
    /// Loads ONNX Runtime from `onnxruntime` (once per process) and the model from `model`, to run
    /// on one thread without spinning (the media path shares the cores). About 0.1 s.
    pub fn load(model: &Path, onnxruntime: &Path) -> Result<Self, SileroError> {
        if !model.exists() {
            return Err(SileroError::ModelMissing {
                path: model.to_path_buf(),
            });
        }
        let session = quiet_session(&onnx_environment(onnxruntime)?, model, 1)?;
        Ok(SileroModel {
            session,
            input: Vec::new(),
            state: Vec::new(),
            picked: Vec::new(),
        })
    }

    /// Runs the jobs of one rate in a single inference.
    fn infer_rate(&mut self, rate: AnalysisRate, jobs: &mut [VadJob]) -> Result<(), SileroError> {
        self.picked.clear();
        self.picked.extend(
            jobs.iter()
                .enumerate()
                .filter(|(_, j)| j.rate == rate)
                .map(|(i, _)| i),
        );
        let batch = self.picked.len();
        if batch == 0 {
            return Ok(());
        }
        let width = rate.silero_width();
        self.input.clear();
        self.state.clear();
        self.state.resize(2 * batch * STATE_WIDTH, 0.0);
        for (b, &i) in self.picked.iter().enumerate() {
            let job = &jobs[i];
            self.input.extend_from_slice(job.row());
            for layer in 0..2 {
                let dst = layer * batch * STATE_WIDTH + b * STATE_WIDTH;
                let src = layer * STATE_WIDTH;
                self.state[dst..dst + STATE_WIDTH].copy_from_slice(&job.state[src..src + STATE_WIDTH]);
            }
        }
        let sr = [i64::from(rate.hz())];
        let outputs = self.session.run(ort::inputs![
            "input" => TensorRef::from_array_view(([batch, width], &self.input[..]))?,
            "state" => TensorRef::from_array_view(([2, batch, STATE_WIDTH], &self.state[..]))?,
            "sr" => TensorRef::from_array_view(((), &sr[..]))?,
        ])?;
        let (_, probabilities) = outputs["output"].try_extract_tensor::<f32>()?;
        let (_, next_state) = outputs["stateN"].try_extract_tensor::<f32>()?;
        if probabilities.len() != batch {
            return Err(SileroError::OutputShape {
                name: "output",
                got: probabilities.len(),
                expected: batch,
            });
        }
        if next_state.len() != 2 * batch * STATE_WIDTH {
            return Err(SileroError::OutputShape {
                name: "stateN",
                got: next_state.len(),
                expected: 2 * batch * STATE_WIDTH,
            });
        }
        for (b, &i) in self.picked.iter().enumerate() {
            let job = &mut jobs[i];
            job.probability = probabilities[b];
            for layer in 0..2 {
                let src = layer * batch * STATE_WIDTH + b * STATE_WIDTH;
                let dst = layer * STATE_WIDTH;
                job.state[dst..dst + STATE_WIDTH].copy_from_slice(&next_state[src..src + STATE_WIDTH]);
            }
        }
        debug_assert_eq!(STATE_LEN, 2 * STATE_WIDTH);
        Ok(())
    }
}

impl VadBackend for SileroModel {
    type Error = SileroError;

    fn infer(&mut self, jobs: &mut [VadJob]) -> Result<(), SileroError> {
        self.infer_rate(AnalysisRate::Hz8000, jobs)?;
        self.infer_rate(AnalysisRate::Hz16000, jobs)
    }
}
