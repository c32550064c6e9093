//! Live events per call for `GET /v1/calls/{id}/events`: lifecycle moves, transcript turns as they
//! complete, DTMF digits, and the final call object. One broadcast channel per call that someone listens to;
//! the call task publishes, subscribers read. Nothing here is needed after a restart: the store has
//! the state, and a new subscriber starts from a snapshot of it.

use crate::model::{Call, Dtmf, TranscriptTurn};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events buffered per subscriber before the slowest one starts losing them (it is then told so).
const BUFFER: usize = 256;

/// One live event.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum LiveEvent {
    /// The lifecycle moved on.
    Lifecycle {
        /// The call.
        call_id: String,
        /// The new lifecycle word.
        lifecycle: String,
    },
    /// A turn of the conversation completed.
    Transcript {
        /// The call.
        call_id: String,
        /// The turn.
        turn: TranscriptTurn,
    },
    /// A key was pressed or sent.
    Dtmf {
        /// The call.
        call_id: String,
        /// The digit.
        dtmf: Dtmf,
    },
    /// The call is over; the final call object.
    Finalized(Box<Call>),
}

impl LiveEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Lifecycle { .. } => "lifecycle",
            LiveEvent::Transcript { .. } => "transcript",
            LiveEvent::Dtmf { .. } => "dtmf",
            LiveEvent::Finalized(_) => "call.finalized",
        }
    }
}

/// The per-call channels.
#[derive(Debug, Clone, Default)]
pub struct Events {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>>,
}

impl Events {
    /// Subscribes to a call's events (before reading its stored state, so nothing falls between).
    pub fn subscribe(&self, call_id: &str) -> broadcast::Receiver<LiveEvent> {
        let mut channels = self.lock();
        channels
            .entry(call_id.to_owned())
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Publishes an event to the call's subscribers, if any.
    pub fn publish(&self, call_id: &str, event: LiveEvent) {
        let channels = self.lock();
        if let Some(sender) = channels.get(call_id) {
            let _ = sender.send(event);
        }
    }

    /// Publishes the final event and drops the call's channel.
    pub fn finish(&self, call_id: &str, event: LiveEvent) {
        let sender = self.lock().remove(call_id);
        if let Some(sender) = sender {
            let _ = sender.send(event);
        }
    }

    /// Drops a channel nobody listens to any more.
    pub fn release(&self, call_id: &str) {
        let mut channels = self.lock();
        if channels.get(call_id).is_some_and(|s| s.receiver_count() == 0) {
            channels.remove(call_id);
        }
    }

    /// Channels open (for tests and metrics).
    pub fn open_channels(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<LiveEvent>>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_get_events_and_channels_are_dropped() {
        let events = Events::default();
        events.publish(
            "c1",
            LiveEvent::Lifecycle {
                call_id: "c1".into(),
                lifecycle: "dialing".into(),
            },
        );
        assert_eq!(events.open_channels(), 0, "no subscriber, no channel");
        let mut rx = events.subscribe("c1");
        events.publish(
            "c1",
            LiveEvent::Lifecycle {
                call_id: "c1".into(),
                lifecycle: "ringing".into(),
            },
        );
        let got = rx.try_recv().expect("event");
        assert_eq!(got.name(), "lifecycle");
        drop(rx);
        events.release("c1");
        assert_eq!(events.open_channels(), 0);
    }
}
