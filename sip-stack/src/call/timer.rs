//! Session timers (RFC 4028): the dialog is refreshed by a re-INVITE or UPDATE every half interval by
//! the side named `refresher`; the other side ends the call with a BYE when no refresh arrives in time.
//! This keeps calls from living forever after a peer vanished without a BYE.

use crate::message::Headers;
use std::time::{Duration, Instant};

/// Session-timer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The interval we ask for, in seconds (`Session-Expires`); 0 turns session timers off.
    pub expires: u32,
    /// The shortest interval we accept (`Min-SE`), at least 90 (RFC 4028 4).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            expires: 1800,
            min_se: 90,
        }
    }
}

/// Who refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    /// We send the refreshes.
    Local,
    /// The peer does; we watch for them.
    Remote,
}

/// A `Session-Expires` value: the interval and the `refresher` parameter (`uac` or `uas`), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionExpires {
    pub secs: u32,
    /// `Some(true)` for `uac`, `Some(false)` for `uas`.
    pub uac_refreshes: Option<bool>,
}

impl SessionExpires {
    /// Reads the header (full or compact name `x`, already expanded by the parser).
    pub fn parse(headers: &Headers) -> Option<Self> {
        let value = headers.get("session-expires")?;
        let mut parts = value.split(';');
        let secs = parts.next()?.trim().parse::<u32>().ok()?;
        let uac_refreshes = parts.find_map(|p| {
            let (name, v) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("refresher")
                .then(|| v.trim().eq_ignore_ascii_case("uac"))
        });
        Some(Self { secs, uac_refreshes })
    }

    /// The header value, e.g. `1800;refresher=uac`.
    pub fn header(self) -> String {
        match self.uac_refreshes {
            Some(true) => format!("{};refresher=uac", self.secs),
            Some(false) => format!("{};refresher=uas", self.secs),
            None => self.secs.to_string(),
        }
    }
}

/// Whether a message lists `timer` in Supported or Require.
pub(crate) fn supports_timer(headers: &Headers) -> bool {
    headers
        .values("supported")
        .chain(headers.values("require"))
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("timer"))
}

/// The running timer of one dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    pub interval: u32,
    pub refresher: Refresher,
    /// When we refresh (Local) or give up on the peer (Remote).
    pub deadline: Instant,
}

impl SessionTimer {
    /// Starts (or restarts, after a refresh) a timer of `interval` seconds at `now`.
    pub fn start(now: Instant, interval: u32, refresher: Refresher) -> Self {
        let secs = u64::from(interval.max(1));
        let deadline = match refresher {
            // Half the interval (RFC 4028 10).
            Refresher::Local => now + Duration::from_millis(secs * 500),
            // The interval minus the larger of 32 s and a third of it, so a late refresh still counts.
            Refresher::Remote => now + Duration::from_secs(secs - (secs / 3).min(32).min(secs)),
        };
        Self {
            interval,
            refresher,
            deadline,
        }
    }

    /// We sent a refresh at half of `interval`: if no 2xx restarts the timer, BYE before the session
    /// expires (RFC 4028 10), that is half the interval from now minus the usual margin.
    pub fn awaiting_refresh(now: Instant, interval: u32) -> Self {
        let secs = u64::from(interval.max(2));
        let margin = (secs / 3).min(32);
        Self {
            interval,
            refresher: Refresher::Remote,
            deadline: now + Duration::from_secs((secs / 2).saturating_sub(margin).max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Header;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(n, v)| Header {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
        )
    }

    #[test]
    fn session_expires_round_trips() {
        let h = headers(&[
            ("Session-Expires", "1800 ; refresher=UAS"),
            ("Supported", "100rel, timer"),
        ]);
        let se = SessionExpires::parse(&h).expect("parses");
        assert_eq!(
            se,
            SessionExpires {
                secs: 1800,
                uac_refreshes: Some(false)
            }
        );
        assert_eq!(se.header(), "1800;refresher=uas");
        assert!(supports_timer(&h));
        assert_eq!(SessionExpires::parse(&headers(&[("Session-Expires", "x")])), None);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn deadlines_follow_rfc_4028() {
        let t0 = Instant::now();
        assert_eq!(
            SessionTimer::start(t0, 90, Refresher::Local).deadline,
            t0 + Duration::from_secs(45)
        );
        // RFC 4028 10: the BYE goes out at expiry minus min(32 s, interval / 3).
        assert_eq!(
            SessionTimer::start(t0, 90, Refresher::Remote).deadline,
            t0 + Duration::from_secs(60)
        );
        assert_eq!(
            SessionTimer::start(t0, 1800, Refresher::Remote).deadline,
            t0 + Duration::from_secs(1768)
        );
    }
}
