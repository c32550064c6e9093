//! Which address we advertise to a peer: the sent-by of our Via and the host of our Contact, and for
//! the application the `c=` line of its SDP.
//!
//! A socket bound to the unspecified address (0.0.0.0, `::`) has no address of its own to name, and a
//! peer that reads 0.0.0.0 in a Contact cannot reach us (in SDP it even means hold). The address a
//! peer can reach is the local address of our route towards it, which the kernel picks when a UDP
//! socket is connected to the peer (no packet is sent): the driver looks it up
//! ([`local_ip_towards`](crate::driver::local_ip_towards)) and the choice below is made from it.
//! Behind NAT, a registrar tells us where our REGISTER really came from (the top Via's `received` and
//! `rport`, RFC 3261 18.2.1 and RFC 3581); [`reported_address`] reads that, and the endpoint then
//! advertises it to that registrar, as mature user agents do.
//!
//! Pure functions only: the look-up of a route is I/O and lives in the driver.

use crate::message::grammar::Via;
use std::net::{IpAddr, SocketAddr};

/// Why no address can be advertised to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Bound to the unspecified address, and the system has no route to the peer.
    #[error(
        "no route to {peer}: cannot tell which of our addresses it can reach \
         (bind to a specific address, or set a public address)"
    )]
    NoRoute {
        /// The peer.
        peer: IpAddr,
    },
    /// The SIP socket is IPv4 and the peer IPv6: nothing we send can reach it.
    #[error(
        "the SIP socket {local} is IPv4 and cannot reach the IPv6 peer {peer} \
         (listen on [::], which takes IPv4 too, or on an IPv6 address)"
    )]
    Family {
        /// Where we listen.
        local: std::net::SocketAddr,
        /// The peer.
        peer: IpAddr,
    },
    /// The only address we could name is the unspecified one.
    #[error("would advertise the unspecified address {local} to {peer}")]
    Unspecified {
        /// The address.
        local: IpAddr,
        /// The peer.
        peer: IpAddr,
    },
    /// The address we would name is a loopback address, which a peer elsewhere cannot reach.
    #[error(
        "would advertise the loopback address {local} to {peer}, which cannot reach it \
         (bind to the unspecified or a routable address, or set a public address)"
    )]
    Loopback {
        /// The address.
        local: IpAddr,
        /// The peer.
        peer: IpAddr,
    },
}

/// The IP to advertise to `peer`: the configured public address if any, else the bound address when
/// it is a specific one, else `route`, our local address of the route towards the peer. Refuses the
/// unspecified address, and a loopback address for a peer that is not on loopback itself.
pub fn advertised_ip(
    bound: IpAddr,
    public: Option<IpAddr>,
    route: Option<IpAddr>,
    peer: IpAddr,
) -> Result<IpAddr, AddressError> {
    let local = match public {
        Some(public) => public,
        None if !bound.is_unspecified() => bound,
        None => route.ok_or(AddressError::NoRoute { peer })?,
    };
    if local.is_unspecified() {
        return Err(AddressError::Unspecified { local, peer });
    }
    if local.is_loopback() && !peer.is_loopback() {
        return Err(AddressError::Loopback { local, peer });
    }
    Ok(local)
}

/// Where the peer that answered saw our request come from: the top Via's `received` (else its
/// sent-by host) with its `rport` (else its sent-by port, else 5060). `None` when the host is not an
/// IP address (a name we sent, not rewritten) or a parameter is malformed.
pub fn reported_address(via: &Via<'_>) -> Option<SocketAddr> {
    let host = via.param("received").unwrap_or(via.host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    let port = match via.param("rport") {
        Some("") | None => via.port.unwrap_or(5060),
        Some(port) => port.parse().ok()?,
    };
    (port != 0).then_some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::grammar;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn unspecified_bind_advertises_the_route_towards_the_peer() {
        let got = advertised_ip(ip("0.0.0.0"), None, Some(ip("10.77.1.2")), ip("198.51.100.5"));
        assert_eq!(got, Ok(ip("10.77.1.2")));
        // On loopback the route is loopback, which a loopback peer reaches.
        let got = advertised_ip(ip("0.0.0.0"), None, Some(ip("127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(got, Ok(ip("127.0.0.1")));
        let got = advertised_ip(ip("::"), None, Some(ip("2001:db8::7")), ip("2001:db8::1"));
        assert_eq!(got, Ok(ip("2001:db8::7")));
    }

    #[test]
    fn configured_addresses_win_over_the_route() {
        let public = Some(ip("203.0.113.9"));
        let got = advertised_ip(ip("0.0.0.0"), public, Some(ip("10.0.0.2")), ip("198.51.100.5"));
        assert_eq!(got, Ok(ip("203.0.113.9")));
        let got = advertised_ip(ip("192.0.2.4"), None, Some(ip("10.0.0.2")), ip("198.51.100.5"));
        assert_eq!(got, Ok(ip("192.0.2.4")));
    }

    #[test]
    fn never_the_unspecified_address_nor_loopback_to_a_remote_peer() {
        let peer = ip("198.51.100.5");
        assert_eq!(
            advertised_ip(ip("0.0.0.0"), None, None, peer),
            Err(AddressError::NoRoute { peer })
        );
        assert_eq!(
            advertised_ip(ip("0.0.0.0"), None, Some(ip("0.0.0.0")), peer),
            Err(AddressError::Unspecified {
                local: ip("0.0.0.0"),
                peer
            })
        );
        assert_eq!(
            advertised_ip(ip("127.0.0.1"), None, None, peer),
            Err(AddressError::Loopback {
                local: ip("127.0.0.1"),
                peer
            })
        );
        assert_eq!(
            advertised_ip(ip("0.0.0.0"), Some(ip("0.0.0.0")), None, peer),
            Err(AddressError::Unspecified {
                local: ip("0.0.0.0"),
                peer
            })
        );
        // The message says what to do.
        let text = AddressError::Loopback {
            local: ip("127.0.0.1"),
            peer,
        }
        .to_string();
        assert!(text.contains("public address"), "{text}");
    }

    fn reported(via: &str) -> Option<SocketAddr> {
        reported_address(&grammar::via(via).expect("test Via"))
    }

    #[test]
    fn reads_received_and_rport_from_the_top_via() {
        assert_eq!(
            reported("SIP/2.0/UDP 10.77.1.2:5080;branch=z9hG4bKa;rport=40123;received=192.0.2.10"),
            Some("192.0.2.10:40123".parse().expect("addr"))
        );
        // Nothing rewritten: what we sent.
        assert_eq!(
            reported("SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKa;rport=5080"),
            Some("127.0.0.1:5080".parse().expect("addr"))
        );
        assert_eq!(
            reported("SIP/2.0/UDP 10.0.0.2:5080;branch=z9hG4bKa;rport"),
            Some("10.0.0.2:5080".parse().expect("addr"))
        );
        assert_eq!(
            reported("SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKa;received=192.0.2.1"),
            Some("192.0.2.1:5060".parse().expect("addr"))
        );
        assert_eq!(
            reported("SIP/2.0/UDP [2001:db8::2]:5080;branch=z9hG4bKa;received=[2001:db8::9];rport=7000"),
            Some("[2001:db8::9]:7000".parse().expect("addr"))
        );
    }

    #[test]
    fn ignores_what_it_cannot_read() {
        assert_eq!(reported("SIP/2.0/UDP pbx.example.com:5080;branch=z9hG4bKa"), None);
        assert_eq!(
            reported("SIP/2.0/UDP 10.0.0.2:5080;branch=z9hG4bKa;rport=x;received=192.0.2.1"),
            None
        );
        assert_eq!(
            reported("SIP/2.0/UDP 10.0.0.2:5080;branch=z9hG4bKa;received=nonsense"),
            None
        );
        assert_eq!(
            reported("SIP/2.0/UDP 10.0.0.2:5080;branch=z9hG4bKa;rport=0"),
            None
        );
    }
}
