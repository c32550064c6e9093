//! Words heard wrong, matched to the words we expected: telephone speech recognition turns
//! "Monday" into "money" and "Thursday" into "thirsty", but only within a short list of expected
//! words (the options offered, the weekdays and months of a date question, the callee's name) is
//! a guess by sound safe. Every match made here is reported as uncertain, so the agent reads it
//! back before keeping it.

use strsim::jaro_winkler;

/// A rough sound key: the first letter, then the consonants with doubled letters and silent-ish
/// letters collapsed ("monday" -> "mnd", "money" -> "mn", "thursday" -> "trsd", "thirsty" -> "trst").
pub fn sound_key(word: &str) -> String {
    let w: String = word
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    let w = w
        .replace("th", "t")
        .replace("ph", "f")
        .replace("ck", "k")
        .replace("wh", "w")
        .replace("ch", "c");
    let mut out = String::new();
    for (i, c) in w.chars().enumerate() {
        let keep = i == 0 || !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'h' | 'w');
        let c = match c {
            'z' => 's',
            'q' => 'k',
            'v' => 'f',
            c => c,
        };
        if keep && !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

/// How much a heard word sounds like an expected one, 0 to 1; 0 when they start differently.
pub fn sound_alike(heard: &str, expected: &str) -> f64 {
    let (h, e) = (heard.to_lowercase(), expected.to_lowercase());
    if h == e {
        return 1.0;
    }
    if h.len() < 3 || e.len() < 3 || h.chars().next() != e.chars().next() {
        return 0.0;
    }
    let spelled = jaro_winkler(&h, &e);
    let (hk, ek) = (sound_key(&h), sound_key(&e));
    let sounded = jaro_winkler(&hk, &ek);
    // Both the letters and the sound skeleton must be close.
    (spelled * 0.5 + sounded * 0.5).min(spelled.max(sounded))
}

/// Whether `heard` is close enough to `expected` to offer it as a guess.
pub fn close(heard: &str, expected: &str) -> bool {
    sound_alike(heard, expected) >= 0.78
}

/// The expected word `heard` most likely was, if one is close enough.
pub fn best_match<'a>(heard: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|e| (*e, sound_alike(heard, e)))
        .filter(|(_, s)| *s >= 0.78)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misheard_weekdays_and_names() {
        let days = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        assert_eq!(best_match("money", &days), Some("monday"));
        assert_eq!(best_match("thirsty", &days), Some("thursday"));
        assert_eq!(best_match("wensday", &days), Some("wednesday"));
        assert_eq!(best_match("fryday", &days), Some("friday"));
        assert_eq!(best_match("tomorrow", &days), None);
        assert!(close("jenny", "jenni"));
        assert!(!close("time", "sam"));
    }
}
