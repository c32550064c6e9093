//! The process-wide ONNX Runtime environment, shared by every `ort` user in Ringback (Silero VAD
//! here, the Piper voice in `agent-runtime`).
//!
//! ONNX Runtime is loaded at run time from `libonnxruntime.so` (ort's `load-dynamic`), because
//! ort's own download cannot work offline. ort 2.0.0-rc.15 allows one environment per process and
//! remembers the first even after it is dropped, so every session must be built from the one this
//! module hands out.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::SessionBuilder;

/// The environment, once built.
static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// Why the ONNX Runtime environment could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxEnvError {
    /// The shared library is not where the configuration says.
    #[error("ONNX Runtime library {} is missing; run deploy/setup to install it", path.display())]
    LibraryMissing {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// The library exists but could not be loaded (wrong version, wrong architecture).
    #[error("cannot load ONNX Runtime from {}", path.display())]
    Load {
        /// The library path.
        path: PathBuf,
        /// What the loader said.
        #[source]
        source: ort::LoadDynamicError,
    },
    /// ONNX Runtime refused to build the environment.
    #[error("building the ONNX Runtime environment")]
    Build(#[from] ort::Error),
}

/// Loads ONNX Runtime from `dylib` on first use and returns the process-wide environment.
///
/// Later calls return the same environment whatever path they pass: the library is loaded once.
pub fn onnx_environment(dylib: &Path) -> Result<Environment, OnnxEnvError> {
    let mut environment = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(environment) = environment.as_ref() {
        return Ok(environment.clone());
    }
    if !dylib.exists() {
        return Err(OnnxEnvError::LibraryMissing {
            path: dylib.to_path_buf(),
        });
    }
    let built = ort::init_from(dylib)
        .map_err(|source| OnnxEnvError::Load {
            path: dylib.to_path_buf(),
            source,
        })?
        .with_name("ringback")
        .build()?;
    Ok(environment.insert(built).clone())
}

/// A session of `model` on `intra_threads` threads (at least one), one inter-op thread, and no
/// spinning: on a two-core box spinning threads would take CPU from RTP pacing and the other
/// models for no gain on operators this small.
pub fn quiet_session(
    environment: &Environment,
    model: &Path,
    intra_threads: usize,
) -> Result<Session, ort::Error> {
    // Builder steps fail with an error that carries the builder back; we only want the cause.
    let cause = |err: ort::Error<SessionBuilder>| -> ort::Error { err.into() };
    Session::builder(environment)?
        .with_intra_threads(intra_threads.max(1))
        .map_err(cause)?
        .with_inter_threads(1)
        .map_err(cause)?
        .with_intra_op_spinning(false)
        .map_err(cause)?
        .commit_from_file(model)
}
