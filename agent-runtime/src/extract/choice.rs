//! A choice among the options the agent offered ("Monday at 10 AM or Tuesday at 3 PM?" ->
//! "Yes, Monday at 10 is fine."). An option is picked when the caller says its key words (its
//! weekdays, months, numbers and nouns; "at", "AM", "o'clock" may be left out), numbers said as
//! words or digits alike; when several fit, the one mentioned last wins, so self-corrections
//! ("Monday, no, Tuesday") come out right. Failing that, "the first one" / "the second" pick by
//! position, and a word that only sounds like an option's ("money" for "Monday") is a guess to
//! read back.

use super::datetime;
use super::fuzzy;
use super::numbers::number_words;
use super::words;

const ORDINALS: [&str; 6] = ["first", "second", "third", "fourth", "fifth", "sixth"];

/// Words an answer may leave out of an option.
const OPTIONAL: &[&str] = &[
    "at",
    "on",
    "the",
    "a",
    "an",
    "in",
    "am",
    "pm",
    "a.m",
    "p.m",
    "o'clock",
    "oclock",
    "of",
    "for",
    "by",
    "to",
    "with",
    "slot",
    "slots",
    "appointment",
    "time",
    "one",
    "option",
    "plan",
    "please",
];

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// The caller said the option's words.
    Sure,
    /// A guess by sound or by a partial match: read it back first.
    Guess,
}

/// Words with numbers normalized to digits ("ten" -> "10", "3pm" -> "3", "pm").
fn tokens(text: &str) -> Vec<String> {
    let ws = words(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let w = &ws[i];
        // "3-5" / "5–7 pm": a range is its two ends ("five to seven").
        if let Some((from, to)) = w.split_once(['-', '\u{2013}'])
            && !from.is_empty()
            && from.chars().all(|c| c.is_ascii_digit())
            && to.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            let to_digits: String = to.chars().take_while(char::is_ascii_digit).collect();
            out.push(from.to_owned());
            out.push(to_digits.clone());
            let rest = &to[to_digits.len()..];
            if !rest.is_empty() {
                out.push(rest.replace('.', ""));
            }
            i += 1;
            continue;
        }
        // "3pm" / "10am" / "3:30pm"
        let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '.');
        if !digits.is_empty()
            && digits.len() < w.len()
            && digits.chars().all(|c| c.is_ascii_digit() || c == ':')
        {
            out.push(digits.trim_end_matches(":00").to_owned());
            out.push(w[digits.len()..].replace('.', ""));
            i += 1;
            continue;
        }
        if let Some((n, used)) = number_words(&ws[i..]).filter(|_| !matches!(w.as_str(), "a" | "one")) {
            out.push(n.to_string());
            i += used;
            continue;
        }
        if w == "one" {
            out.push("1".to_owned());
            i += 1;
            continue;
        }
        out.push(w.trim_end_matches(":00").to_owned());
        i += 1;
    }
    out
}

/// The option picked and how sure the match is; `None` when no option fits.
pub fn choice_match(text: &str, options: &[String]) -> Option<(String, Certainty)> {
    matched(text, options, false)
}

/// The option whose every key word the caller said, in an answer to another question ("No,
/// Saturday won't work; Sunday at eight would": Sunday at 8 AM). A single shared word
/// ("Saturday" for "the following Saturday") is not enough there.
pub fn choice_stated(text: &str, options: &[String]) -> Option<String> {
    matched(text, options, true).map(|(o, _)| o)
}

fn matched(text: &str, options: &[String], only_full: bool) -> Option<(String, Certainty)> {
    let said = without_refused(tokens(text));
    // (position of the last key word said, option index)
    let mut best: Option<(usize, usize, usize)> = None; // (last position, key words, index)
    for (index, option) in options.iter().enumerate() {
        let keys: Vec<String> = tokens(option)
            .into_iter()
            .filter(|t| !OPTIONAL.contains(&t.as_str()))
            .collect();
        let keys = if keys.is_empty() { tokens(option) } else { keys };
        if keys.is_empty() {
            continue;
        }
        let positions: Option<Vec<usize>> = keys
            .iter()
            .map(|k| {
                said.iter()
                    .rposition(|s| s == k || s.trim_end_matches('s') == k.trim_end_matches('s'))
            })
            .collect();
        if let Some(positions) = positions {
            let last = positions.into_iter().max().unwrap_or(0);
            // More key words said beats fewer ("Wednesday at 1" over "Wednesday"); then the
            // later mention.
            let better = best.is_none_or(|(p, n, _)| keys.len() > n || keys.len() == n && last > p);
            if better {
                best = Some((last, keys.len(), index));
            }
        }
    }
    if let Some((_, _, index)) = best {
        // Two options with the same key words and only one said fully: still sure.
        return Some((options[index].clone(), Certainty::Sure));
    }
    if only_full {
        return None;
    }
    if let Some(pick) = by_day_of_month(text, options) {
        return Some((pick, Certainty::Sure));
    }
    if let Some(pick) = by_position(&said, options) {
        return Some((pick, Certainty::Sure));
    }
    // A partial match: a word of one option alone ("Wednesday" when the options are "Wednesday
    // at 9 AM" and "Thursday at 4 PM").
    let partial: Vec<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            let keys: Vec<String> = tokens(o)
                .into_iter()
                .filter(|t| !OPTIONAL.contains(&t.as_str()))
                .collect();
            // "not" of "not sure", "other" of "something other": words any sentence may hold.
            keys.iter().any(|k| {
                k.chars().any(char::is_alphabetic)
                    && !matches!(
                        k.as_str(),
                        "not"
                            | "no"
                            | "yes"
                            | "sure"
                            | "other"
                            | "else"
                            | "any"
                            | "some"
                            | "all"
                            | "more"
                            | "less"
                            | "just"
                            | "really"
                            | "very"
                    )
                    && said.contains(k)
            })
        })
        .map(|(i, _)| i)
        .collect();
    if partial.len() == 1 {
        return Some((options[partial[0]].clone(), Certainty::Sure));
    }
    // By sound: "money" for "Monday".
    let mut guess: Option<(f64, usize)> = None;
    for (index, option) in options.iter().enumerate() {
        for key in tokens(option)
            .iter()
            .filter(|t| !OPTIONAL.contains(&t.as_str()) && t.len() >= 3)
        {
            for s in &said {
                let score = fuzzy::sound_alike(s, key);
                if score >= 0.78 && guess.is_none_or(|(g, _)| score > g) {
                    guess = Some((score, index));
                }
            }
        }
    }
    guess.map(|(_, index)| (options[index].clone(), Certainty::Guess))
}

/// The words with each one the caller turns down blanked ("Saturday won't work", "not
/// Saturday"), so an option named only to refuse it is never picked.
fn without_refused(mut said: Vec<String>) -> Vec<String> {
    const NEGATIVE: &[&str] = &[
        "won't", "wont", "doesn't", "doesnt", "can't", "cant", "isn't", "isnt", "wouldn't", "wouldnt",
        "don't", "dont", "couldn't",
    ];
    let refused: Vec<bool> = (0..said.len())
        .map(|i| {
            let before_not = i > 0 && said[i - 1] == "not";
            // Up to three words later: "Saturday at eight won't", "Saturday is not good".
            let later = said.iter().skip(i + 1).take(3).enumerate().any(|(k, w)| {
                NEGATIVE.contains(&w.as_str())
                    || w == "not"
                        && k > 0
                        && matches!(
                            said[i + k].as_str(),
                            "is" | "does" | "will" | "would" | "can" | "do"
                        )
            });
            let content =
                said[i].chars().any(|c| c.is_alphanumeric()) && !OPTIONAL.contains(&said[i].as_str());
            content && (before_not || later)
        })
        .collect();
    for (w, r) in said.iter_mut().zip(refused) {
        if r {
            w.clear();
        }
    }
    said
}

/// The option the caller picked, when they said it plainly.
pub fn choice(text: &str, options: &[String]) -> Option<String> {
    choice_match(text, options).and_then(|(o, c)| (c == Certainty::Sure).then_some(o))
}

/// "The sixth" when the options are "June 4 at 7:30 AM" and "June 6 at 7:30 AM": the one option
/// on that day of the month.
fn by_day_of_month(text: &str, options: &[String]) -> Option<String> {
    let ws = words(text);
    let day = (0..ws.len()).find_map(|i| datetime::ordinal_day_at(&ws, i))?;
    let on_day: Vec<&String> = options
        .iter()
        .filter(|o| {
            let t = tokens(o);
            t.windows(2)
                .any(|p| datetime::is_month_name(&p[0]) && p[1].parse::<u8>().ok() == Some(day))
        })
        .collect();
    match on_day.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// "the first one", "the second option", "the last one", "the earlier one".
fn by_position(said: &[String], options: &[String]) -> Option<String> {
    if said.iter().any(|w| w == "last" || w == "latter" || w == "later") {
        return options.last().cloned();
    }
    if said.iter().any(|w| w == "former" || w == "earlier") {
        return options.first().cloned();
    }
    let ordinal = said.iter().find_map(|w| ORDINALS.iter().position(|o| o == w))?;
    options.get(ordinal).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn picks_a_date_by_its_day_of_the_month() {
        let dates = opts(&["June 4 at 7:30 AM", "June 6 at 7:30 AM"]);
        assert_eq!(choice("The sixth.", &dates), Some("June 6 at 7:30 AM".into()));
        assert_eq!(choice("the 4th please", &dates), Some("June 4 at 7:30 AM".into()));
        // No option on that day: the position still counts.
        assert_eq!(choice("the first one", &dates), Some("June 4 at 7:30 AM".into()));
    }

    #[test]
    fn a_range_is_its_two_ends() {
        let slots = opts(&["3-5 PM", "5-7 PM"]);
        assert_eq!(choice("Five to seven.", &slots), Some("5-7 PM".into()));
        assert_eq!(choice("the three to five slot", &slots), Some("3-5 PM".into()));
    }

    #[test]
    fn an_option_turned_down_is_not_picked() {
        let days = opts(&["Saturday at 8 AM", "Sunday at 8 AM"]);
        assert_eq!(
            choice("Saturday won't work. Sunday at eight.", &days),
            Some("Sunday at 8 AM".into())
        );
        assert_eq!(choice("No, Saturday won't work for us.", &days), None);
        assert_eq!(choice("not Saturday", &days), None);
        // Said in passing to another question, one shared word is not a pick.
        let later = opts(&["the following Saturday 8 AM", "Sunday 8 AM"]);
        assert_eq!(choice_stated("Oh, um, Saturday at eight... no.", &later), None);
        assert_eq!(
            choice_stated("No, but Sunday at eight would work.", &later),
            Some("Sunday 8 AM".into())
        );
        let faces = opts(&["south", "east", "west", "not sure"]);
        assert_eq!(choice("the winter's not so bad", &faces), None);
        assert_eq!(
            choice_stated(
                "The electric bill, hmm... in the summer it's brutal, the winter's not so bad. I'd say about two hundred and ten dollars a month.",
                &faces
            ),
            None
        );
    }

    #[test]
    fn picks_the_option_said() {
        let days = opts(&["Monday", "Tuesday"]);
        assert_eq!(choice("Tuesday would be better", &days), Some("Tuesday".into()));
        assert_eq!(choice("Monday, no wait, Tuesday", &days), Some("Tuesday".into()));
        assert_eq!(choice("the first one", &days), Some("Monday".into()));
        assert_eq!(choice("neither", &days), None);
        let plans = opts(&["basic plan", "premium plan"]);
        assert_eq!(
            choice("I'll take the premium plan", &plans),
            Some("premium plan".into())
        );
    }

    #[test]
    fn times_said_loosely_still_match() {
        let slots = opts(&["Monday at 10 AM", "Tuesday at 3 PM"]);
        assert_eq!(
            choice("Yes, Monday at 10 is fine.", &slots),
            Some("Monday at 10 AM".into())
        );
        assert_eq!(choice("tuesday at three", &slots), Some("Tuesday at 3 PM".into()));
        let same_day = opts(&["Wednesday at 9 AM", "Wednesday at 1 PM", "Thursday at 4 PM"]);
        assert_eq!(
            choice("Wednesday at one works", &same_day),
            Some("Wednesday at 1 PM".into())
        );
        assert_eq!(
            choice(
                "April 15 at 3 PM please",
                &opts(&["April 14 at 10 AM", "April 15 at 3 PM"])
            ),
            Some("April 15 at 3 PM".into())
        );
        assert_eq!(choice("11am", &opts(&["11am", "2pm"])), Some("11am".into()));
    }

    #[test]
    fn misheard_options_are_guesses() {
        let days = opts(&["Monday", "Thursday"]);
        assert_eq!(
            choice_match("money works", &days),
            Some(("Monday".into(), Certainty::Guess))
        );
        assert_eq!(
            choice_match("thirsty please", &days),
            Some(("Thursday".into(), Certainty::Guess))
        );
        assert_eq!(choice("money works", &days), None);
        let slots = opts(&["Wednesday at 9 AM", "Thursday at 4 PM"]);
        assert_eq!(
            choice_match("Wednesday", &slots),
            Some(("Wednesday at 9 AM".into(), Certainty::Sure))
        );
    }
}
