//! How we reach a SIP trunk: where to send, which domain to name, and the credentials, if any.

use std::fmt;
use std::net::SocketAddr;

/// Index of a trunk in the endpoint's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkId(pub usize);

impl fmt::Display for TrunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trunk#{}", self.0)
    }
}

/// Digest credentials for a trunk.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkCredentials {
    /// User part of our address of record, and the authentication user unless `auth_username` is set.
    pub username: String,
    /// Authentication user when it differs from `username`.
    pub auth_username: Option<String>,
    /// Password.
    pub password: String,
}

impl fmt::Debug for TrunkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkCredentials")
            .field("username", &self.username)
            .field("auth_username", &self.auth_username)
            .field("password", &"***")
            .finish()
    }
}

impl TrunkCredentials {
    /// The user name to authenticate as.
    pub fn auth_user(&self) -> &str {
        self.auth_username.as_deref().unwrap_or(&self.username)
    }
}

/// One trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    /// Name for logs and the API.
    pub name: String,
    /// Where requests go (the trunk's proxy or registrar).
    pub proxy: SocketAddr,
    /// Domain used in Request-URIs and our address of record; the proxy address when empty.
    pub domain: String,
    /// Credentials; `None` for IP-authenticated trunks.
    pub credentials: Option<TrunkCredentials>,
    /// Whether to REGISTER (requires credentials).
    pub register: bool,
    /// Registration expiry we ask for, in seconds.
    pub register_expires: u32,
}

impl TrunkConfig {
    /// The domain for URIs.
    pub fn domain(&self) -> String {
        if self.domain.is_empty() {
            self.proxy.to_string()
        } else {
            self.domain.clone()
        }
    }

    /// The user part we present in From and Contact.
    pub fn local_user(&self) -> &str {
        self.credentials
            .as_ref()
            .map_or("ringback", |c| c.username.as_str())
    }
}
