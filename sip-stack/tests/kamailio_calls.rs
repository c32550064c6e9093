//! The endpoint's driver through a real trunk (kamailio from `deploy/testbed`, which challenges every
//! INVITE with 407) to real phones (baresip): the trunk's refusals (486, 603, 480, 404) end calls with
//! their status, a ringing call is cancelled, and two legs to two phones are held, resumed and linked
//! so that when one phone hangs up the other leg is ended; a blind transfer (REFER) moves a phone to
//! another phone and ends our leg. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use sip_stack::driver::{self, PlacedCall, SipHandle};
use sip_stack::sdp::Direction;
use sip_stack::{
    CallEvent, EndCause, EndpointConfig, HangupBy, InviteParams, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::time::Duration;
use tokio::net::UdpSocket;

const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

async fn ringback(trunk: &Kamailio) -> (SipHandle, tokio::task::JoinHandle<()>, UdpSocket) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut config = TrunkConfig::new("kamailio", trunk.addr());
    config.domain = "trunk.test".into();
    config.credentials = Some(TrunkCredentials {
        username: "agent".into(),
        auth_username: None,
        password: "agentpw".into(),
    });
    let (sip, task) = driver::spawn(socket, EndpointConfig::new(addr), vec![config]);
    // Where our RTP would arrive; the phones send to it, nobody reads.
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (sip, task, rtp)
}

fn offer(rtp: &UdpSocket) -> Vec<u8> {
    let port = rtp.local_addr().unwrap().port();
    format!(
        "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    .into_bytes()
}

async fn event(placed: &mut PlacedCall) -> CallEvent {
    tokio::time::timeout(EVENT_TIMEOUT, placed.events.recv())
        .await
        .expect("a call event in time")
        .expect("the call's events are open")
}

/// Waits for the end of a call, skipping progress.
async fn ended(placed: &mut PlacedCall) -> EndCause {
    loop {
        match event(placed).await {
            CallEvent::Ended(cause) => return cause,
            CallEvent::Progress { .. } | CallEvent::Transfer { .. } | CallEvent::MediaChanged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn answered(placed: &mut PlacedCall) {
    loop {
        match event(placed).await {
            CallEvent::Progress { .. } => {}
            CallEvent::Answered { .. } => return,
            other => panic!("expected the answer, got {other:?}"),
        }
    }
}

async fn call(sip: &SipHandle, rtp: &UdpSocket, to: &str) -> PlacedCall {
    sip.invite(InviteParams {
        from_user: None,
        headers: Vec::new(),
        trunk: TrunkId(0),
        to_user: to.into(),
        sdp_offer: offer(rtp),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_of_the_trunk_end_calls_with_their_status_and_a_ringing_call_is_cancelled() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let (sip, task, rtp) = ringback(&trunk).await;
    for (number, status) in [
        ("+15550000486", 486),
        ("+15550000603", 603),
        ("+15550000480", 480),
        ("+15550000404", 404),
    ] {
        let mut placed = call(&sip, &rtp, number).await;
        let cause = ended(&mut placed).await;
        assert_eq!(cause.status, Some(status), "{number}: {cause:?}");
        assert_eq!(cause.by, HangupBy::Remote);
        assert!(!cause.answered);
    }
    assert_eq!(
        trunk.count("AUTH-CHALLENGE INVITE from agent"),
        4,
        "{}",
        trunk.log()
    );
    assert_eq!(trunk.count("AUTH-OK INVITE from agent"), 4);

    // Rings and never answers: we give up with CANCEL, and the INVITE ends with 487.
    let mut placed = call(&sip, &rtp, "+15550000408").await;
    loop {
        if let CallEvent::Progress { status: 180, .. } = event(&mut placed).await {
            break;
        }
    }
    sip.hangup(placed.handle).await.unwrap();
    let cause = ended(&mut placed).await;
    assert_eq!(
        (cause.status, cause.by, cause.answered),
        (Some(487), HangupBy::Local, false),
        "{cause:?}"
    );
    assert_eq!(trunk.count("REQ CANCEL sip:+15550000408"), 1, "{}", trunk.log());

    sip.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_legs_to_two_phones_hold_resume_and_end_together() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let silence = speech::silence(60.0).unwrap();
    let alice = Phone::start(PhoneOptions::new(trunk.addr(), &silence).account("alice", "alicepw"))
        .await
        .unwrap();
    let bob = Phone::start(PhoneOptions::new(trunk.addr(), &silence).account("bob", "bobpw"))
        .await
        .unwrap();
    let (sip, task, rtp) = ringback(&trunk).await;

    // The customer (alice, a +1555 number) answers our call.
    let mut first = call(&sip, &rtp, "+15551234567").await;
    answered(&mut first).await;
    alice
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();

    // Hold and resume by re-INVITE through the proxy: the phone answers each offer.
    sip.hold(first.handle, true).await.unwrap();
    match event(&mut first).await {
        CallEvent::MediaChanged { media } => {
            assert!(!media.direction.sends(), "the phone stops sending: {media:?}")
        }
        other => panic!("expected the hold's answer, got {other:?}"),
    }
    sip.hold(first.handle, false).await.unwrap();
    match event(&mut first).await {
        CallEvent::MediaChanged { media } => assert_eq!(media.direction, Direction::SendRecv),
        other => panic!("expected the resume's answer, got {other:?}"),
    }

    // The hand-off: a second leg to a human (bob), linked to the first.
    let mut second = call(&sip, &rtp, "bob").await;
    answered(&mut second).await;
    bob.wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();
    sip.link(first.handle, second.handle).await.unwrap();

    // The customer hangs up: their leg ends by the remote, and we end bob's leg.
    alice.hangup().await.unwrap();
    let cause = ended(&mut first).await;
    assert_eq!((cause.by, cause.answered), (HangupBy::Remote, true), "{cause:?}");
    let cause = ended(&mut second).await;
    assert_eq!((cause.by, cause.answered), (HangupBy::Local, true), "{cause:?}");
    bob.wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();

    sip.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blind_transfer_hands_the_phone_to_another_and_ends_our_leg() {
    let trunk = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let silence = speech::silence(60.0).unwrap();
    let alice = Phone::start(PhoneOptions::new(trunk.addr(), &silence).account("alice", "alicepw"))
        .await
        .unwrap();
    let bob = Phone::start(PhoneOptions::new(trunk.addr(), &silence).account("bob", "bobpw"))
        .await
        .unwrap();
    let (sip, task, rtp) = ringback(&trunk).await;

    // Dialled by user name: baresip places the transfer's INVITE From our call's To URI, and the
    // trunk authenticates it by that user.
    let mut placed = call(&sip, &rtp, "alice").await;
    answered(&mut placed).await;
    alice
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();

    // REFER alice to bob: she calls bob herself and tells us how it goes; on success we leave.
    // The phone has no DNS for trunk.test: name the proxy by address.
    let target = format!("sip:bob@{}", trunk.addr());
    sip.transfer(placed.handle, &target).await.unwrap();
    let mut statuses = Vec::new();
    let cause = loop {
        let next = tokio::time::timeout(EVENT_TIMEOUT, placed.events.recv()).await;
        let Ok(Some(next)) = next else {
            panic!(
                "transfer stalled after {statuses:?}:\n{}\n{}",
                trunk.log(),
                alice.log()
            )
        };
        match next {
            CallEvent::Transfer { status, done, .. } => statuses.push((status, done)),
            CallEvent::Ended(cause) => break cause,
            CallEvent::MediaChanged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    // The REFER's 202 and the first NOTIFY (100 Trying) may arrive in either order (RFC 3515
    // lets the NOTIFY overtake the 202 on UDP).
    assert!(statuses.contains(&(202, false)), "{statuses:?}\n{}", trunk.log());
    assert_eq!(statuses.last(), Some(&(200, true)), "{statuses:?}");
    assert_eq!(cause.by, HangupBy::Local, "we left after the transfer: {cause:?}");
    let established = bob
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();
    assert!(
        established
            .peer_uri
            .as_deref()
            .unwrap_or_default()
            .contains("alice"),
        "bob talks to alice now: {established:?}"
    );
    alice.hangup().await.unwrap();
    bob.wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();

    sip.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}
