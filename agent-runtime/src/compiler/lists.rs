//! Lists in a prompt, as people write them in notes: a header ("Questions:", "Qualify:", "Post-stay
//! survey for Saltmarsh Inn guests:") over bullet or numbered lines, an inline enumeration ("Ask:
//! 1\) rate the doctor 1-10, 2\) ...", "(a) how often ..., (b) ..."), or a comma list after an
//! asking header ("qualify: own or rent, # of entry doors, interested y/n").
//!
//! Items under an asking header are questions even when they are bare topics ("monthly budget",
//! "gate code, if there is one"): each is rewritten as an instruction the clause reader knows
//! ("Ask about monthly budget."), so the rest of the compiler reads one shape. Items under any
//! other header, or with none, are left as they are (context, instructions of their own).

/// Words of a header that asks for the items below it.
const ASKING_HEADERS: &[&str] = &[
    "question",
    "ask",
    "qualif",
    "survey",
    "collect",
    "gather",
    "find out",
    "get",
    "learn",
    "need to know",
    "want to know",
    "checklist",
    "poll",
    "intake",
    "questionnaire",
    "screen",
    "lead",
    "info needed",
    "information needed",
    "to confirm",
    "confirm",
    "verify",
];

/// Words that open an item that already says what to do (left as it is).
const INSTRUCTION_OPENERS: &[&str] = &[
    "ask",
    "confirm",
    "collect",
    "get",
    "find",
    "check",
    "verify",
    "remind",
    "tell",
    "let",
    "offer",
    "leave",
    "say",
    "mention",
    "explain",
    "thank",
    "end",
    "hang",
    "transfer",
    "navigate",
    "press",
    "schedule",
    "book",
    "record",
    "note",
    "make",
    "see",
    "inform",
    "notify",
    "give",
    "read",
    "call",
    "follow",
    "request",
    "gather",
    "obtain",
    "capture",
    "if",
    "when",
    "unless",
    "otherwise",
    "once",
    "do",
    "don't",
    "never",
    "please",
    "try",
    "keep",
    "be",
    "introduce",
    "update",
    "deliver",
];

/// Words that open a question (an item that is one, with or without its question mark).
const QUESTION_OPENERS: &[&str] = &[
    "what", "which", "when", "where", "who", "whom", "whose", "why", "how", "is", "are", "was", "were", "do",
    "does", "did", "can", "could", "will", "would", "should", "have", "has", "had", "any", "anything", "may",
];

/// Marks a bullet item: `- `, `* `, `• `, `1. `, `2) `, `a) `, `(b) `.
fn bullet(line: &str) -> Option<&str> {
    let t = line.trim_start();
    for b in ["- ", "* ", "\u{2022} ", "> ", "\u{25cf} "] {
        if let Some(rest) = t.strip_prefix(b) {
            return Some(rest.trim_start());
        }
    }
    enumerator_at(t, 0).map(|len| t[len..].trim_start())
}

/// The length of an enumerator at byte `at` ("1)", "1.", "a)", "(a)", "(1)") followed by a space.
fn enumerator_at(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let bytes = rest.as_bytes();
    let (open, body) = if bytes.first() == Some(&b'(') {
        (1, &rest[1..])
    } else {
        (0, rest)
    };
    let digits = body.chars().take_while(char::is_ascii_digit).count();
    let letter = body.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && body
            .chars()
            .nth(1)
            .is_some_and(|c| c == ')' || (c == '.' && open == 0));
    let label = if (1..=2).contains(&digits) {
        digits
    } else if letter {
        1
    } else {
        return None;
    };
    let close = body[label..].chars().next()?;
    let closes = close == ')' || (close == '.' && open == 0 && digits > 0);
    if !closes {
        return None;
    }
    let after = body[label + 1..].chars().next();
    after.is_some_and(char::is_whitespace).then_some(open + label + 1)
}

/// Splits "Ask: 1) A, 2) B, 3) C" into the head and its items, when at least two enumerators run
/// in order (1, 2 or a, b).
fn inline_items(line: &str) -> Option<(String, Vec<String>)> {
    let mut marks = Vec::new();
    let mut prev_boundary = true;
    for (i, c) in line.char_indices() {
        if prev_boundary && let Some(len) = enumerator_at(line, i) {
            marks.push((i, len));
        }
        prev_boundary = c.is_whitespace() || c == ':' || c == ',' || c == ';';
    }
    if marks.len() < 2 {
        return None;
    }
    let label = |(i, len): (usize, usize)| {
        line[i..i + len]
            .trim_matches(|c: char| c == '(' || c == ')' || c == '.')
            .to_owned()
    };
    let first = label(marks[0]);
    if first != "1" && first != "a" {
        return None;
    }
    let second = label(marks[1]);
    if second != "2" && second != "b" {
        return None;
    }
    let head = line[..marks[0].0].trim().to_owned();
    let mut items = Vec::new();
    for (k, &(i, len)) in marks.iter().enumerate() {
        let end = marks.get(k + 1).map_or(line.len(), |m| m.0);
        let item = line[i + len..end]
            .trim()
            .trim_end_matches([',', ';'])
            .trim()
            .trim_end_matches(" and")
            .trim_end_matches(" or")
            .trim()
            .trim_end_matches(',')
            .trim();
        if !item.is_empty() {
            items.push(item.to_owned());
        }
    }
    (items.len() >= 2).then_some((head, items))
}

/// Whether a header asks for the items under it.
fn is_asking_header(header: &str) -> bool {
    let lower = header.to_lowercase();
    ASKING_HEADERS.iter().any(|h| {
        lower.contains(h)
            && (h.contains(' ')
                || lower
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.starts_with(h) && w.len() <= h.len() + 7))
    })
}

/// "qualify: own or rent, # of doors, interested y/n": an asking header and a comma list after
/// its colon, split into the header and its items.
fn colon_items(line: &str) -> Option<(String, Vec<String>, Option<String>)> {
    // The last colon first ("call re: X. qualify: A, B"), then earlier ones ("NPS survey: how
    // likely ..., and which class they'd add: mornings or evenings").
    let colons: Vec<usize> = line.match_indices(": ").map(|(i, _)| i).collect();
    colons
        .into_iter()
        .rev()
        .find_map(|colon| colon_items_at(line, colon))
}

fn colon_items_at(line: &str, colon: usize) -> Option<(String, Vec<String>, Option<String>)> {
    let (head, rest) = (&line[..colon], line[colon + 1..].trim());
    // The list ends with its sentence: "Ask: A, B, and C. If yes to C, offer ..." goes on as
    // prose after the items.
    let (rest, tail) = match list_end(rest) {
        Some(end) => (&rest[..end], Some(rest[end..].trim().to_owned())),
        None => (rest, None),
    };
    // The header is the last few words before the colon ("call re: X. qualify:").
    let header_start = head.rfind(['.', '!', '?']).map_or(0, |i| i + 1);
    let header = head[header_start..].trim();
    // Only a header that plainly asks ("Ask:", "qualify:", "questions:") takes a comma list;
    // "Lead: Corinne Haddad, event planner, ..." describes.
    let strong = [
        "question",
        "ask",
        "qualif",
        "survey",
        "collect",
        "gather",
        "find out",
        "need to know",
        "checklist",
        "screen",
        "intake",
    ];
    let header_lower = header.to_lowercase();
    // "Quick 60-second survey for Bao Down Kitchen delivery customers:" is still a header.
    let longest = if header_lower.contains("survey") { 12 } else { 8 };
    // "call the new lead: how many dogs, how many walks per week, and their email": items that
    // are questions make a list under any header.
    let questions = split_outside_parens(rest)
        .iter()
        .filter(|i| {
            let first = i
                .trim()
                .trim_start_matches("and ")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_lowercase();
            matches!(
                first.as_str(),
                "how" | "what" | "which" | "whether" | "when" | "where" | "who"
            )
        })
        .count();
    let asking = strong.iter().any(|h| header_lower.contains(h)) || questions >= 2;
    let longest = if questions >= 2 { 12 } else { longest };
    if header.split_whitespace().count() > longest || !asking {
        return None;
    }
    // "Find out which applies: pay now, an arrangement, or already paid": options, not items.
    if [
        "which",
        "whether",
        "prefer",
        "choose",
        "pick",
        "option",
        "if they'd",
        "if they would",
        "how ",
    ]
    .iter()
    .any(|w| header_lower.contains(w))
    {
        return None;
    }
    // "Ask where the furnace is: basement, attic, or garage.": a question's options, not items.
    let or_list = rest.contains(" or ") && !rest.contains(" and ");
    let wh_header = header_lower
        .split_whitespace()
        .any(|w| matches!(w, "where" | "what" | "who" | "when"));
    if or_list && wh_header {
        return None;
    }
    let first = rest.split_whitespace().next().unwrap_or("").to_lowercase();
    if INSTRUCTION_OPENERS.contains(&first.as_str()) {
        return None;
    }
    let rest = rest.trim_end_matches(['.', '!']);
    // An item with options after its own colon ("which class they'd add: early morning,
    // lunchtime, or late evening") is one item, its commas kept.
    let (rest, options_item) = match rest.find(": ") {
        Some(inner) => {
            let start = rest[..inner].rfind(',').map_or(0, |c| c + 1);
            (&rest[..start], Some(rest[start..].trim()))
        }
        None => (rest, None),
    };
    let items: Vec<String> = split_outside_parens(rest)
        .into_iter()
        .map(|i| {
            let i = i.trim();
            i.strip_prefix("and ")
                .or_else(|| i.strip_prefix("or "))
                .unwrap_or(i)
        })
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .chain(options_item.map(|i| i.strip_prefix("and ").unwrap_or(i).to_owned()))
        .fold(Vec::new(), |mut items: Vec<String>, item| {
            // "how satisfied are you, on a scale of 1 to 5?": the scale stays with its question.
            match items.last_mut() {
                Some(last) if item.to_lowercase().starts_with("on a scale") => {
                    last.push_str(", ");
                    last.push_str(&item);
                }
                _ => items.push(item),
            }
            items
        });
    // A header that did not say "ask" over items that are questions says it now.
    let head = head.trim_end();
    let head = if strong.iter().any(|h| header_lower.contains(h)) {
        format!("{head}:")
    } else {
        format!("{}. Ask:", head.trim_end_matches(['.', ',']))
    };
    (items.len() >= 2).then_some((head, items, tail))
}

/// Where the sentence holding a colon list ends, when more prose follows it: a period, question
/// or exclamation mark before a space and a capital.
fn list_end(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        (matches!(bytes[i], b'.' | b'?' | b'!')
            && bytes[i + 1] == b' '
            && bytes[i + 2].is_ascii_uppercase()
            && !rest[..i].ends_with(|c: char| c.is_ascii_digit())
            && !["Mr", "Mrs", "Ms", "Dr", "St"]
                .iter()
                .any(|a| rest[..i].ends_with(a)))
        .then_some(i + 1)
    })
}

/// Splits at commas and semicolons that are not inside parentheses.
fn split_outside_parens(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | ';' if depth <= 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// An item under an asking header, as an instruction the clause reader understands.
fn as_instruction(item: &str) -> String {
    let t = item.trim();
    // "Client: Ellis Porter", "Start: Monday 7 AM": a labelled fact under the title describes the
    // job; "Check: can we use the spigot?" and "Ask: ..." still ask.
    if let Some((label, value)) = t.split_once(": ") {
        let label_lower = label.trim().to_lowercase();
        let describes = matches!(
            label_lower.as_str(),
            "client"
                | "customer"
                | "name"
                | "job"
                | "start"
                | "date"
                | "time"
                | "when"
                | "where"
                | "address"
                | "location"
                | "crew"
                | "order"
                | "amount"
                | "balance"
                | "account"
                | "invoice"
                | "service"
                | "appointment"
                | "shift"
                | "volunteer"
                | "patient"
                | "guest"
                | "party size"
                | "notes"
                | "note"
                | "context"
                | "background"
        );
        if describes && !value.trim_end().ends_with('?') {
            return format!("{label}: {}", value.trim());
        }
        // "Check: can we use the spigot?": the label says to ask what follows.
        if matches!(
            label_lower.as_str(),
            "check" | "ask" | "confirm" | "verify" | "question" | "q" | "find out"
        ) && value.trim_end().ends_with('?')
        {
            return value.trim().to_owned();
        }
    }
    // "In case Monday doesn't work, get ...": a condition among the items stays one.
    let opener = t.to_lowercase();
    if ["if ", "in case ", "should ", "unless ", "otherwise"]
        .iter()
        .any(|c| opener.starts_with(c))
    {
        return t.to_owned();
    }
    // "need AV equipment? (y/n)": the note after the mark belongs to the item.
    let moved;
    let t = match t.split_once("? (") {
        Some((q, note)) if note.ends_with(')') => {
            moved = format!("{q} ({note}");
            moved.as_str()
        }
        _ => t,
    };
    let lower = t.to_lowercase();
    let first = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .next()
        .unwrap_or("");
    if INSTRUCTION_OPENERS.contains(&first) || lower.starts_with("do not ") {
        return t.to_owned();
    }
    if t.ends_with('?') {
        // "Still good for Thursday at 11:45?", "resolved y/n?": a yes/no question in note form.
        let base = first.split('\'').next().unwrap_or(first);
        if !QUESTION_OPENERS.contains(&base) && !INSTRUCTION_OPENERS.contains(&base) {
            let body = t.trim_end_matches('?').trim_end();
            let body = body
                .strip_suffix(" y/n")
                .or_else(|| body.strip_suffix(" (y/n)"))
                .unwrap_or(body);
            return format!("Ask about {} (y/n).", lowercase_first(body));
        }
        return t.to_owned();
    }
    let body = t.trim_end_matches(['.', '!', ';', ',']);
    // "How likely ..." after "Ask" is not a name: the item's capital goes.
    let body = &lowercase_first(body);
    if first == "rate" || first == "score" {
        return format!("Ask them to {body}.");
    }
    if QUESTION_OPENERS.contains(&first) {
        // "how often they shop with us": the ask reader turns it into a question.
        return format!("Ask {body}.");
    }
    format!("Ask about {body}.")
}

pub(super) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        // An acronym or a name stays ("CRM they use", "Jess's hours").
        Some(c) if chars.clone().next().is_some_and(char::is_lowercase) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// Rewrites list items under asking headers as instructions (see the module docs); other lines
/// are returned as they are.
pub fn expand(lines: &[&str]) -> Vec<String> {
    // First, inline enumerations and colon lists become a header and bullet items.
    let mut split: Vec<String> = Vec::new();
    for line in lines {
        let body = bullet(line).unwrap_or(line);
        let found = inline_items(body)
            .map(|(head, items)| (head, items, None))
            .or_else(|| colon_items(body));
        if let Some((head, items, tail)) = found {
            if !head.is_empty() {
                let head = if head.ends_with(':') || head.ends_with('.') {
                    head
                } else {
                    format!("{head}:")
                };
                split.push(head);
            }
            split.extend(items.into_iter().map(|i| format!("- {i}")));
            split.extend(tail.filter(|t| !t.is_empty()));
        } else {
            split.push((*line).to_owned());
        }
    }
    // Then each item is read under the nearest header above it.
    let mut out = Vec::with_capacity(split.len());
    let mut asking = false;
    let mut seen_header = false;
    for (i, line) in split.iter().enumerate() {
        match bullet(line) {
            Some(item) => {
                if asking {
                    out.push(format!("- {}", as_instruction(item)));
                } else {
                    out.push(line.clone());
                }
            }
            None => {
                let t = line.trim();
                let next_is_item = split.get(i + 1).is_some_and(|n| bullet(n).is_some());
                if t.ends_with(':') {
                    asking = is_asking_header(t);
                    seen_header = true;
                } else if next_is_item && !seen_header {
                    // A title over a list ("Stackwise CRM - lead from Tuesday's webinar").
                    asking = is_asking_header(t);
                } else {
                    asking = false;
                }
                out.push(line.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_items() {
        let lines = [
            "Goal: confirm tomorrow's furnace tune-up.",
            "Questions:",
            "- Will someone 18+ be home during the window?",
            "- Any pets we should know about?",
            "- Gate code, if there is one",
        ];
        assert_eq!(
            expand(&lines),
            vec![
                "Goal: confirm tomorrow's furnace tune-up.",
                "Questions:",
                "- Will someone 18+ be home during the window?",
                "- Any pets we should know about?",
                "- Ask about gate code, if there is one.",
            ]
        );
        let notes = ["Details:", "- Window: 1-3 PM"];
        assert_eq!(expand(&notes), vec!["Details:", "- Window: 1-3 PM"]);
    }

    #[test]
    fn note_form_questions_are_yes_no() {
        let out = expand(&[
            "Ask:",
            "- Still good for Thursday at 11:45?",
            "- need AV equipment? (y/n)",
            "- What's their biggest headache?",
        ]);
        assert_eq!(
            out,
            vec![
                "Ask:",
                "- Ask about still good for Thursday at 11:45 (y/n).",
                "- Ask about need AV equipment (y/n).",
                "- What's their biggest headache?",
            ]
        );
    }

    #[test]
    fn a_colon_list_ends_with_its_sentence() {
        let out = expand(&[
            "Ask: the square footage, how many nights a week, and if they'd like a quote. If yes to the quote, offer Tuesday at 4 PM.",
        ]);
        assert_eq!(
            out,
            vec![
                "Ask:",
                "- Ask about the square footage.",
                "- Ask how many nights a week.",
                "- if they'd like a quote",
                "If yes to the quote, offer Tuesday at 4 PM.",
            ]
        );
    }

    #[test]
    fn inline_enumerations() {
        let (head, items) =
            inline_items("Ask: 1) rate the doctor 1-10, 2) rate the front desk staff 1-10, 3) was the wait under 30 minutes (yes/no).")
                .unwrap_or_default();
        assert_eq!(head, "Ask:");
        assert_eq!(
            items,
            vec![
                "rate the doctor 1-10",
                "rate the front desk staff 1-10",
                "was the wait under 30 minutes (yes/no)."
            ]
        );
        let (_, items) = inline_items(
            "Run a survey: (a) how often they shop (weekly, monthly, or rarely), (b) what they buy most, and (c) rate checkout speed from 1 to 10.",
        )
        .unwrap_or_default();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], "how often they shop (weekly, monthly, or rarely)");
        assert!(inline_items("Offer plan b) or nothing").is_none());
    }

    #[test]
    fn comma_lists_after_an_asking_header() {
        let out = expand(&[
            "call re: free home security assessment. qualify: own or rent, # of entry doors, interested in a free assessment y/n",
        ]);
        assert_eq!(
            out,
            vec![
                "call re: free home security assessment. qualify:",
                "- Ask about own or rent.",
                "- Ask about # of entry doors.",
                "- Ask about interested in a free assessment y/n.",
            ]
        );
        // A message after a colon is not a list.
        let msg = ["Leave a voicemail: Hi, this is Sam, call us back."];
        assert_eq!(expand(&msg), vec![msg[0].to_owned()]);
    }
}
