//! Questions from instructions: a clause about the callee ("they can come on Tuesday", "what
//! problem you are trying to solve", "your company size, budget and timeline") becomes what the
//! agent asks ("Can you come on Tuesday?", "What problem are you trying to solve?") with the kind
//! of answer it expects and the field it fills.

use super::text::{capitalize, terminate, third_person_verb_base, words};
use super::topics::{self, field_name_from};
use crate::workflow::FieldKind;

/// One question to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// What the agent says.
    pub question: String,
    /// What kind of answer it takes.
    pub kind: FieldKind,
    /// The field it fills (made unique by the builder).
    pub name: String,
}

const AUX: &[&str] = &[
    "is",
    "are",
    "was",
    "were",
    "am",
    "can",
    "could",
    "will",
    "would",
    "should",
    "shall",
    "may",
    "might",
    "must",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "can't",
    "cannot",
    "won't",
    "wouldn't",
    "couldn't",
    "don't",
    "doesn't",
    "didn't",
    "isn't",
    "aren't",
    "haven't",
    "hasn't",
    "shouldn't",
];

const ADVERBS: &[&str] = &[
    "still",
    "also",
    "really",
    "already",
    "just",
    "never",
    "always",
    "ever",
    "actually",
    "definitely",
    "currently",
    "usually",
    "generally",
    "even",
    "only",
    "perhaps",
    "possibly",
    "probably",
];

const WH: &[&str] = &[
    "what", "when", "where", "which", "who", "whom", "whose", "why", "how",
];

/// Past participles that follow "have" as an auxiliary ("you have received", "have had a chance").
const PARTICIPLES: &[&str] = &[
    "sent",
    "paid",
    "gone",
    "taken",
    "given",
    "found",
    "left",
    "bought",
    "sold",
    "chosen",
    "known",
    "heard",
    "spoken",
    "written",
    "been",
    "done",
    "had",
    "got",
    "gotten",
    "seen",
    "made",
    "received",
    "paid",
    "heard",
    "found",
    "left",
    "sent",
    "bought",
    "taken",
    "given",
    "known",
    "thought",
    "spoken",
    "told",
    "come",
    "gone",
    "chosen",
    "decided",
    "finished",
    "completed",
    "scheduled",
    "booked",
    "signed",
    "set",
    "put",
    "read",
    "tried",
    "used",
    "started",
    "called",
    "emailed",
    "moved",
    "submitted",
    "filled",
    "returned",
    "registered",
    "noticed",
    "checked",
    "looked",
    "considered",
    "reviewed",
    "installed",
    "updated",
    "enjoyed",
];

/// Irregular past tenses and their base forms.
const IRREGULAR_PAST: &[(&str, &str)] = &[
    ("got", "get"),
    ("had", "have"),
    ("made", "make"),
    ("saw", "see"),
    ("went", "go"),
    ("came", "come"),
    ("paid", "pay"),
    ("heard", "hear"),
    ("found", "find"),
    ("left", "leave"),
    ("sent", "send"),
    ("bought", "buy"),
    ("took", "take"),
    ("gave", "give"),
    ("knew", "know"),
    ("thought", "think"),
    ("spoke", "speak"),
    ("told", "tell"),
    ("chose", "choose"),
    ("did", "do"),
    ("felt", "feel"),
    ("met", "meet"),
    ("kept", "keep"),
    ("lost", "lose"),
    ("sold", "sell"),
    ("won", "win"),
    ("ate", "eat"),
    ("drove", "drive"),
    ("wrote", "write"),
    ("broke", "break"),
    ("forgot", "forget"),
    ("understood", "understand"),
    ("brought", "bring"),
    ("began", "begin"),
    ("ran", "run"),
    ("read", "read"),
    ("set", "set"),
    ("put", "put"),
];

/// Base forms that end in "e" (so "received" gives "receive", not "receiv").
const E_VERBS: &[&str] = &[
    "receive",
    "like",
    "use",
    "schedule",
    "complete",
    "decide",
    "move",
    "place",
    "arrive",
    "change",
    "notice",
    "close",
    "hope",
    "share",
    "save",
    "manage",
    "promise",
    "purchase",
    "choose",
    "continue",
    "require",
    "prefer",
    "agree",
    "believe",
    "love",
    "hate",
    "serve",
    "provide",
    "include",
    "close",
    "update",
    "create",
    "invite",
    "issue",
    "resolve",
    "solve",
    "renew",
    "refinance",
    "price",
    "raise",
    "release",
    "note",
    "reserve",
    "confirm",
    "subscribe",
    "replace",
    "describe",
    "rate",
    "declare",
    "cause",
    "value",
    "locate",
    "relocate",
    "experience",
    "sense",
    "figure",
    "compare",
    "secure",
    "measure",
    "finalize",
    "realize",
    "organize",
    "observe",
    "improve",
    "approve",
    "remove",
    "argue",
    "pursue",
    "cure",
    "care",
    "dine",
    "drive",
];

/// The base form of a regular past tense ("received" -> "receive", "tried" -> "try",
/// "stopped" -> "stop"); `None` when the word does not look like one.
fn past_base(word: &str) -> Option<String> {
    if let Some((_, base)) = IRREGULAR_PAST.iter().find(|(p, _)| *p == word) {
        return Some((*base).to_owned());
    }
    let stem = word.strip_suffix("ed")?;
    if stem.len() < 2 || matches!(word, "need" | "feed" | "seed" | "speed" | "bed" | "red" | "shed") {
        return None;
    }
    if let Some(s) = word.strip_suffix("ied") {
        return Some(format!("{s}y"));
    }
    // "cancelled", "travelled": the second l is the spelling's, not the verb's ("called" keeps
    // both).
    if matches!(
        word,
        "cancelled"
            | "travelled"
            | "labelled"
            | "modelled"
            | "levelled"
            | "fuelled"
            | "signalled"
            | "totalled"
            | "channelled"
            | "counselled"
            | "marshalled"
            | "quarrelled"
    ) {
        return Some(stem[..stem.len() - 1].to_owned());
    }
    let with_e = format!("{stem}e");
    if E_VERBS.contains(&with_e.as_str()) || stem.ends_with('v') || stem.ends_with('z') {
        return Some(with_e);
    }
    let b = stem.as_bytes();
    if b.len() >= 3
        && b[b.len() - 1] == b[b.len() - 2]
        && !matches!(b[b.len() - 1], b'l' | b's' | b'f' | b'z')
    {
        return Some(stem[..stem.len() - 1].to_owned());
    }
    Some(stem.to_owned())
}

/// Expands the contractions a subject carries, so the auxiliary can move ("you're" -> "you are").
fn expand(clause: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in clause.split_whitespace() {
        let lower = w.to_lowercase();
        let (core, tail) = super::text::split_trailing_punct(&lower);
        let parts: Option<(&str, &str)> = match core {
            "you're" => Some(("you", "are")),
            "they're" => Some(("they", "are")),
            "you've" => Some(("you", "have")),
            "you'd" => Some(("you", "would")),
            "you'll" => Some(("you", "will")),
            // "it's been scheduled": has.
            "it's" if next_is_been(clause, w) => Some(("it", "has")),
            "it's" => Some(("it", "is")),
            "there's" => Some(("there", "is")),
            "that's" => Some(("that", "is")),
            "what's" => Some(("what", "is")),
            "when's" => Some(("when", "is")),
            "where's" => Some(("where", "is")),
            "who's" => Some(("who", "is")),
            "how's" => Some(("how", "is")),
            "i'm" => Some(("i", "am")),
            _ => None,
        };
        match parts {
            Some((a, b)) => {
                let a = if w.chars().next().is_some_and(char::is_uppercase) {
                    capitalize(a)
                } else {
                    a.to_owned()
                };
                out.push(a);
                out.push(format!("{b}{tail}"));
            }
            None => out.push(w.to_owned()),
        }
    }
    out
}

/// Whether the word after `word` in `clause` is "been" or "got" ("it's been", "it's got").
fn next_is_been(clause: &str, word: &str) -> bool {
    let ws: Vec<&str> = clause.split_whitespace().collect();
    ws.iter()
        .position(|w| std::ptr::eq(*w, word) || *w == word)
        .and_then(|i| ws.get(i + 1))
        .is_some_and(|n| matches!(n.to_lowercase().as_str(), "been" | "got" | "had"))
}

fn lower(w: &str) -> String {
    super::text::split_trailing_punct(w).0.to_lowercase()
}

/// Where the verb of a clause starts (after its subject), and the subject is "you".
fn verb_position(tokens: &[String]) -> Option<usize> {
    for (i, t) in tokens.iter().enumerate().skip(1) {
        let l = lower(t);
        // "10 AM" is a time, not "am".
        if l == "am" && tokens[i - 1].chars().next().is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        if AUX.contains(&l.as_str())
            || past_base(&l).is_some() && i > 0 && !l.ends_with("ed")
            || l.ends_with("ed") && l.len() > 4
            || third_person_verb_base(&l).is_some()
        {
            return Some(i);
        }
        if i == 1 && lower(&tokens[0]) == "you" {
            return Some(1);
        }
    }
    None
}

/// "you can come on Tuesday" -> "Can you come on Tuesday?"; "the time works" -> "Does the time
/// work for you?"; "you received the package" -> "Did you receive the package?"; `None` when
/// the clause has no subject and verb to invert.
pub fn invert(clause: &str) -> Option<String> {
    let tokens = expand(clause.trim().trim_end_matches(['.', '?', '!']));
    if tokens.len() < 2 {
        return None;
    }
    let first = lower(&tokens[0]);
    // "there is", "it is", "this works"
    let v = verb_position(&tokens)?;
    let subject = tokens[..v].join(" ");
    let mut rest: Vec<String> = tokens[v..].to_vec();
    // Adverbs between subject and verb stay after the subject: "you still want" -> "Do you still want".
    let mut adverbs = Vec::new();
    while rest.first().is_some_and(|w| ADVERBS.contains(&lower(w).as_str())) {
        adverbs.push(rest.remove(0));
    }
    let verb = lower(rest.first()?);
    // The word after the verb, past adverbs ("have already sent").
    let next = rest
        .iter()
        .skip(1)
        .map(|w| lower(w))
        .find(|w| {
            !matches!(
                w.as_str(),
                "already" | "just" | "never" | "ever" | "recently" | "still" | "not"
            )
        })
        .unwrap_or_default();
    let participle = |w: &str| PARTICIPLES.contains(&w) || (w.ends_with("ed") && w.len() > 4);
    let subject_lc = if first == "you" || first == "it" || first == "there" {
        subject.to_lowercase()
    } else {
        subject.clone()
    };
    let join = |aux: &str, tail: &[String]| -> String {
        let mut parts = vec![capitalize(aux), subject_lc.clone()];
        parts.extend(adverbs.iter().cloned());
        parts.extend(tail.iter().cloned());
        terminate(&parts.join(" "), '?')
    };
    let main_have = matches!(verb.as_str(), "have" | "has" | "had") && !participle(&next) && next != "to";
    if AUX.contains(&verb.as_str()) && !main_have {
        return Some(join(&verb, &rest[1..]));
    }
    if main_have {
        let aux = if verb == "had" {
            "did"
        } else if first == "you" {
            "do"
        } else {
            "does"
        };
        let mut tail = vec!["have".to_owned()];
        tail.extend(rest[1..].iter().cloned());
        return Some(join(aux, &tail));
    }
    if let Some(base) = third_person_verb_base(&verb).filter(|_| first != "you") {
        let mut tail = vec![base];
        tail.extend(rest[1..].iter().cloned());
        let mut q = join("does", &tail);
        if matches!(
            lower(tokens.last()?).as_str(),
            "works" | "work" | "suits" | "suit"
        ) {
            q = q.trim_end_matches('?').to_owned() + " for you?";
        }
        return Some(q);
    }
    if let Some(base) = past_base(&verb) {
        let mut tail = vec![base];
        tail.extend(rest[1..].iter().cloned());
        return Some(join("did", &tail));
    }
    if first == "you" && v == 1 {
        return Some(join("do", &rest));
    }
    None
}

/// "what problem you are trying to solve" -> "What problem are you trying to solve?";
/// "what time works best" -> "What time works best for you?"; `None` when it does not open with
/// a question word.
pub fn wh_question(clause: &str) -> Option<String> {
    let clause = clause.trim().trim_end_matches(['.', '?', '!']);
    // "which option he wants: pay in full or a payment plan": the question is before the colon,
    // its options after it, kept as written.
    if let Some((question, options)) = clause.split_once(": ")
        && !options.trim().is_empty()
    {
        let asked = wh_question(question)?;
        return Some(format!("{}: {}?", asked.trim_end_matches('?'), options.trim()));
    }
    // Notes leave the subject out: "how likely to recommend us", "how soon looking to move".
    let lower_clause = clause.to_lowercase();
    for (short, full) in [
        ("how likely to ", "how likely you are to "),
        ("how soon looking ", "how soon you are looking "),
        ("how soon to ", "how soon you want to "),
        ("how often visit", "how often you visit"),
    ] {
        if lower_clause.starts_with(short) {
            return wh_question(&format!("{full}{}", &clause[short.len()..]));
        }
    }
    let tokens = expand(clause);
    let wh = lower(tokens.first()?);
    if !WH.contains(&wh.as_str()) {
        return None;
    }
    // The question phrase: "what", "what problem", "how many people", "how likely", "which day".
    let mut end = 1;
    const SUBJECTS: &[&str] = &[
        "you", "your", "the", "it", "there", "this", "that", "their", "a", "an", "we", "our", "i", "my",
    ];
    while let Some(t) = tokens.get(end) {
        let l = lower(t);
        if SUBJECTS.contains(&l.as_str()) || AUX.contains(&l.as_str()) || third_person_verb_base(&l).is_some()
        {
            break;
        }
        if past_base(&l).is_some() && l.ends_with("ed") && end > 1 {
            break;
        }
        end += 1;
        if end > 4 {
            break;
        }
    }
    // "how many times a month you visit": the rate ("a month") belongs to the question phrase.
    let mut end = end.min(tokens.len());
    while tokens
        .get(end)
        .is_some_and(|t| matches!(lower(t).as_str(), "a" | "an" | "per" | "each" | "every"))
        && tokens.get(end + 1).is_some_and(|t| {
            matches!(
                lower(t).as_str(),
                "day" | "week" | "month" | "year" | "night" | "quarter"
            )
        })
    {
        end += 2;
    }
    let phrase = tokens[..end].join(" ");
    let rest = &tokens[end..];
    if rest.is_empty() {
        return Some(terminate(&capitalize(&phrase), '?'));
    }
    let head = lower(&rest[0]);
    // The question phrase is the subject: "what time works best", "how many people will attend".
    if AUX.contains(&head.as_str()) || third_person_verb_base(&head).is_some() {
        let mut q = format!("{phrase} {}", rest.join(" "));
        if matches!(lower(rest.last()?).as_str(), "best" | "better") {
            q.push_str(" for you");
        }
        return Some(terminate(&capitalize(&q), '?'));
    }
    let inverted = invert(&rest.join(" "))?;
    let inverted = inverted.trim_end_matches('?');
    let mut chars = inverted.chars();
    let lowered: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    Some(terminate(&capitalize(&format!("{phrase} {lowered}")), '?'))
}

/// Splits "A, B, and C" / "A and B" into items; binomials ("date and time", "make and model")
/// and "A or B" options stay whole.
pub fn split_list(text: &str) -> Vec<String> {
    const BINOMIALS: &[&str] = &[
        "date and time",
        "day and time",
        "make and model",
        "first and last name",
        "terms and conditions",
        "name and number",
        "size and color",
        "time and date",
        "pros and cons",
        "bed and breakfast",
        "friends and family",
        "family and friends",
        "heating and cooling",
        "dates and times",
        "year and make",
        "city and state",
        "fees and charges",
        "charges and fees",
    ];
    let mut protected = text.to_owned();
    for b in BINOMIALS {
        protected = replace_ci(&protected, b, &b.replace(" and ", " \u{1}and\u{1} "));
    }
    // Nothing inside parentheses splits a list: "(deposits, transfers, or bill pay)" is a note.
    let mut depth = 0i32;
    let protected: String = protected
        .chars()
        .map(|c| match c {
            '(' => {
                depth += 1;
                c
            }
            ')' => {
                depth -= 1;
                c
            }
            ',' if depth > 0 => '\u{3}',
            c => c,
        })
        .collect();
    let mut items = Vec::new();
    for part in protected.split(',') {
        for piece in split_and(part) {
            let piece = piece.replace(" \u{1}and\u{1} ", " and ").replace('\u{3}', ",");
            let piece = piece
                .trim()
                .trim_start_matches("and ")
                .trim_start_matches("also ")
                .trim();
            if piece.chars().any(char::is_alphanumeric) {
                items.push(piece.to_owned());
            }
        }
    }
    items
}

fn split_and(part: &str) -> Vec<String> {
    // " and " inside parentheses stays.
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth <= 0 && part[i..].starts_with(" and ") => {
                out.push(part[start..i].to_owned());
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(part[start..].to_owned());
    out
}

fn replace_ci(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    let mut out = String::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(needle).map(|a| a + from) {
        out.push_str(&text[from..at]);
        out.push_str(with);
        from = at + needle.len();
    }
    out.push_str(&text[from..]);
    out
}

/// "Monday or Tuesday", "A, B, or C", "between A and B" -> the options (2 to 6, each short).
/// The options of a list that is nothing but options ("pay in full or payment plan", the words
/// after "which option he wants:"): its first option starts the text, however many words the last
/// one has.
pub fn options_listed(list: &str) -> Option<Vec<String>> {
    options_in(&format!(": {list}"))
}

pub fn options_in(text: &str) -> Option<Vec<String>> {
    let text = text.trim().trim_end_matches(['.', '?', '!']);
    // "Which way does the roof face (south, east, west, or not sure)?": the options are what the
    // parentheses list.
    if let Some(open) = text.find('(')
        && let Some(close) = text[open..].find(')').map(|c| c + open)
    {
        let inner = &text[open + 1..close];
        let inner_lower = inner.to_lowercase();
        if (inner_lower.contains(" or ") || inner.contains('/') || inner.matches(',').count() >= 2)
            && !inner.chars().any(|c| c == '$')
        {
            let listed = if inner.contains('/') && !inner_lower.contains(" or ") && !inner.contains(',') {
                inner.replace('/', " or ")
            } else {
                inner.to_owned()
            };
            if let Some(options) = options_in(&listed) {
                return Some(options);
            }
        }
    }
    let lower = text.to_lowercase();
    let (head, last) = if let Some(at) = lower.rfind(" or ") {
        (&text[..at], &text[at + 4..])
    } else if let Some(at) = lower.find("between ") {
        let rest = &text[at + 8..];
        let split = rest.to_lowercase().find(" and ")?;
        (&rest[..split], &rest[split + 5..])
    } else {
        return None;
    };
    // "Which drink: espresso, latte or drip coffee": the options follow the colon.
    let after_colon = head.contains(": ");
    let head = head.rsplit(": ").next().unwrap_or(head);
    let head = match head.to_lowercase().rfind("between ") {
        Some(at) => &head[at + 8..],
        None => head,
    };
    let head_lower = head.to_lowercase();
    let head = ["either ", "them ", "you ", "the options ", "options "]
        .iter()
        .find_map(|p| head_lower.starts_with(p).then(|| &head[p.len()..]))
        .unwrap_or(head);
    let mut options: Vec<String> = head
        .split(',')
        .map(|s| s.trim().trim_start_matches("or ").trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let last = last
        .trim()
        .trim_end_matches(" slots")
        .trim_end_matches(" instead");
    // "video or in-person for your child's next visit": what follows the last option belongs to
    // the question, when the option would otherwise run long.
    // "Sunday at 1 PM suits her better", "Friday works for them": the verb and what follows it
    // are the question's.
    let last = [
        " suits ",
        " suit ",
        " works ",
        " work ",
        " would work",
        " would suit",
        " is better",
        " are better",
        " is best",
        " would be better",
    ]
    .iter()
    .filter_map(|v| last.to_lowercase().find(v))
    .min()
    .filter(|at| *at > 0)
    .map_or(last, |at| &last[..at]);
    let lower_last = last.to_lowercase();
    let n_last = last.split_whitespace().count();
    let cut_at: &[&str] = if n_last > 5 {
        &[
            " for ",
            " at ",
            " on ",
            " in ",
            " to ",
            " with ",
            " this ",
            " next ",
            " when ",
            " toward ",
            " towards ",
            " during ",
            " better ",
        ]
    } else if n_last > 2 {
        &[
            " for you",
            " for your ",
            " for their ",
            " toward ",
            " towards ",
            " during ",
            " better ",
        ]
    } else {
        &[]
    };
    let last = cut_at
        .iter()
        .filter_map(|p| lower_last.find(p))
        .min()
        .map_or(last, |at| &last[..at]);
    let last = trim_tails(vec![last.to_owned()]).pop().unwrap_or_default();
    let last = last.as_str();
    // "A or B" where A is the last words before "or": keep only the option words, not the verb
    // in front of them ("offer Monday or Tuesday").
    if options.len() == 1 {
        let words: Vec<&str> = options[0].split_whitespace().collect();
        let last_first = last.split_whitespace().next().unwrap_or("").to_lowercase();
        // "pay by card or by bank transfer": the option starts where its twin's first word does.
        let start = match words.iter().rposition(|w| w.to_lowercase() == last_first) {
            Some(at) if PREPOSITIONS.contains(&last_first.as_str()) => at,
            _ => {
                // As many words as the last option has, and a capitalized or numeric word before
                // them too ("Thursday morning or Friday afternoon" from "offer Thursday morning").
                let mut start = words.len().saturating_sub(last.split_whitespace().count().max(1));
                while start > 0
                    && words.len() - start < 5
                    && words[start - 1]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                    && !AUX.contains(&words[start - 1].to_lowercase().as_str())
                    && !WH.contains(&words[start - 1].to_lowercase().as_str())
                {
                    start -= 1;
                }
                start
            }
        };
        // After a colon the list starts with the first option: "which option he wants: pay in
        // full or payment plan".
        let start = if after_colon && words.len() <= 5 { 0 } else { start };
        // "Do you want to pay in full or ...", "prefer a morning or ...": the question's verb is
        // not part of the option.
        let mut option = words[start..].join(" ");
        while let Some(rest) = VERB_FRAMES
            .iter()
            .find_map(|f| {
                option
                    .to_lowercase()
                    .starts_with(f)
                    .then(|| option[f.len()..].to_owned())
            })
            .filter(|r| !r.trim().is_empty())
        {
            option = rest;
        }
        options[0] = option;
    }
    // "a morning or an afternoon visit": the noun the last option carries is every option's.
    let last = match last.rsplit_once(' ') {
        Some((first, noun))
            if options.iter().all(|o| o.split_whitespace().count() <= 2)
                && options.iter().all(|o| {
                    o.trim_start_matches("a ")
                        .trim_start_matches("an ")
                        .split_whitespace()
                        .count()
                        == 1
                })
                && first
                    .trim_start_matches("a ")
                    .trim_start_matches("an ")
                    .split_whitespace()
                    .count()
                    == 1
                && SHARED_NOUNS.contains(&noun.to_lowercase().as_str()) =>
        {
            first
        }
        _ => last,
    };
    options.push(last.to_owned());
    let shared_article = options.iter().all(|o| {
        let o = o.trim().to_lowercase();
        o.starts_with("a ") || o.starts_with("an ")
    });
    let options: Vec<String> = options
        .into_iter()
        .map(|o| {
            let o = o.trim().trim_start_matches("the ").trim_start_matches("our ");
            // "a Tuesday" is Tuesday; "a refund or a credit": an article every option shares is
            // the sentence's; "Google, Instagram, a friend" keeps its own.
            let o = match o.strip_prefix("a ").or_else(|| o.strip_prefix("an ")) {
                Some(rest)
                    if rest
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                        || shared_article =>
                {
                    rest
                }
                _ => o,
            }
            .trim();
            o.trim_end_matches(['.', ',']).to_owned()
        })
        .filter(|o| !o.is_empty())
        .collect();
    let options = trim_shared(options);
    let options = trim_tails(options);
    let short = options
        .iter()
        .all(|o| (1..=5).contains(&o.split_whitespace().count()));
    ((2..=6).contains(&options.len()) && short).then_some(options)
}

const PREPOSITIONS: &[&str] = &["by", "with", "via", "in", "on", "at", "for", "through", "over"];

/// Words of the question's verb that the words before "or" may begin with ("want to pay in full").
const VERB_FRAMES: &[&str] = &[
    "would like to ",
    "would rather ",
    "like to ",
    "want to ",
    "prefer to ",
    "need to ",
    "prefers ",
    "prefer ",
    "want ",
    "rather ",
    "choose ",
    "to ",
];

/// Nouns an either-or shares when only the last option says them ("a morning or an afternoon
/// visit").
const SHARED_NOUNS: &[&str] = &[
    "visit",
    "visits",
    "appointment",
    "appointments",
    "slot",
    "slots",
    "session",
    "sessions",
    "shift",
    "class",
    "delivery",
    "pickup",
    "meeting",
    "tour",
    "call",
    "service",
];

/// `option` with each of `tails` it ends with cut off, again and again ("Friday slots instead"
/// -> "Friday"), and with what `also` measures (a byte length at its end) cut too; a cut that
/// would leave two letters or fewer is not made.
pub fn cut_tails(option: &str, tails: &[&str], also: impl Fn(&str) -> Option<usize>) -> String {
    let mut o = option.to_owned();
    loop {
        let lower = o.to_lowercase();
        let cut = tails
            .iter()
            .find(|t| lower.ends_with(*t))
            .map(|t| t.len())
            .or_else(|| also(&lower));
        match cut {
            Some(n) if o.len() > n + 2 => o.truncate(o.len() - n),
            _ => break,
        }
        o = o.trim_end_matches(',').trim().to_owned();
    }
    o
}

/// Words after an option that say how it is meant, not what it is ("afternoons are better",
/// "5:00 PM the same day", "Friday slots", "to pay", "contest it").
fn trim_tails(options: Vec<String>) -> Vec<String> {
    const TAILS: &[&str] = &[
        " slots",
        " slot",
        " the same day",
        " same day",
        " instead",
        " are better",
        " is better",
        " would be better",
        " works better",
        " work better",
        " better for you",
        " for you",
        " better",
        " would be",
        " are",
        " is",
        " would work",
        " works",
        " that week",
        " then",
    ];
    let single_words = options
        .iter()
        .filter(|o| o.split_whitespace().count() == 1)
        .count();
    options
        .into_iter()
        .map(|o| {
            // "pay or contest it": the object is the question's, not the option's.
            let o = cut_tails(o.trim(), TAILS, |lower| {
                (single_words > 0 && (lower.ends_with(" it") || lower.ends_with(" them")))
                    .then(|| lower.len() - lower.rfind(' ').unwrap_or(0))
            });
            // "to pay or contest": the infinitive's "to" is not part of the option.
            match o.strip_prefix("to ") {
                Some(rest)
                    if !rest.is_empty() && !rest.chars().next().is_some_and(|c| c.is_ascii_digit()) =>
                {
                    rest.to_owned()
                }
                _ => o,
            }
        })
        .collect()
}

/// Drops what all options share: a leading preposition ("by card", "by bank transfer") and an
/// object only the last one carries ("rent", "own your home" -> "rent", "own").
fn trim_shared(mut options: Vec<String>) -> Vec<String> {
    let first_word = |o: &String| o.split_whitespace().next().unwrap_or("").to_lowercase();
    let lead = first_word(&options[0]);
    if PREPOSITIONS.contains(&lead.as_str())
        && options
            .iter()
            .all(|o| first_word(o) == lead && o.split_whitespace().count() > 1)
    {
        for o in &mut options {
            *o = o.split_once(' ').map_or(o.clone(), |(_, r)| r.to_owned());
        }
    }
    if let Some((last, init)) = options.split_last()
        && init.iter().all(|o| o.split_whitespace().count() == 1)
    {
        let words: Vec<&str> = last.split_whitespace().collect();
        if words.len() >= 3
            && matches!(
                words[1].to_lowercase().as_str(),
                "your" | "their" | "the" | "a" | "an" | "my" | "our" | "it"
            )
        {
            let cut = words[0].to_owned();
            let n = options.len();
            options[n - 1] = cut;
        }
    }
    options
}

/// The rating scale a question names: "from 1 to 10", "on a scale of 0-10", "out of 5", or
/// (recommendation questions) 0 to 10.
pub fn scale_in(text: &str) -> Option<(u8, u8)> {
    let ws = words(&text.replace('-', " to ").replace('/', " out of "));
    for i in 0..ws.len() {
        let n =
            |w: &str| -> Option<u8> { crate::extract::number(w).and_then(|f| u8::try_from(f as i64).ok()) };
        if matches!(ws[i].as_str(), "from" | "of" | "between")
            && let (Some(a), Some(sep), Some(b)) = (ws.get(i + 1), ws.get(i + 2), ws.get(i + 3))
            && matches!(sep.as_str(), "to" | "and" | "through")
            && let (Some(a), Some(b)) = (n(a), n(b))
            && a < b
            && b <= 100
        {
            return Some((a, b));
        }
        // "How would you rate our restoration time, 1-10?": a bare scale in a rating question.
        let rating_words = ["rate", "rating", "scale", "score", "satisf"];
        if let (Some(a), Some(sep), Some(b)) = (n(&ws[i]), ws.get(i + 1), ws.get(i + 2).and_then(|w| n(w)))
            && sep == "to"
            && a <= 1
            && matches!(b, 3 | 4 | 5 | 7 | 10)
            && rating_words.iter().any(|r| text.to_lowercase().contains(r))
        {
            return Some((a, b));
        }
        if ws[i] == "out"
            && ws.get(i + 1).is_some_and(|w| w == "of")
            && let Some(b) = ws.get(i + 2).and_then(|w| n(w))
            && (2..=100).contains(&b)
        {
            return Some((1, b));
        }
    }
    let lower = text.to_lowercase();
    if lower.contains("recommend") && (lower.contains("likely") || lower.contains("nps"))
        || lower.contains("net promoter")
        || lower.split(|c: char| !c.is_alphanumeric()).any(|w| w == "nps")
    {
        return Some((0, 10));
    }
    if lower.contains("stars") || lower.contains("star rating") {
        return Some((1, 5));
    }
    None
}

/// The kind of answer a question takes, from its words.
pub fn kind_of(question: &str) -> FieldKind {
    let q = question.to_lowercase();
    let has = |k: &str| q.contains(k);
    if has("email") || has("e-mail") {
        return FieldKind::Email;
    }
    if has("phone number")
        || has("number to reach")
        || has("callback number")
        || has("contact number")
        || has("better number")
        || has("best number")
        || has("good number")
        || has("alternate number")
        || has("cell number")
        || has("mobile number")
        || has("number where")
    {
        return FieldKind::Phone;
    }
    if let Some((min, max)) = scale_in(&q) {
        return FieldKind::Rating { min, max };
    }
    if (has("how satisfied")
        || has("how happy")
        || has("how would you rate")
        || has("rate your")
        || has("rate the"))
        && !has(" or ")
    {
        return FieldKind::Rating { min: 1, max: 5 };
    }
    let first = q
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(['?', '.', ',', '!']);
    const YES_NO: &[&str] = &[
        "can", "could", "will", "would", "do", "does", "did", "is", "are", "have", "has", "should", "may",
        "shall", "was", "were", "am",
    ];
    // "Any swelling or discharge at the incision?": whether there is any, a yes or a no. "Any
    // other comments?" asks for the comments themselves.
    if first == "any"
        && !["comment", "feedback", "suggestion", "thought", "remark", "note"]
            .iter()
            .any(|w| has(w))
    {
        return FieldKind::YesNo;
    }
    if let Some(options) = options_in(&q).filter(|o| o.len() <= 5) {
        // "Would you like A or B?" is a choice; "Is it A or B?" too. "Is anyone vegetarian or has
        // allergies?" is not: a part that opens with an auxiliary is a second predicate of one
        // yes/no question.
        let second_predicate = YES_NO.contains(&first)
            && options.iter().skip(1).any(|o| {
                o.split_whitespace().next().is_some_and(|w| {
                    matches!(
                        w,
                        "has" | "have" | "had" | "is" | "are" | "was" | "were" | "does" | "did"
                    )
                })
            });
        if !second_predicate
            && !options
                .iter()
                .any(|o| matches!(o.as_str(), "not" | "no" | "otherwise"))
        {
            return FieldKind::Choice {
                options: options_in(question).unwrap_or(options),
            };
        }
    }
    if has("what day and time")
        || has("what time and day")
        || has("good time")
        || has("best time")
        || has("when would be")
        || has("when works")
        || has("when would work")
        || has("when is a good")
        || has("when can we")
        || has("when would you like")
        || has("when are you available")
        || has("day and time")
        || has("date and time")
        || has("when should we")
        || has("when could we")
    {
        return FieldKind::DateTime;
    }
    if has("what time") || has("which time") || has("what hour") || has("time works") || has("time of day") {
        return FieldKind::Time;
    }
    if has("what date")
        || has("which day")
        || has("what day")
        || has("which date")
        || has("birthday")
        || has("date of")
        || has("when do you expect")
        || has("when will you")
        || has("when can you")
        || has("when do you plan")
        || has("when did you")
        || has("what is the date")
        || has("move-in")
    {
        return FieldKind::Date;
    }
    if has("how many")
        || has("how much")
        || has("how long did you wait")
        || has("how long was the wait")
        || has("how long did it take")
        || has("number of")
        || has("how old")
        || has("how long have")
        || has("how large")
        || has("how big")
        || has("square feet")
        || has("square footage")
    {
        return FieldKind::Number;
    }
    if has("account number")
        || has("zip")
        || has("postal code")
        || has(" pin")
        || has("digits")
        || has(" code")
        || has("order number")
        || has("confirmation number")
        || has("policy number")
        || has("member id")
        || has("invoice number")
    {
        return FieldKind::Digits;
    }
    if YES_NO.contains(&first) {
        return FieldKind::YesNo;
    }
    // "What is the nightly rate?", "What's your current balance?": the topic's head decides.
    for lead in ["what is ", "what's ", "what are ", "what was ", "what would be "] {
        if let Some(np) = q.strip_prefix(lead) {
            let np = np.trim_end_matches(['?', '.']);
            if numeric_topic(np) {
                return FieldKind::Number;
            }
            if date_topic(np) {
                return FieldKind::Date;
            }
        }
    }
    // A bare label for a question ("Renewal date?", "Budget?", "Number of employees?").
    let bare = q.trim_end_matches(['?', '.', ':']).trim();
    if bare.split_whitespace().count() <= 4 && !looks_like_words_with_verb(bare) {
        if date_topic(bare) {
            return FieldKind::Date;
        }
        if numeric_topic(bare) {
            return FieldKind::Number;
        }
    }
    // "When is the payment due?", "When does the replacement arrive?"
    if first == "when" {
        return if has("time") || has("what hour") {
            FieldKind::DateTime
        } else {
            FieldKind::Date
        };
    }
    FieldKind::Text
}

/// A field name from a question's content words.
pub fn name_of(question: &str, kind: &FieldKind) -> String {
    match kind {
        FieldKind::Email => return "email".to_owned(),
        FieldKind::Phone => return "phone".to_owned(),
        FieldKind::Rating { min: 0, max: 10 } if question.to_lowercase().contains("recommend") => {
            return "recommend_score".to_owned();
        }
        FieldKind::Rating { .. } => return "rating".to_owned(),
        _ => {}
    }
    field_name_from(question)
}

/// A question asking for a noun phrase ("your company size" -> "How many people work at your
/// company?"), by topic when it is a known one.
pub fn ask_for(np: &str) -> Ask {
    let np = np.trim().trim_end_matches(['.', '?', '!', ',']).trim();
    if let Some(ask) = date_by_clause(np) {
        return ask;
    }
    if let Some(q) = wh_question(np) {
        // "why my bill went up" asks for a reason, whatever the bill is.
        let lower = q.to_lowercase();
        let open_question = lower.starts_with("why")
            || lower.starts_with("how ")
                && ![
                    "how many",
                    "how much",
                    "how long",
                    "how old",
                    "how likely",
                    "how large",
                    "how big",
                ]
                .iter()
                .any(|p| lower.starts_with(p));
        // "how many times a month they visit" is a count, whatever topic "visit" suggests.
        let counting =
            lower.starts_with("how many") || lower.starts_with("how much") || lower.starts_with("how often");
        let topic =
            topics::lookup(np).filter(|t| !open_question && (!counting || t.kind == FieldKind::Number));
        let kind = topic.as_ref().map_or_else(|| kind_of(&q), |t| t.kind.clone());
        let name = topic.map_or_else(|| name_of(&q, &kind), |t| t.name);
        return Ask {
            question: q,
            kind,
            name,
        };
    }
    if let Some(t) = topics::lookup(np) {
        // "the earliest day and time they have": the topic's kind, the prompt's own words.
        let lower_np = np.to_lowercase();
        let question = if [
            "earliest",
            "soonest",
            "next available",
            "first available",
            "latest",
            "cheapest",
            "lowest",
            "highest",
        ]
        .iter()
        .any(|k| lower_np.contains(k))
        {
            let np = if lower_np.starts_with("the ") || lower_np.starts_with("your ") {
                np.to_owned()
            } else {
                format!("the {np}")
            };
            format!("What is {np}?")
        } else {
            t.question
        };
        return Ask {
            question,
            kind: t.kind,
            name: t.name,
        };
    }
    if let Some((min, max)) = scale_in(np) {
        let what = np
            .split(" from ")
            .next()
            .unwrap_or(np)
            .split(" on a scale")
            .next()
            .unwrap_or(np)
            .trim();
        let what = topics::strip_determiners(what);
        let what = what
            .trim_start_matches("rating for ")
            .trim_start_matches("rating of ")
            .trim_start_matches("rating");
        let what = if what.trim().is_empty() {
            "your experience".to_owned()
        } else {
            format!("your {}", what.trim())
        };
        return Ask {
            question: format!("On a scale of {min} to {max}, how would you rate {what}?"),
            kind: FieldKind::Rating { min, max },
            name: "rating".to_owned(),
        };
    }
    let bare = topics::strip_determiners(np);
    let lower = bare.to_lowercase();
    // "own or rent", "weekly, monthly, or rarely": the options are the whole topic.
    if let Some(options) = options_in(np).filter(|o| {
        (2..=5).contains(&o.len())
            && o.iter().all(|x| x.split_whitespace().count() <= 3)
            && o.iter().map(|x| x.len() + 4).sum::<usize>() + 4 >= np.len()
    }) {
        let verbs = options.iter().all(|o| {
            matches!(
                o.to_lowercase().as_str(),
                "own" | "rent" | "lease" | "buy" | "finance"
            )
        });
        let question = if verbs {
            format!("Do you {}?", options.join(" or "))
        } else {
            format!("Would you say {}?", options.join(" or "))
        };
        return Ask {
            name: field_name_from(&bare),
            question,
            kind: FieldKind::Choice { options },
        };
    }
    let question = if lower.starts_with("any ") {
        format!("Do you have {bare}?")
    } else if np.to_lowercase().starts_with("your ") || !looks_like_words_with_verb(&lower) {
        // The head noun is the last word before a preposition: "child's age in months" is one age.
        let head = lower
            .split_whitespace()
            .take_while(|w| {
                !matches!(
                    *w,
                    "in" | "of" | "for" | "with" | "at" | "on" | "per" | "from" | "by" | "to" | "so" | "that"
                )
            })
            .last()
            .unwrap_or(&lower);
        let plural =
            head.ends_with('s') && !head.ends_with("ss") && !head.ends_with("us") && !head.ends_with("'s");
        format!("What {} your {bare}?", if plural { "are" } else { "is" })
    } else {
        format!("Could you tell me about {np}?")
    };
    let kind = kind_of(&question);
    let kind = if kind == FieldKind::YesNo {
        FieldKind::Text
    } else if kind == FieldKind::Text && numeric_topic(&lower) {
        FieldKind::Number
    } else if kind == FieldKind::Text && date_topic(&lower) {
        FieldKind::Date
    } else {
        kind
    };
    Ask {
        name: field_name_from(&bare),
        question,
        kind,
    }
}

/// "the date he'd like to haul out", "the day she'll pay the rest", "the time they can come":
/// a date or time named by the clause that follows it, asked as "When would you like to haul
/// out?" and kept as a date (or time).
fn date_by_clause(np: &str) -> Option<Ask> {
    let bare = topics::strip_determiners(np);
    let (head, rest) = bare.split_once(' ')?;
    let head = head.to_lowercase();
    let subject = rest.split_whitespace().next()?.to_lowercase();
    let subject = subject.split('\'').next().unwrap_or(&subject);
    if !matches!(subject, "he" | "she" | "they" | "you" | "we" | "i" | "it") {
        return None;
    }
    let (opener, kind) = match head.as_str() {
        "date" | "day" => ("when", FieldKind::Date),
        "time" => ("what time", FieldKind::Time),
        _ => return None,
    };
    let asked = ask_for(&format!("{opener} {rest}"));
    let kind = match asked.kind {
        k @ (FieldKind::Date | FieldKind::DateTime | FieldKind::Time) => k,
        _ => kind,
    };
    Some(Ask {
        question: asked.question,
        name: if asked.name.starts_with(head.as_str()) {
            asked.name
        } else {
            format!("{head}_{}", asked.name)
        },
        kind,
    })
}

/// Whether a topic's head noun is a quantity ("interest rate", "balance left on the loan",
/// "roof age in years", "average monthly electric bill").
fn numeric_topic(lower: &str) -> bool {
    let head = lower.split(" of ").next().unwrap_or(lower);
    let head_words: Vec<&str> = head
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    const QUANTITIES: &[&str] = &[
        "rate",
        "balance",
        "amount",
        "price",
        "cost",
        "budget",
        "income",
        "revenue",
        "salary",
        "age",
        "mileage",
        "total",
        "fee",
        "bill",
        "years",
        "months",
        "count",
        "size",
        "headcount",
        "payment",
        "deposit",
        "premium",
        "spend",
        "spending",
        "rent",
        "value",
        "score",
        "percentage",
        "weight",
        "height",
        "quantity",
        "volume",
        "capacity",
        "footage",
        "acreage",
        "miles",
        "hours",
        "number",
        "length",
        "width",
        "depth",
        "feet",
        "foot",
        "ft",
        "inches",
        "pounds",
        "lbs",
        "gallons",
        "square",
        "sqft",
        "acres",
        "employees",
        "staff",
        "trucks",
        "vehicles",
        "seats",
        "units",
        "locations",
        "bedrooms",
        "bathrooms",
    ];
    head_words.iter().any(|w| QUANTITIES.contains(w))
        && !head_words.iter().any(|w| {
            matches!(
                *w,
                "method" | "type" | "plan" | "frequency" | "schedule" | "date" | "time"
            )
        })
}

/// Whether a topic is a calendar date ("wedding date", "move-in day", "start date").
fn date_topic(lower: &str) -> bool {
    let ws: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    ws.last()
        .is_some_and(|w| matches!(*w, "date" | "day" | "birthday" | "deadline"))
}

/// Whether a topic has a verb or pronoun in it ("switched to a competitor", "we close at 6"), so
/// "What is your ...?" would not fit it.
fn looks_like_words_with_verb(lower: &str) -> bool {
    lower.split_whitespace().any(|w| {
        matches!(
            w,
            "we" | "they"
                | "you"
                | "i"
                | "he"
                | "she"
                | "it"
                | "is"
                | "are"
                | "was"
                | "were"
                | "be"
                | "to"
                | "if"
        ) || (w.ends_with("ed") && w.len() > 4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inversions() {
        let cases = [
            ("you can come on Tuesday", "Can you come on Tuesday?"),
            ("you have any questions", "Do you have any questions?"),
            (
                "you've had a chance to set up your account",
                "Have you had a chance to set up your account?",
            ),
            ("you received the package", "Did you receive the package?"),
            ("you're happy with the service", "Are you happy with the service?"),
            ("the delivery time works", "Does the delivery time work for you?"),
            (
                "you still want the premium plan",
                "Do you still want the premium plan?",
            ),
            ("it's a good time to talk", "Is it a good time to talk?"),
            ("you'd like to upgrade", "Would you like to upgrade?"),
        ];
        for (clause, want) in cases {
            assert_eq!(invert(clause).as_deref(), Some(want), "{clause}");
        }
    }

    #[test]
    fn wh_questions() {
        let cases = [
            (
                "what problem you're trying to solve",
                "What problem are you trying to solve?",
            ),
            ("when you expect to pay", "When do you expect to pay?"),
            ("how you heard about us", "How did you hear about us?"),
            (
                "what the weather is where you are",
                "What is the weather where you are?",
            ),
            ("what time works best", "What time works best for you?"),
            ("how many people will attend", "How many people will attend?"),
            (
                "how many times a month you visit",
                "How many times a month do you visit?",
            ),
            (
                "how likely you are to recommend us",
                "How likely are you to recommend us?",
            ),
        ];
        for (clause, want) in cases {
            assert_eq!(wh_question(clause).as_deref(), Some(want), "{clause}");
        }
    }

    #[test]
    fn lists_options_and_scales() {
        assert_eq!(
            split_list(
                "your company size, what problem you're trying to solve, and your timeline for a decision"
            ),
            vec![
                "your company size",
                "what problem you're trying to solve",
                "your timeline for a decision"
            ]
        );
        assert_eq!(
            split_list("your preferred date and time"),
            vec!["your preferred date and time"]
        );
        assert_eq!(
            options_in("offer April 14 at 10 AM or April 15 at 3 PM"),
            Some(vec![
                "April 14 at 10 AM".to_owned(),
                "April 15 at 3 PM".to_owned()
            ])
        );
        assert_eq!(
            options_in("Monday, Tuesday, or Wednesday"),
            Some(vec![
                "Monday".to_owned(),
                "Tuesday".to_owned(),
                "Wednesday".to_owned()
            ])
        );
        assert_eq!(scale_in("rate us from 1 to 10"), Some((1, 10)));
        assert_eq!(scale_in("how likely they are to recommend us"), Some((0, 10)));
        assert_eq!(
            kind_of("What is the best email address to reach you?"),
            FieldKind::Email
        );
        assert_eq!(kind_of("Do you have any questions?"), FieldKind::YesNo);
        assert_eq!(
            kind_of("What day and time would work best for you?"),
            FieldKind::DateTime
        );
    }

    /// Kinds the fifth blind part showed: terse labels, "any ...", a second predicate, a better
    /// number, a wait.
    #[test]
    fn kinds_seen_in_dev5() {
        for (question, kind) in [
            ("Renewal date?", FieldKind::Date),
            ("Budget?", FieldKind::Number),
            ("Any swelling or discharge at the incision?", FieldKind::YesNo),
            ("Any other comments?", FieldKind::Text),
            (
                "Is anyone in your party vegetarian or has food allergies?",
                FieldKind::YesNo,
            ),
            ("What is your better number?", FieldKind::Phone),
            ("How long did you wait at pickup?", FieldKind::Number),
        ] {
            assert_eq!(kind_of(question), kind, "{question}");
        }
        // A choice stays a choice.
        assert!(matches!(
            kind_of("Would you like to pay or contest it?"),
            FieldKind::Choice { .. }
        ));
    }
}
