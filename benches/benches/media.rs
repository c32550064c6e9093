//! Per-frame cost of the media path stages (one 20 ms G.711 frame each).
#![allow(missing_docs)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use media_core::g711;
use media_core::jitter::{JitterBuffer, JitterConfig, Playout};
use media_core::{RtpTimestamp, SeqNo};
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

criterion_group!(benches, g711_frame, jitter_frame);
criterion_main!(benches);
