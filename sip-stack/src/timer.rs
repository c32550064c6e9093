//! RFC 3261 timers as data: one enum, one deadline table. A transaction sets and clears entries; the
//! endpoint asks for the earliest deadline and fires whatever is due.

use std::time::{Duration, Instant};

/// Base timer values (RFC 3261 17.1.1.1, table 4). Configurable for tests and unusual networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate, 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64 * T1: the transaction timeout (Timers B, F, H, J).
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}

/// The transaction timers of RFC 3261 section 17 (and Timer L of RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// INVITE request retransmit.
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait for response retransmits after a non-2xx INVITE final (ACK re-sent).
    D,
    /// Non-INVITE request retransmit.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// Wait for response retransmits after a non-INVITE final.
    K,
    /// Non-INVITE server transaction: how long the final response is kept for retransmits.
    J,
    /// INVITE server transaction: final response retransmit (T1 doubling up to T2) until the ACK.
    G,
    /// INVITE server transaction: give up waiting for the ACK (64*T1).
    H,
    /// INVITE server transaction: absorb ACK retransmissions after the first (T4).
    I,
    /// INVITE server transaction after a 2xx: absorb INVITE retransmissions (RFC 6026, 64*T1).
    L,
}

impl Timer {
    const ALL: [Timer; 11] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::K,
        Timer::J,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::L,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// A deadline per timer; `None` means not running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    deadlines: [Option<Instant>; 11],
}

impl Timers {
    /// Starts or restarts `timer` to fire at `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Stops `timer`.
    pub fn clear(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Stops every timer.
    pub fn clear_all(&mut self) {
        self.deadlines = [None; 11];
    }

    /// The deadline of `timer`, if running.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest running deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let due = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|at| *at <= now).map(|at| (at, t)))
            .min_by_key(|(at, _)| *at)?
            .1;
        self.clear(due);
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn earliest_due_timer_fires_first_and_once() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.set(Timer::B, t0 + Duration::from_secs(32));
        timers.set(Timer::A, t0 + Duration::from_millis(500));
        assert_eq!(timers.next(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(timers.pop_expired(t0), None);
        assert_eq!(timers.pop_expired(t0 + Duration::from_secs(40)), Some(Timer::A));
        assert_eq!(timers.pop_expired(t0 + Duration::from_secs(40)), Some(Timer::B));
        assert_eq!(timers.pop_expired(t0 + Duration::from_secs(40)), None);
        assert_eq!(timers.next(), None);
    }
}
