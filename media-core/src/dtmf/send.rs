//! Sending DTMF digits: as RFC 4733 telephone-events when the peer negotiated them, as in-band
//! dual tones (ITU-T Q.23) mixed into the audio when it did not.
//!
//! The sender is a per-tick state machine the session consults before taking agent audio: while
//! digits are being sent, agent audio waits. For RFC 4733 each tick of a digit is one event
//! packet carrying the event's start timestamp and the duration so far (the first with the
//! marker bit); the last carries the end bit and is sent three times in all, on three ticks,
//! as section 2.5.1.4 asks, so one lost packet does not lose the end. In-band digits are the
//! two Q.23 frequencies at -10 dBm0 each. Between digits there is a gap of silence; `,` in a
//! digit string is a half-second pause, for IVRs that need time between entries.

use std::collections::VecDeque;

use crate::frame::{FRAME_MS, FRAME_SAMPLES, Frame, SAMPLE_RATE_8K};

/// Default tone length.
pub const DEFAULT_TONE_MS: u32 = 100;
/// Default silence between digits.
pub const DEFAULT_GAP_MS: u32 = 80;
/// Length of a `,` pause.
pub const PAUSE_MS: u32 = 500;
/// Shortest tone: Q.24 receivers need 40 ms.
const MIN_TONE_MS: u32 = 40;
/// Longest tone: keeps the 16-bit duration field far from overflowing at 48 kHz.
const MAX_TONE_MS: u32 = 1000;
/// Times the final event packet is sent (RFC 4733 section 2.5.1.4).
const END_PACKETS: u32 = 3;
/// Power of each tone, in -dBm0; also the RFC 4733 volume field.
const VOLUME_DBM0: u8 = 10;
/// Peak amplitude of one tone at -10 dBm0 (0 dBm0 is a sine of peak 22 706 in 16-bit G.711).
const TONE_PEAK: f32 = 7180.0;
/// Digits queued at most; more is a caller bug, refused rather than grown without bound.
const MAX_QUEUED: usize = 64;

/// Why digits were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfSendError {
    /// A character that is not `0-9`, `*`, `#`, `A-D` or `,`.
    #[error("{0:?} is not a DTMF digit")]
    NotADigit(char),
    /// Too many digits waiting.
    #[error("more than {MAX_QUEUED} DTMF digits queued")]
    QueueFull,
}

/// The RFC 4733 event code of a DTMF character.
pub fn event_code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The Q.23 low and high frequencies of an event code, in Hz.
fn frequencies(event: u8) -> (f32, f32) {
    const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    // Keypad position: row, column.
    let (row, col) = match event {
        1..=9 => ((event - 1) / 3, (event - 1) % 3),
        0 => (3, 1),
        10 => (3, 0),
        11 => (3, 2),
        _ => (event.saturating_sub(12).min(3), 3),
    };
    (LOW[usize::from(row)], HIGH[usize::from(col)])
}

/// One queued entry: a digit, or a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    Digit { digit: char, event: u8, frames: u32 },
    Pause { frames: u32 },
}

/// What the sender is doing; each variant carries its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Sending `digit`; `frame` ticks of it done out of `frames` (plus end repeats).
    Digit {
        digit: char,
        event: u8,
        frame: u32,
        frames: u32,
    },
    /// Silence before the next entry.
    Gap {
        left: u32,
    },
}

/// What goes out on one tick while digits are being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfStep {
    /// Nothing to send: agent audio flows.
    Idle,
    /// An RFC 4733 event packet (the session writes its `payload` with the event's
    /// start timestamp). The frame holds the tone, for the recording.
    Event {
        /// First packet of the event: marker bit, and its timestamp starts the event.
        first: bool,
        /// The event block.
        payload: [u8; 4],
    },
    /// In-band: the frame holds the tone, to be encoded as audio.
    Tone {
        /// First frame of the digit.
        first: bool,
    },
    /// Silence between digits (the frame is silent).
    Gap,
}

/// A digit finished sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitSent {
    /// The digit.
    pub digit: char,
    /// How long it sounded, in ms.
    pub duration_ms: u32,
}

/// Sends queued DTMF digits, one tick at a time. See the module docs.
#[derive(Debug)]
pub struct DtmfSender {
    /// RFC 4733 (with this clock rate) or in-band.
    rfc4733_clock: Option<u32>,
    tone_ms: u32,
    gap_ms: u32,
    queue: VecDeque<Queued>,
    state: State,
    /// Phases of the two oscillators, in samples since the tone began.
    phase: u32,
    finished: Option<DigitSent>,
}

impl DtmfSender {
    /// A sender of RFC 4733 events timed by `clock_rate` (the telephone-event clock, the
    /// audio codec's), or of in-band tones when `None`.
    pub fn new(rfc4733_clock: Option<u32>) -> Self {
        DtmfSender {
            rfc4733_clock,
            tone_ms: DEFAULT_TONE_MS,
            gap_ms: DEFAULT_GAP_MS,
            queue: VecDeque::with_capacity(MAX_QUEUED),
            state: State::Idle,
            phase: 0,
            finished: None,
        }
    }

    /// Whether digits go out as RFC 4733 events (else in-band).
    pub fn is_rfc4733(&self) -> bool {
        self.rfc4733_clock.is_some()
    }

    /// Queues `digits` (`0-9 * # A-D`, `,` for a pause) with tones of `tone_ms` (40 to 1000,
    /// rounded up to whole frames). Nothing is queued if any character is invalid.
    pub fn queue(&mut self, digits: &str, tone_ms: u32) -> Result<(), DtmfSendError> {
        let tone_frames = tone_ms.clamp(MIN_TONE_MS, MAX_TONE_MS).div_ceil(FRAME_MS);
        let mut entries = Vec::with_capacity(digits.len());
        for c in digits.chars().filter(|c| !c.is_whitespace()) {
            entries.push(match c {
                ',' => Queued::Pause {
                    frames: PAUSE_MS / FRAME_MS,
                },
                _ => Queued::Digit {
                    digit: c.to_ascii_uppercase(),
                    event: event_code(c).ok_or(DtmfSendError::NotADigit(c))?,
                    frames: tone_frames,
                },
            });
        }
        if self.queue.len() + entries.len() > MAX_QUEUED {
            return Err(DtmfSendError::QueueFull);
        }
        self.tone_ms = tone_frames * FRAME_MS;
        self.queue.extend(entries);
        Ok(())
    }

    /// Whether nothing is queued or sounding.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && self.queue.is_empty()
    }

    /// The digit that finished on the last tick, if any.
    pub fn take_finished(&mut self) -> Option<DigitSent> {
        self.finished.take()
    }

    /// Advances one tick, writing the tone (or silence) into `frame`.
    pub fn next_step(&mut self, frame: &mut Frame) -> DtmfStep {
        loop {
            match self.state {
                State::Idle => match self.queue.pop_front() {
                    None => return DtmfStep::Idle,
                    Some(Queued::Pause { frames }) => self.state = State::Gap { left: frames },
                    Some(Queued::Digit { digit, event, frames }) => {
                        self.phase = 0;
                        self.state = State::Digit {
                            digit,
                            event,
                            frame: 0,
                            frames,
                        };
                    }
                },
                State::Gap { left: 0 } => self.state = State::Idle,
                State::Gap { left } => {
                    self.state = if left > 1 {
                        State::Gap { left: left - 1 }
                    } else {
                        State::Idle
                    };
                    frame.fill(0);
                    return DtmfStep::Gap;
                }
                State::Digit {
                    digit,
                    event,
                    frame: done,
                    frames,
                } => {
                    let repeats = if self.is_rfc4733() { END_PACKETS - 1 } else { 0 };
                    if done >= frames + repeats {
                        self.finished = Some(DigitSent {
                            digit,
                            duration_ms: frames * FRAME_MS,
                        });
                        self.state = State::Gap {
                            left: self.gap_ms.div_ceil(FRAME_MS),
                        };
                        continue;
                    }
                    self.state = State::Digit {
                        digit,
                        event,
                        frame: done + 1,
                        frames,
                    };
                    if done < frames {
                        self.render_tone(event, frame);
                    } else {
                        frame.fill(0);
                    }
                    let Some(clock) = self.rfc4733_clock else {
                        return DtmfStep::Tone { first: done == 0 };
                    };
                    let end = done + 1 >= frames;
                    let ticks = (done + 1).min(frames) * (clock / 1000 * FRAME_MS);
                    let duration = u16::try_from(ticks).unwrap_or(u16::MAX).to_be_bytes();
                    return DtmfStep::Event {
                        first: done == 0,
                        payload: [
                            event,
                            (u8::from(end) << 7) | VOLUME_DBM0,
                            duration[0],
                            duration[1],
                        ],
                    };
                }
            }
        }
    }

    /// Length of the tones being sent, in ms.
    pub fn tone_ms(&self) -> u32 {
        self.tone_ms
    }

    fn render_tone(&mut self, event: u8, frame: &mut Frame) {
        let (low, high) = frequencies(event);
        let rate = SAMPLE_RATE_8K as f32;
        for (i, s) in frame.iter_mut().enumerate() {
            let t = (self.phase as usize + i) as f32 / rate;
            let v = TONE_PEAK
                * ((std::f32::consts::TAU * low * t).sin() + (std::f32::consts::TAU * high * t).sin());
            *s = v as i16;
        }
        self.phase += FRAME_SAMPLES as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::TelephoneEvent;

    fn run(sender: &mut DtmfSender, ticks: usize) -> Vec<(DtmfStep, Frame)> {
        (0..ticks)
            .map(|_| {
                let mut f = [0i16; FRAME_SAMPLES];
                let step = sender.next_step(&mut f);
                (step, f)
            })
            .collect()
    }

    /// Goertzel power of `freq` in `samples`.
    fn power(samples: &[i16], freq: f32) -> f32 {
        let w = std::f32::consts::TAU * freq / 8000.0;
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s = f32::from(x) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
    }

    #[test]
    fn rfc4733_events_have_growing_durations_and_three_end_packets() {
        let mut sender = DtmfSender::new(Some(8000));
        sender.queue("5#", 100).expect("digits");
        let steps = run(&mut sender, 30);
        let events: Vec<(bool, TelephoneEvent)> = steps
            .iter()
            .filter_map(|(s, _)| match s {
                DtmfStep::Event { first, payload } => {
                    Some((*first, TelephoneEvent::parse(payload).expect("valid")))
                }
                _ => None,
            })
            .collect();
        // Per digit: 5 packets of 20 ms (the 5th ends it), then the end twice more.
        assert_eq!(events.len(), 14);
        let digit5: Vec<_> = events[..7]
            .iter()
            .map(|(first, e)| (*first, e.event, e.end, e.duration, e.volume))
            .collect();
        assert_eq!(
            digit5,
            vec![
                (true, 5, false, 160, 10),
                (false, 5, false, 320, 10),
                (false, 5, false, 480, 10),
                (false, 5, false, 640, 10),
                (false, 5, true, 800, 10),
                (false, 5, true, 800, 10),
                (false, 5, true, 800, 10),
            ]
        );
        assert_eq!(events[7].1.event, 11);
        assert!(events[7].0);
        // 80 ms of gap between the digits.
        let kinds: Vec<_> = steps.iter().map(|(s, _)| matches!(s, DtmfStep::Gap)).collect();
        assert_eq!(kinds[7..11], [true; 4]);
        assert!(!kinds[11]);
        assert!(sender.is_idle());
    }

    #[test]
    fn forty_eight_khz_clock_scales_the_duration() {
        let mut sender = DtmfSender::new(Some(48_000));
        sender.queue("1", 60).expect("digit");
        let mut f = [0i16; FRAME_SAMPLES];
        let durations: Vec<u16> = (0..5)
            .filter_map(|_| match sender.next_step(&mut f) {
                DtmfStep::Event { payload, .. } => Some(u16::from_be_bytes([payload[2], payload[3]])),
                _ => None,
            })
            .collect();
        assert_eq!(durations, vec![960, 1920, 2880, 2880, 2880]);
    }

    #[test]
    fn in_band_tones_carry_the_two_right_frequencies() {
        let mut sender = DtmfSender::new(None);
        sender.queue("9", 100).expect("digit");
        let steps = run(&mut sender, 12);
        let tone: Vec<i16> = steps
            .iter()
            .filter(|(s, _)| matches!(s, DtmfStep::Tone { .. }))
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        assert_eq!(tone.len(), 800, "100 ms");
        // 9 is 852 Hz + 1477 Hz.
        let on = power(&tone, 852.0).min(power(&tone, 1477.0));
        for off in [697.0, 770.0, 941.0, 1209.0, 1336.0, 1633.0] {
            assert!(power(&tone, off) * 100.0 < on, "{off} Hz");
        }
        assert!(tone.iter().all(|s| s.abs() <= 14_400));
        assert_eq!(
            sender.take_finished(),
            Some(DigitSent {
                digit: '9',
                duration_ms: 100
            })
        );
        assert_eq!(sender.take_finished(), None, "taken once");
    }

    #[test]
    fn finished_digits_are_reported_and_pauses_take_half_a_second() {
        let mut sender = DtmfSender::new(Some(8000));
        sender.queue("1,2", 40).expect("digits");
        let mut f = [0i16; FRAME_SAMPLES];
        let mut finished = Vec::new();
        let mut ticks = 0;
        while !sender.is_idle() {
            sender.next_step(&mut f);
            ticks += 1;
            finished.extend(sender.take_finished());
        }
        assert_eq!(
            finished,
            vec![
                DigitSent {
                    digit: '1',
                    duration_ms: 40
                },
                DigitSent {
                    digit: '2',
                    duration_ms: 40
                }
            ]
        );
        // (2 + 2 end repeats) + 4 gap + 25 pause + 4 + 4 gap.
        assert_eq!(ticks, 4 + 4 + 25 + 4 + 4);
    }

    #[test]
    fn bad_digits_queue_nothing() {
        let mut sender = DtmfSender::new(None);
        assert_eq!(sender.queue("12x4", 100), Err(DtmfSendError::NotADigit('x')));
        assert!(sender.is_idle());
        assert_eq!(sender.queue(&"1".repeat(65), 100), Err(DtmfSendError::QueueFull));
        assert!(sender.queue("a b c d", 100).is_ok());
        assert_eq!(event_code('d'), Some(15));
    }
}
