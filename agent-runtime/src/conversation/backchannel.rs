//! Backchannels: the "mm-hm", "yeah", "okay" a listener says while someone else talks, to show they
//! are following, not to take the turn.
//!
//! The endpointer does not stop the agent for speech shorter than its barge-in minimum (a cough, a
//! backchannel); such speech is still transcribed, and its words decide ([`takes_the_turn`]).
//! Short speech is where the recognizer is weakest: Whisper hears a Piper "mm-hm" as "MMA Chen."
//! So a short utterance takes the turn only when it is a sentence (three words or more, not all
//! acknowledgements) or holds a word people interrupt with ("no", "stop", "wait", "sorry", "who");
//! anything else leaves the agent talking. A "yeah" that comes at the very end of a question
//! reaches the conversation after the agent has finished, and is taken as the answer it then is.

use crate::extract::words;

/// Tokens that, alone or together, only acknowledge (Whisper's spellings included: "Mm-hmm.",
/// "Uh-huh.", "Mhm."). "Thank you" is here because Whisper writes it for a short noise too.
const TOKENS: &[&str] = &[
    "mm", "mmm", "mm-hm", "mm-hmm", "mhm", "mmhm", "mmhmm", "hm", "hmm", "uh-huh", "uh", "huh", "um", "ah",
    "oh", "yeah", "yep", "yup", "yes", "ya", "okay", "ok", "k", "right", "sure", "alright", "all", "i",
    "see", "got", "it", "cool", "great", "good", "fine", "nice", "wow", "really", "thank", "thanks", "you",
    "so", "well",
];

/// Words people cut in with: a refusal, a correction, a request to stop or to explain.
const CUES: &[&str] = &[
    "no", "nope", "not", "don't", "dont", "can't", "cant", "won't", "wrong", "stop", "wait", "hold", "hang",
    "sorry", "excuse", "pardon", "hello", "what", "who", "why", "actually", "busy", "bye", "goodbye",
    "remove", "robot", "human", "person",
];

/// Words from which short speech over the agent is a sentence rather than a mishearing.
const SENTENCE_WORDS: usize = 3;

/// Longest backchannel, in words: "oh okay I see" is one; a sentence is not.
const MAX_WORDS: usize = 4;

/// Whether `text` only acknowledges what the agent is saying. Empty text is not a backchannel
/// (nothing was heard; the caller of this decides what silence means).
pub fn is_backchannel(text: &str) -> bool {
    let words = words(text);
    !words.is_empty() && words.len() <= MAX_WORDS && words.iter().all(|w| TOKENS.contains(&w.as_str()))
}

/// Whether short speech heard over the agent (too short to have stopped it) should stop it now:
/// see the module docs.
pub fn takes_the_turn(text: &str) -> bool {
    let words = words(text);
    if words.is_empty() || is_backchannel(text) {
        return false;
    }
    words.len() >= SENTENCE_WORDS || words.iter().any(|w| CUES.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::{is_backchannel, takes_the_turn};

    #[test]
    fn short_speech_takes_the_turn_when_it_is_a_sentence_or_a_cue() {
        for text in [
            "No.",
            "Stop.",
            "Wait, what?",
            "Wrong number.",
            "Yeah, but I can't make Tuesday.",
            "Who is this?",
        ] {
            assert!(takes_the_turn(text), "{text}");
        }
        // Acknowledgements, and what the recognizer makes of them.
        for text in ["Mm-hmm.", "Okay.", "MMA Chen.", "Hmm, Tim.", ""] {
            assert!(!takes_the_turn(text), "{text}");
        }
    }

    #[test]
    fn acknowledgements_are_backchannels() {
        for text in [
            "Mm-hmm.",
            "Uh-huh.",
            "Yeah.",
            "Okay.",
            "Mhm",
            "Right, right.",
            "Oh, I see.",
            "Got it.",
            "Thank you.",
        ] {
            assert!(is_backchannel(text), "{text}");
        }
    }

    #[test]
    fn words_that_take_the_turn_are_not() {
        for text in [
            "No.",
            "Stop.",
            "Wait.",
            "Wrong number.",
            "Yeah, but I can't make Tuesday.",
            "Okay, who is this?",
            "Sorry?",
            "",
            "Yes yes yes yes yes",
        ] {
            assert!(!is_backchannel(text), "{text}");
        }
    }
}
