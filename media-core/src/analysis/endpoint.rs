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
//! - With a turn model (`turn_model`, see [`turn`](super::turn)), each segment's end asks for a
//!   verdict ([`EndpointEvent::TurnCheck`]): "complete" ends the turn at once, "incomplete" lets
//!   the pause run to `max_pause_ms` (judged again every `recheck_ms`), and no answer leaves the
//!   silence rule above in charge. While the agent speaks the model is not asked.
//! - While the agent is speaking, a segment that has lasted `barge_in_ms` raises a barge-in. The
//!   minimum ([`BARGE_IN_MS`]) is long enough that a cough, a line burst or a backchannel ("mm-hm",
//!   "yeah": a third to two thirds of a second) does not stop the agent, and short enough that
//!   someone who really talks over it is heard within a second. A shorter segment is still a
//!   turn: its words decide what it meant (see the conversation's backchannel rule).

use crate::analysis::turn::TurnModelTiming;

/// Default segment length that stops the agent, ms. On the turn-taking corpus's development part
/// (`benches/turns/dev.toml`) Piper's "Mm-hm." lasts 640 ms and Silero's segment of it a little
/// longer, so 600 and 700 still stopped the agent for it; interruptions last well over a second.
/// Shorter speech is judged by its words.
pub const BARGE_IN_MS: u64 = 800;

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
    /// Length of a segment, heard while the agent talks, that raises a barge-in, in ms.
    pub barge_in_ms: u64,
    /// Added before starts, in ms: Silero reacts a chunk late to onsets.
    pub speech_pad_ms: u64,
    /// Taken off ends, in ms: Silero's probability stays above the threshold for about two
    /// chunks after speech stops (measured against energy labels of Piper speech, 60-130 ms).
    pub end_lag_ms: u64,
    /// Ask a turn model at each pause; `None` ends turns by silence alone.
    pub turn_model: Option<TurnModelTiming>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            threshold: 0.5,
            min_speech_ms: 160,
            min_silence_ms: 250,
            end_of_turn_ms: 500,
            barge_in_ms: BARGE_IN_MS,
            speech_pad_ms: 30,
            end_lag_ms: 64,
            turn_model: None,
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
    /// The caller paused: is their turn complete? Answer with [`Endpointer::turn_verdict`].
    TurnCheck {
        /// Identifies the check; answers to older checks are ignored.
        seq: u64,
        /// End of the turn's last speech.
        at_ms: u64,
    },
}

/// What the turn model said about the current pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Nothing yet (or no model): the silence rule decides.
    Unjudged,
    /// The caller has more to say: wait up to the longest pause.
    Incomplete,
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
    /// The open turn (or onset): where its speech started, how much of it there has been, and
    /// whether it raised a barge-in. A turn whose words come in short bursts ("No, no, I said
    /// Thursday") is one interruption, not several too short to count (see `barge_in`).
    turn_start: Option<u64>,
    turn_speech_ms: u64,
    turn_barged: bool,
    /// The last turn check asked (0: none yet).
    check_seq: u64,
    /// Silence (from the turn's last speech) at which the last check was asked.
    checked_at_silence_ms: u64,
    verdict: Verdict,
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
            turn_start: None,
            turn_speech_ms: 0,
            turn_barged: false,
            check_seq: 0,
            checked_at_silence_ms: 0,
            verdict: Verdict::Unjudged,
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
        if speech {
            self.turn_start
                .get_or_insert(start_ms.saturating_sub(self.config.speech_pad_ms));
            self.turn_speech_ms += len;
            self.barge_in(end_ms, &mut out);
        }
        self.state = match (self.state, speech) {
            (State::Silence { turn_end }, false) => match turn_end {
                Some(t) => self.pause(t, end_ms, &mut out),
                None => State::Silence { turn_end },
            },
            (State::Silence { turn_end }, true) => self.onset(start_ms, end_ms, len, turn_end, &mut out),
            (
                State::Onset {
                    start,
                    speech_ms,
                    turn_end,
                    ..
                },
                true,
            ) => self.onset(start, end_ms, speech_ms + len, turn_end, &mut out),
            (
                State::Onset {
                    start,
                    last_speech_end,
                    speech_ms,
                    turn_end,
                },
                false,
            ) => {
                if end_ms >= last_speech_end + self.config.min_silence_ms {
                    // Too short to be speech: a click, a cough, a line burst.
                    match turn_end {
                        // An open turn may still be due to end.
                        Some(t) => self.pause(t, end_ms, &mut out),
                        None => {
                            self.close_turn();
                            State::Silence { turn_end }
                        }
                    }
                } else {
                    State::Onset {
                        start,
                        last_speech_end,
                        speech_ms,
                        turn_end,
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
                    self.verdict = Verdict::Unjudged;
                    // Over the agent there is no answer to hurry: the silence rule ends the turn,
                    // so an interruption's pauses ("Wait, ... stop") keep it one turn.
                    if self.config.turn_model.is_some() && !self.agent_speaking {
                        self.ask(end_ms, self.end_silence(end_ms, last_speech_end), &mut out);
                    }
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

    /// The turn model's answer to check `seq`: the probability that the turn is complete, at
    /// media time `now_ms`. Answers to an older check, or after speech resumed, are ignored; so
    /// is a value that is not a probability (the silence rule keeps deciding).
    pub fn turn_verdict(&mut self, seq: u64, complete: f32, now_ms: u64, mut out: impl FnMut(EndpointEvent)) {
        let Some(timing) = self.config.turn_model else {
            return;
        };
        let State::Silence { turn_end: Some(t) } = self.state else {
            return;
        };
        if seq != self.check_seq || !(0.0..=1.0).contains(&complete) {
            return;
        }
        if complete >= timing.threshold {
            out(EndpointEvent::EndOfTurn { at_ms: t });
            self.close_turn();
            self.state = State::Silence { turn_end: None };
        } else {
            self.verdict = Verdict::Incomplete;
            self.state = self.pause(t, now_ms, &mut out);
        }
    }

    /// A chunk of silence `now_ms` into the pause after the turn's speech that ended at `t`:
    /// ends the turn when the rule in force says so, or asks the model again.
    fn pause(&mut self, t: u64, now_ms: u64, out: &mut impl FnMut(EndpointEvent)) -> State {
        let silence = now_ms.saturating_sub(t);
        let limit = match (self.verdict, self.config.turn_model) {
            (Verdict::Incomplete, Some(timing)) => timing.max_pause_ms.max(self.config.end_of_turn_ms),
            _ => self.config.end_of_turn_ms,
        };
        if silence >= limit {
            out(EndpointEvent::EndOfTurn { at_ms: t });
            self.close_turn();
            return State::Silence { turn_end: None };
        }
        if let (Verdict::Incomplete, Some(timing)) = (self.verdict, self.config.turn_model)
            && silence >= self.checked_at_silence_ms + timing.recheck_ms.max(1)
        {
            self.ask(t, silence, out);
        }
        State::Silence { turn_end: Some(t) }
    }

    /// Asks the model about the pause after speech that ended at `t`, `silence` ms into it.
    fn ask(&mut self, t: u64, silence: u64, out: &mut impl FnMut(EndpointEvent)) {
        self.check_seq += 1;
        self.checked_at_silence_ms = silence;
        out(EndpointEvent::TurnCheck {
            seq: self.check_seq,
            at_ms: t,
        });
    }

    /// Silence at the end of a segment, measured from its reported end.
    fn end_silence(&self, reported_end: u64, last_speech_end: u64) -> u64 {
        last_speech_end.saturating_sub(reported_end) + self.config.min_silence_ms
    }

    /// Closes a segment in progress (at the end of a file); returns it if speech was reported.
    pub fn finish(&mut self, now_ms: u64) -> Option<(u64, u64)> {
        let segment = match self.state {
            State::Speech {
                start,
                last_speech_end,
                ..
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
        self.close_turn();
        segment
    }

    /// Raises the open turn's barge-in (once per turn) when, with the caller speaking now while
    /// the agent speaks, the turn has gone on for `barge_in_ms` since its first word and at least
    /// half of that was speech: words with the gaps between them count ("Wait, stop, that's not
    /// right" is heard as one interruption), two clicks far apart do not.
    fn barge_in(&mut self, now_ms: u64, out: &mut impl FnMut(EndpointEvent)) {
        let Some(at_ms) = self.turn_start else {
            return;
        };
        let minimum = self.config.barge_in_ms;
        if self.turn_barged
            || !self.agent_speaking
            || now_ms.saturating_sub(at_ms) < minimum
            || self.turn_speech_ms < minimum / 2
        {
            return;
        }
        self.turn_barged = true;
        out(EndpointEvent::BargeIn { at_ms });
    }

    /// Forgets the turn that ended (or the onset that came to nothing).
    fn close_turn(&mut self) {
        self.turn_start = None;
        self.turn_speech_ms = 0;
        self.turn_barged = false;
    }

    fn onset(
        &mut self,
        start: u64,
        end_ms: u64,
        speech_ms: u64,
        turn_end: Option<u64>,
        out: &mut impl FnMut(EndpointEvent),
    ) -> State {
        let at_ms = start.saturating_sub(self.config.speech_pad_ms);
        if speech_ms >= self.config.min_speech_ms {
            out(EndpointEvent::SpeechStarted { at_ms });
            // The caller went on: the pending check, if any, is moot.
            self.check_seq += 1;
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
        let events = run(&mut ep, &pattern(&[(0.0, 5), (0.9, 30), (0.0, 20)]));
        let barge_ins: Vec<_> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, EndpointEvent::BargeIn { .. }))
            .collect();
        assert_eq!(barge_ins.len(), 1, "{events:?}");
        // Raised once the segment has lasted the minimum, and dated from its start.
        assert_eq!(*barge_ins[0].1, EndpointEvent::BargeIn { at_ms: 130 });
        assert!(matches!(events[0], EndpointEvent::SpeechStarted { at_ms: 130 }));
        let mut quiet = Endpointer::new(EndpointConfig::default()).expect("valid");
        let events = run(&mut quiet, &pattern(&[(0.0, 5), (0.9, 30), (0.0, 20)]));
        assert!(!events.iter().any(|e| matches!(e, EndpointEvent::BargeIn { .. })));
    }

    #[test]
    fn an_interruption_in_short_bursts_is_one_barge_in_from_its_first_word() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        ep.set_agent_speaking(true);
        // "No, no, I said Thursday": bursts of ~320 ms with pauses of ~320 ms (separate segments,
        // one turn); none alone lasts the minimum.
        let events = run(
            &mut ep,
            &pattern(&[
                (0.0, 5),
                (0.9, 10),
                (0.0, 10),
                (0.9, 10),
                (0.0, 10),
                (0.9, 10),
                (0.0, 30),
            ]),
        );
        let barge_ins: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, EndpointEvent::BargeIn { .. }))
            .collect();
        assert_eq!(
            barge_ins,
            vec![&EndpointEvent::BargeIn { at_ms: 130 }],
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .filter(|e| matches!(e, EndpointEvent::SpeechEnded { .. }))
                .count()
                >= 2,
            "several segments: {events:?}"
        );
    }

    #[test]
    fn a_backchannel_over_the_agent_is_a_segment_but_no_barge_in() {
        let mut ep = Endpointer::new(EndpointConfig::default()).expect("valid");
        ep.set_agent_speaking(true);
        // "Mm-hm": about 350 ms of speech.
        let events = run(&mut ep, &pattern(&[(0.0, 5), (0.9, 11), (0.0, 25)]));
        assert!(
            !events.iter().any(|e| matches!(e, EndpointEvent::BargeIn { .. })),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EndpointEvent::SpeechEnded { .. }))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EndpointEvent::EndOfTurn { .. }))
        );
    }

    fn with_model() -> Endpointer {
        Endpointer::new(EndpointConfig {
            turn_model: Some(TurnModelTiming::default()),
            ..EndpointConfig::default()
        })
        .expect("valid")
    }

    /// Feeds chunks `from..to` (32 ms each) of probability `p`, collecting events.
    fn feed(ep: &mut Endpointer, from: usize, to: usize, p: f32, events: &mut Vec<EndpointEvent>) {
        for i in from..to {
            let start = i as u64 * 32;
            ep.process(start, start + 32, p, |e| events.push(e));
        }
    }

    fn check_seq(events: &[EndpointEvent]) -> Option<u64> {
        events.iter().rev().find_map(|e| match e {
            EndpointEvent::TurnCheck { seq, .. } => Some(*seq),
            _ => None,
        })
    }

    fn turn_end(events: &[EndpointEvent]) -> Option<usize> {
        events
            .iter()
            .position(|e| matches!(e, EndpointEvent::EndOfTurn { .. }))
    }

    #[test]
    fn a_complete_verdict_ends_the_turn_at_the_first_pause() {
        let mut ep = with_model();
        let mut events = Vec::new();
        feed(&mut ep, 0, 20, 0.9, &mut events);
        feed(&mut ep, 20, 29, 0.0, &mut events);
        let seq = check_seq(&events).expect("a check at the segment's end");
        assert!(turn_end(&events).is_none(), "{events:?}");
        // 9 chunks of silence (288 ms, plus the 64 ms end lag): the silence rule's 500 is far.
        ep.turn_verdict(seq, 0.9, 29 * 32, |e| events.push(e));
        assert_eq!(events.last(), Some(&EndpointEvent::EndOfTurn { at_ms: 640 - 64 }));
        // A late second answer changes nothing.
        let n = events.len();
        ep.turn_verdict(seq, 0.9, 30 * 32, |e| events.push(e));
        assert_eq!(events.len(), n);
    }

    #[test]
    fn an_incomplete_verdict_waits_through_a_long_pause_and_the_caller_goes_on() {
        let mut ep = with_model();
        let mut events = Vec::new();
        feed(&mut ep, 0, 20, 0.9, &mut events);
        feed(&mut ep, 20, 29, 0.0, &mut events);
        let seq = check_seq(&events).expect("check");
        ep.turn_verdict(seq, 0.1, 29 * 32, |e| events.push(e));
        // A 1.2 s pause: the silence rule would have ended the turn; rechecks are asked.
        feed(&mut ep, 29, 57, 0.0, &mut events);
        assert!(turn_end(&events).is_none(), "{events:?}");
        let rechecks = events
            .iter()
            .filter(|e| matches!(e, EndpointEvent::TurnCheck { .. }))
            .count();
        assert!(rechecks >= 3, "{events:?}");
        // The caller goes on: an answer to the old check is moot.
        feed(&mut ep, 57, 70, 0.9, &mut events);
        let moot = check_seq(&events).expect("check");
        ep.turn_verdict(moot, 0.99, 70 * 32, |e| events.push(e));
        assert!(turn_end(&events).is_none(), "{events:?}");
    }

    #[test]
    fn an_incomplete_turn_ends_at_the_longest_pause() {
        let mut ep = with_model();
        let mut events = Vec::new();
        feed(&mut ep, 0, 20, 0.9, &mut events);
        feed(&mut ep, 20, 29, 0.0, &mut events);
        ep.turn_verdict(check_seq(&events).expect("check"), 0.2, 29 * 32, |e| {
            events.push(e)
        });
        // Every recheck says incomplete too.
        for i in 29..120 {
            let start = i * 32;
            let mut new = Vec::new();
            ep.process(start, start + 32, 0.0, |e| new.push(e));
            if let Some(seq) = check_seq(&new) {
                ep.turn_verdict(seq, 0.2, start + 32, |e| new.push(e));
            }
            events.extend(new);
        }
        let at = turn_end(&events).expect("the turn ends");
        assert_eq!(events[at], EndpointEvent::EndOfTurn { at_ms: 576 });
        // It ended on the chunk that reached 2 s of silence after 576 ms.
        let checks_after = events[at..]
            .iter()
            .filter(|e| matches!(e, EndpointEvent::TurnCheck { .. }))
            .count();
        assert_eq!(checks_after, 0);
    }

    #[test]
    fn over_the_agent_the_model_is_not_asked() {
        let mut ep = with_model();
        ep.set_agent_speaking(true);
        let mut events = Vec::new();
        feed(&mut ep, 0, 5, 0.0, &mut events);
        feed(&mut ep, 5, 15, 0.9, &mut events);
        feed(&mut ep, 15, 40, 0.0, &mut events);
        assert_eq!(check_seq(&events), None, "{events:?}");
        assert!(
            turn_end(&events).is_some(),
            "the silence rule ends it: {events:?}"
        );
    }

    #[test]
    fn without_an_answer_the_silence_rule_decides() {
        let mut ep = with_model();
        let mut events = Vec::new();
        feed(&mut ep, 0, 20, 0.9, &mut events);
        feed(&mut ep, 20, 40, 0.0, &mut events);
        let mut plain = Endpointer::new(EndpointConfig::default()).expect("valid");
        let mut expected = Vec::new();
        feed(&mut plain, 0, 20, 0.9, &mut expected);
        feed(&mut plain, 20, 40, 0.0, &mut expected);
        events.retain(|e| !matches!(e, EndpointEvent::TurnCheck { .. }));
        assert_eq!(events, expected);
        // Nonsense from the model is ignored too.
        let mut ep = with_model();
        let mut events = Vec::new();
        feed(&mut ep, 0, 20, 0.9, &mut events);
        feed(&mut ep, 20, 29, 0.0, &mut events);
        ep.turn_verdict(check_seq(&events).expect("check"), f32::NAN, 29 * 32, |e| {
            events.push(e)
        });
        feed(&mut ep, 29, 40, 0.0, &mut events);
        events.retain(|e| !matches!(e, EndpointEvent::TurnCheck { .. }));
        assert_eq!(events, expected);
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
