//! Ringback's SIP and media on real networks, in network namespaces (ringback-testbed's `NatNet`):
//! bound to the unspecified address with nothing configured, behind a NAT, it registers to kamailio
//! on the carrier side (which reports our public address back), calls a baresip phone there (or is
//! called by it) and talks both ways, while a host on our LAN and one on the internet spray RTP at
//! our port and get nothing back, and nothing of theirs is heard. The carrier either rewrites our
//! private SDP address (nathelper) or anchors media on its own relay (rtpengine), as real carriers
//! do. Needs root (namespaces); fails saying so without it.

use agent_runtime::RuntimeConfig;
use agent_runtime::call::{local_media, media_address};
use media_core::driver::RunningSession;
use media_core::{Codec, MediaSession, SessionConfig, Ssrc};
use media_core::{LatchPolicy, pacer::UtteranceId, rtp::PayloadType};
use ringback_testbed::netns::NatNet;
use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions, Rtpengine, StunServer};
use sip_stack::driver::{DriverOptions, Sockets};
use sip_stack::sdp::{self, Direction, Format, Offer};
use sip_stack::{
    CallEvent, EndpointConfig, InviteParams, RegistrationStatus, TrunkConfig, TrunkCredentials, TrunkId,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What the phone plays: a 1 kHz tone, then silence (baresip hangs up when its file ends).
const PHONE_HZ: f64 = 1000.0;
/// What we play to the phone.
const OUR_HZ: f64 = 600.0;
/// What the attackers' RTP carries, which must never be heard.
const ATTACK_HZ: f64 = 2000.0;
const STEP: Duration = Duration::from_secs(15);
/// The DID the phone dials to reach us (kamailio delivers `+1777...` to the registered `agent`).
const OUR_DID: &str = "+17770001234";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// With port forwarding: our SIP and RTP ports, forwarded from the router's public address.
const FORWARDED_SIP: u16 = 5070;
const FORWARDED_RTP: u16 = 40_000;

/// How the carrier treats our media.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Edge {
    /// Nothing: SDP goes through untouched, media flows directly between us and the phone.
    Direct,
    /// No relay: kamailio rewrites a private address in our SDP to the address our SIP came from.
    RewriteSdp,
    /// rtpengine anchors media: each side sees the relay, which latches onto our NAT's mapping.
    Relay,
}

/// Who calls whom.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CallDirection {
    /// We call the phone.
    Outbound,
    /// The phone calls our DID, which the trunk delivers to our registered contact through the NAT.
    Inbound,
}

/// How our addresses are known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Addressing {
    /// Nothing configured: the route towards the trunk, and what the registrar reports back.
    Detected,
    /// The router forwards our SIP and RTP ports, and `public_addr` and `public_ip` name it.
    Forwarded,
    /// Detected for SIP; for RTP, a STUN server on the carrier side tells each call's socket.
    Stun,
}

#[test]
fn behind_a_nat_we_register_call_and_talk_while_rtp_sprayers_get_nothing() {
    run(Edge::RewriteSdp, CallDirection::Outbound, Addressing::Detected);
}

/// Scenario (a) of the real-networks issue: the carrier's media edge is rtpengine, driven by kamailio.
#[test]
fn behind_a_nat_our_call_talks_through_the_carriers_media_relay() {
    run(Edge::Relay, CallDirection::Outbound, Addressing::Detected);
}

/// Scenario (d): a call to our DID reaches us through the NAT at the contact we registered, and its
/// media goes through the carrier's relay.
#[test]
fn behind_a_nat_a_call_to_our_number_reaches_us_and_talks() {
    run(Edge::Relay, CallDirection::Inbound, Addressing::Detected);
}

/// Scenario (b): a static public address with port forwarding, configured; no help from the carrier
/// (SDP untouched, no relay). The internet attacker's RTP now reaches our socket through the
/// forwarded port, and is dropped and counted there.
#[test]
fn with_port_forwarding_and_our_public_address_configured_media_flows_directly() {
    run(Edge::Direct, CallDirection::Outbound, Addressing::Forwarded);
}

/// Scenario (c): a direct peer with no media edge (kamailio leaves our SDP alone) while we are
/// behind the NAT: `[media] stun_server` makes the SDP name the address and port the NAT gives our
/// RTP socket.
#[test]
fn behind_a_nat_stun_finds_the_address_a_direct_peer_can_send_media_to() {
    run(Edge::Direct, CallDirection::Outbound, Addressing::Stun);
}

/// Scenario (c), called: the answer to the phone's offer names the STUN-learnt address.
#[test]
fn behind_a_nat_stun_finds_our_media_address_for_a_call_from_a_direct_peer() {
    run(Edge::Direct, CallDirection::Inbound, Addressing::Stun);
}

/// Scenario (b), called: the phone's call reaches the forwarded SIP port.
#[test]
fn with_port_forwarding_a_call_to_our_number_reaches_us_and_talks() {
    run(Edge::Direct, CallDirection::Inbound, Addressing::Forwarded);
}

fn run(edge: Edge, direction: CallDirection, addressing: Addressing) {
    let net = NatNet::create()
        .unwrap_or_else(|err| panic!("this test builds network namespaces and needs root: {err}"));
    if addressing == Addressing::Forwarded {
        net.forward_udp(&[FORWARDED_SIP, FORWARDED_RTP])
            .expect("port forwarding on the router");
    }
    net.carrier.enter().expect("into the carrier namespace");
    let dir = tempfile::tempdir().expect("temp dir");
    runtime().block_on(scenario(&net, dir.path(), edge, direction, addressing));
}

/// What the Ringback side saw.
#[derive(Debug)]
struct Ours {
    /// The address our SDP named.
    offered: IpAddr,
    /// Our RTP socket's port.
    rtp_port: u16,
    /// Where the far end's SDP said its media is.
    remote: SocketAddr,
    /// The caller's number on an inbound call.
    caller: Option<String>,
    stats: media_core::MediaStats,
    recording: PathBuf,
}

async fn scenario(net: &NatNet, dir: &Path, edge: Edge, direction: CallDirection, addressing: Addressing) {
    let relay = match edge {
        Edge::Relay => Some(
            Rtpengine::start(NatNet::TRUNK)
                .await
                .expect("rtpengine on the carrier side (apt rtpengine-daemon)"),
        ),
        Edge::RewriteSdp | Edge::Direct => None,
    };
    let stun_server = match addressing {
        Addressing::Stun => Some(
            StunServer::start(NatNet::TRUNK)
                .await
                .expect("coturn on the carrier side (apt coturn)"),
        ),
        Addressing::Detected | Addressing::Forwarded => None,
    };
    let stun = stun_server.as_ref().map(StunServer::addr);
    let trunk = Kamailio::start(KamailioOptions {
        ip: NatNet::TRUNK,
        nat_sdp: edge == Edge::RewriteSdp,
        rtpengine: relay.as_ref().map(Rtpengine::ng_addr),
        ..KamailioOptions::default()
    })
    .await
    .expect("kamailio on the carrier side");
    let phone_wav = dir.join("phone.wav");
    write_tone(&phone_wav, PHONE_HZ, 4.0, 30.0);
    let mut options = PhoneOptions::new(trunk.addr(), &phone_wav);
    options.ip = NatNet::PHONE;
    let phone = Phone::start(options).await.expect("baresip on the carrier side");

    // Ringback, on the LAN, on its own thread and runtime.
    let (port_tx, port_rx) = oneshot::channel();
    let (registered_tx, registered_rx) = oneshot::channel();
    let trunk_addr = trunk.addr();
    let recording = dir.join("call.wav");
    let ours = net
        .lan
        .spawn(move || {
            Ok(runtime().block_on(ringback(
                trunk_addr,
                direction,
                addressing,
                stun,
                recording,
                registered_tx,
                port_tx,
            )))
        })
        .expect("LAN thread");

    tokio::time::timeout(STEP, registered_rx)
        .await
        .expect("registered in time")
        .expect("the LAN side is alive");
    if direction == CallDirection::Inbound {
        phone
            .dial(&format!("sip:{OUR_DID}@{trunk_addr}"))
            .await
            .expect("the phone dials our number");
    }

    // Both attackers spray as soon as our RTP port exists (while the phone rings).
    let rtp_port = tokio::time::timeout(STEP, port_rx)
        .await
        .expect("our RTP port in time")
        .expect("the LAN side is alive");
    let stop = Arc::new(AtomicBool::new(false));
    let internet = sprayer(
        SocketAddr::from((NatNet::ATTACKER, 0)),
        SocketAddr::from((NatNet::PUBLIC, rtp_port)),
        stop.clone(),
    )
    .await;
    let intruder = net
        .lan
        .spawn({
            let stop = stop.clone();
            move || {
                Ok(runtime().block_on(async move {
                    sprayer(
                        SocketAddr::from((NatNet::INTRUDER, 0)),
                        SocketAddr::from((NatNet::RINGBACK, rtp_port)),
                        stop,
                    )
                    .await
                    .await
                    .expect("intruder")
                }))
            }
        })
        .expect("intruder thread");

    phone
        .wait_for_event(EventKind::CallEstablished, STEP)
        .await
        .expect("the call is established at the phone");
    // The registrar's bindings while we are registered (we unregister on shutdown).
    let bindings = kamcmd(trunk.run_dir(), &["ul.dump"]);
    phone
        .wait_for_event(EventKind::CallClosed, STEP)
        .await
        .expect("we hang up");
    stop.store(true, Ordering::Relaxed);
    let internet = internet.await.expect("internet attacker");
    let (intruder_sent, intruder_got) = intruder.join().expect("intruder thread").expect("intruder");
    let ours: Ours = ours.join().expect("LAN thread").expect("LAN side");

    // Addresses: the SDP named our LAN address (the route towards the trunk) or the configured
    // public one, never 0.0.0.0; the registrar saw the NAT's address and our Contact follows it.
    let offered = match addressing {
        Addressing::Detected => NatNet::RINGBACK,
        Addressing::Forwarded | Addressing::Stun => NatNet::PUBLIC,
    };
    assert_eq!(ours.offered, IpAddr::V4(offered));
    let log = trunk.log();
    match edge {
        Edge::Direct => {
            assert_eq!(
                ours.remote.ip(),
                IpAddr::V4(NatNet::PHONE),
                "the phone's media source"
            );
            assert!(
                !log.contains("NAT-SDP") && !log.contains("MEDIA-EDGE"),
                "nobody touched the SDP:\n{log}"
            );
        }
        Edge::RewriteSdp => {
            assert_eq!(
                ours.remote.ip(),
                IpAddr::V4(NatNet::PHONE),
                "the phone's media source"
            );
            assert!(
                log.contains(&format!("NAT-SDP {}", NatNet::PUBLIC)),
                "kamailio rewrote our private SDP address:\n{log}"
            );
        }
        Edge::Relay => {
            let relay = relay.as_ref().expect("relay");
            assert_eq!(
                ours.remote.ip(),
                IpAddr::V4(relay.media_ip()),
                "the far end's SDP names the carrier's relay, not the phone"
            );
            let (offerer, answerer) = match direction {
                CallDirection::Outbound => (NatNet::PUBLIC, NatNet::PHONE),
                CallDirection::Inbound => (NatNet::PHONE, NatNet::PUBLIC),
            };
            assert!(
                log.contains(&format!("MEDIA-EDGE offer from {offerer}"))
                    && log.contains(&format!("MEDIA-EDGE answer from {answerer}")),
                "both SDPs went through the relay:\n{log}"
            );
            assert!(!log.contains("NAT-SDP"), "{log}");
            let relay_log = relay.log();
            assert!(
                relay_log.contains(&format!("Confirmed peer address as {}:", NatNet::PUBLIC)),
                "the relay latched onto our NAT's public address:\n{relay_log}"
            );
        }
    }
    if direction == CallDirection::Inbound {
        assert!(
            log.contains(&format!("REQ INVITE sip:{OUR_DID}@{}", NatNet::PUBLIC)),
            "kamailio sent the call to our public contact:\n{log}"
        );
        assert_eq!(ours.caller.as_deref(), Some("alice"), "{ours:?}");
    }
    let contact = match addressing {
        Addressing::Detected | Addressing::Stun => {
            // The first Contact named the LAN address; the registrar's received/rport replaced it.
            assert!(
                trunk.count("AUTH-OK REGISTER from agent") >= 2,
                "re-registered:\n{log}"
            );
            format!("sip:agent@{}:", NatNet::PUBLIC)
        }
        Addressing::Forwarded => format!("sip:agent@{}:{FORWARDED_SIP}", NatNet::PUBLIC),
    };
    assert!(
        bindings.contains(&contact),
        "our binding names the NAT's address ({contact}):\n{bindings}"
    );
    assert!(
        !bindings.contains(&NatNet::RINGBACK.to_string()),
        "no binding of the private address is left:\n{bindings}"
    );

    // Two-way audio.
    let heard = phone.heard_wav().expect("the phone's recording");
    let theirs = samples(&heard, 0);
    let ours_heard = samples(&ours.recording, 0);
    let (at_phone, at_us, attack) = (
        share(&theirs, OUR_HZ),
        share(&ours_heard, PHONE_HZ),
        share(&ours_heard, ATTACK_HZ),
    );
    assert!(at_phone > 0.5, "the phone heard our tone: {at_phone}");
    assert!(at_us > 0.5, "we heard the phone's tone: {at_us} {ours:?}");
    assert!(attack < 0.01, "nothing of the attackers was heard: {attack}");

    // The attackers: sprayed, got nothing; those that reached us were dropped and counted.
    assert!(
        intruder_sent > 50 && internet.0 > 50,
        "{intruder_sent} {internet:?}"
    );
    assert_eq!((intruder_got, internet.1), (0, 0), "no audio for an attacker");
    // Behind a plain NAT only the intruder on our LAN reaches our socket; through a forwarded port
    // the internet attacker does too.
    let reached = match addressing {
        Addressing::Detected | Addressing::Stun => intruder_sent,
        Addressing::Forwarded => intruder_sent + internet.0,
    };
    assert!(
        ours.stats.foreign >= reached / 2,
        "the attackers' packets that reached us are counted ({reached} sent): {:?}",
        ours.stats
    );
    assert!(ours.stats.packets_received > 100, "{:?}", ours.stats);
    assert_eq!(ours.rtp_port, rtp_port);
}

/// Ringback's side: SIP and RTP bound to 0.0.0.0 with nothing configured, a registration through
/// the NAT, then a call to the phone or from it, 4 s of talk, and our hang-up.
async fn ringback(
    trunk_addr: SocketAddr,
    direction: CallDirection,
    addressing: Addressing,
    stun: Option<SocketAddr>,
    recording: PathBuf,
    registered_tx: oneshot::Sender<()>,
    port_tx: oneshot::Sender<u16>,
) -> Ours {
    let (sip_port, rtp_port, public_ip) = match addressing {
        Addressing::Detected | Addressing::Stun => (0, 0, None),
        Addressing::Forwarded => (FORWARDED_SIP, FORWARDED_RTP, Some(IpAddr::V4(NatNet::PUBLIC))),
    };
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, sip_port))
        .await
        .expect("SIP socket");
    let mut config = EndpointConfig::new(socket.local_addr().expect("bound"));
    config.public_addr = public_ip.map(|ip| SocketAddr::new(ip, sip_port));
    let trunk = TrunkConfig {
        domain: "trunk.test".into(),
        credentials: Some(TrunkCredentials {
            username: "agent".into(),
            auth_username: None,
            password: "agentpw".into(),
        }),
        register: true,
        register_expires: 60,
        ..TrunkConfig::new("carrier", trunk_addr)
    };
    sip_stack::driver::check_addresses(&config, std::slice::from_ref(&trunk)).expect("addresses");
    let driver = sip_stack::driver::start(
        Sockets {
            udp: socket,
            tcp: None,
            tls: None,
        },
        DriverOptions::default(),
        config,
        vec![trunk],
    );
    let (sip, sip_task, mut incoming) = (driver.handle, driver.task, driver.incoming);
    let mut registrations = sip.registrations();
    tokio::time::timeout(STEP, async {
        loop {
            if matches!(registrations.borrow()[0], RegistrationStatus::Registered { .. }) {
                break;
            }
            registrations.changed().await.expect("driver alive");
        }
    })
    .await
    .expect("registered through the NAT");
    // Let the rebinding REGISTER (the registrar's received/rport) go through.
    tokio::time::sleep(Duration::from_millis(500)).await;
    registered_tx.send(()).expect("main thread alive");

    let runtime_config = RuntimeConfig {
        public_ip,
        stun_server: stun,
        ..RuntimeConfig::default()
    };
    // The production path: the socket, and the address and port our SDP names.
    let (rtp, ours) = match rtp_port {
        0 => local_media(&runtime_config, trunk_addr.ip())
            .await
            .expect("RTP socket and media address"),
        port => {
            let rtp = UdpSocket::bind((runtime_config.rtp_ip, port))
                .await
                .expect("the forwarded RTP port");
            let offer = Offer {
                session_id: 7,
                address: media_address(&runtime_config, trunk_addr.ip()).expect("media address"),
                port,
                formats: vec![Format::new(0, "PCMU", 8000)],
                ptime: 20,
                crypto: Vec::new(),
            };
            (rtp, offer)
        }
    };
    let (offered, rtp_port) = (ours.address, rtp.local_addr().expect("bound").port());
    let (handle, mut events, negotiated, caller) = match direction {
        CallDirection::Outbound => {
            port_tx.send(rtp_port).expect("main thread alive");
            let mut call = sip
                .invite(InviteParams {
                    from_user: None,
                    headers: Vec::new(),
                    trunk: TrunkId(0),
                    to_user: "+15551230001".into(),
                    sdp_offer: ours.to_sdp().into_bytes(),
                })
                .await
                .expect("INVITE");
            let answer = tokio::time::timeout(STEP, async {
                loop {
                    match call.events.recv().await.expect("call events") {
                        CallEvent::Answered { sdp } => break sdp,
                        CallEvent::Ended(cause) => panic!("call ended: {cause:?}"),
                        _ => {}
                    }
                }
            })
            .await
            .expect("answered");
            let negotiated =
                sdp::negotiate(&ours, &sdp::parse_audio(&answer).expect("SDP answer")).expect("PCMU");
            (call.handle, call.events, negotiated, None)
        }
        CallDirection::Inbound => {
            let call = tokio::time::timeout(STEP, incoming.recv())
                .await
                .expect("an inbound call in time")
                .expect("driver alive");
            port_tx.send(rtp_port).expect("main thread alive");
            let offer = sdp::parse_audio(&call.info.sdp).expect("the phone's offer");
            let (answer, negotiated) =
                sdp::answer(&ours, 7, &offer, None, Direction::SendRecv).expect("PCMU");
            sip.accept(call.info.call, answer.into_bytes())
                .await
                .expect("200 OK");
            (call.info.call, call.events, negotiated, call.info.from_user)
        }
    };
    let codec = match negotiated.codec.encoding.to_ascii_uppercase().as_str() {
        "PCMU" => Codec::Pcmu,
        "PCMA" => Codec::Pcma,
        other => panic!("the phone chose {other}, not G.711"),
    };
    let mut session_config = SessionConfig::new(
        codec,
        PayloadType::new(negotiated.codec.payload_type).expect("payload type"),
        negotiated.remote,
        Ssrc(0x5151),
    );
    session_config.latch = LatchPolicy::Private;
    session_config.recording = Some(recording.clone());
    let session = MediaSession::new(session_config, tokio::time::Instant::now().into_std()).expect("session");
    let RunningSession {
        handle: media, task, ..
    } = media_core::driver::spawn(rtp, session, CancellationToken::new());
    media.play(UtteranceId(1), tone(OUR_HZ, 3.0)).await.expect("play");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Nothing may have ended the call meanwhile.
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, CallEvent::Ended(_)),
            "call ended early: {event:?}"
        );
    }
    sip.hangup(handle).await.expect("BYE");
    media.stop().await.expect("stop media");
    let summary = task.await.expect("media task").expect("summary");
    sip.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), sip_task).await;
    Ours {
        offered,
        rtp_port,
        remote: negotiated.remote,
        caller,
        stats: summary.stats,
        recording,
    }
}

/// Sprays PCMU packets carrying a tone at `to` from `from` every 5 ms until `stop`, and counts what
/// comes back: (sent, received).
async fn sprayer(
    from: SocketAddr,
    to: SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, u64)> {
    let socket = UdpSocket::bind(from).await.expect("attacker socket");
    tokio::spawn(async move {
        let payload = mulaw(&tone(ATTACK_HZ, 0.02));
        let (mut sent, mut received, mut buf) = (0u64, 0u64, [0u8; 2048]);
        let mut seq = 0u16;
        while !stop.load(Ordering::Relaxed) {
            let mut packet = vec![0x80, 0];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            packet.extend_from_slice(&0x0BAD_F00Du32.to_be_bytes());
            packet.extend_from_slice(&payload);
            if socket.send_to(&packet, to).await.is_ok() {
                sent += 1;
            }
            seq = seq.wrapping_add(1);
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(5), socket.recv_from(&mut buf)).await
            {
                received += 1;
            }
        }
        (sent, received)
    })
}

/// `seconds` of a sine at `hz`, 8 kHz, at about -12 dBFS.
fn tone(hz: f64, seconds: f64) -> Vec<i16> {
    let n = (seconds * 8000.0) as usize;
    (0..n)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// G.711 mu-law of linear samples.
fn mulaw(samples: &[i16]) -> Vec<u8> {
    samples
        .iter()
        .map(|&s| {
            let sign = if s < 0 { 0x80 } else { 0 };
            let magnitude = (i32::from(s).abs().min(32_635) + 0x84) as u32;
            let exponent = (31 - magnitude.leading_zeros()).saturating_sub(7).min(7);
            let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
            !(sign | (exponent << 4) as u8 | mantissa as u8)
        })
        .collect()
}

/// Writes a tone of `tone_secs` then silence up to `total_secs` (8 kHz mono 16-bit: the phone's
/// microphone).
fn write_tone(path: &Path, hz: f64, tone_secs: f64, total_secs: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("WAV");
    let mut samples = tone(hz, tone_secs);
    samples.resize((total_secs * 8000.0) as usize, 0);
    for s in samples {
        writer.write_sample(s).expect("sample");
    }
    writer.finalize().expect("WAV written");
}

/// Channel `channel` of a WAV, with the WAV's sample rate.
fn samples(path: &Path, channel: usize) -> (Vec<f64>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let all: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    let picked = all
        .chunks(channels)
        .filter_map(|frame| frame.get(channel))
        .map(|&s| f64::from(s))
        .collect();
    (picked, spec.sample_rate)
}

/// The share of the signal's energy at `hz` (Goertzel over 20 ms blocks, summed), 0 to about 1.
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
        let energy: f64 = chunk.iter().map(|x| x * x).sum();
        // Goertzel's power is (N/2)^2 A^2 for a sine of amplitude A; its energy N A^2 / 2.
        at += power * 2.0 / block as f64;
        total += energy;
    }
    if total == 0.0 { 0.0 } else { at / total }
}

/// Runs `kamcmd` against a kamailio's control socket.
fn kamcmd(run_dir: &Path, args: &[&str]) -> String {
    let socket = format!("unix:{}/kamailio_ctl", run_dir.display());
    let out = std::process::Command::new("kamcmd")
        .arg("-s")
        .arg(&socket)
        .args(args)
        .output()
        .expect("kamcmd (apt kamailio)");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
