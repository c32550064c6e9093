//! The endpoint's state stays bounded under a flood, in virtual time: requests from tens of thousands
//! of distinct sources (IPv4 addresses and IPv6 /64s, each under the guard's per-source rate) cannot
//! grow the server transactions past the cap, strangers stop short of the trunks' reserve (dropped
//! unanswered), a trunk is still served and gets 503 only when the whole table is full, and the table
//! drains as transactions expire. Strangers never learn our product and version (`Server` header).
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::{Endpoint, EndpointConfig, TrunkConfig};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

const TRUNK: &str = "192.0.2.10:5060";

fn endpoint(t0: Instant, max: usize, reserve: usize) -> Endpoint {
    let mut config = EndpointConfig::new("192.0.2.1:5080".parse().unwrap());
    config.seed = Some(5);
    config.max_server_transactions = max;
    config.trunk_server_transactions = reserve;
    Endpoint::new(
        t0,
        config,
        vec![TrunkConfig::new("carrier", TRUNK.parse().unwrap())],
    )
}

fn request(method: &str, from: SocketAddr, n: u64) -> Vec<u8> {
    format!(
        "{method} sip:agent@192.0.2.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKfl{n};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:probe@example.test>;tag=f{n}\r\nTo: <sip:agent@192.0.2.1>\r\n\
Call-ID: flood-{n}@peer\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Everything sent: (destination, text).
fn sent(ep: &mut Endpoint) -> Vec<(SocketAddr, String)> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| (t.destination, String::from_utf8_lossy(&t.payload).into_owned()))
        .collect()
}

/// The `n`th stranger: IPv4 addresses in 10/8, then IPv6 sources each in its own /64.
fn stranger(n: u64) -> SocketAddr {
    let ip = if n.is_multiple_of(2) {
        let v4 = u32::try_from(n / 2).unwrap() + 0x0A00_0001;
        IpAddr::from(v4.to_be_bytes())
    } else {
        let k = u16::try_from(n / 2 % 65_536).unwrap();
        let j = u16::try_from(n / 2 / 65_536).unwrap();
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, j, k, 0, 0, 0, 1))
    };
    SocketAddr::new(ip, 5060)
}

#[test]
fn a_flood_of_distinct_sources_cannot_grow_the_server_transactions_past_the_cap() {
    let t0 = Instant::now();
    let (max, reserve) = (1_000, 100);
    let mut ep = endpoint(t0, max, reserve);
    let flood = 40_000u64;
    let mut answered = 0;
    for n in 0..flood {
        let now = t0 + Duration::from_micros(n * 25);
        ep.handle_datagram(now, stranger(n), &request("OPTIONS", stranger(n), n));
        answered += sent(&mut ep).len();
        assert!(ep.stats().server_transactions <= max - reserve, "at {n}");
    }
    let stats = ep.stats();
    assert_eq!(
        stats.server_transactions,
        max - reserve,
        "strangers stop at the reserve"
    );
    assert_eq!(
        answered,
        max - reserve,
        "past it, strangers' requests are dropped unanswered"
    );
    assert_eq!(stats.server_transactions_refused, flood - (max - reserve) as u64);

    // The trunk is still served, from the reserve, with our Server header.
    let now = t0 + Duration::from_secs(1);
    let trunk: SocketAddr = TRUNK.parse().unwrap();
    for n in 0..reserve as u64 {
        ep.handle_datagram(now, trunk, &request("OPTIONS", trunk, 1_000_000 + n));
        let out = sent(&mut ep);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.starts_with("SIP/2.0 200 OK"), "{}", out[0].1);
    }
    assert_eq!(ep.stats().server_transactions, max);
    // Only a full table turns the trunk away, with 503 and Retry-After, holding nothing.
    ep.handle_datagram(now, trunk, &request("INVITE", trunk, 2_000_000));
    let out = sent(&mut ep);
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 503"), "{}", out[0].1);
    assert!(out[0].1.contains("Retry-After: 5\r\n"));
    assert_eq!(out[0].0, trunk);
    assert_eq!(ep.stats().server_transactions, max);

    // Once the answers have lingered their 64*T1, the table drains and strangers are served again.
    let later = now + Duration::from_secs(40);
    ep.handle_timeout(later);
    let _ = sent(&mut ep);
    assert_eq!(ep.stats().server_transactions, 0);
    let newcomer = stranger(flood + 2);
    ep.handle_datagram(later, newcomer, &request("OPTIONS", newcomer, flood + 2));
    let out = sent(&mut ep);
    assert_eq!(out.len(), 1);
    assert!(out[0].1.starts_with("SIP/2.0 200 OK"));
}

#[test]
fn strangers_get_no_server_header_and_trunks_do() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, 8192, 1024);
    let who: SocketAddr = "203.0.113.5:5060".parse().unwrap();
    let trunk: SocketAddr = TRUNK.parse().unwrap();
    let mut n = 0;
    let mut answers = |ep: &mut Endpoint, from: SocketAddr, bytes: Vec<u8>| {
        n += 1;
        ep.handle_datagram(t0 + Duration::from_millis(n * 100), from, &bytes);
        sent(ep).into_iter().map(|(_, text)| text).collect::<Vec<_>>()
    };
    // OPTIONS (200), an unknown method (405), a stray BYE (481), an INVITE (100, then 403) and a
    // malformed request (400): none tells a stranger what we run.
    let malformed =
        b"OPTIONS sip:agent@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKm\r\n\
From: <sip:probe@example.test>;tag=m\r\nTo: <sip:agent@192.0.2.1>\r\nCall-ID: m@peer\r\nCSeq: x OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
            .to_vec();
    let mut seen = Vec::new();
    for (i, bytes) in [
        request("OPTIONS", who, 1),
        request("SUBSCRIBE", who, 2),
        request("BYE", who, 3),
        request("INVITE", who, 4),
        malformed,
    ]
    .into_iter()
    .enumerate()
    {
        let out = answers(&mut ep, who, bytes);
        assert!(!out.is_empty(), "request {i} was answered");
        for text in out {
            seen.push(text.lines().next().unwrap_or_default().to_owned());
            assert!(!text.contains("\r\nServer:"), "a stranger was told: {text}");
            assert!(!text.contains("Ringback"), "a stranger was told: {text}");
        }
    }
    for status in ["200", "405", "481", "100", "403", "400"] {
        assert!(
            seen.iter().any(|l| l.starts_with(&format!("SIP/2.0 {status}"))),
            "{status} in {seen:?}"
        );
    }
    // The trunk gets our name and version.
    let out = answers(&mut ep, trunk, request("OPTIONS", trunk, 5));
    assert!(
        out[0].contains(concat!(
            "\r\nServer: Ringback/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        )),
        "{}",
        out[0]
    );
}
