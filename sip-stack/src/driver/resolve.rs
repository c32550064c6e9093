//! Where a trunk is: `host[:port]` read from config and resolved to addresses with the system
//! resolver (A and AAAA records through getaddrinfo, so /etc/hosts and the local DNS setup apply).

use crate::transport::Transport;
use std::net::SocketAddr;

/// Why a trunk address could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The text is not `host`, `host:port`, `ip:port` or `[ipv6]:port`.
    #[error("bad trunk address {0:?}")]
    BadAddress(String),
    /// The name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Lookup {
        /// The host name.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The name resolved to no address.
    #[error("{0} has no address")]
    NoAddress(String),
}

/// Splits `host[:port]` (IPv6 in brackets), with the transport's default port when none is given.
pub fn split_host_port(text: &str, transport: Transport) -> Result<(String, u16), ResolveError> {
    let bad = || ResolveError::BadAddress(text.to_owned());
    let text = text.trim();
    let (host, port) = crate::message::grammar::host_port(text).map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port.unwrap_or_else(|| transport.default_port())))
}

/// Resolves `host[:port]` to its addresses, IPv4 first.
pub async fn resolve(text: &str, transport: Transport) -> Result<Vec<SocketAddr>, ResolveError> {
    let (host, port) = split_host_port(text, transport)?;
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| ResolveError::Lookup {
            host: host.clone(),
            reason: e.to_string(),
        })?
        .collect();
    addrs.sort_by_key(|a| (a.is_ipv6(), *a));
    addrs.dedup();
    if addrs.is_empty() {
        return Err(ResolveError::NoAddress(host));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_with_defaults() {
        let cases = [
            ("sip.example.com", Transport::Udp, ("sip.example.com", 5060)),
            ("sip.example.com:5080", Transport::Tcp, ("sip.example.com", 5080)),
            ("sip.example.com", Transport::Tls, ("sip.example.com", 5061)),
            ("[::1]:5062", Transport::Udp, ("::1", 5062)),
            ("192.0.2.1", Transport::Udp, ("192.0.2.1", 5060)),
        ];
        for (text, transport, (host, port)) in cases {
            assert_eq!(
                split_host_port(text, transport),
                Ok((host.to_owned(), port)),
                "{text}"
            );
        }
        for bad in ["", "host:", "host:99999", "a b", "[::1"] {
            assert!(split_host_port(bad, Transport::Udp).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn names_resolve_through_the_system_resolver() {
        let addrs = resolve("localhost:5070", Transport::Udp)
            .await
            .expect("localhost resolves");
        assert!(
            addrs.iter().all(|a| a.port() == 5070 && a.ip().is_loopback()),
            "{addrs:?}"
        );
        assert!(addrs[0].is_ipv4(), "IPv4 first: {addrs:?}");
        assert_eq!(
            resolve("192.0.2.7", Transport::Tls).await,
            Ok(vec!["192.0.2.7:5061".parse().expect("addr")])
        );
        assert!(matches!(
            resolve("no-such-host.invalid", Transport::Udp).await,
            Err(ResolveError::Lookup { .. } | ResolveError::NoAddress(_))
        ));
    }
}
