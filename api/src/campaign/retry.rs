//! Which ended calls a campaign tries again, and when. Outcomes that say "try later" (nobody
//! answered, busy, a failure with a transient SIP cause) are retried; a person's answer never is:
//! `declined` (they pressed reject) and a request not to be called again end the recipient for
//! good, whatever the campaign's list says. Pure functions over the ended call: time is passed in.

use serde::{Deserialize, Serialize};

/// SIP causes a `failed` call may be retried on: request timeout, temporarily unavailable, server
/// error, service unavailable, server timeout (RFC 3261 21.4.9, 21.4.18, 21.5.1, 21.5.4, 21.5.5).
pub const TRANSIENT_SIP: [u16; 5] = [408, 480, 500, 503, 504];

/// `retry` of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Outcomes tried again: any of `no_answer`, `busy`, `failed` (only with a transient SIP
    /// cause: 408, 480, 500, 503, 504), `voicemail`. Default `no_answer`, `busy`, `failed`.
    /// `declined` is refused: a callee who declined is not called again.
    #[serde(default = "default_outcomes")]
    pub outcomes: Vec<String>,
    /// Calls per recipient at most, the first included (default 3; 1 means no retries).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Seconds between the end of a call and the next try (default 3600).
    #[serde(default = "default_after")]
    pub after_secs: u64,
}

fn default_outcomes() -> Vec<String> {
    ["no_answer", "busy", "failed"].map(str::to_owned).to_vec()
}

fn default_attempts() -> u32 {
    3
}

fn default_after() -> u64 {
    3600
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            outcomes: default_outcomes(),
            max_attempts: default_attempts(),
            after_secs: default_after(),
        }
    }
}

/// Why a retry policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// An outcome that may not (or cannot) be retried.
    #[error("retry.outcomes: {0:?} cannot be retried (use no_answer, busy, failed, voicemail)")]
    Outcome(String),
    /// Out of range.
    #[error("retry.max_attempts must be 1 to 10")]
    Attempts,
}

impl RetryPolicy {
    /// Checks the policy when a campaign is created.
    pub fn validate(&self) -> Result<(), RetryError> {
        for outcome in &self.outcomes {
            if !["no_answer", "busy", "failed", "voicemail"].contains(&outcome.as_str()) {
                return Err(RetryError::Outcome(outcome.clone()));
            }
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(RetryError::Attempts);
        }
        Ok(())
    }

    /// What happens to a recipient after its `attempts`-th call ended as `ended`, at `now_ms`.
    pub fn after_call(&self, attempts: u32, ended: &Ended<'_>, now_ms: i64) -> Next {
        let result = ended.result();
        if result == "do_not_call" || result == "declined" {
            return Next::Done(result);
        }
        let retried = self.outcomes.iter().any(|o| o == ended.outcome)
            && (ended.outcome != "failed" || ended.sip_status.is_some_and(|s| TRANSIENT_SIP.contains(&s)));
        if retried && attempts < self.max_attempts {
            let after = i64::try_from(self.after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            Next::Retry {
                not_before_ms: now_ms.saturating_add(after),
            }
        } else {
            Next::Done(result)
        }
    }
}

/// An ended call, as the retry rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended<'a> {
    /// The native outcome word.
    pub outcome: &'a str,
    /// The final SIP status, if one came.
    pub sip_status: Option<u16>,
    /// Why the agent ended it (`do_not_call` when the callee asked not to be called again).
    pub end_reason: Option<&'a str>,
}

impl Ended<'_> {
    /// The recipient's result if this is its last call: the outcome, or `do_not_call` when the
    /// callee asked (it outranks `completed`).
    pub fn result(&self) -> String {
        if self.end_reason == Some("do_not_call") {
            "do_not_call".to_owned()
        } else {
            self.outcome.to_owned()
        }
    }
}

/// What comes after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Call again, not before this instant.
    Retry {
        /// Milliseconds since the epoch.
        not_before_ms: i64,
    },
    /// The recipient is done, with this result.
    Done(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(outcome: &str, sip_status: Option<u16>) -> Ended<'_> {
        Ended {
            outcome,
            sip_status,
            end_reason: None,
        }
    }

    #[test]
    fn transient_failures_are_retried_after_the_delay_until_the_attempts_run_out() {
        let policy = RetryPolicy::default();
        let retry = Next::Retry {
            not_before_ms: 1_000 + 3_600_000,
        };
        assert_eq!(policy.after_call(1, &ended("no_answer", Some(480)), 1_000), retry);
        assert_eq!(policy.after_call(1, &ended("busy", Some(486)), 1_000), retry);
        for cause in TRANSIENT_SIP {
            assert_eq!(
                policy.after_call(2, &ended("failed", Some(cause)), 1_000),
                retry,
                "{cause}"
            );
        }
        assert_eq!(
            policy.after_call(3, &ended("busy", Some(486)), 1_000),
            Next::Done("busy".to_owned()),
            "the third call was the last"
        );
    }

    #[test]
    fn answers_of_a_person_and_lasting_failures_are_never_retried() {
        let everything = RetryPolicy {
            outcomes: ["no_answer", "busy", "failed", "voicemail"]
                .map(str::to_owned)
                .to_vec(),
            max_attempts: 10,
            after_secs: 0,
        };
        assert_eq!(
            everything.after_call(1, &ended("declined", Some(603)), 0),
            Next::Done("declined".to_owned())
        );
        assert_eq!(
            everything.after_call(1, &ended("failed", Some(404)), 0),
            Next::Done("failed".to_owned()),
            "404 is not transient"
        );
        assert_eq!(
            everything.after_call(1, &ended("failed", None), 0),
            Next::Done("failed".to_owned()),
            "no SIP cause at all (a refusal, a transport error) is not transient"
        );
        let asked = Ended {
            outcome: "completed",
            sip_status: Some(200),
            end_reason: Some("do_not_call"),
        };
        assert_eq!(
            everything.after_call(1, &asked, 0),
            Next::Done("do_not_call".to_owned())
        );
        assert_eq!(
            everything.after_call(1, &ended("voicemail", Some(200)), 0),
            Next::Retry { not_before_ms: 0 }
        );
        assert_eq!(
            RetryPolicy::default().after_call(1, &ended("voicemail", Some(200)), 0),
            Next::Done("voicemail".to_owned()),
            "voicemail is retried only when the campaign says so"
        );
    }

    #[test]
    fn declined_cannot_be_listed_for_retries() {
        let policy = RetryPolicy {
            outcomes: vec!["declined".to_owned()],
            ..RetryPolicy::default()
        };
        assert_eq!(policy.validate(), Err(RetryError::Outcome("declined".to_owned())));
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.validate(), Err(RetryError::Attempts));
        assert_eq!(RetryPolicy::default().validate(), Ok(()));
    }
}
