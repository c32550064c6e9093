//! How much playout delay the network needs: the statistics behind the adaptive jitter buffer.
//!
//! Every packet gives one sample of its *transit offset* `d = arrival - media time` (both in
//! microseconds; the unknown clock offset between the two ends cancels out, because only
//! differences of `d` are used). Two figures come out of them:
//! - the **base**: the smallest `d` over the last few seconds, i.e. the packets that crossed the
//!   network fastest. It is a windowed minimum (four blocks of one second), so it follows a
//!   route change or a drifting sender clock within seconds, at O(1) per packet;
//! - the **target**: how long after the fastest packets the others must be waited for, the
//!   `QUANTILE` of `d - base` over a histogram that forgets with a factor per packet (about
//!   seven seconds of memory). A late packet also sets a *peak* that holds the target up for
//!   `PEAK_HOLD_US`, so one spike is answered at once and is not averaged away.
//!
//! The buffer keeps its playout point `P` (tick time minus media time) at `base + target`:
//! every packet with `d <= P` is on time. It also keeps the largest `d` of the same window
//! ([`DelayEstimator::recent_max`]), so it never shrinks the delay below what the slowest
//! recent packet needed: after the network got slower, the base still remembers the faster
//! one for a few seconds, and only the packets themselves tell the truth.

/// Width of a histogram bucket: 2 ms.
const BUCKET_US: i64 = 2_000;
/// Histogram buckets: 0 to 510 ms above the base.
const BUCKETS: usize = 256;
/// Forgetting factor per packet (350 packets, 7 s of 20 ms packets, to fall to 1/e).
const FORGET: f32 = 0.9971;
/// Fraction of packets the target delay should cover.
const QUANTILE: f32 = 0.97;
/// Samples needed before the histogram is trusted over the configured initial delay.
const MIN_SAMPLES: u32 = 25;
/// Length of one block of the windowed minimum.
const BLOCK_US: i64 = 1_000_000;
/// Blocks in the windowed minimum.
const BLOCKS: usize = 4;
/// How long a late packet's delay holds the target up.
const PEAK_HOLD_US: i64 = 8_000_000;
/// Past this size the running weight and the histogram are scaled back down.
const RESCALE_ABOVE: f32 = 1e20;
/// How many of the latest samples can be taken back ([`DelayEstimator::forget_latest`]).
const RECENT: usize = 8;

/// The extremes of one block of the windowed minimum and maximum.
#[derive(Debug, Clone, Copy)]
struct Block {
    id: i64,
    min: i64,
    max: i64,
}

/// Statistics of transit offsets. See the module docs.
#[derive(Debug, Clone)]
pub(super) struct DelayEstimator {
    /// Minimum and maximum `d` of each block, keyed by block number (`arrival / BLOCK_US`).
    blocks: [Option<Block>; BLOCKS],
    /// Weighted counts of `d - base`, in `BUCKET_US` buckets. Old samples are forgotten by
    /// growing the weight of new ones instead of decaying every bucket.
    histogram: Box<[f32; BUCKETS]>,
    weight: f32,
    total: f32,
    samples: u32,
    /// The delay (above base) of the latest late packet, and until when it holds.
    peak: Option<(i64, i64)>,
    /// Bucket and weight of the latest samples, newest at `recent_at - 1`.
    recent: [(usize, f32); RECENT],
    recent_at: usize,
}

impl DelayEstimator {
    pub(super) fn new() -> Self {
        DelayEstimator {
            blocks: [None; BLOCKS],
            histogram: Box::new([0.0; BUCKETS]),
            weight: 1.0,
            total: 0.0,
            samples: 0,
            peak: None,
            recent: [(0, 0.0); RECENT],
            recent_at: 0,
        }
    }

    /// Records a packet that arrived at `arrival_us` carrying media time `media_us`, and
    /// returns its delay above the base.
    pub(super) fn observe(&mut self, arrival_us: i64, media_us: i64) -> i64 {
        let d = arrival_us - media_us;
        let block = arrival_us.div_euclid(BLOCK_US);
        let slot = &mut self.blocks[block.rem_euclid(BLOCKS as i64) as usize];
        *slot = match *slot {
            Some(b) if b.id == block => Some(Block {
                id: block,
                min: b.min.min(d),
                max: b.max.max(d),
            }),
            _ => Some(Block {
                id: block,
                min: d,
                max: d,
            }),
        };
        let base = self.base_at(block).unwrap_or(d);
        let excess = (d - base).max(0);
        let bucket = ((excess / BUCKET_US) as usize).min(BUCKETS - 1);
        self.histogram[bucket] += self.weight;
        self.total += self.weight;
        self.recent[self.recent_at % RECENT] = (bucket, self.weight);
        self.recent_at += 1;
        self.weight /= FORGET;
        if self.weight > RESCALE_ABOVE {
            let scale = 1.0 / self.weight;
            self.histogram.iter_mut().for_each(|h| *h *= scale);
            self.recent.iter_mut().for_each(|(_, w)| *w *= scale);
            self.total *= scale;
            self.weight = 1.0;
        }
        self.samples = self.samples.saturating_add(1);
        excess
    }

    /// A packet arrived after its playout time: hold the target at least at its delay.
    pub(super) fn note_late(&mut self, excess_us: i64, now_us: i64) {
        let until = now_us + PEAK_HOLD_US;
        self.peak = Some(match self.peak {
            Some((peak, held)) if held > now_us => (peak.max(excess_us), until),
            _ => (excess_us, until),
        });
    }

    /// Smallest transit offset of the recent window (or of the last packets seen, after a
    /// silence), if any packet arrived since the last rebase.
    pub(super) fn base(&self, now_us: i64) -> Option<i64> {
        self.base_at(now_us.div_euclid(BLOCK_US))
            .or_else(|| self.blocks.iter().flatten().map(|b| b.min).min())
    }

    /// Largest transit offset of the recent window: what the slowest recent packet needed.
    pub(super) fn recent_max(&self, now_us: i64) -> Option<i64> {
        let block = now_us.div_euclid(BLOCK_US);
        self.recent(block)
            .map(|b| b.max)
            .max()
            .or_else(|| self.blocks.iter().flatten().map(|b| b.max).max())
    }

    /// Whether enough packets were seen for the statistics to mean something.
    pub(super) fn is_trained(&self) -> bool {
        self.samples >= MIN_SAMPLES
    }

    fn base_at(&self, block: i64) -> Option<i64> {
        self.recent(block).map(|b| b.min).min()
    }

    fn recent(&self, block: i64) -> impl Iterator<Item = &Block> {
        self.blocks
            .iter()
            .flatten()
            .filter(move |b| b.id > block - BLOCKS as i64)
    }

    /// The delay above base the buffer should hold, clamped to `[min_us, max_us]`; `initial_us`
    /// until enough packets have been seen.
    pub(super) fn target(&self, now_us: i64, min_us: i64, max_us: i64, initial_us: i64) -> i64 {
        let statistical = if self.samples < MIN_SAMPLES || self.total <= 0.0 {
            initial_us
        } else {
            let wanted = self.total * QUANTILE;
            let mut sum = 0.0;
            let mut bucket = BUCKETS - 1;
            for (i, &h) in self.histogram.iter().enumerate() {
                sum += h;
                if sum >= wanted {
                    bucket = i;
                    break;
                }
            }
            // The upper edge of the bucket: every packet in it is covered.
            (bucket as i64 + 1) * BUCKET_US
        };
        let peak = match self.peak {
            Some((peak, until)) if until > now_us => peak,
            _ => 0,
        };
        statistical.max(peak).clamp(min_us, max_us)
    }

    /// Takes the latest `n` samples (at most 8) back out of the histogram: they measured a
    /// moved timeline, not the network.
    pub(super) fn forget_latest(&mut self, n: usize) {
        for _ in 0..n.min(RECENT).min(self.recent_at) {
            self.recent_at -= 1;
            let (bucket, weight) = std::mem::take(&mut self.recent[self.recent_at % RECENT]);
            self.histogram[bucket] = (self.histogram[bucket] - weight).max(0.0);
            self.total = (self.total - weight).max(0.0);
        }
    }

    /// The sender's timeline moved (new stream, timestamp jump): forget the base, keep what
    /// was learnt about the network's jitter.
    pub(super) fn rebase(&mut self) {
        self.blocks = [None; BLOCKS];
        self.peak = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1000;

    #[test]
    fn steady_arrivals_need_only_the_minimum() {
        let mut e = DelayEstimator::new();
        for i in 0..200 {
            // 30 ms of constant network delay.
            e.observe(i * 20 * MS + 30 * MS, i * 20 * MS);
        }
        assert_eq!(e.base(4000 * MS), Some(30 * MS));
        assert_eq!(e.target(4000 * MS, 20 * MS, 200 * MS, 60 * MS), 20 * MS);
    }

    #[test]
    fn the_target_covers_the_quantile_of_the_jitter() {
        let mut e = DelayEstimator::new();
        // Delays cycling through 0, 2, ..., 98 ms above a 10 ms base.
        for i in 0..1000i64 {
            let jitter = (i * 37 % 50) * 2 * MS;
            e.observe(i * 20 * MS + 10 * MS + jitter, i * 20 * MS);
        }
        let t = e.target(20_000 * MS, 20 * MS, 200 * MS, 60 * MS);
        assert!((94 * MS..=100 * MS).contains(&t), "target {t}");
        // Clamped to the configured range.
        assert_eq!(e.target(20_000 * MS, 20 * MS, 50 * MS, 60 * MS), 50 * MS);
    }

    #[test]
    fn initial_until_enough_samples_and_peaks_hold() {
        let mut e = DelayEstimator::new();
        e.observe(0, 0);
        assert_eq!(e.target(0, 20 * MS, 200 * MS, 60 * MS), 60 * MS);
        for i in 1..100 {
            e.observe(i * 20 * MS, i * 20 * MS);
        }
        assert_eq!(e.target(2000 * MS, 20 * MS, 200 * MS, 60 * MS), 20 * MS);
        e.note_late(120 * MS, 2000 * MS);
        assert_eq!(e.target(2001 * MS, 20 * MS, 200 * MS, 60 * MS), 120 * MS);
        assert_eq!(
            e.target(2000 * MS + PEAK_HOLD_US + 1, 20 * MS, 200 * MS, 60 * MS),
            20 * MS
        );
    }

    #[test]
    fn the_base_follows_a_drifting_clock() {
        let mut e = DelayEstimator::new();
        // The sender's clock runs 1% slow: transit offsets grow 0.2 ms per packet.
        for i in 0..1000i64 {
            e.observe(i * 20 * MS, i * 20 * MS - i * 200);
        }
        let base = e.base(20_000 * MS).expect("base");
        // Within the 4 s window: the base lags the newest offset by at most 4 s of drift.
        let newest = 999 * 200;
        assert!(newest - base <= 41 * MS, "lag {}", newest - base);
        assert!(newest - base >= 20 * MS, "lag {}", newest - base);
        assert_eq!(e.recent_max(20_000 * MS), Some(newest));
    }

    #[test]
    fn long_runs_stay_finite() {
        let mut e = DelayEstimator::new();
        for i in 0..200_000i64 {
            e.observe(i * 20 * MS + (i % 3) * MS, i * 20 * MS);
        }
        let t = e.target(4_000_000 * MS, 20 * MS, 200 * MS, 60 * MS);
        assert_eq!(t, 20 * MS);
        assert!(e.total.is_finite() && e.weight.is_finite());
    }
}
