//! An IP-authenticated trunk (no registration, no credentials: kamailio lets our source address
//! in) with three proxies: one out of service (503 to every INVITE), one that never answers, and
//! the real one. A call moves on through them to the phone; the trunk stays on the proxy that
//! worked, so the next call goes there first; after its failback time the trunk tries its primary
//! again.

use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, speech};
use sip_stack::driver::{self, SipHandle};
use sip_stack::timer::TimerConfig;
use sip_stack::{CallEvent, EndpointConfig, InviteParams, TrunkConfig, TrunkId};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Our address: kamailio trusts it (the phone, on 127.0.0.1, still authenticates with digest).
const OURS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const STEP: Duration = Duration::from_secs(20);
const FAILBACK: Duration = Duration::from_secs(3);

/// A proxy out of service: answers every INVITE with 503 and counts them.
async fn sick_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let invites = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&invites);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("INVITE ") {
                continue;
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let copied: Vec<&str> = text
                .lines()
                .filter(|l| {
                    let name = l.split(':').next().unwrap_or_default().to_ascii_lowercase();
                    ["via", "from", "call-id", "cseq", "to"].contains(&name.as_str())
                })
                .collect();
            let mut reply = String::from("SIP/2.0 503 Service Unavailable\r\n");
            for line in copied {
                reply.push_str(line);
                if line.to_ascii_lowercase().starts_with("to:") {
                    reply.push_str(";tag=sick");
                }
                reply.push_str("\r\n");
            }
            reply.push_str("Content-Length: 0\r\n\r\n");
            let _ = socket.send_to(reply.as_bytes(), from).await;
        }
    });
    (addr, invites)
}

/// Calls the phone; true when it answered (then hangs up).
async fn call(sip: &SipHandle, phone: &Phone) -> bool {
    let rtp = UdpSocket::bind((OURS, 0)).await.expect("RTP");
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 {OURS}\r\ns=-\r\nc=IN IP4 {OURS}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.local_addr().expect("addr").port()
    );
    let mut placed = sip
        .invite(InviteParams {
            trunk: TrunkId(0),
            to_user: "+15551230000".to_owned(),
            sdp_offer: offer.into_bytes(),
            from_user: None,
            headers: Vec::new(),
        })
        .await
        .expect("INVITE");
    let answered = tokio::time::timeout(STEP, async {
        loop {
            match placed.events.recv().await {
                Some(CallEvent::Answered { .. }) => return true,
                Some(CallEvent::Ended(cause)) => {
                    eprintln!("call ended: {cause:?}");
                    return false;
                }
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await
    .expect("an answer or an end in time");
    if answered {
        phone
            .wait_for_event(EventKind::CallEstablished, STEP)
            .await
            .expect("the phone has the call");
        sip.hangup(placed.handle).await.expect("BYE");
        phone
            .wait_for_event(EventKind::CallClosed, STEP)
            .await
            .expect("the phone hung up");
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_authenticated_trunk_fails_over_past_503_and_silence_and_comes_back() {
    let kamailio = Kamailio::start(KamailioOptions {
        trusted: Some(IpAddr::V4(OURS)),
        ..KamailioOptions::default()
    })
    .await
    .expect("kamailio");
    let mic = speech::silence(30.0).expect("a silent microphone");
    let phone = Phone::start(PhoneOptions::new(kamailio.addr(), &mic))
        .await
        .expect("baresip");
    let (sick, sick_invites) = sick_proxy().await;
    // Nothing listens here: INVITEs to it time out (Timer B, 64 * T1).
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");

    let socket = UdpSocket::bind((OURS, 0)).await.expect("SIP socket");
    let mut config = EndpointConfig::new(socket.local_addr().expect("addr"));
    config.timers = TimerConfig {
        t1: Duration::from_millis(20),
        ..TimerConfig::default()
    };
    let trunk = TrunkConfig {
        domain: "trunk.test".to_owned(),
        failover: vec![sick, silent_addr, kamailio.addr()],
        failback: FAILBACK,
        ..TrunkConfig::new("carrier", sick)
    };
    let (sip, task) = driver::spawn(socket, config, vec![trunk]);

    // First call: 503 from the primary, no answer from the second, answered through the third.
    assert!(call(&sip, &phone).await, "the call reached the phone");
    assert_eq!(
        sick_invites.load(Ordering::SeqCst),
        1,
        "the primary was tried first"
    );
    let log = kamailio.log();
    assert!(
        log.contains(&format!("IP-AUTH INVITE from {OURS}")) && !log.contains("AUTH-CHALLENGE INVITE"),
        "kamailio let our address in without a challenge:\n{log}"
    );
    assert_eq!(
        sip.trunk_addr(TrunkId(0)).await.expect("trunk"),
        kamailio.addr(),
        "the trunk stays on the proxy that worked"
    );

    // Second call: straight to the working proxy.
    assert!(call(&sip, &phone).await);
    assert_eq!(
        sick_invites.load(Ordering::SeqCst),
        1,
        "the sick primary was not tried again"
    );
    assert_eq!(kamailio.count(&format!("IP-AUTH INVITE from {OURS}")), 2);

    // After the failback time the trunk is back on its primary, which the next call tries first.
    tokio::time::sleep(FAILBACK + Duration::from_millis(500)).await;
    assert_eq!(sip.trunk_addr(TrunkId(0)).await.expect("trunk"), sick);
    assert!(call(&sip, &phone).await);
    assert_eq!(
        sick_invites.load(Ordering::SeqCst),
        2,
        "the primary was tried again"
    );
    assert_eq!(kamailio.count(&format!("IP-AUTH INVITE from {OURS}")), 3);

    sip.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    drop(silent);
}
