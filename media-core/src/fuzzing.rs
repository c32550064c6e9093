//! The bodies of the fuzz targets in `fuzz/`, here so the saved corpora replay as plain tests
//! (`tests/fuzz_corpus.rs`) through exactly the code the fuzzer ran. Each takes arbitrary
//! bytes and must return without panicking, whatever they are.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::Codec;
use crate::dtmf::{DtmfReceiver, TelephoneEvent};
use crate::rtcp::{RtcpMode, RtcpSession};
use crate::rtp::{self, PayloadType, RtpTimestamp, Ssrc};
use crate::session::{MediaSession, SessionConfig};
use crate::srtp::{SdesKey, SrtpConfig, SrtpSession};

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
