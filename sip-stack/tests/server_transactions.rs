//! Server transactions of the endpoint in virtual time: 100 Trying, retransmission of final INVITE
//! responses under loss (Timer G until Timer H), absorption of retransmitted requests (Timer J), and
//! CANCEL matching (RFC 3261 17.2, 9.2).
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::{Endpoint, EndpointConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PEER: &str = "127.0.0.1:5062";

fn endpoint(t0: Instant) -> Endpoint {
    let mut config = EndpointConfig::new("127.0.0.1:5080".parse().unwrap());
    config.seed = Some(11);
    Endpoint::new(t0, config, Vec::new())
}

fn request(method: &str, branch: &str, cseq: u32, cseq_method: &str) -> Vec<u8> {
    format!(
        "{method} sip:agent@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP {PEER};branch={branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@trunk.test>;tag=a1\r\nTo: <sip:agent@trunk.test>\r\n\
Call-ID: st-1@peer\r\nCSeq: {cseq} {cseq_method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Status lines of everything sent, each with its send time in ms after `t0`.
fn sent(ep: &mut Endpoint) -> Vec<String> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| {
            assert_eq!(t.destination, PEER.parse::<SocketAddr>().unwrap());
            let text = String::from_utf8_lossy(&t.payload).into_owned();
            text.lines().next().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Runs the endpoint's timers until `until` after `t0`; returns (ms, status line) of each send.
fn run_until(ep: &mut Endpoint, t0: Instant, until: Duration) -> Vec<(u128, String)> {
    let mut out = Vec::new();
    while let Some(at) = ep.poll_timeout() {
        if at - t0 > until {
            break;
        }
        ep.handle_timeout(at);
        out.extend(sent(ep).into_iter().map(|line| ((at - t0).as_millis(), line)));
    }
    out
}

#[test]
fn a_refused_invite_is_retransmitted_until_timer_h_when_every_ack_is_lost() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0);
    ep.handle_datagram(
        t0,
        PEER.parse().unwrap(),
        &request("INVITE", "z9hG4bKi1", 1, "INVITE"),
    );
    assert_eq!(
        sent(&mut ep),
        vec!["SIP/2.0 100 Trying", "SIP/2.0 480 Temporarily Unavailable"],
        "100 Trying at once, then the final answer"
    );
    // The INVITE is retransmitted (our answer was lost): the final answer is repeated.
    ep.handle_datagram(
        t0 + Duration::from_millis(100),
        PEER.parse().unwrap(),
        &request("INVITE", "z9hG4bKi1", 1, "INVITE"),
    );
    assert_eq!(sent(&mut ep), vec!["SIP/2.0 480 Temporarily Unavailable"]);
    let schedule: Vec<u128> = run_until(&mut ep, t0, Duration::from_secs(64))
        .into_iter()
        .map(|(ms, line)| {
            assert_eq!(line, "SIP/2.0 480 Temporarily Unavailable");
            ms
        })
        .collect();
    assert_eq!(
        schedule,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(ep.poll_timeout(), None, "Timer H ended the transaction at 32 s");
}

#[test]
fn the_ack_stops_the_retransmissions() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0);
    ep.handle_datagram(
        t0,
        PEER.parse().unwrap(),
        &request("INVITE", "z9hG4bKi2", 1, "INVITE"),
    );
    sent(&mut ep);
    let first = run_until(&mut ep, t0, Duration::from_millis(1600));
    assert_eq!(first.len(), 2, "two retransmissions lost");
    ep.handle_datagram(
        t0 + Duration::from_millis(1700),
        PEER.parse().unwrap(),
        &request("ACK", "z9hG4bKi2", 1, "ACK"),
    );
    assert!(sent(&mut ep).is_empty(), "an ACK is never answered");
    assert!(
        run_until(&mut ep, t0, Duration::from_secs(64)).is_empty(),
        "no retransmission after the ACK"
    );
    assert_eq!(ep.poll_timeout(), None, "Timer I ended the transaction");
}

#[test]
fn retransmitted_non_invite_requests_get_the_same_answer_until_timer_j() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0);
    let options = request("OPTIONS", "z9hG4bKo1", 5, "OPTIONS");
    ep.handle_datagram(t0, PEER.parse().unwrap(), &options);
    let first: Vec<u8> = ep.poll_transmit().unwrap().payload;
    for ms in [500, 1500, 3500] {
        ep.handle_datagram(t0 + Duration::from_millis(ms), PEER.parse().unwrap(), &options);
        assert_eq!(
            ep.poll_transmit().unwrap().payload,
            first,
            "byte for byte the same answer (same To tag)"
        );
    }
    assert!(
        run_until(&mut ep, t0, Duration::from_secs(31)).is_empty(),
        "never sent unprompted"
    );
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(32)), "Timer J");
    ep.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn cancel_is_matched_to_its_invite_by_branch() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0);
    // No INVITE with this branch: 481.
    ep.handle_datagram(
        t0,
        PEER.parse().unwrap(),
        &request("CANCEL", "z9hG4bKnone", 1, "CANCEL"),
    );
    assert_eq!(sent(&mut ep), vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]);
    // An INVITE already answered: the CANCEL gets 200 and changes nothing.
    ep.handle_datagram(
        t0,
        PEER.parse().unwrap(),
        &request("INVITE", "z9hG4bKc1", 1, "INVITE"),
    );
    assert_eq!(sent(&mut ep).len(), 2);
    ep.handle_datagram(
        t0,
        PEER.parse().unwrap(),
        &request("CANCEL", "z9hG4bKc1", 1, "CANCEL"),
    );
    assert_eq!(sent(&mut ep), vec!["SIP/2.0 200 OK"]);
}
