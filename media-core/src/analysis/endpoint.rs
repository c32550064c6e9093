//! Endpointing over per-chunk speech probabilities: where the caller's speech starts and ends,
//! when their turn is over, and when they talk over the agent (barge-in).
//!
//! The rules, with hysteresis as in Silero's own iterator (a chunk is speech at or above
//! `threshold`, silence below `threshold - 0.15`, and in between it keeps the current state):
//! - Speech starts once `min_speech_ms` of speech has accumulated without a silence of
//!   `min_silence_ms`; the start is the first speech chunk, less `speech_pad_ms`.
//! - A speech segment ends after `min_silence_ms` of silence; its end is the end of the last
//!   chunk at or above `threshold` (the hysteresis band decides whether speech goes on, not
//!   where it ended), less `end_lag_ms` for Silero's lingering probability. Segments are what `ringback analyze` prints.
//! - The caller's turn ends after `end_of_turn_ms` of silence (default 500 ms): the cue to
//!   answer. A turn may hold several segments.
//! - While the agent is speaking, speech of `barge_in_ms` raises a barge-in (earlier than a full
//!   start, since stopping the agent quickly matters most).

/// Settings of the endpointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointConfig {
    /// Probability at or above which a chunk is speech.
    pub threshold: f32,
    /// Speech needed before a start is reported, in ms.
    pub min_speech_ms: u64,
    /// Silence that ends a segment, in ms.
    pub min_silence_ms: u64,
    /// Silence that ends the caller's turn, in ms.
    pub end_of_turn_ms: u64,
    /// Speech while the agent talks that raises a barge-in, in ms.
    pub barge_in_ms: u64,
    /// Added before starts, in ms: Silero reacts a chunk late to onsets.
    pub speech_pad_ms: u64,
    /// Taken off ends, in ms: Silero's probability stays above the threshold for about two
    /// chunks after speech stops (measured against energy labels of Piper speech, 60-130 ms).
    pub end_lag_ms: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            threshold: 0.5,
            min_speech_ms: 160,
            min_silence_ms: 250,
            end_of_turn_ms: 500,
            barge_in_ms: 120,
            speech_pad_ms: 30,
            end_lag_ms: 64,
        }
    }
}

/// Why an endpointer configuration is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointConfigError {
    /// The threshold is not a probability that leaves room for hysteresis.
    #[error("speech threshold {0} is outside 0.15..=1")]
    Threshold(f32),
    /// End of turn must not come before the end of a segment.
    #[error("end_of_turn_ms ({end_of_turn_ms}) is shorter than min_silence_ms ({min_silence_ms})")]
    TurnShorterThanSegmentGap {
        /// The end-of-turn silence.
        end_of_turn_ms: u64,
        /// The segment gap.
        min_silence_ms: u64,
    },
}

impl EndpointConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), EndpointConfigError> {
        if !(0.15..=1.0).contains(&self.threshold) {
            return Err(EndpointConfigError::Threshold(self.threshold));
        }
        if self.end_of_turn_ms < self.min_silence_ms {
            return Err(EndpointConfigError::TurnShorterThanSegmentGap {
                end_of_turn_ms: self.end_of_turn_ms,
                min_silence_ms: self.min_silence_ms,
            });
        }
        Ok(())
    }
}

/// What the endpointer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Speech started at `at_ms` (reported `min_speech_ms` later).
    SpeechStarted {
        /// Start of the speech.
        at_ms: u64,
    },
    /// A speech segment ended.
    SpeechEnded {
        /// Its start.
        start_ms: u64,
        /// Its end.
        end_ms: u64,
    },
    /// The caller's turn is over: `end_of_turn_ms` of silence after speech that ended at `at_ms`.
    EndOfTurn {
        /// End of the turn's last speech.
        at_ms: u64,
    },
    /// The caller started talking while the agent was speaking.
    BargeIn {
        /// Start of the caller's speech.
        at_ms: u64,
    },
}

/// Segmentation state; each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No speech; `turn_end` is the end of the open turn's last segment, if a turn is open.
    Silence { turn_end: Option<u64> },
    /// Speech not yet long enough to report.
    Onset {
        start: u64,
        last_speech_end: u64,
        speech_ms: u64,
        turn_end: Option<u64>,
        barged: bool,
    },
    /// Inside a reported segment.
    Speech { start: u64, last_speech_end: u64 },
}

/// The endpointer of one stream.
#[derive(Debug, Clone)]
pub struct Endpointer {
    config: EndpointConfig,
    neg_threshold: f32,
    state: State,
    agent_speaking: bool,
    /// The previous chunk counted as speech (for the hysteresis band).
    was_speech: bool,
}

impl Endpointer {
    /// An endpointer with validated settings.
    pub fn new(config: EndpointConfig) -> Result<Self, EndpointConfigError> {
        config.validate()?;
        Ok(Endpointer {
            config,
            neg_threshold: config.threshold - 0.15,
            state: State::Silence { turn_end: None },
            agent_speaking: false,
            was_speech: false,
        })
    }

    /// Tells the endpointer whether the agent is speaking (for barge-in).
    pub fn set_agent_speaking(&mut self, speaking: bool) {
        self.agent_speaking = speaking;
    }

    /// Whether the last chunk counted as speech.
    pub fn is_speech(&self) -> bool {
        self.was_speech
    }

    /// Feeds the next chunk `[start_ms, end_ms)` with its probability; `out` receives events.
    pub fn process(
        &mut self,
        start_ms: u64,
        end_ms: u64,
        probability: f32,
        mut out: impl FnMut(EndpointEvent),
    ) {
        let speech = if self.was_speech {
            probability >= self.neg_threshold
        } else {
            probability >= self.config.threshold
        };
        self.was_speech = speech;
        let len = end_ms - start_ms;
        self.state = match (self.state, speech) {
            (State::Silence { turn_end }, false) => {
                if let Some(t) = turn_end
                    && end_ms >= t + self.config.end_of_turn_ms
                {
                    out(EndpointEvent::EndOfTurn { at_ms: t });
                    State::Silence { turn_end: None }
                } else {
                    State::Silence { turn_end }
                }
            }
            (State::Silence { turn_end }, true) => {
                self.onset(start_ms, end_ms, len, turn_end, false, &mut out)
            }
            (
                State::Onset {
                    start,
                    speech_ms,
                    turn_end,
                    barged,
                    ..
                },
                true,
            ) => self.onset(start, end_ms, speech_ms + len, turn_end, barged, &mut out),
            (
                State::Onset {
                    start,
                    last_speech_end,
                    speech_ms,
                    turn_end,
                    barged,
                },
                false,
            ) => {
                if end_ms >= last_speech_end + self.config.min_silence_ms {
                    // Too short to be speech: a click, a cough, a line burst.
                    let silence = State::Silence { turn_end };
                    // An open turn may still be due to end.
                    match turn_end {
                        Some(t) if end_ms >= t + self.config.end_of_turn_ms => {
                            out(EndpointEvent::EndOfTurn { at_ms: t });
                            State::Silence { turn_end: None }
                        }
                        _ => silence,
                    }
                } else {
                    State::Onset {
                        start,
                        last_speech_end,
                        speech_ms,
                        turn_end,
                        barged,
                    }
                }
            }
            (
                State::Speech {
                    start,
                    last_speech_end,
                },
                true,
            ) => State::Speech {
                start,
                // The end follows confident chunks only: Silero's probability decays over a
                // few chunks after speech stops, and those would stretch every segment.
                last_speech_end: if probability >= self.config.threshold {
                    end_ms
                } else {
                    last_speech_end
                },
            },
            (
                State::Speech {
                    start,
                    last_speech_end,
                },
                false,
            ) => {
                if end_ms >= last_speech_end + self.config.min_silence_ms {
                    let end_ms = last_speech_end
                        .saturating_sub(self.config.end_lag_ms)
                        .max(start + 1);
                    out(EndpointEvent::SpeechEnded {
                        start_ms: start,
                        end_ms,
                    });
                    State::Silence {
                        turn_end: Some(end_ms),
                    }
                } else {
                    State::Speech {
                        start,
                        last_speech_end,
                    }
                }
            }
        };
    }

    /// Closes a segment in progress (at the end of a file); returns it if speech was reported.
    pub fn finish(&mut self, now_ms: u64) -> Option<(u64, u64)> {
        let segment = match self.state {
            State::Speech {
                start,
                last_speech_end,
            } => Some((
                start,
                last_speech_end
                    .saturating_sub(self.config.end_lag_ms)
                    .max(start + 1)
                    .min(now_ms),
            )),
            _ => None,
        };
        self.state = State::Silence { turn_end: None };
        segment
    }

    fn onset(
        &self,
        start: u64,
        end_ms: u64,
        speech_ms: u64,
        turn_end: Option<u64>,
        barged: bool,
        out: &mut impl FnMut(EndpointEvent),
    ) -> State {
        let at_ms = start.saturating_sub(self.config.speech_pad_ms);
        let mut barged = barged;
        if self.agent_speaking && !barged && speech_ms >= self.config.barge_in_ms {
            barged = true;
            out(EndpointEvent::BargeIn { at_ms });
        }
        if speech_ms >= self.config.min_speech_ms {
            out(EndpointEvent::SpeechStarted { at_ms });
            State::Speech {
                start: at_ms,
                last_speech_end: end_ms,
            }
        } else {
            State::Onset {
                start,
                last_speech_end: end_ms,
                speech_ms,
                turn_end,
                barged,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs probabilities given per 32 ms chunk from 0 ms.
    fn run(ep: &mut Endpointer, probs: &[f32]) -> Vec<EndpointEvent> {
        let mut events = Vec::new();
        for (i, &p) in probs.iter().enumerate() {
            let start = i as u64 * 32;
            ep.process(start, start + 32, p, |e| events.push(e));
        }
        events
    }

    fn pattern(parts: &[(f32, usize)]) -> Vec<f32> {
        parts
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn a_segment_then_end_of_turn() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        // 10 chunks of silence, 20 of speech (640 ms), 30 of silence.
        let events = run(&mut ep, &pattern(&[(0.0, 10), (0.9, 20), (0.0, 30)]));
        assert_eq!(
            events,
            vec![
                EndpointEvent::SpeechStarted { at_ms: 290 },
                EndpointEvent::SpeechEnded {
                    start_ms: 290,
                    end_ms: 960 - 64
                },
                EndpointEvent::EndOfTurn { at_ms: 960 - 64 },
            ]
        );
    }

    #[test]
    fn a_short_pause_keeps_one_segment_and_a_blip_is_ignored() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        let events = run(
            &mut ep,
            &pattern(&[(0.9, 10), (0.1, 5), (0.9, 10), (0.0, 30), (0.9, 2), (0.0, 40)]),
        );
        let ends: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, EndpointEvent::SpeechEnded { .. }))
            .collect();
        assert_eq!(ends.len(), 1, "{events:?}");
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, EndpointEvent::EndOfTurn { .. }))
                .count(),
            1,
            "{events:?}"
        );
    }

    #[test]
    fn hysteresis_keeps_speech_through_middling_chunks() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        let events = run(&mut ep, &pattern(&[(0.9, 10), (0.4, 20), (0.0, 20)]));
        let Some(EndpointEvent::SpeechEnded { end_ms, .. }) = events.get(1) else {
            panic!("{events:?}")
        };
        // Speech goes on through the middling chunks, but ends where it was last confident.
        assert_eq!(*end_ms, 10 * 32 - 64);
        assert_eq!(events.len(), 3, "one segment: {events:?}");
    }

    #[test]
    fn barge_in_only_while_the_agent_speaks() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        ep.set_agent_speaking(true);
        let events = run(&mut ep, &pattern(&[(0.0, 5), (0.9, 10), (0.0, 20)]));
        assert_eq!(events[0], EndpointEvent::BargeIn { at_ms: 130 });
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, EndpointEvent::BargeIn { .. }))
                .count(),
            1
        );
        let mut quiet = Endpointer::new(EndpointConfig::default()).expect("valid");
        let events = run(&mut quiet, &pattern(&[(0.0, 5), (0.9, 10), (0.0, 20)]));
        assert!(!events.iter().any(|e| matches!(e, EndpointEvent::BargeIn { .. })));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(
            Endpointer::new(EndpointConfig {
                threshold: 1.5,
                ..EndpointConfig::default()
            })
            .is_err()
        );
        assert!(
            Endpointer::new(EndpointConfig {
                end_of_turn_ms: 100,
                ..EndpointConfig::default()
            })
            .is_err()
        );
    }
}
