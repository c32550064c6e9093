//! Named pause points for the fault-injection suite (`api/tests/fault_injection.rs`).
//!
//! Some moments of a call's life last milliseconds and leave no trace an outside observer could
//! wait for: the report of an ended call not yet stored, a callback stored but not yet sent, a
//! callback the receiver accepted but whose acceptance is not yet written down. To kill the
//! process at exactly such a moment, the suite starts `ringback serve` with
//! `RINGBACK_FAULT_POINT=<name>`: a task that reaches that point prints
//! `RINGBACK_FAULT_POINT <name> reached` on stderr and waits forever, and the suite, having read
//! the line, sends SIGKILL to the process. The kill stays real and external; only the timing is
//! arranged. Moments that can be seen from outside (a call queued, ringing, the agent talking)
//! are not points here: the suite watches for them and kills without help.
//!
//! Off unless the variable is set (never in production): an unset variable makes every point a
//! check of a value read once. Start-up recovery finalizes the calls a dead process left live
//! through [`FaultPoint::Finalized`] too, so arm that one only when no call is live.

use std::sync::OnceLock;

/// The environment variable that arms a point.
pub const VARIABLE: &str = "RINGBACK_FAULT_POINT";

/// A moment at which the suite may kill the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// A placed call has ended and its report is ready, but the call is not yet finalized in the
    /// store (`finalizing`).
    Finalizing,
    /// The call is finalized and its callback is in the outbox, but the sender was not yet told
    /// (`finalized`).
    Finalized,
    /// A callback was claimed from the outbox and is about to be sent (`delivering`).
    Delivering,
    /// The receiver answered 2xx, and the delivery is not yet marked as delivered
    /// (`delivered_unmarked`): the one kill after which a receiver sees a callback twice.
    DeliveredUnmarked,
}

impl FaultPoint {
    /// Every point.
    pub const ALL: [FaultPoint; 4] = [
        FaultPoint::Finalizing,
        FaultPoint::Finalized,
        FaultPoint::Delivering,
        FaultPoint::DeliveredUnmarked,
    ];

    /// The name `RINGBACK_FAULT_POINT` takes.
    pub fn name(self) -> &'static str {
        match self {
            FaultPoint::Finalizing => "finalizing",
            FaultPoint::Finalized => "finalized",
            FaultPoint::Delivering => "delivering",
            FaultPoint::DeliveredUnmarked => "delivered_unmarked",
        }
    }

    /// The point named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name.trim())
    }
}

/// What the variable says, read once: `Ok(None)` when unset or empty, the raw text when it names
/// no point.
fn armed() -> &'static Result<Option<FaultPoint>, String> {
    static ARMED: OnceLock<Result<Option<FaultPoint>, String>> = OnceLock::new();
    ARMED.get_or_init(|| match std::env::var(VARIABLE) {
        Ok(name) if !name.trim().is_empty() => FaultPoint::parse(&name).map(Some).ok_or(name),
        _ => Ok(None),
    })
}

/// Says at start-up that a point is armed (so a log shows why a process stopped making progress),
/// or that the variable names no point (which would otherwise arm nothing, silently).
pub fn announce() {
    match armed() {
        Ok(None) => {}
        Ok(Some(point)) => tracing::warn!(
            point = point.name(),
            "{VARIABLE} is set: tasks that reach this point stop there, for the fault-injection suite"
        ),
        Err(name) => tracing::error!(
            value = %name,
            known = ?FaultPoint::ALL.map(FaultPoint::name),
            "{VARIABLE} names no fault point; none is armed"
        ),
    }
}

/// Marks that a task reached `point`: when it is the armed one, announces it on stderr and never
/// returns (the suite kills the process now).
pub async fn reached(point: FaultPoint) {
    if armed().as_ref().ok().copied().flatten() == Some(point) {
        eprintln!("{VARIABLE} {} reached", point.name());
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_parses_from_its_own_name_and_nothing_else_does() {
        for point in FaultPoint::ALL {
            assert_eq!(FaultPoint::parse(point.name()), Some(point));
        }
        assert_eq!(FaultPoint::parse(" delivering\n"), Some(FaultPoint::Delivering));
        assert_eq!(FaultPoint::parse("deliver"), None);
        assert_eq!(FaultPoint::parse(""), None);
    }
}
