//! Campaigns and their recipients (`migrations/0007_campaigns.sql`). Rows in, rows out; what the
//! states mean is `campaign/`'s business. Every change of a recipient is one conditional UPDATE,
//! so two schedulers (two nodes, or a restart racing a slow shutdown) cannot both move it.

use super::{Store, StoreError, is_unique_violation};
use crate::campaign::{Progress, Recipient};
use sqlx::FromRow;

/// A stored campaign.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CampaignRow {
    /// `cmp_...`.
    pub id: String,
    /// The key that created it.
    pub api_key_id: String,
    /// A label.
    pub name: Option<String>,
    /// `campaign::Settings`, JSON.
    pub settings: String,
    /// `running | paused | canceled | finished`.
    pub state: String,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// What identifies its request.
    pub request_hash: String,
    /// RFC 3339.
    pub created_at: String,
    /// Ms since the epoch.
    pub created_ms: i64,
    /// RFC 3339, when no recipient was left waiting or calling.
    pub finished_at: Option<String>,
}

/// A stored recipient.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct RecipientRow {
    /// Its campaign.
    pub campaign_id: String,
    /// Its place in the request, from 1.
    pub position: i64,
    /// E.164.
    pub to_number: String,
    /// JSON object.
    pub variables: String,
    /// IANA zone it named.
    pub time_zone: Option<String>,
    /// `waiting | calling | done`.
    pub state: String,
    /// Calls made.
    pub attempts: i64,
    /// Earliest next call, ms since the epoch.
    pub not_before_ms: i64,
    /// The call in progress.
    pub call_id: Option<String>,
    /// Every call made, JSON array of ids.
    pub call_ids: String,
    /// The result once done.
    pub result: Option<String>,
}

impl RecipientRow {
    /// The scheduler's view of the row.
    pub fn recipient(&self) -> Recipient {
        let progress = match (self.state.as_str(), &self.call_id) {
            ("calling", Some(call_id)) => Progress::Calling {
                call_id: call_id.clone(),
            },
            ("waiting", _) => Progress::Waiting {
                not_before_ms: self.not_before_ms,
            },
            _ => Progress::Done {
                result: self.result.clone().unwrap_or_else(|| "failed".to_owned()),
            },
        };
        Recipient {
            position: u32::try_from(self.position).unwrap_or(u32::MAX),
            to: self.to_number.clone(),
            time_zone: self.time_zone.clone(),
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            progress,
        }
    }

    /// The call ids, oldest first.
    pub fn call_id_list(&self) -> Vec<String> {
        serde_json::from_str(&self.call_ids).unwrap_or_default()
    }
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignInsert {
    /// Stored.
    Created,
    /// The idempotency key names this earlier campaign.
    Existing(Box<CampaignRow>),
}

impl Store {
    /// Stores a campaign and its recipients in one transaction, or names the campaign its
    /// idempotency key already made.
    pub async fn insert_campaign(
        &self,
        row: &CampaignRow,
        recipients: &[RecipientRow],
    ) -> Result<CampaignInsert, StoreError> {
        if let Some(key) = &row.idempotency_key
            && let Some(existing) = self.campaign_by_key(&row.api_key_id, key).await?
        {
            return Ok(CampaignInsert::Existing(Box::new(existing)));
        }
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO campaigns (id, api_key_id, name, settings, state, idempotency_key, request_hash, created_at, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&row.id)
        .bind(&row.api_key_id)
        .bind(&row.name)
        .bind(&row.settings)
        .bind(&row.state)
        .bind(&row.idempotency_key)
        .bind(&row.request_hash)
        .bind(&row.created_at)
        .bind(row.created_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(err) if is_unique_violation(&err) => {
                tx.rollback().await?;
                let key = row.idempotency_key.as_deref().unwrap_or_default();
                return match self.campaign_by_key(&row.api_key_id, key).await? {
                    Some(existing) => Ok(CampaignInsert::Existing(Box::new(existing))),
                    None => Err(err.into()),
                };
            }
            other => {
                other?;
            }
        }
        for r in recipients {
            sqlx::query(
                "INSERT INTO campaign_recipients (campaign_id, position, to_number, variables, time_zone, state, attempts, not_before_ms, call_ids) \
                 VALUES ($1, $2, $3, $4, $5, 'waiting', 0, 0, '[]')",
            )
            .bind(&row.id)
            .bind(r.position)
            .bind(&r.to_number)
            .bind(&r.variables)
            .bind(&r.time_zone)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(CampaignInsert::Created)
    }

    async fn campaign_by_key(&self, owner: &str, key: &str) -> Result<Option<CampaignRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM campaigns WHERE api_key_id = $1 AND idempotency_key = $2")
                .bind(owner)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// One campaign.
    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRow>, StoreError> {
        Ok(sqlx::query_as("SELECT * FROM campaigns WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Campaigns the scheduler still has work in (not finished).
    pub async fn open_campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM campaigns WHERE finished_at IS NULL ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// A campaign's recipients in request order.
    pub async fn recipients(&self, campaign_id: &str) -> Result<Vec<RecipientRow>, StoreError> {
        Ok(
            sqlx::query_as("SELECT * FROM campaign_recipients WHERE campaign_id = $1 ORDER BY position")
                .bind(campaign_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Moves a campaign from one of `from` to `to`; `false` when it was in none of them.
    pub async fn set_campaign_state(&self, id: &str, from: &[&str], to: &str) -> Result<bool, StoreError> {
        let mut done = false;
        for state in from {
            let r = sqlx::query(
                "UPDATE campaigns SET state = $1 WHERE id = $2 AND state = $3 AND finished_at IS NULL",
            )
            .bind(to)
            .bind(id)
            .bind(state)
            .execute(&self.pool)
            .await?;
            done |= r.rows_affected() > 0;
        }
        Ok(done)
    }

    /// Marks a campaign finished (a running one becomes `finished`; a canceled one stays so).
    pub async fn finish_campaign(&self, id: &str, at: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaigns SET finished_at = $1, \
             state = CASE WHEN state = 'canceled' THEN 'canceled' ELSE 'finished' END \
             WHERE id = $2 AND finished_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A waiting recipient's call was created: it is now calling it. `false` when the recipient
    /// was no longer waiting with `attempts` calls made (someone else moved it).
    pub async fn recipient_calling(&self, row: &RecipientRow, call_id: &str) -> Result<bool, StoreError> {
        let mut ids = row.call_id_list();
        if !ids.iter().any(|i| i == call_id) {
            ids.push(call_id.to_owned());
        }
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
        let r = sqlx::query(
            "UPDATE campaign_recipients SET state = 'calling', call_id = $1, call_ids = $2, attempts = attempts + 1 \
             WHERE campaign_id = $3 AND position = $4 AND state = 'waiting' AND attempts = $5",
        )
        .bind(call_id)
        .bind(ids)
        .bind(&row.campaign_id)
        .bind(row.position)
        .bind(row.attempts)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Moves a recipient from `from` (with its current call) to waiting again, not before
    /// `not_before_ms`.
    pub async fn recipient_wait(&self, row: &RecipientRow, not_before_ms: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE campaign_recipients SET state = 'waiting', call_id = NULL, not_before_ms = $1 \
             WHERE campaign_id = $2 AND position = $3 AND state = $4 AND attempts = $5",
        )
        .bind(not_before_ms)
        .bind(&row.campaign_id)
        .bind(row.position)
        .bind(&row.state)
        .bind(row.attempts)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// A calling recipient's call was taken out of the queue undialled (its campaign paused): it
    /// waits again, and that call does not count as an attempt.
    pub async fn recipient_withdrawn(&self, row: &RecipientRow) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE campaign_recipients SET state = 'waiting', call_id = NULL, attempts = attempts - 1 \
             WHERE campaign_id = $1 AND position = $2 AND state = 'calling' AND attempts = $3",
        )
        .bind(&row.campaign_id)
        .bind(row.position)
        .bind(row.attempts)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Ends a recipient with `result`.
    pub async fn recipient_done(&self, row: &RecipientRow, result: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE campaign_recipients SET state = 'done', call_id = NULL, result = $1 \
             WHERE campaign_id = $2 AND position = $3 AND state = $4 AND attempts = $5",
        )
        .bind(result)
        .bind(&row.campaign_id)
        .bind(row.position)
        .bind(&row.state)
        .bind(row.attempts)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}
