//! A fixed-delay jitter buffer: received packets wait `delay` in a ring of slots indexed by
//! extended sequence number, and one packet (or a gap) leaves per 20 ms tick.
//!
//! Why fixed and not adaptive: the skeleton wants predictable latency and a buffer whose
//! behaviour a test can state exactly. The shape is the one adaptive buffers grow from:
//! - Sequence numbers are extended to 64 bits (RFC 3550 appendix A.1), so wrap-around at 65535
//!   is invisible and a slot index is `ext % capacity`.
//! - The first packet of a stream (or after the stream paused) opens the buffer; playout starts
//!   `delay` later, giving reordered and jittered packets time to land in their slots.
//! - A packet whose slot was already played (or skipped as a gap) is late: dropped and counted.
//! - When the buffer runs dry while playing, that is a pause (silence suppression, hold, a
//!   network stall), not a run of losses: playout stops and the next packet re-opens the buffer
//!   with a fresh delay. This keeps seq-indexed playout correct across DTX, where timestamps
//!   jump but sequence numbers do not.
//! - A sequence jump too large to be loss is confirmed by a second packet before the stream is
//!   restarted (RFC 3550 appendix A.1 probation), so one stray packet cannot derail playout.
//!
//! Payload bytes live in one preallocated block; inserting and popping never allocate.
//! Assumes 20 ms packets (`a=ptime:20`, what we offer and what trunks send); other packet times
//! need timestamp-indexed playout and are a later step.

use std::time::{Duration, Instant};

use crate::frame::FRAME_MS;
use crate::rtp::{RtpTimestamp, SeqNo};

/// A sequence jump up to this far ahead is treated as loss (RFC 3550 `MAX_DROPOUT`).
const MAX_DROPOUT: i64 = 3000;
/// A packet up to this far behind the highest is treated as reordered or late (`MAX_MISORDER`).
const MAX_MISORDER: i64 = 100;
/// Offset added to the first sequence number so reordering at stream start never goes below 0.
const EXT_ORIGIN: u64 = 1 << 32;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Playout delay after the first packet of a stream, in milliseconds.
    pub delay_ms: u32,
    /// Number of packet slots; bounds how far ahead of playout a packet can be stored.
    pub capacity: usize,
    /// Largest payload stored, in bytes; larger packets are dropped and counted.
    pub max_payload: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        // 64 slots hold 1.28 s of 20 ms packets; 320 bytes is 40 ms of G.711.
        JitterConfig {
            delay_ms: 60,
            capacity: 64,
            max_payload: 320,
        }
    }
}

/// Invalid [`JitterConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterError {
    /// The delay does not fit in the slot ring with room to spare.
    #[error("jitter delay of {delay_ms} ms needs more than {capacity} slots")]
    DelayTooLong {
        /// Requested delay.
        delay_ms: u32,
        /// Configured slot count.
        capacity: usize,
    },
    /// Zero payload size.
    #[error("jitter buffer max_payload must be positive")]
    ZeroPayload,
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored for playout.
    Stored,
    /// Already stored; dropped.
    Duplicate,
    /// Its playout time has passed (or it is too far behind to place); dropped.
    Late,
    /// Payload larger than `max_payload`; dropped.
    Oversized,
}

/// What plays in one 20 ms tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout<'a> {
    /// The packet due now.
    Frame {
        /// Its sequence number.
        seq: SeqNo,
        /// Its RTP timestamp.
        timestamp: RtpTimestamp,
        /// Its payload, valid until the next call on the buffer.
        payload: &'a [u8],
    },
    /// The packet due now is missing while later ones are buffered: conceal it.
    Gap,
    /// Nothing is playing: no packet yet, still buffering, or the stream paused.
    Empty,
}

/// Counters of a [`JitterBuffer`], cumulative over the life of the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored for playout.
    pub stored: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped because their slot had already played, or far out of sequence.
    pub late: u64,
    /// Packets dropped for exceeding `max_payload`.
    pub oversized: u64,
    /// Gaps played while later packets were waiting (packets concealed).
    pub concealed: u64,
    /// Times the buffer ran dry while playing and stopped until the next packet.
    pub underruns: u64,
    /// Times a packet arrived too far ahead for the ring and buffering started over.
    pub overflows: u64,
    /// Times the sequence restarted (a confirmed large jump).
    pub restarts: u64,
    /// Packets expected from the sequence numbers seen (RFC 3550 `expected`).
    pub expected: u64,
}

impl JitterStats {
    /// Packets that never arrived: expected minus received (stored or late), never negative.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.stored + self.late)
    }
}

/// Playout state; each variant carries the cursor it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a packet. After a pause, packets below `late_below` were already due.
    Idle { late_below: Option<u64> },
    /// Packets are being collected; playout of `next` starts at `start_at`.
    Buffering {
        start_at: Instant,
        next: u64,
        late_below: Option<u64>,
    },
    /// One slot leaves per pop, starting with `next`.
    Playing { next: u64 },
}

/// Extends 16-bit sequence numbers to 64 bits and keeps the RFC 3550 expected count.
#[derive(Debug, Clone, Copy, Default)]
struct SeqTracker {
    /// Highest and lowest extended sequence numbers since the stream (re)started.
    range: Option<(u64, u64)>,
    /// Candidate next sequence number after a large jump, awaiting confirmation.
    probation: Option<u16>,
    /// Expected counts of earlier incarnations of the stream.
    expected_before: u64,
}

/// How a sequence number relates to the stream.
enum Placement {
    /// Within reach of the current stream, at this extended sequence number.
    InStream(u64),
    /// Confirmed restart: the stream begins again at this extended sequence number.
    Restart(u64),
    /// A large jump seen once; dropped until confirmed.
    Far,
}

impl SeqTracker {
    fn place(&mut self, seq: SeqNo) -> Placement {
        let Some((highest, _)) = self.range else {
            return Placement::Restart(EXT_ORIGIN + u64::from(seq.0));
        };
        let delta = i64::from(seq.0.wrapping_sub(highest as u16) as i16);
        if (-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) {
            self.probation = None;
            // `highest >= EXT_ORIGIN > MAX_MISORDER`, so this cannot go below zero.
            return Placement::InStream(highest.saturating_add_signed(delta));
        }
        if self.probation == Some(seq.0) {
            self.probation = None;
            return Placement::Restart(EXT_ORIGIN + u64::from(seq.0));
        }
        self.probation = Some(seq.0.wrapping_add(1));
        Placement::Far
    }

    fn restart(&mut self, ext: u64) {
        self.expected_before = self.expected();
        self.range = Some((ext, ext));
    }

    fn saw(&mut self, ext: u64) {
        self.range = Some(match self.range {
            Some((hi, lo)) => (hi.max(ext), lo.min(ext)),
            None => (ext, ext),
        });
    }

    fn highest(&self) -> Option<u64> {
        self.range.map(|(hi, _)| hi)
    }

    fn expected(&self) -> u64 {
        self.expected_before + self.range.map_or(0, |(hi, lo)| hi - lo + 1)
    }
}

/// One slot of the ring: which packet it holds, if any.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    ext: Option<u64>,
    timestamp: u32,
    len: usize,
}

/// Fixed-delay jitter buffer for one RTP stream. See the module docs for the rules.
#[derive(Debug)]
pub struct JitterBuffer {
    delay: Duration,
    max_payload: usize,
    slots: Box<[Slot]>,
    payloads: Box<[u8]>,
    occupied: usize,
    state: State,
    seq: SeqTracker,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Builds a buffer, allocating all its storage up front.
    pub fn new(config: JitterConfig) -> Result<Self, JitterError> {
        if config.max_payload == 0 {
            return Err(JitterError::ZeroPayload);
        }
        // The ring must hold the delay plus room for packets that arrive early or in a burst.
        let delay_slots = config.delay_ms.div_ceil(FRAME_MS) as usize;
        if delay_slots + 2 > config.capacity {
            return Err(JitterError::DelayTooLong {
                delay_ms: config.delay_ms,
                capacity: config.capacity,
            });
        }
        Ok(JitterBuffer {
            delay: Duration::from_millis(u64::from(config.delay_ms)),
            max_payload: config.max_payload,
            slots: vec![Slot::default(); config.capacity].into_boxed_slice(),
            payloads: vec![0; config.capacity * config.max_payload].into_boxed_slice(),
            occupied: 0,
            state: State::Idle { late_below: None },
            seq: SeqTracker::default(),
            stats: JitterStats::default(),
        })
    }

    /// Offers a received packet to the buffer at time `now`.
    pub fn insert(&mut self, now: Instant, seq: SeqNo, timestamp: RtpTimestamp, payload: &[u8]) -> Insert {
        if payload.len() > self.max_payload {
            self.stats.oversized += 1;
            return Insert::Oversized;
        }
        let ext = match self.seq.place(seq) {
            Placement::InStream(ext) => ext,
            Placement::Restart(ext) => {
                if self.seq.range.is_some() {
                    self.stats.restarts += 1;
                }
                self.clear_slots();
                self.seq.restart(ext);
                self.state = State::Idle { late_below: None };
                ext
            }
            Placement::Far => return self.late(),
        };
        let capacity = self.capacity();
        match self.state {
            State::Idle { late_below } => {
                if late_below.is_some_and(|l| ext < l) {
                    return self.late();
                }
                self.state = State::Buffering {
                    start_at: now + self.delay,
                    next: ext,
                    late_below,
                };
            }
            State::Buffering {
                start_at,
                next,
                late_below,
            } => {
                if late_below.is_some_and(|l| ext < l) {
                    return self.late();
                }
                if ext < next {
                    // Reordered before playout began: move the start back if the ring still
                    // spans everything stored.
                    if self.seq.highest().is_some_and(|hi| hi >= ext + capacity) {
                        return self.late();
                    }
                    self.state = State::Buffering {
                        start_at,
                        next: ext,
                        late_below,
                    };
                } else if ext >= next + capacity {
                    self.overflow(now, ext, late_below);
                }
            }
            State::Playing { next } => {
                if ext < next {
                    return self.late();
                }
                if ext >= next + capacity {
                    self.overflow(now, ext, Some(next));
                }
            }
        }
        self.seq.saw(ext);
        self.store(ext, timestamp, payload)
    }

    /// Takes what plays in the tick at `now`. Call once per 20 ms.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        let next = match self.state {
            State::Idle { .. } => return Playout::Empty,
            State::Buffering { start_at, .. } if now < start_at => return Playout::Empty,
            State::Buffering { next, .. } | State::Playing { next } => next,
        };
        let index = self.index(next);
        let slot = self.slots[index];
        if slot.ext == Some(next) {
            self.slots[index].ext = None;
            self.occupied -= 1;
            self.state = State::Playing { next: next + 1 };
            let start = index * self.max_payload;
            return Playout::Frame {
                seq: SeqNo(next as u16),
                timestamp: RtpTimestamp(slot.timestamp),
                payload: &self.payloads[start..start + slot.len],
            };
        }
        if self.occupied == 0 {
            // Ran dry: the sender paused (or the network stalled). Stop until the next packet.
            self.stats.underruns += 1;
            self.state = State::Idle {
                late_below: Some(next),
            };
            return Playout::Empty;
        }
        self.stats.concealed += 1;
        self.state = State::Playing { next: next + 1 };
        Playout::Gap
    }

    /// Forgets the stream (a new SSRC), keeping the cumulative counters.
    pub fn reset(&mut self) {
        self.clear_slots();
        self.seq = SeqTracker {
            expected_before: self.seq.expected(),
            ..SeqTracker::default()
        };
        self.state = State::Idle { late_below: None };
    }

    /// Cumulative counters.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            expected: self.seq.expected(),
            ..self.stats
        }
    }

    /// Packets currently stored.
    pub fn len(&self) -> usize {
        self.occupied
    }

    /// Whether no packet is stored.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    fn index(&self, ext: u64) -> usize {
        // The remainder is below `slots.len()`, which is a usize.
        (ext % self.capacity()) as usize
    }

    fn late(&mut self) -> Insert {
        self.stats.late += 1;
        Insert::Late
    }

    /// A packet landed beyond the ring: whatever is stored is too old to matter. Start again.
    fn overflow(&mut self, now: Instant, ext: u64, late_below: Option<u64>) {
        self.stats.overflows += 1;
        self.clear_slots();
        self.state = State::Buffering {
            start_at: now + self.delay,
            next: ext,
            late_below,
        };
    }

    fn store(&mut self, ext: u64, timestamp: RtpTimestamp, payload: &[u8]) -> Insert {
        let index = self.index(ext);
        if self.slots[index].ext == Some(ext) {
            self.stats.duplicates += 1;
            return Insert::Duplicate;
        }
        // Every stored packet lies in [next, next + capacity), so the slot is free; count it
        // correctly even if that ever stops being true.
        if self.slots[index].ext.is_none() {
            self.occupied += 1;
        }
        self.slots[index] = Slot {
            ext: Some(ext),
            timestamp: timestamp.0,
            len: payload.len(),
        };
        let start = index * self.max_payload;
        self.payloads[start..start + payload.len()].copy_from_slice(payload);
        self.stats.stored += 1;
        Insert::Stored
    }

    fn clear_slots(&mut self) {
        for slot in self.slots.iter_mut() {
            slot.ext = None;
        }
        self.occupied = 0;
    }
}

#[cfg(test)]
mod tests {
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
        jb.insert(
            now,
            SeqNo(seq),
            RtpTimestamp(u32::from(seq) * 160),
            &seq.to_be_bytes(),
        )
    }

    /// What each pop yields: `Some(seq)` for a frame (read back from the payload), `None` for a
    /// gap; `Empty` is returned as `u32::MAX` to keep the expectations short.
    fn pop(jb: &mut JitterBuffer, now: Instant) -> Option<u32> {
        match jb.pop(now) {
            Playout::Frame { seq, payload, .. } => {
                assert_eq!(payload, &seq.0.to_be_bytes(), "payload travels with its seq");
                Some(u32::from(seq.0))
            }
            Playout::Gap => None,
            Playout::Empty => Some(u32::MAX),
        }
    }

    const EMPTY: Option<u32> = Some(u32::MAX);

    #[test]
    fn plays_in_order_after_the_delay() {
        let t0 = origin();
        let mut jb = buffer();
        let mut out = Vec::new();
        for i in 0..8u16 {
            let now = t0 + TICK * u32::from(i);
            insert(&mut jb, now, 100 + i);
            out.push(pop(&mut jb, now));
        }
        // 60 ms delay: ticks 0, 1, 2 are silent, then packet 100 plays at t0 + 60 ms.
        assert_eq!(
            out,
            vec![
                EMPTY,
                EMPTY,
                EMPTY,
                Some(100),
                Some(101),
                Some(102),
                Some(103),
                Some(104)
            ]
        );
        assert_eq!(jb.len(), 3);
        assert_eq!(jb.stats().lost(), 0);
    }

    #[test]
    fn custom_delay_is_honoured() {
        let t0 = origin();
        let mut jb = JitterBuffer::new(JitterConfig {
            delay_ms: 100,
            ..JitterConfig::default()
        })
        .expect("valid");
        insert(&mut jb, t0, 1);
        for k in 0..5 {
            assert_eq!(pop(&mut jb, t0 + TICK * k), EMPTY, "tick {k}");
        }
        assert_eq!(pop(&mut jb, t0 + TICK * 5), Some(1));
    }

    #[test]
    fn reordered_packets_play_in_sequence() {
        let t0 = origin();
        let mut jb = buffer();
        for seq in [11, 10, 13, 12, 14] {
            assert_eq!(insert(&mut jb, t0, seq), Insert::Stored);
        }
        let later = t0 + Duration::from_millis(60);
        let out: Vec<_> = (0..5).map(|k| pop(&mut jb, later + TICK * k)).collect();
        assert_eq!(out, vec![Some(10), Some(11), Some(12), Some(13), Some(14)]);
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
        assert_eq!(pop(&mut jb, later), Some(5));
        assert_eq!(pop(&mut jb, later + TICK), Some(6));
        assert_eq!(jb.stats().duplicates, 1);
        assert_eq!(jb.stats().stored, 2);
        // A duplicate of a packet already played is late, not stored again.
        assert_eq!(insert(&mut jb, later + TICK, 5), Insert::Late);
    }

    #[test]
    fn wraps_around_at_65535() {
        let t0 = origin();
        let mut jb = buffer();
        for seq in [65533, 65535, 65534, 1, 0, 2] {
            assert_eq!(insert(&mut jb, t0, seq), Insert::Stored, "seq {seq}");
        }
        let later = t0 + Duration::from_millis(60);
        let out: Vec<_> = (0..6).map(|k| pop(&mut jb, later + TICK * k)).collect();
        assert_eq!(
            out,
            vec![Some(65533), Some(65534), Some(65535), Some(0), Some(1), Some(2)]
        );
        let stats = jb.stats();
        assert_eq!((stats.expected, stats.lost()), (6, 0));
    }

    #[test]
    fn long_stream_across_several_wraps_loses_nothing() {
        let t0 = origin();
        let mut jb = buffer();
        let mut played = 0u32;
        let mut expected_seq = 60000u16;
        for i in 0..200_000u32 {
            let now = t0 + TICK * i;
            insert(&mut jb, now, 60000u16.wrapping_add(i as u16));
            if let Some(seq) = pop(&mut jb, now).filter(|&s| s != u32::MAX) {
                assert_eq!(seq, u32::from(expected_seq));
                expected_seq = expected_seq.wrapping_add(1);
                played += 1;
            }
        }
        assert_eq!(played, 200_000 - 3);
        assert_eq!(jb.stats().lost(), 0);
        assert_eq!(jb.stats().expected, 200_000);
    }

    #[test]
    fn late_packets_are_dropped_and_counted() {
        let t0 = origin();
        let mut jb = buffer();
        // Packets 1..=6 sent every 20 ms; packet 3 is held back by the network.
        let mut out = Vec::new();
        for i in 0..6u16 {
            let now = t0 + TICK * u32::from(i);
            if i != 2 {
                insert(&mut jb, now, i + 1);
            }
            out.push(pop(&mut jb, now));
        }
        // Packet 3 was due at tick 5; it is a gap there, and arrives at tick 6.
        let t6 = t0 + TICK * 6;
        assert_eq!(insert(&mut jb, t6, 3), Insert::Late);
        out.push(pop(&mut jb, t6));
        assert_eq!(out, vec![EMPTY, EMPTY, EMPTY, Some(1), Some(2), None, Some(4)]);
        let stats = jb.stats();
        assert_eq!((stats.late, stats.concealed), (1, 1));
        // It did arrive, so it is late but not lost.
        assert_eq!(stats.lost(), 0);
    }

    #[test]
    fn losses_play_as_gaps_and_are_counted() {
        let t0 = origin();
        let mut jb = buffer();
        let mut out = Vec::new();
        for i in 0..10u16 {
            let now = t0 + TICK * u32::from(i);
            if i != 4 && i != 5 {
                insert(&mut jb, now, i);
            }
            out.push(pop(&mut jb, now));
        }
        assert_eq!(
            out,
            vec![
                EMPTY,
                EMPTY,
                EMPTY,
                Some(0),
                Some(1),
                Some(2),
                Some(3),
                None,
                None,
                Some(6)
            ]
        );
        let stats = jb.stats();
        assert_eq!((stats.lost(), stats.concealed, stats.late), (2, 2, 0));
    }

    #[test]
    fn a_pause_stops_playout_and_the_next_packet_rebuffers() {
        let t0 = origin();
        let mut jb = buffer();
        let mut out = Vec::new();
        // Five packets, then the sender goes quiet for 10 ticks (silence suppression: the
        // sequence continues without a jump), then resumes.
        let mut seq = 0u16;
        for i in 0..22u32 {
            let now = t0 + TICK * i;
            if !(5..15).contains(&i) {
                insert(&mut jb, now, seq);
                seq += 1;
            }
            out.push(pop(&mut jb, now));
        }
        let frames: Vec<_> = out.iter().filter_map(|p| p.filter(|&s| s != u32::MAX)).collect();
        assert_eq!(frames, (0..9).collect::<Vec<_>>());
        // Resumed at tick 15, playing again at tick 18 after a fresh delay.
        assert_eq!(out[17], EMPTY);
        assert_eq!(out[18], Some(5));
        let stats = jb.stats();
        assert_eq!(
            (stats.lost(), stats.late, stats.concealed, stats.underruns),
            (0, 0, 0, 1)
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
        assert_eq!(pop(&mut jb, later), Some(20001));
        assert_eq!(pop(&mut jb, later + TICK), Some(20002));
        assert_eq!(jb.stats().restarts, 1);
        // Expected: 1000..=1001 before the restart, 20001..=20002 after.
        assert_eq!(jb.stats().expected, 4);
    }

    #[test]
    fn a_packet_beyond_the_ring_restarts_buffering() {
        let t0 = origin();
        let mut jb = buffer();
        insert(&mut jb, t0, 0);
        insert(&mut jb, t0, 1);
        // 200 packets ahead: within MAX_DROPOUT, beyond 64 slots.
        assert_eq!(insert(&mut jb, t0, 200), Insert::Stored);
        assert_eq!(jb.len(), 1);
        assert_eq!(jb.stats().overflows, 1);
        assert_eq!(pop(&mut jb, t0 + Duration::from_millis(60)), Some(200));
        // The old ones are now late.
        assert_eq!(insert(&mut jb, t0, 2), Insert::Late);
    }

    #[test]
    fn oversized_payloads_are_dropped() {
        let t0 = origin();
        let mut jb = buffer();
        assert_eq!(
            jb.insert(t0, SeqNo(1), RtpTimestamp(0), &[0; 321]),
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
        assert_eq!(pop(&mut jb, t0 + Duration::from_secs(1)), EMPTY);
        // A new source with unrelated numbers starts cleanly.
        assert_eq!(
            insert(&mut jb, t0 + Duration::from_secs(1), 50000),
            Insert::Stored
        );
        assert_eq!(pop(&mut jb, t0 + Duration::from_millis(1060)), Some(50000));
        assert_eq!(jb.stats().expected, 3);
    }

    #[test]
    fn config_is_validated() {
        assert_eq!(
            JitterBuffer::new(JitterConfig {
                delay_ms: 2000,
                ..JitterConfig::default()
            })
            .err(),
            Some(JitterError::DelayTooLong {
                delay_ms: 2000,
                capacity: 64
            })
        );
        assert_eq!(
            JitterBuffer::new(JitterConfig {
                max_payload: 0,
                ..JitterConfig::default()
            })
            .err(),
            Some(JitterError::ZeroPayload)
        );
        assert!(
            JitterBuffer::new(JitterConfig {
                delay_ms: 0,
                ..JitterConfig::default()
            })
            .is_ok()
        );
    }
}
