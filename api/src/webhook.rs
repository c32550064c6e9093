//! Completion callbacks under the Standard Webhooks scheme: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. Delivery retries with
//! exponential backoff and is recorded per attempt; it runs on its own task and never affects a call.

use crate::clock::Clock;
use crate::store::Store;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a callback URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackUrlError {
    /// Not an absolute http(s) URL.
    #[error("callback_url is not an absolute http(s) URL")]
    NotHttp,
    /// Plain http while private/insecure callbacks are not allowed.
    #[error("callback_url must use https (set [webhooks] allow_private = true for local testing)")]
    Insecure,
    /// Loopback, private or link-local target while not allowed.
    #[error(
        "callback_url points at a loopback, private or link-local address (set [webhooks] allow_private = true to allow)"
    )]
    Private,
}

/// Checks a callback URL against the policy in DESIGN.md.
pub fn check_callback_url(url: &str, allow_private: bool) -> Result<reqwest::Url, CallbackUrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| CallbackUrlError::NotHttp)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(CallbackUrlError::Insecure),
        _ => return Err(CallbackUrlError::NotHttp),
    }
    let host = parsed.host_str().ok_or(CallbackUrlError::NotHttp)?;
    if !allow_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let private = match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
            }
            Ok(IpAddr::V6(ip)) => {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || (ip.segments()[0] & 0xfe00) == 0xfc00
                    || (ip.segments()[0] & 0xffc0) == 0xfe80
            }
            Err(_) => bare.eq_ignore_ascii_case("localhost") || bare.ends_with(".localhost"),
        };
        if private {
            return Err(CallbackUrlError::Private);
        }
    }
    Ok(parsed)
}

/// A signing key in the `whsec_<base64>` form.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Option<Self> {
        let b64 = text.strip_prefix("whsec_")?;
        B64.decode(b64).ok().filter(|k| k.len() >= 16).map(Self)
    }

    /// A new random key, as text.
    pub fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        format!("whsec_{}", B64.encode(bytes))
    }

    /// The `webhook-signature` value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // Invariant: HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Checks a `webhook-signature` header (space-separated list of `v1,<sig>`).
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.sign(id, timestamp, body);
        header
            .split_whitespace()
            .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sends callbacks.
#[derive(Debug, Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    key: SigningKey,
    store: Store,
    clock: Arc<dyn Clock>,
    max_attempts: u32,
    first_backoff: Duration,
}

impl Webhooks {
    /// A sender signing with `key`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        key: SigningKey,
        max_attempts: u32,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Ringback/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            client,
            key,
            store,
            clock,
            max_attempts: max_attempts.max(1),
            first_backoff: Duration::from_secs(1),
        }
    }

    /// Delivers one event, retrying with exponential backoff (1 s, 2 s, 4 s, ... capped at 5 min)
    /// until a 2xx or `max_attempts`. Every attempt is recorded.
    pub async fn deliver(&self, call_id: &str, url: &str, event_type: &str, data: &serde_json::Value) {
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let body =
            serde_json::json!({ "type": event_type, "timestamp": self.clock.now_rfc3339(), "data": data });
        let body = body.to_string();
        let mut backoff = self.first_backoff;
        for attempt in 1..=self.max_attempts {
            let timestamp = self.clock.now().unix_timestamp();
            let result = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    self.key.sign(&id, timestamp, body.as_bytes()),
                )
                .body(body.clone())
                .send()
                .await;
            let (status, error) = match result {
                Ok(r) => (Some(r.status().as_u16()), None),
                Err(e) => (None, Some(without_url(&e))),
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            let state = if delivered {
                "delivered"
            } else if attempt == self.max_attempts {
                "failed"
            } else {
                "retrying"
            };
            let at = self.clock.now_rfc3339();
            if let Err(err) = self
                .store
                .record_delivery(
                    &id,
                    call_id,
                    url,
                    event_type,
                    &body,
                    state,
                    attempt,
                    status,
                    error.as_deref(),
                    &at,
                )
                .await
            {
                tracing::error!(%err, "cannot record webhook delivery");
            }
            if delivered {
                tracing::info!(call_id, attempt, "callback delivered");
                return;
            }
            tracing::warn!(
                call_id,
                attempt,
                ?status,
                error = error.as_deref().unwrap_or(""),
                "callback not accepted"
            );
            if attempt < self.max_attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// The error text without the URL (it may carry secrets in its query).
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_signature() {
        // The example from the Standard Webhooks specification.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid key");
        let body = br#"{"test": 2432232314}"#;
        let sig = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &format!("v1,bogus {sig}")
        ));
        assert!(!key.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, &sig));
    }

    #[test]
    fn callback_urls_follow_the_policy() {
        assert!(check_callback_url("https://example.com/hook", false).is_ok());
        assert_eq!(
            check_callback_url("http://example.com/hook", false),
            Err(CallbackUrlError::Insecure)
        );
        assert_eq!(
            check_callback_url("https://127.0.0.1/hook", false),
            Err(CallbackUrlError::Private)
        );
        assert_eq!(
            check_callback_url("https://10.1.2.3/hook", false),
            Err(CallbackUrlError::Private)
        );
        assert_eq!(
            check_callback_url("https://localhost/hook", false),
            Err(CallbackUrlError::Private)
        );
        assert_eq!(
            check_callback_url("https://[::1]/hook", false),
            Err(CallbackUrlError::Private)
        );
        assert_eq!(
            check_callback_url("ftp://example.com/", false),
            Err(CallbackUrlError::NotHttp)
        );
        assert_eq!(
            check_callback_url("not a url", true),
            Err(CallbackUrlError::NotHttp)
        );
        assert!(check_callback_url("http://127.0.0.1:9/hook", true).is_ok());
    }
}
