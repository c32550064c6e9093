//! Numbers said as digits or words, digit strings ("one two three"), and phone numbers.

use super::words;

fn unit(word: &str) -> Option<u64> {
    Some(match word {
        "zero" | "oh" | "o" | "nought" => 0,
        "one" | "a" => 1,
        "two" | "to" | "too" => 2,
        "three" => 3,
        "four" | "for" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" | "ate" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens(word: &str) -> Option<u64> {
    Some(match word {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        "sixty" => 60,
        "seventy" => 70,
        "eighty" => 80,
        "ninety" => 90,
        _ => return None,
    })
}

/// Parses a run of number words ("two hundred and forty five") starting at `words[0]`; returns the
/// value and how many words it used. Homophones of digits ("to", "for", "ate") never count here, and
/// "a" only as in "a hundred".
pub(crate) fn number_words(ws: &[String]) -> Option<(u64, usize)> {
    let (mut total, mut current, mut used, mut any) = (0u64, 0u64, 0usize, false);
    for (i, w) in ws.iter().enumerate() {
        let w = w.as_str();
        if !any && let Ok(n) = w.parse::<u64>() {
            return Some((n, i + 1));
        }
        let next = ws.get(i + 1).map(String::as_str);
        let homophone = matches!(w, "to" | "too" | "for" | "ate" | "o" | "oh" | "a");
        if let Some(t) = tens(w) {
            current += t;
        } else if let Some(u) = unit(w).filter(|_| !homophone) {
            current += u;
        } else if w == "a" && !any && matches!(next, Some("hundred" | "thousand")) {
            current = 1;
        } else if w == "hundred" && any {
            current = current.max(1) * 100;
        } else if w == "thousand" && any {
            total += current.max(1) * 1000;
            current = 0;
        } else if w == "and" && any && next.is_some_and(|n| tens(n).is_some() || unit(n).is_some()) {
            // "a hundred and two"
        } else {
            break;
        }
        any = true;
        used = i + 1;
    }
    any.then_some((total + current, used))
}

/// The first number in the text ("about twenty five", "25", "3.5"), as written or in words.
pub fn number(text: &str) -> Option<f64> {
    let ws = words(text);
    for i in 0..ws.len() {
        let w = ws[i].trim_end_matches('%');
        if let Ok(n) = w.replace(',', "").parse::<f64>() {
            return Some(n);
        }
        if let Some((n, _)) = number_words(&ws[i..]) {
            #[allow(clippy::cast_precision_loss)] // spoken numbers are far below 2^52
            return Some(n as f64);
        }
    }
    None
}

/// Digits said one by one ("four one one", "4 1 1", "double five"), joined: `"411"`.
pub fn digits(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut double = 1;
    for w in words(text) {
        let w = w.as_str();
        match w {
            "double" => double = 2,
            "triple" => double = 3,
            _ if w.chars().any(|c| c.is_ascii_digit())
                && w.chars().all(|c| c.is_ascii_digit() || "-./()+".contains(c)) =>
            {
                out.extend(w.chars().filter(char::is_ascii_digit));
                double = 1;
            }
            _ => {
                let d = match w {
                    "oh" | "o" | "zero" => Some(0),
                    "to" | "too" => Some(2),
                    "for" => Some(4),
                    _ => unit(w).filter(|n| *n < 10 && w != "a"),
                };
                if let Some(d) = d {
                    for _ in 0..double {
                        out.push(char::from(b'0' + d as u8));
                    }
                    double = 1;
                } else if !out.is_empty() && !matches!(w, "dash" | "hyphen" | "space" | "then" | "and") {
                    // Digits must be consecutive: "1 2 3 and then 4" keeps going, prose stops.
                    if out.len() >= 3 {
                        break;
                    }
                    out.clear();
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A phone number: digits (7 to 15) with a `+` kept when said ("plus one five five five ...").
pub fn phone(text: &str) -> Option<String> {
    let plus = text.trim_start().starts_with('+') || words(text).first().is_some_and(|w| w == "plus");
    let d = digits(text)?;
    (7..=15)
        .contains(&d.len())
        .then(|| if plus { format!("+{d}") } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_words_and_digits() {
        assert_eq!(number("about twenty five people"), Some(25.0));
        assert_eq!(number("a hundred and two"), Some(102.0));
        assert_eq!(number("two thousand three hundred"), Some(2300.0));
        assert_eq!(number("It costs 3.5 dollars"), Some(3.5));
        assert_eq!(number("I'm going to the store"), None);
        assert_eq!(number("nothing"), None);
    }

    #[test]
    fn digit_strings() {
        assert_eq!(digits("four one one"), Some("411".into()));
        assert_eq!(digits("My code is 4 7 2 9."), Some("4729".into()));
        assert_eq!(digits("double five oh one"), Some("5501".into()));
        assert_eq!(digits("nothing here"), None);
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(
            phone("plus one five five five one two three four five six seven"),
            Some("+15551234567".into())
        );
        assert_eq!(phone("555-123-4567"), Some("5551234567".into()));
        assert_eq!(phone("call me maybe"), None);
    }
}
