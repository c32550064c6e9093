//! Beep detection: a single steady tone between 400 and 2000 Hz lasting 150 ms or more, the
//! tone after an answering machine's greeting.
//!
//! Every 10 ms, a Hann-windowed FFT of the last 32 ms finds the strongest frequency (refined by
//! parabolic interpolation between bins). The window is *pure* when that peak and its two
//! neighbours on each side hold most of the energy of the band: a sine puts about all of its
//! energy there, speech spreads it over harmonics and formants, DTMF over two tones. A run of
//! pure windows whose frequency stays within 2% is a beep once it spans the minimum duration.
//! Times are window centres, so start and end land within about 10 ms of the tone's edges.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::analysis::rate::AnalysisRate;

/// Window length, in ms.
const WINDOW_MS: usize = 32;
/// Hop between windows, in ms.
const HOP_MS: usize = 10;
/// Bins on each side of the peak counted as the tone.
const TONE_BINS: usize = 2;
/// Energy below this frequency is ignored (hum, DC).
const BAND_LOW_HZ: f32 = 100.0;

/// Settings of the beep detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeepConfig {
    /// Lowest beep frequency, in Hz.
    pub min_hz: f32,
    /// Highest beep frequency, in Hz.
    pub max_hz: f32,
    /// Shortest beep, in ms.
    pub min_ms: u64,
    /// Share of the band's energy the tone must hold.
    pub min_purity: f32,
    /// Weakest beep, in dBFS (mean power of the window).
    pub min_dbfs: f32,
    /// How far the frequency may wander within one beep, relative.
    pub max_drift: f32,
}

impl Default for BeepConfig {
    fn default() -> Self {
        BeepConfig {
            min_hz: 400.0,
            max_hz: 2000.0,
            min_ms: 150,
            min_purity: 0.8,
            min_dbfs: -45.0,
            max_drift: 0.02,
        }
    }
}

/// A beep: a steady single tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beep {
    /// Start, in ms of the analyzer's timeline.
    pub start_ms: u64,
    /// End, in ms.
    pub end_ms: u64,
    /// Mean frequency, in Hz.
    pub hz: f32,
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BeepEvent {
    /// A tone has lasted the minimum duration: a beep is under way (it may go on).
    Started {
        /// Its start, in ms.
        start_ms: u64,
        /// Its frequency so far, in Hz.
        hz: f32,
    },
    /// The beep ended.
    Ended(Beep),
}

/// A run of pure windows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    start_ms: u64,
    last_ms: u64,
    first_hz: f32,
    hz_sum: f32,
    windows: u32,
    announced: bool,
}

/// The beep detector of one stream. Allocates its FFT buffers once.
pub struct BeepDetector {
    config: BeepConfig,
    per_ms: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Box<[f32]>,
    ring: Box<[f32]>,
    head: usize,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    hop: usize,
    since_hop: usize,
    samples: u64,
    bin_hz: f32,
    run: Option<Run>,
}

impl std::fmt::Debug for BeepDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeepDetector")
            .field("config", &self.config)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl BeepDetector {
    /// A detector for audio at `rate`.
    pub fn new(config: BeepConfig, rate: AnalysisRate) -> Self {
        let per_ms = rate.per_ms();
        let len = per_ms * WINDOW_MS;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
        let window = (0..len)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / len as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        let input = fft.make_input_vec();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        BeepDetector {
            config,
            per_ms,
            fft,
            window,
            ring: vec![0.0; len].into_boxed_slice(),
            head: 0,
            input,
            spectrum,
            scratch,
            hop: per_ms * HOP_MS,
            since_hop: 0,
            samples: 0,
            bin_hz: rate.hz() as f32 / len as f32,
            run: None,
        }
    }

    /// Feeds samples; `out` receives what happened (at most two events per 20 ms frame).
    pub fn process(&mut self, samples: &[i16], mut out: impl FnMut(BeepEvent)) {
        let len = self.ring.len();
        for &s in samples {
            self.ring[self.head] = f32::from(s);
            // A compare, not `%`: a division per sample costs more than the rest of the loop.
            self.head += 1;
            if self.head == len {
                self.head = 0;
            }
            self.samples += 1;
            self.since_hop += 1;
            if self.since_hop >= self.hop {
                self.since_hop = 0;
                if self.samples >= len as u64 {
                    let centre_ms = (self.samples - len as u64 / 2) / self.per_ms as u64;
                    let tone = self.analyse();
                    self.advance(centre_ms, tone, &mut out);
                }
            }
        }
    }

    /// Ends a beep in progress (at the end of a file).
    pub fn finish(&mut self) -> Option<Beep> {
        let run = self.run.take()?;
        self.beep(&run)
    }

    fn advance(&mut self, centre_ms: u64, tone: Option<f32>, out: &mut impl FnMut(BeepEvent)) {
        let drift = self.config.max_drift;
        match (self.run.as_mut(), tone) {
            (Some(run), Some(hz)) if (hz - run.first_hz).abs() <= drift * run.first_hz => {
                run.last_ms = centre_ms;
                run.hz_sum += hz;
                run.windows += 1;
                if !run.announced && run.last_ms - run.start_ms >= self.config.min_ms {
                    run.announced = true;
                    out(BeepEvent::Started {
                        start_ms: run.start_ms,
                        hz: run.hz_sum / run.windows as f32,
                    });
                }
            }
            (_, tone) => {
                if let Some(run) = self.run.take()
                    && let Some(beep) = self.beep(&run)
                {
                    out(BeepEvent::Ended(beep));
                }
                self.run = tone.map(|hz| Run {
                    start_ms: centre_ms,
                    last_ms: centre_ms,
                    first_hz: hz,
                    hz_sum: hz,
                    windows: 1,
                    announced: false,
                });
            }
        }
    }

    fn beep(&self, run: &Run) -> Option<Beep> {
        (run.last_ms - run.start_ms >= self.config.min_ms).then(|| Beep {
            start_ms: run.start_ms,
            end_ms: run.last_ms,
            hz: run.hz_sum / run.windows as f32,
        })
    }

    /// The frequency of the window if it is a pure tone in range.
    fn analyse(&mut self) -> Option<f32> {
        let len = self.ring.len();
        let mut energy = 0.0f32;
        // Oldest first: the ring from the write position on, then its start.
        let (newer, older) = self.ring.split_at(self.head);
        let samples = older.iter().chain(newer);
        for ((input, &w), &x) in self.input.iter_mut().zip(self.window.iter()).zip(samples) {
            energy += x * x;
            *input = x * w;
        }
        let min_energy = len as f32 * 32768.0 * 32768.0 * 10f32.powf(self.config.min_dbfs / 10.0);
        if energy < min_energy {
            return None;
        }
        // Sizes come from the planner itself; a failure would be a bug, not bad input.
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .ok()?;
        let low_bin = (BAND_LOW_HZ / self.bin_hz).ceil() as usize;
        let top = self.spectrum.len() - 1;
        let power = |c: &Complex<f32>| c.norm_sqr();
        let (mut peak, mut peak_power, mut band) = (low_bin, 0.0f32, 0.0f32);
        for (i, c) in self.spectrum.iter().enumerate().take(top).skip(low_bin) {
            let p = power(c);
            band += p;
            if p > peak_power {
                peak = i;
                peak_power = p;
            }
        }
        if band <= 0.0 || peak <= low_bin || peak + 1 >= top {
            return None;
        }
        let from = peak.saturating_sub(TONE_BINS).max(low_bin);
        let to = (peak + TONE_BINS).min(top - 1);
        let tone: f32 = self.spectrum[from..=to].iter().map(power).sum();
        if tone < self.config.min_purity * band {
            return None;
        }
        // Parabolic interpolation on log magnitudes.
        let db = |i: usize| power(&self.spectrum[i]).max(1e-12).ln();
        let (a, b, c) = (db(peak - 1), db(peak), db(peak + 1));
        let denom = a - 2.0 * b + c;
        let offset = if denom.abs() > 1e-9 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let hz = (peak as f32 + offset) * self.bin_hz;
        (self.config.min_hz..=self.config.max_hz)
            .contains(&hz)
            .then_some(hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, ms: usize, amp: f32, rate: AnalysisRate) -> Vec<i16> {
        let n = ms * rate.per_ms();
        (0..n)
            .map(|i| (amp * (2.0 * std::f32::consts::PI * hz * i as f32 / rate.hz() as f32).sin()) as i16)
            .collect()
    }

    fn run(samples: &[i16], rate: AnalysisRate) -> (Vec<BeepEvent>, Option<Beep>) {
        let mut det = BeepDetector::new(BeepConfig::default(), rate);
        let mut events = Vec::new();
        for frame in samples.chunks(rate.frame_samples()) {
            det.process(frame, |e| events.push(e));
        }
        let tail = det.finish();
        (events, tail)
    }

    #[test]
    fn a_beep_is_found_with_its_edges_and_frequency() {
        for rate in [AnalysisRate::Hz8000, AnalysisRate::Hz16000] {
            for hz in [440.0, 1000.0, 1400.0, 1950.0] {
                let mut audio = vec![0i16; 500 * rate.per_ms()];
                audio.extend(sine(hz, 300, 8000.0, rate));
                audio.extend(vec![0i16; 300 * rate.per_ms()]);
                let (events, tail) = run(&audio, rate);
                assert!(tail.is_none());
                let Some(BeepEvent::Ended(beep)) = events.last() else {
                    panic!("{events:?}")
                };
                assert!(matches!(events[0], BeepEvent::Started { .. }), "{events:?}");
                assert!(beep.start_ms.abs_diff(500) <= 20, "{beep:?}");
                assert!(beep.end_ms.abs_diff(800) <= 20, "{beep:?}");
                assert!((beep.hz - hz).abs() < hz * 0.01, "{beep:?}");
            }
        }
    }

    #[test]
    fn short_tones_out_of_range_tones_and_dual_tones_are_not_beeps() {
        let rate = AnalysisRate::Hz8000;
        let short = sine(1000.0, 100, 8000.0, rate);
        assert!(run(&short, rate).0.is_empty());
        let low = sine(300.0, 400, 8000.0, rate);
        assert!(run(&low, rate).0.is_empty());
        let dual: Vec<i16> = sine(697.0, 400, 6000.0, rate)
            .iter()
            .zip(sine(1209.0, 400, 6000.0, rate))
            .map(|(a, b)| a + b)
            .collect();
        assert!(run(&dual, rate).0.is_empty());
    }
}
