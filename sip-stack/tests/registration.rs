//! The registration client in virtual time against a scripted registrar: stale nonces, SHA-256 with
//! qop=auth, 423 Interval Too Brief, back-off with Retry-After, several trunks and unregistration.
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::digest::{self, Challenge, Credentials, RequestParts};
use sip_stack::message::{Incoming, IncomingRequest, Limits, Method, header_values, parse};
use sip_stack::{
    Endpoint, EndpointConfig, Event, RegistrationStatus, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn trunk(proxy: &str, user: &str) -> TrunkConfig {
    TrunkConfig {
        name: user.into(),
        proxy: proxy.parse().unwrap(),
        domain: "trunk.test".into(),
        credentials: Some(TrunkCredentials {
            username: user.into(),
            auth_username: None,
            password: format!("{user}pw"),
        }),
        register: true,
        register_expires: 60,
        ..TrunkConfig::new("test", proxy.parse().unwrap())
    }
}

fn endpoint(t0: Instant, trunks: Vec<TrunkConfig>) -> Endpoint {
    let mut config = EndpointConfig::new("127.0.0.1:5080".parse().unwrap());
    config.seed = Some(3);
    Endpoint::new(t0, config, trunks)
}

/// Requests sent, with their destinations.
fn sent(ep: &mut Endpoint) -> Vec<(SocketAddr, IncomingRequest)> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| match parse(&t.payload, &Limits::default()) {
            Ok(Incoming::Request(r)) => (t.destination, r),
            other => panic!("expected a request, got {other:?}"),
        })
        .collect()
}

fn one(ep: &mut Endpoint) -> IncomingRequest {
    let mut all = sent(ep);
    assert_eq!(all.len(), 1, "one request");
    all.remove(0).1
}

fn reply(req: &IncomingRequest, status: u16, extra: &str) -> Vec<u8> {
    let h = |name| header_values(&req.msg.headers, name).join(", ");
    format!(
        "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=reg\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        h("via"),
        h("from"),
        h("to"),
        h("call-id"),
        h("cseq"),
    )
    .into_bytes()
}

fn statuses(ep: &mut Endpoint) -> Vec<(TrunkId, RegistrationStatus)> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::Registration { trunk, status } => Some((trunk, status)),
            _ => None,
        })
        .collect()
}

/// A parameter of the Authorization header.
fn auth_param(req: &IncomingRequest, name: &str) -> String {
    let auth = header_values(&req.msg.headers, "authorization").join("");
    let auth = auth.strip_prefix("Digest ").unwrap_or(&auth);
    auth.split(", ")
        .find_map(|p| p.trim().strip_prefix(&format!("{name}=")))
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

/// Checks the digest response as the registrar would, from the request alone.
fn verify(req: &IncomingRequest, challenge: &str, password: &str) {
    let ch = Challenge::parse(challenge).unwrap();
    let expected = digest::authorization(
        &ch,
        Credentials {
            username: &auth_param(req, "username"),
            password,
        },
        RequestParts {
            method: "REGISTER",
            uri: &auth_param(req, "uri"),
        },
        u32::from_str_radix(&auth_param(req, "nc"), 16).unwrap_or(1),
        &auth_param(req, "cnonce"),
    );
    let want = expected
        .split("response=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(auth_param(req, "response"), want, "digest response");
}

const SHA_QOP: &str =
    "Digest realm=\"trunk.test\", nonce=\"s1\", algorithm=SHA-256, qop=\"auth\", opaque=\"op\"";

#[test]
fn sha256_qop_auth_then_stale_nonce_is_renewed_without_a_failure() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, vec![trunk("127.0.0.1:5060", "agent")]);
    ep.handle_timeout(t0);
    let first = one(&mut ep);
    ep.handle_datagram(
        t0,
        "127.0.0.1:5060".parse().unwrap(),
        &reply(&first, 401, &format!("WWW-Authenticate: {SHA_QOP}\r\n")),
    );
    let second = one(&mut ep);
    assert_eq!(auth_param(&second, "algorithm"), "SHA-256");
    assert_eq!(
        (
            auth_param(&second, "qop").as_str(),
            auth_param(&second, "nc").as_str()
        ),
        ("auth", "00000001")
    );
    assert_eq!(auth_param(&second, "opaque"), "op");
    assert_eq!(auth_param(&second, "response").len(), 64, "a SHA-256 digest");
    verify(&second, SHA_QOP, "agentpw");
    ep.handle_datagram(
        t0,
        "127.0.0.1:5060".parse().unwrap(),
        &reply(&second, 200, "Expires: 100\r\n"),
    );
    assert_eq!(
        statuses(&mut ep),
        vec![(TrunkId(0), RegistrationStatus::Registered { expires: 100 })]
    );

    // The refresh at 85 s reuses the nonce with the next nonce count (no extra round trip).
    let t1 = t0 + Duration::from_secs(85);
    ep.handle_timeout(t1);
    let refresh = one(&mut ep);
    assert_eq!(auth_param(&refresh, "nc"), "00000002");
    assert_ne!(
        auth_param(&refresh, "cnonce"),
        auth_param(&second, "cnonce"),
        "a fresh cnonce"
    );
    verify(&refresh, SHA_QOP, "agentpw");

    // The registrar has expired the nonce: stale=true means "right password, new nonce".
    let stale = SHA_QOP.replace("s1", "s2") + ", stale=true";
    ep.handle_datagram(
        t1,
        "127.0.0.1:5060".parse().unwrap(),
        &reply(&refresh, 401, &format!("WWW-Authenticate: {stale}\r\n")),
    );
    let renewed = one(&mut ep);
    assert_eq!(auth_param(&renewed, "nonce"), "s2");
    assert_eq!(
        auth_param(&renewed, "nc"),
        "00000001",
        "the count restarts for a new nonce"
    );
    verify(&renewed, &stale, "agentpw");
    assert!(
        statuses(&mut ep).is_empty(),
        "no failure is reported for a stale nonce"
    );
}

#[test]
fn a_registrar_that_forgot_our_nonce_gets_one_retry_and_a_wrong_password_no_more() {
    let t0 = Instant::now();
    let trunk_addr: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let mut ep = endpoint(t0, vec![trunk("127.0.0.1:5060", "agent")]);
    ep.handle_timeout(t0);
    let first = one(&mut ep);
    ep.handle_datagram(
        t0,
        trunk_addr,
        &reply(&first, 401, &format!("WWW-Authenticate: {SHA_QOP}\r\n")),
    );
    let second = one(&mut ep);
    ep.handle_datagram(t0, trunk_addr, &reply(&second, 200, "Expires: 100\r\n"));
    statuses(&mut ep);

    // The registrar restarted: it refuses our kept nonce with a new one, not marked stale. The kept
    // nonce earns one more try, with the new one.
    let t1 = t0 + Duration::from_secs(85);
    ep.handle_timeout(t1);
    let refresh = one(&mut ep);
    assert_eq!(auth_param(&refresh, "nonce"), "s1");
    let restarted = SHA_QOP.replace("s1", "r1");
    ep.handle_datagram(
        t1,
        trunk_addr,
        &reply(&refresh, 401, &format!("WWW-Authenticate: {restarted}\r\n")),
    );
    let retry = one(&mut ep);
    assert_eq!(auth_param(&retry, "nonce"), "r1");
    verify(&retry, &restarted, "agentpw");
    assert!(statuses(&mut ep).is_empty(), "no failure for a forgotten nonce");

    // A refusal of that fresh answer means the password is wrong: no third try.
    let again = SHA_QOP.replace("s1", "r2");
    ep.handle_datagram(
        t1,
        trunk_addr,
        &reply(&retry, 401, &format!("WWW-Authenticate: {again}\r\n")),
    );
    assert!(
        sent(&mut ep).is_empty(),
        "no retry after a fresh answer is refused"
    );
    assert!(matches!(
        statuses(&mut ep).as_slice(),
        [(
            _,
            RegistrationStatus::Failed {
                status: Some(401),
                ..
            }
        )]
    ));
}

#[test]
fn failures_back_off_exponentially_and_retry_after_is_honoured() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, vec![trunk("127.0.0.1:5060", "agent")]);
    let mut now = t0;
    ep.handle_timeout(now);
    let mut req = one(&mut ep);
    let mut gaps = Vec::new();
    for _ in 0..6 {
        ep.handle_datagram(now, "127.0.0.1:5060".parse().unwrap(), &reply(&req, 503, ""));
        assert!(matches!(
            statuses(&mut ep).as_slice(),
            [(
                _,
                RegistrationStatus::Failed {
                    status: Some(503),
                    ..
                }
            )]
        ));
        // Timer K of the finished transaction fires first and sends nothing; then the retry.
        let failed_at = now;
        let retry = loop {
            now = ep.poll_timeout().unwrap();
            ep.handle_timeout(now);
            let mut out = sent(&mut ep);
            if let Some((_, r)) = out.pop() {
                break r;
            }
        };
        gaps.push((now - failed_at).as_secs());
        req = retry;
    }
    assert_eq!(
        gaps,
        vec![30, 60, 120, 240, 300, 300],
        "doubling, capped at 5 minutes"
    );
    ep.handle_datagram(
        now,
        "127.0.0.1:5060".parse().unwrap(),
        &reply(&req, 503, "Retry-After: 17\r\n"),
    );
    let failed_at = now;
    loop {
        now = ep.poll_timeout().unwrap();
        ep.handle_timeout(now);
        if !sent(&mut ep).is_empty() {
            break;
        }
    }
    assert_eq!(
        now - failed_at,
        Duration::from_secs(17),
        "retried when the registrar asked"
    );
}

#[test]
fn interval_too_brief_is_answered_with_the_minimum() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, vec![trunk("127.0.0.1:5060", "agent")]);
    ep.handle_timeout(t0);
    let first = one(&mut ep);
    assert_eq!(first.msg.headers.get("expires"), Some("60"));
    ep.handle_datagram(
        t0,
        "127.0.0.1:5060".parse().unwrap(),
        &reply(&first, 423, "Min-Expires: 3600\r\n"),
    );
    let second = one(&mut ep);
    assert_eq!(second.msg.headers.get("expires"), Some("3600"));
    assert!(statuses(&mut ep).is_empty());
}

#[test]
fn several_trunks_register_independently_and_unregister_on_shutdown() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        vec![trunk("127.0.0.1:5060", "agent"), trunk("127.0.0.1:6060", "bob")],
    );
    ep.handle_timeout(t0);
    let mut first = sent(&mut ep);
    first.sort_by_key(|(dest, _)| *dest);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].0, "127.0.0.1:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(first[1].0, "127.0.0.1:6060".parse::<SocketAddr>().unwrap());
    assert_ne!(
        first[0].1.common.call_id, first[1].1.common.call_id,
        "one registration dialog each"
    );
    // The first trunk registers, the second refuses.
    ep.handle_datagram(t0, first[0].0, &reply(&first[0].1, 200, "Expires: 60\r\n"));
    ep.handle_datagram(t0, first[1].0, &reply(&first[1].1, 403, ""));
    let mut got = statuses(&mut ep);
    got.sort_by_key(|(t, _)| *t);
    assert_eq!(
        got[0],
        (TrunkId(0), RegistrationStatus::Registered { expires: 60 })
    );
    assert!(matches!(
        got[1],
        (
            TrunkId(1),
            RegistrationStatus::Failed {
                status: Some(403),
                ..
            }
        )
    ));

    ep.unregister_all(t0 + Duration::from_secs(5));
    let bye = sent(&mut ep);
    assert_eq!(bye.len(), 1, "only the registered trunk unregisters");
    assert_eq!(bye[0].0, "127.0.0.1:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(bye[0].1.msg.method, Method::Register);
    assert_eq!(bye[0].1.msg.headers.get("expires"), Some("0"));
    ep.handle_datagram(t0, bye[0].0, &reply(&bye[0].1, 200, ""));
    assert_eq!(
        statuses(&mut ep),
        vec![(TrunkId(0), RegistrationStatus::Unregistered)]
    );
    assert!(!ep.is_busy());
}
