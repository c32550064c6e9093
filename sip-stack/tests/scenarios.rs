//! Deterministic scenarios: the endpoint against a scripted trunk in virtual time. The trunk side is
//! written out by hand in each test so every byte the endpoint must produce is checked.
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::call::{CallEvent, HangupBy, InviteParams};
use sip_stack::digest::{self, Challenge, Credentials, RequestParts};
use sip_stack::message::{Incoming, IncomingRequest, Limits, Method, header_values, parse};
use sip_stack::{
    Endpoint, EndpointConfig, Event, RegistrationStatus, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LOCAL: &str = "127.0.0.1:5080";
const TRUNK: &str = "127.0.0.1:5060";

fn trunk(register: bool) -> TrunkConfig {
    TrunkConfig {
        name: "test".into(),
        proxy: TRUNK.parse().unwrap(),
        domain: "trunk.test".into(),
        credentials: Some(TrunkCredentials {
            username: "agent".into(),
            auth_username: None,
            password: "agentpw".into(),
        }),
        register,
        register_expires: 60,
        ..TrunkConfig::new("test", TRUNK.parse().unwrap())
    }
}

fn endpoint(t0: Instant, register: bool) -> Endpoint {
    let mut config = EndpointConfig::new(LOCAL.parse().unwrap());
    config.seed = Some(7);
    Endpoint::new(t0, config, vec![trunk(register)])
}

/// Everything the endpoint wants to send, parsed as requests.
fn sent_requests(ep: &mut Endpoint) -> Vec<IncomingRequest> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        assert_eq!(t.destination, TRUNK.parse::<SocketAddr>().unwrap());
        match parse(&t.payload, &Limits::default()) {
            Ok(Incoming::Request(r)) => out.push(r),
            other => panic!("expected a request, got {other:?}"),
        }
    }
    out
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

/// A response to `req` as the trunk would write it.
fn reply(
    req: &IncomingRequest,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    let h = |name| header_values(&req.msg.headers, name).join(", ");
    let to = match to_tag {
        Some(tag) => format!("{};tag={tag}", h("to")),
        None => h("to"),
    };
    format!(
        "SIP/2.0 {status} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        h("via"),
        h("from"),
        h("call-id"),
        h("cseq"),
        body.len()
    )
    .into_bytes()
}

fn feed(ep: &mut Endpoint, now: Instant, bytes: &[u8]) {
    ep.handle_datagram(now, TRUNK.parse().unwrap(), bytes);
}

fn check_digest(req: &IncomingRequest, header: &str, method: &str, nonce: &str) {
    let auth = header_values(&req.msg.headers, header);
    assert_eq!(auth.len(), 1, "one {header} header");
    let uri = req.msg.uri.to_string();
    let ch = Challenge::parse(&format!("Digest realm=\"trunk.test\", nonce=\"{nonce}\"")).unwrap();
    let expected = digest::authorization(
        &ch,
        Credentials {
            username: "agent",
            password: "agentpw",
        },
        RequestParts { method, uri: &uri },
        1,
        "ignored-without-qop",
    );
    let response = |s: &str| {
        s.split("response=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        response(&auth[0]),
        response(&expected),
        "digest response for {method}"
    );
}

#[test]
fn registers_through_a_401_challenge_and_refreshes_at_85_percent() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, true);
    ep.handle_timeout(t0);
    let sent = sent_requests(&mut ep);
    assert_eq!(sent.len(), 1);
    let first = &sent[0];
    assert_eq!(first.msg.method, Method::Register);
    assert!(header_values(&first.msg.headers, "authorization").is_empty());

    // The first REGISTER is lost: Timer E retransmits it after T1, same branch.
    ep.handle_timeout(t0 + Duration::from_millis(500));
    let again = sent_requests(&mut ep);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].common.branch, first.common.branch);

    let challenge = "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"n1\"\r\n";
    feed(
        &mut ep,
        t0 + Duration::from_millis(600),
        &reply(first, 401, "Unauthorized", Some("r1"), challenge, ""),
    );
    let sent = sent_requests(&mut ep);
    assert_eq!(sent.len(), 1, "re-sent with credentials");
    let second = &sent[0];
    assert_ne!(second.common.branch, first.common.branch, "a new transaction");
    assert_eq!(second.common.cseq, first.common.cseq + 1);
    assert_eq!(second.common.call_id, first.common.call_id);
    check_digest(second, "authorization", "REGISTER", "n1");

    let contact = "Contact: <sip:agent@127.0.0.1:5080>;expires=60\r\n";
    let t1 = t0 + Duration::from_secs(1);
    feed(&mut ep, t1, &reply(second, 200, "OK", Some("r1"), contact, ""));
    assert_eq!(
        events(&mut ep),
        vec![Event::Registration {
            trunk: TrunkId(0),
            status: RegistrationStatus::Registered { expires: 60 }
        }]
    );
    // Nothing until 85% of 60 s.
    ep.handle_timeout(t1 + Duration::from_secs(50));
    assert!(sent_requests(&mut ep).is_empty());
    ep.handle_timeout(t1 + Duration::from_secs(51));
    let refresh = sent_requests(&mut ep);
    assert_eq!(refresh.len(), 1);
    assert_eq!(refresh[0].msg.method, Method::Register);
}

#[test]
fn wrong_password_is_not_retried_in_a_loop() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, true);
    ep.handle_timeout(t0);
    let first = sent_requests(&mut ep).remove(0);
    let challenge = "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"n1\"\r\n";
    feed(
        &mut ep,
        t0,
        &reply(&first, 401, "Unauthorized", None, challenge, ""),
    );
    let second = sent_requests(&mut ep).remove(0);
    let challenge2 = "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"n2\"\r\n";
    feed(
        &mut ep,
        t0,
        &reply(&second, 401, "Unauthorized", None, challenge2, ""),
    );
    assert!(sent_requests(&mut ep).is_empty(), "no third attempt right away");
    assert!(matches!(
        events(&mut ep).as_slice(),
        [Event::Registration {
            status: RegistrationStatus::Failed {
                status: Some(401),
                ..
            },
            ..
        }]
    ));
}

#[test]
fn outbound_call_with_407_ringing_answer_and_remote_bye() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let offer = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
    let call = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "+15551234567".into(),
                sdp_offer: offer.clone(),
            },
        )
        .unwrap();
    let invite = sent_requests(&mut ep).remove(0);
    assert_eq!(invite.msg.uri.to_string(), "sip:+15551234567@trunk.test");
    assert_eq!(invite.msg.body, offer);

    let challenge = "Proxy-Authenticate: Digest realm=\"trunk.test\", nonce=\"n7\"\r\n";
    feed(
        &mut ep,
        t0,
        &reply(
            &invite,
            407,
            "Proxy Authentication Required",
            Some("p1"),
            challenge,
            "",
        ),
    );
    let sent = sent_requests(&mut ep);
    assert_eq!(sent.len(), 2, "ACK for the 407, then the authorized INVITE");
    assert_eq!(sent[0].msg.method, Method::Ack);
    assert_eq!(
        sent[0].common.branch, invite.common.branch,
        "the ACK of a failure shares its branch"
    );
    assert_eq!(sent[0].common.cseq, invite.common.cseq);
    let invite2 = &sent[1];
    assert_eq!(invite2.msg.method, Method::Invite);
    assert_eq!(invite2.common.cseq, invite.common.cseq + 1);
    assert_eq!(invite2.common.from_tag, invite.common.from_tag);
    check_digest(invite2, "proxy-authorization", "INVITE", "n7");

    feed(
        &mut ep,
        t0,
        &reply(invite2, 180, "Ringing", Some("callee"), "", ""),
    );
    let answer = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 10000 RTP/AVP 0\r\n";
    let ok_headers = "Record-Route: <sip:127.0.0.1:5060;lr>\r\nContact: <sip:alice@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\n";
    let ok = reply(invite2, 200, "OK", Some("callee"), ok_headers, answer);
    feed(&mut ep, t0, &ok);
    let acks = sent_requests(&mut ep);
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    assert_eq!(ack.msg.method, Method::Ack);
    assert_eq!(
        ack.msg.uri.to_string(),
        "sip:alice@127.0.0.1:5070",
        "ACK goes to the remote target"
    );
    assert_eq!(
        header_values(&ack.msg.headers, "route"),
        vec!["<sip:127.0.0.1:5060;lr>"]
    );
    assert_ne!(
        ack.common.branch, invite2.common.branch,
        "the ACK of a 2xx is its own transaction"
    );
    assert_eq!(ack.common.to_tag.as_deref(), Some("callee"));

    // The 2xx is retransmitted (our ACK was lost): ACK again.
    feed(&mut ep, t0 + Duration::from_millis(500), &ok);
    assert_eq!(sent_requests(&mut ep).len(), 1);

    let evs = events(&mut ep);
    assert!(matches!(
        &evs[0],
        Event::Call {
            event: CallEvent::Progress { status: 180, .. },
            ..
        }
    ));
    assert!(
        matches!(&evs[1], Event::Call { event: CallEvent::Answered { sdp }, .. } if sdp == answer.as_bytes())
    );

    // The callee hangs up.
    let bye = format!(
        "BYE sip:agent@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbye1\r\n\
From: {};tag=callee\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n",
        header_values(&invite2.msg.headers, "to")[0],
        header_values(&invite2.msg.headers, "from")[0],
        invite2.common.call_id
    );
    feed(&mut ep, t0 + Duration::from_secs(5), bye.as_bytes());
    let t = ep.poll_transmit().unwrap();
    let Ok(Incoming::Response(ok)) = parse(&t.payload, &Limits::default()) else {
        panic!("a response")
    };
    assert_eq!((ok.status, ok.common.cseq_method), (200, Method::Bye));
    // A retransmitted BYE gets the same answer again.
    feed(&mut ep, t0 + Duration::from_secs(6), bye.as_bytes());
    assert_eq!(ep.poll_transmit().unwrap().payload, t.payload);
    let evs = events(&mut ep);
    assert!(matches!(
        &evs[..],
        [Event::Call { call: c, event: CallEvent::Ended(cause) }] if *c == call && cause.by == HangupBy::Remote && cause.answered
    ));
}

#[test]
fn local_hangup_sends_bye_through_the_route_set() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let call = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "+15551234567".into(),
                sdp_offer: b"v=0\r\n".to_vec(),
            },
        )
        .unwrap();
    let invite = sent_requests(&mut ep).remove(0);
    let ok_headers = "Record-Route: <sip:127.0.0.1:5060;lr>\r\nContact: <sip:alice@127.0.0.1:5070>\r\n";
    feed(
        &mut ep,
        t0,
        &reply(&invite, 200, "OK", Some("callee"), ok_headers, ""),
    );
    sent_requests(&mut ep);
    events(&mut ep);
    ep.hangup(t0 + Duration::from_secs(3), call).unwrap();
    let bye = sent_requests(&mut ep).remove(0);
    assert_eq!(bye.msg.method, Method::Bye);
    assert_eq!(bye.msg.uri.to_string(), "sip:alice@127.0.0.1:5070");
    assert_eq!(
        header_values(&bye.msg.headers, "route"),
        vec!["<sip:127.0.0.1:5060;lr>"]
    );
    assert_eq!(bye.common.cseq, invite.common.cseq + 1);
    feed(
        &mut ep,
        t0 + Duration::from_secs(3),
        &reply(&bye, 200, "OK", None, "", ""),
    );
    assert!(matches!(
        &events(&mut ep)[..],
        [Event::Call { event: CallEvent::Ended(cause), .. }] if cause.by == HangupBy::Local && cause.answered
    ));
    assert!(!ep.is_busy());
}

#[test]
fn busy_and_no_answer_end_the_call_with_the_status_kept() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    ep.invite(
        t0,
        InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15550000486".into(),
            sdp_offer: vec![],
        },
    )
    .unwrap();
    let invite = sent_requests(&mut ep).remove(0);
    feed(&mut ep, t0, &reply(&invite, 486, "Busy Here", Some("x"), "", ""));
    assert_eq!(sent_requests(&mut ep)[0].msg.method, Method::Ack);
    assert!(matches!(
        &events(&mut ep)[..],
        [Event::Call { event: CallEvent::Ended(c), .. }] if c.status == Some(486) && c.reason == "Busy Here" && !c.answered
    ));

    // Nothing ever answers: Timer B ends the call after 64*T1, with no status.
    ep.invite(
        t0,
        InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551111111".into(),
            sdp_offer: vec![],
        },
    )
    .unwrap();
    sent_requests(&mut ep);
    let mut now = t0;
    while let Some(at) = ep.poll_timeout() {
        now = at;
        ep.handle_timeout(now);
        sent_requests(&mut ep);
        if !ep.is_busy() {
            break;
        }
    }
    assert_eq!(now - t0, Duration::from_secs(32));
    assert!(
        matches!(&events(&mut ep)[..], [Event::Call { event: CallEvent::Ended(c), .. }] if c.status.is_none() && !c.answered)
    );
}

#[test]
fn cancel_before_answer_ends_with_487() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let call = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "+15551234567".into(),
                sdp_offer: vec![],
            },
        )
        .unwrap();
    let invite = sent_requests(&mut ep).remove(0);
    ep.hangup(t0, call).unwrap();
    assert!(
        sent_requests(&mut ep).is_empty(),
        "no CANCEL before a provisional response"
    );
    feed(&mut ep, t0, &reply(&invite, 180, "Ringing", Some("c"), "", ""));
    let cancel = sent_requests(&mut ep).remove(0);
    assert_eq!(cancel.msg.method, Method::Cancel);
    assert_eq!(cancel.common.branch, invite.common.branch);
    feed(&mut ep, t0, &reply(&cancel, 200, "OK", Some("c"), "", ""));
    feed(
        &mut ep,
        t0,
        &reply(&invite, 487, "Request Terminated", Some("c"), "", ""),
    );
    assert_eq!(sent_requests(&mut ep)[0].msg.method, Method::Ack);
    let evs = events(&mut ep);
    assert!(matches!(
        evs.last(),
        Some(Event::Call { event: CallEvent::Ended(c), .. }) if c.status == Some(487) && c.by == HangupBy::Local
    ));
}

#[test]
fn stray_requests_get_proper_answers_and_garbage_is_counted() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let from: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let options = "OPTIONS sip:agent@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKo1;rport\r\n\
From: <sip:x@y>;tag=a\r\nTo: <sip:agent@127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    ep.handle_datagram(t0, from, options.as_bytes());
    let t = ep.poll_transmit().unwrap();
    assert_eq!(t.destination, from);
    assert!(String::from_utf8_lossy(&t.payload).starts_with("SIP/2.0 200 OK"));
    let bye = options
        .replace("OPTIONS", "BYE")
        .replace("z9hG4bKo1", "z9hG4bKo2");
    ep.handle_datagram(t0, from, bye.as_bytes());
    assert!(String::from_utf8_lossy(&ep.poll_transmit().unwrap().payload).starts_with("SIP/2.0 481"));
    ep.handle_datagram(t0, from, b"\x00\x01garbage\r\n\r\n");
    assert!(ep.poll_transmit().is_none());
    assert_eq!(events(&mut ep), vec![Event::Malformed { from }]);
}

/// Every datagram the endpoint wants to send, as text.
fn sent_text(ep: &mut Endpoint) -> Vec<(SocketAddr, String)> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| (t.destination, String::from_utf8_lossy(&t.payload).into_owned()))
        .collect()
}

#[test]
fn malformed_and_unsupported_requests_are_refused_with_the_right_status() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let scanner: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let base = "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKm1\r\nFrom: <sip:x@h>;tag=1\r\n\
To: <sip:agent@127.0.0.1>\r\nCall-ID: bad-1\r\nMax-Forwards: 70\r\n";
    // RFC 4475 3.1.2.9: multiple spaces in the request line.
    let lwsstart =
        format!("INVITE  sip:agent@127.0.0.1  SIP/2.0\r\n{base}CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    ep.handle_datagram(t0, scanner, lwsstart.as_bytes());
    let sent = sent_text(&mut ep);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, scanner, "answered at the source address");
    assert!(sent[0].1.starts_with("SIP/2.0 400 "), "{}", sent[0].1);
    assert!(sent[0].1.contains("Call-ID: bad-1\r\n") && sent[0].1.contains("CSeq: 1 INVITE\r\n"));
    assert!(matches!(events(&mut ep).as_slice(), [Event::Malformed { .. }]));

    let version =
        format!("OPTIONS sip:agent@127.0.0.1 SIP/3.0\r\n{base}CSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    ep.handle_datagram(t0, scanner, version.as_bytes());
    assert!(sent_text(&mut ep)[0].1.starts_with("SIP/2.0 505 "));

    let require = format!(
        "OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\n{}CSeq: 3 OPTIONS\r\nRequire: 100rel, foo\r\nContent-Length: 0\r\n\r\n",
        base.replace("z9hG4bKm1", "z9hG4bKm3")
    );
    ep.handle_datagram(t0, scanner, require.as_bytes());
    let sent = sent_text(&mut ep);
    assert!(sent[0].1.starts_with("SIP/2.0 420 "), "{}", sent[0].1);
    assert!(sent[0].1.contains("Unsupported: 100rel, foo\r\n"));

    // A raw NUL inside a header value (it would cut the value short in C peers and logs).
    let nul = format!(
        "OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\n{}CSeq: 5 OPTIONS\r\nSubject: hi\0there\r\nContent-Length: 0\r\n\r\n",
        base.replace("z9hG4bKm1", "z9hG4bKm5")
    );
    ep.handle_datagram(t0, scanner, nul.as_bytes());
    let sent = sent_text(&mut ep);
    assert!(sent[0].1.starts_with("SIP/2.0 400 "), "{}", sent[0].1);

    // An ACK is never answered, however broken.
    ep.handle_datagram(t0, scanner, b"ACK  sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n");
    assert!(sent_text(&mut ep).is_empty());

    // And the endpoint still serves: a clean OPTIONS gets 200.
    let options = format!(
        "OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\n{}CSeq: 4 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        base.replace("z9hG4bKm1", "z9hG4bKm4")
    );
    ep.handle_datagram(t0, scanner, options.as_bytes());
    assert!(sent_text(&mut ep)[0].1.starts_with("SIP/2.0 200 "));
}

#[test]
fn early_media_sdp_of_a_183_is_reported_to_the_application() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    ep.invite(
        t0,
        InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551234567".into(),
            sdp_offer: b"v=0\r\n".to_vec(),
        },
    )
    .unwrap();
    let invite = sent_requests(&mut ep).remove(0);
    let sdp =
        "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\n";
    let extra = "Content-Type: application/sdp\r\n";
    feed(
        &mut ep,
        t0,
        &reply(&invite, 183, "Session Progress", Some("e1"), extra, sdp),
    );
    feed(&mut ep, t0, &reply(&invite, 180, "Ringing", Some("e1"), "", ""));
    let got = events(&mut ep);
    assert!(
        matches!(&got[..], [
            Event::Call { event: CallEvent::Progress { status: 183, sdp: Some(body), .. }, .. },
            Event::Call { event: CallEvent::Progress { status: 180, sdp: None, .. }, .. },
        ] if body == sdp.as_bytes()),
        "{got:?}"
    );
}
