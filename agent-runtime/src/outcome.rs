//! Call lifecycle and outcome words, and the mapping from SIP results to outcomes (the table in
//! DESIGN.md). The raw status, reason and who hung up are kept beside the outcome.

use serde::{Deserialize, Serialize};
use sip_stack::{EndCause, HangupBy};

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Accepted, waiting for a trunk channel.
    Queued,
    /// INVITE sent.
    Dialing,
    /// The callee's phone rings (180/183).
    Ringing,
    /// Answered; the conversation is on.
    Answered,
    /// Over; the outcome is set.
    Finalized,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered and the conversation was held.
    Completed,
    /// Answered by a machine.
    Voicemail,
    /// Nobody answered (408, 480, ring timeout).
    NoAnswer,
    /// Busy (486, 600).
    Busy,
    /// Declined (603).
    Declined,
    /// Anything else: unknown number, server errors, no response, transport or registration failure.
    Failed,
    /// Hung up through the API before the answer.
    Canceled,
}

impl Lifecycle {
    /// The contract word.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Queued => "queued",
            Lifecycle::Dialing => "dialing",
            Lifecycle::Ringing => "ringing",
            Lifecycle::Answered => "answered",
            Lifecycle::Finalized => "finalized",
        }
    }
}

impl Outcome {
    /// The contract word.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Voicemail => "voicemail",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Declined => "declined",
            Outcome::Failed => "failed",
            Outcome::Canceled => "canceled",
        }
    }
}

/// The SIP side of how a call ended, as stored on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SipResult {
    /// Final SIP status that decided the outcome, if any.
    pub status: Option<u16>,
    /// Reason phrase or description.
    pub reason: Option<String>,
    /// `agent`, `remote`, or `system`.
    pub hangup_by: Option<String>,
}

/// Why the call runner ended a call before or without SIP deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalEnd {
    /// The API asked to hang up.
    Canceled,
    /// The ring timeout passed.
    RingTimeout,
}

/// Maps a SIP end cause to an outcome. `local` says whether we ended the call on purpose before the
/// answer; `machine` whether the answering-machine detector decided it was a machine.
pub fn outcome_of(cause: &EndCause, local: Option<LocalEnd>, machine: bool) -> Outcome {
    if cause.answered {
        return if machine {
            Outcome::Voicemail
        } else {
            Outcome::Completed
        };
    }
    match (local, cause.status) {
        (Some(LocalEnd::Canceled), _) => Outcome::Canceled,
        (Some(LocalEnd::RingTimeout), _) => Outcome::NoAnswer,
        (None, Some(408 | 480 | 487)) => Outcome::NoAnswer,
        (None, Some(486 | 600)) => Outcome::Busy,
        (None, Some(603)) => Outcome::Declined,
        _ => Outcome::Failed,
    }
}

impl SipResult {
    /// The record of an end cause.
    pub fn from_cause(cause: &EndCause) -> Self {
        Self {
            status: cause.status,
            reason: Some(cause.reason.clone()),
            hangup_by: Some(
                match cause.by {
                    HangupBy::Local => "agent",
                    HangupBy::Remote => "remote",
                }
                .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(status: Option<u16>, answered: bool) -> EndCause {
        EndCause {
            status,
            reason: String::new(),
            by: HangupBy::Remote,
            answered,
        }
    }

    #[test]
    fn words_match_serde() {
        for o in [
            Outcome::Completed,
            Outcome::Voicemail,
            Outcome::NoAnswer,
            Outcome::Busy,
            Outcome::Declined,
            Outcome::Failed,
            Outcome::Canceled,
        ] {
            assert_eq!(
                serde_json::to_value(o).ok(),
                Some(serde_json::Value::from(o.as_str()))
            );
        }
        for l in [
            Lifecycle::Queued,
            Lifecycle::Dialing,
            Lifecycle::Ringing,
            Lifecycle::Answered,
            Lifecycle::Finalized,
        ] {
            assert_eq!(
                serde_json::to_value(l).ok(),
                Some(serde_json::Value::from(l.as_str()))
            );
        }
    }

    #[test]
    fn the_design_table() {
        assert_eq!(outcome_of(&cause(None, true), None, false), Outcome::Completed);
        assert_eq!(outcome_of(&cause(None, true), None, true), Outcome::Voicemail);
        for s in [408, 480] {
            assert_eq!(outcome_of(&cause(Some(s), false), None, false), Outcome::NoAnswer);
        }
        assert_eq!(
            outcome_of(&cause(Some(487), false), Some(LocalEnd::RingTimeout), false),
            Outcome::NoAnswer
        );
        for s in [486, 600] {
            assert_eq!(outcome_of(&cause(Some(s), false), None, false), Outcome::Busy);
        }
        assert_eq!(
            outcome_of(&cause(Some(603), false), None, false),
            Outcome::Declined
        );
        for s in [404, 484, 410, 500, 503] {
            assert_eq!(outcome_of(&cause(Some(s), false), None, false), Outcome::Failed);
        }
        assert_eq!(outcome_of(&cause(None, false), None, false), Outcome::Failed);
        assert_eq!(
            outcome_of(&cause(Some(487), false), Some(LocalEnd::Canceled), false),
            Outcome::Canceled
        );
    }
}
