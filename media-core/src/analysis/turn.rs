//! Semantic end of turn: whether the caller has finished what they were saying, asked of a model
//! that hears the turn (Smart Turn, `smart_turn` with feature `silero`) when they pause.
//!
//! Silence alone cannot tell "my email is ... uh ..." from "that's all": a fixed silence either
//! cuts the first off or keeps the second waiting. So at each pause the endpointer asks for a
//! verdict ([`EndpointEvent::TurnCheck`](super::endpoint::EndpointEvent::TurnCheck)); the call's
//! analysis sends the turn's audio as a [`TurnJob`] to a [`TurnService`], and the answer's
//! probability goes back to the endpointer, which ends the turn at once when it is complete and
//! waits up to [`TurnModelTiming::max_pause_ms`] when it is not. No answer (no model, a slow or
//! failing one) leaves the silence rule in charge.

/// Timing of the model-led end of turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnModelTiming {
    /// Probability at or above which the model's answer means "complete".
    pub threshold: f32,
    /// The longest pause of a turn judged incomplete, in ms: then the turn ends anyway.
    pub max_pause_ms: u64,
    /// While a turn judged incomplete stays silent, it is judged again this often, in ms (the
    /// model hears the growing silence too).
    pub recheck_ms: u64,
}

impl Default for TurnModelTiming {
    fn default() -> Self {
        TurnModelTiming {
            threshold: 0.5,
            max_pause_ms: 2_000,
            recheck_ms: 300,
        }
    }
}

/// The audio of a turn to judge: 16 kHz, at most the last 8 s, ending now.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnJob {
    /// The check this answers ([`EndpointEvent::TurnCheck`](super::endpoint::EndpointEvent)'s).
    pub seq: u64,
    /// Samples scaled to -1..1.
    pub audio_16k: Vec<f32>,
}

/// A model's answer to a [`TurnJob`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnAnswer {
    /// The job's `seq`.
    pub seq: u64,
    /// Probability that the turn is complete; `None` when the model failed or answered nonsense.
    pub complete: Option<f32>,
}

/// Where a call's turn jobs go (the process's Smart Turn worker). Neither call blocks: a job that
/// finds the queue full is dropped, and the silence rule decides that pause.
pub trait TurnService: std::fmt::Debug + Send {
    /// Hands a job over; `false` when it was dropped.
    fn submit(&self, job: TurnJob) -> bool;
    /// An answer, if one has arrived.
    fn try_recv(&self) -> Option<TurnAnswer>;
}
