//! Console sessions (`migrations/0008_console_sessions.sql`): stored server-side so that signing
//! out, a key's revocation and expiry end a session at once, on every node sharing the store. The
//! cookie's value is never stored, only its SHA-256.

use super::{ApiKeyRow, Store, StoreError};
use sqlx::FromRow;

/// One console session.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the cookie's value, hex.
    pub id_hash: String,
    /// The key it was opened with.
    pub api_key_id: String,
    /// The token every write must carry (`X-CSRF-Token` or a `csrf_token` form field).
    pub csrf_token: String,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    /// Milliseconds since the epoch; the session is over from then on.
    pub expires_ms: i64,
}

impl Store {
    /// Stores a new session and drops the ones that expired before `now_ms`.
    pub async fn insert_session(&self, row: &SessionRow, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, api_key_id, csrf_token, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id_hash)
        .bind(&row.api_key_id)
        .bind(&row.csrf_token)
        .bind(row.created_ms)
        .bind(row.expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session that is live at `now_ms`, with its key, while that key is not revoked.
    pub async fn live_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> Result<Option<(SessionRow, ApiKeyRow)>, StoreError> {
        let session: Option<SessionRow> =
            sqlx::query_as("SELECT * FROM console_sessions WHERE id_hash = $1 AND expires_ms > $2")
                .bind(id_hash)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?;
        let Some(session) = session else {
            return Ok(None);
        };
        let key: Option<ApiKeyRow> =
            sqlx::query_as("SELECT * FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
                .bind(&session.api_key_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(key.map(|key| (session, key)))
    }

    /// Ends a session (signing out); `false` when there was none.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
