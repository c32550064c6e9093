//! API keys, workflows and settings.

use super::{ApiKeyRow, Store, StoreError, WorkflowRow};

impl Store {
    /// Stores a new API key.
    pub async fn insert_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, hash, name, created_at, policy, trial_source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(&key.name)
        .bind(&key.created_at)
        .bind(&key.policy)
        .bind(&key.trial_source)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The active (not revoked) key with this hash.
    pub async fn active_key(&self, hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every key, oldest first.
    pub async fn keys(&self) -> Result<Vec<ApiKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Revokes a key by id or prefix; returns the key if it was active.
    pub async fn revoke_key(&self, id_or_prefix: &str, at: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR prefix = $2) AND revoked_at IS NULL RETURNING *",
        )
        .bind(at)
        .bind(id_or_prefix)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// One key by id, revoked or not.
    pub async fn key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Sets (or with `None` clears) an active key's own destination list, by id or prefix; returns
    /// the key if it was active.
    pub async fn set_key_policy(
        &self,
        id_or_prefix: &str,
        policy: Option<&str>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "UPDATE api_keys SET policy = $1 WHERE (id = $2 OR prefix = $2) AND revoked_at IS NULL RETURNING *",
        )
        .bind(policy)
        .bind(id_or_prefix)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores a compiled workflow.
    pub async fn insert_workflow(&self, workflow: &WorkflowRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workflows (id, prompt, definition, created_at, api_key_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&workflow.id)
        .bind(&workflow.prompt)
        .bind(&workflow.definition)
        .bind(&workflow.created_at)
        .bind(&workflow.api_key_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One workflow.
    pub async fn workflow(&self, id: &str) -> Result<Option<WorkflowRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM workflows WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A key's workflows, newest first.
    pub async fn workflows_of(&self, owner: &str, limit: i64) -> Result<Vec<WorkflowRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT * FROM workflows WHERE api_key_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(owner)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A stored setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores a setting unless one exists; returns the value in effect.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(self.setting(key).await?.unwrap_or_else(|| value.to_owned()))
    }
}
