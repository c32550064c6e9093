//! The durable webhook outbox's sender. Callbacks are rows in the store, written in the same
//! transaction that finalizes the call, so neither a crash nor an unreachable receiver can lose one
//! or hold a call up. This task takes due rows, POSTs them signed (Standard Webhooks; the same
//! `webhook-id` on every attempt so receivers can de-duplicate), and reschedules failures along the
//! configured schedule with jitter until a 2xx or the schedule is spent. Every attempt is logged.

use crate::clock::Clock;
use crate::fault::FaultPoint;
use crate::metrics::Metrics;
use crate::store::{DeliveryRow, Store};
use crate::webhook::{PublicOnlyResolver, SigningKey};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest the sender sleeps without looking at the store (another node may have added rows).
const IDLE_POLL: Duration = Duration::from_secs(30);

/// Settings of the sender.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Waits between attempts after a failure.
    pub schedule: Vec<Duration>,
    /// Random spread of each wait, percent either way.
    pub jitter_pct: u32,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Whether receivers on private addresses are allowed (else DNS answers are filtered too).
    pub allow_private: bool,
}

/// Handle to the sender: wake it when a row was added.
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    key: SigningKey,
    client: reqwest::Client,
    config: OutboxConfig,
    metrics: Metrics,
    wake: Notify,
}

/// The wait before the next attempt after `step` failures (0-based), jittered by `jitter_pct`
/// using `unit` (uniform in [0, 1)); `None` when the schedule is spent.
pub fn retry_delay(schedule: &[Duration], step: usize, jitter_pct: u32, unit: f64) -> Option<Duration> {
    let base = *schedule.get(step)?;
    let spread = f64::from(jitter_pct.min(100)) / 100.0;
    let factor = 1.0 - spread + 2.0 * spread * unit.clamp(0.0, 1.0);
    Some(base.mul_f64(factor))
}

impl Outbox {
    /// A sender signing with `key`; fails when the HTTP client cannot be built (its TLS backend).
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        key: SigningKey,
        config: OutboxConfig,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Ringback/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        // No fallback client: a default one would drop the private-address guard.
        let client = builder.build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                key,
                client,
                config,
                metrics,
                wake: Notify::new(),
            }),
        })
    }

    /// Tells the sender a delivery is due now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Runs until `shutdown`, then lets attempts in flight finish (each is bounded by the timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let inner = &self.inner;
        let lease = inner.config.timeout + Duration::from_secs(30);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        loop {
            let free = inner.config.concurrency.saturating_sub(in_flight.len());
            let mut claimed = 0;
            if free > 0 {
                let now = inner.clock.now_ms();
                let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
                let limit = i64::try_from(free).unwrap_or(i64::MAX);
                match inner.store.claim_due_deliveries(now, lease_until, limit).await {
                    Ok(due) => {
                        claimed = due.len();
                        for delivery in due {
                            let sender = self.clone();
                            in_flight.spawn(async move { sender.attempt(delivery).await });
                        }
                    }
                    Err(err) => tracing::error!(%err, "cannot read the webhook outbox"),
                }
            }
            if claimed == free {
                // Every slot is busy (and more may be due): look again when one frees up.
                tokio::select! {
                    Some(_) = in_flight.join_next() => {}
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => break,
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// How long to sleep when nothing is due.
    async fn idle_wait(&self) -> Duration {
        let now = self.inner.clock.now_ms();
        match self.inner.store.next_delivery_due().await {
            Ok(Some(due)) => {
                Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0)).min(IDLE_POLL)
            }
            Ok(None) => IDLE_POLL,
            Err(err) => {
                tracing::error!(%err, "cannot read the webhook outbox");
                Duration::from_secs(1)
            }
        }
    }

    async fn attempt(&self, delivery: DeliveryRow) {
        let inner = &self.inner;
        let attempt = delivery.attempts + 1;
        crate::fault::reached(FaultPoint::Delivering).await;
        let timestamp = inner.clock.now().unix_timestamp();
        let result = inner
            .client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                inner
                    .key
                    .sign(&delivery.id, timestamp, delivery.payload.as_bytes()),
            )
            .body(delivery.payload.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(r) => (Some(r.status().as_u16()), None),
            Err(e) => (None, Some(error_kind(&e))),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        if delivered {
            crate::fault::reached(FaultPoint::DeliveredUnmarked).await;
        }
        let step = usize::try_from(delivery.schedule_step).unwrap_or(usize::MAX);
        let next = if delivered {
            None
        } else {
            retry_delay(
                &inner.config.schedule,
                step,
                inner.config.jitter_pct,
                rand::random::<f64>(),
            )
            .map(|d| {
                inner
                    .clock
                    .now_ms()
                    .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            })
        };
        let result_word = match (delivered, next) {
            (true, _) => "delivered",
            (false, Some(_)) => "retry",
            (false, None) => "failed",
        };
        inner.metrics.webhook_attempt(result_word);
        let recorded = inner
            .store
            .record_attempt(
                &delivery.id,
                attempt,
                &inner.clock.now_rfc3339(),
                status,
                error.as_deref(),
                delivered,
                next,
                delivery.schedule_step + 1,
            )
            .await;
        if let Err(err) = recorded {
            tracing::error!(%err, delivery = %delivery.id, "cannot record a webhook attempt");
        }
        match result_word {
            "delivered" => tracing::info!(call_id = %delivery.call_id, attempt, "callback delivered"),
            "retry" => tracing::warn!(call_id = %delivery.call_id, attempt, ?status,
                error = error.as_deref().unwrap_or(""), "callback not accepted; will retry"),
            _ => tracing::error!(call_id = %delivery.call_id, attempt, ?status,
                error = error.as_deref().unwrap_or(""), "callback not accepted; retry schedule spent"),
        }
    }
}

/// The error without the URL (its query may carry secrets).
fn error_kind(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_follow_the_schedule_with_bounded_jitter() {
        let schedule = [Duration::from_secs(10), Duration::from_secs(100)];
        assert_eq!(retry_delay(&schedule, 0, 20, 0.0), Some(Duration::from_secs(8)));
        assert_eq!(retry_delay(&schedule, 0, 20, 0.5), Some(Duration::from_secs(10)));
        assert_eq!(retry_delay(&schedule, 1, 20, 1.0), Some(Duration::from_secs(120)));
        assert_eq!(retry_delay(&schedule, 1, 0, 0.9), Some(Duration::from_secs(100)));
        assert_eq!(retry_delay(&schedule, 2, 20, 0.5), None, "schedule spent");
    }

    #[test]
    fn the_default_schedule_retries_for_more_than_a_day_even_with_jitter_low() {
        let config = crate::config::WebhooksConfig::default();
        let schedule = config.schedule();
        let total: Duration = (0..schedule.len())
            .filter_map(|step| retry_delay(&schedule, step, config.jitter_pct, 0.0))
            .sum();
        // Even with every wait jittered to its shortest, retries span more than 24 hours.
        assert!(total >= Duration::from_secs(24 * 3600), "{total:?}");
        // Waits grow: exponential backoff.
        assert!(schedule.windows(2).all(|w| w[1] > w[0]));
    }
}
