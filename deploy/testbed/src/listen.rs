//! Listening to a call from the phone's side while it runs: baresip's recording of what the phone
//! hears (`dump-*-dec.wav`, written as the audio arrives) read as it grows ([`HeardTail`]), and a
//! plain energy detector that says when the far end starts and stops talking ([`TalkWatch`]), so a
//! scripted callee can answer when the agent has finished its turn, as a person would.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{Result, TestbedError};

/// Samples per 20 ms frame at the phone's 8 kHz.
const FRAME: usize = 160;

/// Reads a WAV that another process is still writing: each call returns the samples added since
/// the last one (16-bit mono, as baresip records at 8 kHz).
#[derive(Debug)]
pub struct HeardTail {
    path: PathBuf,
    /// Byte offset of the next unread sample, once the data chunk was found.
    offset: Option<u64>,
    /// An odd byte left over from the last read.
    carry: Option<u8>,
}

impl HeardTail {
    /// Follows `path` (which may not have its data chunk yet).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            offset: None,
            carry: None,
        }
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The samples written since the last call.
    pub fn read_new(&mut self) -> Result<Vec<i16>> {
        let io = |source| TestbedError::ReadFile {
            path: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        let offset = match self.offset {
            Some(o) => o,
            None => {
                let mut head = vec![0u8; 4096];
                let n = file.read(&mut head).map_err(io)?;
                match data_offset(&head[..n]) {
                    Some(o) => o,
                    None => return Ok(Vec::new()),
                }
            }
        };
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        self.offset = Some(offset + bytes.len() as u64);
        if let Some(b) = self.carry.take() {
            bytes.insert(0, b);
        }
        if bytes.len() % 2 == 1 {
            self.carry = bytes.pop();
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect())
    }
}

/// Where the samples of a RIFF/WAVE file start: after the `data` chunk's header.
fn data_offset(head: &[u8]) -> Option<u64> {
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]) as usize;
        if id == b"data" {
            return Some((at + 8) as u64);
        }
        at += 8 + size + (size & 1);
    }
    None
}

/// What the far end did, by the frame count of the audio fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Talk {
    /// Started talking, at this many ms into the audio.
    Started(u64),
    /// Has been quiet long enough after talking that its turn is over; at this many ms.
    Finished(u64),
}

/// An energy detector over 20 ms frames with hangover: talk starts after `min_talk_ms` of loud
/// frames and a turn ends after `gap_ms` without one.
#[derive(Debug)]
pub struct TalkWatch {
    threshold: f64,
    min_talk_frames: u32,
    gap_frames: u32,
    frame: Vec<i16>,
    frames: u64,
    loud_run: u32,
    quiet_run: u32,
    talking: bool,
}

impl TalkWatch {
    /// A detector: frames louder than `threshold_dbfs` are talk.
    pub fn new(threshold_dbfs: f64, min_talk_ms: u32, gap_ms: u32) -> Self {
        Self {
            threshold: 32768.0 * 10f64.powf(threshold_dbfs / 20.0),
            min_talk_frames: (min_talk_ms / 20).max(1),
            gap_frames: (gap_ms / 20).max(1),
            frame: Vec::with_capacity(FRAME),
            frames: 0,
            loud_run: 0,
            quiet_run: 0,
            talking: false,
        }
    }

    /// Whether the far end is talking (within a turn) now.
    pub fn talking(&self) -> bool {
        self.talking
    }

    /// Feeds samples; returns what changed, in order.
    pub fn feed(&mut self, samples: &[i16]) -> Vec<Talk> {
        let mut out = Vec::new();
        for &s in samples {
            self.frame.push(s);
            if self.frame.len() < FRAME {
                continue;
            }
            let power: f64 = self
                .frame
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                / FRAME as f64;
            self.frame.clear();
            self.frames += 1;
            let now_ms = self.frames * 20;
            if power.sqrt() > self.threshold {
                self.loud_run += 1;
                self.quiet_run = 0;
                if !self.talking && self.loud_run >= self.min_talk_frames {
                    self.talking = true;
                    out.push(Talk::Started(now_ms - u64::from(self.loud_run) * 20));
                }
            } else {
                self.loud_run = 0;
                self.quiet_run += 1;
                if self.talking && self.quiet_run >= self.gap_frames {
                    self.talking = false;
                    out.push(Talk::Finished(now_ms));
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tone(ms: u32, amp: f64) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| (amp * (f64::from(i) * 0.3).sin()) as i16)
            .collect()
    }

    #[test]
    fn a_turn_ends_after_the_gap_and_short_pauses_do_not_end_it() {
        let mut watch = TalkWatch::new(-40.0, 60, 800);
        let mut events = watch.feed(&tone(500, 0.0));
        assert!(events.is_empty());
        events.extend(watch.feed(&tone(1000, 8000.0)));
        events.extend(watch.feed(&tone(400, 0.0))); // a pause between sentences
        events.extend(watch.feed(&tone(600, 8000.0)));
        assert_eq!(events, vec![Talk::Started(500)]);
        assert!(watch.talking());
        events.extend(watch.feed(&tone(1000, 0.0)));
        assert_eq!(events, vec![Talk::Started(500), Talk::Finished(3300)]);
        // A click shorter than the minimum is not talk.
        assert!(watch.feed(&tone(20, 8000.0)).is_empty());
    }

    #[test]
    fn the_tail_reads_a_growing_wav_from_its_data_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grow.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        for s in [1i16, -2, 3] {
            writer.write_sample(s).unwrap();
        }
        writer.flush().unwrap();
        let mut tail = HeardTail::new(&path);
        assert_eq!(tail.read_new().unwrap(), vec![1, -2, 3]);
        assert!(tail.read_new().unwrap().is_empty());
        writer.write_sample(7i16).unwrap();
        writer.flush().unwrap();
        assert_eq!(tail.read_new().unwrap(), vec![7]);
        writer.finalize().unwrap();
    }
}
