//! Packet-loss concealment for G.711, after the method of ITU-T G.711 Appendix I: a lost frame
//! is replaced by the last pitch period of the signal, repeated.
//!
//! G.711 has no state to recover and no redundancy, so a lost packet is 20 ms of nothing unless
//! something is made up; zeros click and gap, which listeners (and speech-to-text) notice far
//! more than a plausible continuation. The rules, as in Appendix I:
//! - the pitch period is the lag in 5..15 ms (40..120 samples at 8 kHz) that maximizes the
//!   normalized cross-correlation of the last 20 ms with the signal before it (found at half
//!   resolution, then refined);
//! - the first 10 ms of an erasure repeat the last period; from 10 ms the last two periods, from
//!   20 ms the last three, so a long erasure does not buzz on one period; each switch is
//!   overlap-added over a quarter period;
//! - after 10 ms the signal fades by 20% per 10 ms, so from 60 ms it is silence;
//! - the first good frame after an erasure is overlap-added with the continued synthesis over
//!   4 ms, plus 4 ms per further 10 ms of erasure (at most 10 ms).
//!
//! One departure: Appendix I delays its output by 3.75 ms so that it can also smooth the last
//! real samples before the erasure. This core plays frames on a fixed 20 ms grid with no
//! look-back, so instead the step between the last real sample and the first synthetic one is
//! spread over the first quarter period as a fading offset.
//!
//! Everything is preallocated: concealing and recovering never allocate.

/// Sample rate this concealment works at.
const RATE_HZ: usize = 8000;
/// Samples per millisecond.
const PER_MS: usize = RATE_HZ / 1000;
/// Shortest pitch period searched: 5 ms.
const PITCH_MIN: usize = 40;
/// Longest pitch period searched: 15 ms.
const PITCH_MAX: usize = 120;
/// Length of the correlation window: the last 20 ms.
const CORR_LEN: usize = 160;
/// History kept: enough for three longest periods and the correlation window.
const HISTORY: usize = 3 * PITCH_MAX + CORR_LEN;
/// Erasure length after which one more period joins the repetition: 10 ms.
const PERIOD_STEP: usize = 10 * PER_MS;
/// The fade starts after 10 ms of erasure and loses this much gain per sample (20% per 10 ms).
const FADE_PER_SAMPLE: f32 = 0.2 / (10 * PER_MS) as f32;
/// Overlap-add at the end of an erasure: 4 ms plus 4 ms per further 10 ms, at most 10 ms.
const RECOVERY_BASE: usize = 4 * PER_MS;
/// Upper bound of the recovery overlap.
const RECOVERY_MAX: usize = 10 * PER_MS;

/// Concealment state: each variant carries what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Real audio is flowing.
    Good,
    /// Inside an erasure.
    Concealing(Synth),
}

/// The running synthesis of an erasure.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Synth {
    /// Pitch period in samples.
    pitch: usize,
    /// Periods being repeated (1 to 3).
    periods: usize,
    /// Position in the repeated span `history[HISTORY - periods * pitch ..]`.
    pos: usize,
    /// Samples synthesized so far in this erasure.
    erased: usize,
    /// Step between the last real sample and the first synthetic one, spread out at the start.
    offset: f32,
    /// Overlap-add still to do after a switch of period count: samples left, and where the
    /// old span would have continued.
    blend: Option<(usize, usize)>,
}

/// G.711 Appendix I style concealment for one 8 kHz stream. See the module docs.
#[derive(Debug, Clone)]
pub struct Plc {
    /// The last `HISTORY` samples played (real or concealed), oldest first.
    history: Box<[f32; HISTORY]>,
    state: State,
    /// Samples ever written into the history, so a call that starts with a loss conceals
    /// with silence rather than with zeros dressed up as a period.
    seen: usize,
}

impl Default for Plc {
    fn default() -> Self {
        Plc::new()
    }
}

impl Plc {
    /// A concealer with an empty (silent) history.
    pub fn new() -> Self {
        Plc {
            history: Box::new([0.0; HISTORY]),
            state: State::Good,
            seen: 0,
        }
    }

    /// Feeds a frame of real audio. Right after an erasure its start is overlap-added in
    /// place with the continued synthesis, so the join does not click.
    pub fn good_frame(&mut self, frame: &mut [i16]) {
        if let State::Concealing(mut synth) = self.state {
            let extra = synth.erased.saturating_sub(PERIOD_STEP) / PERIOD_STEP;
            let len = (RECOVERY_BASE + extra * RECOVERY_BASE)
                .min(RECOVERY_MAX)
                .min(frame.len());
            for (i, sample) in frame.iter_mut().take(len).enumerate() {
                let w = (i + 1) as f32 / (len + 1) as f32;
                let synthetic = self.next_synthetic(&mut synth);
                *sample = to_i16(w * f32::from(*sample) + (1.0 - w) * synthetic);
            }
            self.state = State::Good;
        }
        self.push(frame);
    }

    /// Fills `out` with concealment for a lost frame.
    pub fn conceal(&mut self, out: &mut [i16]) {
        let mut synth = match self.state {
            State::Concealing(synth) => synth,
            State::Good if self.seen < CORR_LEN + PITCH_MAX => {
                // Nothing to repeat yet.
                out.fill(0);
                self.push(out);
                return;
            }
            State::Good => self.start_erasure(),
        };
        for sample in out.iter_mut() {
            *sample = to_i16(self.next_synthetic(&mut synth));
        }
        // The history keeps only real audio: the span being repeated is its end.
        self.state = State::Concealing(synth);
    }

    /// Milliseconds concealed in the current erasure (0 when audio is flowing).
    pub fn erased_ms(&self) -> usize {
        match self.state {
            State::Good => 0,
            State::Concealing(s) => s.erased / PER_MS,
        }
    }

    /// Sets up the synthesis at the start of an erasure.
    fn start_erasure(&self) -> Synth {
        let pitch = find_pitch(&self.history[..]);
        // The first synthetic sample, `history[N - pitch]`, follows `history[N - pitch - 1]`,
        // which a periodic signal makes equal to the last real one: their difference is the
        // step to spread out.
        Synth {
            pitch,
            periods: 1,
            pos: 0,
            erased: 0,
            offset: self.history[HISTORY - pitch - 1] - self.history[HISTORY - 1],
            blend: None,
        }
    }

    /// The next synthetic sample, advancing the synthesis.
    fn next_synthetic(&self, synth: &mut Synth) -> f32 {
        // Switch to more periods every 10 ms, up to three.
        if synth.erased > 0 && synth.erased.is_multiple_of(PERIOD_STEP) && synth.periods < 3 {
            let old_span = synth.periods * synth.pitch;
            let old_pos = synth.pos;
            synth.periods += 1;
            // Same phase, one period further back.
            synth.pos = old_pos % synth.pitch;
            synth.blend = Some((synth.pitch / 4, old_pos % old_span));
        }
        let span = synth.periods * synth.pitch;
        let mut value = self.history[HISTORY - span + synth.pos];
        if let Some((left, old_pos)) = synth.blend {
            let old_span = (synth.periods - 1) * synth.pitch;
            let old = self.history[HISTORY - old_span + old_pos];
            let total = (synth.pitch / 4).max(1);
            let w = (total - left + 1) as f32 / (total + 1) as f32;
            value = w * value + (1.0 - w) * old;
            synth.blend = (left > 1).then_some((left - 1, (old_pos + 1) % old_span));
        }
        // Spread the step at the start over the first quarter period.
        let quarter = (synth.pitch / 4).max(1);
        if synth.erased < quarter {
            value -= synth.offset * (1.0 - (synth.erased + 1) as f32 / (quarter + 1) as f32);
        }
        let gain = if synth.erased < PERIOD_STEP {
            1.0
        } else {
            (1.0 - (synth.erased - PERIOD_STEP) as f32 * FADE_PER_SAMPLE).max(0.0)
        };
        synth.pos = (synth.pos + 1) % span;
        synth.erased += 1;
        value * gain
    }

    /// Appends samples to the history.
    fn push(&mut self, samples: &[i16]) {
        let n = samples.len().min(HISTORY);
        self.history.copy_within(n.., 0);
        for (dst, &s) in self.history[HISTORY - n..]
            .iter_mut()
            .zip(&samples[samples.len() - n..])
        {
            *dst = f32::from(s);
        }
        self.seen = self.seen.saturating_add(samples.len());
    }
}

/// The pitch period of the end of `history`, in samples: the lag in `PITCH_MIN..=PITCH_MAX`
/// with the highest normalized cross-correlation between the last `CORR_LEN` samples and the
/// same span that many samples earlier.
fn find_pitch(history: &[f32]) -> usize {
    let end = history.len();
    let window = &history[end - CORR_LEN..];
    let score = |lag: usize, step: usize| -> f32 {
        let earlier = &history[end - CORR_LEN - lag..end - lag];
        let (mut xy, mut yy) = (0.0f32, 0.0f32);
        for (x, y) in window.iter().zip(earlier).step_by(step) {
            xy += x * y;
            yy += y * y;
        }
        if yy <= f32::EPSILON {
            f32::MIN
        } else {
            xy / yy.sqrt()
        }
    };
    // Coarse search at half resolution, then the neighbours at full resolution.
    let coarse = (PITCH_MIN..=PITCH_MAX)
        .step_by(2)
        .map(|lag| (lag, score(lag, 2)))
        .fold(
            (PITCH_MIN, f32::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
        .0;
    (coarse.saturating_sub(1).max(PITCH_MIN)..=(coarse + 1).min(PITCH_MAX))
        .map(|lag| (lag, score(lag, 1)))
        .fold(
            (coarse, f32::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
        .0
}

fn to_i16(x: f32) -> i16 {
    x.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced-speech-like signal: 125 Hz fundamental (64-sample period) with harmonics.
    fn voiced(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let w = 2.0 * std::f64::consts::PI * 125.0 * t;
                (6000.0 * w.sin() + 3000.0 * (2.0 * w).sin() + 1500.0 * (3.0 * w + 0.5).sin()) as i16
            })
            .collect()
    }

    fn snr_db(reference: &[i16], test: &[i16]) -> f64 {
        let (mut s, mut e) = (0.0f64, 0.0f64);
        for (&r, &t) in reference.iter().zip(test) {
            s += f64::from(r).powi(2);
            e += (f64::from(r) - f64::from(t)).powi(2);
        }
        10.0 * (s / e.max(1.0)).log10()
    }

    /// Plays `signal` frame by frame, losing the frames in `lost`.
    fn play(signal: &[i16], lost: &[usize]) -> Vec<i16> {
        let mut plc = Plc::new();
        let mut out = Vec::new();
        for (k, chunk) in signal.chunks(160).enumerate() {
            let mut frame = chunk.to_vec();
            if lost.contains(&k) {
                plc.conceal(&mut frame);
            } else {
                plc.good_frame(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn finds_the_pitch_of_a_periodic_signal() {
        let history: Vec<f32> = voiced(HISTORY).iter().map(|&s| f32::from(s)).collect();
        assert_eq!(find_pitch(&history), 64);
        // A period longer than the search range is found as its divisor... or at least within
        // the range; a 100-sample period is found exactly.
        let tone: Vec<f32> = (0..HISTORY)
            .map(|i| (2.0 * std::f32::consts::PI * i as f32 / 100.0).sin() * 1000.0)
            .collect();
        assert_eq!(find_pitch(&tone), 100);
    }

    #[test]
    fn a_lost_frame_of_voiced_speech_is_rebuilt_closely() {
        let signal = voiced(160 * 10);
        let concealed = play(&signal, &[5]);
        let frame = 5 * 160..6 * 160;
        let snr = snr_db(&signal[frame.clone()], &concealed[frame.clone()]);
        assert!(snr > 15.0, "concealed frame SNR {snr:.1} dB");
        // Zeros instead would be 0 dB.
        let zeros = vec![0i16; 160];
        assert!(snr_db(&signal[frame], &zeros) < 0.1);
        // Everything else is untouched but for the recovery overlap.
        assert_eq!(&concealed[..800], &signal[..800]);
        // 20 ms erased: 4 + 4 ms of overlap.
        assert_eq!(&concealed[960 + 64..], &signal[960 + 64..]);
    }

    #[test]
    fn no_clicks_at_the_joins() {
        let signal = voiced(160 * 12);
        let concealed = play(&signal, &[4, 5, 8]);
        // The largest step of the real signal, and of the concealed one around the joins.
        let max_step = |s: &[i16]| {
            s.windows(2)
                .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
                .max()
                .unwrap_or(0)
        };
        let natural = max_step(&signal);
        for join in [640, 960, 1280, 1440] {
            let step = max_step(&concealed[join - 4..join + 4]);
            assert!(step <= natural * 3 / 2, "join {join}: step {step} vs {natural}");
        }
    }

    #[test]
    fn long_erasures_fade_to_silence_after_60_ms() {
        let signal = voiced(160 * 12);
        let concealed = play(&signal, &[3, 4, 5, 6, 7, 8]);
        // (Frames 0..3 are 60 ms: enough history to find the pitch.)
        let rms = |s: &[i16]| (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        // The first 10 ms at full level, then falling, silent from 60 ms on (frame 6 onwards).
        let first = rms(&concealed[480..560]);
        let mid = rms(&concealed[480 + 240..480 + 320]);
        assert!(first > 4000.0, "{first}");
        assert!(mid < first * 0.7, "{mid} vs {first}");
        assert!(concealed[480 + 480..1440].iter().all(|&s| s == 0));
        // And the speech comes back after it.
        assert!(rms(&concealed[1440 + 80..]) > 4000.0);
    }

    #[test]
    fn a_loss_before_any_audio_is_silence() {
        let mut plc = Plc::new();
        let mut frame = [123i16; 160];
        plc.conceal(&mut frame);
        assert!(frame.iter().all(|&s| s == 0));
        assert_eq!(plc.erased_ms(), 0);
    }

    #[test]
    fn recovery_overlaps_longer_after_longer_erasures() {
        let signal = voiced(160 * 8);
        let mut plc = Plc::new();
        let mut frames: Vec<Vec<i16>> = signal.chunks(160).map(<[i16]>::to_vec).collect();
        for f in frames.iter_mut().take(3) {
            plc.good_frame(f);
        }
        for f in frames.iter_mut().skip(3).take(3) {
            plc.conceal(f);
        }
        assert_eq!(plc.erased_ms(), 60);
        let real = frames[6].clone();
        plc.good_frame(&mut frames[6]);
        // 60 ms erased: 4 + 4 * 5 = 24 ms, capped at 10 ms of overlap.
        assert_ne!(frames[6][..79], real[..79]);
        assert_eq!(frames[6][80..], real[80..]);
        assert_eq!(plc.erased_ms(), 0);
    }
}
