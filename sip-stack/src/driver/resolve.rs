//! Where a trunk is: its configured [`ProxyHost`] turned into addresses, in the simple form of RFC 3263
//! (the transport is configured, so no NAPTR): an IP address is used as is; a name with a port is
//! looked up as A/AAAA; a name without a port is first looked up as SRV (`_sip._udp`, `_sip._tcp` or
//! `_sips._tcp`), its targets in priority order, and as A/AAAA on the transport's default port when it
//! has no SRV records.
//!
//! Without a configured DNS server, A/AAAA go through the system resolver (getaddrinfo, so
//! /etc/hosts and nsswitch apply) and SRV through hickory with /etc/resolv.conf. With one
//! (`[sip] dns_server`), every query goes to that server (hickory), /etc/hosts still answering first.

use crate::transport::Transport;
use crate::trunk::ProxyHost;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a trunk's name gave no address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The lookup failed (no such name, no answer from the DNS server).
    #[error("cannot resolve {host}: {reason}")]
    Lookup {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The name exists but has no address.
    #[error("{0} has no address")]
    NoAddress(String),
}

/// How long one DNS query may take; a trunk lookup makes at most a few, in sequence.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Looks trunk names up. Cheap to clone (the DNS client and its cache are shared).
#[derive(Clone)]
pub struct Resolver {
    /// The DNS client for SRV (and for A/AAAA when `dedicated`); `None` when the system has no DNS
    /// configuration, in which case SRV lookups find nothing.
    dns: Option<TokioResolver>,
    /// Whether A/AAAA go to `dns` too (a configured server) rather than getaddrinfo.
    dedicated: bool,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("dns", &self.dns.is_some())
            .field("dedicated", &self.dedicated)
            .finish()
    }
}

fn options() -> ResolverOpts {
    let mut opts = ResolverOpts::default();
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Always;
    opts
}

impl Resolver {
    /// The system's resolver: getaddrinfo for addresses, /etc/resolv.conf's servers for SRV.
    pub fn system() -> Self {
        let dns = match TokioResolver::builder_tokio() {
            Ok(mut builder) => {
                builder.options_mut().timeout = QUERY_TIMEOUT;
                builder.options_mut().attempts = 1;
                builder.build().ok()
            }
            Err(err) => {
                tracing::info!(%err, "no system DNS configuration: trunk names resolve without SRV");
                None
            }
        };
        Self {
            dns,
            dedicated: false,
        }
    }

    /// Every query to the DNS server at `server` (UDP, then TCP for truncated answers).
    pub fn with_server(server: SocketAddr) -> Self {
        let mut udp = ConnectionConfig::udp();
        udp.port = server.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = server.port();
        let name_server = NameServerConfig::new(server.ip(), true, vec![udp, tcp]);
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let dns = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options())
            .build()
            .map_err(|err| tracing::warn!(%err, "DNS resolver refused its configuration"))
            .ok();
        Self { dns, dedicated: true }
    }

    /// Forgets cached answers, so that the next lookup asks again (after a failure).
    pub fn forget(&self) {
        if let Some(dns) = &self.dns {
            dns.clear_cache();
        }
    }

    /// The addresses of `host` on `transport`, best first (SRV priority and weight, then IPv4 before
    /// IPv6 for each target).
    pub async fn lookup(
        &self,
        host: &ProxyHost,
        transport: Transport,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        if let Some(addr) = host.literal(transport) {
            return Ok(vec![addr]);
        }
        if host.wants_srv()
            && let Some(targets) = self.srv(host.host(), transport).await
        {
            let mut addrs = Vec::new();
            let mut last_err = None;
            for (target, port) in targets {
                match self.addresses(&target, port).await {
                    Ok(found) => {
                        for addr in found {
                            if !addrs.contains(&addr) {
                                addrs.push(addr);
                            }
                        }
                    }
                    Err(err) => last_err = Some(err),
                }
            }
            return match (addrs.is_empty(), last_err) {
                (false, _) => Ok(addrs),
                (true, Some(err)) => Err(err),
                (true, None) => Err(ResolveError::NoAddress(host.host().to_owned())),
            };
        }
        let port = host.port().unwrap_or_else(|| transport.default_port());
        self.addresses(host.host(), port).await
    }

    /// SRV targets for `host` in the order to try them, or `None` when it has no usable records
    /// (the caller then falls back to A/AAAA).
    async fn srv(&self, host: &str, transport: Transport) -> Option<Vec<(String, u16)>> {
        let dns = self.dns.as_ref()?;
        let service = match transport {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        };
        let name = format!("{service}.{}.", host.trim_end_matches('.'));
        let lookup = match dns.srv_lookup(name.as_str()).await {
            Ok(lookup) => lookup,
            Err(err) => {
                tracing::debug!(%name, %err, "no SRV records: falling back to A/AAAA");
                return None;
            }
        };
        let mut records: Vec<(u16, u16, String, u16)> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some((
                    srv.priority,
                    srv.weight,
                    srv.target.to_ascii().trim_end_matches('.').to_owned(),
                    srv.port,
                )),
                _ => None,
            })
            .collect();
        // A target of "." says the service is not offered here (RFC 2782).
        records.retain(|(_, _, target, port)| !target.is_empty() && *port != 0);
        // Lower priority first; within one, heavier weight first (a fixed order rather than RFC
        // 2782's weighted draw: with one trunk there is nothing to spread).
        records.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        tracing::debug!(%name, ?records, "SRV records");
        (!records.is_empty()).then(|| records.into_iter().map(|(_, _, t, p)| (t, p)).collect())
    }

    /// A and AAAA of one name, IPv4 first.
    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let lookup_err = |reason: String| ResolveError::Lookup {
            host: host.to_owned(),
            reason,
        };
        let mut addrs: Vec<SocketAddr> = match (&self.dns, self.dedicated) {
            (Some(dns), true) => dns
                .lookup_ip(format!("{}.", host.trim_end_matches('.')).as_str())
                .await
                .map_err(|e| lookup_err(e.to_string()))?
                .iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            _ => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| lookup_err(e.to_string()))?
                .collect(),
        };
        addrs.sort_by_key(|a| (a.is_ipv6(), *a));
        addrs.dedup();
        if addrs.is_empty() {
            return Err(ResolveError::NoAddress(host.to_owned()));
        }
        Ok(addrs)
    }
}

/// Which address to use after a lookup: stay on `current` while the name still lists it (unless it
/// just `failed`, then take the one after it: RFC 3263 4.3 moves on to the next target), else the
/// best one.
pub fn pick(addrs: &[SocketAddr], current: SocketAddr, failed: bool) -> Option<SocketAddr> {
    match addrs.iter().position(|a| *a == current) {
        Some(i) if failed => addrs.get((i + 1) % addrs.len()).copied(),
        Some(_) => Some(current),
        None => addrs.first().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> ProxyHost {
        text.parse().expect("proxy host")
    }

    #[tokio::test]
    async fn names_resolve_through_the_system_resolver() {
        let resolver = Resolver::system();
        let addrs = resolver
            .lookup(&host("localhost:5070"), Transport::Udp)
            .await
            .expect("localhost resolves");
        assert!(
            addrs.iter().all(|a| a.port() == 5070 && a.ip().is_loopback()),
            "{addrs:?}"
        );
        assert!(addrs[0].is_ipv4(), "IPv4 first: {addrs:?}");
        assert_eq!(
            resolver.lookup(&host("192.0.2.7"), Transport::Tls).await,
            Ok(vec!["192.0.2.7:5061".parse().expect("addr")])
        );
        assert!(matches!(
            resolver
                .lookup(&host("no-such-host.invalid:5060"), Transport::Udp)
                .await,
            Err(ResolveError::Lookup { .. } | ResolveError::NoAddress(_))
        ));
    }

    #[test]
    fn a_failed_address_gives_way_to_the_next() {
        let a: SocketAddr = "192.0.2.1:5060".parse().expect("addr");
        let b: SocketAddr = "192.0.2.2:5060".parse().expect("addr");
        let c: SocketAddr = "192.0.2.3:5060".parse().expect("addr");
        assert_eq!(pick(&[a, b], b, false), Some(b), "stays while listed");
        assert_eq!(pick(&[a, b], a, true), Some(b), "moves on after a failure");
        assert_eq!(pick(&[a, b], b, true), Some(a), "wraps around");
        assert_eq!(pick(&[a, b], c, false), Some(a), "best when the old one is gone");
        assert_eq!(pick(&[a], a, true), Some(a), "the only one stays");
        assert_eq!(pick(&[], a, true), None);
    }
}
