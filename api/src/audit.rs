//! The audit log: who created, minted and revoked API keys, who fetched which recording, which
//! destinations the policy refused and which per-key policies an operator set, kept in the store
//! (`audit_log`) so a regulated operator can answer "who listened to this call" and "who tried to
//! dial that" after the fact, across restarts and nodes.
//!
//! A row names its actor by key id (never the key, nor its hash or displayed prefix), the subject
//! by id, and numbers only masked (as in logs): the log is for accountability, and must not become
//! a second copy of secrets or personal data. Writes that guard access (a recording) happen before
//! the access and fail it when they fail; writes that record a refusal never turn the refusal into
//! a server error (they are logged instead).

use crate::clock::Clock;
use crate::store::{AuditRow, Store, StoreError};
use serde_json::Value;
use std::net::IpAddr;

/// What was done. The words are stable: operators filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// An operator created a key (`ringback keys create`).
    KeyCreated,
    /// An anonymous `POST /call` minted a trial key.
    TrialKeyMinted,
    /// An operator revoked a key.
    KeyRevoked,
    /// A call's recording was served.
    RecordingFetched,
    /// The destination policy refused a number (or a trial asked to bridge).
    DestinationRefused,
    /// An operator set or cleared a key's own destination policy.
    KeyPolicySet,
    /// A number was taken off a do-not-call list (adding is not audited: it only ever narrows
    /// what may be dialled, and the list row itself says where it came from).
    DncRemoved,
}

impl Action {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "key.created",
            Self::TrialKeyMinted => "key.trial_minted",
            Self::KeyRevoked => "key.revoked",
            Self::RecordingFetched => "recording.fetched",
            Self::DestinationRefused => "policy.refused",
            Self::KeyPolicySet => "key.policy_set",
            Self::DncRemoved => "dnc.removed",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The holder of this API key (its id).
    Key(String),
    /// The operator, on the server's command line.
    Operator,
    /// An unauthenticated request (a trial before its key exists).
    Anonymous,
}

impl Actor {
    fn as_str(&self) -> &str {
        match self {
            Self::Key(id) => id,
            Self::Operator => "operator",
            Self::Anonymous => "anonymous",
        }
    }
}

/// One act to record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Who.
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// To what: a key id, a call id, a masked number.
    pub subject: Option<String>,
    /// From where, when through the API.
    pub source: Option<IpAddr>,
    /// Particulars (a JSON object).
    pub detail: Value,
}

impl Entry {
    /// An entry with no subject, source or detail yet.
    pub fn new(actor: Actor, action: Action) -> Self {
        Self {
            actor,
            action,
            subject: None,
            source: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// What it was done to.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The client address.
    #[must_use]
    pub fn source(mut self, source: Option<IpAddr>) -> Self {
        self.source = source;
        self
    }

    /// Particulars.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// The entry for a number the destination policy refused in `field`: the number masked (as in
/// logs), the rule that refused it in full.
pub fn refusal(actor: Actor, field: &str, refused: &crate::policy::Refusal, source: Option<IpAddr>) -> Entry {
    let mut detail = refused.rule();
    if let Some(map) = detail.as_object_mut() {
        map.insert("field".to_owned(), Value::from(field));
    }
    Entry::new(actor, Action::DestinationRefused)
        .subject(sip_stack::Redacted(refused.number()).to_string())
        .source(source)
        .detail(detail)
}

/// Appends `entry` to the log.
pub async fn record(store: &Store, clock: &dyn Clock, entry: Entry) -> Result<(), StoreError> {
    let row = AuditRow {
        id: format!("aud_{}", uuid::Uuid::now_v7().simple()),
        at: clock.now_rfc3339(),
        at_ms: clock.now_ms(),
        actor: entry.actor.as_str().to_owned(),
        action: entry.action.as_str().to_owned(),
        subject: entry.subject,
        source: entry.source.map(|a| a.to_string()),
        detail: entry.detail.to_string(),
    };
    store.insert_audit(&row).await
}

/// Appends `entry`, and only logs a failure: for acts whose outcome must not depend on the log
/// (a refusal stays a refusal).
pub async fn record_or_log(store: &Store, clock: &dyn Clock, entry: Entry) {
    let action = entry.action.as_str();
    if let Err(err) = record(store, clock, entry).await {
        tracing::error!(%err, action, "cannot write the audit log");
    }
}

/// Rows at or after `since_ms`, oldest first, at most `limit`.
pub async fn read(store: &Store, since_ms: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
    store.audit_log(since_ms, i64::from(limit)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[tokio::test]
    async fn rows_keep_their_order_and_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let store = Store::open(&url).await.expect("store");
        let clock = FixedClock::at_ms(1_800_000_000_000);
        let entry = Entry::new(Actor::Key("key_1".into()), Action::RecordingFetched)
            .subject("call_1")
            .source(Some("2001:db8::7".parse().expect("ip")))
            .detail(serde_json::json!({"range": false}));
        record(&store, &clock, entry).await.expect("write");
        record(
            &store,
            &clock,
            Entry::new(Actor::Operator, Action::KeyRevoked).subject("key_1"),
        )
        .await
        .expect("write");
        let rows = read(&store, 0, 10).await.expect("read");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].actor.as_str(), rows[0].action.as_str()),
            ("key_1", "recording.fetched")
        );
        assert_eq!(rows[0].source.as_deref(), Some("2001:db8::7"));
        assert_eq!(rows[0].detail, r#"{"range":false}"#);
        assert_eq!(
            (rows[1].actor.as_str(), rows[1].action.as_str()),
            ("operator", "key.revoked")
        );
        assert!(
            read(&store, 1_800_000_000_001, 10)
                .await
                .expect("read")
                .is_empty()
        );
        assert_eq!(read(&store, 0, 1).await.expect("read").len(), 1);
    }
}
