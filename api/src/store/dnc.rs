//! The do-not-call lists' table (`migrations/0006_do_not_call.sql`): one list per installation and
//! one per API key, numbers in E.164. The pre-dial decision is `policy.rs`'s; this file only
//! answers "which list names this number" and keeps the lists.

use super::{Store, StoreError};
use crate::policy::DncScope;
use sqlx::FromRow;

/// The `scope` of the installation's list (a key's list is scoped by the key id, which never
/// takes this form: ids start with `key_`).
pub const INSTALLATION: &str = "installation";

/// One listed number.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DncRow {
    /// `installation` or a key id.
    pub scope: String,
    /// E.164.
    pub number: String,
    /// `api`, `import` or `callee_request`.
    pub source: String,
    /// The call on which the callee asked, for `callee_request`.
    pub call_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
    /// The API key that listed it (`None` for a callee's own request).
    pub added_by: Option<String>,
}

impl Store {
    /// Lists a number; `false` when the list already named it (the first entry is kept, so its
    /// source and time say when the number was first listed).
    pub async fn dnc_add(&self, row: &DncRow) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO dnc_numbers (scope, number, source, call_id, created_at, created_ms, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scope, number) DO NOTHING",
        )
        .bind(&row.scope)
        .bind(&row.number)
        .bind(&row.source)
        .bind(&row.call_id)
        .bind(&row.created_at)
        .bind(row.created_ms)
        .bind(&row.added_by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Lists many numbers in one transaction (an import lands whole or not at all); answers how
    /// many were new.
    pub async fn dnc_add_all(&self, rows: &[DncRow]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for row in rows {
            let done = sqlx::query(
                "INSERT INTO dnc_numbers (scope, number, source, call_id, created_at, created_ms, added_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scope, number) DO NOTHING",
            )
            .bind(&row.scope)
            .bind(&row.number)
            .bind(&row.source)
            .bind(&row.call_id)
            .bind(&row.created_at)
            .bind(row.created_ms)
            .bind(&row.added_by)
            .execute(&mut *tx)
            .await?;
            added += done.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Removes a number from one list; `false` when it was not there.
    pub async fn dnc_remove(&self, scope: &str, number: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dnc_numbers WHERE scope = $1 AND number = $2")
            .bind(scope)
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One list, in number order, after `after` (a cursor), at most `limit`.
    pub async fn dnc_list(&self, scope: &str, after: &str, limit: i64) -> Result<Vec<DncRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM dnc_numbers WHERE scope = $1 AND number > $2 ORDER BY number LIMIT $3",
        )
        .bind(scope)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One entry of one list.
    pub async fn dnc_entry(&self, scope: &str, number: &str) -> Result<Option<DncRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM dnc_numbers WHERE scope = $1 AND number = $2")
                .bind(scope)
                .bind(number)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Which list names `number` for calls by `key_id`: the installation's wins (it is the wider
    /// one), then the key's own; `None` when neither does.
    pub async fn dnc_listed(
        &self,
        key_id: Option<&str>,
        number: &str,
    ) -> Result<Option<DncScope>, StoreError> {
        let scopes: Vec<String> = sqlx::query_scalar(
            "SELECT scope FROM dnc_numbers WHERE number = $1 AND (scope = $2 OR scope = $3)",
        )
        .bind(number)
        .bind(INSTALLATION)
        .bind(key_id.unwrap_or(INSTALLATION))
        .fetch_all(&self.pool)
        .await?;
        Ok(if scopes.iter().any(|s| s == INSTALLATION) {
            Some(DncScope::Installation)
        } else if scopes.is_empty() {
            None
        } else {
            Some(DncScope::Key)
        })
    }
}
