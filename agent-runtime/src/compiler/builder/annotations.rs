//! Notes that writers put beside a question instead of phrasing it: "(yes/no)", "y/n", "1-10",
//! "(weekly, monthly, or rarely)", "# of entry doors", "(# of employees)". They say what kind of
//! answer is wanted more reliably than the words around them, so they are taken off the text
//! before it is read and applied to the question it gives.

use super::*;

/// What the notes beside a question say about its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Annotations {
    /// The answer is one of these.
    pub options: Option<Vec<String>>,
    /// The answer is yes or no.
    pub yes_no: bool,
    /// The answer is a score on this scale.
    pub scale: Option<(u8, u8)>,
    /// The answer is a count of this ("employees"), or of the topic itself when empty.
    pub count: Option<String>,
}

impl Annotations {
    pub(super) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// "1-10", "0 - 10", "1 to 5": a bare scale.
fn bare_scale(text: &str) -> Option<(u8, u8)> {
    let t = text.trim().trim_start_matches("from ").trim();
    let (a, b) = t
        .split_once('-')
        .or_else(|| t.split_once(" to "))
        .or_else(|| t.split_once('\u{2013}'))?;
    let (a, b) = (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?);
    (a < b && b <= 100 && a <= 1).then_some((a, b))
}

fn is_yes_no_note(note: &str) -> bool {
    matches!(
        note.trim().trim_end_matches(['.', '?']).to_lowercase().as_str(),
        "yes/no" | "y/n" | "yes or no" | "y or n" | "yes / no" | "yn"
    )
}

/// Splits a parenthesized or trailing list of options ("weekly, monthly, or rarely").
fn option_list(note: &str) -> Option<Vec<String>> {
    let lower = note.to_lowercase();
    if !(note.contains(',') || lower.contains(" or ") || note.contains('/')) {
        return None;
    }
    let lower_note = note.trim().to_lowercase();
    let mut note = note.trim();
    for lead in [
        "we have ",
        "we've got ",
        "we offer ",
        "either ",
        "options: ",
        "options are ",
        "choices: ",
    ] {
        if lower_note.starts_with(lead) {
            note = &note[lead.len()..];
            break;
        }
    }
    let options: Vec<String> = note
        .split([',', '/'])
        .flat_map(|p| p.split(" or "))
        .map(|p| {
            let p = p.trim();
            p.strip_prefix("or ")
                .or_else(|| p.strip_prefix("and "))
                .unwrap_or(p)
                .trim()
                .trim_end_matches(['.', '?'])
                .to_owned()
        })
        .filter(|p| !p.is_empty() && !matches!(p.as_str(), "etc" | "other" | "etc."))
        .collect();
    let short = options.iter().all(|o| o.split_whitespace().count() <= 4);
    (options.len() >= 2 && options.len() <= 6 && short).then_some(options)
}

/// Takes the notes off `text`; returns the text without them and what they say.
pub(super) fn take(text: &str) -> (String, Annotations) {
    let mut notes = Annotations::default();
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    // Parenthesized notes.
    while let Some(open) = rest.find('(') {
        let Some(close) = rest[open..].find(')').map(|c| c + open) else {
            break;
        };
        let inner = &rest[open + 1..close];
        let lower = inner.trim().to_lowercase();
        kept.push_str(&rest[..open]);
        if is_yes_no_note(inner) {
            notes.yes_no = true;
        } else if let Some(s) =
            bare_scale(inner).or_else(|| scale_in(inner).filter(|_| lower.contains("scale")))
        {
            notes.scale = Some(s);
        } else if let Some(what) = strip_any(&lower, &["# of", "#", "number of", "how many"]) {
            notes.count = Some(what.trim().to_owned());
        } else if let Some(options) = option_list(inner) {
            notes.options = Some(options);
        } else {
            // Any other aside ("(stylist is Jess)", "(optional)") is kept out of the question.
        }
        rest = &rest[close + 1..];
    }
    kept.push_str(rest);
    // "..., yes or no", "... (yes or no)" already taken; the spelled-out tail too.
    for tail in [", yes or no", " yes or no", ", y/n", ", yes/no"] {
        let lower_kept = kept.trim_end_matches(['.', '?', ' ']).to_lowercase();
        if lower_kept.ends_with(tail) {
            let keep = kept.trim_end_matches(['.', '?', ' ']).len() - tail.len();
            kept.truncate(keep);
            notes.yes_no = true;
        }
    }
    // A scale inside a rating topic: "rating 1-10 for ease of use".
    let rating_words = ["rat", "score", "scale"];
    let kept_lower = kept.to_lowercase();
    let mut tokens: Vec<&str> = kept.split_whitespace().collect();
    if rating_words.iter().any(|w| kept_lower.contains(w))
        && let Some(at) = tokens
            .iter()
            .position(|t| bare_scale(t.trim_end_matches([',', ';', '.'])).is_some())
    {
        notes.scale = bare_scale(tokens[at].trim_end_matches([',', ';', '.']));
        tokens.remove(at);
    }
    let mut base = tokens.join(" ");
    // Trailing notes: "interested y/n", "overall stay, 1-10", "rate the doctor 1-10".
    loop {
        let trimmed = base.trim_end_matches(['.', ',', ';', ' ']).to_owned();
        let (head, last) = match trimmed.rsplit_once(' ') {
            Some((h, l)) => (h.trim_end_matches([',', ';', ':']).to_owned(), l.to_owned()),
            None => break,
        };
        if is_yes_no_note(&last) {
            notes.yes_no = true;
            base = head;
        } else if let Some(s) = bare_scale(&last) {
            notes.scale = Some(s);
            base = head;
        } else {
            base = trimmed;
            break;
        }
    }
    let lower = base.to_lowercase();
    let about = if lower.starts_with("about ") {
        "about ".len()
    } else {
        0
    };
    for lead in ["# of ", "#of ", "number of ", "no. of "] {
        if lower[about..].starts_with(lead) {
            notes.count.get_or_insert_with(String::new);
            base = format!("{}{}", &base[..about], &base[about + lead.len()..]);
            break;
        }
    }
    (base, notes)
}

/// Adjectives that a yes/no topic opens with ("interested in a free assessment").
const STATE_WORDS: &[&str] = &[
    "interested",
    "happy",
    "satisfied",
    "available",
    "ready",
    "willing",
    "able",
    "open",
    "aware",
    "comfortable",
    "still",
    "planning",
    "looking",
    "okay",
    "ok",
];

/// Verbs a yes/no topic may open with ("own a home", "need a loaner").
const TOPIC_VERBS: &[&str] = &[
    "own", "rent", "need", "want", "use", "plan", "have", "like", "know", "agree", "prefer", "expect",
    "intend", "live", "work", "drive", "accept", "qualify", "receive", "remember",
];

/// A yes/no question on a topic written as a note ("interested in a free assessment" -> "Are you
/// interested in a free assessment?"; "pets" -> "Do you have pets?").
fn yes_no_question(topic: &str) -> String {
    let t = topic.trim().trim_end_matches(['?', '.']);
    let first = words(t).into_iter().next().unwrap_or_default();
    if is_question_start(t) {
        return sentence_case(t, '?');
    }
    if STATE_WORDS.contains(&first.as_str()) {
        return sentence_case(&format!("Are you {t}"), '?');
    }
    // "resolved", "fixed", "delivered": whether the thing is.
    if first.len() > 4 && first.ends_with("ed") && !TOPIC_VERBS.contains(&first.as_str()) {
        return sentence_case(&format!("Is it {t}"), '?');
    }
    if TOPIC_VERBS.contains(&first.as_str()) {
        return sentence_case(&format!("Do you {t}"), '?');
    }
    sentence_case(&format!("Do you have {t}"), '?')
}

/// The ask a note-annotated topic gives: `ask` (read from the text without its notes) changed to
/// the kind the notes name, its question reworded to match.
pub(super) fn apply(ask: Ask, base: &str, notes: &Annotations) -> Ask {
    if notes.is_empty() {
        return ask;
    }
    let topic = topics::strip_determiners(base.trim().trim_end_matches(['.', '?', '!']));
    if let Some((min, max)) = notes.scale {
        let q_lower = ask.question.to_lowercase();
        let question = if q_lower.contains("scale") || q_lower.contains(" rate ") {
            scale_question(&ask.question, min, max)
        } else {
            let what = topic
                .trim_start_matches("rate ")
                .trim_start_matches("rating for ")
                .trim_start_matches("rating of ")
                .trim();
            let what = if what.starts_with("your ") || what.starts_with("the ") || what.starts_with("us") {
                what.to_lowercase()
            } else {
                format!("your {}", what.to_lowercase())
            };
            format!("On a scale of {min} to {max}, how would you rate {what}?")
        };
        return Ask {
            question,
            kind: FieldKind::Rating { min, max },
            name: if min == 0 && max == 10 && topic.contains("recommend") {
                "recommend_score".to_owned()
            } else {
                ask.name
            },
        };
    }
    if notes.yes_no {
        let question = if ask.kind == FieldKind::YesNo {
            ask.question
        } else {
            yes_no_question(base)
        };
        return Ask {
            question,
            kind: FieldKind::YesNo,
            name: ask.name,
        };
    }
    if let Some(what) = &notes.count {
        let what = if what.is_empty() {
            topic.clone()
        } else {
            what.clone()
        };
        let question = if ask.question.to_lowercase().starts_with("how many") {
            ask.question
        } else {
            format!("How many {what} do you have?")
        };
        return Ask {
            question,
            kind: FieldKind::Number,
            name: ask.name,
        };
    }
    if let Some(options) = &notes.options {
        let stem = ask.question.trim_end_matches(['?', '.', ' ']);
        let question = format!("{stem}: {}?", join_options(options));
        return Ask {
            question,
            kind: FieldKind::Choice {
                options: options.clone(),
            },
            name: ask.name,
        };
    }
    ask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_come_off_the_text() {
        let (base, notes) = take("how often they shop with us (weekly, monthly, or rarely)");
        assert_eq!(base, "how often they shop with us");
        assert_eq!(
            notes.options,
            Some(vec!["weekly".into(), "monthly".into(), "rarely".into()])
        );
        let (base, notes) = take("interested in a free in-home assessment y/n");
        assert_eq!(base, "interested in a free in-home assessment");
        assert!(notes.yes_no);
        let (base, notes) = take("Overall stay, 1-10");
        assert_eq!(base, "Overall stay");
        assert_eq!(notes.scale, Some((1, 10)));
        let (base, notes) = take("# of entry doors");
        assert_eq!(base, "entry doors");
        assert_eq!(notes.count.as_deref(), Some(""));
        let (base, notes) = take("company size (# of employees)");
        assert_eq!(base, "company size");
        assert_eq!(notes.count.as_deref(), Some("employees"));
        let (base, notes) = take("was the wait under 30 minutes (yes/no)");
        assert_eq!(base, "was the wait under 30 minutes");
        assert!(notes.yes_no);
        let (base, notes) = take("hair appt sat 11am (stylist is Jess)");
        assert_eq!(base, "hair appt sat 11am");
        assert!(notes.is_empty());
    }

    #[test]
    fn yes_no_topics_become_questions() {
        assert_eq!(
            yes_no_question("interested in a free in-home assessment"),
            "Are you interested in a free in-home assessment?"
        );
        assert_eq!(yes_no_question("pets"), "Do you have pets?");
        assert_eq!(yes_no_question("own a home"), "Do you own a home?");
        assert_eq!(
            yes_no_question("was the wait under 30 minutes"),
            "Was the wait under 30 minutes?"
        );
    }
}
