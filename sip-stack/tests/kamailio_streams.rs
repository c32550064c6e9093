//! SIP over TCP and over TLS through a real trunk: kamailio (from `deploy/testbed`) listening on TCP
//! and TLS with a certificate from a CA made for the test, our driver registering with digest auth
//! and calling a real phone (baresip, on UDP behind the proxy) that answers; one call is ended by us,
//! the other by the phone (its BYE reaches us over the stream). Kamailio logs the transport of every
//! request, so a silent fall-back to UDP fails the test. Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use sip_stack::driver::{self, DriverOptions, PlacedCall, SipHandle, Sockets, tls};
use sip_stack::{
    CallEvent, EndCause, EndpointConfig, HangupBy, InviteParams, RegistrationStatus, Transport, TrunkConfig,
    TrunkCredentials, TrunkId,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};

const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

async fn trunk() -> Kamailio {
    Kamailio::start(KamailioOptions {
        tcp: true,
        tls: true,
        ..KamailioOptions::default()
    })
    .await
    .unwrap()
}

/// Our driver with UDP, TCP and TLS listeners, its trunk at kamailio's `proxy` over `transport`.
async fn ringback(kamailio: &Kamailio, transport: Transport, proxy: SocketAddr) -> SipHandle {
    let certs = kamailio.certificates().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = EndpointConfig::new(udp.local_addr().unwrap());
    let sockets = Sockets {
        udp,
        tcp: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        tls: Some((
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            tls::acceptor(&certs.cert, &certs.key).unwrap(),
        )),
    };
    let options = DriverOptions {
        tls_client: Some(tls::connector(Some(&certs.ca)).unwrap()),
        ..DriverOptions::default()
    };
    let mut trunk = TrunkConfig::new("kamailio", proxy);
    trunk.transport = transport;
    // The TLS client checks kamailio's certificate against this name.
    trunk.domain = "trunk.test".into();
    trunk.credentials = Some(TrunkCredentials {
        username: "agent".into(),
        auth_username: None,
        password: "agentpw".into(),
    });
    trunk.register = true;
    trunk.register_expires = 60;
    driver::start(sockets, options, config, vec![trunk]).handle
}

async fn registered(sip: &SipHandle) {
    let mut statuses = sip.registrations();
    tokio::time::timeout(
        EVENT_TIMEOUT,
        statuses.wait_for(|s| matches!(s[0], RegistrationStatus::Registered { .. })),
    )
    .await
    .expect("registered in time")
    .unwrap();
}

fn offer(rtp: &UdpSocket) -> Vec<u8> {
    let port = rtp.local_addr().unwrap().port();
    format!(
        "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    .into_bytes()
}

async fn next_event(placed: &mut PlacedCall) -> CallEvent {
    tokio::time::timeout(EVENT_TIMEOUT, placed.events.recv())
        .await
        .expect("a call event in time")
        .expect("the call's events are open")
}

async fn answered(placed: &mut PlacedCall) {
    loop {
        match next_event(placed).await {
            CallEvent::Progress { .. } => {}
            CallEvent::Answered { .. } => return,
            other => panic!("expected the answer, got {other:?}"),
        }
    }
}

async fn ended(placed: &mut PlacedCall) -> EndCause {
    loop {
        match next_event(placed).await {
            CallEvent::Ended(cause) => return cause,
            CallEvent::Progress { .. } | CallEvent::MediaChanged { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The transports kamailio saw our requests (From agent) arrive on, one per request.
fn agent_transports(kamailio: &Kamailio) -> Vec<String> {
    kamailio
        .log()
        .lines()
        .filter(|l| l.contains("REQ ") && l.contains("from sip:agent@"))
        .filter_map(|l| l.rsplit(" over ").next().map(|t| t.trim().to_owned()))
        .collect()
}

/// Registers, calls alice through kamailio, and ends the call from `hang_up_by`'s side.
async fn register_call_and_hang_up(transport: Transport, hang_up_by: HangupBy) {
    let kamailio = trunk().await;
    let silence = speech::silence(40.0).unwrap();
    let alice = Phone::start(PhoneOptions::new(kamailio.addr(), &silence).account("alice", "alicepw"))
        .await
        .unwrap();
    let proxy = match transport {
        Transport::Tcp => kamailio.tcp_addr(),
        _ => kamailio.tls_addr(),
    }
    .unwrap();
    let sip = ringback(&kamailio, transport, proxy).await;
    registered(&sip).await;
    assert_eq!(
        kamailio.count("AUTH-OK REGISTER from agent"),
        1,
        "{}",
        kamailio.log()
    );

    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut placed = sip
        .invite(InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551234567".into(),
            sdp_offer: offer(&rtp),
        })
        .await
        .unwrap();
    answered(&mut placed).await;
    alice
        .wait_for_event(EventKind::CallEstablished, EVENT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        kamailio.count("AUTH-OK INVITE from agent"),
        1,
        "{}",
        kamailio.log()
    );

    match hang_up_by {
        HangupBy::Local => sip.hangup(placed.handle).await.unwrap(),
        _ => alice.hangup().await.unwrap(),
    }
    let cause = ended(&mut placed).await;
    assert_eq!((cause.by, cause.answered), (hang_up_by, true), "{cause:?}");
    alice
        .wait_for_event(EventKind::CallClosed, EVENT_TIMEOUT)
        .await
        .unwrap();

    let name = transport.to_string().to_ascii_lowercase();
    let seen = agent_transports(&kamailio);
    // REGISTER twice (challenge, answer), INVITE twice, the ACK of the 2xx, and our BYE if ours.
    assert!(seen.len() >= 5, "{seen:?}\n{}", kamailio.log());
    assert!(
        seen.iter().all(|t| *t == name),
        "every request over {name}: {seen:?}"
    );
    if hang_up_by == HangupBy::Local {
        assert_eq!(kamailio.count("REQ BYE"), 1, "{}", kamailio.log());
    }
    sip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp_we_register_call_a_phone_through_kamailio_and_hang_up() {
    register_call_and_hang_up(Transport::Tcp, HangupBy::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_we_register_call_a_phone_through_kamailio_and_it_hangs_up() {
    register_call_and_hang_up(Transport::Tls, HangupBy::Remote).await;
}
