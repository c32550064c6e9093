//! sipp (apt `sip-tester`) as the far end of our calls, on real UDP sockets: the answer that crosses
//! our CANCEL is acknowledged and ended with a BYE, leaving no call and no transaction behind; and a
//! far end that holds (sendonly), deactivates (inactive) and resumes (sendrecv) by re-INVITE gets
//! answers with the matching direction (sipp checks each answer's body), and we report each change.
//! Through a real trunk (kamailio), INVITEs with a duplicated single-value header from sipp are relayed
//! to us and refused with 400 while our call to a real phone (baresip) stays up. Runs in the nextest
//! `real-time` group.
#![allow(clippy::unwrap_used)]

mod support;

use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use sip_stack::driver::{self, DriverOptions, DriverStats, SipHandle, Sockets};
use sip_stack::sdp::Direction;
use sip_stack::timer::TimerConfig;
use sip_stack::{
    CallEvent, EndpointConfig, HangupBy, InviteParams, RegistrationStatus, TrunkConfig, TrunkCredentials,
    TrunkId,
};
use std::net::SocketAddr;
use std::time::Duration;
use support::sipp::{Sipp, free_udp_port};
use tokio::net::UdpSocket;

const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

const OFFER: &str = "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// Our driver with short timers (T1 100 ms, T4 500 ms) so finished transactions drain quickly, its
/// one trunk at `peer` (calls from there are the trunk's).
async fn ringback(peer: SocketAddr) -> driver::Driver {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut config = EndpointConfig::new(udp.local_addr().unwrap());
    config.timers = TimerConfig {
        t1: Duration::from_millis(100),
        t2: Duration::from_secs(4),
        t4: Duration::from_millis(500),
    };
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    driver::start(
        sockets,
        DriverOptions::default(),
        config,
        vec![TrunkConfig::new("sipp", peer)],
    )
}

/// Waits until the driver holds no call and no transaction (all timers of the finished ones run out).
async fn drained(sip: &SipHandle) {
    let mut last = DriverStats::default();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            last = sip.stats().await.unwrap();
            if last == DriverStats::default() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "calls or transactions left behind: {last:?}");
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<CallEvent>) -> CallEvent {
    tokio::time::timeout(EVENT_TIMEOUT, events.recv())
        .await
        .expect("a call event in time")
        .expect("the call's events are open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_crossing_our_cancel_is_acked_and_ended_with_a_bye() {
    let port = free_udp_port();
    let sipp = Sipp::start("uas_cancel_race.xml", port, None, 1, 1);
    let driver = ringback(sipp.addr).await;
    let sip = driver.handle.clone();

    let mut placed = sip
        .invite(InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551234567".into(),
            sdp_offer: OFFER.as_bytes().to_vec(),
        })
        .await
        .unwrap();
    // Hang up the moment it rings: sipp then answers the CANCEL and lets its 200 cross it.
    match next_event(&mut placed.events).await {
        CallEvent::Progress { status: 180, .. } => sip.hangup(placed.handle).await.unwrap(),
        other => panic!("expected ringing, got {other:?}"),
    }
    let cause = loop {
        match next_event(&mut placed.events).await {
            CallEvent::Ended(cause) => break cause,
            CallEvent::Progress { .. } | CallEvent::Answered { .. } | CallEvent::MediaChanged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(cause.by, HangupBy::Local, "{cause:?}");
    assert!(cause.answered, "the crossing 2xx set the call up: {cause:?}");

    // sipp passes only when it got the ACK of its 200 and then the BYE.
    let (code, output) = sipp.finish().await;
    assert_eq!(code, 0, "sipp did not see ACK and BYE:\n{output}");
    drained(&sip).await;
    sip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_far_end_holds_deactivates_and_resumes_and_our_answers_follow() {
    let port = free_udp_port();
    let mut driver = ringback(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let sip = driver.handle.clone();
    let sipp = Sipp::start("uac_hold.xml", port, Some(driver.local.udp), 1, 1);

    let mut incoming = tokio::time::timeout(EVENT_TIMEOUT, driver.incoming.recv())
        .await
        .expect("the call arrives")
        .unwrap();
    assert_eq!(incoming.info.to_user, "+15550001111");
    sip.accept(incoming.info.call, OFFER.as_bytes().to_vec())
        .await
        .unwrap();

    let mut directions = Vec::new();
    let cause = loop {
        match next_event(&mut incoming.events).await {
            CallEvent::MediaChanged { media } => directions.push(media.direction),
            CallEvent::Ended(cause) => break cause,
            _ => {}
        }
    };
    assert_eq!(
        directions,
        [Direction::SendOnly, Direction::Inactive, Direction::SendRecv],
        "the far end's direction, change by change"
    );
    assert_eq!((cause.by, cause.answered), (HangupBy::Remote, true), "{cause:?}");
    let (code, output) = sipp.finish().await;
    assert_eq!(code, 0, "sipp refused one of our answers:\n{output}");
    drained(&sip).await;
    sip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_invites_through_the_trunk_get_400_while_a_call_stays_up() {
    let kamailio = Kamailio::start(KamailioOptions::default()).await.unwrap();
    let silence = speech::silence(40.0).unwrap();
    let alice = Phone::start(PhoneOptions::new(kamailio.addr(), &silence).account("alice", "alicepw"))
        .await
        .unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = EndpointConfig::new(udp.local_addr().unwrap());
    let mut trunk = TrunkConfig::new("kamailio", kamailio.addr());
    trunk.domain = "trunk.test".into();
    trunk.credentials = Some(TrunkCredentials {
        username: "agent".into(),
        auth_username: None,
        password: "agentpw".into(),
    });
    trunk.register = true;
    let sockets = Sockets {
        udp,
        tcp: None,
        tls: None,
    };
    let driver = driver::start(sockets, DriverOptions::default(), config, vec![trunk]);
    let sip = driver.handle.clone();
    let mut statuses = sip.registrations();
    tokio::time::timeout(
        EVENT_TIMEOUT,
        statuses.wait_for(|s| matches!(s[0], RegistrationStatus::Registered { .. })),
    )
    .await
    .expect("registered")
    .unwrap();

    let mut placed = sip
        .invite(InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551234567".into(),
            sdp_offer: OFFER.as_bytes().to_vec(),
        })
        .await
        .unwrap();
    loop {
        match next_event(&mut placed.events).await {
            CallEvent::Progress { .. } => {}
            CallEvent::Answered { .. } => break,
            other => panic!("expected the answer, got {other:?}"),
        }
    }
    alice
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();

    // Five bad INVITEs, each authenticated by kamailio and relayed to us.
    let sipp = Sipp::start(
        "uac_malformed_via_proxy.xml",
        free_udp_port(),
        Some(kamailio.addr()),
        5,
        5,
    );
    let (code, output) = sipp.finish().await;
    assert_eq!(
        code, 0,
        "a malformed INVITE was not refused with our 400:\n{output}"
    );
    assert_eq!(
        kamailio.count("AUTH-OK INVITE from alice"),
        5,
        "{}",
        kamailio.log()
    );

    // The call is still up: nothing happened to it, and it still takes a re-INVITE and a BYE.
    assert!(placed.events.try_recv().is_err(), "the call was disturbed");
    sip.hold(placed.handle, true).await.unwrap();
    match next_event(&mut placed.events).await {
        CallEvent::MediaChanged { media } => assert!(!media.direction.sends(), "{media:?}"),
        other => panic!("expected the hold's answer, got {other:?}"),
    }
    sip.hangup(placed.handle).await.unwrap();
    let cause = loop {
        match next_event(&mut placed.events).await {
            CallEvent::Ended(cause) => break cause,
            CallEvent::MediaChanged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((cause.by, cause.answered), (HangupBy::Local, true), "{cause:?}");
    alice
        .wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();
    sip.shutdown().await;
}
