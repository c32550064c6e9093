//! The campaign scheduler's core, sans-IO: given the instant, the campaign's state and settings
//! and its recipients as stored, it says which recipients to dial now and which to end without a
//! call. It reads no clock and touches no store, so every rule (concurrency, start and end,
//! windows in each recipient's zones, retry delays, pause and cancel) is tested at fixed instants;
//! the driver (`driver.rs`) applies its answer.

use super::window::{Window, zone};
use super::{CampaignState, Progress, Recipient, Settings};
use jiff::Timestamp;

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Place a call to the recipient at this position.
    Dial(u32),
    /// End the recipient without a call, with this result (`expired`, `canceled`).
    End {
        /// The recipient.
        position: u32,
        /// Why.
        result: &'static str,
    },
}

/// What the scheduler decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In recipient order.
    pub actions: Vec<Action>,
    /// Whether, once the actions are applied, no recipient is waiting or being called.
    pub finished: bool,
}

/// Decides what to do at `now_ms` (milliseconds since the epoch).
pub fn plan(now_ms: i64, state: CampaignState, settings: &Settings, recipients: &[Recipient]) -> Plan {
    let calling = recipients
        .iter()
        .filter(|r| matches!(r.progress, Progress::Calling { .. }))
        .count();
    let waiting = recipients
        .iter()
        .filter(|r| matches!(r.progress, Progress::Waiting { .. }));
    let mut actions = Vec::new();
    let ending = match state {
        CampaignState::Canceled | CampaignState::Finished => Some("canceled"),
        _ if settings.ends_ms.is_some_and(|end| now_ms >= end) => Some("expired"),
        _ => None,
    };
    if let Some(result) = ending {
        actions.extend(waiting.map(|r| Action::End {
            position: r.position,
            result,
        }));
        return Plan {
            actions,
            finished: calling == 0,
        };
    }
    let waiting: Vec<&Recipient> = waiting.collect();
    let not_started = settings.starts_ms.is_some_and(|start| now_ms < start);
    if state == CampaignState::Running && !not_started {
        let slots = usize::try_from(settings.concurrency)
            .unwrap_or(usize::MAX)
            .saturating_sub(calling);
        let window = Window::try_from(&settings.window).ok();
        let now = Timestamp::from_millisecond(now_ms).ok();
        let due = waiting.iter().filter(|r| {
            let Progress::Waiting { not_before_ms } = r.progress else {
                return false;
            };
            not_before_ms <= now_ms
                && match (window, now) {
                    (Some(window), Some(now)) => window.allows(&zones(r, settings), now),
                    _ => false,
                }
        });
        actions.extend(due.take(slots).map(|r| Action::Dial(r.position)));
    }
    Plan {
        actions,
        finished: calling == 0 && waiting.is_empty(),
    }
}

/// The zones a recipient is held to: its own, else the campaign's default. A name that does not
/// resolve gives none, and no zone allows no call (creation refuses such names; this holds if
/// the system's tz database changes under a stored campaign).
fn zones(r: &Recipient, settings: &Settings) -> Vec<jiff::tz::TimeZone> {
    r.time_zone
        .as_deref()
        .or(settings.time_zone.as_deref())
        .and_then(|name| zone(name).ok())
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Script;
    use super::super::retry::RetryPolicy;
    use super::super::window::WindowSpec;
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().expect("instant").as_millisecond()
    }

    fn settings(concurrency: u32) -> Settings {
        Settings {
            script: Script::Prompt("Ask {name} if Tuesday works.".to_owned()),
            callback_url: None,
            concurrency,
            starts_ms: None,
            ends_ms: None,
            window: WindowSpec::default(),
            retry: RetryPolicy::default(),
            time_zone: Some("America/New_York".to_owned()),
            trunk: None,
        }
    }

    fn waiting(position: u32, zone: Option<&str>, not_before_ms: i64) -> Recipient {
        Recipient {
            position,
            to: format!("+1555123000{position}"),
            time_zone: zone.map(str::to_owned),
            attempts: 0,
            progress: Progress::Waiting { not_before_ms },
        }
    }

    fn calling(position: u32) -> Recipient {
        Recipient {
            progress: Progress::Calling {
                call_id: format!("call_{position}"),
            },
            ..waiting(position, None, 0)
        }
    }

    /// Monday 2026-12-07, 10:00 in New York, 07:00 in Los Angeles.
    const MORNING: &str = "2026-12-07T15:00:00Z";

    #[test]
    fn dials_in_order_up_to_the_concurrency_limit() {
        let s = settings(2);
        let rs = [
            calling(1),
            waiting(2, None, 0),
            waiting(3, None, 0),
            waiting(4, None, 0),
        ];
        let p = plan(ms(MORNING), CampaignState::Running, &s, &rs);
        assert_eq!(p.actions, vec![Action::Dial(2)], "one slot left of two");
        assert!(!p.finished);
        let p = plan(ms(MORNING), CampaignState::Running, &settings(5), &rs);
        assert_eq!(p.actions, vec![Action::Dial(2), Action::Dial(3), Action::Dial(4)]);
    }

    #[test]
    fn a_recipient_outside_its_window_waits_and_is_called_when_it_opens() {
        let s = settings(10);
        let rs = [
            waiting(1, Some("America/Los_Angeles"), 0),
            waiting(2, None, 0),
            waiting(3, Some("Europe/London"), 0),
        ];
        // 07:00 in LA: too early; 10:00 in New York (the default zone); 15:00 in London.
        let p = plan(ms(MORNING), CampaignState::Running, &s, &rs);
        assert_eq!(p.actions, vec![Action::Dial(2), Action::Dial(3)]);
        // An hour later LA opens at 08:00.
        let p = plan(ms("2026-12-07T16:00:00Z"), CampaignState::Running, &s, &rs);
        assert!(p.actions.contains(&Action::Dial(1)));
        // Late evening in New York (21:30): nobody there is called, LA (18:30) is.
        let p = plan(ms("2026-12-08T02:30:00Z"), CampaignState::Running, &s, &rs);
        assert_eq!(p.actions, vec![Action::Dial(1)]);
        // A recipient with no zone at all, in a campaign without a default, is never called.
        let no_default = Settings {
            time_zone: None,
            ..settings(10)
        };
        let p = plan(
            ms(MORNING),
            CampaignState::Running,
            &no_default,
            &[waiting(1, None, 0)],
        );
        assert!(p.actions.is_empty());
    }

    #[test]
    fn retries_wait_for_their_time_and_start_and_end_are_kept() {
        let s = settings(10);
        let retry_at = ms(MORNING) + 60_000;
        let rs = [waiting(1, None, retry_at)];
        assert!(
            plan(ms(MORNING), CampaignState::Running, &s, &rs)
                .actions
                .is_empty()
        );
        assert_eq!(
            plan(retry_at, CampaignState::Running, &s, &rs).actions,
            vec![Action::Dial(1)]
        );
        let later = Settings {
            starts_ms: Some(ms(MORNING) + 1),
            ..settings(10)
        };
        let rs = [waiting(1, None, 0)];
        assert!(
            plan(ms(MORNING), CampaignState::Running, &later, &rs)
                .actions
                .is_empty()
        );
        let over = Settings {
            ends_ms: Some(ms(MORNING)),
            ..settings(10)
        };
        let rs = [waiting(1, None, 0), calling(2)];
        let p = plan(ms(MORNING), CampaignState::Running, &over, &rs);
        assert_eq!(
            p.actions,
            vec![Action::End {
                position: 1,
                result: "expired"
            }]
        );
        assert!(!p.finished, "a call is still in progress");
        let p = plan(ms(MORNING), CampaignState::Running, &over, &[waiting(1, None, 0)]);
        assert!(p.finished);
    }

    #[test]
    fn paused_dials_nothing_and_canceled_ends_the_waiting() {
        let s = settings(10);
        let rs = [waiting(1, None, 0), calling(2)];
        let p = plan(ms(MORNING), CampaignState::Paused, &s, &rs);
        assert!(p.actions.is_empty());
        assert!(!p.finished);
        let p = plan(ms(MORNING), CampaignState::Canceled, &s, &rs);
        assert_eq!(
            p.actions,
            vec![Action::End {
                position: 1,
                result: "canceled"
            }]
        );
        let done = Recipient {
            progress: Progress::Done {
                result: "completed".to_owned(),
            },
            ..waiting(1, None, 0)
        };
        assert!(plan(ms(MORNING), CampaignState::Running, &s, &[done]).finished);
    }
}
