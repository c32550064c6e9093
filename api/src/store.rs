//! The store: one SQLite database file by default (sqlx, runtime queries, migrations in the repo).
//! Calls, workflows, API keys, webhook deliveries and settings live here; nothing about a call is kept
//! only in memory.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{FromRow, Row};
use std::path::Path;
use std::str::FromStr;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open database {url}: {source}")]
    Open {
        /// The URL tried.
        url: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored JSON column did not parse (the row was written by something else).
    #[error("corrupt JSON in column {column}: {source}")]
    Json {
        /// Column name.
        column: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// Only SQLite is supported by this build.
    #[error("unsupported database URL {0}: this build supports sqlite:// only")]
    Unsupported(String),
}

/// A stored call, as in the `calls` table.
#[derive(Debug, Clone, FromRow, PartialEq)]
pub struct CallRow {
    /// Call id.
    pub id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// The key that created it.
    pub api_key_id: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: String,
    /// Callee, E.164.
    pub to_number: String,
    /// Caller, if known.
    pub from_number: Option<String>,
    /// Trunk name.
    pub trunk: String,
    /// Lifecycle word.
    pub lifecycle: String,
    /// Outcome word, once finalized.
    pub outcome: Option<String>,
    /// Final SIP status.
    pub sip_status: Option<i64>,
    /// SIP reason.
    pub sip_reason: Option<String>,
    /// `agent`, `remote` or `system`.
    pub hangup_by: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Transcript, JSON array.
    pub transcript: String,
    /// Collected fields, JSON object.
    pub form_fills: String,
    /// Seconds from answer to hangup.
    pub talk_seconds: Option<f64>,
    /// Local path of the recording.
    pub recording_path: Option<String>,
    /// Media statistics, JSON object.
    pub media: Option<String>,
    /// Completion callback URL.
    pub callback_url: Option<String>,
    /// Caller-supplied metadata, JSON object.
    pub metadata: String,
    /// Why the call failed.
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub answered_at: Option<String>,
    /// RFC 3339.
    pub ended_at: Option<String>,
}

/// An API key row (the key itself is never stored, only its hash).
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Key id.
    pub id: String,
    /// First characters of the key, for display.
    pub prefix: String,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// Label.
    pub name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
}

/// What a call looks like when it is finalized.
#[derive(Debug, Clone)]
pub struct Finalized<'a> {
    /// Outcome word.
    pub outcome: &'a str,
    /// Final SIP status.
    pub sip_status: Option<u16>,
    /// SIP reason.
    pub sip_reason: Option<&'a str>,
    /// Who hung up.
    pub hangup_by: Option<&'a str>,
    /// Summary.
    pub summary: Option<&'a str>,
    /// Transcript JSON.
    pub transcript: &'a str,
    /// Fields JSON.
    pub form_fills: &'a str,
    /// Talk time.
    pub talk_seconds: Option<f64>,
    /// Recording path.
    pub recording_path: Option<&'a str>,
    /// Media JSON.
    pub media: Option<&'a str>,
    /// Failure cause.
    pub error: Option<&'a str>,
    /// RFC 3339.
    pub ended_at: &'a str,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::Unsupported(url.to_owned()));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        if let Some(parent) = Path::new(options.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                url: url.to_owned(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Stores a new API key.
    pub async fn insert_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_keys (id, prefix, hash, name, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&key.id)
            .bind(&key.prefix)
            .bind(&key.hash)
            .bind(&key.name)
            .bind(&key.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The active (not revoked) key with this hash.
    pub async fn active_key(&self, hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Stores a compiled workflow.
    pub async fn insert_workflow(
        &self,
        id: &str,
        prompt: &str,
        definition: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO workflows (id, prompt, definition, created_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(prompt)
            .bind(definition)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a new call.
    pub async fn insert_call(&self, call: &CallRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO calls (id, workflow_id, api_key_id, direction, to_number, from_number, trunk, lifecycle, \
             callback_url, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&call.id)
        .bind(&call.workflow_id)
        .bind(&call.api_key_id)
        .bind(&call.direction)
        .bind(&call.to_number)
        .bind(&call.from_number)
        .bind(&call.trunk)
        .bind(&call.lifecycle)
        .bind(&call.callback_url)
        .bind(&call.metadata)
        .bind(&call.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One call.
    pub async fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM calls WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Moves a call's lifecycle on; `answered_at` is set once.
    pub async fn set_lifecycle(
        &self,
        id: &str,
        lifecycle: &str,
        answered_at: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE calls SET lifecycle = ?, answered_at = COALESCE(answered_at, ?) WHERE id = ? AND lifecycle != 'finalized'",
        )
        .bind(lifecycle)
        .bind(answered_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the live transcript.
    pub async fn set_transcript(&self, id: &str, transcript: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE calls SET transcript = ? WHERE id = ?")
            .bind(transcript)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Finalizes a call with its outcome.
    pub async fn finalize(&self, id: &str, f: &Finalized<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE calls SET lifecycle = 'finalized', outcome = ?, sip_status = ?, sip_reason = ?, hangup_by = ?, \
             summary = ?, transcript = ?, form_fills = ?, talk_seconds = ?, recording_path = ?, media = ?, error = ?, \
             ended_at = ? WHERE id = ?",
        )
        .bind(f.outcome)
        .bind(f.sip_status.map(i64::from))
        .bind(f.sip_reason)
        .bind(f.hangup_by)
        .bind(f.summary)
        .bind(f.transcript)
        .bind(f.form_fills)
        .bind(f.talk_seconds)
        .bind(f.recording_path)
        .bind(f.media)
        .bind(f.error)
        .bind(f.ended_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a webhook delivery attempt (inserting the delivery on first use).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_delivery(
        &self,
        id: &str,
        call_id: &str,
        url: &str,
        event_type: &str,
        payload: &str,
        status: &str,
        attempts: u32,
        last_status: Option<u16>,
        last_error: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, call_id, url, event_type, payload, status, attempts, last_status, \
             last_error, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'delivered' THEN ? END) \
             ON CONFLICT(id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, \
             last_status = excluded.last_status, last_error = excluded.last_error, delivered_at = excluded.delivered_at",
        )
        .bind(id)
        .bind(call_id)
        .bind(url)
        .bind(event_type)
        .bind(payload)
        .bind(status)
        .bind(i64::from(attempts))
        .bind(last_status.map(i64::from))
        .bind(last_error)
        .bind(at)
        .bind(status)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deliveries of one call: (status, attempts, last_status).
    pub async fn deliveries(&self, call_id: &str) -> Result<Vec<(String, i64, Option<i64>)>, StoreError> {
        let rows = sqlx::query("SELECT status, attempts, last_status FROM webhook_deliveries WHERE call_id = ? ORDER BY created_at")
            .bind(call_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// A stored setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores a setting unless one exists; returns the value in effect.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(self.setting(key).await?.unwrap_or_else(|| value.to_owned()))
    }

    /// Calls that were live when the process stopped: finalized as failed with that cause.
    pub async fn fail_interrupted_calls(&self, at: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE calls SET lifecycle = 'finalized', outcome = 'failed', error = 'interrupted: the server stopped during the call', \
             hangup_by = 'system', ended_at = ? WHERE lifecycle IN ('queued', 'dialing', 'ringing', 'answered')",
        )
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// Parses a JSON column.
pub fn json_column(column: &'static str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { column, source })
}
