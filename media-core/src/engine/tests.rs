use std::time::Duration;

use super::*;
use crate::codec::Codec;
use crate::event::MediaEvent;
use crate::pacer::UtteranceId;
use crate::rtp::{PayloadType, Ssrc, parse};
use crate::session::SessionConfig;

/// Upper bound on waiting for something that should happen within a few hundred ms; a safety
/// net against hanging, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);

async fn pair() -> (UdpSocket, UdpSocket) {
    let ours = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    (ours, peer)
}

fn session(peer: &UdpSocket, ssrc: u32) -> MediaSession {
    let remote = peer.local_addr().expect("addr");
    let config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, remote, Ssrc(ssrc));
    MediaSession::new(config, tokio::time::Instant::now().into_std()).expect("session")
}

#[test]
fn grid_now_is_a_grid_point_in_the_past() {
    let engine = MediaEngine::start(EngineConfig { workers: 1 }).expect("engine");
    let at = engine.grid_now();
    assert!(at <= tokio::time::Instant::now().into_std());
    assert_eq!((at - engine.epoch()).as_nanos() % FRAME_DURATION.as_nanos(), 0);
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&[0xFF; 160]);
    packet
}

#[tokio::test]
async fn a_session_on_the_engine_plays_receives_and_stops_with_a_summary() {
    let engine = MediaEngine::start(EngineConfig { workers: 1 }).expect("engine");
    let (ours, peer) = pair().await;
    let our_addr = ours.local_addr().expect("addr");
    let mut running = engine
        .spawn(ours, None, session(&peer, 7), CancellationToken::new())
        .expect("spawn");
    running
        .handle
        .play(UtteranceId(1), vec![8000; 800])
        .await
        .expect("play");
    let mut buf = [0u8; 2048];
    let mut loud = 0;
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        let (n, from) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
            .await
            .expect("packet")
            .expect("recv");
        assert_eq!(from, our_addr, "sent from the session's own socket");
        let packet = parse(&buf[..n]).expect("valid RTP");
        seqs.push(packet.seq.0);
        loud += usize::from(packet.payload.iter().any(|&b| b != 0xFF));
    }
    assert_eq!(loud, 5);
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    for k in 0..10 {
        peer.send_to(&rtp(k), our_addr).await.expect("send");
    }
    // Garbage and an oversized datagram: dropped and counted, nothing breaks.
    peer.send_to(&[1, 2, 3], our_addr).await.expect("send");
    peer.send_to(&[0x80; MAX_DATAGRAM + 100], our_addr)
        .await
        .expect("send");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(PATIENCE, running.events.recv())
            .await
            .expect("event in time")
            .expect("open");
        if matches!(
            event,
            MediaEvent::PlaybackFinished { .. } | MediaEvent::RemoteLatched(_)
        ) {
            seen.push(event);
        }
    }
    assert!(seen.contains(&MediaEvent::PlaybackFinished {
        id: UtteranceId(1),
        played_ms: 100,
        interrupted: false
    }));
    assert_eq!(engine.sessions(), 1);
    // Let the last datagrams reach the session before stopping.
    while running.handle.flush().await.is_ok() {
        let stats = engine.stats();
        if stats.frames > 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.handle.stop().await.expect("stop");
    let summary = tokio::time::timeout(PATIENCE, running.task)
        .await
        .expect("stops")
        .expect("task")
        .expect("summary");
    assert_eq!(summary.stats.packets_received, 10);
    assert_eq!(summary.stats.malformed, 1);
    assert_eq!(summary.stats.rx_dropped, 1, "the oversized datagram");
    assert!(summary.stats.packets_sent >= 20);
    assert!(matches!(running.handle.flush().await, Err(DriverError::Stopped)));
    let stats = engine.stats();
    assert!(stats.ticks > 0 && stats.frames >= 20, "{stats:?}");
}

#[tokio::test]
async fn many_sessions_share_a_worker_and_each_keeps_its_own_stream() {
    let engine = MediaEngine::start(EngineConfig { workers: 2 }).expect("engine");
    let mut calls = Vec::new();
    for i in 0..20u32 {
        let (ours, peer) = pair().await;
        let running = engine
            .spawn(ours, None, session(&peer, 100 + i), CancellationToken::new())
            .expect("spawn");
        calls.push((running, peer));
    }
    let mut buf = [0u8; 2048];
    for (i, (_, peer)) in calls.iter().enumerate() {
        let mut last = None;
        for _ in 0..10 {
            let (n, _) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
                .await
                .expect("packet")
                .expect("recv");
            let packet = parse(&buf[..n]).expect("valid");
            assert_eq!(packet.ssrc, Ssrc(100 + i as u32));
            if let Some(prev) = last {
                assert_eq!(packet.seq, crate::rtp::SeqNo::next(prev));
            }
            last = Some(packet.seq);
        }
    }
    assert_eq!(engine.sessions(), 20);
    // Cancelling one and dropping the handles of another stops just those two.
    let cancel_me = CancellationToken::new();
    let (ours, peer) = pair().await;
    let running = engine
        .spawn(ours, None, session(&peer, 1), cancel_me.clone())
        .expect("spawn");
    cancel_me.cancel();
    assert!(
        tokio::time::timeout(PATIENCE, running.task)
            .await
            .expect("stops")
            .expect("task")
            .is_ok()
    );
    let (running, _) = calls.pop().expect("call");
    let RunningSession { handle, events, task } = running;
    drop((handle, events));
    assert!(
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("stops")
            .expect("task")
            .is_ok()
    );
    for (running, _) in calls {
        running.handle.stop().await.expect("stop");
        running.task.await.expect("task").expect("summary");
    }
}

#[tokio::test]
async fn the_tap_sees_every_tick_of_remote_audio_on_the_worker() {
    let engine = MediaEngine::start(EngineConfig { workers: 1 }).expect("engine");
    let (ours, peer) = pair().await;
    let our_addr = ours.local_addr().expect("addr");
    let (seen_tx, seen_rx) = std_mpsc::channel::<(u64, i16)>();
    let tap: FrameTap = Box::new(move |at_ms, frame| {
        let peak = frame.iter().map(|s| s.saturating_abs()).max().unwrap_or(0);
        let _ = seen_tx.send((at_ms, peak));
    });
    let running = engine
        .spawn_with_tap(ours, None, session(&peer, 3), CancellationToken::new(), Some(tap))
        .expect("spawn");
    // 0x80 is a loud mu-law sample (32124 when decoded).
    for k in 0..20u16 {
        let mut packet = rtp(k);
        packet[12..].fill(0x80);
        peer.send_to(&packet, our_addr).await.expect("send");
    }
    let mut frames = Vec::new();
    let mut waited = Duration::ZERO;
    while frames.iter().filter(|(_, peak)| *peak == 32124).count() < 10 {
        match seen_rx.try_recv() {
            Ok(got) => frames.push(got),
            Err(_) => {
                // Polling keeps this runtime free to run the session's receiving task.
                assert!(waited < PATIENCE, "tapped frames in time: {frames:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                waited += Duration::from_millis(10);
            }
        }
    }
    running.handle.stop().await.expect("stop");
    running.task.await.expect("task").expect("summary");
    // One frame per tick, on the session's media timeline, in order (a caught-up tick shows
    // only its last frame).
    assert_eq!(frames[0].0 % 20, 0);
    assert!(frames.windows(2).all(|w| w[1].0 > w[0].0 && w[1].0 % 20 == 0));
}
