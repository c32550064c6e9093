//! The agent's voice: a pipeline that renders what the conversation says, sentence by sentence and in
//! order, so the first sentence plays while the rest is still being synthesized; and the bookkeeping
//! that turns the media layer's per-sentence playback reports back into one report per utterance.
//!
//! Barge-in bumps a generation counter: sentences of older generations are dropped unplayed, and every
//! utterance cut short is reported with the time actually played.

use crate::conversation::SayId;
use crate::speech::{Audio, SampleRate, TextToSpeech, resample};
use media_core::UtteranceId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Media utterance ids are `say * PARTS + part`.
const PARTS: u64 = 1000;

/// One sentence, rendered at 8 kHz for the media layer.
#[derive(Debug)]
pub struct Part {
    /// The utterance it belongs to.
    pub say: SayId,
    /// Its index within the utterance.
    pub index: usize,
    /// Whether it is the utterance's last sentence.
    pub last: bool,
    /// The audio, or why there is none.
    pub audio: Result<Audio, String>,
    /// The generation it was rendered for.
    pub generation: u64,
    /// Characters of text it covers.
    pub chars: usize,
    /// When synthesis of this sentence started and ended.
    pub rendered: (Instant, Instant),
}

struct Job {
    say: SayId,
    text: String,
    generation: u64,
}

/// Splits text into sentences for rendering one at a time.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        current.push(*c);
        let end = matches!(c, '.' | '?' | '!') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        // "Dr." and "p.m." are not ends.
        let abbreviation = *c == '.'
            && (current.trim().ends_with("Dr.")
                || current.trim().ends_with("Mr.")
                || current.trim().ends_with("Mrs.")
                || (i >= 2 && chars[i - 2] == '.'));
        if end && !abbreviation {
            let s = current.trim().to_owned();
            if !s.is_empty() {
                out.push(s);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// The rendering side: a task that takes utterances in order and yields their sentences.
#[derive(Debug)]
pub struct Voice {
    jobs: mpsc::UnboundedSender<Job>,
    generation: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Voice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Voice {
    /// Starts the pipeline. `prerendered` resolves to sentences rendered ahead of time (the greeting,
    /// while the phone rang); they are used instead of rendering again.
    pub fn start(
        tts: TextToSpeech,
        prerendered: Option<JoinHandle<Vec<(String, Audio)>>>,
    ) -> (Self, mpsc::UnboundedReceiver<Part>) {
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let (part_tx, parts) = mpsc::unbounded_channel();
        let generation = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(render(tts, job_rx, part_tx, generation.clone(), prerendered));
        (
            Self {
                jobs,
                generation,
                task,
            },
            parts,
        )
    }

    /// Queues an utterance.
    pub fn say(&self, say: SayId, text: String) {
        let generation = self.generation.load(Ordering::Acquire);
        let _ = self.jobs.send(Job {
            say,
            text,
            generation,
        });
    }

    /// Drops everything not yet rendered (barge-in).
    pub fn cut(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Renders sentences ahead of time (for the greeting while the phone rings).
pub fn prerender(tts: TextToSpeech, texts: Vec<String>) -> JoinHandle<Vec<(String, Audio)>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        for sentence in texts.iter().flat_map(|t| sentences(t)) {
            match tts.synthesize(&sentence).await {
                Ok(audio) => out.push((sentence, resample(&audio, SampleRate::HZ_8000))),
                Err(err) => tracing::warn!(%err, "pre-rendering failed; rendering on demand"),
            }
        }
        out
    })
}

async fn render(
    tts: TextToSpeech,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    parts: mpsc::UnboundedSender<Part>,
    generation: Arc<AtomicU64>,
    mut prerendered: Option<JoinHandle<Vec<(String, Audio)>>>,
) {
    let mut cache: HashMap<String, Audio> = HashMap::new();
    while let Some(job) = jobs.recv().await {
        if let Some(handle) = prerendered.take() {
            cache.extend(handle.await.unwrap_or_default());
        }
        let sentences = sentences(&job.text);
        let count = sentences.len().max(1);
        for (index, sentence) in sentences.into_iter().enumerate() {
            if generation.load(Ordering::Acquire) != job.generation {
                break;
            }
            let started = Instant::now();
            let audio = match cache.remove(&sentence) {
                Some(audio) => Ok(audio),
                None => tts
                    .synthesize(&sentence)
                    .await
                    .map(|a| resample(&a, SampleRate::HZ_8000))
                    .map_err(|e| e.to_string()),
            };
            let part = Part {
                say: job.say,
                index,
                last: index + 1 == count,
                audio,
                generation: job.generation,
                chars: sentence.chars().count(),
                rendered: (started, Instant::now()),
            };
            if parts.send(part).is_err() {
                return;
            }
        }
    }
}

/// Playback of one utterance across its sentences.
#[derive(Debug, Default)]
struct Playback {
    queued: usize,
    finished: usize,
    played_ms: u64,
    queued_ms: u64,
    queued_chars: usize,
    text_chars: usize,
    last_queued: bool,
    cut: bool,
    interrupted: bool,
}

/// An utterance that finished playing, for the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Which.
    pub say: SayId,
    /// How much was heard.
    pub played_ms: u64,
    /// Whether it was cut short.
    pub interrupted: bool,
    /// Its full length (estimated from its text when not all of it was rendered).
    pub total_ms: u64,
}

/// Tracks utterances from the conversation's `Say` to the media layer's reports.
#[derive(Debug, Default)]
pub struct Playbacks {
    active: HashMap<SayId, Playback>,
}

impl Playbacks {
    /// An utterance was asked for.
    pub fn start(&mut self, say: SayId, text: &str) {
        self.active.insert(
            say,
            Playback {
                text_chars: text.chars().count().max(1),
                ..Playback::default()
            },
        );
    }

    /// A sentence is ready; returns what to hand to the media layer, or `None` to drop it (the
    /// utterance was cut, or the sentence failed to render). `failed` is set when rendering failed.
    pub fn rendered(
        &mut self,
        part: Part,
        current_generation: u64,
        failed: &mut bool,
    ) -> Option<(UtteranceId, Vec<i16>)> {
        let playback = self.active.get_mut(&part.say)?;
        if playback.cut || part.generation != current_generation {
            return None;
        }
        match part.audio {
            Ok(audio) => {
                playback.queued += 1;
                playback.queued_ms += audio.samples.len() as u64 / 8;
                playback.queued_chars += part.chars;
                playback.last_queued |= part.last;
                Some((UtteranceId(part.say.0 * PARTS + part.index as u64), audio.samples))
            }
            Err(err) => {
                tracing::error!(%err, "speech synthesis failed");
                *failed = true;
                None
            }
        }
    }

    /// The utterance whose first part `id` is, if it is one (its first audio on the wire).
    pub fn first_part_of(id: UtteranceId) -> Option<SayId> {
        id.0.is_multiple_of(PARTS).then_some(SayId(id.0 / PARTS))
    }

    /// The media layer finished a sentence.
    pub fn played(&mut self, id: UtteranceId, played_ms: u64, interrupted: bool) -> Option<Finished> {
        let say = SayId(id.0 / PARTS);
        let playback = self.active.get_mut(&say)?;
        playback.finished += 1;
        playback.played_ms += played_ms;
        playback.interrupted |= interrupted;
        self.complete(say)
    }

    /// Barge-in: every utterance in progress is cut. Returns those already complete.
    pub fn cut_all(&mut self) -> Vec<Finished> {
        let says: Vec<SayId> = self.active.keys().copied().collect();
        for say in &says {
            if let Some(p) = self.active.get_mut(say) {
                p.cut = true;
                p.interrupted = true;
            }
        }
        says.into_iter().filter_map(|say| self.complete(say)).collect()
    }

    /// An utterance that will never play (its rendering failed).
    pub fn abandon(&mut self, say: SayId) -> Option<Finished> {
        let p = self.active.get_mut(&say)?;
        p.cut = true;
        p.interrupted = true;
        self.complete(say)
    }

    fn complete(&mut self, say: SayId) -> Option<Finished> {
        let p = self.active.get(&say)?;
        let done = p.finished == p.queued && (p.cut || p.last_queued);
        if !done {
            return None;
        }
        let p = self.active.remove(&say)?;
        let total_ms = if p.last_queued {
            p.queued_ms
        } else {
            // Not all of it was rendered: scale by how much of the text the rendered part covers.
            let rendered_chars = p.queued_chars.max(1) as u64;
            (p.queued_ms * p.text_chars as u64 / rendered_chars)
                .max(p.played_ms)
                .max(1)
        };
        Some(Finished {
            say,
            played_ms: p.played_ms,
            interrupted: p.interrupted,
            total_ms,
        })
    }

    /// Whether anything is still playing or being rendered.
    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_ends_only() {
        assert_eq!(
            sentences("Great, thank you. What is your email? Bye!"),
            vec!["Great, thank you.", "What is your email?", "Bye!"]
        );
        assert_eq!(
            sentences("See Dr. Smith at 3 p.m. on Tuesday."),
            vec!["See Dr. Smith at 3 p.m. on Tuesday."]
        );
        assert_eq!(sentences("no end"), vec!["no end"]);
    }

    fn part(say: u64, index: usize, last: bool, ms: usize) -> Part {
        #[allow(clippy::disallowed_methods)] // any instant will do
        let now = Instant::now();
        Part {
            say: SayId(say),
            index,
            last,
            audio: Ok(Audio::new(SampleRate::HZ_8000, vec![0; ms * 8])),
            generation: 0,
            chars: 10,
            rendered: (now, now),
        }
    }

    #[test]
    fn an_utterance_finishes_when_its_last_sentence_has_played() {
        let mut p = Playbacks::default();
        let mut failed = false;
        p.start(SayId(1), "One. Two.");
        let (a, _) = p
            .rendered(part(1, 0, false, 500), 0, &mut failed)
            .expect("queued");
        assert_eq!(
            p.played(a, 500, false),
            None,
            "the second sentence is still to come"
        );
        let (b, _) = p.rendered(part(1, 1, true, 700), 0, &mut failed).expect("queued");
        assert_eq!(
            p.played(b, 700, false),
            Some(Finished {
                say: SayId(1),
                played_ms: 1200,
                interrupted: false,
                total_ms: 1200
            })
        );
        assert!(p.is_idle());
    }

    #[test]
    fn a_cut_reports_what_was_played_and_drops_the_rest() {
        let mut p = Playbacks::default();
        let mut failed = false;
        p.start(SayId(2), "First sentence. Second sentence. Third one.");
        let (a, _) = p
            .rendered(part(2, 0, false, 1000), 0, &mut failed)
            .expect("queued");
        assert!(p.cut_all().is_empty(), "the first sentence has not reported yet");
        assert!(
            p.rendered(part(2, 1, false, 1000), 1, &mut failed).is_none(),
            "dropped after the cut"
        );
        let finished = p.played(a, 300, true).expect("complete");
        assert_eq!((finished.played_ms, finished.interrupted), (300, true));
        assert!(finished.total_ms >= 1000);
    }
}
