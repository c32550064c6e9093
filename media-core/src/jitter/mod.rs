//! The adaptive jitter buffer of one RTP stream: packets wait here until their media time comes
//! round, one 20 ms frame leaves per tick, and the waiting time follows what the network needs,
//! between `min_delay_ms` (20) and `max_delay_ms` (200).
//!
//! How it plays:
//! - Packets are stored in a ring of slots indexed by extended sequence number (RFC 3550
//!   appendix A.1), so wrap-around at 65535 is invisible, duplicates land on their own slot, and
//!   reordered packets simply fill theirs. Timestamps are extended to 64 bits as well.
//! - Playout follows **timestamps**: a cursor `play_ts` advances one frame per tick, and the
//!   packet whose timestamp is due plays. So silence suppression (DTX: the sender stops, the
//!   sequence continues, the timestamp jumps) plays as silence for exactly as long as the sender
//!   was silent, and needs no re-buffering.
//! - **Sequence numbers** tell loss from silence: when the packet due is missing but a later one
//!   is stored, it was lost ([`Playout::Lost`], with the next packet's payload for Opus in-band
//!   FEC); when nothing is stored, the buffer ran dry ([`Playout::Underrun`]).
//! - A packet whose media time has already played is **late**: dropped and counted, and its
//!   delay raises the target at once. Three exceptions re-anchor playout on it instead, because
//!   the sender's timeline moved rather than the network: the first packet of a talk spurt
//!   (marker bit) after the buffer ran dry, a run of late packets that are all late by the same
//!   amount, and a timestamp more than the ring's span away from the cursor.
//!
//! How it adapts (see the private `delay` module for the statistics): every packet's transit offset updates a
//! base (the fastest recent packets) and a target (how far behind the fastest the others
//! come). The current delay is the playout point minus the base. Below target, the buffer
//! grows by one frame: for free during silence, otherwise by asking for a concealed frame
//! ([`Playout::Stretch`]). More than a frame above target, it shrinks by one: for free during
//! silence, skipping a lost packet instead of concealing it, or by asking the caller to drop a
//! frame ([`JitterBuffer::wants_shrink`], best done on a quiet one). So clock drift between the
//! two ends, a route change and a jitter spike all end in a small correction, made where it is
//! least audible.
//!
//! Payload bytes live in one preallocated block; inserting and popping never allocate.
//! Assumes one 20 ms frame per packet (`a=ptime:20`, what we offer and what trunks send); a
//! longer packet plays its first 20 ms and then silence until the next packet is due.

mod delay;
mod seq;

use std::time::Instant;

use crate::frame::FRAME_MS;
use crate::rtp::{RtpTimestamp, SeqNo};
use delay::DelayEstimator;
use seq::{Placement, SeqTracker, TsExtender};

/// Microseconds per millisecond.
const MS: i64 = 1000;
/// Microseconds in one frame.
const FRAME_US: i64 = FRAME_MS as i64 * MS;
/// How far above target the delay may run before it is reduced (beyond the one-frame step).
const SHRINK_MARGIN_US: i64 = 10 * MS;
/// How far above target a shrink is forced even on loud audio.
const FORCE_SHRINK_US: i64 = 100 * MS;
/// A packet arriving with less time than this before its playout asks for more delay.
const GUARD_US: i64 = 2 * MS;
/// Late packets in a row, all with about the same transit offset, that mean the timeline
/// moved (a burst after a network stall has offsets falling by a frame per packet instead).
const STEADY_LATE_RUN: u32 = 5;
/// "About the same" for [`STEADY_LATE_RUN`].
const STEADY_LATE_TOLERANCE_US: i64 = 10 * MS;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Smallest playout delay the buffer adapts down to, in ms.
    pub min_delay_ms: u32,
    /// Largest playout delay the buffer adapts up to, in ms.
    pub max_delay_ms: u32,
    /// Delay used until enough packets have been seen to measure the network.
    pub initial_delay_ms: u32,
    /// Number of packet slots; bounds how far ahead of playout a packet can be stored.
    pub capacity: usize,
    /// Largest payload stored, in bytes; larger packets are dropped and counted.
    pub max_payload: usize,
    /// RTP clock rate of the stream (8000 for G.711, 48000 for Opus).
    pub clock_rate: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        // 64 slots hold 1.28 s of 20 ms packets; 320 bytes is 40 ms of G.711.
        JitterConfig {
            min_delay_ms: 20,
            max_delay_ms: 200,
            initial_delay_ms: 60,
            capacity: 64,
            max_payload: 320,
            clock_rate: 8000,
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
    /// The delays are not ordered `min <= initial <= max`.
    #[error("jitter delays must satisfy min {min_ms} <= initial {initial_ms} <= max {max_ms}")]
    DelayOrder {
        /// Minimum delay.
        min_ms: u32,
        /// Initial delay.
        initial_ms: u32,
        /// Maximum delay.
        max_ms: u32,
    },
    /// Zero payload size.
    #[error("jitter buffer max_payload must be positive")]
    ZeroPayload,
    /// The clock rate does not give a whole number of ticks per 20 ms frame.
    #[error("RTP clock rate {0} Hz is not a positive multiple of 50")]
    ClockRate(u32),
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored for playout.
    Stored,
    /// Already stored; dropped.
    Duplicate,
    /// Its playout time has passed (or it is too far out of sequence to place); dropped.
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
    /// The packet due now was lost (later ones are stored): conceal it. `next` is the payload
    /// of the packet right after it, if stored, whose in-band FEC (Opus) may rebuild it.
    Lost {
        /// The following packet's payload.
        next: Option<&'a [u8]>,
    },
    /// The delay grows by one frame: play a concealed continuation; the packet due waits.
    Stretch,
    /// Nothing is due: the sender is silent between talk spurts (DTX).
    Silence,
    /// The buffer ran dry while playing (the sender stopped, or the network stalled).
    Underrun,
    /// Nothing is playing yet: no packet, or still buffering.
    Empty,
}

/// Counters of a [`JitterBuffer`], cumulative over the life of the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets stored for playout.
    pub stored: u64,
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped because their media time had already played, or far out of sequence.
    pub late: u64,
    /// Packets dropped for exceeding `max_payload`.
    pub oversized: u64,
    /// Lost packets played as concealment.
    pub concealed: u64,
    /// Ticks played while the buffer was dry.
    pub underruns: u64,
    /// Ticks of sender silence (DTX) played.
    pub silence: u64,
    /// Frames inserted to grow the delay.
    pub stretched: u64,
    /// Frames dropped to shrink the delay.
    pub shrunk: u64,
    /// Times playout was re-anchored on a packet (new talk spurt, moved timeline, overflow).
    pub reanchors: u64,
    /// Times the sequence restarted (a confirmed large jump).
    pub restarts: u64,
    /// Packets expected from the sequence numbers seen (RFC 3550 `expected`).
    pub expected: u64,
    /// Current playout delay above the fastest recent packets, in ms.
    pub delay_ms: u32,
    /// The delay the buffer is adapting to, in ms.
    pub target_delay_ms: u32,
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
    /// Waiting for the first packet of a stream.
    Idle,
    /// Packets are being collected; playout starts at `start_at_us` with the earliest stored.
    /// Packets below `floor` belong to what already played.
    Buffering { start_at_us: i64, floor: u64 },
    /// One frame leaves per pop. `next` is the sequence number expected next; `play_ts` the
    /// media time (extended timestamp) due at the next pop.
    Playing { next: u64, play_ts: i64, dry: u32 },
}

/// One slot of the ring: which packet it holds, if any.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    ext: Option<u64>,
    ts: i64,
    raw_ts: u32,
    len: usize,
}

/// A run of late packets, to tell a moved timeline from a burst after a stall.
#[derive(Debug, Clone, Copy, Default)]
struct LateRun {
    count: u32,
    offset_us: i64,
}

/// Adaptive jitter buffer for one RTP stream. See the module docs for the rules.
#[derive(Debug)]
pub struct JitterBuffer {
    min_us: i64,
    max_us: i64,
    initial_us: i64,
    clock_rate: i64,
    frame_ticks: i64,
    max_payload: usize,
    slots: Box<[Slot]>,
    payloads: Box<[u8]>,
    occupied: usize,
    state: State,
    seq: SeqTracker,
    ts: TsExtender,
    delay: DelayEstimator,
    late_run: LateRun,
    shrink_wanted: Option<bool>,
    /// A packet arrived with less than [`GUARD_US`] to spare since the last pop.
    tight: bool,
    /// When the last pop ran.
    last_pop_us: i64,
    origin: Option<Instant>,
    delay_us: i64,
    target_us: i64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Builds a buffer, allocating all its storage up front.
    pub fn new(config: JitterConfig) -> Result<Self, JitterError> {
        if config.max_payload == 0 {
            return Err(JitterError::ZeroPayload);
        }
        if config.clock_rate == 0 || !config.clock_rate.is_multiple_of(50) {
            return Err(JitterError::ClockRate(config.clock_rate));
        }
        if !(config.min_delay_ms <= config.initial_delay_ms && config.initial_delay_ms <= config.max_delay_ms)
        {
            return Err(JitterError::DelayOrder {
                min_ms: config.min_delay_ms,
                initial_ms: config.initial_delay_ms,
                max_ms: config.max_delay_ms,
            });
        }
        // The ring must hold the largest delay plus room for early packets and bursts.
        let delay_slots = config.max_delay_ms.div_ceil(FRAME_MS) as usize;
        if delay_slots + 4 > config.capacity {
            return Err(JitterError::DelayTooLong {
                delay_ms: config.max_delay_ms,
                capacity: config.capacity,
            });
        }
        let initial_us = i64::from(config.initial_delay_ms) * MS;
        Ok(JitterBuffer {
            min_us: i64::from(config.min_delay_ms) * MS,
            max_us: i64::from(config.max_delay_ms) * MS,
            initial_us,
            clock_rate: i64::from(config.clock_rate),
            frame_ticks: i64::from(config.clock_rate / 50),
            max_payload: config.max_payload,
            slots: vec![Slot::default(); config.capacity].into_boxed_slice(),
            payloads: vec![0; config.capacity * config.max_payload].into_boxed_slice(),
            occupied: 0,
            state: State::Idle,
            seq: SeqTracker::default(),
            ts: TsExtender::default(),
            delay: DelayEstimator::new(),
            late_run: LateRun::default(),
            shrink_wanted: None,
            tight: false,
            last_pop_us: 0,
            origin: None,
            delay_us: 0,
            target_us: initial_us,
            stats: JitterStats::default(),
        })
    }

    /// Offers a packet received at `now` to the buffer. `marker` is the RTP marker bit (start
    /// of a talk spurt).
    pub fn insert(
        &mut self,
        now: Instant,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        marker: bool,
        payload: &[u8],
    ) -> Insert {
        if payload.len() > self.max_payload {
            self.stats.oversized += 1;
            return Insert::Oversized;
        }
        let now_us = self.us(now);
        let ext = match self.seq.place(seq) {
            Placement::InStream(ext) => ext,
            Placement::Restart(ext) => {
                if self.seq.has_stream() {
                    self.stats.restarts += 1;
                }
                self.clear_slots();
                self.seq.restart(ext);
                self.ts.forget();
                self.delay.rebase();
                self.state = State::Idle;
                ext
            }
            Placement::Far => return self.late(),
        };
        let index = self.index(ext);
        if self.slots[index].ext == Some(ext) {
            self.stats.duplicates += 1;
            return Insert::Duplicate;
        }
        let ts = self.ts.extend(timestamp);
        let media_us = self.media_us(ts);
        let excess = self.delay.observe(now_us, media_us);
        let capacity = self.capacity();
        match self.state {
            State::Idle => {
                let start_at_us = self.start_time(now_us, media_us);
                self.state = State::Buffering {
                    start_at_us,
                    floor: 0,
                };
            }
            State::Buffering { start_at_us, floor } => {
                if ext < floor {
                    return self.late();
                }
                let lowest = self.lowest_stored().unwrap_or(ext);
                if ext < lowest && self.seq.highest().is_some_and(|hi| hi >= ext + capacity) {
                    // A straggler too old to share the ring with what is buffered.
                    return self.late();
                }
                if ext >= lowest + capacity {
                    // Cannot span both in the ring: the newest wins.
                    self.reanchor(now_us, media_us, floor);
                } else {
                    self.state = State::Buffering { start_at_us, floor };
                }
            }
            State::Playing { next, play_ts, dry } => {
                let span = self.span_ticks();
                if ext < next || ts < play_ts {
                    let offset_us = now_us - media_us;
                    let steady = self.late_run.count > 0
                        && (offset_us - self.late_run.offset_us).abs() <= STEADY_LATE_TOLERANCE_US;
                    self.late_run = LateRun {
                        count: if steady { self.late_run.count + 1 } else { 1 },
                        offset_us,
                    };
                    let moved = play_ts - ts > span || self.late_run.count >= STEADY_LATE_RUN;
                    if moved {
                        self.delay.forget_latest(self.late_run.count as usize);
                        self.delay.rebase();
                        let media_us = self.rebased_media(now_us, media_us);
                        self.reanchor(now_us, media_us, 0);
                    } else if dry > 0 && marker && self.occupied == 0 {
                        // A talk spurt that starts late after silence: play it, later.
                        self.reanchor(now_us, media_us, next.min(ext));
                    } else {
                        // A spike beyond the largest delay cannot be absorbed: do not try.
                        if excess <= self.max_us {
                            self.delay.note_late(excess, now_us);
                        }
                        return self.late();
                    }
                } else if ext >= next + capacity {
                    // Too far ahead for the ring: start over from here.
                    self.late_run = LateRun::default();
                    self.reanchor(now_us, media_us, next);
                } else {
                    self.late_run = LateRun::default();
                    if ts - play_ts > span {
                        // The sender's clock jumped ahead. The packets stored still play; the
                        // cursor jumps when it reaches this one (see `play`).
                        self.delay.rebase();
                        self.rebased_media(now_us, media_us);
                    } else {
                        let plays_at = self.last_pop_us + FRAME_US + media_us - self.media_us(play_ts);
                        self.tight |= plays_at - now_us < GUARD_US;
                    }
                }
            }
        }
        self.seq.saw(ext);
        self.store(ext, ts, timestamp, payload)
    }

    /// Takes what plays in the tick at `now`. Call once per 20 ms.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        self.shrink_wanted = None;
        let now_us = self.us(now);
        self.last_pop_us = now_us;
        match self.state {
            State::Idle => return Playout::Empty,
            State::Buffering { start_at_us, .. } if now_us < start_at_us => return Playout::Empty,
            State::Buffering { .. } => {
                let Some(first) = self.lowest_stored() else {
                    self.state = State::Idle;
                    return Playout::Empty;
                };
                let ts = self.slots[self.index(first)].ts;
                self.state = State::Playing {
                    next: first,
                    play_ts: ts,
                    dry: 0,
                };
                self.measure(now_us);
                return self.play(Adjust::None);
            }
            State::Playing { .. } => {}
        }
        let adjust = self.measure(now_us);
        self.play(adjust)
    }

    /// Whether the delay is more than a frame above target, so the frame just popped could be
    /// dropped; `Some(true)` when it is so far above that it should be dropped even if loud.
    /// Only meaningful right after a [`pop`](Self::pop) that returned a frame.
    pub fn wants_shrink(&self) -> Option<bool> {
        self.shrink_wanted
    }

    /// Drops the frame just popped to shrink the delay, and takes the next one in its place
    /// (same tick). Call only when [`wants_shrink`](Self::wants_shrink) said so.
    pub fn pop_instead(&mut self) -> Playout<'_> {
        self.shrink_wanted = None;
        self.stats.shrunk += 1;
        self.play(Adjust::None)
    }

    /// Forgets the stream (a new SSRC), keeping the cumulative counters and what was learnt
    /// about the network.
    pub fn reset(&mut self) {
        self.clear_slots();
        self.seq.forget();
        self.ts.forget();
        self.delay.rebase();
        self.state = State::Idle;
        self.late_run = LateRun::default();
        self.shrink_wanted = None;
        self.tight = false;
    }

    /// Cumulative counters and the current delays.
    pub fn stats(&self) -> JitterStats {
        let ms = |us: i64| u32::try_from(us.max(0) / MS).unwrap_or(u32::MAX);
        JitterStats {
            expected: self.seq.expected(),
            delay_ms: ms(self.delay_us),
            target_delay_ms: ms(self.target_us),
            ..self.stats
        }
    }

    /// The RFC 3550 extended highest sequence number received (wrap count in the high 16
    /// bits), for RTCP reception reports.
    pub fn extended_highest(&self) -> Option<u32> {
        self.seq.highest().map(|hi| (hi - seq::EXT_ORIGIN) as u32)
    }

    /// Packets currently stored.
    pub fn len(&self) -> usize {
        self.occupied
    }

    /// Whether no packet is stored.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// Updates delay and target at a pop and says which way to move.
    fn measure(&mut self, now_us: i64) -> Adjust {
        let State::Playing { play_ts, .. } = self.state else {
            return Adjust::None;
        };
        let Some(base) = self.delay.base(now_us) else {
            return Adjust::None;
        };
        let playout_point = now_us - self.media_us(play_ts);
        self.delay_us = playout_point - base;
        self.target_us = self
            .delay
            .target(now_us, self.min_us, self.max_us, self.initial_us);
        let tight = std::mem::take(&mut self.tight);
        // Never below what the slowest recent packet needed, with a frame to spare.
        let room = self
            .delay
            .recent_max(now_us)
            .is_some_and(|slowest| playout_point - FRAME_US >= slowest + GUARD_US);
        if (self.delay_us < self.target_us || tight) && self.delay_us < self.max_us {
            Adjust::Grow
        } else if self.delay.is_trained()
            && room
            && self.delay_us >= self.target_us + FRAME_US + SHRINK_MARGIN_US
        {
            Adjust::Shrink {
                forced: self.delay_us >= self.target_us + FRAME_US + FORCE_SHRINK_US,
            }
        } else {
            Adjust::None
        }
    }

    /// Plays the frame due, applying `adjust` where it costs nothing audible.
    fn play(&mut self, adjust: Adjust) -> Playout<'_> {
        let half = self.frame_ticks / 2;
        loop {
            let State::Playing { next, play_ts, dry } = self.state else {
                return Playout::Empty;
            };
            let index = self.index(next);
            let slot = self.slots[index];
            if slot.ext == Some(next) {
                if slot.ts - play_ts > self.span_ticks() {
                    // The sender's clock jumped ahead: follow it.
                    self.state = State::Playing {
                        next,
                        play_ts: slot.ts,
                        dry,
                    };
                    continue;
                }
                if slot.ts + half <= play_ts {
                    // Its time passed while we skipped ahead: too old to play.
                    self.remove(index);
                    // Moved from stored to late, so `lost()` is unchanged.
                    self.stats.late += 1;
                    self.stats.stored = self.stats.stored.saturating_sub(1);
                    self.state = State::Playing {
                        next: next + 1,
                        play_ts,
                        dry,
                    };
                    continue;
                }
                if slot.ts >= play_ts + half {
                    return self.silence(adjust, Some(slot.ts));
                }
                if adjust == Adjust::Grow {
                    self.stats.stretched += 1;
                    return Playout::Stretch;
                }
                if let Adjust::Shrink { forced } = adjust {
                    self.shrink_wanted = Some(forced);
                }
                self.remove(index);
                self.state = State::Playing {
                    next: next + 1,
                    play_ts: slot.ts + self.frame_ticks,
                    dry: 0,
                };
                let start = index * self.max_payload;
                return Playout::Frame {
                    seq: SeqNo(next as u16),
                    timestamp: RtpTimestamp(slot.raw_ts),
                    payload: &self.payloads[start..start + slot.len],
                };
            }
            if self.occupied == 0 {
                // Dry. Growing costs nothing here: hold the cursor.
                let step = match adjust {
                    Adjust::Grow => 0,
                    _ => self.frame_ticks,
                };
                self.stats.underruns += 1;
                self.state = State::Playing {
                    next,
                    play_ts: play_ts + step,
                    dry: dry.saturating_add(1),
                };
                return Playout::Underrun;
            }
            let Some((later, later_ts)) = self.first_stored_after(next) else {
                return Playout::Underrun;
            };
            let missing = (later - next) as i64;
            if later_ts - missing * self.frame_ticks - play_ts > self.span_ticks() {
                self.state = State::Playing {
                    next,
                    play_ts: later_ts - missing * self.frame_ticks,
                    dry,
                };
                continue;
            }
            if later_ts - missing * self.frame_ticks >= play_ts + half {
                // The gap lies in a silence before the missing packets.
                return self.silence(adjust, Some(later_ts - missing * self.frame_ticks));
            }
            match adjust {
                Adjust::Grow => {
                    // Conceal without giving up on the packet: it may still arrive.
                    self.stats.stretched += 1;
                    return Playout::Stretch;
                }
                Adjust::Shrink { .. } => {
                    // Skip the lost packet instead of concealing it.
                    self.stats.shrunk += 1;
                    self.state = State::Playing {
                        next: next + 1,
                        play_ts: play_ts + self.frame_ticks,
                        dry,
                    };
                    return self.play(Adjust::None);
                }
                Adjust::None => {}
            }
            self.stats.concealed += 1;
            self.state = State::Playing {
                next: next + 1,
                play_ts: play_ts + self.frame_ticks,
                dry,
            };
            let next_payload = (missing == 1).then(|| {
                let i = self.index(later);
                let start = i * self.max_payload;
                &self.payloads[start..start + self.slots[i].len]
            });
            return Playout::Lost { next: next_payload };
        }
    }

    /// A tick of sender silence, where the delay can move for free. `due_ts` is when the next
    /// audio is due.
    fn silence(&mut self, adjust: Adjust, due_ts: Option<i64>) -> Playout<'_> {
        let State::Playing { next, play_ts, dry } = self.state else {
            return Playout::Empty;
        };
        let step = match adjust {
            Adjust::Grow => {
                self.stats.stretched += 1;
                0
            }
            // Skip a frame of silence, if a whole one is left before the audio.
            Adjust::Shrink { .. } if due_ts.is_none_or(|due| due >= play_ts + 2 * self.frame_ticks) => {
                self.stats.shrunk += 1;
                2 * self.frame_ticks
            }
            _ => self.frame_ticks,
        };
        self.stats.silence += 1;
        self.state = State::Playing {
            next,
            play_ts: play_ts + step,
            dry,
        };
        Playout::Silence
    }

    /// When playout of a packet with media time `media_us` arriving at `now_us` should start, so
    /// that the playout point lands on base + target.
    fn start_time(&mut self, now_us: i64, media_us: i64) -> i64 {
        let target = self
            .delay
            .target(now_us, self.min_us, self.max_us, self.initial_us);
        self.target_us = target;
        let d = now_us - media_us;
        let base = self.delay.base(now_us).unwrap_or(d);
        now_us + (base + target - d).max(0)
    }

    /// After a rebase, the packet's own offset is the new base: observe it again.
    fn rebased_media(&mut self, now_us: i64, media_us: i64) -> i64 {
        self.delay.observe(now_us, media_us);
        media_us
    }

    /// Throws away what is stored and buffers again from the packet being inserted.
    fn reanchor(&mut self, now_us: i64, media_us: i64, floor: u64) {
        self.stats.reanchors += 1;
        self.clear_slots();
        self.late_run = LateRun::default();
        let start_at_us = self.start_time(now_us, media_us);
        self.state = State::Buffering { start_at_us, floor };
    }

    fn late(&mut self) -> Insert {
        self.stats.late += 1;
        Insert::Late
    }

    fn us(&mut self, now: Instant) -> i64 {
        let origin = *self.origin.get_or_insert(now);
        match now.checked_duration_since(origin) {
            Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            None => -i64::try_from(origin.duration_since(now).as_micros()).unwrap_or(i64::MAX),
        }
    }

    fn media_us(&self, ts: i64) -> i64 {
        // i128: an extended timestamp times a million overflows i64 after ~25 hours at 48 kHz.
        i64::try_from(i128::from(ts) * 1_000_000 / i128::from(self.clock_rate)).unwrap_or(i64::MAX)
    }

    /// Media time the ring spans: beyond it, a timestamp is a jump, not a delay.
    fn span_ticks(&self) -> i64 {
        self.capacity() as i64 * self.frame_ticks
    }

    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    fn index(&self, ext: u64) -> usize {
        // The remainder is below `slots.len()`, which is a usize.
        (ext % self.capacity()) as usize
    }

    fn lowest_stored(&self) -> Option<u64> {
        self.slots.iter().filter_map(|s| s.ext).min()
    }

    /// The first stored packet after `ext`, with its timestamp.
    fn first_stored_after(&self, ext: u64) -> Option<(u64, i64)> {
        let highest = self.seq.highest()?;
        (ext + 1..=highest.min(ext + self.capacity())).find_map(|e| {
            let slot = self.slots[self.index(e)];
            (slot.ext == Some(e)).then_some((e, slot.ts))
        })
    }

    fn store(&mut self, ext: u64, ts: i64, raw_ts: RtpTimestamp, payload: &[u8]) -> Insert {
        let index = self.index(ext);
        if self.slots[index].ext.is_none() {
            self.occupied += 1;
        }
        self.slots[index] = Slot {
            ext: Some(ext),
            ts,
            raw_ts: raw_ts.0,
            len: payload.len(),
        };
        let start = index * self.max_payload;
        self.payloads[start..start + payload.len()].copy_from_slice(payload);
        self.stats.stored += 1;
        Insert::Stored
    }

    fn remove(&mut self, index: usize) {
        if self.slots[index].ext.take().is_some() {
            self.occupied -= 1;
        }
    }

    fn clear_slots(&mut self) {
        for slot in self.slots.iter_mut() {
            slot.ext = None;
        }
        self.occupied = 0;
    }
}

/// Which way the delay should move at this pop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adjust {
    None,
    Grow,
    Shrink { forced: bool },
}

#[cfg(test)]
mod tests;
