//! The store: SQLite by default (one database file), PostgreSQL by URL, through sqlx's `Any` driver
//! with runtime queries and one set of migrations in the repo (`api/migrations`, written in the SQL
//! both accept). Calls, workflows, API keys, idempotency keys, the webhook outbox, the audit log,
//! console sessions and settings live here; nothing a restart must find is kept only in memory.

mod audit;
mod calls;
mod campaigns;
mod dnc;
mod keys;
mod outbox;
mod sessions;

pub use audit::AuditRow;
pub use calls::{CallFilter, DailyCap, Finalized, IdempotencyClaim, Inserted, TrialCap};
pub use campaigns::{CampaignInsert, CampaignRow, RecipientRow};
pub use dnc::{DncRow, INSTALLATION as DNC_INSTALLATION};
pub use outbox::{AttemptRow, DeliveryRow, NewDelivery};
pub use sessions::SessionRow;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, FromRow};
use std::str::FromStr;
use std::time::Duration;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open database {url}: {source}")]
    Open {
        /// The URL tried (without password).
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
    /// Neither `sqlite:` nor `postgres://`.
    #[error("unsupported database URL {0}: use sqlite://PATH or postgres://USER@HOST/DB")]
    Unsupported(String),
}

/// Which SQL engine is behind the pool, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (one file, writers serialized by the engine).
    Sqlite,
    /// PostgreSQL (several nodes may share it).
    Postgres,
}

/// A stored call, as in the `calls` table.
#[derive(Debug, Clone, FromRow, PartialEq, Default)]
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
    /// Milliseconds from answer to hangup.
    pub talk_ms: Option<i64>,
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
    /// Which API face created it: `v1`, `prompt` or `poll` (decides the callback's shape).
    pub face: String,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// A human to bridge to, E.164 (fire-and-poll `bridge_number`).
    pub bridge_number: Option<String>,
    /// Creation time, ms since the epoch (daily caps).
    pub created_ms: i64,
    /// When the retention policy removed its recording and transcript.
    pub purged_at: Option<String>,
    /// DTMF digits sent and received, JSON array.
    pub dtmf: String,
    /// The answering-machine verdict, JSON `{verdict, confidence, decided_ms}`.
    pub amd: Option<String>,
    /// Why the agent ended the call.
    pub end_reason: Option<String>,
    /// Per-turn latency, JSON array.
    pub latency: String,
    /// The campaign it was placed for.
    pub campaign_id: Option<String>,
}

impl CallRow {
    /// Seconds from answer to hangup, to a tenth (as the API shows them).
    pub fn talk_seconds(&self) -> Option<f64> {
        self.talk_ms.map(|ms| (ms as f64 / 100.0).round() / 10.0)
    }
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
    /// The key's own destination list, JSON (`policy::KeyPolicy`); `None` to follow `[policy]`.
    pub policy: Option<String>,
    /// For a trial key, the client it was minted for (an IPv4 address or an IPv6 /64); `None` for
    /// an operator's key.
    pub trial_source: Option<String>,
}

/// A compiled workflow.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct WorkflowRow {
    /// Workflow id.
    pub id: String,
    /// The prompt it was compiled from.
    pub prompt: String,
    /// The compiled workflow, JSON.
    pub definition: String,
    /// RFC 3339.
    pub created_at: String,
    /// The key that created it.
    pub api_key_id: Option<String>,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Unsupported(redact(url)));
        };
        let open_error = |source| StoreError::Open {
            url: redact(url),
            source,
        };
        if dialect == Dialect::Sqlite {
            create_sqlite_parent(url).map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        let options = AnyConnectOptions::from_str(url).map_err(open_error)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; the busy timeout makes writers
                        // queue instead of failing; foreign keys are off by default in SQLite.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, dialect })
    }

    /// Which engine this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// SQLite creates the file but not its directory.
fn create_sqlite_parent(url: &str) -> std::io::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => std::fs::create_dir_all(parent),
        _ => Ok(()),
    }
}

/// Whether an error is a unique-key violation (two writers raced for one key).
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Parses a JSON column.
pub fn json_column(column: &'static str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { column, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://ringback:s3cret@127.0.0.1:5432/rb"),
            "postgres://ringback:***@127.0.0.1:5432/rb"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        assert!(matches!(
            Store::open("mysql://x@y/z").await,
            Err(StoreError::Unsupported(_))
        ));
    }
}
