//! The smallest safe binding to libespeak-ng that Piper needs: text in, IPA phonemes out, one
//! string per sentence, with the clause punctuation the voice was trained on.
//!
//! Three C functions, declared by hand (no bindgen, no build script): `espeak_Initialize` in
//! retrieval mode (no audio device), `espeak_SetVoiceByName`, and `espeak_TextToPhonemes`, which
//! translates one clause per call and advances a pointer through the text. The library keeps global
//! state and is not thread-safe, so every call goes through one process-wide lock.
//!
//! Stock espeak-ng does not report which punctuation ended a clause (Piper's own fork adds a call
//! for that), yet the voice expects `,` `.` `?` `!` among its phonemes and one inference per
//! sentence. We recover both from the text each call consumed: see [`clause_end`].
//!
//! espeak-ng is GPL-3.0; this module exists only with the `piper` feature.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::{Mutex, PoisonError};

/// `AUDIO_OUTPUT_RETRIEVAL`: no sound device; we only ask for phonemes.
const AUDIO_OUTPUT_RETRIEVAL: c_int = 1;
/// `espeakCHARS_UTF8`.
const CHARS_UTF8: c_int = 1;
/// `phonememode` bit 1: phonemes as IPA (UTF-8), no separator between them.
const PHONEMES_IPA: c_int = 2;
/// `EE_OK`.
const EE_OK: c_int = 0;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}

/// The library's global state, as far as we track it. `None` until initialized.
struct Engine {
    /// The voice last selected, so that repeated calls with one voice skip the switch.
    voice: Option<CString>,
}

/// Serializes every call into libespeak-ng, which keeps its state in globals.
static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

/// What can go wrong in the espeak-ng binding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EspeakError {
    /// `espeak_Initialize` failed, most often because `espeak-ng-data` is not installed.
    #[error("espeak-ng failed to initialize (code {code}); is espeak-ng-data installed?")]
    Initialize {
        /// The value it returned.
        code: i32,
    },
    /// No espeak-ng voice has this name.
    #[error("espeak-ng has no voice {voice:?} (code {code})")]
    UnknownVoice {
        /// The name asked for.
        voice: String,
        /// The value `espeak_SetVoiceByName` returned.
        code: i32,
    },
    /// A voice name cannot contain NUL.
    #[error("espeak-ng voice name contains a NUL byte")]
    VoiceNameNul,
    /// espeak-ng returned without moving through the text, which would loop forever.
    #[error("espeak-ng stopped advancing through the text at byte {offset}")]
    Stalled {
        /// Where it stopped.
        offset: usize,
    },
}

/// One clause as espeak-ng returned it, with the punctuation recovered from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// IPA phonemes, words separated by spaces, language-switch flags still in.
    pub phonemes: String,
    /// The clause's closing punctuation, one of `.,?!:;`, if it had one.
    pub terminator: Option<char>,
    /// Whether a sentence ends after this clause.
    pub ends_sentence: bool,
}

/// A handle on the shared espeak-ng library with one voice selected for its calls.
#[derive(Debug, Clone)]
pub struct Phonemizer {
    voice: CString,
}

impl Phonemizer {
    /// Initializes the library if nothing has yet, and checks that `voice` (for example `en-us`)
    /// exists.
    pub fn new(voice: &str) -> Result<Self, EspeakError> {
        let voice = CString::new(voice).map_err(|_| EspeakError::VoiceNameNul)?;
        let phonemizer = Self { voice };
        let mut engine = lock_engine();
        phonemizer.select(&mut engine)?;
        Ok(phonemizer)
    }

    /// Splits `text` into sentences of IPA phonemes, each with its clause punctuation, ready for
    /// the voice's phoneme-id map.
    pub fn sentences(&self, text: &str) -> Result<Vec<String>, EspeakError> {
        Ok(assemble_sentences(&self.clauses(text)?))
    }

    /// The clauses of `text` as espeak-ng splits them.
    pub fn clauses(&self, text: &str) -> Result<Vec<Clause>, EspeakError> {
        // The C side stops at the first NUL; a stray one (from a model's output, say) must not cut
        // the text short. A space in its place keeps every byte offset the same.
        let text = text.replace('\0', " ");
        let Ok(c_text) = CString::new(text.as_bytes()) else {
            unreachable!("NUL bytes were replaced above")
        };
        // Offsets are computed on addresses, so no pointer arithmetic outside the allocation.
        let base = c_text.as_ptr() as usize;
        let len = text.len();

        let mut engine = lock_engine();
        self.select(&mut engine)?;

        let mut clauses = Vec::new();
        let mut cursor: *const c_void = c_text.as_ptr().cast();
        let mut start = 0;
        while !cursor.is_null() {
            // SAFETY: the engine lock is held, the library is initialized and a voice is selected
            // (`select` above). `cursor` points into `c_text`, a NUL-terminated UTF-8 buffer that
            // outlives the call; espeak-ng only reads it and moves `cursor` forward within it, or
            // sets it to NULL at the end.
            let phonemes = unsafe { espeak_TextToPhonemes(&mut cursor, CHARS_UTF8, PHONEMES_IPA) };
            let phonemes = if phonemes.is_null() {
                String::new()
            } else {
                // SAFETY: a non-null return is a NUL-terminated string in espeak-ng's static buffer,
                // valid until the next call into the library, which the lock we hold excludes; we
                // copy it out before the next iteration.
                unsafe { CStr::from_ptr(phonemes) }.to_string_lossy().into_owned()
            };
            let read_past = !cursor.is_null();
            let end = if read_past {
                ceil_boundary(&text, (cursor as usize).wrapping_sub(base))
            } else {
                len
            };
            if read_past && end <= start {
                return Err(EspeakError::Stalled { offset: start });
            }
            // Both ends are char boundaries: `start` is the previous `end`, `end` comes from
            // `ceil_boundary` or is the length.
            let consumed = &text[start..end];
            let (terminator, ends_sentence) = clause_end(consumed, read_past);
            clauses.push(Clause {
                phonemes,
                terminator,
                ends_sentence,
            });
            start = end;
        }
        Ok(clauses)
    }

    /// Selects this phonemizer's voice, initializing the library on first use.
    fn select(&self, engine: &mut Option<Engine>) -> Result<(), EspeakError> {
        let engine = match engine {
            Some(engine) => engine,
            None => {
                // SAFETY: called once, under the engine lock; a null path means espeak-ng's default
                // data directory, and buffer length 0 its default. Retrieval mode opens no device.
                let code = unsafe { espeak_Initialize(AUDIO_OUTPUT_RETRIEVAL, 0, std::ptr::null(), 0) };
                if code < 0 {
                    return Err(EspeakError::Initialize { code });
                }
                engine.insert(Engine { voice: None })
            }
        };
        if engine.voice.as_ref() != Some(&self.voice) {
            // SAFETY: under the engine lock, after initialization; `self.voice` is NUL-terminated
            // and outlives the call, which copies what it needs.
            let code = unsafe { espeak_SetVoiceByName(self.voice.as_ptr()) };
            if code != EE_OK {
                engine.voice = None;
                return Err(EspeakError::UnknownVoice {
                    voice: self.voice.to_string_lossy().into_owned(),
                    code,
                });
            }
            engine.voice = Some(self.voice.clone());
        }
        Ok(())
    }
}

/// Takes the engine lock. A panic while it was held happened in our Rust code between C calls,
/// never inside one, so the library's state is intact and the lock can be taken over.
fn lock_engine() -> std::sync::MutexGuard<'static, Option<Engine>> {
    ENGINE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The smallest char boundary at or above `index` (at most the length), in case the cursor ever
/// lands inside a multi-byte character or past the end.
fn ceil_boundary(text: &str, index: usize) -> usize {
    (index.min(text.len())..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len())
}

/// Closing brackets and quotes that may follow a clause's punctuation (`"Yes."`, `(really!)`).
const CLOSERS: &[char] = &[
    ')', ']', '}', '"', '\'', '\u{201D}', '\u{2019}', '\u{00BB}', '\u{203A}',
];

/// Recovers a clause's closing punctuation and whether it ends a sentence, from the text that one
/// `espeak_TextToPhonemes` call consumed.
///
/// When more text follows (`read_past`), espeak-ng has read one character beyond the clause
/// (`"Hello, t"` for the clause `Hello,`): drop it. Then trim whitespace and closing
/// brackets/quotes; a final `.,?!:;` is the terminator, and `.?!` end the sentence. A blank line
/// (paragraph break) also ends the sentence, without punctuation, as espeak-ng itself treats it.
/// The end of the text ends the last sentence whatever its punctuation.
///
/// Known limit: espeak-ng also splits after abbreviations such as `Dr.`, which then ends a
/// sentence here; the voice only pauses a little longer there.
pub fn clause_end(consumed: &str, read_past: bool) -> (Option<char>, bool) {
    let mut clause = consumed;
    if read_past {
        let mut chars = clause.chars();
        chars.next_back();
        clause = chars.as_str();
    }
    let body = clause.trim_end_matches(|c: char| c.is_whitespace() || CLOSERS.contains(&c));
    let paragraph_break = clause[body.len()..].matches('\n').count() >= 2;
    let terminator = body.chars().next_back().filter(|c| ".,?!:;".contains(*c));
    let ends_sentence = !read_past || paragraph_break || matches!(terminator, Some('.' | '?' | '!'));
    (terminator, ends_sentence)
}

/// Removes espeak-ng's language-switch flags such as `(fr)` or `(en-us)` from a phoneme string;
/// they are markers for the synthesizer, not phonemes.
pub fn strip_language_flags(phonemes: &str) -> String {
    let mut out = String::with_capacity(phonemes.len());
    let mut rest = phonemes;
    while let Some(open) = rest.find('(') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(')') {
            Some(close)
                if close > 0
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                rest = &after[close + 1..];
            }
            _ => {
                out.push('(');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Joins clauses into sentences the way Piper's phonemizer does: clause phonemes, then the
/// terminator (`,` `:` `;` followed by a space), a new sentence after `.?!`.
pub fn assemble_sentences(clauses: &[Clause]) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut current = String::new();
    for clause in clauses {
        let phonemes = strip_language_flags(&clause.phonemes);
        let phonemes = phonemes.trim();
        if !phonemes.is_empty() {
            // A clause that ended without punctuation (an em dash, a long run-on) still needs a
            // word break before the next one.
            if !current.is_empty() && !current.ends_with(' ') {
                current.push(' ');
            }
            current.push_str(phonemes);
        }
        if let Some(terminator) = clause.terminator.filter(|_| !current.trim().is_empty()) {
            current.push(terminator);
            if matches!(terminator, ',' | ':' | ';') {
                current.push(' ');
            }
        }
        if clause.ends_sentence {
            push_sentence(&mut sentences, &mut current);
        }
    }
    push_sentence(&mut sentences, &mut current);
    sentences
}

fn push_sentence(sentences: &mut Vec<String>, current: &mut String) {
    let sentence = current.trim_end();
    if !sentence.is_empty() {
        sentences.push(sentence.to_owned());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_are_recovered_from_consumed_text() {
        // Consumed strings as espeak-ng 1.51 reports them for real inputs.
        assert_eq!(clause_end("Hello, t", true), (Some(','), false));
        assert_eq!(
            clause_end("his is an AI assistant calling. C", true),
            (Some('.'), true)
        );
        assert_eq!(clause_end("an you hear me?", false), (Some('?'), true));
        assert_eq!(clause_end("Wait (really)! \"", true), (Some('!'), true));
        assert_eq!(clause_end("Yes.\"", true), (Some('.'), true));
        assert_eq!(clause_end(" Then: g", true), (Some(':'), false));
        assert_eq!(clause_end("o; n", true), (Some(';'), false));
        assert_eq!(clause_end("o. \u{bf}", true), (Some('.'), true));
        assert_eq!(clause_end("osts $4.50... o", true), (Some('.'), true));
        assert_eq!(clause_end("Yes \u{2014} n", true), (None, false));
        assert_eq!(clause_end("para one\n\np", true), (None, true));
        assert_eq!(clause_end("no punct at end", false), (None, true));
        assert_eq!(clause_end("", false), (None, true));
    }

    #[test]
    fn language_flags_are_stripped() {
        assert_eq!(strip_language_flags("(fr)bɔ̃ʒuʁ(en) hˈaɪ"), "bɔ̃ʒuʁ hˈaɪ");
        assert_eq!(strip_language_flags("(en-us)a"), "a");
        assert_eq!(strip_language_flags("a(b c)d()"), "a(b c)d()");
        assert_eq!(strip_language_flags("plain"), "plain");
    }

    #[test]
    fn clauses_assemble_into_sentences_with_punctuation() {
        let clause = |phonemes: &str, terminator, ends_sentence| Clause {
            phonemes: phonemes.to_owned(),
            terminator,
            ends_sentence,
        };
        let sentences = assemble_sentences(&[
            clause("həlˈoʊ", Some(','), false),
            clause("ðɪs ɪz", Some('.'), true),
            clause("(fr)kæn(en) juː", Some('?'), true),
            clause("jˈɛs", None, false),
            clause("nˈoʊ", None, true),
            clause("", Some('.'), true),
        ]);
        assert_eq!(sentences, ["həlˈoʊ, ðɪs ɪz.", "kæn juː?", "jˈɛs nˈoʊ"]);
    }

    #[test]
    fn phonemizes_with_the_real_library() {
        let phonemizer = Phonemizer::new("en-us").expect("espeak-ng with en-us (apt libespeak-ng-dev)");
        let sentences = phonemizer
            .sentences("Hello, this is an AI assistant calling. Can you hear me?")
            .expect("phonemize");
        assert_eq!(sentences.len(), 2, "{sentences:?}");
        assert!(sentences[0].starts_with("həlˈoʊ, ðɪs"), "{sentences:?}");
        assert!(sentences[0].ends_with('.'), "{sentences:?}");
        assert!(sentences[1].ends_with('?'), "{sentences:?}");
        assert!(phonemizer.sentences("").expect("empty").is_empty());
        assert_eq!(phonemizer.sentences("nul\0byte").expect("nul").len(), 1);
    }

    #[test]
    fn unknown_voice_is_an_error() {
        let result = Phonemizer::new("no-such-voice-xx");
        assert!(
            matches!(result, Err(EspeakError::UnknownVoice { .. })),
            "{result:?}"
        );
        // The failure leaves the library usable for a good voice.
        assert!(Phonemizer::new("en-us").expect("en-us").sentences("ok.").is_ok());
    }
}
