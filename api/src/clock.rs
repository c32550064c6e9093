//! Wall-clock time for records (created, answered, ended), behind a trait so tests can fix it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current UTC time.
    fn now(&self) -> OffsetDateTime;

    /// The current time as RFC 3339 with milliseconds.
    fn now_rfc3339(&self) -> String {
        let now = self.now();
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
            .unwrap_or(now);
        now.format(&Rfc3339).unwrap_or_default()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
