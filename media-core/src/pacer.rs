//! The send queue: agent audio waits here as whole utterances and leaves one 20 ms frame per
//! tick, so what goes on the wire is paced by the media clock and not by how fast TTS produced it.
//!
//! Barge-in is why this is more than a `VecDeque<i16>`: when the caller talks over the agent,
//! [`Pacer::flush`] drops everything still queued at once, and each utterance reports how much
//! of it was actually sent, so the transcript records what the caller heard rather than what
//! the agent meant to say. Every utterance ends with exactly one [`PlaybackFinished`].

use std::collections::VecDeque;

use crate::frame::{FRAME_SAMPLES, Frame, SAMPLE_RATE_8K};

/// Caller-chosen identifier of one queued utterance, echoed in [`PlaybackFinished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtteranceId(pub u64);

/// An utterance left the queue: fully sent, or cut short by [`Pacer::flush`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaybackFinished {
    /// Which utterance.
    pub id: UtteranceId,
    /// Milliseconds of its audio that went out (the zero padding of the last frame excluded).
    pub played_ms: u64,
    /// Whether it was flushed before its end.
    pub interrupted: bool,
}

/// What one tick of the pacer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacedFrame {
    /// Nothing queued; the frame is silence.
    Idle,
    /// A frame of this utterance.
    Speech {
        /// The utterance.
        id: UtteranceId,
        /// First frame after silence: the RTP marker bit goes on this packet.
        talkspurt_start: bool,
    },
}

/// One queued utterance and how far it has been sent.
#[derive(Debug)]
struct Queued {
    id: UtteranceId,
    samples: Vec<i16>,
    sent: usize,
}

impl Queued {
    fn finished(&self, interrupted: bool) -> PlaybackFinished {
        PlaybackFinished {
            id: self.id,
            played_ms: samples_to_ms(self.sent),
            interrupted,
        }
    }
}

/// The send queue. See the module docs.
#[derive(Debug)]
pub struct Pacer {
    queue: VecDeque<Queued>,
    finished: VecDeque<PlaybackFinished>,
    /// Utterances whose first frame went out since the last poll.
    started: VecDeque<UtteranceId>,
    idle: bool,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

impl Pacer {
    /// An empty queue. Room for a few utterances is reserved so that queueing does not allocate
    /// in the common case; a longer queue grows once per utterance, never per frame.
    pub fn new() -> Self {
        Pacer {
            queue: VecDeque::with_capacity(8),
            finished: VecDeque::with_capacity(8),
            started: VecDeque::with_capacity(8),
            idle: true,
        }
    }

    /// Queues an utterance of 8 kHz samples behind whatever is already queued.
    pub fn play(&mut self, id: UtteranceId, samples_8k: Vec<i16>) {
        self.queue.push_back(Queued {
            id,
            samples: samples_8k,
            sent: 0,
        });
    }

    /// Fills `out` with the next 160 samples: the current utterance, zero-padded after its last
    /// sample (the next utterance starts on a fresh frame), or silence when nothing is queued.
    pub fn next_frame(&mut self, out: &mut Frame) -> PacedFrame {
        while let Some(current) = self.queue.front_mut() {
            let remaining = &current.samples[current.sent..];
            if remaining.is_empty() {
                // Only an empty utterance gets here: report it and move on.
                self.finished.push_back(current.finished(false));
                self.queue.pop_front();
                continue;
            }
            if current.sent == 0 {
                self.started.push_back(current.id);
            }
            let n = remaining.len().min(FRAME_SAMPLES);
            out[..n].copy_from_slice(&remaining[..n]);
            out[n..].fill(0);
            current.sent += n;
            let id = current.id;
            if current.sent == current.samples.len() {
                self.finished.push_back(current.finished(false));
                self.queue.pop_front();
            }
            let talkspurt_start = self.idle;
            self.idle = false;
            return PacedFrame::Speech { id, talkspurt_start };
        }
        out.fill(0);
        self.idle = true;
        PacedFrame::Idle
    }

    /// Drops everything queued now. Each dropped utterance reports how much of it was sent
    /// (zero for those that had not started) with `interrupted: true`.
    pub fn flush(&mut self) {
        for queued in self.queue.drain(..) {
            self.finished.push_back(queued.finished(true));
        }
    }

    /// Takes the next utterance whose first frame went out (in the frame just taken), oldest
    /// first: when an utterance really starts on the wire, whatever was queued before it.
    pub fn poll_started(&mut self) -> Option<UtteranceId> {
        self.started.pop_front()
    }

    /// Takes the next finished-utterance report, oldest first.
    pub fn poll_finished(&mut self) -> Option<PlaybackFinished> {
        self.finished.pop_front()
    }

    /// Whether nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Milliseconds of audio still to send.
    pub fn queued_ms(&self) -> u64 {
        samples_to_ms(self.queue.iter().map(|q| q.samples.len() - q.sent).sum())
    }
}

fn samples_to_ms(samples: usize) -> u64 {
    samples as u64 * 1000 / u64::from(SAMPLE_RATE_8K)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SILENCE;

    fn ramp(len: usize, base: i16) -> Vec<i16> {
        (0..len).map(|i| base + (i % 100) as i16 + 1).collect()
    }

    #[test]
    fn idle_pacer_sends_silence() {
        let mut pacer = Pacer::new();
        let mut frame = [7i16; FRAME_SAMPLES];
        assert_eq!(pacer.next_frame(&mut frame), PacedFrame::Idle);
        assert_eq!(frame, SILENCE);
        assert!(pacer.poll_finished().is_none());
    }

    #[test]
    fn each_tick_takes_exactly_one_frame_and_pads_the_last() {
        let mut pacer = Pacer::new();
        let samples = ramp(400, 0); // 2.5 frames, 50 ms
        pacer.play(UtteranceId(1), samples.clone());
        let mut frame = SILENCE;
        let mut sent = Vec::new();
        for k in 0..3 {
            assert!(matches!(
                pacer.next_frame(&mut frame),
                PacedFrame::Speech {
                    id: UtteranceId(1),
                    ..
                }
            ));
            sent.extend_from_slice(&frame);
            if k < 2 {
                assert!(pacer.poll_finished().is_none(), "not finished after frame {k}");
            }
        }
        assert_eq!(&sent[..400], &samples[..]);
        assert!(sent[400..].iter().all(|&s| s == 0));
        assert_eq!(
            pacer.poll_finished(),
            Some(PlaybackFinished {
                id: UtteranceId(1),
                played_ms: 50,
                interrupted: false
            })
        );
        assert_eq!(pacer.next_frame(&mut frame), PacedFrame::Idle);
    }

    #[test]
    fn utterances_follow_each_other_on_frame_boundaries() {
        let mut pacer = Pacer::new();
        pacer.play(UtteranceId(1), ramp(200, 0));
        pacer.play(UtteranceId(2), ramp(160, 1000));
        let mut frame = SILENCE;
        let ticks: Vec<_> = (0..4).map(|_| pacer.next_frame(&mut frame)).collect();
        assert_eq!(
            ticks,
            vec![
                PacedFrame::Speech {
                    id: UtteranceId(1),
                    talkspurt_start: true
                },
                PacedFrame::Speech {
                    id: UtteranceId(1),
                    talkspurt_start: false
                },
                PacedFrame::Speech {
                    id: UtteranceId(2),
                    talkspurt_start: false
                },
                PacedFrame::Idle,
            ]
        );
        assert_eq!(pacer.poll_finished().map(|f| f.id), Some(UtteranceId(1)));
        assert_eq!(
            pacer.poll_finished().map(|f| (f.id, f.played_ms)),
            Some((UtteranceId(2), 20))
        );
        // Each started on its own first frame (polled here after all four).
        assert_eq!(pacer.poll_started(), Some(UtteranceId(1)));
        assert_eq!(pacer.poll_started(), Some(UtteranceId(2)));
        assert_eq!(pacer.poll_started(), None);
        // After silence, the next utterance starts a new talk spurt.
        pacer.play(UtteranceId(3), ramp(10, 0));
        assert_eq!(
            pacer.next_frame(&mut frame),
            PacedFrame::Speech {
                id: UtteranceId(3),
                talkspurt_start: true
            }
        );
    }

    #[test]
    fn flush_reports_what_was_played_for_every_utterance() {
        let mut pacer = Pacer::new();
        pacer.play(UtteranceId(1), ramp(8000, 0)); // 1 s
        pacer.play(UtteranceId(2), ramp(8000, 0));
        let mut frame = SILENCE;
        for _ in 0..13 {
            pacer.next_frame(&mut frame);
        }
        assert_eq!(pacer.queued_ms(), 2000 - 260);
        pacer.flush();
        assert!(pacer.is_idle());
        assert_eq!(
            pacer.poll_finished(),
            Some(PlaybackFinished {
                id: UtteranceId(1),
                played_ms: 260,
                interrupted: true
            })
        );
        assert_eq!(
            pacer.poll_finished(),
            Some(PlaybackFinished {
                id: UtteranceId(2),
                played_ms: 0,
                interrupted: true
            })
        );
        assert!(pacer.poll_finished().is_none());
        assert_eq!(pacer.next_frame(&mut frame), PacedFrame::Idle);
        assert_eq!(frame, SILENCE);
    }

    #[test]
    fn flush_when_idle_reports_nothing() {
        let mut pacer = Pacer::new();
        pacer.flush();
        assert!(pacer.poll_finished().is_none());
    }

    #[test]
    fn empty_utterance_finishes_without_a_frame() {
        let mut pacer = Pacer::new();
        pacer.play(UtteranceId(9), Vec::new());
        let mut frame = SILENCE;
        assert_eq!(pacer.next_frame(&mut frame), PacedFrame::Idle);
        assert_eq!(
            pacer.poll_finished(),
            Some(PlaybackFinished {
                id: UtteranceId(9),
                played_ms: 0,
                interrupted: false
            })
        );
    }
}
