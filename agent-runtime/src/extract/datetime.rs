//! Dates and times as people say them: "Tuesday", "tomorrow", "March 3rd", "the third of March",
//! "3/14"; "3 PM", "three thirty", "half past two", "noon". Relative dates need today's date, passed in.

use super::numbers::number_words;
use super::words;
use time::{Date, Month, Weekday};

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

/// Whether a lowercase word names a weekday or a whole month ("friday", "october").
pub fn weekday_or_month(word: &str) -> bool {
    is_weekday(word) || is_month_name(word)
}

/// Whether a lowercase word is a weekday's whole name ("friday").
pub fn is_weekday(word: &str) -> bool {
    WEEKDAYS.iter().any(|(w, _)| *w == word)
}

/// Whether a lowercase word is a month's whole name ("october", not "oct").
pub(super) fn is_month_name(word: &str) -> bool {
    month(word).is_some_and(|m| m.to_string().to_lowercase() == word)
}

/// A day of the month said as an ordinal at `ws[i]` ("sixth", "22nd", "twenty-second",
/// "twenty first"), not as a count ("3", "twenty").
pub(super) fn ordinal_day_at(ws: &[String], i: usize) -> Option<u8> {
    let spoken: Vec<String> = ws
        .get(i)?
        .split('-')
        .map(str::to_owned)
        .chain(ws[i + 1..].iter().take(1).cloned())
        .collect();
    let (day, used) = day_at(&spoken, 0)?;
    let last = &spoken[used - 1];
    ["st", "nd", "rd", "th"]
        .iter()
        .any(|s| last.ends_with(s))
        .then_some(day)
}

fn month(word: &str) -> Option<Month> {
    const MONTHS: [Month; 12] = [
        Month::January,
        Month::February,
        Month::March,
        Month::April,
        Month::May,
        Month::June,
        Month::July,
        Month::August,
        Month::September,
        Month::October,
        Month::November,
        Month::December,
    ];
    let w = word.trim_end_matches('.');
    // A whole name or a prefix of at least three letters ("Dec", "Sept"), so "marry" is not March.
    MONTHS.into_iter().find(|m| {
        let full = m.to_string().to_lowercase();
        w.len() >= 3 && full.starts_with(w)
    })
}

/// A month named alone ("May? Let's say May.", "sometime in June"), as the year and month it
/// next falls in: `None` when no month is named, or when "may" is the verb ("may I", "may be").
/// The last month named wins, so "June, no, July" is July.
pub fn month_alone(text: &str, today: Date) -> Option<(i32, Month)> {
    let ws = words(text);
    let named = ws.iter().enumerate().rev().find_map(|(i, w)| {
        let m = month(w).filter(|_| w.len() >= 3 && (w.len() >= 4 || w == "may"))?;
        let next = ws.get(i + 1).map(String::as_str).unwrap_or("");
        let verb = w == "may"
            && matches!(
                next,
                "i" | "be"
                    | "have"
                    | "we"
                    | "you"
                    | "need"
                    | "want"
                    | "not"
                    | "as"
                    | "well"
                    | "take"
                    | "come"
                    | "get"
                    | "want to"
                    | "ask"
                    | "go"
            );
        (!verb).then_some(m)
    })?;
    let year = if u8::from(named) >= u8::from(today.month()) {
        today.year()
    } else {
        today.year() + 1
    };
    Some((year, named))
}

fn ordinal_word(word: &str) -> Option<u8> {
    const ORD: [&str; 20] = [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
        "twentieth",
    ];
    if let Some(i) = ORD.iter().position(|o| *o == word) {
        return u8::try_from(i + 1).ok();
    }
    if word == "thirtieth" {
        return Some(30);
    }
    // "3rd", "21st"
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    (matches!(suffix, "st" | "nd" | "rd" | "th" | "") && !digits.is_empty())
        .then(|| digits.parse().ok())
        .flatten()
}

/// A day of the month at `ws[i..]`: "3", "3rd", "third", "twenty first"; returns (day, words used).
fn day_at(ws: &[String], i: usize) -> Option<(u8, usize)> {
    let w = ws.get(i)?.as_str();
    if let Some(d) = ordinal_word(w).filter(|d| (1..=31).contains(d)) {
        return Some((d, 1));
    }
    if matches!(w, "twenty" | "thirty") {
        let tens = if w == "twenty" { 20 } else { 30 };
        if let Some(u) = ws.get(i + 1).and_then(|n| ordinal_word(n)).filter(|u| *u < 10) {
            return Some((tens + u, 2));
        }
        return Some((tens, 1));
    }
    None
}

/// The date the caller named, relative to `today`.
pub fn date(text: &str, today: Date) -> Option<Date> {
    let ws = words(text);
    let joined = ws.join(" ");
    if joined.contains("day after tomorrow") {
        return today.checked_add(time::Duration::days(2));
    }
    for (i, w) in ws.iter().enumerate() {
        let w = w.as_str();
        match w {
            "today" | "tonight" => return Some(today),
            "tomorrow" => return today.next_day(),
            _ => {}
        }
        if let Some((_, weekday)) = WEEKDAYS.iter().find(|(name, _)| w.trim_end_matches('s') == *name) {
            let mut d = today.next_day()?;
            while d.weekday() != *weekday {
                d = d.next_day()?;
            }
            return Some(d);
        }
        // "March 3rd", "March the third"
        if let Some(m) = month(w) {
            let j = if ws.get(i + 1).is_some_and(|n| n == "the") {
                i + 2
            } else {
                i + 1
            };
            if let Some((day, used)) = day_at(&ws, j) {
                let year = ws
                    .get(j + used)
                    .and_then(|y| y.parse::<i32>().ok())
                    .filter(|y| (1900..=2200).contains(y));
                return resolve(today, year, m, day);
            }
        }
        // "the 3rd of March", "third of March"
        if let Some((day, used)) = day_at(&ws, i)
            && ws.get(i + used).is_some_and(|n| n == "of")
            && let Some(m) = ws.get(i + used + 1).and_then(|n| month(n))
        {
            return resolve(today, None, m, day);
        }
        // "3/14", "3/14/2027", "2027-03-14"
        if let Some(d) = numeric_date(w, today) {
            return Some(d);
        }
    }
    // "on the twenty-second", "the 15th": a day of this month, or of the next once it is past.
    for i in 1..ws.len() {
        // An ordinal, not a count ("the 3 of us", "the twenty").
        let Some(day) = ordinal_day_at(&ws, i).filter(|_| ws[i - 1] == "the") else {
            continue;
        };
        let this_month = Date::from_calendar_date(today.year(), today.month(), day).ok();
        if let Some(d) = this_month.filter(|d| *d >= today) {
            return Some(d);
        }
        let next = today.month().next();
        let year = if next == Month::January {
            today.year() + 1
        } else {
            today.year()
        };
        return Date::from_calendar_date(year, next, day).ok();
    }
    None
}

fn numeric_date(w: &str, today: Date) -> Option<Date> {
    if let Ok(d) = Date::parse(w, time::macros::format_description!("[year]-[month]-[day]")) {
        return Some(d);
    }
    let parts: Vec<&str> = w.split('/').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let m: u8 = parts[0].parse().ok()?;
    let d: u8 = parts[1].parse().ok()?;
    let year = parts
        .get(2)
        .and_then(|y| y.parse::<i32>().ok())
        .map(|y| if y < 100 { 2000 + y } else { y });
    resolve(today, year, Month::try_from(m).ok()?, d)
}

/// The date with that month and day: in `year` if given, else the next one on or after today.
fn resolve(today: Date, year: Option<i32>, month: Month, day: u8) -> Option<Date> {
    if let Some(y) = year {
        return Date::from_calendar_date(y, month, day).ok();
    }
    let this_year = Date::from_calendar_date(today.year(), month, day).ok()?;
    if this_year >= today {
        Some(this_year)
    } else {
        Date::from_calendar_date(today.year() + 1, month, day).ok()
    }
}

/// The time of day the caller named, as (hour 0-23, minute).
pub fn time(text: &str) -> Option<(u8, u8)> {
    let ws = words(text);
    let joined = ws.join(" ");
    if ws.iter().any(|w| w == "noon" || w == "midday") {
        return Some((12, 0));
    }
    if joined.contains("midnight") {
        return Some((0, 0));
    }
    for (i, w) in ws.iter().enumerate() {
        // "half past two", "quarter past three", "quarter to four"
        if matches!(w.as_str(), "half" | "quarter")
            && matches!(ws.get(i + 1).map(String::as_str), Some("past" | "to" | "after"))
        {
            let (hour, _) = hour_at(&ws, i + 2)?;
            let minutes = if w == "half" { 30 } else { 15 };
            let (h, m) = if ws[i + 1] == "to" {
                ((hour + 11) % 12, 60 - minutes)
            } else {
                (hour, minutes)
            };
            let suffix = meridiem(&ws[i + 3..]);
            return Some(with_meridiem(if h == 0 { 12 } else { h }, m, suffix));
        }
        // "15:00", "3:30pm"
        if let Some((h, rest)) = w.split_once(':') {
            let m = rest.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let (Ok(h), Ok(m)) = (h.parse::<u8>(), m.parse::<u8>()) else {
                continue;
            };
            if h < 24 && m < 60 {
                let suffix = meridiem_word(&rest[m.to_string().len().min(rest.len())..])
                    .or_else(|| meridiem(&ws[i + 1..]));
                return Some(if h > 12 {
                    (h, m)
                } else {
                    with_meridiem(h, m, suffix)
                });
            }
        }
        // "3 pm", "3pm", "three thirty", "three o'clock", "at 3"
        if let Some((hour, used)) = hour_at(&ws, i) {
            let rest = &ws[i + used..];
            let mut minute = 0;
            let mut after = rest;
            if let Some((m, u)) = number_words(rest).filter(|(m, _)| *m < 60) {
                minute = u8::try_from(m).unwrap_or(0);
                after = &rest[u..];
            }
            let suffix = meridiem(after)
                .or_else(|| meridiem_word(ws[i].trim_start_matches(|c: char| c.is_ascii_digit())));
            let oclock = after.first().is_some_and(|n| n == "o'clock" || n == "oclock");
            // "at 3", "around three", "after five", "by two": a time.
            let at = i > 0
                && matches!(
                    ws[i - 1].as_str(),
                    "at" | "around"
                        | "about"
                        | "after"
                        | "by"
                        | "before"
                        | "until"
                        | "till"
                        | "say"
                        | "like"
                        | "maybe"
                        | "between"
                );
            // "tonight at seven", "Thursday evening around eight": the part of the day says PM.
            let suffix = suffix.or_else(|| {
                let part = |p: &str| ws.iter().any(|w| w == p);
                if part("tonight") || part("evening") || part("afternoon") {
                    Some(Meridiem::Pm)
                } else if part("morning") {
                    Some(Meridiem::Am)
                } else {
                    None
                }
            });
            if suffix.is_some()
                || oclock
                || at
                || (minute > 0
                    && rest
                        .first()
                        .is_some_and(|n| number_words(std::slice::from_ref(n)).is_some()))
            {
                return Some(with_meridiem(hour, minute, suffix));
            }
        }
    }
    None
}

/// An hour 1-12 at `ws[i]`: "3", "3pm", "three".
fn hour_at(ws: &[String], i: usize) -> Option<(u8, usize)> {
    let w = ws.get(i)?;
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty() && digits.len() < w.len() && meridiem_word(&w[digits.len()..]).is_none() {
        return None;
    }
    let (h, used) = if digits.is_empty() {
        number_words(&ws[i..i + 1])?
    } else {
        (digits.parse::<u64>().ok()?, 1)
    };
    (1..=12)
        .contains(&h)
        .then(|| (u8::try_from(h).unwrap_or(0), used))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Meridiem {
    Am,
    Pm,
}

fn meridiem_word(w: &str) -> Option<Meridiem> {
    match w.replace('.', "").as_str() {
        "am" => Some(Meridiem::Am),
        "pm" => Some(Meridiem::Pm),
        _ => None,
    }
}

fn meridiem(rest: &[String]) -> Option<Meridiem> {
    let first = rest.first()?;
    if let Some(m) = meridiem_word(first) {
        return Some(m);
    }
    let two = rest
        .iter()
        .take(3)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if two.starts_with("in the morning") {
        Some(Meridiem::Am)
    } else if two.starts_with("in the afternoon") || two.starts_with("in the evening") {
        Some(Meridiem::Pm)
    } else {
        None
    }
}

/// 24-hour time; without am/pm, 1-7 are taken as afternoon (business hours).
fn with_meridiem(hour: u8, minute: u8, m: Option<Meridiem>) -> (u8, u8) {
    let h = match (m, hour) {
        (Some(Meridiem::Am), 12) => 0,
        (Some(Meridiem::Am), h) => h,
        (Some(Meridiem::Pm), 12) => 12,
        (Some(Meridiem::Pm), h) => h + 12,
        (None, h @ 1..=7) => h + 12,
        (None, h) => h,
    };
    (h, minute)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    // A Sunday.
    const TODAY: Date = date!(2026 - 11 - 22);

    #[test]
    fn a_month_alone() {
        assert_eq!(
            month_alone("maybe... May? Let's say May.", TODAY),
            Some((2027, Month::May))
        );
        assert_eq!(
            month_alone("sometime in December", TODAY),
            Some((2026, Month::December))
        );
        assert_eq!(month_alone("June, no, July", TODAY), Some((2027, Month::July)));
        assert_eq!(month_alone("may I ask who's calling", TODAY), None);
        assert_eq!(month_alone("that may be hard", TODAY), None);
        assert_eq!(month_alone("soon", TODAY), None);
    }

    #[test]
    fn dates() {
        assert_eq!(date("Tuesday works", TODAY), Some(date!(2026 - 11 - 24)));
        assert_eq!(date("how about next Sunday", TODAY), Some(date!(2026 - 11 - 29)));
        assert_eq!(date("tomorrow please", TODAY), Some(date!(2026 - 11 - 23)));
        assert_eq!(date("the day after tomorrow", TODAY), Some(date!(2026 - 11 - 24)));
        assert_eq!(date("March 3rd", TODAY), Some(date!(2027 - 03 - 03)));
        assert_eq!(
            date("on the twenty first of December", TODAY),
            Some(date!(2026 - 12 - 21))
        );
        assert_eq!(
            date("December the fifth 2027", TODAY),
            Some(date!(2027 - 12 - 05))
        );
        assert_eq!(date("12/24", TODAY), Some(date!(2026 - 12 - 24)));
        assert_eq!(date("2027-01-15", TODAY), Some(date!(2027 - 01 - 15)));
        assert_eq!(date("I may come", TODAY), None);
        assert_eq!(date("February 30th", TODAY), None);
        // A day of the month alone: this month's, or next month's once it has passed.
        assert_eq!(
            date("I'll pay on the twenty-second.", TODAY),
            Some(date!(2026 - 11 - 22))
        );
        assert_eq!(date("the twenty first", TODAY), Some(date!(2026 - 12 - 21)));
        assert_eq!(date("by the 30th", TODAY), Some(date!(2026 - 11 - 30)));
        assert_eq!(date("all the 3 of us", TODAY), None);
        assert_eq!(date("no idea", TODAY), None);
    }

    #[test]
    fn times() {
        assert_eq!(time("3 PM works"), Some((15, 0)));
        assert_eq!(time("Try her tomorrow around three"), Some((15, 0)));
        assert_eq!(time("tonight at eight"), Some((20, 0)));
        assert_eq!(time("around one in the afternoon"), Some((13, 0)));
        assert_eq!(time("at noon"), Some((12, 0)));
        assert_eq!(time("Thursday morning at ten"), Some((10, 0)));
        assert_eq!(time("at 3pm"), Some((15, 0)));
        assert_eq!(time("3:30 p.m."), Some((15, 30)));
        assert_eq!(time("15:45"), Some((15, 45)));
        assert_eq!(time("three thirty"), Some((15, 30)));
        assert_eq!(time("ten o'clock"), Some((10, 0)));
        assert_eq!(time("nine in the morning"), Some((9, 0)));
        assert_eq!(time("half past two"), Some((14, 30)));
        assert_eq!(time("quarter to four"), Some((15, 45)));
        assert_eq!(time("around noon"), Some((12, 0)));
        assert_eq!(time("11 am"), Some((11, 0)));
        assert_eq!(time("I have three kids"), None);
    }
}
