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
    // "I don't think Saturday works": a yes word a negation governs is part of the no.
    let negated = |i: usize| {
        ws[i.saturating_sub(3)..i]
            .iter()
            .any(|w| w == "not" || w == "never" || w.ends_with("n't"))
    };
    let positive = forced_yes
        || phrase_yes
        || ws
            .iter()
            .enumerate()
            .any(|(i, w)| YES.contains(&w.as_str()) && !negated(i));
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
        _ => yes_or_no_words(text).or_else(|| first_sentence_answer(text)),
    }
}

/// The answer in a reply of several sentences whose words disagree as a whole: "Hmm, no, I
/// don't think Saturday works. Could we do Monday? And yes, I'd be trading in my Jetta." answers
/// the question with its first sentence that says yes or no; the later ones answer other things.
/// A later sentence that takes it back ("Actually ...", "Wait ...") leaves it unclear.
fn first_sentence_answer(text: &str) -> Option<bool> {
    let sentences: Vec<&str> = text
        .split_inclusive(['.', '?', '!'])
        .map(str::trim)
        .filter(|s| s.chars().any(char::is_alphabetic))
        .collect();
    if sentences.len() < 2 {
        return None;
    }
    let (at, answer) = sentences
        .iter()
        .enumerate()
        .find_map(|(i, s)| yes_or_no_words(s).map(|a| (i, a)))?;
    let taken_back = sentences[at + 1..].iter().any(|s| {
        let lower = s.to_lowercase();
        [
            "actually",
            "wait",
            "sorry",
            "i mean",
            "no wait",
            "scratch that",
            "on second thought",
        ]
        .iter()
        .any(|m| lower.starts_with(m))
    });
    (!taken_back).then_some(answer)
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
            "I don't think Friday works.",
            "Oh, um... Friday... hmm, no, I don't think Friday works anymore. Could we do Tuesday? And yes, I'd bring my old car.",
            "Not yet, honestly, I've been swamped. If you've got someone, Friday at ten would be great.",
        ] {
            assert_eq!(yes_no(no), Some(false), "{no}");
        }
        for unclear in [
            "Maybe.",
            "Who is this?",
            "Yes, but not on Tuesday",
            "",
            // Taken back: the first sentence does not decide.
            "Hmm, I don't think so. Actually, wait, yes, I can.",
        ] {
            assert_eq!(yes_no(unclear), None, "{unclear}");
        }
    }
}
