//! Yes or no.

use super::words;

const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "correct",
    "right",
    "absolutely",
    "definitely",
    "okay",
    "ok",
    "fine",
    "certainly",
    "works",
    "affirmative",
    "confirmed",
    "confirm",
    "indeed",
    "great",
    "perfect",
];
const NO: &[&str] = &[
    "no", "nope", "nah", "not", "never", "cannot", "can't", "cant", "won't", "wont", "don't", "dont",
    "doesn't", "doesnt", "unable", "negative", "isn't", "isnt", "wouldn't", "couldn't",
];
/// Phrases where a negative word means yes ("no problem").
const NEGATED_NEGATIVES: &[&str] = &[
    "no problem",
    "not a problem",
    "no worries",
    "why not",
    "of course",
];

/// Reactions that are not answers ("Oh no. Wednesday... okay, yeah, got it.").
const EXCLAMATIONS: &[&str] = &["oh no", "oh dear", "uh oh", "oh my", "oh boy", "oh man"];
/// Phrases that agree without a yes word ("Got it", "I'll be there", "We do").
const YES_PHRASES: &[&str] = &[
    "got it",
    "will do",
    "sounds good",
    "that works",
    "i'll be there",
    "i will be there",
    "we'll be there",
    "see you then",
    "i did",
    "i do",
    "we do",
    "we did",
    "i have",
    "we have",
    "i am",
    "i can",
    "we can",
    "i will",
    "we will",
    "of course",
    "you bet",
    "that's right",
    "that is right",
];

/// `Some(true)` for a yes, `Some(false)` for a no, `None` when unclear or both.
pub fn yes_or_no_words(text: &str) -> Option<bool> {
    let lower = text.to_lowercase().replace('\u{2019}', "'");
    let mut cleaned = lower.clone();
    for exclamation in EXCLAMATIONS {
        cleaned = cleaned.replace(exclamation, " ");
    }
    // "not right now": "right" is a time here, not agreement.
    for phrase in [
        "right now",
        "right away",
        "right here",
        "right there",
        "right after",
    ] {
        cleaned = cleaned.replace(phrase, " now ");
    }
    let mut forced_yes = false;
    for phrase in NEGATED_NEGATIVES {
        if cleaned.contains(phrase) {
            cleaned = cleaned.replace(phrase, " ");
            forced_yes = true;
        }
    }
    let ws = words(&cleaned);
    let padded = format!(" {} ", ws.join(" "));
    let phrase_yes = YES_PHRASES.iter().any(|p| padded.contains(&format!(" {p} ")));
    let positive = forced_yes || phrase_yes || ws.iter().any(|w| YES.contains(&w.as_str()));
    let negative = ws.iter().any(|w| NO.contains(&w.as_str()) || w.ends_with("n't"));
    match (positive, negative) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        // "Yes, but not Tuesday" is unclear; "No, that's fine" too.
        _ => None,
    }
}

/// Yes or no from an answer; the first word decides when it is a plain yes or no ("No, sorry, I can't").
pub fn yes_no(text: &str) -> Option<bool> {
    let ws = words(text);
    match ws.first().map(String::as_str) {
        Some("yes" | "yeah" | "yep" | "yup" | "sure" | "absolutely" | "definitely" | "correct")
            if !ws.iter().any(|w| w == "but") =>
        {
            Some(true)
        }
        Some("not")
            if ws.get(1).is_some_and(|w| {
                matches!(
                    w.as_str(),
                    "yet" | "really" | "at" | "quite" | "anymore" | "today" | "now"
                )
            }) =>
        {
            Some(false)
        }
        Some("no" | "nope" | "nah")
            if !text.to_lowercase().starts_with("no problem")
                && !text.to_lowercase().starts_with("no worries") =>
        {
            Some(false)
        }
        _ => yes_or_no_words(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        for yes in [
            "Yes.",
            "Yeah, Tuesday at three works for me.",
            "Sure thing",
            "That's correct",
            "No problem!",
            "Of course.",
            "Oh no. Wednesday, nine to one... okay, yeah, I'll let the owner know. Got it.",
            "Got it, thanks.",
            "I'll be there.",
            "We do.",
        ] {
            assert_eq!(yes_no(yes), Some(true), "{yes}");
        }
        for no in [
            "No.",
            "Nope, I can't make it.",
            "I won't be there",
            "No, sorry, that doesn't work",
            "I cannot.",
            "I don't, no.",
            "Not yet.",
            "Autopay... hmm. Um, no. Not right now.",
            "Not yet, honestly, I've been swamped. If you've got someone, Friday at ten would be great.",
        ] {
            assert_eq!(yes_no(no), Some(false), "{no}");
        }
        for unclear in ["Maybe.", "Who is this?", "Yes, but not on Tuesday", ""] {
            assert_eq!(yes_no(unclear), None, "{unclear}");
        }
    }
}
