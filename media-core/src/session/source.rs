//! Whose RTP a session accepts: the strict-source rule against RTP hijacking ("RTP bleed").
//!
//! Our RTP port is open while the phone rings, and anyone who finds it could take the agent's audio
//! and speak into its ears if the first packet from anywhere fixed the remote (plain symmetric RTP).
//! So media is accepted from the address and port the SDP names. A different source is taken
//! (latched) only where the SDP cannot be right, as [`LatchPolicy`] says: by default when the
//! signalled address is one nobody outside a LAN can send from (private, loopback, unspecified,
//! link-local, carrier-grade NAT: the far end is behind a NAT that did not rewrite its SDP); only
//! within the first [`LATCH_WINDOW`] packets of a stream; and, when the signalled address is public,
//! only from its IP (a port changed by a firewall). After that the source is fixed, and packets from
//! anyone else are dropped and counted. A renegotiation moves the source through signalling only.
//!
//! rtpengine and other media edges latch the same way (first packets, strict source after); ICE is
//! the full answer, which SIP trunks do not speak.

use std::net::{IpAddr, SocketAddr};

/// How many packets of a stream may move its source before it is fixed at the signalled address.
/// Ten packets are 200 ms of audio: enough for a NAT's first packets, too short to wait for.
pub const LATCH_WINDOW: u8 = 10;

/// When a session takes media from a source other than the one the SDP names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LatchPolicy {
    /// Also when the signalled address is public, but then only from its IP (another port).
    Always,
    /// Only when the signalled address is one we cannot be sent from as it stands (private,
    /// loopback, unspecified, link-local, carrier-grade NAT): the far end's NAT case.
    #[default]
    Private,
    /// Never: only the signalled address and port.
    Never,
}

impl LatchPolicy {
    /// Whether a packet from `src` may move the source away from the signalled `addr`.
    pub fn may_latch(self, signalled: SocketAddr, src: SocketAddr) -> bool {
        match self {
            LatchPolicy::Never => false,
            LatchPolicy::Private => is_unreachable(signalled.ip()),
            LatchPolicy::Always => is_unreachable(signalled.ip()) || src.ip() == signalled.ip(),
        }
    }
}

/// Whether a signalled media address cannot be where packets come from on the public side: the
/// far end advertised an address behind its NAT (or none).
pub fn is_unreachable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                // 100.64.0.0/10, shared address space behind carrier-grade NAT (RFC 6598).
                || (a == 100 && (b & 0xC0) == 64)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_unreachable(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_unspecified()
                    || v6.is_loopback()
                    // fc00::/7 unique local, fe80::/10 link-local.
                    || (first & 0xFE00) == 0xFC00
                    || (first & 0xFFC0) == 0xFE80
            }
        },
    }
}

/// Where the remote's media comes from and goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Remote {
    /// The address from SDP, not confirmed by a packet yet; `refused` packets of the stream came
    /// from elsewhere and were not taken.
    Signalled {
        /// The address.
        addr: SocketAddr,
        /// Packets refused so far; at [`LATCH_WINDOW`] the source is fixed at `addr`.
        refused: u8,
    },
    /// Fixed: only packets from it are accepted.
    Fixed(SocketAddr),
}

/// What becomes of a valid packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// From the fixed source.
    Accept,
    /// The source is now fixed at this address (the signalled one, or a latched one).
    Fixed(SocketAddr),
    /// Not from the source: drop and count.
    Refuse,
}

impl Remote {
    /// A remote named by signalling.
    pub(super) fn signalled(addr: SocketAddr) -> Self {
        Remote::Signalled { addr, refused: 0 }
    }

    /// Where we send.
    pub(super) fn addr(self) -> SocketAddr {
        match self {
            Remote::Signalled { addr, .. } | Remote::Fixed(addr) => addr,
        }
    }

    /// The fixed source, if it is fixed.
    pub(super) fn fixed(self) -> Option<SocketAddr> {
        match self {
            Remote::Fixed(addr) => Some(addr),
            Remote::Signalled { .. } => None,
        }
    }

    /// Decides on a valid (parsed, negotiated payload type, authenticated) packet from `src`.
    pub(super) fn admit(&mut self, policy: LatchPolicy, src: SocketAddr) -> Admit {
        match *self {
            Remote::Fixed(addr) if addr == src => Admit::Accept,
            Remote::Fixed(_) => Admit::Refuse,
            Remote::Signalled { addr, .. } if addr == src => {
                *self = Remote::Fixed(src);
                Admit::Fixed(src)
            }
            Remote::Signalled { addr, refused } => {
                if refused < LATCH_WINDOW && policy.may_latch(addr, src) {
                    *self = Remote::Fixed(src);
                    return Admit::Fixed(src);
                }
                let refused = refused.saturating_add(1);
                *self = if refused >= LATCH_WINDOW {
                    Remote::Fixed(addr)
                } else {
                    Remote::Signalled { addr, refused }
                };
                Admit::Refuse
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn unreachable_addresses_are_those_behind_a_nat_or_none() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "0.0.0.0",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_unreachable(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "198.51.100.1",
            "192.0.2.1",
            "8.8.8.8",
            "100.128.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_unreachable(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn each_policy_latches_where_it_says() {
        let private = addr("10.0.0.5:4000");
        let public = addr("198.51.100.5:4000");
        let nat = addr("203.0.113.9:31000");
        let other_port = addr("198.51.100.5:4002");
        assert!(LatchPolicy::Private.may_latch(private, nat));
        assert!(!LatchPolicy::Private.may_latch(public, nat));
        assert!(!LatchPolicy::Private.may_latch(public, other_port));
        assert!(LatchPolicy::Always.may_latch(private, nat));
        assert!(LatchPolicy::Always.may_latch(public, other_port));
        assert!(!LatchPolicy::Always.may_latch(public, nat));
        assert!(!LatchPolicy::Never.may_latch(private, nat));
        assert!(!LatchPolicy::Never.may_latch(public, other_port));
    }

    #[test]
    fn the_signalled_source_fixes_at_once_and_others_are_refused_after() {
        let signalled = addr("198.51.100.5:4000");
        let mut remote = Remote::signalled(signalled);
        assert_eq!(
            remote.admit(LatchPolicy::Always, signalled),
            Admit::Fixed(signalled)
        );
        assert_eq!(remote.admit(LatchPolicy::Always, signalled), Admit::Accept);
        assert_eq!(
            remote.admit(LatchPolicy::Always, addr("198.51.100.5:4002")),
            Admit::Refuse
        );
    }

    #[test]
    fn a_late_latch_is_refused_once_the_window_has_passed() {
        let signalled = addr("198.51.100.5:4000");
        let mut remote = Remote::signalled(signalled);
        for _ in 0..LATCH_WINDOW {
            assert_eq!(
                remote.admit(LatchPolicy::Always, addr("192.0.2.66:9999")),
                Admit::Refuse
            );
        }
        assert_eq!(remote, Remote::Fixed(signalled));
        // The port change that would have been taken early is refused now.
        assert_eq!(
            remote.admit(LatchPolicy::Always, addr("198.51.100.5:4002")),
            Admit::Refuse
        );
        assert_eq!(remote.admit(LatchPolicy::Always, signalled), Admit::Accept);
    }
}
