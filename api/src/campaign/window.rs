//! Calling windows: the local hours and days a recipient may be called, evaluated in the
//! recipient's time zone(s) at an instant the caller passes in (no clock here, so the rules are
//! tested at fixed instants). The default, 08:00 to 21:00 every day, is the US TCPA's quiet-hours
//! rule. A recipient held to several zones (a number whose region spans zones) may be called only
//! when every one of them allows it: calling early in one of them is what the rule forbids.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// A window as the API writes it: `{"start": "08:00", "end": "21:00", "days": ["mon", ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Local time calls may start, `HH:MM` (default `08:00`).
    #[serde(default = "default_start")]
    pub start: String,
    /// Local time after which no call starts, `HH:MM`, later than `start` (default `21:00`).
    #[serde(default = "default_end")]
    pub end: String,
    /// Days calls may be made: `mon`..`sun` (default every day).
    #[serde(default = "every_day")]
    pub days: Vec<String>,
}

fn default_start() -> String {
    "08:00".to_owned()
}

fn default_end() -> String {
    "21:00".to_owned()
}

fn every_day() -> Vec<String> {
    DAYS.iter().map(|d| (*d).to_owned()).collect()
}

impl Default for WindowSpec {
    fn default() -> Self {
        Self {
            start: default_start(),
            end: default_end(),
            days: every_day(),
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A checked window: minutes after local midnight, `[start, end)`, and a set of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start_min: u16,
    end_min: u16,
    /// Bit `i` is day `i`, Monday = 0.
    days: u8,
}

/// Why a window cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not `HH:MM` between 00:00 and 24:00.
    #[error("window: {0:?} is not a time of day (HH:MM)")]
    Time(String),
    /// `end` is not after `start` (windows do not cross midnight).
    #[error("window: end {end} must be later than start {start}")]
    Empty {
        /// Start.
        start: String,
        /// End.
        end: String,
    },
    /// Not a day name.
    #[error("window: {0:?} is not a day (mon, tue, wed, thu, fri, sat, sun)")]
    Day(String),
    /// No days at all.
    #[error("window: name at least one day")]
    NoDays,
}

/// Why a time zone cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone name known to this system's tz database (e.g. America/New_York)")]
pub struct ZoneError(pub String);

/// Looks an IANA zone name up in the system's tz database.
pub fn zone(name: &str) -> Result<TimeZone, ZoneError> {
    // jiff also accepts POSIX TZ strings and fixed offsets through other calls; `get` takes
    // database names only, which is what a recipient's zone must be.
    TimeZone::get(name).map_err(|_| ZoneError(name.to_owned()))
}

fn minutes(text: &str) -> Result<u16, WindowError> {
    let bad = || WindowError::Time(text.to_owned());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl TryFrom<&WindowSpec> for Window {
    type Error = WindowError;

    fn try_from(spec: &WindowSpec) -> Result<Self, WindowError> {
        let start_min = minutes(&spec.start)?;
        let end_min = minutes(&spec.end)?;
        if end_min <= start_min {
            return Err(WindowError::Empty {
                start: spec.start.clone(),
                end: spec.end.clone(),
            });
        }
        let mut days = 0u8;
        for day in &spec.days {
            let lower = day.trim().to_ascii_lowercase();
            let index = DAYS
                .iter()
                .position(|d| lower.starts_with(d))
                .ok_or_else(|| WindowError::Day(day.clone()))?;
            days |= 1 << index;
        }
        if days == 0 {
            return Err(WindowError::NoDays);
        }
        Ok(Self {
            start_min,
            end_min,
            days,
        })
    }
}

impl Window {
    /// Whether a call may start at `now` for a recipient in every one of `zones`. No zone at all
    /// allows nothing: a recipient whose local time is unknown is never called (creation refuses
    /// such recipients; this is the second line).
    pub fn allows(&self, zones: &[TimeZone], now: Timestamp) -> bool {
        !zones.is_empty()
            && zones.iter().all(|tz| {
                let local = now.to_zoned(tz.clone());
                let day = local.weekday().to_monday_zero_offset();
                let minute =
                    u16::from(local.hour().unsigned_abs()) * 60 + u16::from(local.minute().unsigned_abs());
                self.days & (1 << day) != 0 && (self.start_min..self.end_min).contains(&minute)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("an instant")
    }

    fn default_window() -> Window {
        Window::try_from(&WindowSpec::default()).expect("valid")
    }

    #[test]
    fn the_default_window_is_eight_to_nine_local_time() {
        let w = default_window();
        let ny = [zone("America/New_York").expect("zone")];
        // 2026-12-07 is a Monday; New York is UTC-5 in December.
        assert!(!w.allows(&ny, at("2026-12-07T12:59:59Z")), "07:59 local");
        assert!(w.allows(&ny, at("2026-12-07T13:00:00Z")), "08:00 local");
        assert!(w.allows(&ny, at("2026-12-08T01:59:00Z")), "20:59 local");
        assert!(!w.allows(&ny, at("2026-12-08T02:00:00Z")), "21:00 local: closed");
        // The same instant is late evening in Los Angeles and past midnight in London.
        let la = [zone("America/Los_Angeles").expect("zone")];
        assert!(w.allows(&la, at("2026-12-08T02:00:00Z")), "18:00 in LA");
        assert!(!w.allows(
            &[zone("Europe/London").expect("zone")],
            at("2026-12-08T02:00:00Z")
        ));
    }

    #[test]
    fn daylight_saving_time_moves_the_window_with_local_time() {
        let w = default_window();
        let ny = [zone("America/New_York").expect("zone")];
        // July: UTC-4, so 12:00Z is 08:00 local (in December it would be 07:00, closed).
        assert!(w.allows(&ny, at("2026-07-06T12:00:00Z")));
        assert!(!w.allows(&ny, at("2026-12-07T12:00:00Z")));
    }

    #[test]
    fn several_zones_allow_only_what_all_of_them_allow() {
        let w = default_window();
        let both = [
            zone("America/New_York").expect("zone"),
            zone("America/Chicago").expect("zone"),
        ];
        // 13:30Z in December: 08:30 in New York, 07:30 in Chicago: too early for one of them.
        assert!(!w.allows(&both, at("2026-12-07T13:30:00Z")));
        assert!(w.allows(&both, at("2026-12-07T14:00:00Z")));
        // 01:30Z: 20:30 in New York, 19:30 in Chicago.
        assert!(w.allows(&both, at("2026-12-08T01:30:00Z")));
        assert!(!w.allows(&[], at("2026-12-07T15:00:00Z")), "no zone, no call");
    }

    #[test]
    fn days_and_hours_are_configurable_and_checked() {
        let weekdays = Window::try_from(&WindowSpec {
            start: "09:30".into(),
            end: "17:00".into(),
            days: vec![
                "mon".into(),
                "Tue".into(),
                "wed".into(),
                "thu".into(),
                "friday".into(),
            ],
        })
        .expect("valid");
        let utc = [zone("UTC").expect("zone")];
        assert!(weekdays.allows(&utc, at("2026-12-11T09:30:00Z")), "Friday 09:30");
        assert!(!weekdays.allows(&utc, at("2026-12-12T10:00:00Z")), "Saturday");
        assert!(!weekdays.allows(&utc, at("2026-12-07T09:29:00Z")));
        for (start, end) in [
            ("8:00", "21:00"),
            ("08:00", "25:00"),
            ("21:00", "08:00"),
            ("08:60", "09:00"),
        ] {
            let spec = WindowSpec {
                start: start.into(),
                end: end.into(),
                ..WindowSpec::default()
            };
            assert!(Window::try_from(&spec).is_err(), "{start}-{end}");
        }
        let no_days = WindowSpec {
            days: Vec::new(),
            ..WindowSpec::default()
        };
        assert_eq!(Window::try_from(&no_days), Err(WindowError::NoDays));
        assert!(zone("Mars/Olympus_Mons").is_err());
        assert!(
            zone("+05:00").is_err(),
            "an offset is not a zone: it has no DST rules"
        );
    }
}
