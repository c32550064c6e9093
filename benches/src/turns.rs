//! The turn-taking corpus (`benches/turns/`): callers' turns rendered in several voices, run
//! through a live call's ear ([`LiveAnalysis`] with real Silero and, for the model rule, real
//! Smart Turn), and scored for false cut-offs, end-of-turn latency and barge-ins.
//!
//! The analysis runs frame by frame on media time, faster than real time. Silero's and Smart
//! Turn's answers are computed when asked and handed back at the next 20 ms frame, as a live call
//! picks them up at its next tick; the model's own inference time is measured and reported apart
//! (on a live call it adds to the latency when it exceeds the frame).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agent_runtime::call::continuation::{Continuation, TurnText};
use media_core::MediaEvent;
use media_core::analysis::endpoint::EndpointConfig;
use media_core::analysis::silero::SileroModel;
use media_core::analysis::smart_turn::SmartTurnModel;
use media_core::analysis::turn::{TurnAnswer, TurnJob, TurnModelTiming, TurnService};
use media_core::analysis::vad::{VadBackend, VadJob, VadService};
use media_core::analysis::{AnalysisRate, LiveAnalysis, LiveAnalysisConfig};
use media_core::frame::{FRAME_SAMPLES, Frame};
use ringback_testbed::voice::Voice;
use serde::Deserialize;

/// Line before the caller speaks, ms.
const LEAD_MS: u64 = 600;
/// Line after the caller's last word, ms: longer than the longest pause a turn may hold.
const TAIL_MS: u64 = 3_000;

/// Why the corpus could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TurnCorpusError {
    /// A corpus file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A corpus file is not valid.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
    /// A case is inconsistent.
    #[error("case {id}: {problem}")]
    Case {
        /// The case.
        id: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A voice could not be rendered.
    #[error("rendering case {id}: {source}")]
    Render {
        /// The case.
        id: String,
        /// Why.
        source: ringback_testbed::TestbedError,
    },
    /// A rendered file could not be read.
    #[error("reading {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        source: hound::Error,
    },
}

/// What a case tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One finished sentence.
    Complete,
    /// A sentence broken by pauses, the speaker not done.
    Pause,
    /// A backchannel while the agent speaks.
    Backchannel,
    /// A real interruption while the agent speaks.
    Interrupt,
    /// A burst of line noise while the agent speaks.
    Noise,
}

impl Kind {
    /// Whether the agent is speaking while this case's caller does.
    pub fn agent_speaking(self) -> bool {
        matches!(self, Kind::Backchannel | Kind::Interrupt | Kind::Noise)
    }
}

/// One case of the corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable id (`d-` dev, `h-` held-out).
    pub id: String,
    /// What it tests.
    pub kind: Kind,
    /// `<engine>:<name>` as [`Voice`] takes it.
    pub voice: String,
    /// Speaking rate.
    #[serde(default = "one")]
    pub rate: f32,
    /// Piper's sampling seed.
    #[serde(default)]
    pub seed: u32,
    /// Line noise: kind and SNR in dB.
    #[serde(default)]
    pub noise: Option<(String, f32)>,
    /// The caller's words, part by part.
    #[serde(default)]
    pub parts: Vec<String>,
    /// The pauses between parts, ms.
    #[serde(default)]
    pub pauses_ms: Vec<u64>,
    /// Length of a noise burst, ms.
    #[serde(default)]
    pub burst_ms: Option<u64>,
}

fn one() -> f32 {
    1.0
}

#[derive(Deserialize)]
struct File {
    case: Vec<Case>,
}

/// The corpus directory in the source tree.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("turns")
}

/// The cases of one part (`dev`, `heldout`), checked.
pub fn load(part: &str) -> Result<Vec<Case>, TurnCorpusError> {
    let path = corpus_dir().join(format!("{part}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|source| TurnCorpusError::Read {
        path: path.clone(),
        source,
    })?;
    let file: File = toml::from_str(&text).map_err(|source| TurnCorpusError::Parse { path, source })?;
    for case in &file.case {
        let problem = match case.kind {
            Kind::Noise if case.burst_ms.is_none() => Some("a noise case needs burst_ms"),
            Kind::Noise => None,
            _ if case.parts.is_empty() => Some("no parts"),
            _ if case.pauses_ms.len() + 1 != case.parts.len() => Some("one pause between each two parts"),
            Kind::Pause if case.parts.len() < 2 => Some("a pause case needs two parts or more"),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(TurnCorpusError::Case {
                id: case.id.clone(),
                problem,
            });
        }
    }
    Ok(file.case)
}

/// A case as the line carries it: 8 kHz samples and where each part's speech is.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The caller's audio, 8 kHz.
    pub samples: Vec<i16>,
    /// Each part's speech (or the burst), `[start, end)` in ms.
    pub speech: Vec<(u64, u64)>,
}

fn read_wav(path: &Path) -> Result<Vec<i16>, TurnCorpusError> {
    let wav = |source| TurnCorpusError::Wav {
        path: path.to_owned(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(wav)?;
    reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(wav)
}

fn ms_to_samples(ms: u64) -> usize {
    ms as usize * 8
}

/// Renders a case (cached by the testbed's voice renderer).
pub async fn render(case: &Case) -> Result<Rendered, TurnCorpusError> {
    let err = |source| TurnCorpusError::Render {
        id: case.id.clone(),
        source,
    };
    let mut voice = Voice::new(&case.voice);
    voice.rate = case.rate;
    voice.seed = case.seed;
    let clean = voice.clone();
    voice.noise = case.noise.as_ref().map(|(kind, snr)| (kind.clone(), *snr, 7));
    let line = |ms: u64, voice: &Voice| {
        let voice = voice.clone();
        async move {
            if voice.noise.is_none() || ms == 0 {
                return Ok(vec![0i16; ms_to_samples(ms)]);
            }
            let (path, _) = voice.render("", ms as f32 / 1000.0, false).await.map_err(err)?;
            let mut samples = read_wav(&path)?;
            samples.resize(ms_to_samples(ms), 0);
            Ok::<_, TurnCorpusError>(samples)
        }
    };
    let mut samples = line(LEAD_MS, &voice).await?;
    let mut speech = Vec::new();
    if let Some(burst_ms) = case.burst_ms {
        let start = samples.len();
        samples.extend(burst(ms_to_samples(burst_ms)));
        speech.push(((start / 8) as u64, (samples.len() / 8) as u64));
    }
    // The whole sentence is spoken at once and the pauses are cut into it at word boundaries,
    // so the words before a pause keep the tune of an unfinished sentence (rendered alone, each
    // part would end like a statement, which is not how people hesitate).
    let sentence = case.parts.join(" ");
    let (path, _) = voice.render(&sentence, 0.0, false).await.map_err(err)?;
    let audio = read_wav(&path)?;
    let (clean_path, _) = clean.render(&sentence, 0.0, false).await.map_err(err)?;
    let clean_audio = read_wav(&clean_path)?;
    let mut cuts = Vec::new();
    for i in 0..case.parts.len().saturating_sub(1) {
        let prefix = case.parts[..=i].join(" ");
        let (prefix_path, _) = clean.render(&prefix, 0.0, false).await.map_err(err)?;
        let spans = crate::corpus::voiced_spans(&read_wav(&prefix_path)?, AnalysisRate::Hz8000);
        let estimate = spans.last().map_or(0, |s| s.1);
        let floor = cuts.last().copied().unwrap_or(0);
        cuts.push(quietest_point(&clean_audio, estimate, floor));
    }
    let mut from = 0;
    for (i, &cut) in cuts.iter().chain(std::iter::once(&audio.len())).enumerate() {
        let cut = cut.min(audio.len()).max(from);
        let offset = samples.len();
        let spans = crate::corpus::voiced_spans(&clean_audio[from..cut], AnalysisRate::Hz8000);
        if let (Some(first), Some(last)) = (spans.first(), spans.last()) {
            speech.push((((offset + first.0) / 8) as u64, ((offset + last.1) / 8) as u64));
        }
        samples.extend_from_slice(&audio[from..cut]);
        if let Some(&pause) = case.pauses_ms.get(i) {
            samples.extend(line(pause, &voice).await?);
        }
        from = cut;
    }
    samples.extend(line(TAIL_MS, &voice).await?);
    Ok(Rendered { samples, speech })
}

/// The quietest 10 ms of `audio` near `estimate` (a sample index): from 250 ms before it to
/// 100 ms after, never before `floor`. Where a word boundary most likely is.
fn quietest_point(audio: &[i16], estimate: usize, floor: usize) -> usize {
    let win = 80;
    let from = estimate.saturating_sub(2_000).max(floor);
    let to = (estimate + 800).min(audio.len().saturating_sub(win));
    (from..to.max(from))
        .step_by(40)
        .min_by_key(|&i| {
            audio[i..(i + win).min(audio.len())]
                .iter()
                .map(|&s| i64::from(s) * i64::from(s))
                .sum::<i64>()
        })
        .map_or(estimate.min(audio.len()), |i| i + win / 2)
}

/// A deterministic burst of white noise at about -20 dBFS with 10 ms ramps.
fn burst(n: usize) -> Vec<i16> {
    let mut state: u32 = 0x9e37_79b9;
    let ramp = 80;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let uniform = (state as f32 / u32::MAX as f32) * 2.0 - 1.0;
            let gain = (i.min(n - 1 - i) as f32 / ramp as f32).min(1.0);
            (uniform * 5_700.0 * gain) as i16
        })
        .collect()
}

/// How the end of a turn is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// A fixed silence (the default 500 ms).
    Silence,
    /// Smart Turn at each pause, the silence rule as fallback.
    SmartTurn,
}

/// What the call's ear reported, at the media time it was decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// The caller started speaking (or barged in).
    Started {
        /// When it was reported.
        decided_ms: u64,
    },
    /// A pause inside the turn, with the turn's audio so far (speculative recognition starts).
    Paused {
        /// When it was reported.
        decided_ms: u64,
        /// Start of the speech.
        start_ms: u64,
        /// End of the speech so far.
        end_ms: u64,
        /// The audio handed to speech-to-text.
        samples_16k: Vec<i16>,
    },
    /// Speech too short to be a turn.
    Discarded {
        /// When it was reported.
        decided_ms: u64,
    },
    /// The end of a turn, with its audio.
    Turn {
        /// When it was reported.
        decided_ms: u64,
        /// Start of the speech.
        start_ms: u64,
        /// End of the speech.
        end_ms: u64,
        /// The audio handed to speech-to-text.
        samples_16k: Vec<i16>,
    },
}

/// What happened to one case under one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The turn ended before the caller's last part was over.
    pub cut_off: bool,
    /// End of the last word to the end of turn, ms (media time).
    pub latency_ms: Option<u64>,
    /// A barge-in was raised (the agent would have stopped).
    pub barge_in: bool,
    /// First speech to the barge-in, ms.
    pub barge_in_ms: Option<u64>,
    /// The barge-in came from the words of speech too short for one (see
    /// `agent_runtime::conversation::is_backchannel`), not from its length.
    pub barge_in_by_words: bool,
    /// Smart Turn inferences and their wall-clock times, ms.
    pub model_ms: Vec<f64>,
    /// Everything the ear reported.
    pub heard: Vec<Heard>,
}

impl Outcome {
    /// The audio handed to speech-to-text, turns and pauses alike, by span `(start_ms, end_ms)`:
    /// what [`answer`] needs the words of.
    pub fn heard_audio(&self) -> impl Iterator<Item = ((u64, u64), &[i16])> {
        self.heard.iter().filter_map(|h| match h {
            Heard::Turn {
                start_ms,
                end_ms,
                samples_16k,
                ..
            }
            | Heard::Paused {
                start_ms,
                end_ms,
                samples_16k,
                ..
            } => Some(((*start_ms, *end_ms), samples_16k.as_slice())),
            Heard::Started { .. } | Heard::Discarded { .. } => None,
        })
    }
}

/// When the agent would answer, once the words are in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The first turn answered does not hold the caller's last part.
    pub cut_off: bool,
    /// End of the last word to the answer's transcript being ready, ms.
    pub ready_ms: Option<u64>,
    /// What the agent answered.
    pub text: Option<String>,
}

/// The models a run uses, shared with the in-line services it hands the analysis.
#[derive(Debug, Clone)]
pub struct Models {
    silero: Arc<Mutex<SileroModel>>,
    smart_turn: Arc<Mutex<SmartTurnModel>>,
}

impl Models {
    /// Wraps loaded models.
    pub fn new(silero: SileroModel, smart_turn: SmartTurnModel) -> Self {
        Models {
            silero: Arc::new(Mutex::new(silero)),
            smart_turn: Arc::new(Mutex::new(smart_turn)),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Silero in line: an answer is computed on submit and handed back at the next poll (the next
/// frame).
#[derive(Debug)]
struct InLineVad {
    model: Arc<Mutex<SileroModel>>,
    answers: Mutex<VecDeque<VadJob>>,
}

impl VadService for InLineVad {
    fn submit(&self, mut job: VadJob) -> bool {
        if lock(&self.model).infer(std::slice::from_mut(&mut job)).is_err() {
            return false;
        }
        lock(&self.answers).push_back(job);
        true
    }

    fn try_recv(&self) -> Option<VadJob> {
        lock(&self.answers).pop_front()
    }
}

/// Smart Turn in line, timing each inference.
#[derive(Debug)]
struct InLineTurn {
    model: Arc<Mutex<SmartTurnModel>>,
    answers: Mutex<VecDeque<TurnAnswer>>,
    times_ms: Arc<Mutex<Vec<f64>>>,
}

impl TurnService for InLineTurn {
    fn submit(&self, job: TurnJob) -> bool {
        #[allow(clippy::disallowed_methods)] // the bench times the model
        let started = Instant::now();
        let complete = lock(&self.model).predict(&job.audio_16k).ok();
        lock(&self.times_ms).push(started.elapsed().as_secs_f64() * 1000.0);
        lock(&self.answers).push_back(TurnAnswer {
            seq: job.seq,
            complete,
        });
        true
    }

    fn try_recv(&self) -> Option<TurnAnswer> {
        lock(&self.answers).pop_front()
    }
}

/// The live analysis settings for `rule` (the product's defaults otherwise).
pub fn live_config(rule: Rule, timing: TurnModelTiming) -> LiveAnalysisConfig {
    let mut config = LiveAnalysisConfig::default();
    config.analyzer.amd = None;
    config.analyzer.endpoint = EndpointConfig {
        turn_model: (rule == Rule::SmartTurn).then_some(timing),
        // A sweep knob of the bench: the barge-in minimum ([media] barge_in_ms).
        barge_in_ms: std::env::var("TURN_TAKING_BARGE_IN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(EndpointConfig::default().barge_in_ms),
        ..EndpointConfig::default()
    };
    config
}

/// Runs one rendered case through a live call's analysis.
pub fn run(
    case: &Case,
    rendered: &Rendered,
    rule: Rule,
    timing: TurnModelTiming,
    models: &Models,
) -> Outcome {
    let mut live = LiveAnalysis::new(live_config(rule, timing)).expect("valid settings");
    live.attach_vad(Box::new(InLineVad {
        model: Arc::clone(&models.silero),
        answers: Mutex::new(VecDeque::new()),
    }));
    let times_ms = Arc::new(Mutex::new(Vec::new()));
    if rule == Rule::SmartTurn {
        live.attach_turn_model(Box::new(InLineTurn {
            model: Arc::clone(&models.smart_turn),
            answers: Mutex::new(VecDeque::new()),
            times_ms: Arc::clone(&times_ms),
        }));
    }
    let mut outcome = Outcome::default();
    let last_end = rendered.speech.last().map_or(0, |s| s.1);
    let first_start = rendered.speech.first().map_or(0, |s| s.0);
    live.set_agent_speaking(case.kind.agent_speaking());
    let mut frame: Frame = [0; FRAME_SAMPLES];
    for (k, chunk) in rendered.samples.chunks_exact(FRAME_SAMPLES).enumerate() {
        let at_ms = k as u64 * 20;
        frame.copy_from_slice(chunk);
        live.process(at_ms, &frame);
        let decided_ms = at_ms + 20;
        while let Some(event) = live.poll_event() {
            match event {
                MediaEvent::SpeechStarted { .. } => {
                    if case.kind.agent_speaking() && !outcome.barge_in {
                        outcome.barge_in = true;
                        outcome.barge_in_ms = Some(decided_ms.saturating_sub(first_start));
                    }
                    outcome.heard.push(Heard::Started { decided_ms });
                }
                MediaEvent::SpeechDiscarded { .. } => outcome.heard.push(Heard::Discarded { decided_ms }),
                MediaEvent::TurnPaused {
                    start_ms,
                    end_ms,
                    samples_16k,
                    ..
                } => outcome.heard.push(Heard::Paused {
                    decided_ms,
                    start_ms,
                    end_ms,
                    samples_16k,
                }),
                MediaEvent::Utterance {
                    start_ms,
                    end_ms,
                    samples_16k,
                    ..
                } => {
                    if !case.kind.agent_speaking() {
                        if decided_ms < last_end {
                            outcome.cut_off = true;
                        } else if outcome.latency_ms.is_none() {
                            outcome.latency_ms = Some(decided_ms - last_end);
                        }
                    }
                    outcome.heard.push(Heard::Turn {
                        decided_ms,
                        start_ms,
                        end_ms,
                        samples_16k,
                    });
                }
                _ => {}
            }
        }
    }
    outcome.model_ms = lock(&times_ms).clone();
    outcome
}

/// How the runtime turns transcripts into answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answering {
    /// Hold unfinished turns ([`Continuation`]); otherwise every transcript is answered at once.
    pub hold: bool,
    /// Start transcribing at each pause (one draft at a time) and use the draft when the turn
    /// ends without more speech.
    pub speculative: bool,
    /// The runtime's patience (`Continuation::with_patience`), ms.
    pub patience_ms: u64,
}

/// When the agent answers `outcome`'s turns, given the words of every span it heard (`words`:
/// `(start_ms, end_ms)` to the transcript and how long it took, for turns and pauses alike).
pub fn answer(
    rendered: &Rendered,
    outcome: &Outcome,
    words: &HashMap<(u64, u64), (String, u64)>,
    answering: Answering,
    max_pause_ms: u64,
) -> Answer {
    let Some(&(last_start, last_end)) = rendered.speech.last() else {
        return Answer::default();
    };
    // The ear's reports and the transcripts' arrivals, in time order.
    enum Step {
        Started,
        Discarded,
        Ended,
        Words(TurnText),
    }
    let mut steps: Vec<(u64, usize, Step)> = Vec::new();
    // The draft in flight: its span and when its words are ready.
    let mut draft: Option<((u64, u64), u64)> = None;
    for (i, heard) in outcome.heard.iter().enumerate() {
        match heard {
            Heard::Started { decided_ms } => steps.push((*decided_ms, i, Step::Started)),
            Heard::Discarded { decided_ms } => steps.push((*decided_ms, i, Step::Discarded)),
            Heard::Paused {
                decided_ms,
                start_ms,
                end_ms,
                ..
            } => {
                let busy = draft.is_some_and(|(_, ready)| ready > *decided_ms);
                if answering.speculative
                    && !busy
                    && let Some((_, stt_ms)) = words.get(&(*start_ms, *end_ms))
                {
                    draft = Some(((*start_ms, *end_ms), decided_ms + stt_ms));
                }
            }
            Heard::Turn {
                decided_ms,
                start_ms,
                end_ms,
                ..
            } => {
                steps.push((*decided_ms, i, Step::Ended));
                if let Some((text, stt_ms)) = words.get(&(*start_ms, *end_ms)) {
                    let ready = match draft.take() {
                        Some((span, ready)) if span == (*start_ms, *end_ms) => ready.max(*decided_ms),
                        _ => decided_ms + stt_ms,
                    };
                    let t = TurnText {
                        text: text.clone(),
                        start_ms: *start_ms,
                        end_ms: *end_ms,
                    };
                    steps.push((ready, i, Step::Words(t)));
                }
            }
        }
    }
    steps.sort_by_key(|(at, i, _)| (*at, *i));
    let hold = answering.hold;
    let mut continuation = Continuation::new(max_pause_ms).with_patience(answering.patience_ms);
    let mut answered: Option<(u64, TurnText)> = None;
    let mut tick = 0;
    for (at, _, step) in steps {
        // The runtime looks for a held turn that is due on its ticks.
        while hold && tick < at {
            if let Some(t) = continuation.due(tick) {
                answered = Some((tick, t));
                break;
            }
            tick += 100;
        }
        if answered.is_some() {
            break;
        }
        let delivered = match step {
            Step::Started => {
                continuation.caller_started();
                None
            }
            Step::Discarded => {
                continuation.caller_discarded();
                None
            }
            Step::Ended => {
                continuation.turn_ended();
                None
            }
            Step::Words(t) if hold => continuation.transcript(t, at),
            Step::Words(t) => Some(t),
        };
        if let Some(t) = delivered {
            answered = Some((at, t));
            break;
        }
    }
    if answered.is_none() && hold {
        let end = rendered.samples.len() as u64 / 8 + 10_000;
        while tick < end {
            if let Some(t) = continuation.due(tick) {
                answered = Some((tick, t));
                break;
            }
            tick += 100;
        }
    }
    match answered {
        Some((at, t)) => Answer {
            cut_off: t.end_ms < last_start,
            ready_ms: (t.end_ms >= last_start).then(|| at.saturating_sub(last_end)),
            text: Some(t.text),
        },
        None => Answer::default(),
    }
}
