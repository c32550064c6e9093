//! In-band DTMF detection (Goertzel), and the merge of in-band digits with RFC 4733 ones.
//!
//! The receiver figures it is built to (the usual ones from ITU-T Q.24 and the Bellcore
//! receiver tests): tones of 40 ms and more detected, separated by pauses of 40 ms; twist up to
//! 8 dB normal (the high tone weaker) and 4 dB reverse; a frequency deviation of up to 1.5%
//! accepted and of 3.5% or more rejected; S/N down to 15 dB; no digits in speech (talk-off).
//!
//! How, per block of 20 ms taken every 5 ms:
//! - Goertzel power at the eight DTMF frequencies; the strongest row and column tones are the
//!   candidates. Blocks quieter than the minimum tone level cost only their energy sum.
//! - Each tone must be loud enough; the twist within limits; the other tones of its group well
//!   below it (a tone leaks about -13 dB into its neighbour at this block length).
//! - The two tones must carry most (75%) of the block's energy. This is what rejects speech:
//!   voiced speech spreads its energy over many harmonics and formants. Each tone's level is
//!   the best of its nominal frequency and 1.5% either side, so detuned tones keep their share.
//! - Frequency: the tone's power at its nominal frequency must exceed its power 5% above and 5%
//!   below. With a 20 ms rectangular window the response falls monotonically over that range, so
//!   the boundary sits at 2.5%: 1.5% passes with about 3 dB to spare and 3.5% fails by as much.
//! - A digit starts after four consecutive blocks agree (35 ms of tone) and ends after two
//!   blocks that do not (10 ms), so a 40 ms pause separates two equal digits.
//!
//! Blocks are 20 ms so adjacent row tones (73 Hz apart) stay apart; the 5 ms hop keeps 40 ms
//! tones and 40 ms pauses several blocks long.

use crate::analysis::goertzel::{Goertzel, powers};
use crate::analysis::rate::AnalysisRate;

/// DTMF row (low group) frequencies, in Hz.
pub const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column (high group) frequencies, in Hz.
pub const COLUMNS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, by row then column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Relative offset of the frequency probes on either side of a tone.
const PROBE_OFFSET: f32 = 0.05;
/// Relative offset of the level probes: a tone up to 1.5% off is measured at full power by one
/// of the three (nominal and these two), so the energy share can be strict.
const LEVEL_OFFSET: f32 = 0.015;
/// Block length and hop, in ms.
const BLOCK_MS: usize = 20;
const HOP_MS: usize = 5;
/// Full-scale power (a full-scale square wave), for dBFS.
const FULL_SCALE_POWER: f32 = 32768.0 * 32768.0;

/// Thresholds of the in-band detector. The defaults meet the figures in the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// Weakest tone accepted, in dBFS (mean power of the tone alone).
    pub min_tone_dbfs: f32,
    /// Largest normal twist (row tone stronger), in dB.
    pub max_normal_twist_db: f32,
    /// Largest reverse twist (column tone stronger), in dB.
    pub max_reverse_twist_db: f32,
    /// How far below the winner the other tones of its group must be, in dB.
    pub group_margin_db: f32,
    /// Smallest share of the block's energy the two tones must carry.
    pub min_tone_share: f32,
    /// Consecutive agreeing blocks (5 ms apart) that start a digit.
    pub on_blocks: u32,
    /// Consecutive other blocks that end it.
    pub off_blocks: u32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            min_tone_dbfs: -42.0,
            max_normal_twist_db: 10.0,
            max_reverse_twist_db: 6.0,
            group_margin_db: 6.0,
            min_tone_share: 0.75,
            on_blocks: 4,
            off_blocks: 2,
        }
    }
}

/// A digit found in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InBandDigit {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub digit: char,
    /// Start of the tone, in ms of the analyzer's timeline.
    pub start_ms: u64,
    /// End of the tone.
    pub end_ms: u64,
}

/// Digit state; each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// `key` seen in `count` consecutive blocks, the first ending at sample `first_end`.
    Pending {
        key: u8,
        count: u32,
        first_end: u64,
    },
    /// A digit in progress, last seen in the block ending at `last_end`; `misses` blocks since.
    Active {
        key: u8,
        first_end: u64,
        last_end: u64,
        misses: u32,
    },
}

/// The in-band DTMF detector of one stream. Allocates its block ring once.
#[derive(Debug)]
pub struct DtmfDetector {
    config: DtmfConfig,
    rate: AnalysisRate,
    /// The four row tones, then the four column tones.
    tones: [Goertzel; 8],
    /// Probes 5% below and above each row and column tone.
    row_probes: [[Goertzel; 2]; 4],
    column_probes: [[Goertzel; 2]; 4],
    /// Probes 1.5% below and above, for the level of slightly detuned tones.
    row_level: [[Goertzel; 2]; 4],
    column_level: [[Goertzel; 2]; 4],
    block: usize,
    hop: usize,
    /// The last `block` samples, oldest at `head`.
    ring: Box<[f32]>,
    head: usize,
    /// Samples since the last block was evaluated.
    since_block: usize,
    /// Samples consumed so far.
    samples: u64,
    min_tone_power: f32,
    state: State,
}

impl DtmfDetector {
    /// A detector for audio at `rate`.
    pub fn new(config: DtmfConfig, rate: AnalysisRate) -> Self {
        let hz = rate.hz();
        let probes = |f: f32| {
            [
                Goertzel::new(f * (1.0 - PROBE_OFFSET), hz),
                Goertzel::new(f * (1.0 + PROBE_OFFSET), hz),
            ]
        };
        let level = |f: f32| {
            [
                Goertzel::new(f * (1.0 - LEVEL_OFFSET), hz),
                Goertzel::new(f * (1.0 + LEVEL_OFFSET), hz),
            ]
        };
        let block = rate.per_ms() * BLOCK_MS;
        DtmfDetector {
            config,
            rate,
            tones: std::array::from_fn(|i| {
                let f = if i < 4 { ROWS[i] } else { COLUMNS[i - 4] };
                Goertzel::new(f, hz)
            }),
            row_probes: ROWS.map(probes),
            column_probes: COLUMNS.map(probes),
            row_level: ROWS.map(level),
            column_level: COLUMNS.map(level),
            block,
            hop: rate.per_ms() * HOP_MS,
            ring: vec![0.0; block].into_boxed_slice(),
            head: 0,
            since_block: 0,
            samples: 0,
            min_tone_power: FULL_SCALE_POWER * 10f32.powf(config.min_tone_dbfs / 10.0),
            state: State::Idle,
        }
    }

    /// Feeds samples (any count); returns a digit when one ended inside them. At most one digit
    /// can end per 20 ms frame, since a digit lasts at least 30 ms; with longer slices, call
    /// per frame.
    pub fn process(&mut self, samples: &[i16]) -> Option<InBandDigit> {
        let mut found = None;
        for &s in samples {
            self.ring[self.head] = f32::from(s);
            // A compare, not `%`: a division per sample costs more than the rest of the loop.
            self.head += 1;
            if self.head == self.block {
                self.head = 0;
            }
            self.samples += 1;
            self.since_block += 1;
            if self.since_block == self.hop && self.samples >= self.block as u64 {
                self.since_block = 0;
                let key = self.classify_block();
                if let Some(digit) = self.advance(key) {
                    found = Some(digit);
                }
            } else if self.since_block >= self.hop {
                self.since_block = 0;
            }
        }
        found
    }

    /// Ends a digit in progress (at the end of a file); returns it if it was long enough.
    pub fn finish(&mut self) -> Option<InBandDigit> {
        match self.state {
            State::Active {
                key,
                first_end,
                last_end,
                ..
            } => {
                self.state = State::Idle;
                Some(self.digit(key, first_end, last_end))
            }
            _ => None,
        }
    }

    fn advance(&mut self, key: Option<u8>) -> Option<InBandDigit> {
        let end = self.samples;
        let (next, out) = match (self.state, key) {
            (State::Idle, None) => (State::Idle, None),
            (State::Idle, Some(k)) => (self.pending(k, end), None),
            (
                State::Pending {
                    key: p,
                    count,
                    first_end,
                },
                Some(k),
            ) if p == k => {
                if count + 1 >= self.config.on_blocks {
                    (
                        State::Active {
                            key: k,
                            first_end,
                            last_end: end,
                            misses: 0,
                        },
                        None,
                    )
                } else {
                    (
                        State::Pending {
                            key: k,
                            count: count + 1,
                            first_end,
                        },
                        None,
                    )
                }
            }
            (State::Pending { .. }, Some(k)) => (self.pending(k, end), None),
            (State::Pending { .. }, None) => (State::Idle, None),
            (
                State::Active {
                    key: a, first_end, ..
                },
                Some(k),
            ) if a == k => (
                State::Active {
                    key: a,
                    first_end,
                    last_end: end,
                    misses: 0,
                },
                None,
            ),
            (
                State::Active {
                    key: a,
                    first_end,
                    last_end,
                    misses,
                },
                other,
            ) => {
                if misses + 1 >= self.config.off_blocks {
                    let digit = self.digit(a, first_end, last_end);
                    let next = match other {
                        Some(k) => self.pending(k, end),
                        None => State::Idle,
                    };
                    (next, Some(digit))
                } else {
                    (
                        State::Active {
                            key: a,
                            first_end,
                            last_end,
                            misses: misses + 1,
                        },
                        None,
                    )
                }
            }
        };
        self.state = next;
        out
    }

    fn pending(&self, key: u8, end: u64) -> State {
        if self.config.on_blocks <= 1 {
            State::Active {
                key,
                first_end: end,
                last_end: end,
                misses: 0,
            }
        } else {
            State::Pending {
                key,
                count: 1,
                first_end: end,
            }
        }
    }

    fn digit(&self, key: u8, first_end: u64, last_end: u64) -> InBandDigit {
        let per_ms = self.rate.per_ms() as u64;
        let start = first_end.saturating_sub(self.block as u64);
        InBandDigit {
            digit: KEYS[usize::from(key / 4)][usize::from(key % 4)],
            start_ms: start / per_ms,
            end_ms: last_end / per_ms,
        }
    }

    /// The block as the ring's two halves, oldest first.
    fn block_pieces(&self) -> [&[f32]; 2] {
        [&self.ring[self.head..], &self.ring[..self.head]]
    }

    /// The key (row * 4 + column) whose tones this block holds, if any.
    fn classify_block(&self) -> Option<u8> {
        let n = self.block as f32;
        let pieces = self.block_pieces();
        let total: f32 = pieces.iter().flat_map(|p| p.iter()).map(|x| x * x).sum::<f32>() / n;
        // Cheap exit for silence and quiet noise: two tones at the minimum level.
        if total < 2.0 * self.min_tone_power {
            return None;
        }
        // All eight tones in one pass over the block.
        let tones = powers(&self.tones, &pieces);
        let row_power = [tones[0], tones[1], tones[2], tones[3]];
        let column_power = [tones[4], tones[5], tones[6], tones[7]];
        let (row, pr) = strongest(&row_power);
        let (column, pc) = strongest(&column_power);
        if pr < self.min_tone_power || pc < self.min_tone_power {
            return None;
        }
        let margin = 10f32.powf(-self.config.group_margin_db / 10.0);
        let others_quiet = |powers: &[f32; 4], winner: usize, p: f32| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &q)| i == winner || q <= p * margin)
        };
        if !others_quiet(&row_power, row, pr) || !others_quiet(&column_power, column, pc) {
            return None;
        }
        // The probes of the two candidates, in one pass: 5% off (on frequency?) and 1.5% off
        // (the true level).
        let [rp, cp, rl, cl] = [
            self.row_probes[row],
            self.column_probes[column],
            self.row_level[row],
            self.column_level[column],
        ];
        let probed = powers(&[rp[0], rp[1], cp[0], cp[1], rl[0], rl[1], cl[0], cl[1]], &pieces);
        let on_frequency = |a: f32, b: f32, p: f32| a < p && b < p;
        if !on_frequency(probed[0], probed[1], pr) || !on_frequency(probed[2], probed[3], pc) {
            return None;
        }
        // The tones' true levels: the best of the nominal frequency and 1.5% either side.
        let (lr, lc) = (pr.max(probed[4]).max(probed[5]), pc.max(probed[6]).max(probed[7]));
        let twist_db = 10.0 * (lr / lc).log10();
        if twist_db > self.config.max_normal_twist_db || -twist_db > self.config.max_reverse_twist_db {
            return None;
        }
        // Most of the block's energy must be in the two tones: this is what rejects speech.
        if (lr + lc) < self.config.min_tone_share * total {
            return None;
        }
        Some((row * 4 + column) as u8)
    }
}

/// Index and value of the largest of four powers.
fn strongest(powers: &[f32; 4]) -> (usize, f32) {
    let mut best = (0, powers[0]);
    for (i, &p) in powers.iter().enumerate().skip(1) {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

/// Where a merged digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfSource {
    /// Detected in the audio.
    InBand,
    /// Signalled as an RFC 4733 telephone-event.
    Rfc4733,
}

/// A digit after merging both sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedDigit {
    /// The digit.
    pub digit: char,
    /// Start, in ms.
    pub start_ms: u64,
    /// End, in ms.
    pub end_ms: u64,
    /// Which source reported it first.
    pub source: DtmfSource,
}

/// How many recent digits the merger remembers.
const MERGE_MEMORY: usize = 8;
/// Slack when matching the two sources' times, in ms: RFC 4733 times come from RTP timestamps
/// and arrival, in-band times from the audio after the jitter buffer.
const MERGE_SLACK_MS: u64 = 120;

/// Merges RFC 4733 digits with in-band ones so a digit sent both ways (a gateway that sends the
/// event and leaves the tone in the audio) is reported once. Fixed memory; never allocates.
#[derive(Debug, Clone, Default)]
pub struct DtmfMerger {
    recent: [Option<MergedDigit>; MERGE_MEMORY],
    next: usize,
}

impl DtmfMerger {
    /// Offers a digit from `source`; returns it unless the other source already reported the
    /// same digit at an overlapping time.
    pub fn offer(
        &mut self,
        digit: char,
        start_ms: u64,
        end_ms: u64,
        source: DtmfSource,
    ) -> Option<MergedDigit> {
        let end_ms = end_ms.max(start_ms);
        let duplicate = self.recent.iter().flatten().any(|seen| {
            seen.digit == digit
                && seen.source != source
                && start_ms <= seen.end_ms + MERGE_SLACK_MS
                && seen.start_ms <= end_ms + MERGE_SLACK_MS
        });
        if duplicate {
            return None;
        }
        let merged = MergedDigit {
            digit,
            start_ms,
            end_ms,
            source,
        };
        self.recent[self.next] = Some(merged);
        self.next = (self.next + 1) % MERGE_MEMORY;
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise of RMS `rms`.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self, rms: f64) -> f64 {
            // Sum of four uniforms: close enough to Gaussian for a noise floor.
            let mut acc = 0.0;
            for _ in 0..4 {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                acc += (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            }
            acc * rms * 3.0f64.sqrt()
        }
    }

    struct Tone {
        key: char,
        ms: usize,
        low_dbfs: f64,
        high_dbfs: f64,
        deviation: f64,
    }

    fn tone(key: char, ms: usize) -> Tone {
        Tone {
            key,
            ms,
            low_dbfs: -10.0,
            high_dbfs: -10.0,
            deviation: 0.0,
        }
    }

    fn freqs(key: char) -> (f64, f64) {
        for (r, row) in KEYS.iter().enumerate() {
            for (c, &k) in row.iter().enumerate() {
                if k == key {
                    return (f64::from(ROWS[r]), f64::from(COLUMNS[c]));
                }
            }
        }
        panic!("no key {key}")
    }

    /// Tones with `gap_ms` pauses, 100 ms of lead-in and tail, with noise `snr_db` below the tones.
    fn render(tones: &[Tone], gap_ms: usize, snr_db: Option<f64>, rate: AnalysisRate) -> Vec<i16> {
        let hz = f64::from(rate.hz());
        let per_ms = rate.per_ms();
        let mut out = vec![0.0f64; 100 * per_ms];
        let mut signal_power = 0.0;
        for t in tones {
            let (lo, hi) = freqs(t.key);
            let (lo, hi) = (lo * (1.0 + t.deviation), hi * (1.0 + t.deviation));
            let amp = |dbfs: f64| 32768.0 * 2f64.sqrt() * 10f64.powf(dbfs / 20.0);
            let (al, ah) = (amp(t.low_dbfs), amp(t.high_dbfs));
            signal_power = (al * al + ah * ah) / 2.0;
            for i in 0..t.ms * per_ms {
                let x = i as f64 / hz;
                out.push(
                    al * (2.0 * std::f64::consts::PI * lo * x).sin()
                        + ah * (2.0 * std::f64::consts::PI * hi * x).sin(),
                );
            }
            out.extend(std::iter::repeat_n(0.0, gap_ms * per_ms));
        }
        out.extend(std::iter::repeat_n(0.0, 100 * per_ms));
        if let Some(snr) = snr_db {
            let rms = (signal_power / 10f64.powf(snr / 10.0)).sqrt();
            let mut noise = Noise(7);
            for s in &mut out {
                *s += noise.next(rms);
            }
        }
        out.iter()
            .map(|s| s.round().clamp(-32767.0, 32767.0) as i16)
            .collect()
    }

    fn detect(samples: &[i16], rate: AnalysisRate) -> Vec<InBandDigit> {
        let mut det = DtmfDetector::new(DtmfConfig::default(), rate);
        let mut found: Vec<InBandDigit> = samples
            .chunks(rate.frame_samples())
            .filter_map(|frame| det.process(frame))
            .collect();
        found.extend(det.finish());
        found
    }

    fn digits(samples: &[i16], rate: AnalysisRate) -> String {
        detect(samples, rate).iter().map(|d| d.digit).collect()
    }

    #[test]
    fn every_key_at_both_rates() {
        let keys = "123A456B789C*0#D";
        for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
            let tones: Vec<Tone> = keys.chars().map(|k| tone(k, 60)).collect();
            assert_eq!(digits(&render(&tones, 60, None, rate), rate), keys, "{rate:?}");
        }
    }

    #[test]
    fn forty_ms_tones_with_forty_ms_pauses_including_repeats() {
        let keys = "5551212##00";
        let tones: Vec<Tone> = keys.chars().map(|k| tone(k, 40)).collect();
        let rate = AnalysisRate::Hz8000;
        assert_eq!(digits(&render(&tones, 40, None, rate), rate), keys);
    }

    #[test]
    fn times_are_within_ten_ms() {
        let rate = AnalysisRate::Hz8000;
        let found = detect(&render(&[tone('7', 100)], 50, None, rate), rate);
        assert_eq!(found.len(), 1);
        let d = found[0];
        assert!(
            d.start_ms.abs_diff(100) <= 10 && d.end_ms.abs_diff(200) <= 10,
            "{d:?}"
        );
    }

    #[test]
    fn twist_within_limits_is_accepted() {
        let rate = AnalysisRate::Hz8000;
        for key in "159D*".chars() {
            let normal = Tone {
                high_dbfs: -18.0,
                ..tone(key, 50)
            };
            let reverse = Tone {
                low_dbfs: -14.0,
                ..tone(key, 50)
            };
            assert_eq!(digits(&render(&[normal], 50, None, rate), rate), key.to_string());
            assert_eq!(digits(&render(&[reverse], 50, None, rate), rate), key.to_string());
        }
    }

    #[test]
    fn deviation_of_one_and_a_half_percent_is_accepted_and_three_and_a_half_rejected() {
        let rate = AnalysisRate::Hz8000;
        for key in "123A456B789C*0#D".chars() {
            for sign in [-1.0, 1.0] {
                let ok = Tone {
                    deviation: sign * 0.015,
                    ..tone(key, 50)
                };
                let bad = Tone {
                    deviation: sign * 0.035,
                    ..tone(key, 50)
                };
                assert_eq!(
                    digits(&render(&[ok], 50, None, rate), rate),
                    key.to_string(),
                    "{key} {sign}"
                );
                assert_eq!(digits(&render(&[bad], 50, None, rate), rate), "", "{key} {sign}");
            }
        }
    }

    #[test]
    fn fifteen_db_snr_is_enough() {
        let rate = AnalysisRate::Hz8000;
        let keys = "0123456789*#";
        let tones: Vec<Tone> = keys
            .chars()
            .map(|k| Tone {
                low_dbfs: -20.0,
                high_dbfs: -22.0,
                ..tone(k, 40)
            })
            .collect();
        assert_eq!(digits(&render(&tones, 40, Some(15.0), rate), rate), keys);
    }

    #[test]
    fn noise_alone_gives_no_digit() {
        let rate = AnalysisRate::Hz8000;
        let mut noise = Noise(3);
        let samples: Vec<i16> = (0..80_000).map(|_| noise.next(3000.0) as i16).collect();
        assert_eq!(digits(&samples, rate), "");
    }

    #[test]
    fn merger_reports_a_digit_sent_both_ways_once() {
        let mut m = DtmfMerger::default();
        assert!(m.offer('5', 1000, 1100, DtmfSource::Rfc4733).is_some());
        assert!(m.offer('5', 1010, 1090, DtmfSource::InBand).is_none());
        // The same digit again later, from either source, is a new press.
        assert!(m.offer('5', 1500, 1600, DtmfSource::InBand).is_some());
        assert!(m.offer('6', 1500, 1600, DtmfSource::Rfc4733).is_some());
        // Two presses of the same key from the same source are never merged.
        assert!(m.offer('6', 1700, 1750, DtmfSource::Rfc4733).is_some());
    }
}
