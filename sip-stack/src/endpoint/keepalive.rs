//! OPTIONS keep-alives to each trunk that asks for them: any answer (even 404 or 405) proves the trunk
//! is there; a request that times out marks it down. Coming back up re-registers at once, since a
//! restarted registrar has usually forgotten our binding.

use super::{Endpoint, Event, Owner};
use crate::message::Method;
use crate::outgoing::OutgoingRequest;
use crate::trunk::TrunkId;
use std::time::{Duration, Instant};

/// One trunk's keep-alive.
#[derive(Debug)]
pub(crate) struct Keepalive {
    trunk: TrunkId,
    interval: Duration,
    next_at: Instant,
    in_flight: bool,
    /// The last verdict; `None` before the first answer or timeout.
    up: Option<bool>,
}

impl Keepalive {
    pub fn new(now: Instant, trunk: TrunkId, interval: Duration) -> Self {
        Self {
            trunk,
            interval: interval.max(Duration::from_secs(1)),
            next_at: now,
            in_flight: false,
            up: None,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next_at)
    }
}

impl Endpoint {
    pub(super) fn send_keepalives(&mut self, now: Instant) {
        for i in 0..self.keepalives.len() {
            let ka = &self.keepalives[i];
            if ka.in_flight || ka.next_at > now {
                continue;
            }
            let trunk = ka.trunk;
            let Some(config) = self.trunks.get(trunk.0).cloned() else {
                continue;
            };
            let branch = self.branch();
            let tag = self.token(10);
            let call_id = format!("{}@ringback", self.token(20));
            let domain = config.domain();
            let local = self.local_for(self.trunk_peer(&config));
            let request = OutgoingRequest {
                custom: Vec::new(),
                method: Method::Options,
                uri: format!("sip:{domain}{}", config.transport.uri_param()),
                via: local.via(&branch),
                route: Vec::new(),
                from: format!("<sip:{}@{domain}>;tag={tag}", config.local_user()),
                to: format!("<sip:{domain}>"),
                call_id,
                cseq: 1,
                extra: vec![("Contact", local.contact(config.local_user()))],
                body: None,
            };
            self.keepalives[i].in_flight = true;
            let peer = self.trunk_peer(&config);
            self.start_transaction(now, request, peer, Owner::Keepalive(trunk));
        }
    }

    pub(super) fn keepalive_answered(&mut self, now: Instant, trunk: TrunkId) {
        if let Some(was_up) = self.keepalive_result(now, trunk, true) {
            if was_up == Some(false) {
                // Back after an outage: the registrar may have lost us, so register now.
                if let Some(reg) = self.registrations.iter_mut().find(|r| r.trunk() == trunk) {
                    reg.retry_now(now);
                }
            }
            tracing::info!(%trunk, "trunk reachable");
            self.events.push_back(Event::TrunkHealth { trunk, up: true });
        }
    }

    pub(super) fn keepalive_failed(&mut self, now: Instant, trunk: TrunkId) {
        if self.keepalive_result(now, trunk, false).is_some() {
            tracing::warn!(%trunk, "trunk not answering OPTIONS");
            self.events.push_back(Event::TrunkHealth { trunk, up: false });
        }
        // A trunk with other proxies tries the next one (its next keep-alive tests it).
        let next = self.trunks.get(trunk.0).and_then(|t| t.next_proxy(t.proxy));
        if let Some(next) = next {
            self.move_trunk(now, trunk, next);
        }
    }

    /// Records a verdict; returns the previous one when it changed.
    fn keepalive_result(&mut self, now: Instant, trunk: TrunkId, up: bool) -> Option<Option<bool>> {
        let ka = self.keepalives.iter_mut().find(|k| k.trunk == trunk)?;
        ka.in_flight = false;
        // A trunk that is down is probed more often, so recovery is noticed soon.
        let next = if up {
            ka.interval
        } else {
            ka.interval.min(Duration::from_secs(10))
        };
        ka.next_at = now + next;
        let previous = ka.up;
        ka.up = Some(up);
        (previous != Some(up)).then_some(previous)
    }
}
