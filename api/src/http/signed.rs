//! Signed, expiring recording URLs: `GET /v1/calls/{id}/recording?expires=UNIX&sig=HEX` plays
//! without an API key, so a browser `<audio>` element or a link pasted into a CRM can use it while
//! the key itself never appears in a page. The signature is HMAC-SHA256 over the call id and the
//! expiry (Unix seconds) under a server secret.
//!
//! The secret is generated once and persisted in the store's settings (`recording_url_secret`),
//! not derived from the configuration: it survives restarts, every node sharing one Postgres store
//! signs and checks alike, and an operator has nothing to set. Deleting the setting and restarting
//! invalidates every URL ever handed out. A signed URL also stops working when its call's key is
//! revoked or the recording is purged, because it is checked against the store on every request.
//!
//! Minting is a separate, authenticated route (`POST /v1/calls/{id}/recording/url`) rather than a
//! field of the call object: that object is also the completion callback's body, kept in the outbox
//! and retried for hours, so a URL baked into it would expire at an unknowable moment and reach
//! every log the callback passes through. Asking for a URL says who wanted one and for how long.

use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

/// The settings key of the secret.
const SETTING: &str = "recording_url_secret";

/// The shortest and longest lifetime a URL may be minted with, seconds.
pub const LIFETIME_SECS: std::ops::RangeInclusive<u32> = 60..=7 * 24 * 3600;

/// The lifetime when none is asked for, seconds.
pub const DEFAULT_LIFETIME_SECS: u32 = 3600;

/// Why a signed request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `expires` or `sig` is missing or not a number / hex.
    #[error("a signed recording URL needs both expires (Unix seconds) and sig (hex)")]
    Malformed,
    /// The expiry has passed.
    #[error("this recording link has expired; ask for a new one")]
    Expired,
    /// The signature was not made by this server for this call and expiry (tampered, or another
    /// call's).
    #[error("this recording link is not valid for this call")]
    Mismatch,
}

/// Why the signer could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// Reading or storing the secret failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored secret is not 32 bytes of hex (written by something else).
    #[error("setting {SETTING} is not 64 hex digits")]
    CorruptSecret,
}

/// Signs and checks recording URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner").finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// A signer over a known secret.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, call_id: &str, expires: i64) -> Hmac<Sha256> {
        // Invariant: HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        // A label first, so no other signature of this server can be replayed as one of these.
        mac.update(b"ringback recording\n");
        mac.update(call_id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The `sig` for a call's recording until `expires` (Unix seconds), lowercase hex.
    pub fn sign(&self, call_id: &str, expires: i64) -> String {
        hex::encode(self.mac(call_id, expires).finalize().into_bytes())
    }

    /// Checks `expires` and `sig` as they came in the query, at `now` (Unix seconds).
    pub fn verify(
        &self,
        call_id: &str,
        expires: Option<&str>,
        sig: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return Err(SignatureError::Malformed);
        };
        let expires: i64 = expires.parse().map_err(|_| SignatureError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| SignatureError::Malformed)?;
        // The signature first: an expired link and a forged one must not be told apart by timing
        // of anything but the constant-time comparison.
        self.mac(call_id, expires)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::Mismatch)?;
        if now >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

/// The signer, loaded from the store on first use (the router is built synchronously, the store
/// is not).
#[derive(Debug, Default)]
pub struct LazySigner(OnceCell<UrlSigner>);

impl LazySigner {
    /// The signer, reading (or generating and storing) the secret the first time.
    pub async fn get(&self, store: &Store) -> Result<&UrlSigner, SignerError> {
        self.0
            .get_or_try_init(|| async {
                let fresh = hex::encode(rand::random::<[u8; 32]>());
                // Two nodes starting at once: the first insert wins and both read it back.
                let stored = store.setting_or_insert(SETTING, &fresh).await?;
                let bytes = hex::decode(stored).map_err(|_| SignerError::CorruptSecret)?;
                let key: [u8; 32] = bytes.try_into().map_err(|_| SignerError::CorruptSecret)?;
                Ok(UrlSigner::new(key))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_call_and_expiry_only() {
        let signer = UrlSigner::new([7; 32]);
        let sig = signer.sign("call_a", 1_000);
        assert_eq!(sig.len(), 64);
        assert_eq!(signer.verify("call_a", Some("1000"), Some(&sig), 999), Ok(()));
        assert_eq!(
            signer.verify("call_a", Some("1000"), Some(&sig), 1_000),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            signer.verify("call_b", Some("1000"), Some(&sig), 1),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            signer.verify("call_a", Some("2000"), Some(&sig), 1),
            Err(SignatureError::Mismatch),
            "a later expiry is not the signed one"
        );
        let other = UrlSigner::new([8; 32]);
        assert_eq!(
            other.verify("call_a", Some("1000"), Some(&sig), 1),
            Err(SignatureError::Mismatch)
        );
        for (expires, sig) in [
            (None, Some(sig.as_str())),
            (Some("x"), Some(sig.as_str())),
            (Some("1000"), Some("zz")),
        ] {
            assert_eq!(
                signer.verify("call_a", expires, sig, 1),
                Err(SignatureError::Malformed)
            );
        }
    }
}
