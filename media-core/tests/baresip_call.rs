//! Audio crosses a real call with a baresip phone over PCMU and over Opus, both ways, and
//! arrives intact.
//!
//! Real peers: kamailio as the trunk, baresip as the phone (`ringback-testbed`, installed by
//! `deploy/setup`), our SIP stack placing the call (its SDP offer, and its reading of the
//! answer: payload type and Opus parameters as the phone answered), and a `MediaSession` on the
//! dedicated tokio driver terminating the RTP. The phone plays a chirp into the call; we play a different one.
//! Each side's recording must hold the other's chirp, found by correlation.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use media_core::opus::OpusParams;
use media_core::srtp::{SdesKey, SrtpConfig};
use media_core::{Codec, MediaSession, PayloadType, SessionConfig, Ssrc, UtteranceId};
use ringback_testbed::badline::{BadLine, Impairment};
use ringback_testbed::{EventKind, Kamailio, KamailioOptions, Phone, PhoneOptions};
use sip_stack::sdp::{self, Format, Offer};
use sip_stack::{CallEvent, EndpointConfig, InviteParams, TrunkConfig, TrunkCredentials, TrunkId};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// A safety net against hanging, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);
const RATE: usize = 8000;

/// A linear chirp from `f0` to `f1` Hz over `samples` samples.
fn chirp(samples: usize, f0: f64, f1: f64, amplitude: f64) -> Vec<i16> {
    let duration = samples as f64 / RATE as f64;
    (0..samples)
        .map(|n| {
            let t = n as f64 / RATE as f64;
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) / (2.0 * duration) * t * t);
            (amplitude * phase.sin()) as i16
        })
        .collect()
}

/// Best normalized correlation of `needle` anywhere in `haystack` (step of one sample).
fn best_correlation(needle: &[i16], haystack: &[i16]) -> (usize, f64) {
    let norm = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let n = norm(needle);
    (0..haystack.len().saturating_sub(needle.len()))
        .map(|lag| {
            let window = &haystack[lag..lag + needle.len()];
            let dot: f64 = needle
                .iter()
                .zip(window)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let w = norm(window);
            (lag, if w == 0.0 { 0.0 } else { dot / (n * w) })
        })
        .fold((0, f64::MIN), |best, cur| if cur.1 > best.1 { cur } else { best })
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("write the microphone WAV");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// One channel of a WAV (mono, or `channel` of stereo), at 8 kHz: baresip dumps what it decoded
/// at the codec's rate (48 kHz stereo for Opus), which is brought down by averaging (a boxcar
/// low-pass, plenty for chirps under 3 kHz).
fn read_channel(path: &Path, channel: usize) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).expect("recording readable");
    let spec = r.spec();
    let channels = usize::from(spec.channels);
    let factor = spec.sample_rate as usize / RATE;
    assert_eq!(factor * RATE, spec.sample_rate as usize, "{spec:?}");
    let samples: Vec<i16> = r
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .skip(channel.min(channels - 1))
        .step_by(channels)
        .collect();
    samples
        .chunks_exact(factor)
        .map(|c| (c.iter().map(|&x| i32::from(x)).sum::<i32>() / factor as i32) as i16)
        .collect()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-core-baresip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Our SDP offer for `codec`, built by the SIP stack: PCMU with telephone-event, or Opus as
/// RFC 7587 writes it (`opus/48000/2` and our parameters in `a=fmtp`).
fn offer(codec: Codec, port: u16, srtp: bool) -> Offer {
    let formats = match codec {
        Codec::Opus => vec![
            Format::new(111, "opus", 48000)
                .with_channels(2)
                .with_fmtp(&OpusParams::ours().to_fmtp()),
        ],
        _ => vec![
            Format::new(0, "PCMU", 8000),
            Format::new(101, "telephone-event", 8000),
        ],
    };
    Offer {
        session_id: 7,
        address: IpAddr::from([127, 0, 0, 1]),
        port,
        formats,
        ptime: 20,
        // A fresh AES_CM_128_HMAC_SHA1_80 key, as the agent runtime offers one.
        crypto: if srtp {
            let key = SdesKey::from_random(rand::random());
            vec![sdp::Crypto::parse(&key.to_attribute(1)).expect("our a=crypto parses")]
        } else {
            Vec::new()
        },
    }
}

/// Places a call to a baresip phone offering `codec` only, plays a chirp each way, and returns
/// the correlation of each chirp in the other side's recording: (phone to us, us to phone).
async fn chirps_across_a_call(codec: Codec, phone_codecs: &str, srtp: bool) -> (f64, f64) {
    let (to_us, to_phone, _) = chirps_across(codec, phone_codecs, srtp, None).await;
    (to_us, to_phone)
}

/// What a call over a bad line saw: our session's counters and the line's.
struct OverTheLine {
    ours: media_core::MediaStats,
    line: (u64, u64, u64),
}

/// As [`chirps_across_a_call`], with the media (both ways) through a [`BadLine`] when `line` is
/// given: our SDP names the relay, and our session sends to it.
async fn chirps_across(
    codec: Codec,
    phone_codecs: &str,
    srtp: bool,
    line: Option<Impairment>,
) -> (f64, f64, Option<OverTheLine>) {
    let dir = temp_dir().join(format!("{}-{srtp}-{}", codec.encoding_name(), line.is_some()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The phone's microphone: 1 s of silence, a 2 s chirp up, silence until it is hung up.
    let theirs = chirp(2 * RATE, 300.0, 3000.0, 9000.0);
    let mut mic = vec![0i16; RATE];
    mic.extend_from_slice(&theirs);
    mic.resize(30 * RATE, 0);
    let mic_path = dir.join("mic.wav");
    write_wav(&mic_path, &mic);

    let trunk = Kamailio::start(KamailioOptions::default())
        .await
        .expect("kamailio must be installed (deploy/setup)");
    let mut phone = PhoneOptions::new(trunk.addr(), &mic_path).codecs(phone_codecs);
    phone.srtp = srtp;
    let alice = Phone::start(phone)
        .await
        .expect("baresip must be installed (deploy/setup)");

    let sip_socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind SIP");
    let sip_addr = sip_socket.local_addr().expect("addr");
    let trunk_config = TrunkConfig {
        name: "kamailio".to_owned(),
        proxy: trunk.addr(),
        host: None,
        domain: String::new(),
        credentials: Some(TrunkCredentials {
            username: "agent".to_owned(),
            auth_username: None,
            password: "agentpw".to_owned(),
        }),
        register: false,
        register_expires: 300,
        ..TrunkConfig::new("kamailio", trunk.addr())
    };
    let (sip, sip_task) =
        sip_stack::driver::spawn(sip_socket, EndpointConfig::new(sip_addr), vec![trunk_config]);

    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("bind RTP");
    let port = rtp.local_addr().expect("addr").port();
    let relay = match line {
        Some(_) => Some(BadLine::bind().await.expect("relay socket")),
        None => None,
    };
    let mut offer = offer(codec, port, srtp);
    if let Some(relay) = &relay {
        offer.port = relay.addr().port();
    }
    let mut placed = sip
        .invite(InviteParams {
            from_user: None,
            headers: Vec::new(),
            trunk: TrunkId(0),
            to_user: "+15551234567".to_owned(),
            sdp_offer: offer.to_sdp().into_bytes(),
        })
        .await
        .expect("invite");
    let answer = loop {
        match tokio::time::timeout(PATIENCE, placed.events.recv())
            .await
            .expect("answered in time")
            .expect("call events")
        {
            CallEvent::Answered { sdp } => break sdp,
            CallEvent::Progress { .. } => {}
            CallEvent::Ended(cause) => panic!("call ended before the answer: {cause:?}"),
            _ => {}
        }
    };
    // Everything the session uses comes from the phone's answer, read by the SIP stack.
    let negotiated = sdp::parse_audio(&answer)
        .and_then(|a| sdp::negotiate(&offer, &a))
        .expect("an answer we can use");
    assert!(
        negotiated
            .codec
            .encoding
            .eq_ignore_ascii_case(codec.encoding_name()),
        "the phone took our codec: {}",
        String::from_utf8_lossy(&answer)
    );
    let (mut remote, pt) = (negotiated.remote, negotiated.codec.payload_type);
    let running_line = match (relay, line) {
        (Some(relay), Some(impairment)) => {
            let ours = SocketAddr::from(([127, 0, 0, 1], port));
            let relay_addr = relay.addr();
            let running = relay.start(ours, remote, impairment);
            remote = relay_addr;
            Some(running)
        }
        _ => None,
    };

    let recording = dir.join("ours.wav");
    let mut config = SessionConfig::new(codec, PayloadType::new(pt).expect("pt"), remote, Ssrc(0x5EED));
    config.recording = Some(recording.clone());
    assert_eq!(
        negotiated.crypto.is_some(),
        srtp,
        "the answer is RTP/SAVP exactly when SRTP was wanted: {}",
        String::from_utf8_lossy(&answer)
    );
    if let Some(keys) = &negotiated.crypto {
        let key = |c: &sdp::Crypto| SdesKey::parse_attribute(&c.to_value()).expect("SDES key").1;
        config.srtp = Some(SrtpConfig {
            local: key(&keys.local),
            remote: key(&keys.remote),
        });
    }
    if codec == Codec::Opus {
        let fmtp = negotiated.codec.fmtp.as_deref().unwrap_or_default();
        config.opus = OpusParams::parse_fmtp(fmtp).expect("the phone's Opus fmtp");
    }
    let session = MediaSession::new(config, tokio::time::Instant::now().into_std()).expect("session");
    let running = media_core::driver::spawn(rtp, session, CancellationToken::new());
    // Ours: a chirp down, so the two directions cannot be mistaken for each other.
    let ours = chirp(2 * RATE, 2800.0, 400.0, 9000.0);
    let mut utterance = vec![0i16; RATE / 2];
    utterance.extend_from_slice(&ours);
    running
        .handle
        .play(UtteranceId(1), utterance)
        .await
        .expect("play");
    // Both chirps are over after 3.5 s of call.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sip.hangup(placed.handle).await.expect("hang up");
    alice
        .wait_for_event(EventKind::CallClosed, PATIENCE)
        .await
        .expect("phone hung up");
    running.handle.stop().await.expect("stop media");
    let summary = running.task.await.expect("task").expect("summary");
    sip.shutdown().await;
    let _ = tokio::time::timeout(PATIENCE, sip_task).await;

    assert!(summary.stats.packets_received > 200, "{:?}", summary.stats);
    assert_eq!(
        (summary.stats.malformed, summary.stats.decode_errors),
        (0, 0),
        "{:?}",
        summary.stats
    );
    // What we received: the phone's chirp, through the codec, baresip and our jitter buffer.
    let heard_by_us = read_channel(&summary.recording.expect("recording").path, 0);
    let (lag, to_us) = best_correlation(&theirs, &heard_by_us);
    eprintln!("{codec}: phone -> us: correlation {to_us:.4} at {} ms", lag / 8);
    // What the phone received: our chirp.
    let heard_wav = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(path) = alice.heard_wav() {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the phone's recording of the call");
    let heard_by_phone = read_channel(&heard_wav, 0);
    let (lag, to_phone) = best_correlation(&ours, &heard_by_phone);
    eprintln!(
        "{codec}: us -> phone: correlation {to_phone:.4} at {} ms",
        lag / 8
    );
    let _ = std::fs::remove_dir_all(&dir);
    let over = running_line.map(|l| {
        let s = l.stats();
        OverTheLine {
            ours: summary.stats,
            line: (
                s.received.load(std::sync::atomic::Ordering::Relaxed),
                s.dropped.load(std::sync::atomic::Ordering::Relaxed),
                s.forwarded.load(std::sync::atomic::Ordering::Relaxed),
            ),
        }
    });
    (to_us, to_phone, over)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcmu_audio_crosses_a_real_baresip_call_both_ways_intact() {
    let (to_us, to_phone) = chirps_across_a_call(Codec::Pcmu, "PCMU", false).await;
    assert!(
        to_us > 0.95,
        "the phone's chirp in our recording: correlation {to_us}"
    );
    assert!(
        to_phone > 0.95,
        "our chirp in the phone's recording: correlation {to_phone}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_audio_crosses_a_real_baresip_call_both_ways_intact() {
    let (to_us, to_phone) = chirps_across_a_call(Codec::Opus, "opus/48000/2", false).await;
    assert!(
        to_us > 0.9,
        "the phone's chirp in our recording: correlation {to_us}"
    );
    assert!(
        to_phone > 0.9,
        "our chirp in the phone's recording: correlation {to_phone}"
    );
}

/// SDES SRTP with a real peer: baresip's srtp module, `mediaenc=srtp-mand` (it refuses plain RTP),
/// AES_CM_128_HMAC_SHA1_80 keys exchanged in the SDP, PCMU inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_audio_crosses_a_real_baresip_call_both_ways_intact() {
    let (to_us, to_phone) = chirps_across_a_call(Codec::Pcmu, "PCMU", true).await;
    assert!(to_us > 0.95, "the phone's chirp, decrypted by us: {to_us}");
    assert!(to_phone > 0.95, "our chirp, decrypted by the phone: {to_phone}");
}

/// SRTP and Opus together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_opus_audio_crosses_a_real_baresip_call_both_ways_intact() {
    let (to_us, to_phone) = chirps_across_a_call(Codec::Opus, "opus/48000/2", true).await;
    assert!(to_us > 0.9, "the phone's chirp, decrypted by us: {to_us}");
    assert!(to_phone > 0.9, "our chirp, decrypted by the phone: {to_phone}");
}

/// A bad line both ways (the kernel's netem is not available here; the testbed's relay does the
/// same in userspace): 5 % loss, 30 ms delay plus up to 60 ms of jitter (so packets arrive out of
/// order), 2 % duplicates. The call's counters say what happened, and the audio still gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_jittery_line_is_counted_and_the_audio_still_crosses_it() {
    let line = Impairment {
        loss: 0.05,
        delay: Duration::from_millis(30),
        jitter: Duration::from_millis(60),
        duplicate: 0.02,
        seed: 7,
    };
    let (to_us, to_phone, over) = chirps_across(Codec::Pcmu, "PCMU", false, Some(line)).await;
    let OverTheLine {
        ours,
        line: (received, dropped, forwarded),
    } = over.expect("the line ran");
    eprintln!("line: {received} in, {dropped} dropped, {forwarded} out; ours: {ours:?}");
    assert!(
        dropped > 0 && forwarded > received - dropped,
        "{received} {dropped} {forwarded}"
    );
    assert!(ours.packets_lost > 0, "loss is counted: {ours:?}");
    assert!(ours.duplicates > 0, "duplicates are counted: {ours:?}");
    assert!(ours.frames_concealed > 0, "lost frames are concealed: {ours:?}");
    assert!(
        ours.jitter_ms > 5.0,
        "the line's jitter is measured (RFC 3550): {ours:?}"
    );
    assert!(to_us > 0.6, "the phone's chirp still heard by us: {to_us}");
    assert!(to_phone > 0.6, "our chirp still heard by the phone: {to_phone}");
}
