//! What the workers measure about themselves: how late each frame went out against its grid
//! point, kept in lock-free histograms the benches and `/metrics` can read at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram bucket width: 100 µs.
const BUCKET_US: u64 = 100;
/// Buckets: up to 50 ms; later frames land in the last one.
const BUCKETS: usize = 500;
/// A frame sent this long after its grid point is late: its successor is due.
pub const LATE_US: u64 = 20_000;

/// Counters of one worker, written by it alone, read by anyone.
#[derive(Debug)]
pub(crate) struct WorkerStats {
    pub(crate) sessions: AtomicU64,
    ticks: AtomicU64,
    frames: AtomicU64,
    late_frames: AtomicU64,
    busy_us: AtomicU64,
    max_deviation_us: AtomicU64,
    deviation: [AtomicU64; BUCKETS],
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            sessions: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            late_frames: AtomicU64::new(0),
            busy_us: AtomicU64::new(0),
            max_deviation_us: AtomicU64::new(0),
            deviation: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl WorkerStats {
    /// One session's `frames` went out `deviation_us` after the grid point; more than one
    /// means the session fell behind and had to catch up.
    pub(crate) fn frame(&self, deviation_us: u64, frames: u64) {
        if frames == 0 {
            return;
        }
        self.frames.fetch_add(frames, Ordering::Relaxed);
        let late = (frames - 1) + u64::from(deviation_us >= LATE_US);
        if late > 0 {
            self.late_frames.fetch_add(late, Ordering::Relaxed);
        }
        let bucket = ((deviation_us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.deviation[bucket].fetch_add(1, Ordering::Relaxed);
        self.max_deviation_us.fetch_max(deviation_us, Ordering::Relaxed);
    }

    /// A tick of the worker ended after `busy_us` of work.
    pub(crate) fn tick(&self, busy_us: u64) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.busy_us.fetch_add(busy_us, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> EngineStats {
        EngineStats {
            ticks: self.ticks.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            late_frames: self.late_frames.load(Ordering::Relaxed),
            busy_us: self.busy_us.load(Ordering::Relaxed),
            max_deviation_us: self.max_deviation_us.load(Ordering::Relaxed),
            deviation: self.deviation.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
        }
    }
}

/// Figures of an engine (all workers together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Worker wake-ups.
    pub ticks: u64,
    /// Session frames sent.
    pub frames: u64,
    /// Frames that went out 20 ms or more after their grid point, or had to be caught up.
    pub late_frames: u64,
    /// Time the workers spent working, in µs.
    pub busy_us: u64,
    /// The latest a frame went out after its grid point, in µs.
    pub max_deviation_us: u64,
    deviation: Vec<u64>,
}

impl EngineStats {
    /// The send-time deviation (after the grid point) that fraction `q` of frames stayed
    /// within, in µs (to the 100 µs bucket's upper edge).
    pub fn deviation_quantile_us(&self, q: f64) -> u64 {
        let total: u64 = self.deviation.iter().sum();
        if total == 0 {
            return 0;
        }
        let wanted = (total as f64 * q).ceil() as u64;
        let mut sum = 0;
        for (i, &n) in self.deviation.iter().enumerate() {
            sum += n;
            if sum >= wanted {
                return (i as u64 + 1) * BUCKET_US;
            }
        }
        BUCKETS as u64 * BUCKET_US
    }

    /// Figures gathered since `earlier` (a snapshot of the same engine).
    pub fn since(&self, earlier: &EngineStats) -> EngineStats {
        EngineStats {
            ticks: self.ticks - earlier.ticks.min(self.ticks),
            frames: self.frames - earlier.frames.min(self.frames),
            late_frames: self.late_frames - earlier.late_frames.min(self.late_frames),
            busy_us: self.busy_us - earlier.busy_us.min(self.busy_us),
            max_deviation_us: self.max_deviation_us,
            deviation: self
                .deviation
                .iter()
                .zip(earlier.deviation.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a - b.min(a))
                .collect(),
        }
    }

    pub(crate) fn merge(self, other: EngineStats) -> EngineStats {
        let len = self.deviation.len().max(other.deviation.len());
        EngineStats {
            ticks: self.ticks + other.ticks,
            frames: self.frames + other.frames,
            late_frames: self.late_frames + other.late_frames,
            busy_us: self.busy_us + other.busy_us,
            max_deviation_us: self.max_deviation_us.max(other.max_deviation_us),
            deviation: (0..len)
                .map(|i| self.deviation.get(i).unwrap_or(&0) + other.deviation.get(i).unwrap_or(&0))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_lateness() {
        let w = WorkerStats::default();
        for i in 0..100 {
            w.frame(i * 50, 1);
        }
        w.frame(25_000, 1);
        w.frame(300, 3);
        let s = w.snapshot();
        assert_eq!(s.frames, 104);
        // The frame at 25 ms, and two caught-up frames.
        assert_eq!(s.late_frames, 3);
        assert_eq!(s.deviation_quantile_us(0.5), 2500);
        assert_eq!(s.max_deviation_us, 25_000);
        let later = {
            w.frame(100, 1);
            w.snapshot()
        };
        let delta = later.since(&s);
        assert_eq!((delta.frames, delta.deviation_quantile_us(1.0)), (1, 200));
        assert_eq!(EngineStats::default().deviation_quantile_us(0.99), 0);
        let merged = s.clone().merge(later);
        assert_eq!(merged.frames, 209);
    }
}
