//! Trunks over IPv6, and both families on one SIP socket, in network namespaces
//! (ringback-testbed's `DualStackNet`: Ringback and a dual-stack kamailio on one link).
//!
//! Each test registers, calls one of our own numbers through the trunk (kamailio delivers `+1777...`
//! DIDs to the registered `agent`, so the call comes back to us: both call directions in one), and
//! plays a tone each way between the two legs' media sessions, bound as the production path binds
//! them (`agent_runtime::call::local_media`). Needs root; fails saying so without it.

use agent_runtime::RuntimeConfig;
use agent_runtime::call::local_media;
use media_core::driver::RunningSession;
use media_core::{
    Codec, LatchPolicy, MediaSession, SessionConfig, Ssrc, pacer::UtteranceId, rtp::PayloadType,
};
use ringback_testbed::netns::DualStackNet;
use ringback_testbed::{Kamailio, KamailioOptions};
use sip_stack::driver::{DriverOptions, Sockets};
use sip_stack::sdp::{self, Direction};
use sip_stack::{
    CallEvent, EndpointConfig, InviteParams, RegistrationStatus, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

const STEP: Duration = Duration::from_secs(15);
const CALLER_HZ: f64 = 600.0;
const CALLEE_HZ: f64 = 1000.0;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The trunk over IPv6 only: SIP, SDP (`c=IN IP6`) and RTP all on IPv6.
#[test]
fn an_ipv6_trunk_registers_calls_and_carries_media_both_ways() {
    let heard = run(&[Family::V6], 0);
    assert_eq!(heard.offered, IpAddr::V6(DualStackNet::OURS_V6));
}

/// One dual-stack SIP socket (`[::]`) serving an IPv4 trunk and an IPv6 trunk at once: both
/// register; a call through the IPv4 one comes back to us over IPv4 (which the socket sees as
/// IPv4-mapped IPv6 and must name as IPv4, or the trunk's call would be a stranger's). (A call
/// between our two families' legs would need a media relay between them, as between any IPv4-only
/// and IPv6-only parties; it is not tried.)
#[test]
fn a_dual_stack_socket_serves_an_ipv4_and_an_ipv6_trunk() {
    let heard = run(&[Family::V4, Family::V6], 0);
    assert_eq!(heard.offered, IpAddr::V4(DualStackNet::OURS_V4));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    V4,
    V6,
}

/// What the call showed.
#[derive(Debug)]
struct Heard {
    /// The address our outbound leg's SDP named.
    offered: IpAddr,
}

/// Registers one trunk per family (users `agent` for the first, `bob` for the second), calls our
/// DID through trunk `through` and checks the tones.
fn run(families: &[Family], through: usize) -> Heard {
    let net = DualStackNet::create()
        .unwrap_or_else(|err| panic!("this test builds network namespaces and needs root: {err}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let trunk = net
        .carrier
        .spawn(|| {
            runtime().block_on(Kamailio::start(KamailioOptions {
                ip: DualStackNet::TRUNK_V4,
                ip6: Some(DualStackNet::TRUNK_V6),
                ..KamailioOptions::default()
            }))
        })
        .expect("carrier thread")
        .join()
        .expect("carrier thread")
        .expect("kamailio with an IPv6 listener");
    let proxies: Vec<SocketAddr> = families
        .iter()
        .map(|f| match f {
            Family::V4 => trunk.addr(),
            Family::V6 => trunk.addr6().expect("IPv6 listener"),
        })
        .collect();
    let recordings = (dir.path().join("caller.wav"), dir.path().join("callee.wav"));
    let (caller_wav, callee_wav) = recordings.clone();
    let heard = net
        .ours
        .spawn(move || Ok(runtime().block_on(ringback(proxies, through, caller_wav, callee_wav))))
        .expect("our thread")
        .join()
        .unwrap_or_else(|_| panic!("our side failed; kamailio's log:\n{}", trunk.log()))
        .expect("our side");
    let log = trunk.log();
    for (i, user) in ["agent", "bob"].iter().take(families.len()).enumerate() {
        assert!(
            log.contains(&format!("AUTH-OK REGISTER from {user}")),
            "trunk {i} registered:\n{log}"
        );
    }
    let want = match families[through] {
        Family::V4 => format!("({}:", DualStackNet::OURS_V4),
        // kamailio writes `$si:$sp` without brackets.
        Family::V6 => format!("({}:", DualStackNet::OURS_V6),
    };
    assert!(
        log.lines()
            .any(|l| l.contains("REQ INVITE sip:+1777") && l.contains(&want)),
        "the INVITE came from our {want} address:\n{log}"
    );
    let (at_caller, at_callee) = (
        share(&samples(&recordings.0), CALLEE_HZ),
        share(&samples(&recordings.1), CALLER_HZ),
    );
    assert!(
        at_caller > 0.5,
        "the calling leg heard the called leg: {at_caller}"
    );
    assert!(
        at_callee > 0.5,
        "the called leg heard the calling leg: {at_callee}"
    );
    heard
}

/// Our side: one SIP socket on `[::]` (both families), one trunk per proxy, a call to our own DID
/// through trunk `through`, answered by ourselves, a tone each way, our hang-up.
async fn ringback(
    proxies: Vec<SocketAddr>,
    through: usize,
    caller_wav: PathBuf,
    callee_wav: PathBuf,
) -> Heard {
    let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))
        .await
        .expect("dual-stack SIP socket");
    let config = EndpointConfig::new(socket.local_addr().expect("bound"));
    let trunks: Vec<TrunkConfig> = proxies
        .iter()
        .zip([("agent", "agentpw"), ("bob", "bobpw")])
        .enumerate()
        .map(|(i, (proxy, (user, password)))| TrunkConfig {
            domain: "trunk.test".into(),
            credentials: Some(TrunkCredentials {
                username: user.into(),
                auth_username: None,
                password: password.into(),
            }),
            register: true,
            register_expires: 60,
            ..TrunkConfig::new(&format!("trunk{i}"), *proxy)
        })
        .collect();
    sip_stack::driver::check_addresses(&config, &trunks).expect("addresses");
    let driver = sip_stack::driver::start(
        Sockets {
            udp: socket,
            tcp: None,
            tls: None,
        },
        DriverOptions::default(),
        config,
        trunks,
    );
    let (sip, task, mut incoming) = (driver.handle, driver.task, driver.incoming);
    let mut registrations = sip.registrations();
    tokio::time::timeout(STEP, async {
        loop {
            if registrations
                .borrow()
                .iter()
                .all(|r| matches!(r, RegistrationStatus::Registered { .. }))
            {
                break;
            }
            registrations.changed().await.expect("driver alive");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("every trunk registered: {:?}", registrations.borrow()));

    // The calling leg, as a call is placed: media bound and named as the production path does.
    let runtime_config = RuntimeConfig::default();
    let (caller_rtp, caller_offer) = local_media(&runtime_config, proxies[through].ip())
        .await
        .expect("media for the calling leg");
    // The DID is delivered to the registered `agent` (the first trunk's user).
    let mut placed = sip
        .invite(InviteParams {
            trunk: TrunkId(through),
            to_user: "+17770004242".into(),
            sdp_offer: caller_offer.to_sdp().into_bytes(),
            from_user: None,
            headers: Vec::new(),
        })
        .await
        .expect("INVITE");
    let call = tokio::time::timeout(STEP, incoming.recv())
        .await
        .expect("the call comes back to us in time")
        .expect("driver alive");
    assert_eq!(
        call.info.trunk,
        TrunkId(0),
        "delivered by the trunk we registered `agent` on"
    );
    let (callee_rtp, callee_local) = local_media(&runtime_config, call.info.source.addr.ip())
        .await
        .expect("media for the called leg");
    let offer = sdp::parse_audio(&call.info.sdp).expect("the offer");
    let (answer, callee_negotiated) =
        sdp::answer(&callee_local, 1, &offer, None, Direction::SendRecv).expect("an answer");
    sip.accept(call.info.call, answer.into_bytes())
        .await
        .expect("200 OK");
    let answer = tokio::time::timeout(STEP, async {
        loop {
            match placed.events.recv().await.expect("call events") {
                CallEvent::Answered { sdp } => break sdp,
                CallEvent::Ended(cause) => panic!("call ended: {cause:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("answered");
    let caller_negotiated =
        sdp::negotiate(&caller_offer, &sdp::parse_audio(&answer).expect("the answer")).expect("a codec");

    let caller = session(caller_rtp, &caller_negotiated, &caller_wav, CALLER_HZ).await;
    let callee = session(callee_rtp, &callee_negotiated, &callee_wav, CALLEE_HZ).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    sip.hangup(placed.handle).await.expect("BYE");
    for running in [caller, callee] {
        running.handle.stop().await.expect("stop");
        running.task.await.expect("media task").expect("summary");
    }
    sip.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Heard {
        offered: caller_offer.address,
    }
}

/// A media session for one leg, recording to `wav` and playing a tone at `hz`.
async fn session(rtp: UdpSocket, negotiated: &sdp::Negotiated, wav: &Path, hz: f64) -> RunningSession {
    let codec = match negotiated.codec.encoding.to_ascii_uppercase().as_str() {
        "PCMU" => Codec::Pcmu,
        "PCMA" => Codec::Pcma,
        other => panic!("{other} is not G.711"),
    };
    let mut config = SessionConfig::new(
        codec,
        PayloadType::new(negotiated.codec.payload_type).expect("payload type"),
        negotiated.remote,
        Ssrc(if hz == CALLER_HZ { 0x1111 } else { 0x2222 }),
    );
    config.latch = LatchPolicy::Never;
    config.recording = Some(wav.to_owned());
    let session = MediaSession::new(config, tokio::time::Instant::now().into_std()).expect("session");
    let running = media_core::driver::spawn(rtp, session, CancellationToken::new());
    running
        .handle
        .play(UtteranceId(1), tone(hz, 2.0))
        .await
        .expect("play");
    running
}

/// `seconds` of a sine at `hz`, 8 kHz.
fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// The far end's channel (left) of a recording, with its sample rate.
fn samples(path: &Path) -> (Vec<f64>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let all: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    let left = all
        .chunks(channels)
        .filter_map(|f| f.first())
        .map(|&s| f64::from(s))
        .collect();
    (left, spec.sample_rate)
}

/// The share of the signal's energy at `hz` (Goertzel over 20 ms blocks), 0 to about 1.
fn share((signal, rate): &(Vec<f64>, u32), hz: f64) -> f64 {
    let block = (*rate / 50) as usize;
    let (mut at, mut total) = (0.0, 0.0);
    for chunk in signal.chunks_exact(block) {
        let k = (hz * block as f64 / f64::from(*rate)).round();
        let w = 2.0 * std::f64::consts::PI * k / block as f64;
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in chunk {
            let s0 = x + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        at += power * 2.0 / block as f64;
        total += chunk.iter().map(|x| x * x).sum::<f64>();
    }
    if total == 0.0 { 0.0 } else { at / total }
}
