//! Call recording: a stereo 16-bit 8 kHz WAV with the remote party on the left channel and the
//! agent on the right.
//!
//! The session writes exactly one stereo frame per 20 ms tick, taking the left half from the
//! jitter buffer's playout (silence for gaps) and the right half from the pacer (silence when
//! nothing is queued), so the two channels cannot drift apart: alignment holds by construction,
//! not by timestamps. The header is rewritten every second so a process killed mid-call
//! leaves a file that players open up to the last second; [`Recorder::finalize`] writes the
//! final header.
//!
//! The file is written through a 64 KiB buffer (two seconds of audio), so the media path makes
//! one small `write` per two seconds plus the periodic header update; moving that to a writer
//! thread behind an SPSC ring is the next step when many calls share a core.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use hound::{SampleFormat, WavSpec, WavWriter};

use crate::frame::{FRAME_MS, FRAME_SAMPLES, Frame, SAMPLE_RATE_8K};

/// Frames between header updates: one second.
const FRAMES_PER_FLUSH: u32 = 1000 / FRAME_MS;
/// Size of the write buffer in front of the file.
const WRITE_BUFFER: usize = 64 * 1024;

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// Creating or writing the WAV file failed.
    #[error("recording {path}: {source}")]
    Wav {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: hound::Error,
    },
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    /// Where the WAV file is.
    pub path: PathBuf,
    /// Its length in milliseconds.
    pub duration_ms: u64,
}

/// Writes the stereo call recording. See the module docs.
pub struct Recorder {
    writer: WavWriter<BufWriter<File>>,
    path: PathBuf,
    frames: u64,
    frames_since_flush: u32,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish()
    }
}

impl Recorder {
    /// The WAV format of every recording.
    pub const SPEC: WavSpec = WavSpec {
        channels: 2,
        sample_rate: SAMPLE_RATE_8K,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };

    /// Creates (or truncates) the file at `path` and writes a header for an empty recording.
    pub fn create(path: &Path) -> Result<Self, RecorderError> {
        let wav = |source| RecorderError::Wav {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(|e| wav(hound::Error::IoError(e)))?;
        let mut writer =
            WavWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file), Self::SPEC).map_err(wav)?;
        // Make the file a valid (empty) WAV right away.
        writer.flush().map_err(wav)?;
        Ok(Recorder {
            writer,
            path: path.to_owned(),
            frames: 0,
            frames_since_flush: 0,
        })
    }

    /// Appends one 20 ms stereo frame: `left` is the remote party, `right` the agent.
    pub fn write_frame(&mut self, left: &Frame, right: &Frame) -> Result<(), RecorderError> {
        // hound reuses this writer's buffer once it has been sized by the first frame.
        let mut samples = self.writer.get_i16_writer(2 * FRAME_SAMPLES as u32);
        for (&l, &r) in left.iter().zip(right.iter()) {
            samples.write_sample(l);
            samples.write_sample(r);
        }
        samples.flush().map_err(|source| self.error(source))?;
        self.frames += 1;
        self.frames_since_flush += 1;
        if self.frames_since_flush >= FRAMES_PER_FLUSH {
            self.frames_since_flush = 0;
            self.writer.flush().map_err(|source| self.error(source))?;
        }
        Ok(())
    }

    /// Milliseconds recorded so far.
    pub fn duration_ms(&self) -> u64 {
        self.frames * u64::from(FRAME_MS)
    }

    /// Where the file is being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the final header and closes the file.
    pub fn finalize(self) -> Result<RecordingInfo, RecorderError> {
        let duration_ms = self.duration_ms();
        let Recorder { writer, path, .. } = self;
        match writer.finalize() {
            Ok(()) => Ok(RecordingInfo { path, duration_ms }),
            Err(source) => Err(RecorderError::Wav { path, source }),
        }
    }

    fn error(&self, source: hound::Error) -> RecorderError {
        RecorderError::Wav {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SILENCE;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("media-core-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    fn read_channels(path: &Path) -> (WavSpec, Vec<i16>, Vec<i16>) {
        let mut reader = hound::WavReader::open(path).expect("readable wav");
        let spec = reader.spec();
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
        let left = samples.iter().step_by(2).copied().collect();
        let right = samples.iter().skip(1).step_by(2).copied().collect();
        (spec, left, right)
    }

    #[test]
    fn channels_hold_remote_left_and_agent_right() {
        let path = temp_path("channels.wav");
        let mut rec = Recorder::create(&path).expect("create");
        let mut left = SILENCE;
        let mut right = SILENCE;
        for k in 0..10i16 {
            left.fill(k + 1);
            right.fill(-(k + 1));
            rec.write_frame(&left, &right).expect("write");
        }
        let info = rec.finalize().expect("finalize");
        assert_eq!(
            info,
            RecordingInfo {
                path: path.clone(),
                duration_ms: 200
            }
        );
        let (spec, l, r) = read_channels(&path);
        assert_eq!(spec, Recorder::SPEC);
        assert_eq!(l.len(), 1600);
        assert_eq!(r.len(), 1600);
        for k in 0..10usize {
            assert!(l[k * 160..(k + 1) * 160].iter().all(|&s| s == k as i16 + 1));
            assert!(r[k * 160..(k + 1) * 160].iter().all(|&s| s == -(k as i16 + 1)));
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn a_file_abandoned_mid_call_is_readable_up_to_the_last_second() {
        let path = temp_path("abandoned.wav");
        let mut rec = Recorder::create(&path).expect("create");
        let tone = [1000i16; FRAME_SAMPLES];
        for _ in 0..60 {
            rec.write_frame(&tone, &SILENCE).expect("write");
        }
        // Simulate a killed process: never finalize, never drop (drop would finalize).
        std::mem::forget(rec);
        let (_, left, _) = read_channels(&path);
        // The header was last written after frame 50 (one second).
        assert_eq!(left.len(), 50 * FRAME_SAMPLES);
        assert!(left.iter().all(|&s| s == 1000));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn a_fresh_recording_is_already_a_valid_empty_file() {
        let path = temp_path("fresh.wav");
        let rec = Recorder::create(&path).expect("create");
        let (spec, left, _) = read_channels(&path);
        assert_eq!(spec.channels, 2);
        assert!(left.is_empty());
        assert_eq!(rec.finalize().expect("finalize").duration_ms, 0);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let err = Recorder::create(Path::new("/nonexistent-dir/x.wav")).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"));
    }
}
