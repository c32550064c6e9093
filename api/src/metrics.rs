//! Prometheus metrics (`/metrics`): calls by outcome, active and queued calls, trunk registration,
//! webhook backlog and attempts, media loss and jitter. One registry per server (no global
//! recorder), so several servers in one test process do not mix their numbers.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Label: a call outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// Outcome word.
    pub outcome: String,
}

/// Label: a trunk.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrunkLabel {
    /// Trunk name.
    pub trunk: String,
}

/// Label: the result of a webhook attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `delivered`, `retry` or `failed`.
    pub result: String,
}

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    calls: Family<OutcomeLabel, Counter>,
    active: Gauge,
    queued: Family<TrunkLabel, Gauge>,
    registered: Family<TrunkLabel, Gauge>,
    backlog: Gauge,
    webhook_attempts: Family<ResultLabel, Counter>,
    loss: Histogram,
    jitter: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ringback");
        let calls = Family::<OutcomeLabel, Counter>::default();
        registry.register("calls", "Calls finalized, by outcome", calls.clone());
        let active = Gauge::default();
        registry.register("active_calls", "Calls being placed or talked on", active.clone());
        let queued = Family::<TrunkLabel, Gauge>::default();
        registry.register(
            "queued_calls",
            "Calls waiting for a trunk channel",
            queued.clone(),
        );
        let registered = Family::<TrunkLabel, Gauge>::default();
        registry.register(
            "trunk_registered",
            "1 when the trunk is registered or needs no registration",
            registered.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Callbacks not yet accepted by their receiver",
            backlog.clone(),
        );
        let webhook_attempts = Family::<ResultLabel, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Callback delivery attempts, by result",
            webhook_attempts.clone(),
        );
        let loss = Histogram::new([0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        registry.register(
            "media_loss_percent",
            "Packet loss per call, percent",
            loss.clone(),
        );
        let jitter = Histogram::new([1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0]);
        registry.register(
            "media_jitter_ms",
            "Interarrival jitter per call, ms",
            jitter.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                calls,
                active,
                queued,
                registered,
                backlog,
                webhook_attempts,
                loss,
                jitter,
            }),
        }
    }

    /// A call was finalized.
    pub fn call_finalized(&self, outcome: &str, media: Option<(f64, f64)>) {
        self.inner
            .calls
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
        if let Some((loss, jitter)) = media {
            self.inner.loss.observe(loss);
            self.inner.jitter.observe(jitter);
        }
    }

    /// A call started (+1) or ended (-1).
    pub fn active(&self, delta: i64) {
        self.inner.active.inc_by(delta);
    }

    /// The queue length of a trunk.
    pub fn set_queued(&self, trunk: &str, queued: i64) {
        self.inner
            .queued
            .get_or_create(&TrunkLabel {
                trunk: trunk.to_owned(),
            })
            .set(queued);
    }

    /// Registration state of a trunk.
    pub fn set_registered(&self, trunk: &str, registered: bool) {
        self.inner
            .registered
            .get_or_create(&TrunkLabel {
                trunk: trunk.to_owned(),
            })
            .set(i64::from(registered));
    }

    /// The webhook backlog.
    pub fn set_backlog(&self, backlog: i64) {
        self.inner.backlog.set(backlog);
    }

    /// One webhook attempt.
    pub fn webhook_attempt(&self, result: &str) {
        self.inner
            .webhook_attempts
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        m.call_finalized("busy", Some((1.5, 3.0)));
        m.active(1);
        m.set_registered("main", true);
        m.set_backlog(3);
        let text = m.encode();
        for needle in [
            "ringback_calls_total{outcome=\"busy\"} 1",
            "ringback_active_calls 1",
            "ringback_trunk_registered{trunk=\"main\"} 1",
            "ringback_webhook_backlog 3",
            "ringback_media_loss_percent_count 1",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }
}
