//! STUN Binding (RFC 8489, section 3): asks a server which address and port our RTP socket's
//! packets leave a NAT with, so the SDP can name them when nothing else can (no public address
//! configured, a peer that neither rewrites SDP nor relays media).
//!
//! Only what that needs: a Binding request with no attributes, and its success response read for
//! XOR-MAPPED-ADDRESS (or the older MAPPED-ADDRESS, RFC 5389's servers still send it). No
//! authentication, no FINGERPRINT (servers answer plain requests; RTP and STUN are told apart by
//! the first byte, RFC 7983). The exchange is sans-IO; [`discover`] (feature `driver`) runs it on
//! a tokio socket with retransmissions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The magic cookie of every RFC 5389/8489 message.
const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding request and success response message types.
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const BINDING_ERROR: u16 = 0x0111;
/// Attribute types.
const MAPPED_ADDRESS: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const HEADER_LEN: usize = 20;

/// A request's transaction id (96 random bits): the response must carry the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionId(pub [u8; 12]);

/// Why a response gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Not a STUN message, or not an answer to our request (another transaction, a request).
    #[error("not a response to our STUN request")]
    NotOurs,
    /// The server answered with an error response.
    #[error("the STUN server refused the request")]
    Refused,
    /// A success response without a usable address attribute, or a truncated one.
    #[error("the STUN response carries no mapped address")]
    NoAddress,
    /// No response came in time.
    #[error("no answer from the STUN server {0}")]
    Timeout(SocketAddr),
    /// The socket failed.
    #[error("STUN socket: {0}")]
    Io(String),
}

/// The 20 bytes of a Binding request with no attributes.
pub fn binding_request(id: TransactionId) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&BINDING_REQUEST.to_be_bytes());
    // Message length (attributes only): zero.
    out[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out[8..20].copy_from_slice(&id.0);
    out
}

/// Reads the mapped address out of a Binding response to request `id`. Prefers
/// XOR-MAPPED-ADDRESS; takes MAPPED-ADDRESS only when that is all there is.
pub fn mapped_address(datagram: &[u8], id: TransactionId) -> Result<SocketAddr, StunError> {
    if datagram.len() < HEADER_LEN
        || datagram[0] & 0xC0 != 0
        || datagram[4..8] != MAGIC_COOKIE.to_be_bytes()
        || datagram[8..20] != id.0
    {
        return Err(StunError::NotOurs);
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    match kind {
        BINDING_SUCCESS => {}
        BINDING_ERROR => return Err(StunError::Refused),
        _ => return Err(StunError::NotOurs),
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram
        .get(HEADER_LEN..HEADER_LEN + length)
        .ok_or(StunError::NoAddress)?;
    let (mut xored, mut plain) = (None, None);
    let mut rest = body;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let Some(value) = rest.get(4..4 + len) else {
            break;
        };
        match kind {
            XOR_MAPPED_ADDRESS => xored = address(value, Some(&id)),
            MAPPED_ADDRESS => plain = address(value, None),
            _ => {}
        }
        // Attributes are padded to a multiple of four bytes.
        let padded = 4 + len.div_ceil(4) * 4;
        rest = rest.get(padded..).unwrap_or_default();
    }
    xored.or(plain).ok_or(StunError::NoAddress)
}

/// An address attribute's value: reserved, family, port, address; XORed with the cookie (and the
/// transaction id, for IPv6) when `xor` gives the id.
fn address(value: &[u8], xor: Option<&TransactionId>) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([*value.get(2)?, *value.get(3)?]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let mut mask = [0u8; 16];
    if let Some(id) = xor {
        mask[..4].copy_from_slice(&cookie);
        mask[4..].copy_from_slice(&id.0);
    }
    let ip = match value.get(1)? {
        0x01 => {
            let raw: [u8; 4] = value.get(4..8)?.try_into().ok()?;
            let bytes: [u8; 4] = std::array::from_fn(|i| raw[i] ^ mask[i]);
            IpAddr::V4(Ipv4Addr::from(bytes))
        }
        0x02 => {
            let raw: [u8; 16] = value.get(4..20)?.try_into().ok()?;
            let bytes: [u8; 16] = std::array::from_fn(|i| raw[i] ^ mask[i]);
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// When [`discover`] sends its request: at once, then again after these waits (RFC 8489's 500 ms
/// RTO, doubled, cut short: a call waits on it).
#[cfg(feature = "driver")]
const RETRANSMITS_MS: [u64; 3] = [250, 500, 750];

/// Asks `server` for the address `socket`'s packets are seen from, retransmitting as RFC 8489
/// does, giving up after 1.5 s. Other datagrams arriving meanwhile (early RTP) are dropped.
#[cfg(feature = "driver")]
pub async fn discover(socket: &tokio::net::UdpSocket, server: SocketAddr) -> Result<SocketAddr, StunError> {
    let id = TransactionId(rand::random());
    let request = binding_request(id);
    let mut buf = [0u8; 1500];
    for wait in RETRANSMITS_MS {
        socket
            .send_to(&request, server)
            .await
            .map_err(|e| StunError::Io(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
            let Ok(received) = received else { break };
            let (n, from) = match received {
                Ok(got) => got,
                // An ICMP error from an earlier send: the next retransmission tells.
                Err(_) => continue,
            };
            if from != server {
                continue;
            }
            match mapped_address(&buf[..n], id) {
                Err(StunError::NotOurs) => continue,
                other => return other,
            }
        }
    }
    Err(StunError::Timeout(server))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: TransactionId = TransactionId([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

    /// A success response to `id` carrying `attributes` (type, value) as given.
    fn response(id: TransactionId, kind: u16, attributes: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attributes {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn the_request_is_a_bare_binding_request() {
        let request = binding_request(ID);
        assert_eq!(&request[..4], &[0, 1, 0, 0]);
        assert_eq!(&request[4..8], &[0x21, 0x12, 0xA4, 0x42]);
        assert_eq!(&request[8..], &ID.0);
    }

    /// RFC 5769 section 2.2's sample IPv4 response: 192.0.2.1:32853 in XOR-MAPPED-ADDRESS.
    #[test]
    fn reads_the_rfc_5769_ipv4_sample() {
        let id = TransactionId([
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ]);
        let xor = vec![0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        let software = b"test vector ".to_vec();
        let datagram = response(
            id,
            BINDING_SUCCESS,
            &[(0x8022, software), (XOR_MAPPED_ADDRESS, xor)],
        );
        assert_eq!(
            mapped_address(&datagram, id),
            Ok("192.0.2.1:32853".parse().unwrap())
        );
    }

    /// RFC 5769 section 2.3's sample IPv6 response: [2001:db8:1234:5678:11:2233:4455:6677]:32853.
    #[test]
    fn reads_the_rfc_5769_ipv6_sample() {
        let id = TransactionId([
            0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ]);
        let xor = vec![
            0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
            0xbe, 0xd2, 0xb9, 0xd9,
        ];
        let datagram = response(id, BINDING_SUCCESS, &[(XOR_MAPPED_ADDRESS, xor)]);
        assert_eq!(
            mapped_address(&datagram, id),
            Ok("[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap())
        );
    }

    #[test]
    fn falls_back_to_the_plain_mapped_address() {
        let plain = vec![0, 1, 0x13, 0x88, 203, 0, 113, 9];
        let datagram = response(ID, BINDING_SUCCESS, &[(MAPPED_ADDRESS, plain)]);
        assert_eq!(
            mapped_address(&datagram, ID),
            Ok("203.0.113.9:5000".parse().unwrap())
        );
    }

    #[test]
    fn other_transactions_errors_and_garbage_give_no_address() {
        let xor = vec![0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        let other = TransactionId([9; 12]);
        let theirs = response(other, BINDING_SUCCESS, &[(XOR_MAPPED_ADDRESS, xor.clone())]);
        assert_eq!(mapped_address(&theirs, ID), Err(StunError::NotOurs));
        assert_eq!(
            mapped_address(&response(ID, BINDING_ERROR, &[]), ID),
            Err(StunError::Refused)
        );
        assert_eq!(
            mapped_address(&response(ID, BINDING_SUCCESS, &[]), ID),
            Err(StunError::NoAddress)
        );
        // An RTP packet (version 2 in the top bits) is not STUN.
        let rtp = [0x80u8; 40];
        assert_eq!(mapped_address(&rtp, ID), Err(StunError::NotOurs));
        // A length that runs past the datagram, an attribute cut short.
        let mut cut = response(ID, BINDING_SUCCESS, &[(XOR_MAPPED_ADDRESS, xor)]);
        cut.truncate(cut.len() - 3);
        assert_eq!(mapped_address(&cut, ID), Err(StunError::NoAddress));
        for n in 0..HEADER_LEN {
            assert!(mapped_address(&theirs[..n], ID).is_err());
        }
    }
}
