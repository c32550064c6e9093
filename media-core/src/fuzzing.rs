//! The bodies of the fuzz targets in `fuzz/`, here so the saved corpora replay as plain tests
//! (`tests/fuzz_corpus.rs`) through exactly the code the fuzzer ran. Each takes arbitrary
//! bytes and must return without panicking, whatever they are.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::Codec;
use crate::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::rtcp::{RtcpMode, RtcpSession};
use crate::rtp::{self, PayloadType, RtpTimestamp, Ssrc};
use crate::session::{LatchPolicy, MediaSession, SessionConfig};
use crate::srtp::{SdesKey, SrtpConfig, SrtpSession};
use crate::{MediaStats, UtteranceId};

#[allow(clippy::disallowed_methods)] // fuzz input has no clock: any origin will do
fn origin() -> Instant {
    Instant::now()
}

/// Splits `data` into datagrams, each prefixed by its length byte.
fn datagrams(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let n = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(n);
        rest = tail;
        Some(datagram)
    })
}

/// RTP: parses the input as one packet, then plays it as a stream of datagrams into a full
/// session (G.711, telephone-event, rtcp-mux), ticking as it goes.
pub fn rtp(data: &[u8]) {
    if let Ok(packet) = rtp::parse(data) {
        let _ = TelephoneEvent::parse(packet.payload);
    }
    let t0 = origin();
    let remote: SocketAddr = ([192, 0, 2, 1], 4000).into();
    let mut config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, remote, Ssrc(1));
    config.telephone_event_pt = PayloadType::new(101);
    config.rtcp = RtcpMode::Mux;
    let Ok(mut session) = MediaSession::new(config, t0) else {
        return;
    };
    let mut buf = [0u8; 1500];
    for (k, datagram) in datagrams(data).enumerate() {
        let now = t0 + Duration::from_millis(7 * k as u64);
        session.handle_datagram(now, remote, datagram);
        session.handle_timeout(now);
        while session.poll_transmit(&mut buf).is_some() {}
        while session.poll_transmit_rtcp(&mut buf).is_some() {}
        while session.poll_event().is_some() {}
    }
    let _ = session.stats();
}

/// A whole session with source changes, Opus and SRTP. The first byte configures it: bits 0-1 the
/// codec (PCMU, PCMA, Opus), bit 2 SRTP, bits 3-4 the latch policy, bit 5 a signalled address
/// behind a NAT (private) rather than public, bit 6 RTCP multiplexed. Then records of a header
/// byte, a length byte and that many bytes: header bits 0-2 pick the source (the signalled
/// address, its IP on another port, other IPv4 and IPv6 sources), bit 3 sends the bytes as they
/// are rather than protected with the peer's SRTP key (so, with SRTP on, the fuzzer's packets
/// reach past authentication), bits 4-7 advance the clock in 5 ms steps. The agent speaks
/// throughout, so the encoder and pacer run too. Returns the session's counters (`None` when the
/// configuration byte made no session), for the replay test to see the seeds still get through.
pub fn rtp_session(data: &[u8]) -> Option<MediaStats> {
    let (&config_byte, mut rest) = data.split_first()?;
    let (codec, pt) = match config_byte & 3 {
        0 => (Codec::Pcmu, Some(PayloadType::PCMU)),
        1 => (Codec::Pcma, PayloadType::new(8)),
        _ => (Codec::Opus, PayloadType::new(111)),
    };
    let pt = pt?;
    let srtp = config_byte & 4 != 0;
    let latch = match (config_byte >> 3) & 3 {
        0 => LatchPolicy::Always,
        1 => LatchPolicy::Never,
        _ => LatchPolicy::Private,
    };
    let signalled: SocketAddr = if config_byte & 32 != 0 {
        ([10, 1, 2, 3], 4000).into()
    } else {
        ([198, 51, 100, 20], 4000).into()
    };
    let sources: [SocketAddr; 8] = [
        signalled,
        SocketAddr::new(signalled.ip(), 4002),
        ([198, 51, 100, 20], 4000).into(),
        ([203, 0, 113, 9], 4000).into(),
        ([10, 1, 2, 3], 4000).into(),
        ([192, 0, 2, 1], 30_000).into(),
        SocketAddr::new(std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 9]), 4000),
        SocketAddr::new(
            std::net::Ipv4Addr::new(198, 51, 100, 20).to_ipv6_mapped().into(),
            4000,
        ),
    ];
    let key = |b: u8| SdesKey::from_random([b; 30]);
    let t0 = origin();
    let mut config = SessionConfig::new(codec, pt, signalled, Ssrc(1));
    config.latch = latch;
    config.telephone_event_pt = PayloadType::new(101);
    if config_byte & 64 != 0 {
        config.rtcp = RtcpMode::Mux;
    }
    if srtp {
        config.srtp = Some(SrtpConfig {
            local: key(1),
            remote: key(2),
        });
    }
    // The peer's side of the keys, to protect what the fuzzer sends.
    let mut peer = SrtpSession::new(&SrtpConfig {
        local: key(2),
        remote: key(1),
    })
    .ok();
    let mut session = MediaSession::new(config, t0).ok()?;
    let speech: Vec<i16> = (0..1600).map(|i| ((i * 37) % 2000) as i16 - 1000).collect();
    session.play(UtteranceId(1), speech);
    let mut buf = [0u8; 1500];
    let mut now = t0;
    while let Some((&header, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let n = usize::from(len).min(tail.len());
        let (bytes, tail) = tail.split_at(n);
        rest = tail;
        now += Duration::from_millis(5 * u64::from(header >> 4));
        let src = sources[usize::from(header & 7)];
        match peer.as_mut().filter(|_| srtp && header & 8 == 0) {
            Some(peer) => {
                let mut packet = [0u8; 1500];
                packet[..n].copy_from_slice(bytes);
                let protected = if rtp::is_rtcp(bytes) {
                    peer.protect_rtcp(&mut packet, n)
                } else {
                    peer.protect_rtp(&mut packet, n)
                };
                if let Ok(len) = protected {
                    session.handle_datagram(now, src, &packet[..len]);
                }
            }
            None => session.handle_datagram(now, src, bytes),
        }
        session.handle_timeout(now);
        while session.poll_transmit(&mut buf).is_some() {}
        while session.poll_transmit_rtcp(&mut buf).is_some() {}
        while session.poll_event().is_some() {}
    }
    let stats = session.stats();
    let _ = session.finish();
    Some(stats)
}

/// An SDES key attribute (`a=crypto:` value, as the SDP layer passed it on): one that parses must
/// render back to itself and set up an SRTP session.
pub fn sdes_attribute(value: &str) {
    let Ok((tag, key)) = SdesKey::parse_attribute(value) else {
        return;
    };
    let rendered = key.to_attribute(tag);
    match SdesKey::parse_attribute(&rendered) {
        Ok(again) => assert!(again == (tag, key.clone()), "{rendered:?} reads back otherwise"),
        Err(err) => panic!("our own attribute {rendered:?} does not parse: {err}"),
    }
    let config = SrtpConfig {
        local: key.clone(),
        remote: key,
    };
    assert!(SrtpSession::new(&config).is_ok(), "a parsed key sets up SRTP");
}

/// RTCP: the input as a compound packet, then as SRTCP and SRTP under fixed keys.
pub fn rtcp(data: &[u8]) {
    let t0 = origin();
    let mut rtcp = RtcpSession::new(Ssrc(1), t0, 0);
    let _ = rtcp.handle(t0, data);
    let key = |b: u8| SdesKey::from_random([b; 30]);
    if let Ok(mut srtp) = SrtpSession::new(&SrtpConfig {
        local: key(1),
        remote: key(2),
    }) {
        let mut out = [0u8; 2048];
        let _ = srtp.unprotect_rtcp(data, &mut out);
        let _ = srtp.unprotect_rtp(data, &mut out);
    }
}

/// RFC 4733: the input as a stream of 6-byte records (2 bytes of timestamp, 4 of event block,
/// the last shorter) into a receiver.
pub fn rfc4733(data: &[u8]) {
    let mut rx = DtmfReceiver::default();
    for record in data.chunks(6) {
        let ts = RtpTimestamp(u32::from(record[0]) << 8 | u32::from(*record.get(1).unwrap_or(&0)));
        let _ = rx.on_packet(ts, record.get(2..).unwrap_or_default());
    }
    let _ = rx.flush();
}

/// WAV: the input as a recording file, repaired and then read.
pub fn wav(data: &[u8]) {
    let path = std::env::temp_dir().join(format!(
        "media-core-fuzz-{}-{:?}.wav",
        std::process::id(),
        std::thread::current().id()
    ));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if crate::recorder::repair(&path).is_ok()
        && let Ok(mut reader) = hound::WavReader::open(&path)
    {
        // Bounded: a header may claim gigabytes.
        for sample in reader.samples::<i16>().take(100_000) {
            if sample.is_err() {
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}
