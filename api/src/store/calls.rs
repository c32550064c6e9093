//! Calls: creation (atomic with its idempotency key and workflow), the per-trunk queue, progress,
//! finalization (atomic with its callback in the outbox), listing, and retention.

use super::{CallRow, Dialect, NewDelivery, Store, StoreError, WorkflowRow, is_unique_violation};
use sqlx::{Any, Transaction};

/// What a call looks like when it is finalized.
#[derive(Debug, Clone, Default)]
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
    /// Transcript JSON; `None` keeps the live transcript.
    pub transcript: Option<&'a str>,
    /// Fields JSON; `None` keeps what is stored.
    pub form_fills: Option<&'a str>,
    /// Talk time, ms.
    pub talk_ms: Option<i64>,
    /// Recording path.
    pub recording_path: Option<&'a str>,
    /// Media JSON.
    pub media: Option<&'a str>,
    /// Failure cause.
    pub error: Option<&'a str>,
    /// DTMF JSON; `None` keeps what is stored.
    pub dtmf: Option<&'a str>,
    /// AMD verdict JSON.
    pub amd: Option<&'a str>,
    /// Why the agent ended the call.
    pub end_reason: Option<&'a str>,
    /// Per-turn latency JSON; `None` keeps what is stored.
    pub latency: Option<&'a str>,
    /// RFC 3339.
    pub ended_at: &'a str,
}

/// An idempotency key to claim together with a new call.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim<'a> {
    /// The key's owner (API key id).
    pub owner: &'a str,
    /// The client's key.
    pub key: &'a str,
    /// Hash of the request it came with.
    pub request_hash: &'a str,
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// Keys older than this (ms since the epoch) have expired and may be reused.
    pub expired_before_ms: i64,
}

/// The result of inserting a call with an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The call was stored.
    Created,
    /// Nothing was stored: the key's daily cap is reached.
    CapReached,
    /// Nothing was stored: the trial client's daily cap is reached.
    TrialCapReached,
    /// The key is live and belongs to an earlier call.
    Existing {
        /// The earlier call.
        call_id: String,
        /// The hash of the earlier request.
        request_hash: String,
    },
}

/// A cap on the calls all trial keys minted for one client create in a period (see
/// `api_keys.trial_source`), checked in the insert's transaction.
#[derive(Debug, Clone)]
pub struct TrialCap {
    /// The client the keys were minted for.
    pub source: String,
    /// Start of the period, ms since the epoch.
    pub since_ms: i64,
    /// Calls allowed in it.
    pub max: i64,
}

/// A cap on the calls one key creates in a period, checked in the insert's transaction.
#[derive(Debug, Clone, Copy)]
pub struct DailyCap {
    /// The period's start (ms since the epoch).
    pub since_ms: i64,
    /// Calls allowed in the period.
    pub max: i64,
}

/// Filters of `GET /v1/calls`.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Only calls of this key.
    pub owner: Option<String>,
    /// Lifecycle word.
    pub lifecycle: Option<String>,
    /// Outcome word.
    pub outcome: Option<String>,
    /// Callee, E.164.
    pub to: Option<String>,
    /// `outbound` or `inbound`.
    pub direction: Option<String>,
    /// Digits the called or calling number ends with (digits only: checked by the caller).
    pub number_suffix: Option<String>,
    /// Text one transcript turn contains, ignoring case.
    pub transcript_contains: Option<String>,
    /// Created at or after (fixed RFC 3339).
    pub created_after: Option<String>,
    /// Created before (fixed RFC 3339).
    pub created_before: Option<String>,
    /// Only ids below this one (the cursor: ids are time-ordered).
    pub before_id: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// Lifecycles of a call that is being placed or talked on.
const LIVE: &str = "('dialing', 'ringing', 'answered')";

impl Store {
    /// Stores a new call (and its workflow), claiming its idempotency key in the same transaction.
    /// When the key is live for an earlier call, nothing is stored and that call is named instead;
    /// concurrent duplicates are decided by the database (the key is the primary key).
    pub async fn insert_call(
        &self,
        call: &CallRow,
        workflow: Option<&WorkflowRow>,
        claim: Option<&IdempotencyClaim<'_>>,
    ) -> Result<Inserted, StoreError> {
        self.insert_call_capped(call, workflow, claim, None, None).await
    }

    /// Calls the trial keys minted for `source` created since `since_ms`.
    pub async fn trial_calls_since(&self, source: &str, since_ms: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM calls JOIN api_keys ON api_keys.id = calls.api_key_id \
             WHERE api_keys.trial_source = $1 AND calls.created_ms >= $2",
        )
        .bind(source)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    /// [`Self::insert_call`], refusing (`Inserted::CapReached`) when the call's key already made
    /// `cap.max` calls since `cap.since_ms`, or (`Inserted::TrialCapReached`) when the trial keys
    /// of `trial.source` together made `trial.max`. The counts and the insert are one transaction
    /// behind a write to the keys' rows, so a burst of concurrent requests cannot all pass.
    pub async fn insert_call_capped(
        &self,
        call: &CallRow,
        workflow: Option<&WorkflowRow>,
        claim: Option<&IdempotencyClaim<'_>>,
        cap: Option<DailyCap>,
        trial: Option<&TrialCap>,
    ) -> Result<Inserted, StoreError> {
        for _ in 0..3 {
            let mut tx = self.pool.begin().await?;
            if let Some(trial) = trial {
                sqlx::query("UPDATE api_keys SET name = name WHERE trial_source = $1")
                    .bind(&trial.source)
                    .execute(&mut *tx)
                    .await?;
                let made: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM calls JOIN api_keys ON api_keys.id = calls.api_key_id \
                     WHERE api_keys.trial_source = $1 AND calls.created_ms >= $2",
                )
                .bind(&trial.source)
                .bind(trial.since_ms)
                .fetch_one(&mut *tx)
                .await?;
                if made >= trial.max {
                    tx.rollback().await?;
                    return Ok(Inserted::TrialCapReached);
                }
            }
            if let Some(cap) = cap {
                // A write first: Postgres locks the key's row until commit; SQLite takes its
                // single write lock before the count is read.
                sqlx::query("UPDATE api_keys SET name = name WHERE id = $1")
                    .bind(&call.api_key_id)
                    .execute(&mut *tx)
                    .await?;
                let made: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM calls WHERE api_key_id = $1 AND created_ms >= $2",
                )
                .bind(&call.api_key_id)
                .bind(cap.since_ms)
                .fetch_one(&mut *tx)
                .await?;
                if made >= cap.max {
                    tx.rollback().await?;
                    return Ok(Inserted::CapReached);
                }
            }
            if let Some(claim) = claim {
                // The first statement writes, so SQLite takes the write lock before reading anything.
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (api_key_id, key, request_hash, call_id, created_ms) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (api_key_id, key) DO UPDATE SET \
                     request_hash = excluded.request_hash, call_id = excluded.call_id, created_ms = excluded.created_ms \
                     WHERE idempotency_keys.created_ms < $6",
                )
                .bind(claim.owner)
                .bind(claim.key)
                .bind(claim.request_hash)
                .bind(&call.id)
                .bind(claim.now_ms)
                .bind(claim.expired_before_ms)
                .execute(&mut *tx)
                .await;
                match claimed {
                    Ok(done) if done.rows_affected() == 1 => {}
                    Ok(_) => {
                        let existing: Option<(String, String)> = sqlx::query_as(
                            "SELECT call_id, request_hash FROM idempotency_keys WHERE api_key_id = $1 AND key = $2",
                        )
                        .bind(claim.owner)
                        .bind(claim.key)
                        .fetch_optional(&mut *tx)
                        .await?;
                        tx.rollback().await?;
                        match existing {
                            Some((call_id, request_hash)) => {
                                return Ok(Inserted::Existing {
                                    call_id,
                                    request_hash,
                                });
                            }
                            None => continue,
                        }
                    }
                    // Postgres: a concurrent insert of the same key committed first.
                    Err(err) if is_unique_violation(&err) => continue,
                    Err(err) => return Err(err.into()),
                }
            }
            if let Some(workflow) = workflow {
                insert_workflow_tx(&mut tx, workflow).await?;
            }
            sqlx::query(
                "INSERT INTO calls (id, workflow_id, api_key_id, direction, to_number, from_number, trunk, lifecycle, \
                 callback_url, metadata, created_at, face, idempotency_key, bridge_number, created_ms, campaign_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
            .bind(&call.face)
            .bind(&call.idempotency_key)
            .bind(&call.bridge_number)
            .bind(call.created_ms)
            .bind(&call.campaign_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Inserted::Created);
        }
        Err(StoreError::Query(sqlx::Error::Protocol(
            "idempotency key kept changing hands".to_owned(),
        )))
    }

    /// The call an idempotency key names, if the key is still live.
    pub async fn idempotent_call(
        &self,
        owner: &str,
        key: &str,
        expired_before_ms: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT call_id, request_hash FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND created_ms >= $3",
        )
        .bind(owner)
        .bind(key)
        .bind(expired_before_ms)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// One call.
    pub async fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM calls WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Calls matching a filter, newest first.
    pub async fn calls(&self, filter: &CallFilter) -> Result<Vec<CallRow>, StoreError> {
        let mut sql = String::from("SELECT * FROM calls WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let conditions = [
            ("api_key_id", "=", &filter.owner),
            ("lifecycle", "=", &filter.lifecycle),
            ("outcome", "=", &filter.outcome),
            ("to_number", "=", &filter.to),
            ("direction", "=", &filter.direction),
            ("created_at", ">=", &filter.created_after),
            ("created_at", "<", &filter.created_before),
            ("id", "<", &filter.before_id),
        ];
        for (column, op, value) in conditions {
            if let Some(value) = value {
                binds.push(value.clone());
                sql.push_str(&format!(" AND {column} {op} ${}", binds.len()));
            }
        }
        if let Some(digits) = &filter.number_suffix {
            // Digits only, so nothing in the pattern is a LIKE wildcard but the leading %.
            binds.push(format!("%{digits}"));
            binds.push(format!("%{digits}"));
            let (a, b) = (binds.len() - 1, binds.len());
            sql.push_str(&format!(" AND (to_number LIKE ${a} OR from_number LIKE ${b})"));
        }
        if let Some(text) = &filter.transcript_contains {
            binds.push(format!("%{}%", like_escape(&text.to_lowercase())));
            sql.push_str(&format!(" AND {}", self.transcript_turn_like(binds.len())));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len() + 1));
        let mut query = sqlx::query_as::<Any, CallRow>(&sql);
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.bind(filter.limit).fetch_all(&self.pool).await?)
    }

    /// A condition: some turn's text, lowercased, is LIKE parameter `n` (escaped with `\`). Per
    /// turn rather than over the JSON column, so a search for `role` or `agent` does not match
    /// every call through the JSON keys.
    fn transcript_turn_like(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!(
                "EXISTS (SELECT 1 FROM json_each(calls.transcript) AS turn \
                 WHERE LOWER(json_extract(turn.value, '$.text')) LIKE ${n} ESCAPE '\\')"
            ),
            Dialect::Postgres => format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(calls.transcript AS jsonb)) AS turn(value) \
                 WHERE LOWER(turn.value ->> 'text') LIKE ${n} ESCAPE '\\')"
            ),
        }
    }

    /// Takes the oldest queued call of a trunk and marks it `dialing`. A campaign's call waits
    /// while its campaign is not running (paused or canceled after the call was queued). Several
    /// nodes may share a Postgres store: they skip rows another node has locked.
    pub async fn claim_queued(&self, trunk: &str) -> Result<Option<CallRow>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE calls SET lifecycle = 'dialing' WHERE lifecycle = 'queued' AND id = \
             (SELECT id FROM calls WHERE trunk = $1 AND lifecycle = 'queued' AND \
             (campaign_id IS NULL OR campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')) \
             ORDER BY id LIMIT 1{lock}) RETURNING *"
        );
        Ok(sqlx::query_as(&sql)
            .bind(trunk)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Every queued call: (id, trunk).
    pub async fn queued_calls(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, trunk FROM calls WHERE lifecycle = 'queued' ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// How many calls of a trunk wait as `queued`.
    pub async fn queued_count(&self, trunk: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE trunk = $1 AND lifecycle = 'queued'")
                .bind(trunk)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many calls a key created since `since_ms`.
    pub async fn calls_created_since(&self, owner: &str, since_ms: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE api_key_id = $1 AND created_ms >= $2")
                .bind(owner)
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Calls that were being placed or talked on (at start-up: the ones the last process left behind).
    pub async fn live_calls(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT id FROM calls WHERE lifecycle IN {LIVE} ORDER BY id"
        ))
        .fetch_all(&self.pool)
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
            "UPDATE calls SET lifecycle = $1, answered_at = COALESCE(answered_at, $2) WHERE id = $3 AND lifecycle != 'finalized'",
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
        sqlx::query("UPDATE calls SET transcript = $1 WHERE id = $2 AND lifecycle != 'finalized'")
            .bind(transcript)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Finalizes a call and, in the same transaction, puts its callback (rendered from the final
    /// row by `callback`) in the outbox: a crash can lose neither. `only_queued` finalizes only a
    /// call that is still waiting (API hangup before dialing). Returns the final row, or `None` when
    /// the call was already finalized (or no longer queued).
    pub async fn finalize<F>(
        &self,
        id: &str,
        f: &Finalized<'_>,
        only_queued: bool,
        callback: F,
    ) -> Result<Option<CallRow>, StoreError>
    where
        F: FnOnce(&CallRow) -> Option<NewDelivery>,
    {
        let mut tx = self.pool.begin().await?;
        let condition = if only_queued {
            "lifecycle = 'queued'"
        } else {
            "lifecycle != 'finalized'"
        };
        let row: Option<CallRow> = sqlx::query_as(&format!(
            "UPDATE calls SET lifecycle = 'finalized', outcome = $1, sip_status = $2, sip_reason = $3, hangup_by = $4, \
             summary = $5, transcript = COALESCE($6, transcript), form_fills = COALESCE($7, form_fills), \
             talk_ms = $8, recording_path = $9, media = $10, error = $11, ended_at = $12, \
             dtmf = COALESCE($14, dtmf), amd = $15, end_reason = $16, latency = COALESCE($17, latency) \
             WHERE id = $13 AND {condition} RETURNING *"
        ))
        .bind(f.outcome)
        .bind(f.sip_status.map(i64::from))
        .bind(f.sip_reason)
        .bind(f.hangup_by)
        .bind(f.summary)
        .bind(f.transcript)
        .bind(f.form_fills)
        .bind(f.talk_ms)
        .bind(f.recording_path)
        .bind(f.media)
        .bind(f.error)
        .bind(f.ended_at)
        .bind(id)
        .bind(f.dtmf)
        .bind(f.amd)
        .bind(f.end_reason)
        .bind(f.latency)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        if let Some(delivery) = callback(&row) {
            super::outbox::insert_delivery(&mut tx, &delivery).await?;
        }
        // A callee who asked not to be called again is listed in the same transaction as the
        // call's end: no crash between the two can leave the request finalized but forgotten.
        // The calling key's list, since the request was made to that key's business; a call
        // without a key (none are placed so today) lists the number for the installation.
        // Only on an answered call: a call refused at dial time because its number was already
        // listed also ends `do_not_call`, and nobody asked anything on it.
        if row.end_reason.as_deref() == Some("do_not_call")
            && row.direction == "outbound"
            && row.answered_at.is_some()
        {
            sqlx::query(
                "INSERT INTO dnc_numbers (scope, number, source, call_id, created_at, created_ms) \
                 VALUES ($1, $2, 'callee_request', $3, $4, $5) ON CONFLICT (scope, number) DO NOTHING",
            )
            .bind(row.api_key_id.as_deref().unwrap_or(super::dnc::INSTALLATION))
            .bind(&row.to_number)
            .bind(&row.id)
            .bind(f.ended_at)
            .bind(ms_of(f.ended_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(row))
    }

    /// Retention: calls that ended before `ended_before` lose their recording path, transcript,
    /// summary and collected fields, and their delivered callbacks lose their payload. Returns the
    /// recording files to delete.
    pub async fn purge_ended_before(&self, ended_before: &str, at: &str) -> Result<Vec<String>, StoreError> {
        let doomed: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, recording_path FROM calls WHERE lifecycle = 'finalized' AND purged_at IS NULL AND ended_at < $1",
        )
        .bind(ended_before)
        .fetch_all(&self.pool)
        .await?;
        let mut files = Vec::new();
        for (id, path) in doomed {
            // Each transaction starts with a write, so SQLite never has to upgrade a read lock.
            let mut tx = self.pool.begin().await?;
            let purged = sqlx::query(
                "UPDATE calls SET transcript = '[]', form_fills = '{}', summary = NULL, recording_path = NULL, \
                 purged_at = $1 WHERE id = $2 AND purged_at IS NULL",
            )
            .bind(at)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET payload = '{}' WHERE call_id = $1 AND status != 'pending'",
            )
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if purged.rows_affected() == 1 {
                files.extend(path);
            }
        }
        Ok(files)
    }
}

async fn insert_workflow_tx(tx: &mut Transaction<'_, Any>, workflow: &WorkflowRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workflows (id, prompt, definition, created_at, api_key_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&workflow.id)
    .bind(&workflow.prompt)
    .bind(&workflow.definition)
    .bind(&workflow.created_at)
    .bind(&workflow.api_key_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Milliseconds since the epoch of a stored RFC 3339 time (0 when it does not parse: the column
/// is for ordering, and the text time beside it stays exact).
fn ms_of(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(crate::clock::unix_ms)
        .unwrap_or(0)
}

/// `text` with LIKE's wildcards (and the escape character) escaped by `\`.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(like_escape("100%_sure\\"), "100\\%\\_sure\\\\");
        assert_eq!(like_escape("tuesday"), "tuesday");
    }
}
