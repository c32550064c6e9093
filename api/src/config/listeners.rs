//! The sockets a configuration opens, and the refusal of two that would take one port. Caught when
//! the file loads, naming both keys, rather than as a bind error halfway through start-up (with the
//! database opened and the SIP socket already bound).

use serde::Serialize;
use std::net::SocketAddr;

/// Which protocol a listener speaks: UDP and TCP ports are separate, so SIP may take 5060 on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A datagram socket.
    Udp,
    /// A stream listener.
    Tcp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// One socket the server binds, named by the key that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// `server.listen`, `sip.listen`, ...
    pub key: &'static str,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The address as configured (port 0: one the kernel picks).
    pub addr: SocketAddr,
}

impl Listener {
    /// A listener.
    pub fn new(key: &'static str, protocol: Protocol, addr: SocketAddr) -> Self {
        Self { key, protocol, addr }
    }

    /// Whether both would bind one port: same protocol and port (not 0), and the same address or
    /// either the unspecified one, which takes the port on every address (on Linux `[::]` takes
    /// IPv4's too, unless `bindv6only` is set).
    fn collides_with(&self, other: &Listener) -> bool {
        let (a, b) = (self.addr, other.addr);
        self.protocol == other.protocol
            && a.port() != 0
            && a.port() == b.port()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    }
}

/// Two listeners on one port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{first} and {second} both take {protocol} port {addr}: give each listener its own port")]
pub struct ListenerConflict {
    /// The first key.
    pub first: &'static str,
    /// The second key.
    pub second: &'static str,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The second's address.
    pub addr: SocketAddr,
}

impl super::Config {
    /// Every socket the server listens on, named by its key.
    pub fn listeners(&self) -> Vec<Listener> {
        let mut all = vec![
            Listener::new("server.listen", Protocol::Tcp, self.server.listen),
            Listener::new("sip.listen", Protocol::Udp, self.sip.listen),
        ];
        let sip = &self.sip;
        all.extend(
            sip.tcp_listen
                .map(|a| Listener::new("sip.tcp_listen", Protocol::Tcp, a)),
        );
        all.extend(
            sip.tls_listen
                .map(|a| Listener::new("sip.tls_listen", Protocol::Tcp, a)),
        );
        all
    }
}

/// Refuses the first pair that would take one port.
pub fn check(listeners: &[Listener]) -> Result<(), ListenerConflict> {
    for (i, first) in listeners.iter().enumerate() {
        if let Some(second) = listeners[i + 1..].iter().find(|l| first.collides_with(l)) {
            return Err(ListenerConflict {
                first: first.key,
                second: second.key,
                protocol: first.protocol,
                addr: second.addr,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    #[test]
    fn two_listeners_on_one_port_are_refused_naming_both_keys() {
        for (toml, keys) in [
            (
                "[server]\nlisten = \"127.0.0.1:5080\"\n[sip]\ntcp_listen = \"127.0.0.1:5080\"\n",
                ("server.listen", "sip.tcp_listen"),
            ),
            (
                "[sip]\nlisten = \"0.0.0.0:5070\"\ntcp_listen = \"0.0.0.0:5070\"\n\
                 tls_listen = \"127.0.0.1:5070\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
                ("sip.tcp_listen", "sip.tls_listen"),
            ),
            (
                "[server]\nlisten = \"[::]:8080\"\n[sip]\ntcp_listen = \"192.0.2.1:8080\"\n",
                ("server.listen", "sip.tcp_listen"),
            ),
        ] {
            let err = Config::from_toml(toml).expect_err(toml);
            assert!(matches!(err, ConfigError::Listeners(_)), "{err}");
            let text = err.to_string();
            assert!(text.contains(keys.0) && text.contains(keys.1), "{text}");
        }
    }

    #[test]
    fn udp_and_tcp_share_a_port_and_port_zero_never_collides() {
        for toml in [
            "[sip]\nlisten = \"0.0.0.0:5060\"\ntcp_listen = \"0.0.0.0:5060\"\n",
            "[server]\nlisten = \"127.0.0.1:0\"\n[sip]\ntcp_listen = \"127.0.0.1:0\"\n",
            "[server]\nlisten = \"127.0.0.1:8080\"\n[sip]\ntcp_listen = \"127.0.0.2:8080\"\n",
        ] {
            Config::from_toml(toml).expect(toml);
        }
    }
}
