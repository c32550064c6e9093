//! What a condition clause says: where it starts, whether it is about voicemail, a negative
//! answer, a question the callee asks, or a judgement the agent must make.

use super::*;

pub(super) fn is_condition_start(lower: &str) -> bool {
    let ws = words(lower);
    match ws.first().map(String::as_str) {
        Some("if" | "when" | "once" | "should" | "unless" | "whenever") => true,
        Some("in") => lower.starts_with("in case"),
        Some("after") => {
            ws.get(1)
                .is_some_and(|w| matches!(w.as_str(), "they" | "you" | "the" | "confirming" | "that"))
                && lower.contains(',')
        }
        Some("before") => lower.contains(','),
        _ => false,
    }
}

/// "If they need to reschedule, offer A or B" -> ("they need to reschedule", "offer A or B").
pub(super) fn split_condition(c: &str) -> (String, String) {
    let body = strip_any(
        c,
        &[
            "in case", "if", "when", "once", "should", "unless", "whenever", "after", "before",
        ],
    )
    .unwrap_or(c);
    if let Some((cond, cons)) = body.split_once(',') {
        return (cond.trim().to_owned(), cons.trim().to_owned());
    }
    let lower = body.to_lowercase();
    for marker in [" then ", " - ", ": "] {
        if let Some(at) = lower.find(marker) {
            return (
                body[..at].trim().to_owned(),
                body[at + marker.len()..].trim().to_owned(),
            );
        }
    }
    // "If they need to reschedule offer Monday or Tuesday": the consequence starts at a verb.
    let ws: Vec<&str> = body.split_whitespace().collect();
    for (i, w) in ws.iter().enumerate().skip(1) {
        let l = split_trailing_punct(w).0.to_lowercase();
        if matches!(
            l.as_str(),
            "offer"
                | "ask"
                | "leave"
                | "collect"
                | "get"
                | "transfer"
                | "tell"
                | "let"
                | "say"
                | "note"
                | "thank"
                | "end"
                | "hang"
                | "confirm"
                | "schedule"
                | "book"
                | "remind"
                | "propose"
                | "suggest"
                | "connect"
                | "mention"
                | "explain"
                | "find"
                | "record"
                | "request"
                | "inform"
                | "apologize"
                | "try"
                | "just"
                | "politely"
                | "please"
                | "don't"
                | "do"
        ) && !(l == "do" && ws.get(i + 1).is_some_and(|n| n.to_lowercase() != "not"))
        {
            return (ws[..i].join(" "), ws[i..].join(" "));
        }
    }
    (body.to_owned(), String::new())
}

/// "Offer Monday or Tuesday if they need to reschedule" -> ("Offer Monday or Tuesday", "they need
/// to reschedule"); `None` when the " if " belongs to the instruction ("ask if", "see if").
pub(super) fn trailing_condition(c: &str) -> Option<(String, String)> {
    let lower = c.to_lowercase();
    for marker in [
        " if ",
        ", if ",
        " in case ",
        " should they ",
        " when they ",
        " unless ",
        " whenever ",
        " once they ",
        " when you ",
        " if you ",
    ] {
        let Some(at) = lower.find(marker) else {
            continue;
        };
        let before = &lower[..at];
        let last = before
            .split_whitespace()
            .last()
            .unwrap_or("")
            .trim_end_matches(',');
        let first = before.split_whitespace().next().unwrap_or("");
        if matches!(
            last,
            "ask"
                | "see"
                | "check"
                | "out"
                | "know"
                | "wonder"
                | "determine"
                | "confirm"
                | "verify"
                | "them"
                | "him"
                | "her"
                | "whoever"
                | "me"
                | "us"
                | "tell"
                | "asking"
                | "and"
                | "or"
                | "even"
                | "as"
        ) || matches!(
            first,
            "ask" | "find" | "see" | "check" | "determine" | "inquire" | "learn"
        ) || before.trim().is_empty()
        {
            // "Ask them if ..." keeps its "if"; a callee's name before it too.
            if matches!(
                first,
                "ask" | "find" | "see" | "check" | "determine" | "inquire" | "learn"
            ) && !before.contains(',')
            {
                continue;
            }
            if matches!(
                last,
                "ask"
                    | "see"
                    | "check"
                    | "out"
                    | "know"
                    | "wonder"
                    | "determine"
                    | "confirm"
                    | "verify"
                    | "them"
                    | "him"
                    | "her"
                    | "whoever"
                    | "me"
                    | "us"
                    | "tell"
                    | "asking"
                    | "and"
                    | "or"
                    | "even"
                    | "as"
            ) {
                continue;
            }
        }
        let cond = c[at + marker.len()..]
            .trim()
            .trim_end_matches(['.', '!'])
            .to_owned();
        let cons = c[..at].trim().trim_end_matches(',').to_owned();
        // "Collect their email if you don't already have it": no real condition.
        let cl = cond.to_lowercase();
        // "Get a callback number in case the mechanic finds anything else": a purpose.
        let in_case_purpose = marker == " in case "
            && !matches!(
                cl.split_whitespace().next().unwrap_or(""),
                "they" | "he" | "she" | "you" | "they're" | "he's" | "she's" | "you're" | "it" | "that"
            );
        if cl.contains("don't already have")
            || cl.contains("do not already have")
            || cl.contains("don't have it")
            || is_judgement(&cl)
            || in_case_purpose
        {
            return Some((cons, "they answer".to_owned()));
        }
        let marker_word = marker.trim().trim_start_matches(", ");
        let cond = if marker_word.starts_with("should")
            || marker_word.starts_with("when")
            || marker_word.starts_with("once")
            || marker_word.ends_with("you")
        {
            format!(
                "{} {cond}",
                marker_word
                    .split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        } else {
            cond
        };
        return Some((cons, cond.trim().to_owned()));
    }
    None
}

pub(super) fn is_voicemail_condition(cond: &str) -> bool {
    [
        "voicemail",
        "voice mail",
        "answering machine",
        "machine",
        "no one answers",
        "nobody answers",
        "no answer",
        "nobody picks up",
        "no one picks up",
        "doesn't pick up",
        "don't pick up",
        "does not pick up",
        "do not pick up",
        "don't answer",
        "doesn't answer",
        "not answer",
        "can't reach",
        "cannot reach",
        "unable to reach",
        "get their vm",
        "reach their vm",
        "goes to vm",
        "vm",
        "unavailable to answer",
        "you get a recording",
        "it goes to a recording",
        "the line goes to",
    ]
    .iter()
    .any(|k| cond.contains(k))
}

pub(super) fn is_reached_person(cond: &str) -> bool {
    [
        "you reach a person",
        "you reach someone",
        "you reach a human",
        "you reach a representative",
        "you reach an agent",
        "you reach a live",
        "you get a person",
        "you get someone",
        "you get a human",
        "you get a live",
        "you get through",
        "someone answers",
        "somebody answers",
        "a person answers",
        "a human answers",
        "a live person",
        "they answer",
        "they pick up",
        "someone picks up",
        "you're connected",
        "you are connected",
        "you get connected",
        "connected to a person",
        "connected to someone",
        "a representative answers",
        "an agent answers",
        "you reach them",
        "you reach the right",
        "they answer the phone",
        "you speak to a person",
        "you're talking to a person",
        "reach a person",
        "reach a human",
        "reach someone",
        "get a human",
        "get a person",
        "person picks up",
        "you reach the department",
        "you get to the department",
        "you reach the",
        "you get to the",
    ]
    .iter()
    .any(|k| cond.contains(k))
}

/// "they ask about parking" -> ["parking"]; "they ask how much it costs" -> ["how", "much", "cost"].
pub(super) fn asked_about(cond: &str) -> Option<Vec<String>> {
    let markers = [
        "ask about ",
        "asks about ",
        "ask what ",
        "asks what ",
        "ask how ",
        "asks how ",
        "ask when ",
        "asks when ",
        "ask where ",
        "asks where ",
        "ask why ",
        "asks why ",
        "ask who ",
        "asks who ",
        "ask if ",
        "asks if ",
        "ask whether ",
        "asks whether ",
        "want to know ",
        "wants to know ",
        "have questions about ",
        "has questions about ",
        "ask for more information about ",
        "ask for details about ",
        "inquire about ",
        "ask questions about ",
        "question ",
        "ask ",
    ];
    let at = markers
        .iter()
        .find_map(|m| cond.find(m).map(|a| (a, m.len(), *m)))?;
    let (pos, len, marker) = at;
    // "ask to speak to a person" is a transfer, handled before; "ask for a human" too.
    let rest = &cond[pos + len..];
    const STOP: &[&str] = &[
        "the", "a", "an", "our", "your", "their", "it", "is", "are", "to", "of", "for", "do", "does", "will",
        "can", "we", "they", "you", "about", "this", "that", "any", "there",
    ];
    let mut topic: Vec<String> = words(rest)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .take(4)
        .collect();
    let wh = marker.split_whitespace().last().unwrap_or("");
    if ["what", "how", "when", "where", "why", "who"].contains(&wh) {
        topic.insert(0, wh.to_owned());
    }
    (!topic.is_empty()).then_some(topic)
}

pub(super) fn note_for(cond: &str) -> Note {
    const STOP: &[&str] = &[
        "they",
        "the",
        "a",
        "an",
        "mention",
        "mentions",
        "say",
        "says",
        "bring",
        "up",
        "brings",
        "express",
        "expresses",
        "indicate",
        "indicates",
        "have",
        "has",
        "any",
        "are",
        "is",
        "in",
        "of",
        "about",
        "their",
        "that",
        "them",
        "he",
        "she",
        "customer",
        "callee",
        "caller",
        "talk",
        "talks",
        "raise",
        "raises",
        "seem",
        "seems",
    ];
    let mut mentions: Vec<String> = words(cond)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect();
    // The usual ways of saying the usual things.
    let joined = mentions.join(" ");
    if joined.contains("financial")
        || joined.contains("money")
        || joined.contains("afford")
        || joined.contains("hardship")
    {
        mentions.extend(
            [
                "afford",
                "money",
                "tight",
                "struggling",
                "lost my job",
                "hardship",
                "broke",
                "difficult",
                "difficulty",
                "financial",
            ]
            .map(str::to_owned),
        );
    }
    if joined.contains("complaint")
        || joined.contains("unhappy")
        || joined.contains("problem")
        || joined.contains("issue")
    {
        mentions.extend(
            [
                "problem",
                "issue",
                "unhappy",
                "complaint",
                "disappointed",
                "terrible",
                "bad",
            ]
            .map(str::to_owned),
        );
    }
    if joined.contains("competitor") {
        mentions
            .extend(["competitor", "another company", "someone else", "other provider"].map(str::to_owned));
    }
    mentions.dedup();
    let subject = cond.trim().trim_end_matches(['.', ',']);
    let note = sentence_case(&format!("The callee: {subject}"), '.')
        .replace("The callee: they ", "The callee ")
        .replace("The callee: ", "The callee said: ");
    Note { mentions, note }
}

/// Whether a condition is the negative of a yes/no ("they can't", "she needs to reschedule",
/// "that time doesn't work", "they decline", "no").
pub(super) fn is_negative(cond: &str) -> bool {
    let ws = words(cond);
    let joined = format!(" {} ", ws.join(" "));
    [
        " no ",
        " not ",
        " can't ",
        " cannot ",
        " can not ",
        " won't ",
        " don't ",
        " doesn't ",
        " isn't ",
        " aren't ",
        " didn't ",
        " wouldn't ",
        " couldn't ",
        " unable ",
        " decline ",
        " declines ",
        " reschedule ",
        " cancel ",
        " cancels ",
        " busy ",
        " unavailable ",
        " conflict ",
        " refuse ",
        " refuses ",
        " never ",
        " nope ",
        " neither ",
        " change ",
        " move it ",
        " different time ",
        " another time ",
        " other time ",
        " another day ",
        " different day ",
        " not interested ",
        " say no ",
        " says no ",
        " disagree ",
        " deny ",
        " denies ",
        " haven't ",
        " hasn't ",
        " out of town ",
        " sick ",
        " bad ",
        " no good ",
        " not good ",
    ]
    .iter()
    .any(|k| joined.contains(k))
        || ws.iter().any(|w| w.ends_with("n't"))
}

/// Whether a condition is one the agent cannot judge or one that always holds for it.
pub(super) fn is_judgement(cond: &str) -> bool {
    [
        "good fit",
        "a fit",
        "qualified",
        "qualifies",
        "qualify",
        "seem",
        "seems",
        "appropriate",
        "makes sense",
        "relevant",
        "possible",
        "you can",
        "you have time",
        "time permits",
        "needed",
        "necessary",
        "applicable",
        "they have one",
        "has one",
        "have one",
        "there is one",
        "there's one",
        "any",
        "available to talk",
        "eligible",
        "warm lead",
        "hot lead",
        "promising",
    ]
    .iter()
    .any(|k| {
        cond == *k
            || cond.contains(k)
                && !cond.contains("any questions")
                && !(k == &"any" && cond.split_whitespace().count() > 2)
    })
}

/// Whether a condition only says yes or no to the latest question.
pub(super) fn is_generic_condition(cond: &str) -> bool {
    const GENERIC: &[&str] = &[
        "they",
        "he",
        "she",
        "the",
        "customer",
        "callee",
        "client",
        "patient",
        "person",
        "say",
        "says",
        "said",
        "answer",
        "answers",
        "reply",
        "replies",
        "respond",
        "responds",
        "that",
        "it",
        "this",
        "time",
        "slot",
        "date",
        "day",
        "appointment",
        "need",
        "needs",
        "to",
        "want",
        "wants",
        "would",
        "like",
        "are",
        "is",
        "do",
        "does",
        "don't",
        "doesn't",
        "can",
        "can't",
        "cannot",
        "not",
        "no",
        "yes",
        "has",
        "hasn't",
        "have",
        "haven't",
        "had",
        "did",
        "didn't",
        "was",
        "wasn't",
        "were",
        "weren't",
        "will",
        "won't",
        "so",
        "make",
        "work",
        "works",
        "reschedule",
        "cancel",
        "decline",
        "declines",
        "agree",
        "agrees",
        "confirm",
        "confirms",
        "unable",
        "able",
        "available",
        "unavailable",
        "busy",
        "won't",
        "will",
        "isn't",
        "aren't",
        "didn't",
        "a",
        "an",
        "different",
        "another",
        "other",
        "new",
        "change",
        "move",
        "it's",
        "good",
        "fine",
        "okay",
        "ok",
        "yes,",
        "accept",
        "accepts",
        "refuse",
        "refuses",
        "interested",
        "them",
        "for",
        "be",
        "there",
        "come",
        "attend",
        "show",
        "up",
        "still",
        "going",
        "coming",
        "make",
        "made",
        "of",
        "any",
        "those",
        "these",
        "times",
        "dates",
        "days",
        "slots",
        "either",
        "neither",
        "option",
        "options",
        "none",
        "one",
        "if",
        "then",
        "already",
        "has",
        "have",
        "done",
        "wasn't",
        "weren't",
        "was",
        "were",
        "happy",
        "want",
    ];
    words(cond)
        .iter()
        .filter(|w| !GENERIC.contains(&w.as_str()))
        .count()
        == 0
}

/// Whether two texts share a content word (so a condition is about an earlier question).
pub(super) fn shares_content(a: &str, b: &str) -> bool {
    const STOP: &[&str] = &[
        "they", "you", "your", "their", "the", "a", "an", "is", "are", "to", "of", "for", "in", "on", "at",
        "and", "or", "it", "can", "do", "does", "would", "will", "be", "have", "has", "with", "any", "that",
        "this", "still", "not", "no", "need", "want", "like", "make", "able", "say", "says",
    ];
    let aw: Vec<String> = words(a)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()) && w.len() > 2)
        .collect();
    let bw: Vec<String> = words(b)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()) && w.len() > 2)
        .collect();
    aw.iter().any(|w| {
        bw.iter()
            .any(|v| v == w || v.trim_end_matches('s') == w.trim_end_matches('s'))
    })
}

/// "they're not interested" -> "they're interested"; "they don't have insurance" -> "they have insurance".
pub(super) fn positive_form(cond: &str) -> String {
    let out = format!(" {cond} ")
        .replace(" are not ", " are ")
        .replace(" aren't ", " are ")
        .replace(" is not ", " is ")
        .replace(" isn't ", " is ")
        .replace(" don't ", " ")
        .replace(" do not ", " ")
        .replace(" doesn't ", " ")
        .replace(" didn't ", " ")
        .replace(" can't ", " can ")
        .replace(" cannot ", " can ")
        .replace(" won't ", " will ")
        .replace(" haven't ", " have ")
        .replace(" hasn't ", " has ")
        .replace("'re not ", "'re ")
        .replace(" not ", " ");
    let out = out.trim();
    // "they don't have" lost its auxiliary: "they have".
    out.to_owned()
}
