//! API keys: 32 random bytes shown once as `rb_live_<base62>`, stored as their SHA-256. Keys are
//! high-entropy, so a fast hash is the right tool (as for GitHub and Stripe tokens); a slow password
//! hash would only cost CPU on every request.

use crate::audit::{self, Action, Actor, Entry};
use crate::clock::Clock;
use crate::policy::{KeyPolicy, KeyPolicyError};
use crate::store::{ApiKeyRow, Store, StoreError};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Prefix of every key, so leaked keys are easy to spot and scan for.
pub const KEY_PREFIX: &str = "rb_live_";

/// A freshly created key: the secret (shown once) and its stored row.
#[derive(Debug)]
pub struct NewKey {
    /// The key to hand to the user; not stored anywhere.
    pub secret: String,
    /// What the database holds.
    pub row: ApiKeyRow,
}

/// Who asks for a new key: the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// The operator on the server's command line (or a test, or the demo, acting as one).
    Operator,
    /// An anonymous `POST /call` minting a trial key, from this client address.
    Trial {
        /// The client address as the API saw it.
        source: Option<IpAddr>,
    },
}

/// The client a trial key is minted for, as stored: an IPv4 address or an IPv6 /64 (one
/// subscriber's prefix), `unknown` when the API saw no address.
pub fn trial_source(source: Option<IpAddr>) -> String {
    source.map_or_else(
        || "unknown".to_owned(),
        |a| sip_stack::guard::source_prefix(a).to_string(),
    )
}

/// The stored form of a key.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates and stores a new key, and records who asked for it in the audit log (by the new key's
/// id; the secret is returned here and nowhere else).
pub async fn create(
    store: &Store,
    clock: &dyn Clock,
    name: Option<String>,
    issuer: Issuer,
) -> Result<NewKey, StoreError> {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // The thread-local generator is not Send: keep it out of the awaiting part.
    let body: String = {
        let mut rng = rand::rng();
        (0..40)
            .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
            .collect()
    };
    let secret = format!("{KEY_PREFIX}{body}");
    let row = ApiKeyRow {
        id: format!("key_{}", uuid::Uuid::now_v7().simple()),
        prefix: secret[..KEY_PREFIX.len() + 6].to_owned(),
        hash: hash_key(&secret),
        name,
        created_at: clock.now_rfc3339(),
        revoked_at: None,
        policy: None,
        trial_source: match issuer {
            Issuer::Operator => None,
            Issuer::Trial { source } => Some(trial_source(source)),
        },
    };
    store.insert_key(&row).await?;
    let entry = match issuer {
        Issuer::Operator => Entry::new(Actor::Operator, Action::KeyCreated),
        Issuer::Trial { source } => Entry::new(Actor::Anonymous, Action::TrialKeyMinted).source(source),
    };
    let entry = entry
        .subject(row.id.clone())
        .detail(serde_json::json!({ "name": row.name }));
    audit::record(store, clock, entry).await?;
    Ok(NewKey { secret, row })
}

/// The key row for a presented secret, if it is valid and not revoked.
pub async fn authenticate(store: &Store, presented: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    store.active_key(&hash_key(presented)).await
}

/// Every key (hashes included; callers show only id, prefix, name and dates).
pub async fn list(store: &Store) -> Result<Vec<ApiKeyRow>, StoreError> {
    store.keys().await
}

/// Revokes a key by id or displayed prefix (an operator's act, recorded in the audit log); `None`
/// when no active key matches.
pub async fn revoke(
    store: &Store,
    clock: &dyn Clock,
    id_or_prefix: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let revoked = store.revoke_key(id_or_prefix, &clock.now_rfc3339()).await?;
    if let Some(row) = &revoked {
        let entry = Entry::new(Actor::Operator, Action::KeyRevoked).subject(row.id.clone());
        audit::record(store, clock, entry).await?;
    }
    Ok(revoked)
}

/// Why a key's destination list was not set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetPolicyError {
    /// The list is malformed or empty.
    #[error(transparent)]
    Invalid(#[from] KeyPolicyError),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key's own destination list, if it has one.
pub fn policy_of(row: &ApiKeyRow) -> Result<Option<KeyPolicy>, StoreError> {
    row.policy
        .as_deref()
        .map(|text| {
            serde_json::from_str(text).map_err(|source| StoreError::Json {
                column: "policy",
                source,
            })
        })
        .transpose()
}

/// Sets (or with `None` clears) an active key's own destination list, by id or displayed prefix
/// (an operator's act, recorded in the audit log); `None` when no active key matches.
pub async fn set_policy(
    store: &Store,
    clock: &dyn Clock,
    id_or_prefix: &str,
    policy: Option<&KeyPolicy>,
) -> Result<Option<ApiKeyRow>, SetPolicyError> {
    if let Some(policy) = policy {
        policy.validate()?;
    }
    let json = policy
        .map(serde_json::to_string)
        .transpose()
        .map_err(|source| StoreError::Json {
            column: "policy",
            source,
        })?;
    let updated = store.set_key_policy(id_or_prefix, json.as_deref()).await?;
    if let Some(row) = &updated {
        let entry = Entry::new(Actor::Operator, Action::KeyPolicySet)
            .subject(row.id.clone())
            .detail(serde_json::json!({ "policy": policy }));
        audit::record(store, clock, entry).await?;
    }
    Ok(updated)
}
