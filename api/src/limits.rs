//! Per-key request rate limits (governor's GCRA, keyed by API key id), answered with the IETF
//! `RateLimit-*` headers on every response and `Retry-After` on 429, and the UTC-day window of the
//! per-key daily call cap.

use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Go ahead.
    Allowed {
        /// Requests per window.
        limit: u32,
        /// Requests left in the window.
        remaining: u32,
        /// Seconds until the window is full again.
        reset_secs: u64,
    },
    /// Too many.
    Limited {
        /// Requests per window.
        limit: u32,
        /// Seconds until one more request is allowed.
        retry_after_secs: u64,
    },
}

/// Per-key rate limits.
#[derive(Debug)]
pub struct RateLimits {
    limiter: Limiter,
    per_minute: u32,
}

impl RateLimits {
    /// `per_minute` requests per key per minute, all of which may come in one burst.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let limiter =
            RateLimiter::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>();
        Self {
            limiter,
            per_minute: n.get(),
        }
    }

    /// Counts one request of `key`.
    pub fn check(&self, key: &str) -> RateVerdict {
        let limit = self.per_minute;
        let refill = Duration::from_secs(60) / limit;
        match self.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                RateVerdict::Allowed {
                    limit,
                    remaining,
                    reset_secs: (refill * used).as_secs_f64().ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                RateVerdict::Limited {
                    limit,
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }

    /// Forgets keys that have been idle for a full window (bounds memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

/// The start of the UTC day containing `now_ms`, and the seconds left in it.
pub fn utc_day(now_ms: i64) -> (i64, u64) {
    const DAY_MS: i64 = 86_400_000;
    let start = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let left_ms = start + DAY_MS - now_ms;
    (start, u64::try_from(left_ms.div_euclid(1000).max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_429_and_other_keys_are_unaffected() {
        let limits = RateLimits::per_minute(3);
        for expected_remaining in [2, 1, 0] {
            match limits.check("a") {
                RateVerdict::Allowed { limit, remaining, .. } => {
                    assert_eq!((limit, remaining), (3, expected_remaining));
                }
                other => panic!("{other:?}"),
            }
        }
        match limits.check("a") {
            RateVerdict::Limited { retry_after_secs, .. } => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            limits.check("b"),
            RateVerdict::Allowed { remaining: 2, .. }
        ));
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(86_400_000 + 1_000), (86_400_000, 86_399));
        assert_eq!(utc_day(0), (0, 86_400));
    }
}
