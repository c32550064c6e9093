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
//! one small `write` per two seconds plus the periodic header update.
//!
//! After a crash, [`repair`] makes any recording whole again: it recomputes the RIFF and
//! `data` sizes from what actually reached the disk (cutting a torn last sample frame), so a
//! file whose header lagged behind its data, or was never finalized, plays to its last
//! written sample. Run it on start-up for every recording of a call that was still running.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
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
    /// Reading or rewriting a recording for repair failed.
    #[error("repairing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a WAV recording this repair understands.
    #[error("{path} is not a repairable WAV file: {reason}")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// Whether the header had to be rewritten (its sizes disagreed with the data on disk).
    pub fixed: bool,
    /// Bytes of a torn last sample frame that were cut off.
    pub truncated: u64,
    /// Length of the audio now in the file, in milliseconds.
    pub duration_ms: u64,
}

/// Makes the WAV file at `path` consistent with the audio that reached the disk: RIFF and
/// `data` sizes recomputed from the file length, a torn last sample frame cut off. A file that
/// is already consistent is left untouched (`fixed: false`). Works on any PCM WAV whose `data`
/// chunk is last, as recordings are.
pub fn repair(path: &Path) -> Result<Repair, RecorderError> {
    let io = |source| RecorderError::Io {
        path: path.to_owned(),
        source,
    };
    let not_wav = |reason| RecorderError::NotWav {
        path: path.to_owned(),
        reason,
    };
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = [0u8; 12];
    file.read_exact(&mut header)
        .map_err(|_| not_wav("shorter than a RIFF header"))?;
    if &header[..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Err(not_wav("no RIFF/WAVE signature"));
    }
    // Walk the chunks to `fmt ` (for the frame size) and `data`.
    let mut offset = 12u64;
    let mut block_align = None;
    let mut byte_rate = None;
    let data = loop {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.read_exact(&mut chunk)
            .map_err(|_| not_wav("no data chunk"))?;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if &chunk[..4] == b"data" {
            break offset;
        }
        if &chunk[..4] == b"fmt " {
            let mut fmt = [0u8; 16];
            file.read_exact(&mut fmt)
                .map_err(|_| not_wav("truncated fmt chunk"))?;
            byte_rate = Some(u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]));
            block_align = Some(u16::from_le_bytes([fmt[12], fmt[13]]));
        }
        // Chunks are padded to an even size.
        offset += 8 + size + (size & 1);
        if offset >= len {
            return Err(not_wav("no data chunk"));
        }
    };
    let (Some(block_align), Some(byte_rate)) = (block_align, byte_rate) else {
        return Err(not_wav("no fmt chunk before the data"));
    };
    if block_align == 0 || byte_rate == 0 {
        return Err(not_wav("zero block align or byte rate"));
    }
    let on_disk = len.saturating_sub(data + 8);
    let whole = on_disk - on_disk % u64::from(block_align);
    // The 32-bit sizes cap a WAV at 4 GiB; a longer recording keeps its first 4 GiB.
    let whole = whole.min(u64::from(u32::MAX) - data - 8);
    let mut sizes = [0u8; 4];
    file.seek(SeekFrom::Start(data + 4)).map_err(io)?;
    file.read_exact(&mut sizes).map_err(io)?;
    let stated_data = u64::from(u32::from_le_bytes(sizes));
    file.seek(SeekFrom::Start(4)).map_err(io)?;
    file.read_exact(&mut sizes).map_err(io)?;
    let stated_riff = u64::from(u32::from_le_bytes(sizes));
    let riff = data + 8 + whole - 8;
    let fixed = stated_data != whole || stated_riff != riff || whole != on_disk;
    if fixed {
        file.set_len(data + 8 + whole).map_err(io)?;
        file.seek(SeekFrom::Start(4)).map_err(io)?;
        file.write_all(&(riff as u32).to_le_bytes()).map_err(io)?;
        file.seek(SeekFrom::Start(data + 4)).map_err(io)?;
        file.write_all(&(whole as u32).to_le_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(Repair {
        fixed,
        truncated: on_disk - whole,
        duration_ms: whole * 1000 / u64::from(byte_rate),
    })
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
    fn repair_recovers_data_the_header_never_counted_and_cuts_a_torn_frame() {
        let path = temp_path("torn.wav");
        let mut rec = Recorder::create(&path).expect("create");
        let tone = [1000i16; FRAME_SAMPLES];
        for _ in 0..50 {
            rec.write_frame(&tone, &SILENCE).expect("write");
        }
        // Killed after ten more frames reached the disk, the last sample frame torn, before
        // the header was updated.
        std::mem::forget(rec);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        for _ in 0..10 * FRAME_SAMPLES {
            f.write_all(&[0xE8, 0x03, 0, 0]).expect("frame");
        }
        f.write_all(&[1, 2, 3]).expect("torn bytes");
        drop(f);
        // Before: the header still says 50 frames.
        assert_eq!(read_channels(&path).1.len(), 50 * FRAME_SAMPLES);
        let report = repair(&path).expect("repair");
        assert_eq!(
            report,
            Repair {
                fixed: true,
                truncated: 3,
                duration_ms: 1200
            }
        );
        let (spec, left, right) = read_channels(&path);
        assert_eq!(spec, Recorder::SPEC);
        assert_eq!(left.len(), 60 * FRAME_SAMPLES);
        assert!(left.iter().all(|&s| s == 1000) && right.iter().all(|&s| s == 0));
        // A second repair finds nothing to do.
        assert!(!repair(&path).expect("again").fixed);
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn repair_refuses_what_is_not_a_wav() {
        let path = temp_path("garbage.wav");
        for bytes in [&b""[..], b"RIFF\0\0\0\0WAVE", b"RIFX....WAVEfmt ", &[0u8; 100]] {
            std::fs::write(&path, bytes).expect("write");
            assert!(
                matches!(repair(&path), Err(RecorderError::NotWav { .. })),
                "{bytes:?}"
            );
        }
        std::fs::write(&path, b"RIFF\x24\0\0\0WAVEdata\0\0\0\0").expect("write");
        assert!(matches!(repair(&path), Err(RecorderError::NotWav { .. })));
        assert!(matches!(
            repair(Path::new("/nonexistent/x.wav")),
            Err(RecorderError::Io { .. })
        ));
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn an_unwritable_path_is_an_error() {
        let err = Recorder::create(Path::new("/nonexistent-dir/x.wav")).expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent-dir/x.wav"));
    }
}
