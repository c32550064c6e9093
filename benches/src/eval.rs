//! The audio-intelligence evaluation: scenes of the labelled corpus, and the scores of an
//! analysis against their labels. Used by `benches/benches/analysis_eval.rs` (the full harness)
//! and `benches/tests/analysis_corpus.rs` (the small fixed corpus of the tests).

use media_core::analysis::AnalysisRate;
use media_core::analysis::amd::Verdict;
use media_core::analysis::file::FileAnalysis;

use crate::corpus::{self, CorpusError, LabelDigit, Scene, Utterance};

/// How much of the corpus to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A few scenes, for CI's compile-and-run of the benches.
    Tiny,
    /// The whole corpus, for figures.
    Full,
}

/// How a person answers.
pub const HUMAN_GREETINGS: &[&str] = &[
    "Hello?",
    "Hi, this is Dana.",
    "Yeah, hello?",
    "Good morning, Dana speaking.",
    "Hello, who's calling?",
    "Dana here.",
    "Yes?",
    "Hi there.",
    "This is Mark.",
    "Hello, this is the front desk.",
    "Speaking.",
    "Hey, what's up?",
];

/// Voicemail greetings.
pub const MACHINE_GREETINGS: &[&str] = &[
    "Hi, you've reached Dana Smith. I can't take your call right now, so please leave a message after the tone.",
    "Hello, this is Mark. I'm away from my phone. Leave your name and number and I'll call you back.",
    "The person you are calling is not available. Please record your message after the tone.",
    "Thank you for calling Riverside Dental. Our office is currently closed. Please leave a message and we will return your call.",
    "Hey, it's Sam. Leave a message.",
    "You have reached the voicemail of extension four two one. Please leave a message.",
    "Hi, sorry I missed your call. Leave a message and I'll get back to you as soon as I can.",
    "Welcome to the mailbox of Jordan Lee. At the tone, please record your message. When you are finished, hang up.",
    "This is Alex. I'm not available right now. Please leave a message.",
    "Hello. You've reached the Parker residence. We can't come to the phone right now. Please leave a message.",
];

/// What a person says after the pause when nobody answers them.
const HUMAN_FOLLOW_UP: &str = "Hello? Is anyone there?";

/// Piper length scales: faster, normal, slower speech.
pub const RATES: [f32; 3] = [0.85, 1.0, 1.2];

/// Sentences for talk-off: varied phonetics, numbers, names, questions.
pub fn talk_sentences(size: Size) -> Vec<String> {
    let subjects = [
        "My sister",
        "The technician",
        "Our accountant",
        "The neighbour across the street",
        "Doctor Patel",
        "The delivery driver",
        "Your manager",
        "A friend of mine",
        "The school nurse",
        "Grandpa",
    ];
    let verbs = [
        "called about the invoice from",
        "will arrive sometime around",
        "asked me to confirm the meeting on",
        "mentioned the appointment at",
        "is still waiting for the parcel from",
        "wants to reschedule to",
        "said the results came back on",
        "booked a table for",
    ];
    let objects = [
        "last Tuesday afternoon",
        "half past nine tomorrow morning",
        "the twenty third of October",
        "seven fifteen in the evening",
        "next Friday, if that still works for you",
        "early Monday, before lunch",
        "the second week of March",
        "four thirty, right after school",
    ];
    let questions = [
        "Could you check whether the account number ends in five eight six?",
        "Would you mind calling back when you have a moment?",
        "Is the pharmacy on Elm Street open on Sundays?",
        "How much would it cost to ship three boxes to Denver?",
        "Why did the heating bill double this winter?",
        "Can we move the inspection to Thursday at two?",
    ];
    let mut out = Vec::new();
    let n = match size {
        Size::Tiny => 3,
        Size::Full => subjects.len() * verbs.len(),
    };
    for i in 0..n {
        let s = subjects[i % subjects.len()];
        let v = verbs[(i / subjects.len() + i) % verbs.len()];
        let o = objects[(i * 7 + 3) % objects.len()];
        let q = questions[(i * 5 + 1) % questions.len()];
        out.push(format!("{s} {v} {o}. {q}"));
    }
    out
}

/// Deterministic pick in `0..n` from a seed.
fn pick(seed: u64, n: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (z ^ (z >> 32)) % n.max(1)
}

/// A noise condition: a name, and the noise level in dBFS (none for clean).
pub type Noise = (&'static str, Option<f64>);

/// Noise conditions of AMD and VAD scenes: (name, noise dBFS; speech sits around -20 dBFS).
pub const NOISES: [Noise; 3] = [("clean", None), ("snr30", Some(-50.0)), ("snr15", Some(-35.0))];

/// AMD scenes: human pickups and machine greetings (with and without beeps) at each speaking
/// rate and noise level.
pub fn amd_scenes(size: Size, rate: AnalysisRate) -> Result<Vec<Scene>, CorpusError> {
    let (humans, machines, rates, noises): (&[&str], &[&str], &[f32], &[Noise]) = match size {
        Size::Tiny => (
            &HUMAN_GREETINGS[..2],
            &MACHINE_GREETINGS[..2],
            &RATES[1..2],
            &NOISES[..1],
        ),
        Size::Full => (HUMAN_GREETINGS, MACHINE_GREETINGS, &RATES, &NOISES),
    };
    let mut items: Vec<(&str, f32)> = Vec::new();
    for &r in rates {
        for t in humans.iter().chain(machines).chain([&HUMAN_FOLLOW_UP]) {
            items.push((t, r));
        }
    }
    let rendered = corpus::utterances(&items, rate)?;
    let find = |text: &str, r: f32| -> &Utterance {
        let i = items.iter().position(|&(t, s)| t == text && s == r).unwrap_or(0);
        &rendered[i]
    };
    let mut scenes = Vec::new();
    let mut seed = 1u64;
    for &r in rates {
        for &(noise_name, noise) in noises {
            for (h, text) in humans.iter().enumerate() {
                seed += 1;
                let mut s = Scene::new(format!("human/{h}/{r}/{noise_name}"), rate);
                s.truth = Some(Verdict::Human);
                s.silence(300 + 150 * pick(seed, 7))
                    .say(find(text, r), -3.0 * pick(seed + 1, 3) as f64)
                    .silence(3000)
                    .say(find(HUMAN_FOLLOW_UP, r), 0.0)
                    .silence(1500);
                if let Some(dbfs) = noise {
                    s.noise(dbfs, seed);
                }
                scenes.push(s);
            }
            for (m, text) in machines.iter().enumerate() {
                for with_beep in [false, true] {
                    seed += 1;
                    let mut s = Scene::new(
                        format!(
                            "machine/{m}/{r}/{noise_name}/{}",
                            if with_beep { "beep" } else { "nobeep" }
                        ),
                        rate,
                    );
                    s.truth = Some(Verdict::Machine);
                    s.silence(400 + 100 * pick(seed, 6))
                        .say(find(text, r), -3.0 * pick(seed + 1, 3) as f64);
                    if with_beep {
                        let (hz, ms) = [(1000.0, 400), (1400.0, 250), (850.0, 500), (440.0, 300)]
                            [pick(seed + 2, 4) as usize];
                        s.silence(300 + 100 * pick(seed + 3, 4));
                        s.beep(hz, ms, -12.0)?;
                    }
                    s.silence(2000);
                    if let Some(dbfs) = noise {
                        s.noise(dbfs, seed);
                    }
                    scenes.push(s);
                }
            }
        }
    }
    Ok(scenes)
}

/// All sixteen keys.
pub const KEYS: &str = "123A456B789C*0#D";

/// A DTMF condition: tone length, pause, per-tone levels, deviation, noise (dBFS), and whether
/// a receiver must detect the digits (false for the 3.5% deviation that must be rejected).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfCondition {
    /// Tone length, ms.
    pub on_ms: u32,
    /// Pause, ms.
    pub off_ms: u32,
    /// Row tone level, dBFS.
    pub low_dbfs: f64,
    /// Column tone level, dBFS.
    pub high_dbfs: f64,
    /// Relative frequency deviation.
    pub deviation: f64,
    /// Signal-to-noise ratio, dB (noise over the whole band).
    pub snr_db: Option<f64>,
    /// Whether the digits must be detected.
    pub valid: bool,
}

impl DtmfCondition {
    /// A short name for reports.
    pub fn name(&self) -> String {
        format!(
            "on{}_lo{}_hi{}_dev{:+.1}_snr{}",
            self.on_ms,
            self.low_dbfs,
            self.high_dbfs,
            self.deviation * 100.0,
            self.snr_db.map_or("inf".to_owned(), |s| format!("{s}"))
        )
    }
}

/// The DTMF conditions: durations x twists x levels x noise, then deviations.
pub fn dtmf_conditions(size: Size) -> Vec<DtmfCondition> {
    let base = DtmfCondition {
        on_ms: 60,
        off_ms: 60,
        low_dbfs: -10.0,
        high_dbfs: -10.0,
        deviation: 0.0,
        snr_db: None,
        valid: true,
    };
    if size == Size::Tiny {
        return vec![
            DtmfCondition {
                on_ms: 40,
                off_ms: 40,
                high_dbfs: -18.0,
                snr_db: Some(15.0),
                ..base
            },
            DtmfCondition {
                deviation: 0.035,
                valid: false,
                ..base
            },
        ];
    }
    let mut out = Vec::new();
    for (on, off) in [(40, 40), (60, 60), (100, 100)] {
        for (twist_low, twist_high) in [(0.0, 0.0), (0.0, -8.0), (-4.0, 0.0)] {
            for level in [-10.0, -25.0] {
                for snr in [None, Some(20.0), Some(15.0)] {
                    out.push(DtmfCondition {
                        on_ms: on,
                        off_ms: off,
                        low_dbfs: level + twist_low,
                        high_dbfs: level + twist_high,
                        snr_db: snr,
                        ..base
                    });
                }
            }
        }
    }
    for dev in [-0.015, 0.015] {
        for snr in [None, Some(15.0)] {
            out.push(DtmfCondition {
                deviation: dev,
                snr_db: snr,
                ..base
            });
            out.push(DtmfCondition {
                on_ms: 40,
                off_ms: 40,
                deviation: dev,
                snr_db: snr,
                ..base
            });
        }
    }
    for dev in [-0.035, 0.035, -0.05, 0.05] {
        out.push(DtmfCondition {
            deviation: dev,
            valid: false,
            ..base
        });
    }
    out
}

/// The scene of one condition: all sixteen keys, with 200 ms of silence around.
pub fn dtmf_scene(c: &DtmfCondition, rate: AnalysisRate, seed: u64) -> Result<Scene, CorpusError> {
    let mut s = Scene::new(format!("dtmf/{}", c.name()), rate);
    s.silence(200);
    for key in KEYS.chars() {
        s.digit(key, c.on_ms, c.low_dbfs, c.high_dbfs, c.deviation, c.valid)?;
        s.silence(u64::from(c.off_ms));
    }
    s.silence(200);
    if let Some(snr) = c.snr_db {
        // Signal power of the pair: the sum of the two tones' mean powers.
        let signal = 10f64.powf(c.low_dbfs / 10.0) + 10f64.powf(c.high_dbfs / 10.0);
        s.noise(10.0 * signal.log10() - snr, seed);
    }
    Ok(s)
}

/// Talk-off scenes: long speech (all talk sentences at every speaking rate), clean, with noise
/// at 20 dB S/N, and 6 dB louder (clipping now and then, which adds harmonics).
pub fn talk_scenes(size: Size, rate: AnalysisRate) -> Result<Vec<Scene>, CorpusError> {
    let sentences = talk_sentences(size);
    let rates: &[f32] = match size {
        Size::Tiny => &RATES[1..2],
        Size::Full => &RATES,
    };
    let mut items = Vec::new();
    for &r in rates {
        for t in &sentences {
            items.push((t.as_str(), r));
        }
    }
    let rendered = corpus::utterances(&items, rate)?;
    let mut scenes = Vec::new();
    for (i, chunk) in rendered.chunks(20).enumerate() {
        for (noise_name, noise, gain_db) in [
            ("clean", None, 0.0),
            ("snr20", Some(-40.0), 0.0),
            ("loud", None, 6.0),
        ] {
            let mut s = Scene::new(format!("talk/{i}/{noise_name}"), rate);
            for u in chunk {
                s.say(u, gain_db).silence(400);
            }
            if let Some(dbfs) = noise {
                s.noise(dbfs, 1000 + i as u64);
            }
            scenes.push(s);
        }
    }
    Ok(scenes)
}

/// Matches detected digits to labels: same digit, times overlapping within 60 ms, in order.
/// Returns (matched, false detections).
pub fn match_digits(labels: &[LabelDigit], found: &[(char, u64, u64)]) -> (usize, usize) {
    let mut used = vec![false; found.len()];
    let mut matched = 0;
    for l in labels {
        if let Some(i) = found
            .iter()
            .enumerate()
            .position(|(i, f)| !used[i] && f.0 == l.digit && f.1 <= l.end_ms + 60 && l.start_ms <= f.2 + 60)
        {
            used[i] = true;
            matched += 1;
        }
    }
    (matched, used.iter().filter(|u| !**u).count())
}

/// Longest common subsequence length (for multimon-ng, which prints no times).
pub fn lcs(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev = vec![0usize; b.len() + 1];
    for x in &a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Frame accuracy (10 ms frames) of detected speech segments against labelled speech spans.
/// Returns (frames agreeing, frames).
pub fn frame_agreement(labels: &[(u64, u64)], found: &[(u64, u64)], duration_ms: u64) -> (u64, u64) {
    let inside = |spans: &[(u64, u64)], t: u64| spans.iter().any(|&(s, e)| t >= s && t < e);
    let frames = duration_ms / 10;
    let agree = (0..frames)
        .filter(|k| {
            let t = k * 10 + 5;
            inside(labels, t) == inside(found, t)
        })
        .count() as u64;
    (agree, frames)
}

/// Speech labels merged like the endpointer merges (gaps under 250 ms).
pub fn merged_speech(scene: &Scene) -> Vec<(u64, u64)> {
    let mut spans = scene.speech.clone();
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 + 250 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// The digits of an analysis as (digit, start, end).
pub fn found_digits(a: &FileAnalysis) -> Vec<(char, u64, u64)> {
    a.dtmf.iter().map(|d| (d.digit, d.start_ms, d.end_ms)).collect()
}

/// Median and 90th percentile of a list.
pub fn median_p90(values: &mut [u64]) -> (u64, u64) {
    if values.is_empty() {
        return (0, 0);
    }
    values.sort_unstable();
    let p = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.9))
}
