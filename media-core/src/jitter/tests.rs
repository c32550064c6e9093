use std::time::Duration;

use super::*;

const TICK: Duration = Duration::from_millis(20);

/// Virtual time: an arbitrary real instant as origin; only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn buffer() -> JitterBuffer {
    JitterBuffer::new(JitterConfig::default()).expect("valid config")
}

fn insert(jb: &mut JitterBuffer, now: Instant, seq: u16) -> Insert {
    insert_ts(jb, now, seq, u32::from(seq).wrapping_mul(160), false)
}

fn insert_ts(jb: &mut JitterBuffer, now: Instant, seq: u16, ts: u32, marker: bool) -> Insert {
    jb.insert(now, SeqNo(seq), RtpTimestamp(ts), marker, &seq.to_be_bytes())
}

/// What one tick played, in short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    F(u16),
    Lost(Option<u16>),
    Stretch,
    Silence,
    Dry,
    Empty,
}
use Out::*;

fn out(p: Playout<'_>) -> Out {
    let seq_of = |payload: &[u8]| u16::from_be_bytes([payload[0], payload[1]]);
    match p {
        Playout::Frame { seq, payload, .. } => {
            assert_eq!(seq_of(payload), seq.0, "payload travels with its seq");
            F(seq.0)
        }
        Playout::Lost { next } => Lost(next.map(seq_of)),
        Playout::Stretch => Stretch,
        Playout::Silence => Silence,
        Playout::Underrun => Dry,
        Playout::Empty => Empty,
    }
}

/// Pops one tick, dropping the frame when the buffer asks to shrink (as a caller does on a
/// quiet frame).
fn pop(jb: &mut JitterBuffer, now: Instant) -> Out {
    let first = out(jb.pop(now));
    if matches!(first, F(_)) && jb.wants_shrink().is_some() {
        return out(jb.pop_instead());
    }
    first
}

/// A packet of a simulated stream: when it arrives, its numbers.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at_us: u64,
    seq: u16,
    ts: u32,
    marker: bool,
}

/// Feeds `arrivals` (in any order) and pops every 20 ms until `ticks` have run; returns what
/// each tick played.
fn run(jb: &mut JitterBuffer, t0: Instant, mut arrivals: Vec<Arrival>, ticks: u32) -> Vec<Out> {
    arrivals.sort_by_key(|a| a.at_us);
    let mut pending = arrivals.into_iter().peekable();
    let mut outs = Vec::new();
    for k in 0..ticks {
        let tick = t0 + TICK * k;
        while let Some(a) = pending.next_if(|a| t0 + Duration::from_micros(a.at_us) <= tick) {
            jb.insert(
                t0 + Duration::from_micros(a.at_us),
                SeqNo(a.seq),
                RtpTimestamp(a.ts),
                a.marker,
                &a.seq.to_be_bytes(),
            );
        }
        outs.push(pop(jb, tick));
    }
    outs
}

/// A steady stream: packet `i` sent at `i * 20 ms`, arriving `delay(i)` µs later.
fn stream(n: u16, first_seq: u16, first_ts: u32, delay: impl Fn(u64) -> u64) -> Vec<Arrival> {
    (0..n)
        .map(|i| Arrival {
            at_us: u64::from(i) * 20_000 + delay(u64::from(i)),
            seq: first_seq.wrapping_add(i),
            ts: first_ts.wrapping_add(u32::from(i) * 160),
            marker: i == 0,
        })
        .collect()
}

fn played(outs: &[Out]) -> Vec<u16> {
    outs.iter()
        .filter_map(|o| match o {
            F(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn plays_in_order_after_the_initial_delay() {
    let t0 = origin();
    let mut jb = buffer();
    let mut outs = Vec::new();
    for i in 0..8u16 {
        let now = t0 + TICK * u32::from(i);
        insert(&mut jb, now, 100 + i);
        outs.push(pop(&mut jb, now));
    }
    // 60 ms initial delay: ticks 0, 1, 2 are empty, then packet 100 plays at t0 + 60 ms.
    assert_eq!(
        outs,
        vec![Empty, Empty, Empty, F(100), F(101), F(102), F(103), F(104)]
    );
    assert_eq!(jb.len(), 3);
    assert_eq!(jb.stats().lost(), 0);
    assert_eq!(jb.stats().delay_ms, 60);
}

#[test]
fn reordered_packets_play_in_sequence() {
    let t0 = origin();
    let mut jb = buffer();
    for seq in [11, 10, 13, 12, 14] {
        assert_eq!(insert(&mut jb, t0, seq), Insert::Stored);
    }
    let later = t0 + Duration::from_millis(60);
    let outs: Vec<_> = (0..5).map(|k| pop(&mut jb, later + TICK * k)).collect();
    assert_eq!(outs, vec![F(10), F(11), F(12), F(13), F(14)]);
    assert_eq!(jb.stats().late, 0);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let t0 = origin();
    let mut jb = buffer();
    assert_eq!(insert(&mut jb, t0, 5), Insert::Stored);
    assert_eq!(insert(&mut jb, t0, 5), Insert::Duplicate);
    assert_eq!(insert(&mut jb, t0, 6), Insert::Stored);
    let later = t0 + Duration::from_millis(60);
    assert_eq!(pop(&mut jb, later), F(5));
    assert_eq!(pop(&mut jb, later + TICK), F(6));
    assert_eq!(jb.stats().duplicates, 1);
    assert_eq!(jb.stats().stored, 2);
    // A copy of a packet already played is late, not stored again.
    assert_eq!(insert(&mut jb, later + TICK, 5), Insert::Late);
}

#[test]
fn sequence_and_timestamp_wrap_together() {
    let t0 = origin();
    let mut jb = buffer();
    // Sequence wraps after two packets, timestamp after three.
    let first_ts = u32::MAX - 2 * 160 + 1;
    let arrivals = vec![
        Arrival {
            at_us: 0,
            seq: 65534,
            ts: first_ts,
            marker: true,
        },
        Arrival {
            at_us: 0,
            seq: 0,
            ts: first_ts.wrapping_add(320),
            marker: false,
        },
        Arrival {
            at_us: 0,
            seq: 65535,
            ts: first_ts.wrapping_add(160),
            marker: false,
        },
        Arrival {
            at_us: 0,
            seq: 2,
            ts: first_ts.wrapping_add(640),
            marker: false,
        },
        Arrival {
            at_us: 0,
            seq: 1,
            ts: first_ts.wrapping_add(480),
            marker: false,
        },
    ];
    let outs = run(&mut jb, t0, arrivals, 8);
    assert_eq!(played(&outs), vec![65534, 65535, 0, 1, 2]);
    let stats = jb.stats();
    assert_eq!((stats.expected, stats.lost(), stats.late), (5, 0, 0));
}

#[test]
fn a_steady_stream_across_wraps_loses_nothing_and_settles_at_the_minimum_delay() {
    let t0 = origin();
    let mut jb = buffer();
    // 200 000 packets (over an hour): three sequence wraps. Constant 30 ms network delay.
    let outs = run(
        &mut jb,
        t0,
        stream(60_000, 60_000, 4_000_000_000, |_| 30_000),
        60_010,
    );
    let seqs = played(&outs);
    // Every packet plays, in order, except those dropped to bring the delay down from 60 ms.
    let stats = jb.stats();
    assert_eq!(stats.lost(), 0);
    assert_eq!(stats.late, 0);
    assert!(stats.shrunk >= 1 && stats.shrunk <= 3, "{stats:?}");
    assert_eq!(seqs.len() as u64 + stats.shrunk, 60_000);
    assert!(seqs.windows(2).all(|w| w[1].wrapping_sub(w[0]) <= 2));
    assert_eq!(stats.target_delay_ms, 20);
    assert!((20..40).contains(&stats.delay_ms), "{stats:?}");
}

#[test]
fn late_packets_are_dropped_counted_and_raise_the_delay() {
    let t0 = origin();
    let mut jb = buffer();
    // Packets every 20 ms after a 10 ms network delay; packet 40 is held back by 150 ms.
    let arrivals = stream(200, 0, 0, |i| if i == 40 { 150_000 } else { 10_000 });
    let outs = run(&mut jb, t0, arrivals, 210);
    let stats = jb.stats();
    assert_eq!(stats.late, 1, "{stats:?}");
    assert_eq!(stats.lost(), 0, "it did arrive: late, not lost");
    assert!(
        outs.contains(&Lost(Some(41))),
        "concealed with the next packet for FEC"
    );
    // The spike holds the target up.
    assert!(stats.target_delay_ms >= 140, "{stats:?}");
    assert!(stats.stretched >= 4, "{stats:?}");
    // Once the delay is there, the same spike is absorbed.
    let mut jb2 = buffer();
    let arrivals = stream(300, 0, 0, |i| match i {
        40 | 200 => 150_000,
        _ => 10_000,
    });
    run(&mut jb2, t0, arrivals, 310);
    assert_eq!(jb2.stats().late, 1, "the second spike came in time");
}

#[test]
fn losses_are_concealed_with_the_next_packet_offered_for_fec() {
    let t0 = origin();
    let mut jb = buffer();
    let arrivals: Vec<_> = stream(10, 0, 0, |_| 0)
        .into_iter()
        .filter(|a| a.seq != 4 && a.seq != 5 && a.seq != 8)
        .collect();
    let outs = run(&mut jb, t0, arrivals, 13);
    assert_eq!(
        outs,
        vec![
            Empty,
            Empty,
            Empty,
            F(0),
            F(1),
            F(2),
            F(3),
            Lost(None),
            Lost(Some(6)),
            F(6),
            F(7),
            Lost(Some(9)),
            F(9)
        ]
    );
    let stats = jb.stats();
    assert_eq!((stats.lost(), stats.concealed, stats.late), (3, 3, 0));
}

#[test]
fn silence_suppression_plays_silence_without_rebuffering() {
    let t0 = origin();
    let mut jb = buffer();
    // Ten packets, then the sender is silent for 500 ms (25 frames): the sequence goes on,
    // the timestamp jumps. Then ten more.
    let mut arrivals = stream(10, 500, 1000, |_| 5_000);
    arrivals.extend(
        stream(10, 510, 1000 + 35 * 160, |_| 5_000)
            .into_iter()
            .map(|mut a| {
                a.at_us += 35 * 20_000;
                a
            }),
    );
    let outs = run(&mut jb, t0, arrivals, 60);
    assert_eq!(played(&outs), (500..520).collect::<Vec<_>>());
    let first = outs.iter().position(|o| *o == F(500)).expect("first");
    let resumed = outs.iter().position(|o| *o == F(510)).expect("resumed");
    // Same delay before and after: the second talk spurt plays exactly 35 frames later.
    assert_eq!(resumed - first, 35);
    let stats = jb.stats();
    assert_eq!((stats.lost(), stats.late, stats.concealed), (0, 0, 0));
    assert_eq!(stats.reanchors, 0);
    // The silence played as a dry buffer until the new spurt arrived, then as DTX silence.
    assert!(stats.underruns >= 20 && stats.silence >= 1, "{stats:?}");
}

#[test]
fn a_talk_spurt_that_arrives_late_after_silence_is_played_not_dropped() {
    let t0 = origin();
    let mut jb = buffer();
    // After the silence the network is 100 ms slower.
    let mut arrivals = stream(10, 0, 0, |_| 5_000);
    arrivals.extend(stream(10, 10, 40 * 160, |_| 105_000).into_iter().map(|mut a| {
        a.at_us += 40 * 20_000;
        a
    }));
    let outs = run(&mut jb, t0, arrivals, 70);
    assert_eq!(played(&outs), (0..20).collect::<Vec<_>>());
    let stats = jb.stats();
    assert_eq!((stats.late, stats.lost(), stats.reanchors), (0, 0, 1));
}

#[test]
fn a_sender_clock_running_fast_is_absorbed_by_dropping_frames() {
    let t0 = origin();
    let mut jb = buffer();
    // The sender's 20 ms are our 19.8 ms: 1% fast, one extra frame every two seconds.
    let arrivals: Vec<_> = (0..3000u32)
        .map(|i| Arrival {
            at_us: u64::from(i) * 19_800 + 10_000,
            seq: i as u16,
            ts: i * 160,
            marker: i == 0,
        })
        .collect();
    let outs = run(&mut jb, t0, arrivals, 2980);
    let stats = jb.stats();
    assert_eq!((stats.late, stats.lost()), (0, 0), "{stats:?}");
    // 3000 packets in 59.4 s: ~30 more than ticks, all dropped as shrinks, none piling up.
    assert!(stats.shrunk >= 25, "{stats:?}");
    assert!(stats.delay_ms <= 60, "{stats:?}");
    assert_eq!(played(&outs).len() as u64 + stats.shrunk + jb.len() as u64, 3000);
}

#[test]
fn a_sender_clock_running_slow_is_absorbed_by_stretching() {
    let t0 = origin();
    let mut jb = buffer();
    let arrivals: Vec<_> = (0..2900u32)
        .map(|i| Arrival {
            at_us: u64::from(i) * 20_200 + 10_000,
            seq: i as u16,
            ts: i * 160,
            marker: i == 0,
        })
        .collect();
    let outs = run(&mut jb, t0, arrivals, 2960);
    let stats = jb.stats();
    assert_eq!(
        (stats.late, stats.lost(), stats.concealed),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.stretched >= 25, "{stats:?}");
    // Every packet still played (the delay settles first, with a drop or two).
    assert_eq!(played(&outs).len() as u64 + stats.shrunk, 2900, "{stats:?}");
    assert!(stats.shrunk <= 3, "{stats:?}");
}

#[test]
fn the_delay_follows_the_jitter_between_the_bounds() {
    let t0 = origin();
    // Deterministic pseudo-random jitter: 0..=80 ms.
    let jitter = |i: u64| (i.wrapping_mul(2_654_435_761) % 81) * 1000;
    let mut jb = buffer();
    run(&mut jb, t0, stream(3000, 0, 0, jitter), 3010);
    let stats = jb.stats();
    assert!((76..=100).contains(&stats.target_delay_ms), "{stats:?}");
    assert!(stats.late * 100 <= 3 * 3000, "late {} of 3000", stats.late);
    // Jitter far beyond the maximum: the delay stops at 200 ms and the rest is late.
    let mut jb = buffer();
    run(
        &mut jb,
        t0,
        stream(2000, 0, 0, |i| (i.wrapping_mul(2_654_435_761) % 400) * 1000),
        2020,
    );
    let stats = jb.stats();
    assert_eq!(stats.target_delay_ms, 200, "{stats:?}");
    assert!(stats.delay_ms <= 240, "{stats:?}");
    // No jitter: the minimum.
    let mut jb = buffer();
    run(&mut jb, t0, stream(500, 0, 0, |_| 40_000), 510);
    assert_eq!(jb.stats().target_delay_ms, 20);
}

#[test]
fn a_timestamp_jump_ahead_is_followed_instead_of_playing_an_hour_of_silence() {
    let t0 = origin();
    let mut jb = buffer();
    // Sequence continues, timestamp jumps an hour ahead (a sender that restarted its clock).
    let mut arrivals = stream(10, 0, 0, |_| 1000);
    arrivals.extend(stream(20, 10, 8000 * 3600, |_| 1000).into_iter().map(|mut a| {
        a.at_us += 10 * 20_000;
        a
    }));
    let outs = run(&mut jb, t0, arrivals, 40);
    let stats = jb.stats();
    assert_eq!((stats.late, stats.lost(), stats.silence), (0, 0, 0), "{stats:?}");
    // Everything plays but the frames dropped to settle the delay.
    let seqs = played(&outs);
    assert_eq!(seqs.len() as u64 + stats.shrunk, 30, "{stats:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn a_timestamp_jump_backwards_re_anchors_after_a_few_packets() {
    let t0 = origin();
    let mut jb = buffer();
    // The timestamp goes back by 400 ms while the sequence continues: every packet looks late
    // by the same amount, which a network cannot do.
    let mut arrivals = stream(20, 0, 100_000, |_| 1000);
    arrivals.extend(
        stream(40, 20, 100_000 + 20 * 160 - 3200, |_| 1000)
            .into_iter()
            .map(|mut a| {
                a.at_us += 20 * 20_000;
                a
            }),
    );
    let outs = run(&mut jb, t0, arrivals, 70);
    let stats = jb.stats();
    assert_eq!(stats.reanchors, 1, "{stats:?}");
    assert_eq!(stats.late as u32, STEADY_LATE_RUN - 1);
    // All but the late ones play (or are dropped to settle the delay), in order.
    let seqs = played(&outs);
    assert_eq!(
        seqs.len() as u64 + stats.shrunk + stats.late + jb.len() as u64,
        60,
        "{seqs:?} {stats:?}"
    );
    assert!(seqs.contains(&19) && seqs.contains(&24), "{seqs:?}");
    assert!(
        stats.target_delay_ms <= 60,
        "the jump did not count as jitter: {stats:?}"
    );
}

#[test]
fn one_stray_jump_is_ignored_and_a_confirmed_one_restarts() {
    let t0 = origin();
    let mut jb = buffer();
    insert(&mut jb, t0, 1000);
    // One wild packet: dropped, stream unaffected.
    assert_eq!(insert(&mut jb, t0, 40000), Insert::Late);
    assert_eq!(insert(&mut jb, t0, 1001), Insert::Stored);
    // A sender that really restarted: the second packet confirms the new sequence.
    assert_eq!(insert(&mut jb, t0, 20000), Insert::Late);
    assert_eq!(insert(&mut jb, t0, 20001), Insert::Stored);
    assert_eq!(insert(&mut jb, t0, 20002), Insert::Stored);
    let later = t0 + Duration::from_millis(60);
    assert_eq!(pop(&mut jb, later), F(20001));
    assert_eq!(pop(&mut jb, later + TICK), F(20002));
    assert_eq!(jb.stats().restarts, 1);
    // Expected: 1000..=1001 before the restart, 20001..=20002 after.
    assert_eq!(jb.stats().expected, 4);
}

#[test]
fn a_packet_beyond_the_ring_starts_over() {
    let t0 = origin();
    let mut jb = buffer();
    insert(&mut jb, t0, 0);
    insert(&mut jb, t0, 1);
    // 200 packets ahead: within MAX_DROPOUT, beyond 64 slots.
    assert_eq!(insert(&mut jb, t0, 200), Insert::Stored);
    assert_eq!(jb.len(), 1);
    assert_eq!(jb.stats().reanchors, 1);
    assert_eq!(pop(&mut jb, t0 + Duration::from_millis(60)), F(200));
    // The old ones are now late.
    assert_eq!(insert(&mut jb, t0 + Duration::from_millis(60), 2), Insert::Late);
}

#[test]
fn oversized_payloads_are_dropped() {
    let t0 = origin();
    let mut jb = buffer();
    assert_eq!(
        jb.insert(t0, SeqNo(1), RtpTimestamp(0), false, &[0; 321]),
        Insert::Oversized
    );
    assert_eq!(jb.stats().oversized, 1);
    assert!(jb.is_empty());
}

#[test]
fn reset_forgets_the_stream() {
    let t0 = origin();
    let mut jb = buffer();
    insert(&mut jb, t0, 10);
    insert(&mut jb, t0, 11);
    jb.reset();
    assert!(jb.is_empty());
    assert_eq!(pop(&mut jb, t0 + Duration::from_secs(1)), Empty);
    // A new source with unrelated numbers starts cleanly.
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(insert_ts(&mut jb, t1, 50000, 7, true), Insert::Stored);
    assert_eq!(pop(&mut jb, t1 + Duration::from_millis(60)), F(50000));
    assert_eq!(jb.stats().expected, 3);
    assert_eq!(jb.stats().restarts, 0);
}

#[test]
fn opus_clock_rate_plays_48khz_timestamps() {
    let t0 = origin();
    let mut jb = JitterBuffer::new(JitterConfig {
        clock_rate: 48_000,
        ..JitterConfig::default()
    })
    .expect("valid");
    let arrivals: Vec<_> = (0..20u16)
        .map(|i| Arrival {
            at_us: u64::from(i) * 20_000,
            seq: i,
            ts: u32::from(i) * 960,
            marker: i == 0,
        })
        .collect();
    let outs = run(&mut jb, t0, arrivals, 23);
    assert_eq!(played(&outs), (0..20).collect::<Vec<_>>());
    assert_eq!(jb.stats().silence, 0);
}

#[test]
fn config_is_validated() {
    let bad = |c: JitterConfig| JitterBuffer::new(c).err();
    let ok = JitterConfig::default();
    assert_eq!(
        bad(JitterConfig {
            max_delay_ms: 2000,
            ..ok
        }),
        Some(JitterError::DelayTooLong {
            delay_ms: 2000,
            capacity: 64
        })
    );
    assert_eq!(
        bad(JitterConfig { max_payload: 0, ..ok }),
        Some(JitterError::ZeroPayload)
    );
    assert_eq!(
        bad(JitterConfig {
            initial_delay_ms: 10,
            ..ok
        }),
        Some(JitterError::DelayOrder {
            min_ms: 20,
            initial_ms: 10,
            max_ms: 200
        })
    );
    assert_eq!(
        bad(JitterConfig {
            clock_rate: 8001,
            ..ok
        }),
        Some(JitterError::ClockRate(8001))
    );
    assert!(
        JitterBuffer::new(JitterConfig {
            min_delay_ms: 0,
            initial_delay_ms: 0,
            ..ok
        })
        .is_ok()
    );
}
