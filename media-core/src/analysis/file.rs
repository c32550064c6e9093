//! Whole-file analysis, for `ringback analyze` and the evaluation harness: the live
//! [`Analyzer`] fed from a WAV file, with Silero run in line.
//!
//! A file at 8 kHz is analysed as it is; any other rate is resampled to 16 kHz first (rubato,
//! band-limited). A stereo file is analysed on its left channel, which in Ringback's recordings
//! is the remote party.

use std::path::{Path, PathBuf};

use rubato::audioadapter::Adapter;
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::analysis::amd::{AmdCause, AmdDecision, Verdict};
use crate::analysis::analyzer::{AnalysisError, AnalysisEvent, Analyzer, AnalyzerConfig};
use crate::analysis::beep::Beep;
use crate::analysis::dtmf::MergedDigit;
use crate::analysis::rate::{ANALYSIS_FRAME_MS, AnalysisRate};
use crate::analysis::vad::{VadBackend, VadMode, VadStats};

/// Longest file accepted, in seconds of audio (an hour): the samples are held in memory.
const MAX_SECONDS: u64 = 3600;

/// Why a file could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file is not a WAV file hound can read.
    #[error("cannot read WAV file {}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// What hound said.
        #[source]
        source: hound::Error,
    },
    /// The WAV file is valid but holds nothing usable.
    #[error("unsupported WAV file {}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Resampling to 16 kHz failed.
    #[error("resampling {from_hz} Hz to 16 kHz: {reason}")]
    Resample {
        /// The file's rate.
        from_hz: u32,
        /// What rubato said.
        reason: String,
    },
    /// The analyzer refused its input or configuration.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// Silero failed.
    #[error("voice activity detection failed")]
    Vad(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Mono audio at an analysis rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonoAudio {
    /// The rate.
    pub rate: AnalysisRate,
    /// The samples.
    pub samples: Vec<i16>,
}

/// What `ringback analyze` reports. Times in ms from the start of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAnalysis {
    /// Length of the audio.
    pub duration_ms: u64,
    /// Speech segments, `[start, end)`.
    pub speech: Vec<(u64, u64)>,
    /// DTMF digits.
    pub dtmf: Vec<MergedDigit>,
    /// The AMD decision (taking the start of the file as the answer); `unknown` when the file
    /// ended first.
    pub amd: AmdDecision,
    /// Beeps.
    pub beeps: Vec<Beep>,
    /// Every event, in the order the analyzer gave them (barge-in never appears: no agent).
    pub events: Vec<AnalysisEvent>,
    /// How many chunks the gate let through to Silero.
    pub vad: VadStats,
}

/// Reads a WAV file (PCM 8-32 bit or float, any rate, mono or more channels) into mono audio
/// at an analysis rate: the first (left) channel, resampled to 16 kHz unless it is at 8 kHz.
pub fn read_wav(path: &Path) -> Result<MonoAudio, FileError> {
    let file = std::fs::File::open(path).map_err(|e| FileError::Wav {
        path: path.to_path_buf(),
        source: hound::Error::IoError(e),
    })?;
    read_wav_from(std::io::BufReader::new(file), path)
}

/// [`read_wav`] from any reader; `path` only names it in errors. Never trusts the header's
/// lengths for allocation: a header may claim more data than the file holds.
pub fn read_wav_from(reader: impl std::io::Read, path: &Path) -> Result<MonoAudio, FileError> {
    let wav_err = |source| FileError::Wav {
        path: path.to_path_buf(),
        source,
    };
    let unsupported = |reason: String| FileError::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = hound::WavReader::new(reader).map_err(wav_err)?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(unsupported("no channels".into()));
    }
    if !(4000..=384_000).contains(&spec.sample_rate) {
        return Err(unsupported(format!("sample rate {} Hz", spec.sample_rate)));
    }
    let frames = u64::from(reader.duration());
    if frames > MAX_SECONDS * u64::from(spec.sample_rate) {
        return Err(unsupported(format!("longer than {MAX_SECONDS} s")));
    }
    let channels = usize::from(spec.channels);
    // Grows with what is actually read; the header's claim only caps the first allocation.
    let mut left: Vec<f32> = Vec::with_capacity((frames as usize).min(1 << 20));
    match spec.sample_format {
        hound::SampleFormat::Float => {
            if spec.bits_per_sample != 32 {
                return Err(unsupported(format!("{}-bit float", spec.bits_per_sample)));
            }
            for (i, s) in reader.samples::<f32>().enumerate() {
                let s = s.map_err(wav_err)?;
                if i % channels == 0 {
                    left.push(if s.is_finite() { s.clamp(-1.0, 1.0) } else { 0.0 });
                }
            }
        }
        hound::SampleFormat::Int => {
            if !(8..=32).contains(&spec.bits_per_sample) {
                return Err(unsupported(format!("{}-bit PCM", spec.bits_per_sample)));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            for (i, s) in reader.samples::<i32>().enumerate() {
                let s = s.map_err(wav_err)?;
                if i % channels == 0 {
                    left.push(s as f32 * scale);
                }
            }
        }
    }
    let (rate, samples) = match spec.sample_rate {
        8000 => (AnalysisRate::Hz8000, left),
        16000 => (AnalysisRate::Hz16000, left),
        hz => (AnalysisRate::Hz16000, resample(&left, hz, 16000)?),
    };
    let samples = samples
        .iter()
        .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(MonoAudio { rate, samples })
}

fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, FileError> {
    let err = |reason: String| FileError::Resample { from_hz, reason };
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let mut resampler = Fft::<f32>::new(from_hz as usize, to_hz as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| err(e.to_string()))?;
    let adapter = SequentialSlice::new(input, 1, input.len()).map_err(|e| err(e.to_string()))?;
    let out = resampler
        .process_all(&adapter, adapter.frames(), None)
        .map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}

/// Analyses mono audio with `config` (its rate is replaced by the audio's). With a backend,
/// Silero runs in line on every job as it is handed out, so the result is deterministic and
/// the same as a live call's given the same answers; without one, the gate decides alone.
pub fn analyze_audio<B: VadBackend>(
    audio: &MonoAudio,
    config: AnalyzerConfig,
    mut backend: Option<&mut B>,
) -> Result<FileAnalysis, FileError> {
    let config = AnalyzerConfig {
        rate: audio.rate,
        vad: if backend.is_some() {
            config.vad
        } else {
            VadMode::GateOnly
        },
        ..config
    };
    let mut analyzer = Analyzer::new(config)?;
    let frame = audio.rate.frame_samples();
    let mut events = Vec::new();
    let mut padded = vec![0i16; frame];
    for (k, chunk) in audio.samples.chunks(frame).enumerate() {
        // A partial last frame is padded with silence.
        let samples = if chunk.len() == frame {
            chunk
        } else {
            padded[..chunk.len()].copy_from_slice(chunk);
            &padded[..]
        };
        analyzer.push_frame(k as u64 * ANALYSIS_FRAME_MS, samples)?;
        run_jobs(&mut analyzer, &mut backend)?;
        while let Some(e) = analyzer.poll_event() {
            events.push(e);
        }
    }
    run_jobs(&mut analyzer, &mut backend)?;
    analyzer.finish();
    while let Some(e) = analyzer.poll_event() {
        events.push(e);
    }
    let duration_ms = audio.samples.len() as u64 * 1000 / u64::from(audio.rate.hz());
    Ok(summarize(events, duration_ms, analyzer.vad_stats()))
}

fn run_jobs<B: VadBackend>(analyzer: &mut Analyzer, backend: &mut Option<&mut B>) -> Result<(), FileError> {
    let Some(backend) = backend.as_mut() else {
        return Ok(());
    };
    while let Some(job) = analyzer.poll_vad_job() {
        let mut jobs = [job];
        backend
            .infer(&mut jobs)
            .map_err(|e| FileError::Vad(Box::new(e)))?;
        analyzer.handle_vad_result(&jobs[0]);
    }
    Ok(())
}

/// Collects the report from the events.
fn summarize(events: Vec<AnalysisEvent>, duration_ms: u64, vad: VadStats) -> FileAnalysis {
    let mut speech = Vec::new();
    let mut dtmf = Vec::new();
    let mut beeps = Vec::new();
    let mut amd = None;
    for e in &events {
        match *e {
            AnalysisEvent::SpeechEnded { start_ms, end_ms } => {
                speech.push((start_ms, end_ms.min(duration_ms)))
            }
            AnalysisEvent::Dtmf(d) => dtmf.push(d),
            AnalysisEvent::Beep(b) => beeps.push(b),
            AnalysisEvent::Amd(d) => amd = Some(d),
            _ => {}
        }
    }
    let amd = amd.unwrap_or(AmdDecision {
        verdict: Verdict::Unknown,
        confidence: 0.0,
        decided_ms: duration_ms,
        cause: AmdCause::Timeout,
    });
    FileAnalysis {
        duration_ms,
        speech,
        dtmf,
        amd,
        beeps,
        events,
        vad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(spec: hound::WavSpec, samples: &[i16]) -> Vec<u8> {
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).expect("writer");
        for &s in samples {
            w.write_sample(s).expect("sample");
        }
        w.finalize().expect("finalize");
        cursor.into_inner()
    }

    fn spec(channels: u16, hz: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: hz,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn stereo_gives_the_left_channel_and_other_rates_become_16_khz() {
        let interleaved: Vec<i16> = (0..800).flat_map(|i| [i as i16, -1000]).collect();
        let audio = read_wav_from(
            std::io::Cursor::new(wav_bytes(spec(2, 8000), &interleaved)),
            Path::new("x"),
        )
        .expect("read");
        assert_eq!(audio.rate, AnalysisRate::Hz8000);
        assert_eq!(audio.samples, (0..800).map(|i| i as i16).collect::<Vec<_>>());
        let audio = read_wav_from(
            std::io::Cursor::new(wav_bytes(spec(1, 44100), &[0; 44100])),
            Path::new("x"),
        )
        .expect("read");
        assert_eq!(audio.rate, AnalysisRate::Hz16000);
        assert!(
            audio.samples.len().abs_diff(16000) <= 2,
            "{}",
            audio.samples.len()
        );
    }

    #[test]
    fn garbage_truncation_and_lying_headers_are_errors_not_panics() {
        let good = wav_bytes(spec(1, 8000), &[1000; 1600]);
        for cut in [0, 4, 12, 30, 44, 45, 100] {
            let _ = read_wav_from(std::io::Cursor::new(&good[..cut.min(good.len())]), Path::new("x"));
        }
        // A data chunk that claims 2 GB but holds 3200 bytes.
        let mut liar = good.clone();
        let data = liar.windows(4).position(|w| w == b"data").expect("data chunk");
        liar[data + 4..data + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        assert!(read_wav_from(std::io::Cursor::new(liar), Path::new("x")).is_err());
        let mut seed = 7u32;
        for _ in 0..200 {
            let mut bytes = good.clone();
            for _ in 0..8 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (seed >> 8) as usize % 60;
                bytes[i] = (seed >> 24) as u8;
            }
            let _ = read_wav_from(std::io::Cursor::new(bytes), Path::new("x"));
        }
        assert!(
            read_wav_from(
                std::io::Cursor::new(wav_bytes(spec(1, 1000), &[0; 10])),
                Path::new("x")
            )
            .is_err()
        );
    }
}
