//! How we reach a SIP trunk: where to send and over which transport, which domain to name, the
//! credentials, if any, how often to check it is there, and whom we take calls from.

use crate::transport::Transport;
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Index of a trunk in the endpoint's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
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

/// Whom we take calls from on a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundConfig {
    /// Whether the trunk may deliver calls to us at all.
    pub enabled: bool,
    /// Networks the trunk signals from besides its proxy address (carriers publish these ranges).
    pub sources: Vec<IpNet>,
    /// Credentials the trunk must present (we challenge with 407) when it calls from elsewhere.
    pub credentials: Option<TrunkCredentials>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            sources: Vec::new(),
            credentials: None,
        }
    }
}

/// One trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkConfig {
    /// Name for logs and the API.
    pub name: String,
    /// Where requests go (the trunk's proxy or registrar), already resolved (see
    /// `driver::resolve` for host names).
    pub proxy: SocketAddr,
    /// The transport to the proxy.
    pub transport: Transport,
    /// Domain used in Request-URIs and our address of record; the proxy address when empty.
    pub domain: String,
    /// Credentials; `None` for IP-authenticated trunks.
    pub credentials: Option<TrunkCredentials>,
    /// Whether to REGISTER (requires credentials).
    pub register: bool,
    /// Registration expiry we ask for, in seconds.
    pub register_expires: u32,
    /// How often to send OPTIONS to check the trunk is there; `None` never.
    pub keepalive: Option<Duration>,
    /// Whom we take calls from.
    pub inbound: InboundConfig,
}

impl TrunkConfig {
    /// An IP-authenticated UDP trunk at `proxy` with the defaults: no registration, no keep-alive,
    /// calls taken from the proxy's address.
    pub fn new(name: &str, proxy: SocketAddr) -> Self {
        Self {
            name: name.to_owned(),
            proxy,
            transport: Transport::Udp,
            domain: String::new(),
            credentials: None,
            register: false,
            register_expires: 3600,
            keepalive: None,
            inbound: InboundConfig::default(),
        }
    }

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

    /// Whether `ip` belongs to this trunk: its proxy, or one of its configured source networks.
    pub fn is_source(&self, ip: IpAddr) -> bool {
        self.proxy.ip() == ip || self.inbound.sources.iter().any(|net| net.contains(&ip))
    }

    /// Whether out-of-dialog INVITEs from `ip` are taken as this trunk's calls.
    pub fn accepts_calls_from(&self, ip: IpAddr) -> bool {
        self.inbound.enabled && self.is_source(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_the_proxy_and_the_configured_networks() {
        let mut trunk = TrunkConfig::new("t", "192.0.2.10:5060".parse().expect("addr"));
        trunk.inbound.sources = vec!["198.51.100.0/30".parse().expect("net")];
        for (ip, ok) in [
            ("192.0.2.10", true),
            ("198.51.100.3", true),
            ("198.51.100.4", false),
            ("192.0.2.11", false),
        ] {
            assert_eq!(trunk.is_source(ip.parse().expect("ip")), ok, "{ip}");
        }
        trunk.inbound.enabled = false;
        assert!(!trunk.accepts_calls_from("192.0.2.10".parse().expect("ip")));
        assert_eq!(trunk.domain(), "192.0.2.10:5060");
        assert_eq!(trunk.local_user(), "ringback");
    }
}
