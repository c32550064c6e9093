//! How we reach a SIP trunk: where to send and over which transport, which domain to name, the
//! credentials, if any, how often to check it is there, and whom we take calls from.

use crate::transport::Transport;
use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// A trunk's proxy as configured: `host[:port]`, where host is a name, an IPv4 address or a
/// bracketed IPv6 address. Names are resolved by the driver (RFC 3263: SRV when no port is given,
/// then A/AAAA), and again when the registration is refreshed or fails, so a trunk that moves is
/// followed without a restart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyHost {
    host: String,
    port: Option<u16>,
}

/// A proxy that is not `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad trunk proxy {0:?}: expected host[:port], e.g. sip.example.com, 192.0.2.1:5060 or [2001:db8::1]:5061"
)]
pub struct BadProxy(pub String);

impl ProxyHost {
    /// The host: a name, or an IP address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one was written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The host as an IP address, when it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The address itself when the host is an IP address: no lookup needed.
    pub fn literal(&self, transport: Transport) -> Option<SocketAddr> {
        self.ip()
            .map(|ip| SocketAddr::new(ip, self.port.unwrap_or_else(|| transport.default_port())))
    }

    /// Whether a lookup starts with SRV records (RFC 3263 4.2: a name without a port).
    pub fn wants_srv(&self) -> bool {
        self.port.is_none() && self.ip().is_none()
    }
}

impl FromStr for ProxyHost {
    type Err = BadProxy;

    fn from_str(text: &str) -> Result<Self, BadProxy> {
        let bad = || BadProxy(text.to_owned());
        let trimmed = text.trim();
        let (host, port) = crate::message::grammar::host_port(trimmed).map_err(|_| bad())?;
        let bracketed = host.starts_with('[');
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let is_ip = host.parse::<IpAddr>().is_ok();
        // A bracket holds an IPv6 address and nothing else; a name has a letter in its last label
        // (so "1.2.3" is refused rather than looked up).
        let name_ok = host
            .rsplit('.')
            .find(|label| !label.is_empty())
            .is_some_and(|label| label.chars().any(|c| c.is_ascii_alphabetic()));
        if host.is_empty() || (bracketed && !host.contains(':')) || (!is_ip && !name_ok) || port == Some(0) {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl TryFrom<String> for ProxyHost {
    type Error = BadProxy;

    fn try_from(text: String) -> Result<Self, BadProxy> {
        text.parse()
    }
}

impl From<ProxyHost> for String {
    fn from(host: ProxyHost) -> String {
        host.to_string()
    }
}

impl fmt::Display for ProxyHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl From<SocketAddr> for ProxyHost {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: Some(addr.port()),
        }
    }
}

/// Index of a trunk in the endpoint's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TrunkId(pub usize);

impl fmt::Display for TrunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trunk#{}", self.0)
    }
}

/// The proxy address of a trunk whose name is not resolved yet (nothing is sent there).
pub const UNRESOLVED: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

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
    /// Where requests go (the trunk's proxy or registrar): the address in use. When `host` names the
    /// proxy, the driver fills this in from DNS and changes it when a new lookup moves the trunk.
    pub proxy: SocketAddr,
    /// The proxy's name as configured, when it is a host name to resolve; `None` when `proxy` is a
    /// fixed address.
    pub host: Option<ProxyHost>,
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
    /// Where our calls carry the caller's number (From, P-Asserted-Identity, withheld).
    pub identity: crate::IdentityMode,
    /// Every proxy of a trunk given by addresses, in order of preference (the first is the
    /// primary); empty for a trunk with one proxy or a name (DNS gives its alternatives). An INVITE
    /// answered 503 or not at all moves on to the next (RFC 3263 4.3), as does a failed keep-alive;
    /// the trunk comes back to the primary after `failback`.
    pub failover: Vec<SocketAddr>,
    /// How long a trunk stays on a backup proxy before trying its primary again.
    pub failback: Duration,
}

impl TrunkConfig {
    /// An IP-authenticated UDP trunk at `proxy` with the defaults: no registration, no keep-alive,
    /// calls taken from the proxy's address.
    pub fn new(name: &str, proxy: SocketAddr) -> Self {
        Self {
            name: name.to_owned(),
            proxy,
            host: None,
            transport: Transport::Udp,
            domain: String::new(),
            credentials: None,
            register: false,
            register_expires: 3600,
            keepalive: None,
            inbound: InboundConfig::default(),
            identity: crate::IdentityMode::default(),
            failover: Vec::new(),
            failback: Duration::from_secs(60),
        }
    }

    /// A trunk on `transport` at a proxy given as `host[:port]`: a name the driver resolves (its
    /// `proxy` stays [`UNRESOLVED`] until then), or an address used as is.
    pub fn with_host(name: &str, host: ProxyHost, transport: Transport) -> Self {
        let literal = host.literal(transport);
        let mut trunk = Self::new(name, literal.unwrap_or(UNRESOLVED));
        trunk.transport = transport;
        if literal.is_none() {
            trunk.host = Some(host);
        }
        trunk
    }

    /// The domain for URIs: the configured domain, else the proxy's name as configured (RFC 3263
    /// keeps the name, not the address it resolved to), else the proxy address.
    pub fn domain(&self) -> String {
        if !self.domain.is_empty() {
            self.domain.clone()
        } else if let Some(host) = &self.host {
            host.to_string()
        } else {
            self.proxy.to_string()
        }
    }

    /// The user part we present in From and Contact.
    pub fn local_user(&self) -> &str {
        self.credentials
            .as_ref()
            .map_or("ringback", |c| c.username.as_str())
    }

    /// The proxy to try after `current` fails: the next of [`failover`](Self::failover), wrapping
    /// around; `None` for a trunk with one proxy.
    pub fn next_proxy(&self, current: SocketAddr) -> Option<SocketAddr> {
        if self.failover.len() < 2 {
            return None;
        }
        let at = self.failover.iter().position(|p| *p == current);
        Some(self.failover[at.map_or(0, |i| (i + 1) % self.failover.len())])
    }

    /// Whether `ip` belongs to this trunk: its proxy, one of its failover proxies, or one of its
    /// configured source networks.
    pub fn is_source(&self, ip: IpAddr) -> bool {
        self.proxy.ip() == ip
            || self.failover.iter().any(|p| p.ip() == ip)
            || self.inbound.sources.iter().any(|net| net.contains(&ip))
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

    #[test]
    fn proxies_are_names_or_addresses() {
        let cases = [
            ("sip.example.test", "sip.example.test", None, true),
            ("SIP.Example.Test:5080", "sip.example.test", Some(5080), false),
            ("localhost:5060", "localhost", Some(5060), false),
            ("192.0.2.1", "192.0.2.1", None, false),
            ("192.0.2.1:5061", "192.0.2.1", Some(5061), false),
            ("[2001:db8::1]:5062", "2001:db8::1", Some(5062), false),
        ];
        for (text, host, port, srv) in cases {
            let parsed: ProxyHost = text.parse().expect(text);
            assert_eq!(
                (parsed.host(), parsed.port(), parsed.wants_srv()),
                (host, port, srv),
                "{text}"
            );
            assert_eq!(
                parsed.to_string().parse::<ProxyHost>(),
                Ok(parsed.clone()),
                "round trip"
            );
        }
        for bad in [
            "",
            "host:",
            "host:99999",
            "host:0",
            "a b",
            "[::1",
            "1.2.3",
            "sip://x",
            "[192.0.2.1]",
            "-x.test",
        ] {
            assert_eq!(bad.parse::<ProxyHost>(), Err(BadProxy(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn a_named_proxy_waits_for_the_driver_and_names_the_domain() {
        let named = TrunkConfig::with_host("t", "sip.example.test".parse().expect("host"), Transport::Udp);
        assert_eq!(named.proxy, UNRESOLVED);
        assert_eq!(named.domain(), "sip.example.test");
        let fixed = TrunkConfig::with_host("t", "192.0.2.1".parse().expect("host"), Transport::Tls);
        assert_eq!(
            (fixed.proxy, fixed.host.clone()),
            ("192.0.2.1:5061".parse().expect("addr"), None)
        );
        assert_eq!(fixed.domain(), "192.0.2.1:5061");
    }
}
