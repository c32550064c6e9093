//! What is left of a recording its writer did not finish: the file of a call whose process was
//! killed (found at start-up), whose disk filled or went read-only mid-call, or that was never
//! answered (the file is created, empty, before dialing, so a full disk refuses the call up front).
//!
//! Every such file ends one of two ways, never orphaned (a file no call row points to is never
//! served and never purged by retention, and may hold personal data): audio that reached the disk
//! is made readable and attached to its call, served and later purged like any recording; a file
//! with no audio, or too torn to read, is deleted.

use media_core::recorder::{self, RecorderError};
use std::path::Path;

/// The recording of call `id` in `recordings` (`<id>.wav`), salvaged: the path to attach to the
/// call, or `None` when there is nothing to attach (no file, no audio, unreadable; deleted).
///
/// [`recorder::repair`] recomputes the header from what reached the disk. A file that cannot be
/// opened for writing (the directory went read-only) cannot be repaired, and is attached as its
/// last header counts it (at most a second behind its audio) when it can be read at all.
pub(crate) fn salvage(recordings: &Path, id: &str) -> Option<String> {
    let path = recordings.join(format!("{id}.wav"));
    if !path.exists() {
        return None;
    }
    let attach = || Some(path.to_string_lossy().into_owned());
    match recorder::repair(&path) {
        Ok(report) if report.duration_ms > 0 => {
            tracing::info!(call_id = %id, fixed = report.fixed, duration_ms = report.duration_ms,
                "recording the writer did not finish is attached");
            attach()
        }
        Ok(_) => {
            tracing::debug!(call_id = %id, "recording without audio deleted");
            delete(&path, id);
            None
        }
        Err(RecorderError::Io { source, .. }) if readable_audio(&path) => {
            tracing::warn!(call_id = %id, err = %source,
                "recording cannot be repaired; attached as far as its header counts");
            attach()
        }
        Err(err) => {
            tracing::warn!(call_id = %id, %err, "recording holds no readable audio; deleted");
            delete(&path, id);
            None
        }
    }
}

/// Whether the WAV at `path` opens and its header counts at least one sample.
fn readable_audio(path: &Path) -> bool {
    hound::WavReader::open(path).is_ok_and(|reader| reader.duration() > 0)
}

fn delete(path: &Path, id: &str) {
    if let Err(err) = std::fs::remove_file(path) {
        tracing::error!(call_id = %id, %err, "cannot delete a recording without audio");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_core::recorder::Recorder;

    /// A recording of `frames` 20 ms frames whose writer died (never finalized, its last
    /// second's header update never made), with `unheaded` more frames on disk that its header
    /// never counted.
    fn abandoned(dir: &Path, id: &str, frames: usize, unheaded: usize) -> std::path::PathBuf {
        use std::io::Write;
        let path = dir.join(format!("{id}.wav"));
        let mut rec = Recorder::create(&path).expect("create");
        let tone = [1000i16; 160];
        for _ in 0..frames {
            rec.write_frame(&tone, &tone).expect("write");
        }
        std::mem::forget(rec);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        for _ in 0..unheaded * 160 {
            file.write_all(&[0xE8, 0x03, 0xE8, 0x03]).expect("sample");
        }
        path
    }

    #[test]
    fn audio_that_reached_the_disk_is_attached_whole() {
        let dir = tempfile::tempdir().expect("dir");
        // One second written and counted by the header, then half a second it never counted.
        let path = abandoned(dir.path(), "call_a", 50, 25);
        assert_eq!(hound::WavReader::open(&path).expect("wav").duration(), 50 * 160);
        let attached = salvage(dir.path(), "call_a").expect("attached");
        assert_eq!(Path::new(&attached), path);
        assert_eq!(
            hound::WavReader::open(&path).expect("readable").duration(),
            75 * 160,
            "the header now counts all of it"
        );
    }

    #[test]
    fn a_file_without_audio_or_without_a_header_is_deleted_not_orphaned() {
        let dir = tempfile::tempdir().expect("dir");
        // Created before dialing, never answered: a header and nothing else.
        let empty = dir.path().join("call_b.wav");
        Recorder::create(&empty)
            .expect("create")
            .finalize()
            .expect("finalize");
        assert_eq!(salvage(dir.path(), "call_b"), None);
        assert!(!empty.exists());
        // Truncated by a full disk before its header was written.
        let torn = dir.path().join("call_c.wav");
        std::fs::write(&torn, b"RIFF").expect("write");
        assert_eq!(salvage(dir.path(), "call_c"), None);
        assert!(!torn.exists());
        assert_eq!(salvage(dir.path(), "call_none"), None, "no file, nothing to do");
    }
}
