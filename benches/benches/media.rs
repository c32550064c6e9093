//! Per-frame cost of the media path stages (one 20 ms frame each): codecs, concealment,
//! resampling, RTP parsing, SRTP, the jitter buffer, the recording, the audio analysis, and a
//! whole session (one packet in, one tick, one packet out). `cargo bench -p ringback-benches
//! --bench media`.
#![allow(missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use media_core::analysis::{Analyzer, AnalyzerConfig, VadMode};
use media_core::g711;
use media_core::jitter::{JitterBuffer, JitterConfig, Playout};
use media_core::opus::{OpusDecoder, OpusEncoder, OpusParams};
use media_core::plc::Plc;
use media_core::recorder::Recorder;
use media_core::resample::Upsampler;
use media_core::rtp::parse;
use media_core::srtp::{SdesKey, SrtpConfig, SrtpSession};
use media_core::{Codec, MediaSession, PayloadType, RtpTimestamp, SeqNo, SessionConfig, Ssrc, UtteranceId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn g711_frame(c: &mut Criterion) {
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16)
        .collect();
    let encoded: Vec<u8> = pcm.iter().map(|s| g711::ulaw_encode(*s)).collect();
    c.bench_function("g711_ulaw_encode_frame", |b| {
        b.iter(|| {
            black_box(&pcm)
                .iter()
                .map(|s| g711::ulaw_encode(*s))
                .fold(0u32, |a, x| a.wrapping_add(u32::from(x)))
        })
    });
    c.bench_function("g711_ulaw_decode_frame", |b| {
        b.iter(|| {
            black_box(&encoded)
                .iter()
                .map(|s| g711::ulaw_decode(*s))
                .fold(0i32, |a, x| a.wrapping_add(i32::from(x)))
        })
    });
}

fn jitter_frame(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    let t0 = Instant::now();
    let payload = [0x55u8; 160];
    c.bench_function("jitter_insert_pop_frame", |b| {
        let mut jb = JitterBuffer::new(JitterConfig::default()).expect("valid config");
        let mut seq = 0u16;
        let mut now = t0;
        b.iter(|| {
            jb.insert(
                now,
                SeqNo(seq),
                RtpTimestamp(u32::from(seq) * 160),
                false,
                &payload,
            );
            let got = matches!(jb.pop(now), Playout::Frame { .. });
            seq = seq.wrapping_add(1);
            now += Duration::from_millis(20);
            black_box(got)
        })
    });
}

/// A speech-like test frame: a 220 Hz tone with harmonics.
fn voice_frame(phase: usize) -> [i16; 160] {
    std::array::from_fn(|i| {
        let t = (phase * 160 + i) as f32 / 8000.0;
        ((1..5)
            .map(|h| (2.0 * std::f32::consts::PI * 220.0 * h as f32 * t).sin() / h as f32)
            .sum::<f32>()
            * 5000.0) as i16
    })
}

fn plc_frame(c: &mut Criterion) {
    c.bench_function("g711_plc_conceal_frame", |b| {
        let mut plc = Plc::new();
        for k in 0..10 {
            plc.good_frame(&mut voice_frame(k));
        }
        let mut out = [0i16; 160];
        let mut k = 0u32;
        b.iter(|| {
            // One frame in five lost: conceal, then recover with the overlap-add.
            if k % 5 == 4 {
                plc.conceal(&mut out);
            } else {
                out = voice_frame(k as usize);
                plc.good_frame(&mut out);
            }
            k += 1;
            black_box(out[0])
        })
    });
}

fn opus_frame(c: &mut Criterion) {
    let params = OpusParams::ours();
    let frame = voice_frame(0);
    let mut encoder = OpusEncoder::new(&params).expect("encoder");
    let mut payload = [0u8; 400];
    let n = encoder.encode(&frame, &mut payload).expect("encode");
    c.bench_function("opus_encode_frame", |b| {
        b.iter(|| black_box(encoder.encode(black_box(&frame), &mut payload).expect("encode")))
    });
    let packet = payload[..n].to_vec();
    let mut decoder = OpusDecoder::new().expect("decoder");
    let mut out = [0i16; 160];
    c.bench_function("opus_decode_frame", |b| {
        b.iter(|| {
            decoder.decode(black_box(&packet), &mut out).expect("decode");
            black_box(out[0])
        })
    });
    c.bench_function("opus_plc_frame", |b| {
        b.iter(|| black_box(decoder.conceal(None, &mut out).expect("conceal")))
    });
}

fn resample_frame(c: &mut Criterion) {
    let frame = voice_frame(0);
    let mut up = Upsampler::new().expect("upsampler");
    let mut out = [0i16; 320];
    c.bench_function("resample_8k_to_16k_frame", |b| {
        b.iter(|| {
            up.process(black_box(&frame), &mut out).expect("resample");
            black_box(out[0])
        })
    });
}

fn rtp_and_srtp_frame(c: &mut Criterion) {
    let mut packet = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
    packet.extend_from_slice(&[0x55; 160]);
    c.bench_function("rtp_parse_packet", |b| {
        b.iter(|| black_box(parse(black_box(&packet)).expect("valid").seq))
    });
    let key = |b: u8| SdesKey::from_random([b; 30]);
    let mut alice = SrtpSession::new(&SrtpConfig {
        local: key(1),
        remote: key(2),
    })
    .expect("srtp");
    let mut bob = SrtpSession::new(&SrtpConfig {
        local: key(2),
        remote: key(1),
    })
    .expect("srtp");
    let mut buf = [0u8; 400];
    let mut plain = [0u8; 400];
    let mut seq = 0u16;
    c.bench_function("srtp_protect_unprotect_packet", |b| {
        b.iter(|| {
            buf[..packet.len()].copy_from_slice(&packet);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            seq = seq.wrapping_add(1);
            let n = alice.protect_rtp(&mut buf, packet.len()).expect("protect");
            black_box(bob.unprotect_rtp(&buf[..n], &mut plain).expect("unprotect"))
        })
    });
}

/// Frames after which the file-writing benches start a new file (a 10-minute call), so a
/// long measurement does not fill the disk.
const FRAMES_PER_FILE: u64 = 30_000;

fn recorder_frame(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("ringback-bench-{}.wav", std::process::id()));
    let (left, right) = (voice_frame(0), voice_frame(1));
    c.bench_function("recorder_write_frame", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let mut rec = Recorder::create(&path).expect("recorder");
                let n = (iters - done).min(FRAMES_PER_FILE);
                #[allow(clippy::disallowed_methods)] // a benchmark measures time
                let start = Instant::now();
                for _ in 0..n {
                    rec.write_frame(black_box(&left), black_box(&right))
                        .expect("write");
                }
                spent += start.elapsed();
                rec.finalize().expect("finalize");
                done += n;
            }
            spent
        })
    });
    let _ = std::fs::remove_file(&path);
}

fn analysis_frame(c: &mut Criterion) {
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        vad: VadMode::GateOnly,
        ..AnalyzerConfig::default()
    })
    .expect("analyzer");
    let frames: Vec<[i16; 160]> = (0..100)
        .map(|k| if k % 100 < 60 { voice_frame(k) } else { [0; 160] })
        .collect();
    let mut at_ms = 0u64;
    c.bench_function("analysis_gate_dtmf_beep_amd_frame", |b| {
        b.iter(|| {
            let frame = &frames[(at_ms / 20) as usize % frames.len()];
            analyzer.push_frame(at_ms, frame).expect("frame");
            while analyzer.poll_event().is_some() {}
            at_ms += 20;
        })
    });
}

fn session_frame(c: &mut Criterion) {
    #[allow(clippy::disallowed_methods)] // an origin for virtual time
    let t0 = Instant::now();
    let remote: SocketAddr = ([192, 0, 2, 1], 4000).into();
    let path = std::env::temp_dir().join(format!("ringback-bench-session-{}.wav", std::process::id()));
    let frames: Vec<[i16; 160]> = (0..50).map(voice_frame).collect();
    c.bench_function("session_receive_tick_send_frame", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                // A call with a recording and the agent talking throughout.
                let mut config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, remote, Ssrc(1));
                config.recording = Some(path.clone());
                let mut session = MediaSession::new(config, t0).expect("session");
                session.play(UtteranceId(1), vec![3000; 8000 * 600]);
                let mut packet = [0u8; 172];
                let mut out = [0u8; 1500];
                let n = (iters - done).min(FRAMES_PER_FILE);
                #[allow(clippy::disallowed_methods)] // a benchmark measures time
                let start = Instant::now();
                for k in 0..n as u32 {
                    packet[..2].copy_from_slice(&[0x80, 0]);
                    packet[2..4].copy_from_slice(&(k as u16).to_be_bytes());
                    packet[4..8].copy_from_slice(&(k * 160).to_be_bytes());
                    packet[8..12].copy_from_slice(&7u32.to_be_bytes());
                    for (b, &s) in packet[12..].iter_mut().zip(&frames[k as usize % frames.len()]) {
                        *b = g711::ulaw_encode(s);
                    }
                    let now = t0 + Duration::from_millis(20 * u64::from(k));
                    session.handle_datagram(now, remote, &packet);
                    session.handle_timeout(now);
                    while session.poll_transmit(&mut out).is_some() {}
                    while session.poll_event().is_some() {}
                }
                spent += start.elapsed();
                session.finish().expect("finish");
                done += n;
            }
            spent
        })
    });
    let _ = std::fs::remove_file(&path);
}

criterion_group!(
    benches,
    g711_frame,
    plc_frame,
    opus_frame,
    resample_frame,
    rtp_and_srtp_frame,
    jitter_frame,
    recorder_frame,
    analysis_frame,
    session_frame
);
criterion_main!(benches);
