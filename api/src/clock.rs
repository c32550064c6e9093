//! Wall-clock time for records (created, answered, ended), behind a trait so tests can fix it.
//! Timestamps are written in one fixed RFC 3339 form (UTC, milliseconds, `Z`) so that stored
//! timestamps sort as text; schedules use integer milliseconds since the epoch.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `2026-04-07T14:30:00.000Z`: always three fractional digits, so text order is time order.
const FIXED: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current UTC time.
    fn now(&self) -> OffsetDateTime;

    /// The current time as RFC 3339 with milliseconds.
    fn now_rfc3339(&self) -> String {
        format_rfc3339(self.now())
    }

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64 {
        unix_ms(self.now())
    }
}

/// Formats a time in the fixed stored form.
pub fn format_rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(FIXED)
        .unwrap_or_default()
}

/// Parses any RFC 3339 timestamp (for query filters) into the fixed stored form.
pub fn normalize_rfc3339(text: &str) -> Option<String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(format_rfc3339)
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still unless moved (tests and benches).
#[derive(Debug)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    /// A clock reading `unix_ms`.
    pub fn at_ms(unix_ms: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(unix_ms))
    }

    /// Moves the clock on.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        let ms = self.0.load(std::sync::atomic::Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_as_text() {
        let a = FixedClock::at_ms(1_775_572_200_000);
        let early = a.now_rfc3339();
        a.advance(std::time::Duration::from_millis(500));
        let late = a.now_rfc3339();
        assert_eq!(early, "2026-04-07T14:30:00.000Z");
        assert_eq!(late, "2026-04-07T14:30:00.500Z");
        assert!(early < late);
        assert_eq!(
            normalize_rfc3339("2026-04-07T16:30:00+02:00").as_deref(),
            Some("2026-04-07T14:30:00.000Z")
        );
        assert_eq!(normalize_rfc3339("yesterday"), None);
    }
}
