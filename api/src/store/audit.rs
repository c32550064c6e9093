//! The audit log's table: rows are inserted and read, never changed.

use super::{Store, StoreError};
use sqlx::FromRow;

/// One row of `audit_log` (see `migrations/0004_audit_log.sql`).
#[derive(Debug, Clone, FromRow, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// `aud_<uuidv7>`: id order is time order.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// A key id, `operator` or `anonymous`.
    pub actor: String,
    /// What was done (`key.created`, `recording.fetched`, ...).
    pub action: String,
    /// What it was done to.
    pub subject: Option<String>,
    /// The client address, when the act came through the API.
    pub source: Option<String>,
    /// A JSON object with the particulars.
    pub detail: String,
}

impl Store {
    /// Appends one row.
    pub async fn insert_audit(&self, row: &AuditRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, at_ms, actor, action, subject, source, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.at)
        .bind(row.at_ms)
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.subject)
        .bind(&row.source)
        .bind(&row.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rows at or after `since_ms`, oldest first, at most `limit`.
    pub async fn audit_log(&self, since_ms: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM audit_log WHERE at_ms >= $1 ORDER BY at_ms, id LIMIT $2")
                .bind(since_ms)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
