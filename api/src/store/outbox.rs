//! The webhook outbox: one row per event to deliver (`pending` until a 2xx, `failed` when the retry
//! schedule is spent, `delivered`), and one row per attempt (the delivery log).

use super::{Dialect, Store, StoreError};
use sqlx::{Any, FromRow, Transaction};

/// An event to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Message id (`webhook-id`), the same for every attempt.
    pub id: String,
    /// The call it is about.
    pub call_id: String,
    /// Where it goes.
    pub url: String,
    /// `call.finalized`.
    pub event_type: String,
    /// The exact body that is signed and sent.
    pub payload: String,
    /// RFC 3339.
    pub created_at: String,
    /// ms since the epoch.
    pub created_ms: i64,
}

/// A delivery as stored.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct DeliveryRow {
    /// Message id.
    pub id: String,
    /// Call id.
    pub call_id: String,
    /// Target URL.
    pub url: String,
    /// Event type.
    pub event_type: String,
    /// Body.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// HTTP status of the last attempt.
    pub last_status: Option<i64>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub delivered_at: Option<String>,
    /// When the next attempt is due, ms since the epoch.
    pub next_attempt_ms: Option<i64>,
    /// Position in the retry schedule.
    pub schedule_step: i64,
    /// ms since the epoch.
    pub created_ms: i64,
}

/// One attempt, for the delivery log.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct AttemptRow {
    /// Delivery (message) id.
    pub delivery_id: String,
    /// 1, 2, ...
    pub attempt: i64,
    /// RFC 3339.
    pub at: String,
    /// HTTP status, if the receiver answered.
    pub status_code: Option<i64>,
    /// What went wrong, if it did not.
    pub error: Option<String>,
}

pub(super) async fn insert_delivery(
    tx: &mut Transaction<'_, Any>,
    d: &NewDelivery,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, call_id, url, event_type, payload, status, attempts, created_at, \
         next_attempt_ms, schedule_step, created_ms) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, 0, $7)",
    )
    .bind(&d.id)
    .bind(&d.call_id)
    .bind(&d.url)
    .bind(&d.event_type)
    .bind(&d.payload)
    .bind(&d.created_at)
    .bind(d.created_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Takes up to `limit` due deliveries and leases them until `lease_until_ms`, so a delivery whose
    /// sender dies mid-attempt is retried after the lease instead of being lost or sent twice at once.
    pub async fn claim_due_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        Ok(sqlx::query_as(&format!(
            "UPDATE webhook_deliveries SET next_attempt_ms = $1 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_ms <= $2 \
             ORDER BY next_attempt_ms LIMIT $3{lock}) RETURNING *"
        ))
        .bind(lease_until_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the next pending delivery is due.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT MIN(next_attempt_ms) FROM webhook_deliveries WHERE status = 'pending'",
            )
            .fetch_one(&self.pool)
            .await?,
        )
    }

    /// Records one attempt and the delivery's new state: `next_attempt_ms = None` with `delivered`
    /// false means the schedule is spent.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_attempt(
        &self,
        id: &str,
        attempt: i64,
        at: &str,
        status_code: Option<u16>,
        error: Option<&str>,
        delivered: bool,
        next_attempt_ms: Option<i64>,
        schedule_step: i64,
    ) -> Result<(), StoreError> {
        let status = match (delivered, next_attempt_ms) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, last_status = $3, last_error = $4, \
             delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END, next_attempt_ms = $6, \
             schedule_step = $7 WHERE id = $8",
        )
        .bind(status)
        .bind(attempt)
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(at)
        .bind(next_attempt_ms)
        .bind(schedule_step)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(id)
        .bind(attempt)
        .bind(at)
        .bind(status_code.map(i64::from))
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries of one call, oldest first.
    pub async fn deliveries(&self, call_id: &str) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM webhook_deliveries WHERE call_id = $1 ORDER BY created_ms, id")
                .bind(call_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The attempts of one delivery.
    pub async fn attempts(&self, delivery_id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt")
                .bind(delivery_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Puts a delivery back in the queue, due now, with its retry schedule restarted.
    pub async fn redeliver(&self, call_id: &str, delivery_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_ms = $1, schedule_step = 0 \
             WHERE id = $2 AND call_id = $3 AND payload != '{}'",
        )
        .bind(now_ms)
        .bind(delivery_id)
        .bind(call_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deliveries not yet accepted by their receiver.
    pub async fn webhook_backlog(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
