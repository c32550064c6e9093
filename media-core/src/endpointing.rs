//! Energy-based endpointing: finds where the remote party starts and stops talking, and hands
//! each utterance over as 16 kHz audio for speech-to-text.
//!
//! This is the walking skeleton's VAD, chosen for being cheap, deterministic and testable;
//! Silero will replace the frame classifier later, and the segmentation around it (onset, end
//! of turn, minimum length, pre-roll) stays. The rules, per 20 ms frame of 8 kHz audio:
//! - A frame is *loud* when its level is `threshold_db` above the tracked noise floor and above
//!   the absolute gate `min_level_dbfs` (so a quiet line's hiss never counts as speech).
//! - The noise floor follows quiet frames quickly, tracks moderate ones slowly, and creeps up
//!   under loud ones at about 1 dB/s, so a permanent change of line noise is absorbed
//!   eventually while speech barely moves it.
//! - Speech starts after `onset_ms` of consecutive loud frames; [`EndpointEvent::SpeechStarted`]
//!   carries the time of the first of them (and arrives `onset_ms` later).
//! - The utterance ends after `end_silence_ms` without a loud frame, or at `max_utterance_ms`.
//!   Shorter than `min_utterance_ms` of speech, it is reported as
//!   [`EndpointEvent::SpeechDiscarded`], so every `SpeechStarted` is closed by exactly one
//!   `Utterance` or `SpeechDiscarded`.
//! - The audio handed over spans `pre_roll_ms` before the start to `post_roll_ms` after the end:
//!   energy detection clips soft onsets and endings, and STT models want the context.
//!
//! Times are milliseconds of media time since the first frame (frame `k` covers
//! `[20k, 20k + 20)`), the same timeline as the recording. Every frame is upsampled as it
//! arrives into a pre-roll ring and, during speech, into a buffer sized at construction for
//! the longest utterance, so no frame allocates; each finished utterance is copied out once.

use crate::frame::{FRAME_MS, FRAME_SAMPLES_16K, Frame};
use crate::resample::{Frame16k, ResampleError, Upsampler};

/// 16 kHz samples per millisecond.
const SAMPLES_16K_PER_MS: u64 = 16;
/// Level reported for digital silence, in dBFS.
const SILENCE_DBFS: f32 = -100.0;
/// Fraction of the distance the floor moves towards a quieter frame.
const FLOOR_FALL: f32 = 0.2;
/// Fraction of the distance the floor moves towards a frame between floor and threshold.
const FLOOR_RISE: f32 = 0.05;
/// dB the floor creeps up per loud frame (1 dB/s at 20 ms frames).
const FLOOR_CREEP_DB: f32 = 0.02;

/// Settings of an [`Endpointer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointerConfig {
    /// Consecutive loud audio that starts speech.
    pub onset_ms: u32,
    /// Trailing silence that ends an utterance (end of turn).
    pub end_silence_ms: u32,
    /// Shortest speech reported as an utterance.
    pub min_utterance_ms: u32,
    /// Longest utterance; longer speech is cut into pieces of this length.
    pub max_utterance_ms: u32,
    /// Audio included before the detected start.
    pub pre_roll_ms: u32,
    /// Audio included after the detected end.
    pub post_roll_ms: u32,
    /// How far above the noise floor a loud frame is, in dB.
    pub threshold_db: f32,
    /// Level below which a frame is never loud, in dBFS.
    pub min_level_dbfs: f32,
}

impl Default for EndpointerConfig {
    fn default() -> Self {
        EndpointerConfig {
            onset_ms: 60,
            end_silence_ms: 700,
            min_utterance_ms: 200,
            max_utterance_ms: 30_000,
            pre_roll_ms: 200,
            post_roll_ms: 100,
            threshold_db: 9.0,
            min_level_dbfs: -45.0,
        }
    }
}

/// Why an [`Endpointer`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A duration that must be at least one frame is shorter.
    #[error("endpointer {name} of {value_ms} ms is shorter than one frame")]
    TooShort {
        /// Which setting.
        name: &'static str,
        /// Its value.
        value_ms: u32,
    },
    /// The upsampler could not be built.
    #[error(transparent)]
    Resample(#[from] ResampleError),
}

/// A finished utterance of the remote party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    /// Start of the first loud frame, in ms of media time.
    pub start_ms: u64,
    /// End of the last loud frame, in ms of media time.
    pub end_ms: u64,
    /// Media time of `samples_16k[0]`: `start_ms` minus the pre-roll (less at call start).
    pub audio_start_ms: u64,
    /// The audio at 16 kHz, from `audio_start_ms` to `end_ms` plus the post-roll.
    pub samples_16k: Vec<i16>,
}

/// What the endpointer found in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Speech started at `at_ms` (reported `onset_ms` later).
    SpeechStarted {
        /// Start of the first loud frame.
        at_ms: u64,
    },
    /// A `SpeechStarted` that ended too short to be an utterance, or was cut by muting.
    SpeechDiscarded {
        /// Start of the first loud frame.
        start_ms: u64,
        /// End of the last loud frame.
        end_ms: u64,
    },
    /// A complete utterance.
    Utterance(Utterance),
}

/// Segmentation state; each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not listening (the agent is talking).
    Muted,
    /// Listening; `loud_run` consecutive loud frames so far.
    Quiet { loud_run: u32 },
    /// Inside an utterance that started at frame `start` and was last loud at `last_loud`.
    Speech { start: u64, last_loud: u64 },
}

/// The energy endpointer for one call. See the module docs.
#[derive(Debug)]
pub struct Endpointer {
    config: EndpointerConfig,
    onset_frames: u64,
    end_silence_frames: u64,
    min_frames: u64,
    max_frames: u64,
    state: State,
    /// Frames processed so far; the next frame's index.
    frame: u64,
    floor_db: f32,
    upsampler: Upsampler,
    upsampled: Frame16k,
    upsample_failed: bool,
    /// Last upsampled audio, indexed by raw output position modulo its length.
    history: Box<[i16]>,
    /// Raw (delay-including) 16 kHz samples produced so far.
    produced: u64,
    /// The current utterance's audio and the raw position of its first sample.
    speech_audio: Vec<i16>,
    speech_audio_from: u64,
}

impl Endpointer {
    /// Builds an endpointer, allocating its history and utterance buffers.
    pub fn new(config: EndpointerConfig) -> Result<Self, EndpointError> {
        let frames = |name, value_ms: u32| {
            if value_ms < FRAME_MS {
                Err(EndpointError::TooShort { name, value_ms })
            } else {
                Ok(u64::from(value_ms.div_ceil(FRAME_MS)))
            }
        };
        let onset_frames = frames("onset_ms", config.onset_ms)?;
        let end_silence_frames = frames("end_silence_ms", config.end_silence_ms)?;
        let max_frames = frames("max_utterance_ms", config.max_utterance_ms)?;
        let min_frames = u64::from(config.min_utterance_ms.div_ceil(FRAME_MS));
        let upsampler = Upsampler::new()?;
        // History must reach back over the onset and the pre-roll when speech is detected.
        let history_len = (onset_frames as usize + 2) * FRAME_SAMPLES_16K
            + config.pre_roll_ms as usize * SAMPLES_16K_PER_MS as usize;
        // The utterance buffer holds pre-roll, the longest utterance and a little slack.
        let speech_len =
            history_len + (max_frames as usize + end_silence_frames as usize + 2) * FRAME_SAMPLES_16K;
        Ok(Endpointer {
            config,
            onset_frames,
            end_silence_frames,
            min_frames,
            max_frames,
            state: State::Quiet { loud_run: 0 },
            frame: 0,
            floor_db: config.min_level_dbfs - config.threshold_db,
            upsampler,
            upsampled: [0; FRAME_SAMPLES_16K],
            upsample_failed: false,
            history: vec![0; history_len].into_boxed_slice(),
            produced: 0,
            speech_audio: Vec::with_capacity(speech_len),
            speech_audio_from: 0,
        })
    }

    /// Turns detection on or off. Turning it off inside an utterance discards the utterance
    /// (returned as [`EndpointEvent::SpeechDiscarded`]). Audio keeps flowing through the
    /// pre-roll while off, so speech right after turning it on keeps its onset.
    pub fn set_listening(&mut self, listening: bool) -> Option<EndpointEvent> {
        match (self.state, listening) {
            (State::Muted, true) => {
                self.state = State::Quiet { loud_run: 0 };
                None
            }
            (State::Speech { start, last_loud }, false) => {
                self.state = State::Muted;
                self.speech_audio.clear();
                Some(EndpointEvent::SpeechDiscarded {
                    start_ms: frame_ms(start),
                    end_ms: frame_ms(last_loud + 1),
                })
            }
            (_, false) => {
                self.state = State::Muted;
                None
            }
            _ => None,
        }
    }

    /// Whether detection is on.
    pub fn is_listening(&self) -> bool {
        self.state != State::Muted
    }

    /// Current noise floor estimate, in dBFS.
    pub fn noise_floor_dbfs(&self) -> f32 {
        self.floor_db
    }

    /// Processes the next 20 ms frame.
    pub fn process(&mut self, frame: &Frame) -> Option<EndpointEvent> {
        let k = self.frame;
        self.frame += 1;
        self.upsample(frame);

        let level = level_dbfs(frame);
        let loud = level > self.floor_db + self.config.threshold_db && level > self.config.min_level_dbfs;
        self.track_floor(level, loud);

        match self.state {
            State::Muted => None,
            State::Quiet { loud_run } => {
                if !loud {
                    self.state = State::Quiet { loud_run: 0 };
                    return None;
                }
                let run = u64::from(loud_run) + 1;
                if run < self.onset_frames {
                    self.state = State::Quiet {
                        loud_run: loud_run + 1,
                    };
                    return None;
                }
                let start = k + 1 - self.onset_frames;
                self.begin_speech(start);
                self.state = State::Speech { start, last_loud: k };
                Some(EndpointEvent::SpeechStarted {
                    at_ms: frame_ms(start),
                })
            }
            State::Speech { start, last_loud } => {
                let last_loud = if loud { k } else { last_loud };
                self.state = State::Speech { start, last_loud };
                if k - last_loud >= self.end_silence_frames {
                    Some(self.end_speech(start, last_loud + 1))
                } else if k + 1 - start >= self.max_frames {
                    Some(self.end_speech(start, k + 1))
                } else {
                    None
                }
            }
        }
    }

    /// Upsamples the frame into the history ring and, during speech, the utterance buffer.
    fn upsample(&mut self, frame: &Frame) {
        if let Err(err) = self.upsampler.process(frame, &mut self.upsampled) {
            // Cannot happen with the fixed sizes set up in `new`; keep the timeline intact
            // with silence rather than stopping the call.
            if !self.upsample_failed {
                tracing::warn!(error = %err, "upsampling failed; utterance audio will be silent");
                self.upsample_failed = true;
            }
            self.upsampled.fill(0);
        }
        let len = self.history.len();
        for (i, &s) in self.upsampled.iter().enumerate() {
            self.history[(self.produced as usize + i) % len] = s;
        }
        self.produced += FRAME_SAMPLES_16K as u64;
        if matches!(self.state, State::Speech { .. })
            && self.speech_audio.len() + FRAME_SAMPLES_16K <= self.speech_audio.capacity()
        {
            self.speech_audio.extend_from_slice(&self.upsampled);
        }
    }

    /// Starts collecting an utterance: copies the pre-roll out of the history ring.
    fn begin_speech(&mut self, start: u64) {
        let delay = self.upsampler.delay() as u64;
        let pre_roll = u64::from(self.config.pre_roll_ms) * SAMPLES_16K_PER_MS;
        let wanted = (frame_ms(start) * SAMPLES_16K_PER_MS).saturating_sub(pre_roll) + delay;
        let oldest = self.produced.saturating_sub(self.history.len() as u64);
        let from = wanted.max(oldest).min(self.produced);
        self.speech_audio.clear();
        let len = self.history.len();
        for pos in from..self.produced {
            self.speech_audio.push(self.history[pos as usize % len]);
        }
        self.speech_audio_from = from;
    }

    /// Closes the utterance that started at frame `start` and was loud until frame `end`.
    fn end_speech(&mut self, start: u64, end: u64) -> EndpointEvent {
        self.state = State::Quiet { loud_run: 0 };
        let (start_ms, end_ms) = (frame_ms(start), frame_ms(end));
        if end - start < self.min_frames {
            self.speech_audio.clear();
            return EndpointEvent::SpeechDiscarded { start_ms, end_ms };
        }
        let delay = self.upsampler.delay() as u64;
        let post_roll = u64::from(self.config.post_roll_ms) * SAMPLES_16K_PER_MS;
        let until = (end_ms * SAMPLES_16K_PER_MS + post_roll + delay).min(self.produced);
        let len = (until.saturating_sub(self.speech_audio_from) as usize).min(self.speech_audio.len());
        let samples_16k = self.speech_audio[..len].to_vec();
        self.speech_audio.clear();
        let audio_start_ms =
            (self.speech_audio_from - delay.min(self.speech_audio_from)) / SAMPLES_16K_PER_MS;
        EndpointEvent::Utterance(Utterance {
            start_ms,
            end_ms,
            audio_start_ms,
            samples_16k,
        })
    }

    fn track_floor(&mut self, level: f32, loud: bool) {
        if level < self.floor_db {
            self.floor_db += FLOOR_FALL * (level - self.floor_db);
        } else if loud {
            self.floor_db += FLOOR_CREEP_DB;
        } else {
            self.floor_db += FLOOR_RISE * (level - self.floor_db);
        }
        // Below this, the absolute gate decides alone; a floor lower still would only make
        // recovery from a burst of digital silence (a jitter-buffer gap) slow.
        self.floor_db = self
            .floor_db
            .max(self.config.min_level_dbfs - self.config.threshold_db);
    }
}

/// Start of frame `k` in ms.
fn frame_ms(k: u64) -> u64 {
    k * u64::from(FRAME_MS)
}

/// Mean power of a frame relative to a full-scale square wave, in dB.
fn level_dbfs(frame: &Frame) -> f32 {
    let energy: i64 = frame.iter().map(|&s| i64::from(s) * i64::from(s)).sum();
    if energy == 0 {
        return SILENCE_DBFS;
    }
    let mean = energy as f64 / frame.len() as f64;
    let full_scale = 32768.0f64 * 32768.0;
    ((10.0 * (mean / full_scale).log10()) as f32).max(SILENCE_DBFS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FRAME_SAMPLES, SILENCE};

    /// A tone frame: `k` is the frame index so the phase continues across frames.
    fn tone(k: u64, amplitude: f64) -> Frame {
        let mut frame = SILENCE;
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (k as f64 * FRAME_SAMPLES as f64 + i as f64) / 8000.0;
            *s = (amplitude * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
        }
        frame
    }

    /// Feeds frames and returns each event with the index of the frame that produced it.
    fn run(ep: &mut Endpointer, frames: impl IntoIterator<Item = Frame>) -> Vec<(u64, EndpointEvent)> {
        let mut events = Vec::new();
        for (k, frame) in frames.into_iter().enumerate() {
            if let Some(ev) = ep.process(&frame) {
                events.push((k as u64, ev));
            }
        }
        events
    }

    /// `silence_before` frames of silence, `loud` frames of tone, `silence_after` of silence.
    fn burst(silence_before: u64, loud: u64, silence_after: u64) -> Vec<Frame> {
        (0..silence_before + loud + silence_after)
            .map(|k| {
                if (silence_before..silence_before + loud).contains(&k) {
                    tone(k, 8000.0)
                } else {
                    SILENCE
                }
            })
            .collect()
    }

    fn endpointer() -> Endpointer {
        Endpointer::new(EndpointerConfig::default()).expect("valid config")
    }

    #[test]
    fn a_burst_gives_one_start_and_one_utterance_at_the_right_times() {
        let mut ep = endpointer();
        // Silence 0..1000 ms, tone 1000..2000 ms, silence to 3000 ms.
        let events = run(&mut ep, burst(50, 50, 50));
        assert_eq!(events.len(), 2, "{events:?}");
        // Started at 1000 ms, known three frames later.
        assert_eq!(events[0], (52, EndpointEvent::SpeechStarted { at_ms: 1000 }));
        // Ended at 2000 ms, known 700 ms later.
        let (k, EndpointEvent::Utterance(utt)) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(*k, 99 + 35);
        assert_eq!((utt.start_ms, utt.end_ms, utt.audio_start_ms), (1000, 2000, 800));
        // Pre-roll 200 ms + 1000 ms + post-roll 100 ms at 16 kHz.
        assert_eq!(utt.samples_16k.len(), 1300 * 16);
    }

    #[test]
    fn utterance_audio_is_the_upsampled_input_in_place() {
        let mut ep = endpointer();
        let events = run(&mut ep, burst(50, 50, 50));
        let Some((_, EndpointEvent::Utterance(utt))) = events.into_iter().nth(1) else {
            panic!()
        };
        let s = &utt.samples_16k;
        let rms = |range: std::ops::Range<usize>| {
            (s[range.clone()]
                .iter()
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                / range.len() as f64)
                .sqrt()
        };
        // 0..200 ms is pre-roll silence, 200..1200 ms the tone (rms 8000/sqrt 2), then silence.
        assert!(rms(0..190 * 16) < 50.0);
        assert!(
            (rms(220 * 16..1180 * 16) - 5657.0).abs() < 200.0,
            "{}",
            rms(220 * 16..1180 * 16)
        );
        assert!(rms(1210 * 16..1300 * 16) < 50.0);
        // And it is a 440 Hz tone at 16 kHz: zero crossings every 1/880 s.
        let crossings = s[220 * 16..1180 * 16]
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count() as f64;
        assert!((crossings - 0.96 * 880.0).abs() < 10.0, "{crossings}");
    }

    #[test]
    fn short_blips_are_discarded_after_starting() {
        let mut ep = endpointer();
        // 100 ms of tone: long enough to start, too short to keep.
        let events = run(&mut ep, burst(10, 5, 40));
        assert_eq!(
            events.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
            vec![
                EndpointEvent::SpeechStarted { at_ms: 200 },
                EndpointEvent::SpeechDiscarded {
                    start_ms: 200,
                    end_ms: 300
                }
            ]
        );
        // 40 ms never starts.
        let mut ep = endpointer();
        assert!(run(&mut ep, burst(10, 2, 40)).is_empty());
    }

    #[test]
    fn pauses_shorter_than_the_end_silence_stay_in_one_utterance() {
        let mut ep = endpointer();
        let mut frames = burst(10, 20, 25); // 500 ms pause
        frames.extend(burst(0, 20, 40));
        let events = run(&mut ep, frames);
        let utterances: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| match e {
                EndpointEvent::Utterance(u) => Some((u.start_ms, u.end_ms)),
                _ => None,
            })
            .collect();
        assert_eq!(utterances, vec![(200, 1500)]);
    }

    #[test]
    fn end_silence_is_configurable() {
        let mut ep = Endpointer::new(EndpointerConfig {
            end_silence_ms: 300,
            ..EndpointerConfig::default()
        })
        .expect("valid");
        let events = run(&mut ep, burst(10, 20, 30));
        // Tone ends after frame 29; 300 ms = 15 frames of silence later, at frame 44.
        assert!(matches!(&events[1], (44, EndpointEvent::Utterance(u)) if u.end_ms == 600));
    }

    #[test]
    fn long_speech_is_cut_at_the_maximum() {
        let mut ep = Endpointer::new(EndpointerConfig {
            max_utterance_ms: 1000,
            ..EndpointerConfig::default()
        })
        .expect("valid");
        let events = run(&mut ep, burst(5, 120, 50));
        let utterances: Vec<_> = events
            .iter()
            .filter_map(|(_, e)| match e {
                EndpointEvent::Utterance(u) => Some((u.start_ms, u.end_ms)),
                _ => None,
            })
            .collect();
        assert_eq!(utterances[0], (100, 1100));
        assert_eq!(utterances[1], (1100, 2100));
    }

    #[test]
    fn muted_endpointer_reports_nothing_and_muting_discards_speech() {
        let mut ep = endpointer();
        assert_eq!(ep.set_listening(false), None);
        assert!(run(&mut ep, burst(5, 50, 50)).is_empty());

        let mut ep = endpointer();
        run(&mut ep, burst(5, 10, 0));
        assert_eq!(
            ep.set_listening(false),
            Some(EndpointEvent::SpeechDiscarded {
                start_ms: 100,
                end_ms: 300
            })
        );
        assert!(!ep.is_listening());
        assert_eq!(ep.set_listening(true), None);
        assert!(ep.is_listening());
    }

    #[test]
    fn speech_right_after_unmuting_keeps_its_pre_roll() {
        let mut ep = endpointer();
        ep.set_listening(false);
        run(&mut ep, burst(30, 0, 0));
        ep.set_listening(true);
        let mut events = Vec::new();
        for k in 30..130u64 {
            let frame = if (32..62).contains(&k) {
                tone(k, 8000.0)
            } else {
                SILENCE
            };
            if let Some(ev) = ep.process(&frame) {
                events.push(ev);
            }
        }
        let Some(EndpointEvent::Utterance(u)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!((u.start_ms, u.end_ms, u.audio_start_ms), (640, 1240, 440));
    }

    #[test]
    fn quiet_noise_never_counts_as_speech() {
        let mut ep = endpointer();
        // Noise at about -50 dBFS: under the absolute gate.
        let mut seed = 1u32;
        let frames: Vec<Frame> = (0..200)
            .map(|_| {
                let mut f = SILENCE;
                for s in f.iter_mut() {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    *s = ((seed >> 16) as i16 as i32 * 180 / 32768) as i16;
                }
                f
            })
            .collect();
        assert!(run(&mut ep, frames).is_empty());
    }

    #[test]
    fn speech_over_steady_noise_is_found_once_the_floor_has_learned_the_noise() {
        let mut ep = endpointer();
        let noise = |k: u64| tone(k, 600.0); // about -37 dBFS: above the gate
        // Thirty seconds of the noise alone first: starting from the default floor, the noise
        // is taken for speech until the floor has crept up to it (a few seconds), and then
        // never again.
        let mut events = Vec::new();
        for k in 0..1500u64 {
            if let Some(ev) = ep.process(&noise(k)) {
                events.push(ev);
            }
        }
        let floor = ep.noise_floor_dbfs();
        assert!(floor > -45.0, "floor {floor}");
        let before = events.len();
        for k in 1500..1650u64 {
            let mut f = noise(k);
            if (1520..1570).contains(&k) {
                for (s, t) in f.iter_mut().zip(tone(k * 3, 12000.0)) {
                    *s = s.saturating_add(t);
                }
            }
            if let Some(ev) = ep.process(&f) {
                events.push(ev);
            }
        }
        let new: Vec<_> = events[before..].to_vec();
        assert!(
            matches!(new.first(), Some(EndpointEvent::SpeechStarted { at_ms: 30400 })),
            "{new:?}"
        );
        assert!(
            matches!(new.last(), Some(EndpointEvent::Utterance(u)) if u.end_ms == 31400),
            "{new:?}"
        );
    }

    #[test]
    fn level_of_reference_signals() {
        assert_eq!(level_dbfs(&SILENCE), SILENCE_DBFS);
        assert!((level_dbfs(&[i16::MAX; FRAME_SAMPLES]) - 0.0).abs() < 0.01);
        assert!((level_dbfs(&[3277; FRAME_SAMPLES]) + 20.0).abs() < 0.01);
    }

    #[test]
    fn config_is_validated() {
        let err = Endpointer::new(EndpointerConfig {
            onset_ms: 5,
            ..EndpointerConfig::default()
        })
        .err();
        assert!(matches!(
            err,
            Some(EndpointError::TooShort {
                name: "onset_ms",
                value_ms: 5
            })
        ));
    }
}
