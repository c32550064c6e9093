use super::*;
use crate::rtp::parse;
use std::time::Duration;

const TICK: Duration = FRAME_DURATION;

#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    // Virtual time: an arbitrary real instant as origin; only offsets from it matter.
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).expect("7-bit payload type")
}

fn session(t0: Instant) -> MediaSession {
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(42));
    config.telephone_event_pt = Some(pt(101));
    MediaSession::new(config, t0).expect("session")
}

fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn drain_transmit(s: &mut MediaSession) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some((to, n)) = s.poll_transmit(&mut buf) {
        out.push((to, buf[..n].to_vec()));
    }
    out
}

fn drain_events(s: &mut MediaSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn sends_one_silent_packet_per_tick_from_the_start() {
    let t0 = origin();
    let mut s = session(t0);
    assert_eq!(s.poll_timeout(), t0);
    let mut packets = Vec::new();
    for k in 0..5 {
        let now = t0 + TICK * k;
        assert_eq!(s.poll_timeout(), now);
        s.handle_timeout(now);
        packets.extend(drain_transmit(&mut s));
        assert_eq!(packets.len(), k as usize + 1);
    }
    let parsed: Vec<_> = packets.iter().map(|(_, p)| parse(p).expect("valid")).collect();
    for (i, p) in parsed.iter().enumerate() {
        assert_eq!(p.ssrc, Ssrc(42));
        assert_eq!(p.payload_type, pt(0));
        assert_eq!(p.payload, &[0xFF; 160][..], "mu-law silence");
        assert_eq!(p.marker, i == 0, "marker only on the first packet");
        assert_eq!(p.seq.0, parsed[0].seq.0.wrapping_add(i as u16));
        assert_eq!(p.timestamp.0, parsed[0].timestamp.0.wrapping_add(160 * i as u32));
    }
    assert!(packets.iter().all(|(to, _)| *to == addr("192.0.2.10:4000")));
}

#[test]
fn a_late_wakeup_runs_every_missed_tick() {
    let t0 = origin();
    let mut s = session(t0);
    s.handle_timeout(t0 + Duration::from_millis(99));
    assert_eq!(drain_transmit(&mut s).len(), 5);
    assert_eq!(s.poll_timeout(), t0 + Duration::from_millis(100));
    assert_eq!(s.media_time_ms(), 100);
    s.handle_timeout(t0 + Duration::from_millis(99));
    assert!(drain_transmit(&mut s).is_empty());
}

#[test]
fn marker_bit_starts_each_talkspurt() {
    let t0 = origin();
    let mut s = session(t0);
    let mut markers = Vec::new();
    for k in 0..10u32 {
        if k == 3 {
            s.play(UtteranceId(1), vec![1000; 320]);
        }
        s.handle_timeout(t0 + TICK * k);
        markers.extend(
            drain_transmit(&mut s)
                .iter()
                .map(|(_, p)| parse(p).expect("valid").marker),
        );
    }
    assert_eq!(
        markers,
        vec![true, false, false, true, false, false, false, false, false, false]
    );
}

/// A session whose SDP named `signalled`, taking other sources as `latch` allows.
fn session_with(t0: Instant, signalled: &str, latch: LatchPolicy) -> MediaSession {
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr(signalled), Ssrc(42));
    config.telephone_event_pt = Some(pt(101));
    config.latch = latch;
    MediaSession::new(config, t0).expect("session")
}

/// Valid PCMU packets of one stream from `src`, `n` of them from sequence number `seq`.
fn spray(s: &mut MediaSession, t0: Instant, src: SocketAddr, seq: u16, n: u16) {
    for k in 0..n {
        let seq = seq.wrapping_add(k);
        let ts = u32::from(seq) * 160;
        s.handle_datagram(t0, src, &rtp_packet(0, seq, ts, 0xA77AC4, &[0x55; 160]));
    }
}

fn counts(s: &MediaSession) -> (u64, u64) {
    let stats = s.stats();
    (stats.packets_received, stats.foreign)
}

#[test]
fn takes_media_only_from_the_signalled_source_and_drops_a_spraying_attacker() {
    let t0 = origin();
    let phone = addr("192.0.2.10:4000");
    for latch in [LatchPolicy::Always, LatchPolicy::Private, LatchPolicy::Never] {
        let mut s = session_with(t0, "192.0.2.10:4000", latch);
        // The attacker sprays before the phone speaks: garbage and valid RTP alike.
        let attacker = addr("203.0.113.66:31000");
        s.handle_datagram(t0, attacker, &[1, 2, 3]);
        spray(&mut s, t0, attacker, 1, 5);
        assert!(drain_events(&mut s).is_empty(), "{latch:?}");
        assert_eq!(counts(&s), (0, 5), "{latch:?}");
        s.handle_timeout(t0);
        assert!(drain_transmit(&mut s).iter().all(|(to, _)| *to == phone));
        // The phone's first packet fixes the source.
        spray(&mut s, t0, phone, 100, 1);
        assert_eq!(drain_events(&mut s), vec![MediaEvent::RemoteLatched(phone)]);
        // The attacker goes on, from the phone's IP too: nothing of it is heard or answered.
        spray(&mut s, t0, attacker, 6, 20);
        spray(&mut s, t0, addr("192.0.2.10:4002"), 30, 3);
        assert_eq!(counts(&s), (1, 28), "{latch:?}");
        assert_eq!(s.remote(), phone);
        s.handle_timeout(t0 + TICK);
        assert!(drain_transmit(&mut s).iter().all(|(to, _)| *to == phone));
        assert_eq!(s.stats().malformed, 1);
    }
}

#[test]
fn a_private_signalled_address_latches_onto_the_nat_source_by_default() {
    let t0 = origin();
    let nat = addr("198.51.100.7:31000");
    let mut s = session_with(t0, "10.0.0.5:4000", LatchPolicy::Private);
    spray(&mut s, t0, nat, 1, 1);
    assert_eq!(drain_events(&mut s), vec![MediaEvent::RemoteLatched(nat)]);
    assert_eq!(s.remote(), nat);
    s.handle_timeout(t0);
    assert!(drain_transmit(&mut s).iter().all(|(to, _)| *to == nat));
    // Fixed from then on: the private address itself, or anyone else, is dropped.
    spray(&mut s, t0, addr("10.0.0.5:4000"), 2, 1);
    spray(&mut s, t0, addr("203.0.113.66:31000"), 3, 4);
    assert_eq!(counts(&s), (1, 5));
    // With `never`, the NAT source is refused: only the signalled address would do.
    let mut strict = session_with(t0, "10.0.0.5:4000", LatchPolicy::Never);
    spray(&mut strict, t0, nat, 1, 3);
    assert_eq!(counts(&strict), (0, 3));
    assert_eq!(strict.remote(), addr("10.0.0.5:4000"));
}

#[test]
fn a_public_signalled_address_moves_port_only_with_always() {
    let t0 = origin();
    let moved_port = addr("192.0.2.10:4002");
    let mut private = session_with(t0, "192.0.2.10:4000", LatchPolicy::Private);
    spray(&mut private, t0, moved_port, 1, 2);
    assert_eq!(counts(&private), (0, 2));
    let mut always = session_with(t0, "192.0.2.10:4000", LatchPolicy::Always);
    // Another IP is never taken for a public signalled address, even with `always`.
    spray(&mut always, t0, addr("203.0.113.66:4000"), 1, 2);
    spray(&mut always, t0, moved_port, 3, 2);
    assert_eq!(
        drain_events(&mut always),
        vec![MediaEvent::RemoteLatched(moved_port)]
    );
    assert_eq!(counts(&always), (2, 2));
}

#[test]
fn a_latch_is_refused_after_the_first_packets_of_the_stream() {
    let t0 = origin();
    let mut s = session_with(t0, "192.0.2.10:4000", LatchPolicy::Always);
    // The window passes with packets nobody may latch from ...
    spray(&mut s, t0, addr("203.0.113.66:31000"), 1, u16::from(LATCH_WINDOW));
    // ... so a port change that would have been taken early is refused now.
    spray(&mut s, t0, addr("192.0.2.10:4002"), 100, 3);
    assert!(drain_events(&mut s).is_empty());
    assert_eq!(counts(&s), (0, u64::from(LATCH_WINDOW) + 3));
    // The signalled source itself is still heard.
    spray(&mut s, t0, addr("192.0.2.10:4000"), 200, 1);
    assert_eq!(counts(&s), (1, u64::from(LATCH_WINDOW) + 3));
}

#[test]
fn rtcp_is_taken_only_from_the_fixed_sources_ip() {
    let t0 = origin();
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(42));
    config.rtcp = RtcpMode::next_port(addr("192.0.2.10:4000"));
    let mut s = MediaSession::new(config, t0).expect("session");
    // A receiver report for our SSRC 42, with no report blocks.
    let rr = [0x80, 201, 0, 1, 0, 0, 0, 7];
    // Before the media source is fixed, nobody vouches for an RTCP sender.
    s.handle_rtcp(t0, addr("192.0.2.10:4001"), &rr);
    assert_eq!(s.stats().foreign, 1);
    spray(&mut s, t0, addr("192.0.2.10:4000"), 1, 1);
    s.handle_rtcp(t0, addr("203.0.113.66:4001"), &rr);
    assert_eq!(s.stats().foreign, 2);
    s.handle_rtcp(t0, addr("192.0.2.10:4001"), &rr);
    assert_eq!(s.stats().foreign, 2);
}

#[test]
fn only_a_renegotiation_moves_the_media_source() {
    let t0 = origin();
    let mut s = session_with(t0, "10.0.0.5:4000", LatchPolicy::Private);
    let nat = addr("198.51.100.7:31000");
    spray(&mut s, t0, nat, 1, 1);
    assert_eq!(s.remote(), nat);
    let update = MediaUpdate {
        remote: addr("10.0.0.5:4000"),
        codec: Codec::Pcmu,
        payload_type: pt(0),
        telephone_event_pt: Some(pt(101)),
        sending: true,
    };
    // A refresh naming the same address keeps the latched source, and opens no window.
    s.update_media(update).expect("refresh");
    assert_eq!(s.remote(), nat);
    spray(&mut s, t0, addr("203.0.113.66:31000"), 2, 1);
    assert_eq!(counts(&s), (1, 1));
    // A re-INVITE that moves media: the new address is the source, the old one is dropped.
    let moved = addr("192.0.2.30:6000");
    s.update_media(MediaUpdate {
        remote: moved,
        ..update
    })
    .expect("move");
    spray(&mut s, t0, nat, 3, 1);
    assert_eq!(counts(&s), (1, 2));
    spray(&mut s, t0, moved, 4, 1);
    assert_eq!(counts(&s), (2, 2));
    assert_eq!(s.remote(), moved);
}

#[test]
fn rtcp_on_the_rtp_port_is_ignored_not_malformed() {
    let t0 = origin();
    let mut s = session(t0);
    s.handle_datagram(
        t0,
        addr("192.0.2.10:4000"),
        &[0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let stats = s.stats();
    assert_eq!((stats.rtcp_ignored, stats.malformed), (1, 0));
}

#[test]
fn received_audio_is_decoded_after_the_jitter_delay() {
    let t0 = origin();
    let path = std::env::temp_dir().join(format!("media-core-session-{}.wav", std::process::id()));
    let mut config = SessionConfig::new(Codec::Pcma, pt(8), addr("192.0.2.10:4000"), Ssrc(1));
    config.recording = Some(path.clone());
    let mut s = MediaSession::new(config, t0).expect("session");
    let src = addr("192.0.2.10:4000");
    for k in 0..10u32 {
        let now = t0 + TICK * k;
        // A-law 0xAA decodes to +32256.
        s.handle_datagram(now, src, &rtp_packet(8, k as u16, k * 160, 9, &[0xAA; 160]));
        s.handle_timeout(now);
    }
    let summary = s.finish().expect("finish");
    assert_eq!(summary.duration_ms, 200);
    assert_eq!(summary.stats.packets_received, 10);
    assert_eq!(summary.stats.packets_sent, 0, "nothing was polled");
    let info = summary.recording.expect("recording");
    let mut reader = hound::WavReader::open(&info.path).expect("wav");
    let left: Vec<i16> = reader
        .samples::<i16>()
        .step_by(2)
        .map(|s| s.expect("sample"))
        .collect();
    assert_eq!(left.len(), 1600);
    // Ticks 0..3 are the jitter delay; from tick 3 the packets play.
    assert!(left[..480].iter().all(|&v| v == 0));
    assert!(left[480..].iter().all(|&v| v == 32256));
    std::fs::remove_file(&path).ok();
}

#[test]
fn gaps_are_concealed_and_a_stopped_sender_fades_out() {
    let t0 = origin();
    let path = std::env::temp_dir().join(format!("media-core-session-gaps-{}.wav", std::process::id()));
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
    config.recording = Some(path.clone());
    let mut s = MediaSession::new(config, t0).expect("session");
    let src = addr("192.0.2.10:4000");
    // Loud packets 0..8 with 4 lost, then the sender stops.
    for k in 0..18u32 {
        let now = t0 + TICK * k;
        if k < 8 && k != 4 {
            s.handle_datagram(now, src, &rtp_packet(0, k as u16, k * 160, 9, &[0x80; 160]));
        }
        s.handle_timeout(now);
    }
    let summary = s.finish().expect("finish");
    assert_eq!(
        (summary.stats.packets_lost, summary.stats.frames_concealed),
        (1, 1)
    );
    let mut reader = hound::WavReader::open(&path).expect("wav");
    let left: Vec<i16> = reader
        .samples::<i16>()
        .step_by(2)
        .map(|s| s.expect("sample"))
        .collect();
    let frame = |k: usize| &left[k * 160..(k + 1) * 160];
    // Playout starts at tick 3: packets 0..3 at ticks 3..6, the loss concealed at tick 7
    // (G.711 PLC repeats the signal: here a constant), then packets 5..7.
    for k in 0..3 {
        assert!(frame(k).iter().all(|&v| v == 0), "tick {k}");
    }
    for k in [3, 4, 5, 6, 9, 10] {
        assert!(frame(k).iter().all(|&v| v == 32124), "tick {k}");
    }
    // Appendix I fades from 10 ms into an erasure, 20% per 10 ms, and blends the first
    // 8 ms of the next real frame with the synthesis.
    assert!(frame(7)[..80].iter().all(|&v| v == 32124));
    assert!(frame(7)[80..].iter().all(|&v| (25_600..=32_124).contains(&v)));
    assert!(frame(8)[..64].iter().all(|&v| (25_600..=32_124).contains(&v)));
    assert!(frame(8)[64..].iter().all(|&v| v == 32124));
    // The sender stopped: 10 ms more at full level, then a fade, silent 60 ms later.
    assert!(frame(11)[..80].iter().all(|&v| v == 32124));
    assert!(frame(12)[159] < frame(12)[0] && frame(12)[159] > 0);
    for k in 14..18 {
        assert!(frame(k).iter().all(|&v| v == 0), "tick {k}");
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn ssrc_change_restarts_the_stream() {
    let t0 = origin();
    let mut s = session(t0);
    let src = addr("192.0.2.10:4000");
    s.handle_datagram(t0, src, &rtp_packet(0, 100, 0, 1, &[0; 160]));
    s.handle_datagram(t0, src, &rtp_packet(0, 5000, 0, 2, &[0; 160]));
    s.handle_datagram(t0, src, &rtp_packet(0, 5001, 160, 2, &[0; 160]));
    let stats = s.stats();
    assert_eq!((stats.ssrc_changes, stats.late, stats.packets_lost), (1, 0, 0));
}

#[test]
fn dtmf_end_packets_yield_one_digit_and_never_reach_the_decoder() {
    let t0 = origin();
    let mut s = session(t0);
    let src = addr("192.0.2.10:4000");
    let at = t0 + Duration::from_millis(1000);
    for _ in 0..3 {
        s.handle_datagram(at, src, &rtp_packet(101, 7, 8000, 3, &[9, 0x8A, 0x03, 0x20]));
    }
    s.handle_datagram(at, src, &rtp_packet(101, 8, 8000, 3, &[9, 0x8A]));
    let events = drain_events(&mut s);
    assert_eq!(
        events,
        vec![
            MediaEvent::RemoteLatched(src),
            MediaEvent::Dtmf {
                digit: '9',
                at_ms: 900,
                duration_ms: 100,
                volume_dbm0: Some(10)
            }
        ]
    );
    let stats = s.stats();
    assert_eq!(
        (stats.dtmf_digits, stats.packets_received, stats.malformed),
        (1, 0, 1)
    );
}

#[test]
fn flush_reports_the_interrupted_utterance() {
    let t0 = origin();
    let mut s = session(t0);
    s.play(UtteranceId(5), vec![500; 8000]);
    s.handle_timeout(t0 + TICK * 9); // ticks 0..=9: 200 ms sent
    s.flush();
    let finished: Vec<_> = drain_events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::PlaybackFinished { .. }))
        .collect();
    assert_eq!(
        finished,
        vec![MediaEvent::PlaybackFinished {
            id: UtteranceId(5),
            played_ms: 200,
            interrupted: true
        }]
    );
}

#[test]
fn muting_mid_speech_reports_the_discard() {
    let t0 = origin();
    let mut s = session(t0);
    let src = addr("192.0.2.10:4000");
    // Loud mu-law (0x80 is the largest positive value) from tick 0.
    for k in 0..10u32 {
        let now = t0 + TICK * k;
        s.handle_datagram(now, src, &rtp_packet(0, k as u16, k * 160, 9, &[0x80; 160]));
        s.handle_timeout(now);
    }
    s.set_listening(false);
    let events = drain_events(&mut s);
    assert!(
        events.contains(&MediaEvent::SpeechStarted { at_ms: 60 }),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&MediaEvent::SpeechDiscarded {
            start_ms: 60,
            end_ms: 200
        })
    );
}

#[test]
fn a_recording_that_cannot_be_created_does_not_stop_the_call() {
    let t0 = origin();
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
    config.recording = Some(PathBuf::from("/nonexistent-dir/rec.wav"));
    // The session runs (media flows) without the recording, and its summary says why.
    let mut s = MediaSession::new(config, t0).expect("the call goes on");
    let src = addr("192.0.2.10:4000");
    for k in 0..5u32 {
        let now = t0 + TICK * k;
        s.handle_datagram(now, src, &rtp_packet(0, k as u16, k * 160, 9, &[0xFF; 160]));
        s.handle_timeout(now);
    }
    assert!(!drain_transmit(&mut s).is_empty(), "audio is still sent");
    let summary = s.finish().expect("finish");
    assert_eq!(summary.stats.packets_received, 5);
    assert!(summary.recording.is_none());
    let why = summary.recording_failed.expect("the summary says why");
    assert!(why.contains("nonexistent-dir"), "{why}");
}

#[test]
fn config_errors() {
    let t0 = origin();
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(1));
    config.telephone_event_pt = Some(pt(0));
    assert!(matches!(
        MediaSession::new(config.clone(), t0),
        Err(SessionError::PayloadTypeClash(_))
    ));
    config.telephone_event_pt = None;
    config.jitter_delay_ms = 5000;
    assert!(matches!(
        MediaSession::new(config.clone(), t0),
        Err(SessionError::Jitter(_))
    ));
    config.jitter_delay_ms = 60;
    config.end_of_turn_silence_ms = 0;
    assert!(matches!(
        MediaSession::new(config, t0),
        Err(SessionError::Endpointer(_))
    ));
}

#[test]
fn initial_numbers_differ_between_ssrcs() {
    let (s1, t1) = initial_seq_and_timestamp(Ssrc(1));
    let (s2, t2) = initial_seq_and_timestamp(Ssrc(2));
    assert_ne!(s1, s2);
    assert_ne!(t1, t2);
}

#[test]
fn dtmf_goes_out_as_rfc4733_events_between_audio_packets() {
    let t0 = origin();
    let mut s = session(t0);
    s.play(UtteranceId(1), vec![3000; 1600]);
    s.send_dtmf("1", 60).expect("digit");
    let mut packets = Vec::new();
    for k in 0..12u32 {
        s.handle_timeout(t0 + TICK * k);
        packets.extend(drain_transmit(&mut s));
    }
    let parsed: Vec<_> = packets.iter().map(|(_, p)| parse(p).expect("valid")).collect();
    let kinds: Vec<u8> = parsed.iter().map(|p| p.payload_type.get()).collect();
    // 3 event packets + 2 end repeats, 4 gap frames of silence, then the agent's audio.
    assert_eq!(kinds, vec![101, 101, 101, 101, 101, 0, 0, 0, 0, 0, 0, 0]);
    // Events keep their start timestamp; sequence numbers run on; the clock moves on.
    assert!(parsed[..5].iter().all(|p| p.timestamp == parsed[0].timestamp));
    assert!(parsed[0].marker && !parsed[1].marker);
    assert!(
        parsed
            .windows(2)
            .all(|w| w[1].seq.0 == w[0].seq.0.wrapping_add(1))
    );
    assert_eq!(parsed[5].timestamp.0, parsed[0].timestamp.0.wrapping_add(5 * 160));
    assert!(parsed[5].marker, "audio after the event starts a talk spurt");
    let durations: Vec<_> = parsed[..5]
        .iter()
        .map(|p| {
            let e = crate::dtmf::TelephoneEvent::parse(p.payload).expect("event");
            (e.event, e.end, e.duration)
        })
        .collect();
    assert_eq!(
        durations,
        vec![
            (1, false, 160),
            (1, false, 320),
            (1, true, 480),
            (1, true, 480),
            (1, true, 480)
        ]
    );
    // The gap is silence and the agent's audio waited for the digit.
    assert!(parsed[5..9].iter().all(|p| p.payload.iter().all(|&b| b == 0xFF)));
    assert!(parsed[9..].iter().all(|p| p.payload.iter().any(|&b| b != 0xFF)));
    let sent: Vec<_> = drain_events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::DtmfSent { .. }))
        .collect();
    assert_eq!(
        sent,
        vec![MediaEvent::DtmfSent {
            digit: '1',
            at_ms: 0,
            duration_ms: 60
        }]
    );
}

#[test]
fn without_telephone_event_dtmf_is_sent_in_band() {
    let t0 = origin();
    let config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(42));
    let mut s = MediaSession::new(config, t0).expect("session");
    s.send_dtmf("#", 100).expect("digit");
    let mut packets = Vec::new();
    for k in 0..8u32 {
        s.handle_timeout(t0 + TICK * k);
        packets.extend(drain_transmit(&mut s));
    }
    let parsed: Vec<_> = packets.iter().map(|(_, p)| parse(p).expect("valid")).collect();
    assert!(parsed.iter().all(|p| p.payload_type == pt(0)));
    // 100 ms of tone (5 packets) then silence.
    let loud: Vec<bool> = parsed
        .iter()
        .map(|p| p.payload.iter().any(|&b| b != 0xFF))
        .collect();
    assert_eq!(loud, vec![true, true, true, true, true, false, false, false]);
    assert!(drain_events(&mut s).contains(&MediaEvent::DtmfSent {
        digit: '#',
        at_ms: 0,
        duration_ms: 100
    }));
    assert!(s.send_dtmf("x", 100).is_err());
}

#[test]
fn opus_sessions_advance_the_rtp_clock_at_48_khz() {
    let t0 = origin();
    let mut config = SessionConfig::new(Codec::Opus, pt(111), addr("192.0.2.10:4000"), Ssrc(5));
    config.opus = crate::opus::OpusParams::ours();
    let mut s = MediaSession::new(config, t0).expect("session");
    s.play(UtteranceId(1), vec![2000; 800]);
    let mut packets = Vec::new();
    for k in 0..4u32 {
        s.handle_timeout(t0 + TICK * k);
        packets.extend(drain_transmit(&mut s));
    }
    let parsed: Vec<_> = packets.iter().map(|(_, p)| parse(p).expect("valid")).collect();
    assert!(
        parsed
            .windows(2)
            .all(|w| w[1].timestamp.0 == w[0].timestamp.0.wrapping_add(960))
    );
    assert!(
        parsed
            .iter()
            .all(|p| p.payload_type == pt(111) && !p.payload.is_empty())
    );
    // And a peer session decodes them.
    let mut rx = MediaSession::new(
        SessionConfig::new(Codec::Opus, pt(111), addr("192.0.2.20:4000"), Ssrc(6)),
        t0,
    )
    .expect("session");
    for (k, (_, p)) in packets.iter().enumerate() {
        rx.handle_datagram(t0 + TICK * k as u32, addr("192.0.2.20:4000"), p);
        rx.handle_timeout(t0 + TICK * k as u32);
    }
    let stats = rx.stats();
    assert_eq!(
        (stats.packets_received, stats.decode_errors, stats.late),
        (4, 0, 0)
    );
}

#[test]
fn a_greeting_transcript_settles_the_answering_machine_verdict() {
    let t0 = origin();
    let mut config = SessionConfig::new(Codec::Pcmu, pt(0), addr("192.0.2.10:4000"), Ssrc(42));
    let mut analysis = crate::analysis::LiveAnalysisConfig::default();
    analysis.analyzer.vad = crate::analysis::VadMode::GateOnly;
    config.analysis = Some(analysis);
    let mut s = MediaSession::new(config, t0).expect("session");
    for k in 0..50 {
        s.handle_timeout(t0 + TICK * k);
    }
    drain_events(&mut s);
    let (verdict, confidence) = crate::analysis::amd::classify_transcript(
        "You have reached Dana, please leave a message after the tone",
    )
    .expect("a voicemail greeting");
    s.offer_transcript(900, verdict, confidence);
    let amd: Vec<_> = drain_events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, MediaEvent::Amd { .. }))
        .collect();
    assert!(
        matches!(
            amd.as_slice(),
            [MediaEvent::Amd {
                verdict: Verdict::Machine,
                confidence_pct: 80..=100,
                ..
            }]
        ),
        "{amd:?}"
    );
    // Decided once: a later, contrary transcript changes nothing.
    s.offer_transcript(1500, Verdict::Human, 0.9);
    assert!(
        !drain_events(&mut s)
            .iter()
            .any(|e| matches!(e, MediaEvent::Amd { .. }))
    );
}

#[test]
fn without_live_analysis_a_transcript_verdict_is_ignored() {
    let t0 = origin();
    let mut s = session(t0);
    s.offer_transcript(900, Verdict::Machine, 0.95);
    assert!(drain_events(&mut s).is_empty());
}

#[test]
fn a_renegotiation_moves_the_stream_changes_codec_and_holds() {
    let t0 = origin();
    let mut s = session(t0);
    s.handle_timeout(t0);
    let first = drain_transmit(&mut s);
    assert_eq!(first[0].0, addr("192.0.2.10:4000"));
    let before = parse(&first[0].1).expect("valid").seq.0;

    // The peer moved and switched to PCMA at its own payload type.
    s.update_media(MediaUpdate {
        remote: addr("192.0.2.20:5000"),
        codec: Codec::Pcma,
        payload_type: pt(8),
        telephone_event_pt: Some(pt(96)),
        sending: true,
    })
    .expect("same clock rate");
    s.handle_timeout(t0 + TICK);
    let moved = drain_transmit(&mut s);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].0, addr("192.0.2.20:5000"), "sent to the new address");
    let p = parse(&moved[0].1).expect("valid");
    assert_eq!(p.payload_type, pt(8));
    assert_eq!(p.payload, &[0xD5; 160][..], "A-law silence");
    assert_eq!(p.seq.0, before.wrapping_add(1), "the same stream goes on");

    // On hold: nothing is sent, and the stream's clock keeps running.
    let hold = MediaUpdate {
        remote: addr("192.0.2.20:5000"),
        codec: Codec::Pcma,
        payload_type: pt(8),
        telephone_event_pt: Some(pt(96)),
        sending: false,
    };
    s.update_media(hold).expect("hold");
    s.handle_timeout(t0 + TICK * 2);
    assert!(drain_transmit(&mut s).is_empty(), "nothing sent on hold");
    s.update_media(MediaUpdate {
        sending: true,
        ..hold
    })
    .expect("resume");
    s.handle_timeout(t0 + TICK * 3);
    let resumed = drain_transmit(&mut s);
    assert_eq!(parse(&resumed[0].1).expect("valid").seq.0, before.wrapping_add(3));

    // Opus (48 kHz) cannot replace G.711 in the call: refused, nothing changed.
    let err = s
        .update_media(MediaUpdate {
            codec: Codec::Opus,
            payload_type: pt(111),
            ..hold
        })
        .expect_err("another clock rate");
    assert!(matches!(err, SessionError::CodecChange { .. }), "{err}");
    s.handle_timeout(t0 + TICK * 4);
    let still = drain_transmit(&mut s);
    assert_eq!(parse(&still[0].1).expect("valid").payload_type, pt(8));
}

/// A session driven in halves (send, then listen) produces exactly what one driven whole
/// does: the same packets, frames, events and recording inputs, tick for tick, including a
/// catch-up after a late wake-up.
#[test]
fn a_tick_split_in_halves_matches_a_whole_tick() {
    let t0 = origin();
    let mut whole = session(t0);
    let mut split = session(t0);
    for s in [&mut whole, &mut split] {
        s.play(UtteranceId(1), vec![6000; 8000 / 10]);
    }
    let src = addr("192.0.2.10:4000");
    // Wake-ups: on time, then late by three frames, then on time again.
    let wakeups: Vec<Instant> = (0..10)
        .chain(13..20)
        .map(|k| t0 + TICK * k + Duration::from_millis(1))
        .collect();
    for (k, now) in wakeups.into_iter().enumerate() {
        let packet = rtp_packet(0, k as u16, k as u32 * 160, 7, &[0x80 + (k as u8 % 8); 160]);
        whole.handle_datagram(now, src, &packet);
        split.handle_datagram(now, src, &packet);
        whole.handle_timeout(now);
        let sent_whole = drain_transmit(&mut whole);
        split.handle_timeout_send(now);
        // The packets are out before the listening half has run.
        let sent_split = drain_transmit(&mut split);
        assert_eq!(sent_split, sent_whole, "wake-up {k}");
        split.finish_timeout();
        assert!(drain_transmit(&mut split).is_empty());
        assert_eq!(split.remote_frame(), whole.remote_frame(), "wake-up {k}");
        assert_eq!(drain_events(&mut split), drain_events(&mut whole), "wake-up {k}");
        assert_eq!(split.media_time_ms(), whole.media_time_ms());
    }
    assert_eq!(split.stats().packets_received, 17);
    assert_eq!(split.stats().packets_sent, whole.stats().packets_sent);
}

/// The listening half is not lost when the driver goes on without calling it: the next
/// datagram, command or tick runs it first, so frames are played in order.
#[test]
fn a_pending_listening_half_runs_before_anything_else() {
    let t0 = origin();
    let mut s = session(t0);
    let src = addr("192.0.2.10:4000");
    s.handle_datagram(t0, src, &rtp_packet(0, 0, 0, 7, &[0x10; 160]));
    // The jitter buffer's initial delay: the packet plays once it has passed.
    let mut heard = false;
    for k in 0..10 {
        let now = t0 + TICK * k;
        s.handle_timeout_send(now);
        drain_transmit(&mut s);
        // No finish_timeout: the next call must run it.
        s.handle_datagram(
            now,
            src,
            &rtp_packet(0, k as u16 + 1, (k + 1) * 160, 7, &[0x10; 160]),
        );
        heard |= s.remote_frame().iter().any(|&x| x != 0);
    }
    assert!(heard, "the remote audio played through the pending halves");
    assert_eq!(s.media_time_ms(), 200);
    let summary = s.finish().expect("summary");
    assert_eq!(summary.duration_ms, 200);
}
