//! Inbound calls in virtual time: a trunk's INVITE (known by its address, or by digest credentials we
//! challenge for) is offered to the application, which accepts it with an answer or rejects it; anyone
//! else gets the same 403 whether the user exists or the password is wrong, and repeated failures get
//! the source banned.
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::call::{CallEvent, HangupBy};
use sip_stack::digest::{self, Challenge, Credentials, RequestParts};
use sip_stack::message::{Incoming, IncomingResponse, Limits, Method, header_values, parse};
use sip_stack::{Endpoint, EndpointConfig, Event, IncomingCall, TrunkConfig, TrunkCredentials, TrunkId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LOCAL: &str = "127.0.0.1:5080";
const TRUNK: &str = "127.0.0.1:5060";
const STRANGER: &str = "127.0.0.9:5060";
const OFFER: &str = "v=0\r\no=carrier 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const ANSWER: &str = "v=0\r\no=ringback 9 9 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn endpoint(t0: Instant, digest_trunk: bool) -> Endpoint {
    let mut config = EndpointConfig::new(LOCAL.parse().unwrap());
    config.seed = Some(5);
    let mut trunk = TrunkConfig::new("carrier", TRUNK.parse().unwrap());
    trunk.inbound.sources = vec!["10.1.2.0/24".parse().unwrap()];
    let mut trunks = vec![trunk];
    if digest_trunk {
        let mut pbx = TrunkConfig::new("pbx", "127.0.0.3:5060".parse().unwrap());
        pbx.inbound.credentials = Some(TrunkCredentials {
            username: "pbx".into(),
            auth_username: None,
            password: "pbxsecret".into(),
        });
        trunks.push(pbx);
    }
    Endpoint::new(t0, config, trunks)
}

fn invite(branch: &str, call_id: &str, cseq: u32, source: &str, auth: Option<&str>) -> Vec<u8> {
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "INVITE sip:+4930123456@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {source};branch={branch}\r\n\
Max-Forwards: 70\r\nFrom: \"Caller\" <sip:+15557654321@carrier.test>;tag=c1\r\n\
To: <sip:+4930123456@ringback.test>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n\
Contact: <sip:+15557654321@{source}>\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    )
    .into_bytes()
}

fn in_dialog(method: &str, cseq: u32, to_tag: &str, source: &str) -> Vec<u8> {
    format!(
        "{method} sip:ringback@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {source};branch=z9hG4bK{method}{cseq}\r\n\
Max-Forwards: 70\r\nFrom: \"Caller\" <sip:+15557654321@carrier.test>;tag=c1\r\n\
To: <sip:+4930123456@ringback.test>;tag={to_tag}\r\nCall-ID: in-1@carrier\r\nCSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn responses(ep: &mut Endpoint, to: &str) -> Vec<IncomingResponse> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| {
            assert_eq!(t.destination, to.parse::<SocketAddr>().unwrap());
            match parse(&t.payload, &Limits::default()).unwrap() {
                Incoming::Response(r) => r,
                Incoming::Request(r) => panic!("expected a response, got {:?}", r.msg.method),
            }
        })
        .collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn incoming(ep: &mut Endpoint) -> IncomingCall {
    let evs = events(ep);
    match &evs[..] {
        [Event::Incoming(call)] => call.clone(),
        other => panic!("expected one incoming call, got {other:?}"),
    }
}

#[test]
fn a_trunk_call_is_offered_accepted_and_ended_by_the_caller() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    ep.handle_datagram(
        t0,
        TRUNK.parse().unwrap(),
        &invite("z9hG4bKi1", "in-1@carrier", 1, TRUNK, None),
    );
    let sent = responses(&mut ep, TRUNK);
    assert_eq!(sent.iter().map(|r| r.status).collect::<Vec<_>>(), vec![100]);
    let call = incoming(&mut ep);
    assert_eq!(call.trunk, TrunkId(0));
    assert_eq!(
        call.to_user, "+4930123456",
        "the dialled number selects the workflow"
    );
    assert_eq!(call.from_user.as_deref(), Some("+15557654321"));
    assert_eq!(call.sdp, OFFER.as_bytes());

    ep.ring(t0, call.call).unwrap();
    assert_eq!(responses(&mut ep, TRUNK)[0].status, 180);
    ep.accept(t0 + Duration::from_secs(1), call.call, ANSWER.as_bytes().to_vec())
        .unwrap();
    let ok = responses(&mut ep, TRUNK).pop().unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.msg.body, ANSWER.as_bytes());
    let to_tag = ok.common.to_tag.clone().expect("a To tag on the 2xx");
    assert!(!header_values(&ok.msg.headers, "contact").is_empty());

    // Unacknowledged, the 2xx is retransmitted by the core (RFC 3261 13.3.1.4).
    ep.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(responses(&mut ep, TRUNK).pop().unwrap().status, 200);
    ep.handle_datagram(
        t0 + Duration::from_secs(2),
        TRUNK.parse().unwrap(),
        &in_dialog("ACK", 1, &to_tag, TRUNK),
    );
    let evs = events(&mut ep);
    assert!(
        matches!(&evs[..], [Event::Call { event: CallEvent::Answered { sdp }, .. }] if sdp == OFFER.as_bytes()),
        "{evs:?}"
    );
    ep.handle_timeout(t0 + Duration::from_secs(10));
    assert!(responses(&mut ep, TRUNK).is_empty(), "no 2xx after the ACK");

    ep.handle_datagram(
        t0 + Duration::from_secs(20),
        TRUNK.parse().unwrap(),
        &in_dialog("BYE", 2, &to_tag, TRUNK),
    );
    assert_eq!(responses(&mut ep, TRUNK)[0].status, 200);
    let evs = events(&mut ep);
    assert!(matches!(
        &evs[..],
        [Event::Call { call: c, event: CallEvent::Ended(cause) }] if *c == call.call && cause.by == HangupBy::Remote && cause.answered
    ));
    assert_eq!(ep.call_count(), 0);
}

#[test]
fn the_application_can_refuse_and_the_caller_can_cancel() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    // From one of the trunk's configured source networks.
    let carrier = "10.1.2.7:5060";
    ep.handle_datagram(
        t0,
        carrier.parse().unwrap(),
        &invite("z9hG4bKr1", "r-1@carrier", 1, carrier, None),
    );
    responses(&mut ep, carrier);
    let call = incoming(&mut ep);
    ep.reject(t0, call.call, 486).unwrap();
    let busy = responses(&mut ep, carrier).pop().unwrap();
    assert_eq!((busy.status, busy.msg.reason.as_str()), (486, "Busy Here"));
    assert!(
        matches!(&events(&mut ep)[..], [Event::Call { event: CallEvent::Ended(c), .. }] if c.status == Some(486))
    );

    // A CANCEL while we wait: 200 for the CANCEL, 487 for the INVITE, and the call ends.
    ep.handle_datagram(
        t0,
        TRUNK.parse().unwrap(),
        &invite("z9hG4bKc1", "c-1@carrier", 1, TRUNK, None),
    );
    responses(&mut ep, TRUNK);
    let call = incoming(&mut ep);
    let cancel = String::from_utf8(invite("z9hG4bKc1", "c-1@carrier", 1, TRUNK, None))
        .unwrap()
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("1 INVITE", "1 CANCEL");
    let cancel = cancel.split("Content-Type").next().unwrap().to_owned() + "Content-Length: 0\r\n\r\n";
    ep.handle_datagram(t0, TRUNK.parse().unwrap(), cancel.as_bytes());
    let statuses: Vec<(u16, Method)> = responses(&mut ep, TRUNK)
        .into_iter()
        .map(|r| (r.status, r.common.cseq_method))
        .collect();
    assert!(
        statuses.contains(&(200, Method::Cancel)) && statuses.contains(&(487, Method::Invite)),
        "{statuses:?}"
    );
    assert!(
        matches!(&events(&mut ep)[..], [Event::Call { call: c, event: CallEvent::Ended(cause) }] if *c == call.call && cause.by == HangupBy::Remote)
    );
    assert!(
        ep.accept(t0, call.call, ANSWER.into()).is_err(),
        "a cancelled call cannot be answered"
    );
}

#[test]
fn strangers_get_403_and_digest_trunks_are_challenged() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, true);
    let stranger: SocketAddr = STRANGER.parse().unwrap();

    // No credentials: challenged (a digest trunk exists), nothing else said.
    ep.handle_datagram(t0, stranger, &invite("z9hG4bKs1", "s-1@x", 1, STRANGER, None));
    let sent = responses(&mut ep, STRANGER);
    let challenge = sent.last().unwrap();
    assert_eq!(challenge.status, 407);
    assert!(
        header_values(&challenge.msg.headers, "server").is_empty(),
        "no Server header for strangers"
    );
    let header = header_values(&challenge.msg.headers, "proxy-authenticate")[0].clone();
    let ch = Challenge::parse(&header).unwrap();
    let uri = format!("sip:+4930123456@{LOCAL}");
    let answer = |user: &str, password: &str| {
        digest::authorization(
            &ch,
            Credentials {
                username: user,
                password,
            },
            RequestParts {
                method: "INVITE",
                uri: &uri,
            },
            1,
            "cn1",
        )
    };

    // Unknown user and wrong password get the same answer.
    let mut refusals = Vec::new();
    for (i, (user, password)) in [("nobody", "pbxsecret"), ("pbx", "wrong")]
        .into_iter()
        .enumerate()
    {
        let auth = answer(user, password);
        ep.handle_datagram(
            t0,
            stranger,
            &invite(
                &format!("z9hG4bKs2{i}"),
                "s-1@x",
                2 + i as u32,
                STRANGER,
                Some(&auth),
            ),
        );
        let r = responses(&mut ep, STRANGER).pop().unwrap();
        refusals.push((
            r.status,
            r.msg.reason.clone(),
            header_values(&r.msg.headers, "proxy-authenticate").len(),
        ));
    }
    assert_eq!(
        refusals[0], refusals[1],
        "unknown user and wrong password look the same"
    );
    assert_eq!(refusals[0].0, 403);
    assert!(events(&mut ep).is_empty());

    // The right password, but an answer without the qop our challenge requires, or for another
    // Request-URI: refused like a wrong password.
    let no_qop = Challenge {
        qop_auth: false,
        ..ch.clone()
    };
    let other_uri = format!("sip:+19005550123@{LOCAL}");
    for (i, (challenge, uri)) in [(&no_qop, uri.as_str()), (&ch, other_uri.as_str())]
        .into_iter()
        .enumerate()
    {
        let auth = digest::authorization(
            challenge,
            Credentials {
                username: "pbx",
                password: "pbxsecret",
            },
            RequestParts {
                method: "INVITE",
                uri,
            },
            1,
            "cn1",
        );
        ep.handle_datagram(
            t0,
            stranger,
            &invite(
                &format!("z9hG4bKq{i}"),
                "s-1@x",
                10 + i as u32,
                STRANGER,
                Some(&auth),
            ),
        );
        let r = responses(&mut ep, STRANGER).pop().unwrap();
        assert_eq!(r.status, 403, "case {i}: {auth}");
    }
    assert!(events(&mut ep).is_empty());

    // The right credentials: the call is the digest trunk's.
    let auth = answer("pbx", "pbxsecret");
    ep.handle_datagram(
        t0,
        stranger,
        &invite("z9hG4bKs4", "s-1@x", 4, STRANGER, Some(&auth)),
    );
    let call = incoming(&mut ep);
    assert_eq!(call.trunk, TrunkId(1));
    // The nonce was used up: replaying the same credentials is challenged again (stale), not taken.
    ep.handle_datagram(
        t0,
        stranger,
        &invite("z9hG4bKs5", "s-2@x", 1, STRANGER, Some(&auth)),
    );
    let again = responses(&mut ep, STRANGER).pop().unwrap();
    assert_eq!(again.status, 407);
    assert!(header_values(&again.msg.headers, "proxy-authenticate")[0].contains("stale=true"));
    assert!(events(&mut ep).is_empty(), "a replay makes no call");
}

#[test]
fn repeated_failures_get_a_source_banned_for_a_while() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, false);
    let stranger: SocketAddr = STRANGER.parse().unwrap();
    let mut banned = None;
    for i in 0..10u32 {
        ep.handle_datagram(
            t0,
            stranger,
            &invite(&format!("z9hG4bKb{i}"), &format!("b-{i}@x"), 1, STRANGER, None),
        );
        let sent = responses(&mut ep, STRANGER);
        if banned.is_none() {
            assert_eq!(sent.last().map(|r| r.status), Some(403), "refused before the ban");
        } else {
            assert!(sent.is_empty(), "a banned source is dropped unanswered");
        }
        for e in events(&mut ep) {
            if let Event::Banned { ip, reason } = e {
                assert_eq!(ip, stranger.ip());
                banned.get_or_insert((i, reason));
            }
        }
    }
    let (after, _reason) = banned.expect("a ban after repeated refusals");
    assert_eq!(after, 4, "the fifth failure in a minute bans");

    // The trunk itself is never banned and still gets through.
    ep.handle_datagram(
        t0,
        TRUNK.parse().unwrap(),
        &invite("z9hG4bKt1", "t-1@carrier", 1, TRUNK, None),
    );
    responses(&mut ep, TRUNK);
    assert!(matches!(&events(&mut ep)[..], [Event::Incoming(_)]));

    // A scanner user agent is banned on sight, even for an OPTIONS.
    let scanner = "127.0.0.10:5060";
    let options = format!(
        "OPTIONS sip:100@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {scanner};branch=z9hG4bKscan\r\nMax-Forwards: 70\r\n\
From: <sip:100@x>;tag=s\r\nTo: <sip:100@x>\r\nCall-ID: scan@x\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\n\
Content-Length: 0\r\n\r\n"
    );
    ep.handle_datagram(t0, scanner.parse().unwrap(), options.as_bytes());
    assert!(
        std::iter::from_fn(|| ep.poll_transmit()).next().is_none(),
        "scanners get no answer"
    );
    assert!(events(&mut ep).iter().any(|e| matches!(e, Event::Banned { .. })));

    // The ban lapses (ten minutes by default).
    let later = t0 + Duration::from_secs(601);
    ep.handle_timeout(later);
    ep.handle_datagram(
        later,
        stranger,
        &invite("z9hG4bKlate", "late@x", 1, STRANGER, None),
    );
    assert_eq!(responses(&mut ep, STRANGER).last().map(|r| r.status), Some(403));
}
