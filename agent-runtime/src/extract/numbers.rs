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
    // The number as it stood before the last unit or tens word: "five hundred, five hundred"
    // is said twice, not 50,500, so a second "hundred" ends the number before its own unit.
    let mut before_last = None;
    for (i, w) in ws.iter().enumerate() {
        let w = w.as_str();
        if !any && let Ok(n) = w.parse::<u64>() {
            return Some((n, i + 1));
        }
        let next = ws.get(i + 1).map(String::as_str);
        let homophone = matches!(w, "to" | "too" | "for" | "ate" | "o" | "oh" | "a");
        let low = current % 100;
        if let Some(t) = tens(w) {
            // "eighteen seventy": a new number starts (said like a year or a price).
            if low != 0 {
                break;
            }
            before_last = Some((total + current, used));
            current += t;
        } else if let Some(u) = unit(w).filter(|_| !homophone) {
            // "twenty five" goes on; "one two" and "twelve five" do not.
            if low != 0 && !(low >= 20 && low % 10 == 0 && u < 10) {
                break;
            }
            before_last = Some((total + current, used));
            current += u;
        } else if w == "hundred" && current >= 100 {
            return before_last.filter(|&(_, n)| n > 0);
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

/// Words with hyphenated number words split ("twenty-two" -> "twenty", "two").
fn number_tokens(text: &str) -> Vec<String> {
    // "1,875": a thousands separator, not a list.
    let chars: Vec<char> = text.chars().collect();
    let text: String = chars
        .iter()
        .enumerate()
        .filter(|&(i, c)| {
            !(*c == ','
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars
                    .get(i + 1..i + 4)
                    .is_some_and(|d| d.iter().all(char::is_ascii_digit)))
        })
        .map(|(_, c)| *c)
        .collect();
    words(&text)
        .into_iter()
        .flat_map(|w| {
            let parts: Vec<&str> = w.split('-').collect();
            if parts.len() > 1 && parts.iter().all(|p| tens(p).is_some() || unit(p).is_some()) {
                parts.into_iter().map(str::to_owned).collect()
            } else {
                vec![w]
            }
        })
        .collect()
}

/// The first number in the text ("about twenty five", "25", "3.5", "$1,875", "400k"), as written
/// or in words. Pairs said the way prices and years are ("eighteen seventy-five", "two
/// forty-nine") are one number.
pub fn number(text: &str) -> Option<f64> {
    let ws = number_tokens(text);
    (0..ws.len()).find_map(|i| number_at(&ws, i).map(|(n, _)| n))
}

/// The number an answer gives: one said twice wins over the others ("we bought it three years
/// ago ... about eighteen hundred square feet. Eighteen hundred, yes."), else the first.
pub fn stated_number(text: &str) -> Option<f64> {
    let ws = number_tokens(text);
    let mut found = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        match number_at(&ws, i) {
            Some((n, used)) => {
                found.push(n);
                i += used.max(1);
            }
            None => i += 1,
        }
    }
    found
        .iter()
        .find(|n| found.iter().filter(|m| (*m - **n).abs() < f64::EPSILON).count() > 1)
        .or(found.first())
        .copied()
}

/// The number starting at `ws[i]`, and how many tokens it used.
fn number_at(ws: &[String], i: usize) -> Option<(f64, usize)> {
    {
        let w = ws[i].trim_end_matches('%').trim_start_matches('$');
        if let Ok(n) = w.replace(',', "").parse::<f64>() {
            return Some((n, 1));
        }
        if let Some(k) = w.strip_suffix('k')
            && let Ok(n) = k.replace(',', "").parse::<f64>()
        {
            return Some((n * 1000.0, 1));
        }
        if let Some((n, used)) = number_words(&ws[i..]) {
            // "eighteen seventy-five", "two forty-nine": a second group right after the first.
            let rest = &ws[i + used..];
            let pair = (1..100).contains(&n)
                && used <= 2
                && rest
                    .first()
                    .is_some_and(|w| tens(w).is_some() || unit(w).is_some_and(|u| u >= 10))
                && !ws[i..i + used].iter().any(|w| w == "hundred" || w == "thousand");
            if pair && let Some((m, more)) = number_words(rest).filter(|(m, _)| (10..100).contains(m)) {
                #[allow(clippy::cast_precision_loss)] // spoken numbers are far below 2^52
                return Some(((n * 100 + m) as f64, used + more));
            }
            #[allow(clippy::cast_precision_loss)] // spoken numbers are far below 2^52
            return Some((n as f64, used));
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
        assert_eq!(number("We're about twenty-two people."), Some(22.0));
        assert_eq!(number("around a hundred and twenty"), Some(120.0));
        assert_eq!(number("about four hundred thousand a year"), Some(400_000.0));
        assert_eq!(number("it was eighteen seventy-five"), Some(1875.0));
        assert_eq!(number("Saturday is two forty-nine."), Some(249.0));
        assert_eq!(number("$1,875.50"), Some(1875.5));
        assert_eq!(number("maybe 400k"), Some(400_000.0));
        // Said twice, not fifty thousand five hundred.
        assert_eq!(number("um... five hundred? Five hundred this week"), Some(500.0));
        assert_eq!(number("nine hundred nine hundred"), Some(900.0));
        assert_eq!(
            stated_number(
                "we bought it three years ago, about eighteen hundred square feet. Eighteen hundred, yes."
            ),
            Some(1800.0)
        );
        assert_eq!(stated_number("Two dogs, both five years old."), Some(2.0));
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
