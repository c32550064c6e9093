//! Text handling for the compiler: the prompt cleaned up (quotes, bullets, shorthand), cut into
//! sentences and then into clauses, and words turned from the writer's point of view ("ask them
//! about their plan") to the callee's ("your plan").

/// Abbreviations whose period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "e.g", "i.e", "vs", "approx", "dept", "apt", "ave",
    "a.m", "p.m", "u.s", "mt", "ft", "approx", "est",
];

/// Shorthand that real prompts use, spelled out (whole words, lowercase).
const SHORTHAND: &[(&str, &str)] = &[
    ("pls", "please"),
    ("plz", "please"),
    ("thx", "thanks"),
    ("ty", "thanks"),
    ("u", "you"),
    ("ur", "your"),
    ("appt", "appointment"),
    ("appts", "appointments"),
    ("w/", "with"),
    ("b/c", "because"),
    ("asap", "as soon as possible"),
    ("info", "information"),
    ("vm", "voicemail"),
    ("tmrw", "tomorrow"),
    ("tmr", "tomorrow"),
    ("pref", "preferred"),
    ("mins", "minutes"),
    ("min", "minutes"),
    ("secs", "seconds"),
    ("thru", "through"),
    ("email-address", "email address"),
    ("e-mail", "email"),
    ("emailaddress", "email address"),
    ("cb", "callback"),
    ("cant", "can't"),
    ("dont", "don't"),
    ("wont", "won't"),
    ("isnt", "isn't"),
    ("doesnt", "doesn't"),
    ("didnt", "didn't"),
    ("wasnt", "wasn't"),
    ("arent", "aren't"),
    ("havent", "haven't"),
    ("hasnt", "hasn't"),
    ("shouldnt", "shouldn't"),
    ("couldnt", "couldn't"),
    ("wouldnt", "wouldn't"),
    ("theyre", "they're"),
    ("youre", "you're"),
    ("shes", "she's"),
    ("hes", "he's"),
    ("apointment", "appointment"),
    ("appoinment", "appointment"),
    ("tues", "Tuesday"),
    ("#", "number"),
    ("amt", "amount"),
    ("qty", "quantity"),
    ("approx", "approximately"),
    ("thur", "Thursday"),
    ("thurs", "Thursday"),
    ("weds", "Wednesday"),
];

/// Words prompts are written with, whose misspellings ("confrim", "comming", "survy", "agian")
/// are set right before the prompt is read. Only lowercase words of five letters or more are
/// corrected, and only by one slip of the hand (two letters swapped, a letter doubled or
/// dropped), so a name or another real word is never turned into one of these.
const TYPO_TARGETS: &[&str] = &[
    "confirm",
    "confirmed",
    "remind",
    "reminder",
    "survey",
    "again",
    "appointment",
    "appointments",
    "coming",
    "schedule",
    "scheduled",
    "reschedule",
    "whether",
    "receive",
    "received",
    "tomorrow",
    "delivery",
    "available",
    "interested",
    "payment",
    "voicemail",
    "message",
    "customer",
    "question",
    "questions",
    "feedback",
    "experience",
    "recommend",
    "cancel",
    "reservation",
    "satisfied",
    "collect",
    "address",
    "business",
    "please",
    "thanks",
    "would",
    "could",
    "should",
    "their",
    "which",
    "about",
    "because",
    "between",
    "tuesday",
    "wednesday",
    "thursday",
    "saturday",
    "february",
    "calendar",
    "necessary",
    "definitely",
    "cleanliness",
    "technician",
    "installation",
    "inspection",
    "prescription",
    "insurance",
    "balance",
    "account",
    "number",
    "email",
    "phone",
    "option",
    "options",
    "prefer",
    "preferred",
    "morning",
    "afternoon",
    "evening",
    "anything",
    "something",
    "better",
    "rating",
    "rate",
    "still",
    "today",
    "tonight",
];

/// The word `word` was most likely meant to be, when it is one slip away from a word of
/// [`TYPO_TARGETS`] and is not such a word itself.
fn corrected(word: &str) -> Option<String> {
    // "Confrim the time": a capital opening a sentence is kept.
    let capital = word.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let lower = word.to_ascii_lowercase();
    if lower.len() < 5
        || !word.chars().skip(1).all(|c| c.is_ascii_lowercase())
        || TYPO_TARGETS.contains(&lower.as_str())
    {
        return None;
    }
    let w: Vec<char> = lower.chars().collect();
    let target = TYPO_TARGETS.iter().copied().find(|target| {
        let t: Vec<char> = target.chars().collect();
        one_slip(&w, &t)
    })?;
    Some(if capital {
        capitalize(target)
    } else {
        target.to_owned()
    })
}

/// Two letters swapped, one letter doubled, or one letter dropped.
fn one_slip(w: &[char], t: &[char]) -> bool {
    if w.first() != t.first() {
        return false;
    }
    match w.len() as isize - t.len() as isize {
        0 => {
            let diff: Vec<usize> = (0..w.len()).filter(|&i| w[i] != t[i]).collect();
            diff.len() == 2 && diff[1] == diff[0] + 1 && w[diff[0]] == t[diff[1]] && w[diff[1]] == t[diff[0]]
        }
        // A doubled letter: removing one of a pair gives the target.
        1 => (1..w.len()).any(|i| w[i] == w[i - 1] && w[..i] == t[..i] && w[i + 1..] == t[i..]),
        // A dropped letter: the target without one of its letters, not a suffix.
        -1 => (1..t.len() - 1).any(|i| w[..i] == t[..i] && w[i..] == t[i + 1..]),
        _ => false,
    }
}

/// Normalizes typography and shorthand; bullets and numbered items become sentences of their own.
/// "On a scale of 1 to 5, how satisfied are you with X?" -> "How satisfied are you with X, on a
/// scale of 1 to 5?": the scale leading a question moves behind it, so the comma after the scale
/// does not cut the question into two list items. Only a question that ends the line with its
/// question mark is turned.
fn scale_last(line: &str) -> String {
    let lower = line.to_lowercase();
    let Some(at) = lower.find("on a scale of ") else {
        return line.to_owned();
    };
    let before = line[..at].trim_end();
    let opens_clause = before.is_empty() || before.ends_with([':', ')', '.', '-', '?']);
    let Some(comma) = lower[at..].find(", ").map(|c| c + at) else {
        return line.to_owned();
    };
    let scale = &line[at..comma];
    let question = &line[comma + 2..];
    // The scale is "on a scale of A to B" (or "A-B", "from A to B"), nothing more.
    if !opens_clause
        || scale.split_whitespace().count() > 7
        || super::question::scale_in(scale).is_none()
        || !question.ends_with('?')
        || question.contains('?') && question.find('?') != Some(question.len() - 1)
    {
        return line.to_owned();
    }
    let body = question.trim_end_matches('?');
    let mut chars = body.chars();
    let capitalized: String = match chars.next() {
        Some(c) if before.is_empty() || before.ends_with(['.', '?', ')', '-']) => {
            c.to_uppercase().chain(chars).collect()
        }
        _ => body.to_owned(),
    };
    let sep = if before.is_empty() { "" } else { " " };
    format!("{before}{sep}{capitalized}, {}?", scale.to_lowercase())
}

pub fn normalize(prompt: &str) -> String {
    // Shorthand and slips are set right first, so a "survy:" header still opens its list.
    let fixed: Vec<String> = prompt
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(spell_out)
        .map(|l| keyed_condition(&l))
        .map(|l| scale_last(&l))
        .collect();
    let raw_lines: Vec<&str> = fixed.iter().map(String::as_str).collect();
    let expanded = super::lists::expand(&raw_lines);
    let raw_lines: Vec<&str> = expanded.iter().map(String::as_str).collect();
    let mut lines = Vec::new();
    for (i, line) in raw_lines.iter().enumerate() {
        let bullet = strip_bullet(line).len() != line.len();
        let item = strip_bullet(line);
        let mut line = item.to_owned();
        // "Qualify this lead:" before a list is a sentence of its own.
        if line.ends_with(':') {
            line.pop();
            line.push('.');
        }
        // A line with no closing punctuation ends its sentence when it is a list item or the
        // next line starts a new one (a capital, a bullet); prose wrapped mid-sentence goes on.
        let next = raw_lines.get(i + 1);
        let next_starts = next.is_none_or(|n| {
            strip_bullet(n).len() != n.len()
                || n.chars()
                    .next()
                    .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        });
        if !line.ends_with(['.', '?', '!', ':', ',', ';']) && (bullet || next_starts) {
            line.push('.');
        }
        lines.push(protect_quoted_message(&line));
    }
    let text = lines.join(" ");
    // "ask pay method + date": a plus joins a list.
    let text = text.replace(" + ", " and ");
    let text: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            '\u{00a0}' | '\t' => ' ',
            c => c,
        })
        .collect();
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// "- if_cancelled: ask whether she'd rebook", "if no answer: leave a message": a condition
/// written as a key (YAML-style briefs) reads as the sentence it stands for.
fn keyed_condition(line: &str) -> String {
    let body = line.trim_start_matches(['-', '*', ' ']);
    let lead = &line[..line.len() - body.len()];
    let lower = body.to_lowercase();
    // Only the key form ("if_declined:"); "If no: get an email" is prose the reader handles.
    let Some(rest) = lower.strip_prefix("if_") else {
        return line.to_owned();
    };
    let Some(colon) = rest.find(':') else {
        return line.to_owned();
    };
    let key = rest[..colon].replace('_', " ");
    let key = key.trim();
    if key.split_whitespace().count() > 4 || key.is_empty() {
        return line.to_owned();
    }
    let condition = match key {
        "declined" | "declines" | "cancelled" | "canceled" | "cancels" | "no" | "not" | "unavailable"
        | "cant make it" | "cannot make it" | "not available" => "they can't make it".to_owned(),
        "voicemail" | "no answer" | "machine" | "vm" => "you reach voicemail".to_owned(),
        "yes" | "confirmed" | "confirms" => "they confirm".to_owned(),
        other => other.to_owned(),
    };
    let consequence = body[body.len() - rest.len() + colon + 1..].trim();
    format!("{lead}If {condition}, {consequence}")
}

/// One line with its shorthand spelled out ("pls", "appt", "ur") and its slips set right.
fn spell_out(line: &str) -> String {
    line.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let (core, tail) = split_trailing_punct(w);
            let lower = core.to_lowercase();
            // "budget/mo", "rent/month": per month.
            for (unit, long) in [
                ("/mo", "month"),
                ("/month", "month"),
                ("/yr", "year"),
                ("/wk", "week"),
            ] {
                if let Some(head) = lower.strip_suffix(unit)
                    && head.len() >= 3
                    && head.chars().all(char::is_alphabetic)
                {
                    return format!("{} per {long}{tail}", &core[..head.len()]);
                }
            }
            match SHORTHAND.iter().find(|(s, _)| *s == lower) {
                Some((_, long)) => format!("{long}{tail}"),
                None => match corrected(core) {
                    Some(right) => format!("{right}{tail}"),
                    None => w.to_owned(),
                },
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Marks the sentence ends inside a message dictated after a colon ("leave a message saying: Hi
/// Linda. Call 555-0199.") so the message stays one sentence; [`MESSAGE_BREAK`] stands for them.
fn protect_quoted_message(line: &str) -> String {
    let lower = line.to_lowercase();
    let markers = [
        "saying:",
        "message:",
        "voicemail:",
        "say:",
        "that says:",
        "as follows:",
        "script:",
    ];
    let Some(at) = markers
        .iter()
        .filter_map(|m| lower.find(m).map(|a| a + m.len()))
        .min()
    else {
        return line.to_owned();
    };
    let (head, tail) = line.split_at(at);
    let tail = tail.trim_end();
    let body = tail.trim_end_matches(['.', '!', '?']);
    let end = &tail[body.len()..];
    format!(
        "{head}{}{end}",
        body.replace(". ", &format!(".{MESSAGE_BREAK}"))
            .replace("? ", &format!("?{MESSAGE_BREAK}"))
            .replace("! ", &format!("!{MESSAGE_BREAK}"))
    )
}

/// Stands for a space after a sentence end inside a dictated message.
pub const MESSAGE_BREAK: char = '\u{2}';

/// "- ask X", "* ask X", "• ask X", "1. ask X", "2) ask X", "a) ask X" -> "ask X".
fn strip_bullet(line: &str) -> &str {
    let t = line
        .trim_start_matches(['-', '*', '\u{2022}', '>', '\u{25cf}'])
        .trim_start();
    if t.len() != line.len() {
        return t;
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = &line[digits..];
    if (1..=2).contains(&digits)
        && let Some(r) = rest.strip_prefix(['.', ')', ':'])
        && r.starts_with(' ')
    {
        return r.trim_start();
    }
    line
}

/// ("word", ".,") for "word.,"; quotes and brackets count as punctuation.
pub fn split_trailing_punct(w: &str) -> (&str, &str) {
    let core = w.trim_end_matches(|c: char| ".,;:!?)\"'".contains(c));
    // Keep a possessive or contraction apostrophe inside the word ("their", "clients'").
    (core, &w[core.len()..])
}

/// Splits into sentences at `.`, `?`, `!`, `;` and `:` followed by a space, keeping the terminator.
/// A period after an abbreviation ("Dr.", "p.m.", "No.") or inside a number ("$3.50") does not end
/// a sentence; a colon does only when what follows is a new instruction (it is kept for
/// "leave a message: ..." and "options: A, B or C").
pub fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_quote = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            in_quote = !in_quote;
        }
        let next_space = chars.get(i + 1).is_none_or(|n| n.is_whitespace() || *n == '"');
        let ends = match c {
            '?' | '!' | ';' => next_space && !in_quote,
            '.' => next_space && !in_quote && !is_abbreviation(&chars[start..i], &chars[i + 1..]),
            // "If no: get an email address" is one sentence, its condition and what to do.
            ':' => {
                next_space
                    && !in_quote
                    && opens_instruction(&chars[i + 1..])
                    && !opens_condition(&chars[start..i])
            }
            _ => false,
        };
        if ends {
            // A closing quote right after the terminator belongs to this sentence.
            let mut end = i + 1;
            if chars.get(end) == Some(&'"') {
                end += 1;
                in_quote = false;
            }
            push_sentence(&mut out, &chars[start..end]);
            start = end;
            i = end;
            continue;
        }
        i += 1;
    }
    push_sentence(&mut out, &chars[start..]);
    out
}

fn push_sentence(out: &mut Vec<String>, chars: &[char]) {
    let s: String = chars.iter().collect();
    let s = s.trim().trim_start_matches(['"']).trim();
    // A sentence of punctuation alone (". ." from an empty bullet) is dropped.
    if s.chars().any(char::is_alphanumeric) {
        let s = s.trim_end_matches(';').trim();
        out.push(s.to_owned());
    }
}

/// Whether a sentence so far is a condition ("If no", "When they answer").
fn opens_condition(before: &[char]) -> bool {
    let text: String = before.iter().collect();
    let lower = text.trim_start().to_lowercase();
    ["if ", "when ", "unless ", "once ", "in case "]
        .iter()
        .any(|c| lower.starts_with(c))
}

/// Whether the words after a colon start an instruction or a question ("Quick survey: ask
/// which ...", "NPS survey: How likely ...") rather than a message or a list.
fn opens_instruction(after: &[char]) -> bool {
    let next: String = after
        .iter()
        .skip_while(|c| c.is_whitespace())
        .take_while(|c| c.is_alphabetic())
        .collect();
    matches!(
        next.to_lowercase().as_str(),
        "ask"
            | "confirm"
            | "collect"
            | "get"
            | "find"
            | "check"
            | "remind"
            | "tell"
            | "let"
            | "offer"
            | "verify"
            | "please"
            | "how"
            | "what"
            | "when"
            | "which"
            | "would"
            | "could"
            | "can"
            | "do"
            | "did"
            | "are"
            | "is"
            | "will"
            | "if"
            | "then"
            | "call"
            | "leave"
            | "navigate"
            | "reach"
    )
}

/// Whether the text before a period ends in an abbreviation ("Dr", "p.m") or an initial
/// ("J. Smith"; but "room B. If ..." ends a sentence).
fn is_abbreviation(before: &[char], after: &[char]) -> bool {
    let word: String = before
        .iter()
        .rev()
        .take_while(|c| !c.is_whitespace() && **c != '(')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let lower = word.to_lowercase();
    let lower = lower.trim_start_matches(['"', '(']);
    if lower.len() == 1 && lower.chars().all(char::is_alphabetic) {
        let next: String = after
            .iter()
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| c.is_alphabetic())
            .collect();
        let next_is_name =
            next.chars().next().is_some_and(char::is_uppercase) && !super::names::is_common_word(&next);
        return word.chars().all(char::is_uppercase) && next_is_name;
    }
    // "500 Market St. If not, ...": a street abbreviation ends the sentence when what follows
    // opens one; "St. Luke's" does not.
    if ABBREVIATIONS.contains(&lower) {
        let next: String = after
            .iter()
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| c.is_alphabetic() || **c == '\'')
            .collect();
        let opens_sentence = next.chars().next().is_some_and(char::is_uppercase)
            && (super::names::is_common_word(&next)
                || INSTRUCTION_VERBS.contains(&next.to_lowercase().as_str()))
            && matches!(
                lower,
                "st" | "ave" | "dept" | "apt" | "est" | "approx" | "ft" | "dr" | "rd" | "blvd"
            );
        return !opens_sentence;
    }
    false
}

/// Words that open a new instruction inside a sentence ("confirm the time, then ask for the email").
const INSTRUCTION_VERBS: &[&str] = &[
    "ask",
    "confirm",
    "collect",
    "get",
    "obtain",
    "request",
    "find",
    "verify",
    "check",
    "remind",
    "tell",
    "let",
    "inform",
    "offer",
    "leave",
    "thank",
    "end",
    "say",
    "mention",
    "explain",
    "see",
    "make",
    "gather",
    "grab",
    "record",
    "note",
    "transfer",
    "connect",
    "navigate",
    "press",
    "reach",
    "try",
    "encourage",
    "invite",
    "schedule",
    "book",
    "suggest",
    "propose",
    "determine",
    "learn",
    "inquire",
    "take",
    "capture",
    "hang",
    "notify",
    "give",
    "provide",
    "read",
    "double-check",
    "doublecheck",
    "figure",
    "follow",
    "update",
    "remember",
    "also",
    "then",
    "finally",
    "lastly",
    "next",
];

/// Splits a sentence into clauses at ", then", "and then", " then ", and at ", and <verb>" /
/// " and <verb>" where the verb starts a new instruction ("Confirm the time and collect their
/// email"). "If/When" clauses keep their consequence ("If they can't, offer A or B" stays whole).
pub fn clauses(sentence: &str) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let lower: Vec<String> = words
        .iter()
        .map(|w| split_trailing_punct(w).0.to_lowercase())
        .collect();
    let conditional = lower
        .first()
        .is_some_and(|w| CONDITION_OPENERS.contains(&w.as_str()));
    let mut cuts = Vec::new();
    for i in 1..words.len() {
        let prev = words[i - 1];
        let w = lower[i].as_str();
        let after = lower.get(i + 1).map(String::as_str).unwrap_or("");
        // "..., then ask", "... and then ask", "... then ask"
        if w == "then" && !conditional && INSTRUCTION_VERBS.contains(&after) {
            let cut = if lower[i - 1] == "and" { i - 1 } else { i };
            cuts.push((cut, i + 1));
            continue;
        }
        // "..., and if it wasn't, ask ...", "... in person, and if so offer ...": a condition of
        // its own.
        if w == "if"
            && !conditional
            && (lower[i - 1] == "and" || prev.ends_with(','))
            && (words[i + 1..].iter().any(|x| x.ends_with(','))
                || matches!(after, "so" | "yes" | "not" | "no"))
        {
            let cut = if lower[i - 1] == "and" { i - 1 } else { i };
            cuts.push((cut, cut));
            continue;
        }
        if w == "and" && i + 1 < words.len() {
            let verb = after;
            let next = lower.get(i + 2).map(String::as_str).unwrap_or("");
            let new_instruction = is_instruction_start(verb, next);
            // "Ask about A, B, and C" keeps its list; "..., and ask about C" starts anew.
            if new_instruction && (!conditional || prev.ends_with(',')) {
                cuts.push((i, i + 1));
            }
        }
        // "Confirm the appointment, ask if they need parking": a comma then a bare instruction
        // (but in "..., and if it wasn't, ask ..." the instruction is the condition's).
        let segment_start = cuts.last().map_or(0, |(_, next)| *next);
        let segment_conditional = lower
            .get(segment_start)
            .is_some_and(|w| CONDITION_OPENERS.contains(&w.as_str()))
            || lower.get(segment_start).is_some_and(|w| w == "and")
                && lower.get(segment_start + 1).is_some_and(|w| w == "if");
        if prev.ends_with(',')
            && is_instruction_start(w, after)
            && !conditional
            && !segment_conditional
            && i > 2
        {
            cuts.push((i, i));
        }
    }
    if cuts.is_empty() {
        return vec![sentence.trim().to_owned()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (end, next) in cuts {
        if end > start {
            out.push(words[start..end].join(" "));
        }
        start = next;
    }
    if start < words.len() {
        out.push(words[start..].join(" "));
    }
    out.into_iter()
        .map(|c| c.trim().trim_end_matches(',').trim().to_owned())
        .filter(|c| c.chars().any(char::is_alphanumeric))
        .collect()
}

/// Words that open a condition.
pub const CONDITION_OPENERS: &[&str] = &[
    "if",
    "when",
    "once",
    "in",
    "should",
    "unless",
    "after",
    "whenever",
    "otherwise",
    "before",
];

/// Whether `verb` (followed by `next`) opens an instruction to the agent, not a list item or a
/// verb of the callee ("ask about size and budget" vs "and ask for their email").
fn is_instruction_start(verb: &str, next: &str) -> bool {
    match verb {
        // "and get their email" vs "and get back to them": both instructions.
        "ask" | "confirm" | "collect" | "obtain" | "request" | "verify" | "remind" | "inform" | "offer"
        | "leave" | "thank" | "mention" | "explain" | "gather" | "capture" | "notify" | "encourage"
        | "invite" | "suggest" | "propose" | "determine" | "inquire" | "transfer" | "navigate" | "record"
        | "double-check" => true,
        "get" | "grab" | "take" => matches!(
            next,
            "their" | "his" | "her" | "the" | "a" | "an" | "them" | "his/her" | "any" | "contact"
        ),
        "find" => next == "out",
        "tell" | "let" => matches!(next, "them" | "him" | "her" | "the" | "whoever"),
        "check" | "see" => matches!(next, "if" | "whether" | "that" | "what" | "when" | "how"),
        "say" => matches!(next, "goodbye" | "thanks" | "thank" | "that" | "bye"),
        "end" | "hang" => matches!(next, "the" | "up" | "politely" | "call"),
        "make" => next == "sure",
        _ => false,
    }
}

/// A word of the writer's turned to the callee's: "they/he/she/them" -> "you", "their" -> "your",
/// punctuation kept. Names stay as they are.
pub fn second_person(word: &str) -> String {
    let (core, tail) = split_trailing_punct(word);
    let lower = core.to_lowercase();
    let swapped = match lower.as_str() {
        "they" | "he" | "she" | "them" | "him" => "you",
        "their" | "his" | "her" | "his/her" | "their's" => "your",
        "theirs" | "hers" => "yours",
        "themselves" | "himself" | "herself" | "themself" => "yourself",
        "they're" | "he's" | "she's" => "you're",
        "they've" => "you've",
        "they'll" | "he'll" | "she'll" => "you'll",
        "they'd" | "he'd" | "she'd" => "you'd",
        "is" => return word.to_owned(),
        _ => return word.to_owned(),
    };
    let swapped = if core.chars().next().is_some_and(char::is_uppercase) {
        capitalize(swapped)
    } else {
        swapped.to_owned()
    };
    format!("{swapped}{tail}")
}

/// Turns a clause about the callee into one addressed to them, fixing the verbs that follow a
/// swapped subject ("they are" -> "you are", "he has" -> "you have", "she was" -> "you were",
/// "he needs" -> "you need"). `name` (the callee's) is addressed too: "Sarah's appointment" ->
/// "your appointment".
pub fn address_callee(clause: &str, name: Option<&str>) -> String {
    // "the move for the Alvarez family on June 14": the family is who we talk to.
    let clause = &match name {
        Some(n) => {
            let mut c = clause.to_owned();
            for (from, to) in [
                (format!(" for the {n} family"), String::new()),
                (format!(" for the {n} household"), String::new()),
                (format!("the {n} family"), "your family".to_owned()),
                (format!("the {n} household"), "your household".to_owned()),
            ] {
                c = c.replace(&from, &to);
            }
            c
        }
        None => clause.to_owned(),
    };
    // "The customer's autopay failed": the callee's, said to them.
    let clause = &[
        "customer",
        "client",
        "patient",
        "resident",
        "member",
        "tenant",
        "homeowner",
        "account holder",
    ]
    .iter()
    .fold(clause.to_owned(), |c, role| {
        c.replace(&format!("The {role}'s "), "Your ")
            .replace(&format!("the {role}'s "), "your ")
    });
    // "the juror is scheduled to report": the callee, as the subject.
    let clause = &[
        "customer",
        "client",
        "patient",
        "resident",
        "member",
        "tenant",
        "homeowner",
        "juror",
        "student",
        "volunteer",
        "guest",
    ]
    .iter()
    .fold(clause.to_owned(), |c, role| {
        [("is", "are"), ("has", "have"), ("was", "were")]
            .iter()
            .fold(c, |c, (verb, agreed)| {
                c.replace(&format!("The {role} {verb} "), &format!("You {agreed} "))
                    .replace(&format!("the {role} {verb} "), &format!("you {agreed} "))
            })
    });
    let words: Vec<&str> = clause.split_whitespace().collect();
    // "Mrs. Albescu": the title's period is not part of the word compared.
    let name_words: Vec<String> = name
        .map(|n| {
            n.split_whitespace()
                .map(|w| w.trim_end_matches('.').to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    let mut subject_was_swapped = false;
    while i < words.len() {
        let w = words[i];
        let (core, tail) = split_trailing_punct(w);
        let lower = core.to_lowercase();
        // The callee's name, whole or first only, possessive or not.
        if !name_words.is_empty() {
            let first = &name_words[0];
            let n = name_words.len();
            let full_match = i + n <= words.len()
                && (0..n).all(|k| {
                    let wk = split_trailing_punct(words[i + k]).0.to_lowercase();
                    let wk = wk.trim_end_matches("'s").trim_end_matches('\'');
                    wk == name_words[k] || (k == 0 && strip_title(wk) == first)
                });
            let used = if full_match {
                n
            } else if lower.trim_end_matches("'s") == *first {
                1
            } else {
                0
            };
            if used > 0 {
                // "Customer Paulo Ferreira is late": the role goes with the name.
                let role_before = out.last().is_some_and(|w| {
                    matches!(
                        w.to_lowercase().as_str(),
                        "customer" | "client" | "patient" | "member" | "tenant" | "resident" | "guest"
                    )
                });
                let capital_role = role_before
                    && out
                        .pop()
                        .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase));
                let last = split_trailing_punct(words[i + used - 1]);
                let possessive = last.0.to_lowercase().ends_with("'s");
                let replacement = match (possessive, capital_role) {
                    (true, false) => "your",
                    (true, true) => "Your",
                    (false, false) => "you",
                    (false, true) => "You",
                };
                if !possessive {
                    agree_inverted(&mut out);
                }
                out.push(format!("{replacement}{}", last.1));
                subject_was_swapped = !possessive;
                i += used;
                continue;
            }
        }
        // "her" is "you" as an object ("still bothering her", "call her back") and "your"
        // before a noun ("her knee").
        let next_lower = words
            .get(i + 1)
            .map(|n| split_trailing_punct(n).0.to_lowercase())
            .unwrap_or_default();
        let object_her = lower == "her"
            && (!tail.is_empty()
                || matches!(
                    next_lower.as_str(),
                    "" | "to"
                        | "for"
                        | "at"
                        | "about"
                        | "with"
                        | "and"
                        | "or"
                        | "on"
                        | "in"
                        | "if"
                        | "that"
                        | "again"
                        | "know"
                        | "back"
                        | "up"
                        | "a"
                        | "an"
                        | "the"
                        | "this"
                        | "tomorrow"
                        | "today"
                        | "now"
                        | "later"
                        | "when"
                        | "whether"
                        | "what"
                        | "how"
                        | "any"
                        | "better"
                        | "best"
                        | "most"
                ));
        // "she's already sent it": has, not is.
        let perfect = matches!(lower.as_str(), "she's" | "he's" | "they're")
            && {
                let mut k = i + 1;
                while words.get(k).is_some_and(|n| {
                    matches!(
                        n.to_lowercase().as_str(),
                        "already" | "just" | "never" | "ever" | "recently" | "not" | "still"
                    )
                }) {
                    k += 1;
                }
                words.get(k).is_some_and(|n| {
                    let n = split_trailing_punct(n).0.to_lowercase();
                    (n.ends_with("ed") && n.len() > 4)
                        || matches!(
                            n.as_str(),
                            "sent"
                                | "paid"
                                | "done"
                                | "gone"
                                | "been"
                                | "had"
                                | "made"
                                | "got"
                                | "gotten"
                                | "seen"
                                | "taken"
                                | "given"
                                | "heard"
                                | "spoken"
                                | "found"
                                | "left"
                                | "bought"
                                | "sold"
                                | "set"
                                | "put"
                                | "read"
                                | "written"
                                | "chosen"
                                | "known"
                                | "come"
                                | "run"
                        )
                })
            }
            && lower != "they're";
        let swapped = if perfect {
            let you = if core.chars().next().is_some_and(char::is_uppercase) {
                "You've"
            } else {
                "you've"
            };
            format!("{you}{tail}")
        } else if object_her {
            let you = if core.chars().next().is_some_and(char::is_uppercase) {
                "You"
            } else {
                "you"
            };
            format!("{you}{tail}")
        } else {
            second_person(w)
        };
        let is_subject = matches!(lower.as_str(), "they" | "he" | "she");
        if subject_was_swapped {
            let verb = match lower.as_str() {
                "is" | "are" => Some("are"),
                "was" | "were" => Some("were"),
                "has" => Some("have"),
                "does" => Some("do"),
                "doesn't" => Some("don't"),
                "isn't" => Some("aren't"),
                "wasn't" => Some("weren't"),
                "hasn't" => Some("haven't"),
                _ => None,
            };
            if let Some(v) = verb {
                out.push(format!("{v}{tail}"));
                subject_was_swapped = false;
                i += 1;
                continue;
            }
            // "he needs" -> "you need"; "she still wants" -> "you still want".
            if !matches!(
                lower.as_str(),
                "still" | "also" | "really" | "already" | "just" | "never" | "always"
            ) {
                if let Some(base) = third_person_verb_base(&lower) {
                    out.push(format!("{base}{tail}"));
                    subject_was_swapped = false;
                    i += 1;
                    continue;
                }
                subject_was_swapped = false;
            }
        }
        if is_subject {
            subject_was_swapped = true;
            agree_inverted(&mut out);
        }
        out.push(swapped);
        i += 1;
    }
    out.join(" ")
}

/// "Has she been able to ...", "How satisfied was he ...": once the subject after it becomes
/// "you", the auxiliary before it agrees too ("Have you been", "were you").
fn agree_inverted(out: &mut [String]) {
    let Some(prev) = out.last_mut() else {
        return;
    };
    let (core, tail) = split_trailing_punct(prev);
    if !tail.is_empty() {
        return;
    }
    let plural = match core.to_lowercase().as_str() {
        "is" => "are",
        "was" => "were",
        "has" => "have",
        "does" => "do",
        "doesn't" => "don't",
        "isn't" => "aren't",
        "wasn't" => "weren't",
        "hasn't" => "haven't",
        _ => return,
    };
    *prev = if core.chars().next().is_some_and(char::is_uppercase) {
        capitalize(plural)
    } else {
        plural.to_owned()
    };
}

fn strip_title(w: &str) -> &str {
    for t in ["mr.", "mrs.", "ms.", "dr.", "mr", "mrs", "ms", "dr", "miss"] {
        if w == t {
            return "";
        }
    }
    w
}

/// The base form of a third-person singular present verb ("needs" -> "need", "has" -> "have",
/// "goes" -> "go", "tries" -> "try"); `None` when the word is not one.
pub fn third_person_verb_base(w: &str) -> Option<String> {
    const NOT_VERBS: &[&str] = &[
        "this",
        "is",
        "was",
        "has",
        "does",
        "its",
        "his",
        "hers",
        "yes",
        "us",
        "plus",
        "bus",
        "less",
        "always",
        "class",
        "glass",
        "pass",
        "process",
        "address",
        "business",
        "thanks",
        "news",
        "status",
        "bonus",
        "various",
        "previous",
        "serious",
        "series",
        "days",
        "hours",
        "minutes",
        "weeks",
        "months",
        "years",
        "times",
        "questions",
        "options",
        "plans",
        "services",
        "products",
        "items",
        "orders",
        "details",
        "results",
        "records",
        "payments",
        "invoices",
        "bills",
        "charges",
        "fees",
        "issues",
        "concerns",
        "needs",
        "works",
    ];
    match w {
        "has" => return Some("have".into()),
        "does" => return Some("do".into()),
        "goes" => return Some("go".into()),
        "needs" => return Some("need".into()),
        "works" => return Some("work".into()),
        _ => {}
    }
    if NOT_VERBS.contains(&w) || w.len() < 4 || !w.ends_with('s') || w.ends_with("ss") || w.ends_with("'s") {
        return None;
    }
    // Only words we know as verbs callees do: a short closed list keeps nouns out.
    const VERBS: &[&str] = &[
        "want",
        "like",
        "prefer",
        "plan",
        "expect",
        "intend",
        "use",
        "own",
        "know",
        "remember",
        "agree",
        "accept",
        "understand",
        "qualify",
        "live",
        "work",
        "pay",
        "owe",
        "receive",
        "recall",
        "require",
        "wish",
        "hope",
        "mean",
        "feel",
        "think",
        "see",
        "hear",
        "mind",
        "drive",
        "rent",
        "lease",
        "speak",
        "attend",
        "come",
        "arrive",
        "shop",
        "order",
        "travel",
        "manage",
        "handle",
        "make",
        "schedule",
        "buy",
        "sell",
        "get",
        "keep",
        "still",
        "seem",
        "look",
        "sound",
        "happen",
        "apply",
        "fit",
        "suit",
        "match",
        "end",
        "cost",
        "expire",
        "start",
        "begin",
        "close",
        "open",
        "renew",
        "ship",
        "finish",
        "change",
        "lapse",
        "mature",
    ];
    let base = if let Some(stem) = w.strip_suffix("ies") {
        format!("{stem}y")
    } else if w.ends_with("shes") || w.ends_with("ches") || w.ends_with("xes") || w.ends_with("sses") {
        w[..w.len() - 2].to_owned()
    } else {
        w[..w.len() - 1].to_owned()
    };
    VERBS.contains(&base.as_str()).then_some(base)
}

/// "word" -> "Word".
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lowercase words without punctuation (apostrophes inside words kept).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"' | '!' | '?'))
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, '.' | ':' | '\'' | '-'))
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Ends `text` with `end` unless it already ends with sentence punctuation.
pub fn terminate(text: &str, end: char) -> String {
    let t = text.trim().trim_end_matches([',', ';', ':']).trim();
    if t.ends_with(['.', '?', '!']) {
        t.to_owned()
    } else {
        format!("{t}{end}")
    }
}

/// `text` with its first letter uppercase and a final `end`.
pub fn sentence_case(text: &str, end: char) -> String {
    capitalize(&terminate(text, end))
}

/// Strips a leading word (case-insensitive) and the space after it.
pub fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let t = text.trim_start();
    let head = t.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &t[word.len()..];
    if rest.is_empty() {
        return Some(rest);
    }
    rest.starts_with([' ', ',', ':'])
        .then(|| rest.trim_start_matches([',', ':']).trim_start())
}

/// Strips the first of `words` that opens `text`.
pub fn strip_any<'a>(text: &'a str, words: &[&str]) -> Option<&'a str> {
    words.iter().find_map(|w| strip_word(text, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_of_the_hand_are_set_right_and_real_words_are_not() {
        assert_eq!(
            normalize("confrim the appt, comming wed? post-stay survy, stay agian y/n"),
            "confirm the appointment, coming wed? post-stay survey, stay again y/n."
        );
        assert_eq!(normalize("Confrim the paymnt"), "Confirm the payment.");
        // Real words and names one letter from a target stay.
        for w in [
            "reminds", "surveys", "CONFRIM", "rates", "coming", "thread", "cancels", "Bettor",
        ] {
            assert_eq!(normalize(w), format!("{w}."));
        }
    }

    #[test]
    fn sentences_survive_abbreviations_and_bullets() {
        let text = normalize(
            "Call Dr. Smith's office at 3 p.m. tomorrow. Ask for the $3.50 refund.\n- ask about size\n- get email\n1. thank them",
        );
        let s = sentences(&text);
        assert_eq!(
            s,
            vec![
                "Call Dr. Smith's office at 3 p.m. tomorrow.",
                "Ask for the $3.50 refund.",
                "ask about size.",
                "get email.",
                "thank them."
            ]
        );
        assert_eq!(
            normalize("pls confirm the appt thx"),
            "please confirm the appointment thanks."
        );
    }

    #[test]
    fn clauses_split_at_new_instructions_only() {
        assert_eq!(
            clauses("Confirm the appointment, then ask if they need parking."),
            vec!["Confirm the appointment", "ask if they need parking."]
        );
        assert_eq!(
            clauses("Ask about their company size, their budget, and their timeline."),
            vec!["Ask about their company size, their budget, and their timeline."]
        );
        assert_eq!(
            clauses("Confirm their payment method and collect their email."),
            vec!["Confirm their payment method", "collect their email."]
        );
        assert_eq!(
            clauses("If they can't make it, offer Monday or Tuesday."),
            vec!["If they can't make it, offer Monday or Tuesday."]
        );
    }

    #[test]
    fn the_callee_is_addressed() {
        assert_eq!(
            address_callee("she needs to bring her insurance card", None),
            "you need to bring your insurance card"
        );
        assert_eq!(
            address_callee("Sarah's appointment is on Thursday", Some("Sarah Kim")),
            "your appointment is on Thursday"
        );
        assert_eq!(
            address_callee("they are happy with it", None),
            "you are happy with it"
        );
        assert_eq!(
            address_callee("he still wants the plan", None),
            "you still want the plan"
        );
    }
}
