//! Calls after the answer, in virtual time against a scripted trunk: re-INVITEs in both directions
//! (hold and resume, a codec change, an offerless re-INVITE), RFC 4028 session timers (we refresh, or
//! we end the call when the peer's refresh never comes), and OPTIONS keep-alives that report the
//! trunk down and up again; blind transfer by REFER with its NOTIFYs, and two linked legs ending
//! together.
#![allow(clippy::disallowed_methods)] // virtual time needs an arbitrary origin
#![allow(clippy::unwrap_used)]

use sip_stack::call::{CallEvent, HangupBy, InviteParams};
use sip_stack::message::{Incoming, IncomingRequest, IncomingResponse, Limits, Method, header_values, parse};
use sip_stack::sdp::{self, Direction};
use sip_stack::{CallHandle, Endpoint, EndpointConfig, Event, SessionTimerConfig, TrunkConfig, TrunkId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const LOCAL: &str = "127.0.0.1:5080";
const TRUNK: &str = "127.0.0.1:5060";
const OFFER: &str = "v=0\r\no=ringback 42 42 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n";

fn peer_sdp(version: u32, port: u16, formats: &str, direction: &str) -> String {
    let rtpmap: String = formats
        .split(' ')
        .map(|pt| match pt {
            "0" => "a=rtpmap:0 PCMU/8000\r\n".to_owned(),
            "8" => "a=rtpmap:8 PCMA/8000\r\n".to_owned(),
            other => format!("a=rtpmap:{other} telephone-event/8000\r\n"),
        })
        .collect();
    format!(
        "v=0\r\no=peer 7 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP {formats}\r\n{rtpmap}a={direction}\r\n"
    )
}

fn endpoint(t0: Instant, timers: SessionTimerConfig, keepalive: Option<Duration>) -> Endpoint {
    let mut config = EndpointConfig::new(LOCAL.parse().unwrap());
    config.seed = Some(3);
    config.session_timers = timers;
    let mut trunk = TrunkConfig::new("test", TRUNK.parse().unwrap());
    trunk.domain = "trunk.test".into();
    trunk.keepalive = keepalive;
    Endpoint::new(t0, config, vec![trunk])
}

fn sent(ep: &mut Endpoint) -> Vec<Incoming> {
    std::iter::from_fn(|| ep.poll_transmit())
        .map(|t| {
            assert_eq!(t.destination, TRUNK.parse::<SocketAddr>().unwrap());
            parse(&t.payload, &Limits::default()).unwrap()
        })
        .collect()
}

fn requests(ep: &mut Endpoint) -> Vec<IncomingRequest> {
    sent(ep)
        .into_iter()
        .map(|m| match m {
            Incoming::Request(r) => r,
            Incoming::Response(r) => panic!("expected a request, got {}", r.status),
        })
        .collect()
}

fn responses(ep: &mut Endpoint) -> Vec<IncomingResponse> {
    sent(ep)
        .into_iter()
        .map(|m| match m {
            Incoming::Response(r) => r,
            Incoming::Request(r) => panic!("expected a response, got {:?}", r.msg.method),
        })
        .collect()
}

fn call_events(ep: &mut Endpoint) -> Vec<CallEvent> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::Call { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

fn reply(req: &IncomingRequest, status: u16, extra: &str, body: &str) -> Vec<u8> {
    let h = |name| header_values(&req.msg.headers, name).join(", ");
    let to = if req.common.to_tag.is_some() {
        h("to")
    } else {
        format!("{};tag=callee", h("to"))
    };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "SIP/2.0 {status} Whatever\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
Contact: <sip:alice@127.0.0.1:5060>\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
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

/// An answered outbound call; returns it with its INVITE (for the dialog's identifiers).
fn answered_call(ep: &mut Endpoint, t0: Instant, ok_extra: &str) -> (CallHandle, IncomingRequest) {
    let call = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "+15551234567".into(),
                sdp_offer: OFFER.as_bytes().to_vec(),
            },
        )
        .unwrap();
    let invite = requests(ep).remove(0);
    feed(
        ep,
        t0,
        &reply(&invite, 200, ok_extra, &peer_sdp(1, 10000, "0 101", "sendrecv")),
    );
    let ack = requests(ep);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].msg.method, Method::Ack);
    assert!(matches!(&call_events(ep)[..], [CallEvent::Answered { .. }]));
    (call, invite)
}

/// A request of the peer inside the dialog of `invite`.
fn peer_request(invite: &IncomingRequest, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
    let h = |name| header_values(&invite.msg.headers, name).join(", ");
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:agent@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKpeer{cseq}\r\n\
Max-Forwards: 70\r\nFrom: {};tag=callee\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:alice@127.0.0.1:5060>\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
        h("to"),
        h("from"),
        h("call-id"),
        body.len()
    )
    .into_bytes()
}

fn direction_of(body: &[u8]) -> Direction {
    sdp::parse_audio(body).unwrap().direction
}

#[test]
fn the_peer_holds_resumes_and_changes_codec_by_re_invite() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        SessionTimerConfig {
            expires: 0,
            min_se: 90,
        },
        None,
    );
    let (_call, invite) = answered_call(&mut ep, t0, "");

    // Hold: the peer offers sendonly, we answer recvonly and the application hears of it.
    let hold = peer_request(&invite, "INVITE", 2, "", &peer_sdp(2, 10000, "0 101", "sendonly"));
    feed(&mut ep, t0 + Duration::from_secs(1), &hold);
    let answers = responses(&mut ep);
    let ok = answers.last().unwrap();
    assert_eq!((ok.status, ok.common.cseq_method.clone()), (200, Method::Invite));
    assert_eq!(direction_of(&ok.msg.body), Direction::RecvOnly);
    let events = call_events(&mut ep);
    assert!(
        matches!(&events[..], [CallEvent::MediaChanged { media }] if media.direction == Direction::SendOnly),
        "{events:?}"
    );

    // The ACK of that 2xx is absorbed; then resume with sendrecv.
    feed(
        &mut ep,
        t0 + Duration::from_secs(2),
        &peer_request(&invite, "ACK", 2, "", ""),
    );
    assert!(sent(&mut ep).is_empty(), "nothing answers an ACK");
    let resume = peer_request(&invite, "INVITE", 3, "", &peer_sdp(3, 10000, "0 101", "sendrecv"));
    feed(&mut ep, t0 + Duration::from_secs(3), &resume);
    let ok = responses(&mut ep).pop().unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(direction_of(&ok.msg.body), Direction::SendRecv);
    assert!(matches!(
        &call_events(&mut ep)[..],
        [CallEvent::MediaChanged { media }] if media.direction == Direction::SendRecv
    ));
    feed(
        &mut ep,
        t0 + Duration::from_secs(3),
        &peer_request(&invite, "ACK", 3, "", ""),
    );

    // A codec change to PCMA on a new port, with payload types taken from the offer.
    let change = peer_request(&invite, "INVITE", 4, "", &peer_sdp(4, 10002, "8 96", "sendrecv"));
    feed(&mut ep, t0 + Duration::from_secs(4), &change);
    let ok = responses(&mut ep).pop().unwrap();
    assert_eq!(ok.status, 200);
    let answer = sdp::parse_audio(&ok.msg.body).unwrap();
    let pts: Vec<u8> = answer.formats.iter().map(|f| f.payload_type).collect();
    assert_eq!(pts, vec![8, 96], "PCMA and telephone-event at the peer's numbers");
    let events = call_events(&mut ep);
    let [CallEvent::MediaChanged { media }] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(media.codec.encoding, "PCMA");
    assert_eq!(media.telephone_event, Some(96));
    assert_eq!(media.remote.port(), 10002);
    feed(
        &mut ep,
        t0 + Duration::from_secs(4),
        &peer_request(&invite, "ACK", 4, "", ""),
    );

    // A re-offer we cannot take (no common codec) is refused with 488 and the call stays.
    let bad = peer_request(&invite, "INVITE", 5, "", &peer_sdp(5, 10002, "101", "sendrecv"));
    feed(&mut ep, t0 + Duration::from_secs(5), &bad);
    assert_eq!(responses(&mut ep).pop().unwrap().status, 488);
    assert!(call_events(&mut ep).is_empty());

    // An offerless re-INVITE gets our description as the offer (RFC 3261 14.2).
    let empty = peer_request(&invite, "INVITE", 6, "", "");
    feed(&mut ep, t0 + Duration::from_secs(6), &empty);
    let ok = responses(&mut ep).pop().unwrap();
    assert_eq!(ok.status, 200);
    assert!(sdp::parse_audio(&ok.msg.body).is_ok());
}

#[test]
fn we_hold_and_resume_by_re_invite_and_ack_the_answers() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        SessionTimerConfig {
            expires: 0,
            min_se: 90,
        },
        None,
    );
    let (call, invite) = answered_call(&mut ep, t0, "");
    let t1 = t0 + Duration::from_secs(1);

    ep.hold(t1, call, true).unwrap();
    let reinvite = requests(&mut ep).remove(0);
    assert_eq!(reinvite.msg.method, Method::Invite);
    assert_eq!(reinvite.common.call_id, invite.common.call_id);
    assert_eq!(reinvite.common.to_tag.as_deref(), Some("callee"));
    assert_eq!(reinvite.common.cseq, invite.common.cseq + 1);
    assert_eq!(
        reinvite.msg.uri.to_string(),
        "sip:alice@127.0.0.1:5060",
        "to the remote target"
    );
    assert_eq!(direction_of(&reinvite.msg.body), Direction::SendOnly);
    let v1 = sdp::parse_audio(&reinvite.msg.body)
        .unwrap()
        .origin
        .unwrap()
        .version;
    assert!(
        ep.hold(t1, call, false).is_err(),
        "one offer at a time: a second one waits for the answer"
    );

    feed(
        &mut ep,
        t1,
        &reply(&reinvite, 200, "", &peer_sdp(2, 10000, "0 101", "recvonly")),
    );
    let ack = requests(&mut ep);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        (ack[0].msg.method.clone(), ack[0].common.cseq),
        (Method::Ack, reinvite.common.cseq)
    );
    assert!(matches!(
        &call_events(&mut ep)[..],
        [CallEvent::MediaChanged { media }] if media.direction == Direction::RecvOnly
    ));

    let t2 = t0 + Duration::from_secs(2);
    ep.hold(t2, call, false).unwrap();
    let resume = requests(&mut ep).remove(0);
    assert_eq!(direction_of(&resume.msg.body), Direction::SendRecv);
    let v2 = sdp::parse_audio(&resume.msg.body)
        .unwrap()
        .origin
        .unwrap()
        .version;
    assert!(v2 > v1, "each new description has a higher o= version");
    // The peer refuses: the media stays as it was and the call goes on.
    feed(&mut ep, t2, &reply(&resume, 488, "", ""));
    let ack = requests(&mut ep);
    assert_eq!(ack[0].msg.method, Method::Ack, "the transaction ACKs a failure");
    assert!(matches!(
        &call_events(&mut ep)[..],
        [CallEvent::MediaRefused { status: 488 }]
    ));
    ep.hangup(t2, call).unwrap();
    assert_eq!(requests(&mut ep)[0].msg.method, Method::Bye);
}

#[test]
fn we_refresh_the_session_at_half_the_interval() {
    let t0 = Instant::now();
    let timers = SessionTimerConfig {
        expires: 120,
        min_se: 90,
    };
    let mut ep = endpoint(t0, timers, None);
    let call = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "100".into(),
                sdp_offer: OFFER.as_bytes().to_vec(),
            },
        )
        .unwrap();
    let invite = requests(&mut ep).remove(0);
    assert_eq!(header_values(&invite.msg.headers, "session-expires"), vec!["120"]);
    assert_eq!(header_values(&invite.msg.headers, "min-se"), vec!["90"]);
    feed(
        &mut ep,
        t0,
        &reply(
            &invite,
            200,
            "Require: timer\r\nSession-Expires: 100;refresher=uac\r\n",
            &peer_sdp(1, 10000, "0", "sendrecv"),
        ),
    );
    requests(&mut ep);
    call_events(&mut ep);

    // The refresh goes out at half the granted interval (50 s), not before.
    let mut now;
    let refresh = loop {
        let at = ep.poll_timeout().unwrap();
        assert!(at - t0 <= Duration::from_secs(50), "no refresh by 50 s");
        now = at;
        ep.handle_timeout(now);
        if let Some(r) = requests(&mut ep)
            .into_iter()
            .find(|r| r.msg.method == Method::Invite)
        {
            break r;
        }
    };
    assert_eq!(now - t0, Duration::from_secs(50));
    assert_eq!(
        header_values(&refresh.msg.headers, "session-expires"),
        vec!["100;refresher=uac"]
    );
    assert_eq!(
        sdp::parse_audio(&refresh.msg.body)
            .unwrap()
            .origin
            .unwrap()
            .version,
        42,
        "a refresh re-sends the same description"
    );
    feed(
        &mut ep,
        now,
        &reply(
            &refresh,
            200,
            "Session-Expires: 100;refresher=uac\r\n",
            &peer_sdp(1, 10000, "0", "sendrecv"),
        ),
    );
    assert_eq!(requests(&mut ep)[0].msg.method, Method::Ack);
    assert!(
        call_events(&mut ep).is_empty(),
        "an unchanged answer changes nothing"
    );

    // The next refresh comes 50 s after that one.
    let at = ep.poll_timeout().unwrap();
    assert_eq!(at - now, Duration::from_secs(50));
    ep.handle_timeout(at);
    let next = requests(&mut ep);
    assert_eq!(next[0].msg.method, Method::Invite);
    ep.hangup(at, call).unwrap();
}

#[test]
fn the_call_ends_with_bye_when_the_peer_never_refreshes() {
    let t0 = Instant::now();
    let timers = SessionTimerConfig {
        expires: 90,
        min_se: 90,
    };
    let mut ep = endpoint(t0, timers, None);
    let (call, _invite) = answered_call(
        &mut ep,
        t0,
        "Require: timer\r\nSession-Expires: 90;refresher=uas\r\n",
    );
    // The peer refreshes: nothing else to do. It never does, so we send BYE before the session
    // expires: 90 s minus a third of it.
    let mut bye = None;
    while let Some(at) = ep.poll_timeout() {
        if at - t0 > Duration::from_secs(90) {
            break;
        }
        ep.handle_timeout(at);
        if let Some(r) = requests(&mut ep)
            .into_iter()
            .find(|r| r.msg.method == Method::Bye)
        {
            bye = Some((at - t0, r));
            break;
        }
    }
    let (when, bye) = bye.expect("a BYE before the session expired");
    assert_eq!(when, Duration::from_secs(60));
    feed(&mut ep, t0 + when, &reply(&bye, 200, "", ""));
    let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(
        matches!(&events[..], [Event::Call { call: c, event: CallEvent::Ended(cause) }]
            if *c == call && cause.by == HangupBy::Local && cause.answered),
        "{events:?}"
    );
}

#[test]
fn a_peer_refresh_by_update_restarts_the_watch() {
    let t0 = Instant::now();
    let timers = SessionTimerConfig {
        expires: 90,
        min_se: 90,
    };
    let mut ep = endpoint(t0, timers, None);
    let (_call, invite) = answered_call(
        &mut ep,
        t0,
        "Require: timer\r\nSession-Expires: 90;refresher=uas\r\n",
    );
    // At 50 s the peer refreshes with an UPDATE without SDP.
    let t1 = t0 + Duration::from_secs(50);
    ep.handle_timeout(t1);
    assert!(requests(&mut ep).is_empty());
    let update = peer_request(
        &invite,
        "UPDATE",
        2,
        "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n",
        "",
    );
    feed(&mut ep, t1, &update);
    let ok = responses(&mut ep).pop().unwrap();
    assert_eq!((ok.status, ok.common.cseq_method.clone()), (200, Method::Update));
    assert_eq!(
        header_values(&ok.msg.headers, "session-expires"),
        vec!["90;refresher=uac"]
    );
    // 60 s after the first answer nothing happens any more; the watch now ends 60 s after the refresh.
    ep.handle_timeout(t0 + Duration::from_secs(61));
    assert!(requests(&mut ep).is_empty(), "the refresh kept the call");
    ep.handle_timeout(t1 + Duration::from_secs(60));
    assert_eq!(requests(&mut ep)[0].msg.method, Method::Bye);

    // Too short an interval is refused with 422 and our Min-SE.
    let t0 = Instant::now();
    let mut ep = endpoint(t0, timers, None);
    let (_call, invite) = answered_call(&mut ep, t0, "");
    let short = peer_request(&invite, "UPDATE", 2, "Session-Expires: 30\r\n", "");
    feed(&mut ep, t0, &short);
    let refused = responses(&mut ep).pop().unwrap();
    assert_eq!(refused.status, 422);
    assert_eq!(header_values(&refused.msg.headers, "min-se"), vec!["90"]);
}

#[test]
fn keepalives_report_the_trunk_down_then_up() {
    let t0 = Instant::now();
    let mut ep = endpoint(t0, SessionTimerConfig::default(), Some(Duration::from_secs(30)));
    let health = |ep: &mut Endpoint| -> Vec<bool> {
        std::iter::from_fn(|| ep.poll_event())
            .filter_map(|e| match e {
                Event::TrunkHealth {
                    trunk: TrunkId(0),
                    up,
                } => Some(up),
                _ => None,
            })
            .collect()
    };
    // The first OPTIONS goes at once; the trunk answers (a 404 proves it is there too).
    ep.handle_timeout(t0);
    let options = requests(&mut ep);
    assert_eq!(options.len(), 1);
    assert_eq!(options[0].msg.method, Method::Options);
    feed(&mut ep, t0, &reply(&options[0], 404, "", ""));
    assert_eq!(health(&mut ep), vec![true]);

    // The next one 30 s later is never answered: retransmitted (Timer E) until Timer F says down.
    let mut sends = Vec::new();
    let mut down_at = None;
    while let Some(at) = ep.poll_timeout() {
        if at - t0 > Duration::from_secs(120) {
            break;
        }
        ep.handle_timeout(at);
        for r in requests(&mut ep) {
            assert_eq!(r.msg.method, Method::Options);
            sends.push((at - t0).as_millis());
        }
        if health(&mut ep) == vec![false] {
            down_at = Some(at - t0);
            break;
        }
    }
    assert_eq!(sends[0], 30_000, "the second OPTIONS after the interval");
    assert!(sends.len() > 5, "retransmitted while unanswered: {sends:?}");
    assert_eq!(
        down_at,
        Some(Duration::from_millis(30_000 + 32_000)),
        "Timer F (64 T1)"
    );

    // The next OPTIONS is answered: up again, reported once.
    let at = ep.poll_timeout().unwrap();
    ep.handle_timeout(at);
    let options = requests(&mut ep);
    assert_eq!(options.len(), 1);
    feed(&mut ep, at, &reply(&options[0], 200, "", ""));
    assert_eq!(health(&mut ep), vec![true]);
}

fn notify(invite: &IncomingRequest, cseq: u32, frag: &str, state: &str) -> Vec<u8> {
    let h = |name| header_values(&invite.msg.headers, name).join(", ");
    format!(
        "NOTIFY sip:agent@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKnotify{cseq}\r\n\
Max-Forwards: 70\r\nFrom: {};tag=callee\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} NOTIFY\r\n\
Event: refer\r\nSubscription-State: {state}\r\nContent-Type: message/sipfrag;version=2.0\r\n\
Content-Length: {}\r\n\r\n{frag}",
        h("to"),
        h("from"),
        h("call-id"),
        frag.len()
    )
    .into_bytes()
}

fn transfers(ep: &mut Endpoint) -> Vec<(u16, bool)> {
    call_events(ep)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Transfer { status, done, .. } => Some((status, done)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_blind_transfer_follows_the_notifies_and_ends_our_leg() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        SessionTimerConfig {
            expires: 0,
            min_se: 90,
        },
        None,
    );
    let (call, invite) = answered_call(&mut ep, t0, "");
    assert!(
        ep.transfer(t0, call, "not a target").is_err(),
        "bad targets are refused up front"
    );
    ep.transfer(t0, call, "+15550001111").unwrap();
    let refer = requests(&mut ep).remove(0);
    assert_eq!(refer.msg.method, Method::Refer);
    assert_eq!(
        header_values(&refer.msg.headers, "refer-to"),
        vec!["<sip:+15550001111@trunk.test>"],
        "a number is dialled through the call's trunk"
    );
    assert_eq!(header_values(&refer.msg.headers, "referred-by").len(), 1);
    feed(&mut ep, t0, &reply(&refer, 202, "", ""));
    assert_eq!(transfers(&mut ep), vec![(202, false)]);

    feed(
        &mut ep,
        t0,
        &notify(&invite, 2, "SIP/2.0 100 Trying\r\n", "active;expires=60"),
    );
    assert_eq!(responses(&mut ep)[0].status, 200);
    feed(
        &mut ep,
        t0,
        &notify(&invite, 3, "SIP/2.0 180 Ringing\r\n", "active;expires=60"),
    );
    assert_eq!(responses(&mut ep)[0].status, 200);
    assert_eq!(transfers(&mut ep), vec![(100, false), (180, false)]);

    feed(
        &mut ep,
        t0,
        &notify(&invite, 4, "SIP/2.0 200 OK\r\n", "terminated;reason=noresource"),
    );
    let sent = sent(&mut ep);
    assert!(matches!(&sent[0], Incoming::Response(r) if r.status == 200));
    let Incoming::Request(bye) = &sent[1] else {
        panic!("a BYE after the transfer succeeded")
    };
    assert_eq!(bye.msg.method, Method::Bye);
    assert_eq!(transfers(&mut ep), vec![(200, true)]);
    feed(&mut ep, t0, &reply(bye, 200, "", ""));
    assert!(matches!(&call_events(&mut ep)[..], [CallEvent::Ended(cause)] if cause.by == HangupBy::Local));
}

#[test]
fn a_failed_transfer_keeps_the_call_and_a_refused_refer_too() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        SessionTimerConfig {
            expires: 0,
            min_se: 90,
        },
        None,
    );
    let (call, invite) = answered_call(&mut ep, t0, "");
    ep.transfer(t0, call, "sip:bob@example.test").unwrap();
    let refer = requests(&mut ep).remove(0);
    assert_eq!(
        header_values(&refer.msg.headers, "refer-to"),
        vec!["<sip:bob@example.test>"]
    );
    feed(&mut ep, t0, &reply(&refer, 202, "", ""));
    feed(
        &mut ep,
        t0,
        &notify(&invite, 2, "SIP/2.0 486 Busy Here\r\n", "terminated"),
    );
    assert_eq!(
        responses(&mut ep)[0].status,
        200,
        "only the NOTIFY's answer, no BYE"
    );
    assert_eq!(transfers(&mut ep), vec![(202, false), (486, true)]);

    // A NOTIFY for no transfer of ours is refused; a REFER refused by the peer ends nothing.
    feed(
        &mut ep,
        t0,
        &notify(&invite, 3, "SIP/2.0 200 OK\r\n", "terminated"),
    );
    assert_eq!(responses(&mut ep)[0].status, 481);
    ep.transfer(t0, call, "sip:carol@example.test").unwrap();
    let refer = requests(&mut ep).remove(0);
    feed(&mut ep, t0, &reply(&refer, 603, "", ""));
    assert_eq!(transfers(&mut ep), vec![(603, true)]);
    assert_eq!(ep.call_count(), 1, "the call goes on");
}

#[test]
fn linked_legs_end_together() {
    let t0 = Instant::now();
    let mut ep = endpoint(
        t0,
        SessionTimerConfig {
            expires: 0,
            min_se: 90,
        },
        None,
    );
    let (first, first_invite) = answered_call(&mut ep, t0, "");
    // The second leg, to a human, placed from the same endpoint.
    let second = ep
        .invite(
            t0,
            InviteParams {
                from_user: None,
                headers: Vec::new(),
                trunk: TrunkId(0),
                to_user: "200".into(),
                sdp_offer: OFFER.as_bytes().to_vec(),
            },
        )
        .unwrap();
    let invite2 = requests(&mut ep).remove(0);
    assert_ne!(invite2.common.call_id, first_invite.common.call_id);
    feed(
        &mut ep,
        t0,
        &reply(&invite2, 200, "", &peer_sdp(1, 10004, "0", "sendrecv")),
    );
    requests(&mut ep);
    call_events(&mut ep);
    ep.link(first, second).unwrap();

    // The customer hangs up: we answer their BYE and send ours on the other leg.
    feed(&mut ep, t0, &peer_request(&first_invite, "BYE", 2, "", ""));
    let sent = sent(&mut ep);
    assert!(matches!(&sent[0], Incoming::Response(r) if r.status == 200));
    let Incoming::Request(bye) = &sent[1] else {
        panic!("a BYE on the linked leg")
    };
    assert_eq!(
        (bye.msg.method.clone(), bye.common.call_id.clone()),
        (Method::Bye, invite2.common.call_id.clone())
    );
    feed(&mut ep, t0, &reply(bye, 200, "", ""));
    let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
    let ended: Vec<(CallHandle, HangupBy)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Call {
                call,
                event: CallEvent::Ended(cause),
            } => Some((*call, cause.by)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, vec![(first, HangupBy::Remote), (second, HangupBy::Local)]);
    assert_eq!(ep.call_count(), 0);
}
