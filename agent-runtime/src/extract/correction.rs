//! Self-corrections: "Tuesday, no, Wednesday", "at three, actually four", "jane at gmail, sorry,
//! jane at yahoo dot com". What follows the last correction marker is the answer; when it holds
//! no answer by itself ("no wait, yes"), the whole utterance is read.

/// Words that take back what was said before them.
const MARKERS: &[&str] = &[
    "no wait",
    "no, wait",
    "wait no",
    "wait, no",
    "actually",
    "i mean",
    "sorry",
    "scratch that",
    "make that",
    "or rather",
    "rather",
    "correction",
    "let me correct",
    "let me rephrase",
    "oops",
    "no no",
    "not that",
    "i'd say",
    "i would say",
    "on average",
    "averaged out",
    "all in all",
    "overall",
    "let's say",
    "call it",
];

/// The words after the last correction, if the caller corrected themselves.
pub fn after_correction(text: &str) -> Option<&str> {
    let lower = text.to_lowercase();
    let mut best: Option<usize> = None;
    for m in MARKERS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(m).map(|a| a + from) {
            let end = at + m.len();
            let before_ok = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let after_ok = end == lower.len() || !lower.as_bytes()[end].is_ascii_alphanumeric();
            if before_ok && after_ok && at > 0 {
                best = Some(best.map_or(end, |b: usize| b.max(end)));
            }
            from = end;
        }
    }
    // "Tuesday, no, Wednesday": a bare "no" between commas, not at the start.
    for pat in [", no, ", ", no ", " no, "] {
        if let Some(at) = lower.rfind(pat)
            && at > 0
        {
            let end = at + pat.len();
            best = Some(best.map_or(end, |b| b.max(end)));
        }
    }
    let end = best?;
    let tail = text[end..].trim_start_matches([',', '.', ' ', '-', ':']).trim();
    (!tail.is_empty()).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections() {
        assert_eq!(after_correction("Tuesday, no, Wednesday"), Some("Wednesday"));
        assert_eq!(
            after_correction("At three, actually four would be better"),
            Some("four would be better")
        );
        assert_eq!(after_correction("Monday. Sorry, I mean Friday."), Some("Friday."));
        assert_eq!(after_correction("No, I can't make it"), None);
        assert_eq!(after_correction("Yes, that works"), None);
    }
}
