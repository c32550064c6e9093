//! Our local address on the route towards a peer, as the kernel chooses it: the I/O half of
//! [`address`](crate::address), for a socket bound to the unspecified address.

use crate::address::AddressError;
use crate::endpoint::EndpointConfig;
use crate::trunk::{TrunkConfig, UNRESOLVED};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// The local IP the system would send from towards `peer`. Connecting a UDP socket picks the route
/// and its source address without sending a packet; the port (9, discard) does not matter.
pub fn local_ip_towards(peer: IpAddr) -> std::io::Result<IpAddr> {
    let any: IpAddr = match peer {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(SocketAddr::new(peer, 9))?;
    Ok(socket.local_addr()?.ip())
}

/// Checks, before anything is sent, that we can name an address each trunk can reach (Via and
/// Contact): never the unspecified address, never loopback to a trunk elsewhere. Trunks whose name
/// has not resolved yet are checked when it does (and logged then).
pub fn check_addresses(config: &EndpointConfig, trunks: &[TrunkConfig]) -> Result<(), AddressError> {
    for trunk in trunks.iter().filter(|t| t.proxy != UNRESOLVED) {
        let peer = trunk.proxy.ip();
        if config.local_addr.is_ipv4() && peer.is_ipv6() {
            return Err(AddressError::Family {
                local: config.local_addr,
                peer,
            });
        }
        let route = local_ip_towards(peer).ok();
        config.advertised_ip(trunk.transport, route, peer)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_socket_cannot_serve_an_ipv6_trunk_and_a_dual_stack_one_serves_both() {
        let v4 = EndpointConfig::new("0.0.0.0:5080".parse().expect("addr"));
        let v6_trunk = TrunkConfig::new("t", "[::1]:5060".parse().expect("addr"));
        assert!(matches!(
            check_addresses(&v4, std::slice::from_ref(&v6_trunk)),
            Err(AddressError::Family { .. })
        ));
        let dual = EndpointConfig::new("[::]:5080".parse().expect("addr"));
        let v4_trunk = TrunkConfig::new("t", "127.0.0.1:5060".parse().expect("addr"));
        assert_eq!(check_addresses(&dual, &[v4_trunk, v6_trunk]), Ok(()));
    }

    #[test]
    fn the_route_to_loopback_is_loopback() {
        let ip = local_ip_towards(Ipv4Addr::LOCALHOST.into()).expect("loopback route");
        assert_eq!(ip, IpAddr::from(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn an_unspecified_bind_with_a_loopback_trunk_passes_and_a_loopback_bind_with_a_remote_one_fails() {
        let any = EndpointConfig::new("0.0.0.0:5080".parse().expect("addr"));
        let local_trunk = TrunkConfig::new("t", "127.0.0.1:5060".parse().expect("addr"));
        assert_eq!(check_addresses(&any, &[local_trunk]), Ok(()));
        let lo = EndpointConfig::new("127.0.0.1:5080".parse().expect("addr"));
        // 192.0.2.1 (TEST-NET-1) needs no route to be refused: loopback is never advertised to it.
        let remote = TrunkConfig::new("t", "192.0.2.1:5060".parse().expect("addr"));
        assert!(matches!(
            check_addresses(&lo, &[remote]),
            Err(AddressError::Loopback { .. })
        ));
    }
}
