//! sipp (apt `sip-tester`) as the far end of our outbound calls, on real UDP sockets: a trunk that
//! challenges our INVITE with 407 gets the 407 acknowledged and a second INVITE with a higher CSeq and
//! Proxy-Authorization answering the challenge (sipp checks user, realm, nonce and qop; the test
//! recomputes the MD5 response from the password), and the call is answered
//! and ended by the far end's BYE; and a far end that rings and then refuses with 486, 603 or 480
//! gets its refusal acknowledged, and the call ends with that status, never answered, by the remote
//! side. (agent-runtime's `outcome::tests::the_design_table` maps those statuses to busy, declined
//! and no_answer.) Runs in the nextest `real-time` group.
#![allow(clippy::unwrap_used)]

mod support;

use sip_stack::driver::{self, DriverOptions, DriverStats, SipHandle, Sockets};
use sip_stack::timer::TimerConfig;
use sip_stack::{
    CallEvent, EndCause, EndpointConfig, HangupBy, InviteParams, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::net::SocketAddr;
use std::time::Duration;
use support::sipp::{Sipp, free_udp_port};
use tokio::net::UdpSocket;

const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

const OFFER: &str = "v=0\r\no=ringback 1 1 IN IP4 127.0.0.1\r\ns=ringback\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// Our driver with short timers (T1 100 ms, T4 500 ms) so finished transactions drain quickly, its
/// one trunk at `peer`, with `credentials` when given (never registering).
async fn ringback(peer: SocketAddr, credentials: Option<TrunkCredentials>) -> driver::Driver {
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
    let mut trunk = TrunkConfig::new("sipp", peer);
    trunk.credentials = credentials;
    trunk.register = false;
    driver::start(sockets, DriverOptions::default(), config, vec![trunk])
}

/// Waits until the driver holds no call and no server transaction. Client transactions may remain: an
/// INVITE transaction that ended with a non-2xx (the 407, a refusal) absorbs retransmissions of that
/// response for Timer D (32 s over UDP, RFC 3261 17.1.1.2).
async fn no_call_left(sip: &SipHandle) {
    let mut last = DriverStats::default();
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            last = sip.stats().await.unwrap();
            if last.endpoint.calls == 0 && last.endpoint.server_transactions == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "calls or server transactions left behind: {last:?}"
    );
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<CallEvent>) -> CallEvent {
    tokio::time::timeout(EVENT_TIMEOUT, events.recv())
        .await
        .expect("a call event in time")
        .expect("the call's events are open")
}

async fn place(sip: &SipHandle) -> sip_stack::driver::PlacedCall {
    sip.invite(InviteParams {
        from_user: None,
        headers: Vec::new(),
        trunk: TrunkId(0),
        to_user: "+15551234567".into(),
        sdp_offer: OFFER.as_bytes().to_vec(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_challenged_with_407_is_sent_again_with_credentials_and_answered() {
    let port = free_udp_port();
    let sipp = Sipp::start("uas_auth_407.xml", port, None, 1, 1);
    let driver = ringback(
        sipp.addr,
        Some(TrunkCredentials {
            username: "agent".into(),
            auth_username: None,
            password: "agentpw".into(),
        }),
    )
    .await;
    let sip = driver.handle.clone();

    let mut placed = place(&sip).await;
    let mut ringing = false;
    loop {
        match next_event(&mut placed.events).await {
            CallEvent::Progress { status: 180, .. } => ringing = true,
            CallEvent::Progress { .. } => {}
            CallEvent::Answered { .. } => break,
            other => panic!("expected ringing and the answer, got {other:?}"),
        }
    }
    assert!(ringing, "sipp rings only after the authenticated INVITE");
    let cause = loop {
        match next_event(&mut placed.events).await {
            CallEvent::Ended(cause) => break cause,
            CallEvent::MediaChanged { .. } => {}
            other => panic!("expected the far end's BYE, got {other:?}"),
        }
    };
    assert_eq!((cause.by, cause.answered), (HangupBy::Remote, true), "{cause:?}");

    // sipp passes only when the 407 was ACKed and the second INVITE had a higher CSeq and
    // Proxy-Authorization for user "agent" answering its realm, nonce and qop; and then the ACK and the
    // BYE's 200. It logs that header, whose response must prove the password "agentpw".
    let (code, output) = sipp.finish().await;
    assert_eq!(code, 0, "sipp refused our authentication or call:\n{output}");
    let authorization = output
        .lines()
        .find_map(|line| {
            line.split_once("Proxy-Authorization: ")
                .map(|(_, value)| value.trim())
        })
        .unwrap_or_else(|| panic!("sipp logged the second INVITE's Proxy-Authorization:\n{output}"));
    assert_eq!(
        digest_response(authorization, "INVITE", "agentpw"),
        param(authorization, "response"),
        "the digest response does not prove the password: {authorization}"
    );
    no_call_left(&sip).await;
    sip.shutdown().await;
}

/// A parameter of a Digest credentials header, unquoted.
fn param(header: &str, name: &str) -> String {
    let params = header.trim().strip_prefix("Digest").expect("Digest credentials");
    params
        .split(',')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {name} in {header}"))
}

/// The response the credentials should carry for `password` (RFC 2617 3.2.2, MD5 with qop=auth),
/// computed here independently of the stack's digest code.
fn digest_response(header: &str, method: &str, password: &str) -> String {
    use md5::{Digest, Md5};
    let md5 = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    assert_eq!(param(header, "qop"), "auth", "{header}");
    let ha1 = md5(format!(
        "{}:{}:{password}",
        param(header, "username"),
        param(header, "realm")
    ));
    let ha2 = md5(format!("{method}:{}", param(header, "uri")));
    md5(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        param(header, "nonce"),
        param(header, "nc"),
        param(header, "cnonce")
    ))
}

/// Places a call to sipp, which rings and then refuses it with `status` (`uas_reject_<status>.xml`);
/// returns how the call ended once sipp has checked our ACK.
async fn refused_with(status: u16) -> EndCause {
    let sipp = Sipp::start(&format!("uas_reject_{status}.xml"), free_udp_port(), None, 1, 1);
    let driver = ringback(sipp.addr, None).await;
    let sip = driver.handle.clone();

    let mut placed = place(&sip).await;
    match next_event(&mut placed.events).await {
        CallEvent::Progress { status: 180, .. } => {}
        other => panic!("expected ringing, got {other:?}"),
    }
    let cause = match next_event(&mut placed.events).await {
        CallEvent::Ended(cause) => cause,
        other => panic!("expected the call to end with {status}, got {other:?}"),
    };
    let (code, output) = sipp.finish().await;
    assert_eq!(code, 0, "sipp did not get our ACK of its {status}:\n{output}");
    no_call_left(&sip).await;
    sip.shutdown().await;
    cause
}

fn assert_refused(cause: &EndCause, status: u16) {
    assert_eq!(
        (cause.status, cause.answered, cause.by),
        (Some(status), false, HangupBy::Remote),
        "{cause:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_here_486_ends_the_call_unanswered_with_486() {
    let cause = refused_with(486).await;
    assert_refused(&cause, 486);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_603_ends_the_call_unanswered_with_603() {
    let cause = refused_with(603).await;
    assert_refused(&cause, 603);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporarily_unavailable_480_ends_the_call_unanswered_with_480() {
    let cause = refused_with(480).await;
    assert_refused(&cause, 480);
}
