//! The labelled audio corpus of the audio-intelligence evaluation and tests, generated
//! deterministically: Piper speech (the testbed venv's `piper-tts`, VITS noise off), tones and
//! beeps from `sox`, white noise from a seeded generator. Every scene knows its truth: speech
//! spans, digits, beeps, and human or machine.
//!
//! Rendered utterances are cached under `$RINGBACK_CACHE/corpus` (default
//! `$HOME/.cache/ringback/corpus`) by a hash of the text, the rate and the script.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use media_core::analysis::AnalysisRate;
use media_core::analysis::amd::Verdict;
use media_core::analysis::file::MonoAudio;

const RENDER_SCRIPT: &str = include_str!("../py/render_utterances.py");

/// Why the corpus could not be made. Each names what is missing so a test fails saying so.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// Neither `RINGBACK_CACHE` nor `HOME` is set.
    #[error("no cache directory: set RINGBACK_CACHE or HOME")]
    NoCacheDir,
    /// The testbed virtualenv is missing.
    #[error("the Python virtualenv {0} is missing; run deploy/setup")]
    VenvMissing(PathBuf),
    /// A tool could not be started.
    #[error("cannot run {tool} (install it with deploy/setup)")]
    Spawn {
        /// The tool.
        tool: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A tool failed.
    #[error("{tool} failed: {stderr}")]
    ToolFailed {
        /// The tool.
        tool: &'static str,
        /// The end of its standard error.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A WAV file could not be read or written.
    #[error("WAV {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: hound::Error,
    },
}

type Result<T> = std::result::Result<T, CorpusError>;

/// `$RINGBACK_CACHE`, or `$HOME/.cache/ringback` (as in `deploy/setup`).
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RINGBACK_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(CorpusError::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("ringback"))
}

/// The models directory of `deploy/setup`.
pub fn models_dir() -> Result<PathBuf> {
    Ok(cache_dir()?.join("models"))
}

/// A rendered utterance with its labels.
#[derive(Debug, Clone)]
pub struct Utterance {
    /// The text.
    pub text: String,
    /// Mono samples at the requested rate.
    pub samples: Vec<i16>,
    /// Where the speech is, in samples: 10 ms windows above -45 dBFS, gaps under 200 ms merged.
    pub voiced: Vec<(usize, usize)>,
}

impl Utterance {
    /// First to last voiced sample.
    pub fn span(&self) -> (usize, usize) {
        match (self.voiced.first(), self.voiced.last()) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => (0, 0),
        }
    }
}

/// Renders utterances (cached) at `rate` in the Piper voice; `items` are (text, Piper length
/// scale: above 1 is slower).
pub fn utterances(items: &[(&str, f32)], rate: AnalysisRate) -> Result<Vec<Utterance>> {
    let voiced: Vec<(&str, f32, &str)> = items.iter().map(|&(t, s)| (t, s, PIPER_JOE)).collect();
    utterances_in(&voiced, rate)
}

/// The corpus's default voice.
pub const PIPER_JOE: &str = "piper:joe";

/// Renders utterances (cached) at `rate`; `items` are (text, length scale: above 1 is slower,
/// voice: `piper:joe`, `espeak:<espeak-ng voice>` or `flite:<voice>`, as `py/render_utterances.py`
/// takes them).
pub fn utterances_in(items: &[(&str, f32, &str)], rate: AnalysisRate) -> Result<Vec<Utterance>> {
    let dir = cache_dir()?.join("corpus");
    std::fs::create_dir_all(&dir).map_err(|source| CorpusError::Io {
        path: dir.clone(),
        source,
    })?;
    let key = |text: &str, scale: f32, voice: &str, suffix: &str| {
        let mut h = Fnv::default();
        h.write(RENDER_SCRIPT.as_bytes());
        h.write(text.as_bytes());
        h.write(&scale.to_le_bytes());
        if voice != PIPER_JOE {
            h.write(voice.as_bytes());
        }
        dir.join(format!("{:016x}-{suffix}.wav", h.0))
    };
    let mut missing: Vec<(&str, f32, &str, PathBuf)> = Vec::new();
    for &(text, scale, voice) in items {
        let native = key(text, scale, voice, "native");
        if !native.is_file()
            && !missing
                .iter()
                .any(|(t, s, v, _)| *t == text && *s == scale && *v == voice)
        {
            missing.push((text, scale, voice, native));
        }
    }
    if !missing.is_empty() {
        let request = serde_json::json!({
            "items": missing.iter().map(|(text, scale, voice, out)| serde_json::json!({
                "text": text, "length_scale": scale, "voice": voice, "out": out,
            })).collect::<Vec<_>>(),
        });
        run_python(&request.to_string())?;
    }
    items
        .iter()
        .map(|&(text, scale, voice)| {
            let native = key(text, scale, voice, "native");
            let at_rate = key(text, scale, voice, &rate.hz().to_string());
            if !at_rate.is_file() {
                sox_convert(&native, &at_rate, rate.hz())?;
            }
            let samples = read_mono(&at_rate)?;
            let voiced = voiced_spans(&samples, rate);
            Ok(Utterance {
                text: text.to_owned(),
                samples,
                voiced,
            })
        })
        .collect()
}

/// Speech spans: 10 ms windows above -45 dBFS, joined across gaps under 200 ms.
pub fn voiced_spans(samples: &[i16], rate: AnalysisRate) -> Vec<(usize, usize)> {
    let win = rate.per_ms() * 10;
    let max_gap = rate.per_ms() * 200;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, w) in samples.chunks(win).enumerate() {
        if media_core::analysis::rate::level_dbfs(w) < -45.0 {
            continue;
        }
        let (s, e) = (i * win, i * win + w.len());
        match spans.last_mut() {
            Some(last) if s - last.1 <= max_gap => last.1 = e,
            _ => spans.push((s, e)),
        }
    }
    spans
}

/// A tone from `sox synth`: the sum of sines `(hz, mean power in dBFS)`, `ms` long, no dither.
pub fn sox_tone(rate: AnalysisRate, ms: u32, parts: &[(f64, f64)]) -> Result<Vec<i16>> {
    let mut cmd = Command::new("sox");
    cmd.args([
        "-D",
        "-n",
        "-r",
        &rate.hz().to_string(),
        "-b",
        "16",
        "-c",
        "1",
        "-e",
        "signed",
        "-t",
        "raw",
        "-",
    ]);
    cmd.args(["synth", &format!("{:.4}", f64::from(ms) / 1000.0)]);
    for (hz, _) in parts {
        cmd.args(["sine", &format!("{hz:.3}")]);
    }
    // Mean power p dBFS is a sine of amplitude 10^((p + 3.01) / 20) of full scale.
    let remix: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, (_, dbfs))| format!("{}v{:.6}", i + 1, 10f64.powf((dbfs + 3.0103) / 20.0)))
        .collect();
    cmd.arg("remix").arg(remix.join(","));
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| CorpusError::Spawn { tool: "sox", source })?;
    if !out.status.success() {
        return Err(CorpusError::ToolFailed {
            tool: "sox",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// A labelled digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelDigit {
    /// The digit.
    pub digit: char,
    /// Start, in ms.
    pub start_ms: u64,
    /// End, in ms.
    pub end_ms: u64,
}

/// A labelled beep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelBeep {
    /// Start, in ms.
    pub start_ms: u64,
    /// End, in ms.
    pub end_ms: u64,
    /// Frequency.
    pub hz: f64,
}

/// A scene: audio and its truth.
#[derive(Debug, Clone)]
pub struct Scene {
    /// A name for reports.
    pub name: String,
    /// The rate.
    pub rate: AnalysisRate,
    samples: Vec<f32>,
    /// Speech spans, in ms.
    pub speech: Vec<(u64, u64)>,
    /// Digits.
    pub digits: Vec<LabelDigit>,
    /// Beeps.
    pub beeps: Vec<LabelBeep>,
    /// Who answered, for AMD scenes.
    pub truth: Option<Verdict>,
    /// What was said, in order: (start ms, end ms of its voiced span, text). The AMD bench can
    /// offer these as a perfect transcript, beside Whisper's.
    pub said: Vec<(u64, u64, String)>,
}

impl Scene {
    /// An empty scene.
    pub fn new(name: impl Into<String>, rate: AnalysisRate) -> Self {
        Scene {
            name: name.into(),
            rate,
            samples: Vec::new(),
            speech: Vec::new(),
            digits: Vec::new(),
            beeps: Vec::new(),
            truth: None,
            said: Vec::new(),
        }
    }

    /// Current length, in ms.
    pub fn now_ms(&self) -> u64 {
        self.samples.len() as u64 / self.rate.per_ms() as u64
    }

    fn per_ms(&self) -> usize {
        self.rate.per_ms()
    }

    /// Appends silence.
    pub fn silence(&mut self, ms: u64) -> &mut Self {
        let n = ms as usize * self.per_ms();
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }

    /// Appends an utterance at `gain_db`, labelling its speech.
    pub fn say(&mut self, u: &Utterance, gain_db: f64) -> &mut Self {
        let at = self.samples.len();
        let g = 10f64.powf(gain_db / 20.0) as f32;
        self.samples.extend(u.samples.iter().map(|&s| f32::from(s) * g));
        let per_ms = self.per_ms();
        for &(s, e) in &u.voiced {
            self.speech
                .push((((at + s) / per_ms) as u64, ((at + e) / per_ms) as u64));
        }
        let (s, e) = u.span();
        self.said.push((
            ((at + s) / per_ms) as u64,
            ((at + e) / per_ms) as u64,
            u.text.clone(),
        ));
        self
    }

    /// Appends a DTMF digit (tone of `ms`) with per-tone levels and a relative frequency
    /// deviation; `expect` says whether a receiver must detect it.
    pub fn digit(
        &mut self,
        digit: char,
        ms: u32,
        low_dbfs: f64,
        high_dbfs: f64,
        deviation: f64,
        expect: bool,
    ) -> Result<&mut Self> {
        let (lo, hi) = dtmf_freqs(digit);
        let tone = sox_tone(
            self.rate,
            ms,
            &[
                (lo * (1.0 + deviation), low_dbfs),
                (hi * (1.0 + deviation), high_dbfs),
            ],
        )?;
        let start_ms = self.now_ms();
        self.samples.extend(tone.iter().map(|&s| f32::from(s)));
        if expect {
            self.digits.push(LabelDigit {
                digit,
                start_ms,
                end_ms: self.now_ms(),
            });
        }
        Ok(self)
    }

    /// Appends a beep.
    pub fn beep(&mut self, hz: f64, ms: u32, dbfs: f64) -> Result<&mut Self> {
        let tone = sox_tone(self.rate, ms, &[(hz, dbfs)])?;
        let start_ms = self.now_ms();
        self.samples.extend(tone.iter().map(|&s| f32::from(s)));
        self.beeps.push(LabelBeep {
            start_ms,
            end_ms: self.now_ms(),
            hz,
        });
        Ok(self)
    }

    /// Adds white Gaussian noise at `dbfs` (mean power) over the whole scene, from `seed`.
    pub fn noise(&mut self, dbfs: f64, seed: u64) -> &mut Self {
        let sigma = 32768.0 * 10f64.powf(dbfs / 20.0);
        let mut rng = SplitMix(seed);
        for s in &mut self.samples {
            *s += (rng.gaussian() * sigma) as f32;
        }
        self
    }

    /// The audio, clipped to 16 bits.
    pub fn audio(&self) -> MonoAudio {
        MonoAudio {
            rate: self.rate,
            samples: self
                .samples
                .iter()
                .map(|s| s.round().clamp(-32768.0, 32767.0) as i16)
                .collect(),
        }
    }

    /// Writes the audio as a mono 16-bit WAV.
    pub fn write_wav(&self, path: &Path) -> Result<()> {
        write_wav(path, &self.audio())
    }
}

/// Writes mono audio as a 16-bit WAV.
pub fn write_wav(path: &Path, audio: &MonoAudio) -> Result<()> {
    let wav_err = |source| CorpusError::Wav {
        path: path.to_owned(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: audio.rate.hz(),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(wav_err)?;
    for &s in &audio.samples {
        w.write_sample(s).map_err(wav_err)?;
    }
    w.finalize().map_err(wav_err)
}

/// The row and column frequencies of a key.
pub fn dtmf_freqs(digit: char) -> (f64, f64) {
    const KEYS: [&str; 4] = ["123A", "456B", "789C", "*0#D"];
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    for (r, row) in KEYS.iter().enumerate() {
        if let Some(c) = row.find(digit) {
            return (ROWS[r], COLS[c]);
        }
    }
    (ROWS[0], COLS[0])
}

/// Runs `multimon-ng -a DTMF` on a WAV (converted to its 22050 Hz raw input with sox); returns
/// the digits it printed.
pub fn multimon_dtmf(wav: &Path) -> Result<String> {
    let raw = wav.with_extension("22k.raw");
    let out = Command::new("sox")
        .arg("-D")
        .arg(wav)
        .args(["-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1"])
        .arg(&raw)
        .output()
        .map_err(|source| CorpusError::Spawn { tool: "sox", source })?;
    if !out.status.success() {
        return Err(CorpusError::ToolFailed {
            tool: "sox",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let out = Command::new("multimon-ng")
        .args(["-q", "-t", "raw", "-a", "DTMF"])
        .arg(&raw)
        .output()
        .map_err(|source| CorpusError::Spawn {
            tool: "multimon-ng",
            source,
        })?;
    let _ = std::fs::remove_file(&raw);
    if !out.status.success() {
        return Err(CorpusError::ToolFailed {
            tool: "multimon-ng",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DTMF:"))
        .filter_map(|d| d.trim().chars().next())
        .collect())
}

fn run_python(request: &str) -> Result<()> {
    let venv = cache_dir()?.join("venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        return Err(CorpusError::VenvMissing(venv));
    }
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(RENDER_SCRIPT)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CorpusError::Spawn {
            tool: "python",
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(request.as_bytes())
            .map_err(|source| CorpusError::Spawn {
                tool: "python",
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| CorpusError::Spawn {
        tool: "python",
        source,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(CorpusError::ToolFailed {
            tool: "render_utterances.py",
            stderr: tail,
        });
    }
    Ok(())
}

fn sox_convert(from: &Path, to: &Path, hz: u32) -> Result<()> {
    let tmp = to.with_extension("tmp.wav");
    let out = Command::new("sox")
        .arg("-D")
        .arg(from)
        .args(["-r", &hz.to_string(), "-c", "1", "-b", "16"])
        .arg(&tmp)
        .output()
        .map_err(|source| CorpusError::Spawn { tool: "sox", source })?;
    if !out.status.success() {
        return Err(CorpusError::ToolFailed {
            tool: "sox",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    std::fs::rename(&tmp, to).map_err(|source| CorpusError::Io {
        path: to.to_owned(),
        source,
    })
}

fn read_mono(path: &Path) -> Result<Vec<i16>> {
    let wav_err = |source| CorpusError::Wav {
        path: path.to_owned(),
        source,
    };
    let mut r = hound::WavReader::open(path).map_err(wav_err)?;
    r.samples::<i16>()
        .collect::<std::result::Result<_, _>>()
        .map_err(wav_err)
}

/// FNV-1a of several fields, for cache keys.
pub fn fnv64(fields: &[&[u8]]) -> u64 {
    let mut h = Fnv::default();
    for f in fields {
        h.write(f);
    }
    h.0
}

/// FNV-1a, for cache keys (stable across Rust versions, unlike `DefaultHasher`).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate fields.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
    }
}

/// SplitMix64 with Box-Muller: a seeded, dependency-free noise source.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Groups results by a key, for reports.
pub fn tally<K: std::hash::Hash + Eq>(items: impl IntoIterator<Item = (K, bool)>) -> HashMap<K, (u64, u64)> {
    let mut map = HashMap::new();
    for (k, ok) in items {
        let e: &mut (u64, u64) = map.entry(k).or_default();
        e.0 += u64::from(ok);
        e.1 += 1;
    }
    map
}
