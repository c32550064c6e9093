//! The phrase helpers the clause readers share: lead-ins, event words, questions from
//! fragments, articles and option lists.

use super::*;

/// Words that open a clause without adding to it.
pub(super) const LEAD_INS: &[&str] = &[
    "either way",
    "in any case",
    "regardless",
    "in either case",
    "no matter what",
    "at the end",
    "before hanging up",
    "before you hang up",
    "please",
    "kindly",
    "also",
    "then",
    "and",
    "first",
    "firstly",
    "next",
    "finally",
    "lastly",
    "after that",
    "afterwards",
    "politely",
    "gently",
    "briefly",
    "quickly",
    "now",
    "so",
    "ok",
    "okay",
    "additionally",
    "just",
    "simply",
    "basically",
    "mainly",
    "ideally",
    "try to",
    "please try to",
    "make sure to",
    "be sure to",
    "don't forget to",
    "remember to",
    "i need you to",
    "i want you to",
    "i'd like you to",
    "i would like you to",
    "we need you to",
    "we want you to",
    "we'd like you to",
    "can you",
    "could you",
    "would you",
    "you should",
    "you need to",
    "you must",
    "you will",
    "you'll",
    "you're going to",
    "you are going to",
    "your job is to",
    "your task is to",
    "your goal is to",
    "the goal is to",
    "the task is to",
    "goal:",
    "task:",
    "make sure to",
    "be sure to",
    "remember to",
    "try to",
    "go ahead and",
    "please do",
    "help me",
    "at the end",
    "at the end of the call",
    "before hanging up",
    "before you hang up",
    "before ending the call",
    "during the call",
    "on the call",
    "while on the call",
    "hi",
    "hello",
    "hey",
    "hi there",
    "note:",
    "important:",
    "step 1:",
    "step 2:",
    "step 3:",
    "step 4:",
    "step 5:",
    "then,",
    "also,",
    "finally,",
    "the call should",
    "this call should",
    "you want to",
    "we want to",
    "i want to",
];

/// Nouns of events a confirmation or reminder is about.
pub(super) const EVENTS: &[&str] = &[
    "appointment",
    "reservation",
    "booking",
    "delivery",
    "order",
    "meeting",
    "visit",
    "attendance",
    "pickup",
    "pick-up",
    "installation",
    "install",
    "session",
    "class",
    "tour",
    "interview",
    "consultation",
    "call",
    "rsvp",
    "spot",
    "registration",
    "subscription",
    "renewal",
    "slot",
    "check-up",
    "checkup",
    "cleaning",
    "procedure",
    "surgery",
    "exam",
    "test drive",
    "showing",
    "viewing",
    "lesson",
    "rental",
    "stay",
    "flight",
    "trip",
    "shipment",
    "move",
    "inspection",
    "estimate",
    "job",
    "service",
    "repair",
    "demo",
    "webinar",
    "event",
    "party",
    "dinner",
    "table",
    "seat",
    "seats",
    "oil change",
    "haircut",
    "treatment",
    "therapy",
    "screening",
    "vaccination",
    "shot",
    "physical",
    "follow-up",
    "followup",
    "closing",
    "walkthrough",
    "walk-through",
    "orientation",
    "training",
    "workshop",
    "conference",
    "game",
    "match",
    "practice",
    "rehearsal",
    "ceremony",
    "wedding",
    "fitting",
    "grooming",
    "boarding",
    "drop-off",
    "dropoff",
    "transfer",
    "ride",
    "check-in",
    "tune-up",
    "tuneup",
    "adjustment",
    "massage",
    "neuter",
    "spay",
    "vaccine",
    "booster",
    "pickup",
    "hold",
    "conference",
    "cleanup",
    "pump-out",
    "mowing",
    "visit",
];

/// Strips the words that open a clause without adding to it ("Please also", "Then", "I need you to").
pub(super) fn strip_lead_ins(c: &str) -> &str {
    let mut t = c.trim().trim_start_matches(['-', '*', ',']).trim();
    loop {
        let before = t;
        for lead in LEAD_INS {
            if let Some(rest) = strip_word(t, lead) {
                t = rest.trim_start_matches([',', ':', '!']).trim();
            }
        }
        // "Hi!" / "Hello," as a sentence of its own.
        if t == before {
            break;
        }
    }
    t
}

/// Whether a sentence opens with an instruction verb (so "Ask: what is their budget?" is not a
/// question to say as written).
pub(super) fn starts_instruction(s: &str) -> bool {
    let first = words(strip_lead_ins(s)).into_iter().next().unwrap_or_default();
    matches!(
        first.as_str(),
        "ask"
            | "confirm"
            | "collect"
            | "get"
            | "find"
            | "check"
            | "see"
            | "remind"
            | "tell"
            | "let"
            | "offer"
            | "verify"
            | "inquire"
            | "request"
            | "obtain"
            | "gather"
            | "if"
            | "when"
            | "once"
            | "make"
            | "leave"
            | "say"
            | "mention"
            | "inform"
            | "notify"
            | "explain"
            | "call"
            | "schedule"
            | "book"
    )
}

/// "When would you want the installation done?" asks; "When they answer, ..." is a condition.
pub(super) fn is_when_question(s: &str) -> bool {
    let ws = words(strip_lead_ins(s));
    s.trim_end().ends_with('?')
        && ws.first().is_some_and(|w| w == "when")
        && ws.get(1).is_some_and(|w| {
            matches!(
                w.as_str(),
                "would"
                    | "will"
                    | "can"
                    | "could"
                    | "do"
                    | "does"
                    | "did"
                    | "is"
                    | "are"
                    | "should"
                    | "might"
            )
        })
}

pub(super) fn is_question_start(s: &str) -> bool {
    let first = words(s).into_iter().next().unwrap_or_default();
    matches!(
        first.as_str(),
        "can"
            | "could"
            | "will"
            | "would"
            | "do"
            | "does"
            | "did"
            | "is"
            | "are"
            | "have"
            | "has"
            | "should"
            | "may"
            | "shall"
            | "was"
            | "were"
            | "what"
            | "when"
            | "where"
            | "which"
            | "who"
            | "why"
            | "how"
            | "what's"
            | "when's"
            | "where's"
            | "how's"
            | "who's"
            | "any"
            | "anything"
            | "anyone"
            | "anybody"
    )
}

/// A question as written, with its kind and field.
pub(super) fn ask_from_question(q: &str) -> Ask {
    let kind = kind_of(q);
    let kind = match (&kind, scale_in(q)) {
        (FieldKind::Rating { .. }, _) | (_, None) => kind,
        (_, Some((min, max))) => FieldKind::Rating { min, max },
    };
    let name = topics::lookup(q)
        .filter(|t| t.kind == kind)
        .map_or_else(|| name_of(q, &kind), |t| t.name);
    Ask {
        question: q.to_owned(),
        kind,
        name,
    }
}

/// A yes/no question from a clause addressed to the callee.
pub(super) fn yes_no_ask(clause: &str, name: &str) -> Ask {
    let clause = clause.trim().trim_end_matches(['.', '?', '!']);
    let question =
        invert(clause).unwrap_or_else(|| sentence_case(&format!("Can you confirm whether {clause}"), '?'));
    let name = if name.is_empty() {
        yes_no_name(&question)
    } else {
        name.to_owned()
    };
    listed_choice(clause, &question, &name).unwrap_or(Ask {
        question,
        kind: FieldKind::YesNo,
        name,
    })
}

/// "whether he's preparing for a test (SAT, ACT, a state exam, or none)", "whether they pay by
/// card, check, or HSA card": three or more options listed are what the answer picks from, so
/// the yes/no question asked about them takes one of them.
pub(super) fn listed_choice(clause: &str, question: &str, name: &str) -> Option<Ask> {
    let lower = clause.to_lowercase();
    // Two options are a choice when the clause compares them ("suits her better", "prefer").
    let comparing = ["better", "prefer", "rather", " best"]
        .iter()
        .any(|k| lower.contains(k));
    let options = options_in(clause).filter(|o| {
        (if comparing { 2..=6 } else { 3..=6 }).contains(&o.len())
            && !lower.contains(" any ")
            && !lower.contains(" or not")
            && !o
                .iter()
                .any(|x| matches!(x.to_lowercase().as_str(), "not" | "no" | "otherwise"))
    })?;
    Some(Ask {
        question: question.to_owned(),
        kind: FieldKind::Choice { options },
        name: if name == "confirmed" {
            name_of(clause, &FieldKind::Text)
        } else {
            name.to_owned()
        },
    })
}

pub(super) fn yes_no_name(question: &str) -> String {
    let lower = question.to_lowercase();
    if lower.contains("any questions")
        || lower.contains("questions about")
        || lower.contains("have questions")
    {
        return "has_questions".into();
    }
    if lower.contains("interested") {
        return format!(
            "interested{}",
            topics::field_name_from(lower.split("interested").nth(1).unwrap_or(""))
                .split('_')
                .next()
                .map(|w| if w == "answer" {
                    String::new()
                } else {
                    format!("_{w}")
                })
                .unwrap_or_default()
        );
    }
    topics::field_name_from(question)
}

/// "Rate their experience from 1 to 10" -> a rating question.
pub(super) fn rating_ask(what: &str) -> Ask {
    let (min, max) = scale_in(what).unwrap_or((1, 5));
    let subject = what
        .split(" from ")
        .next()
        .unwrap_or(what)
        .split(" on a scale")
        .next()
        .unwrap_or(what)
        .split(" out of ")
        .next()
        .unwrap_or(what)
        .trim();
    let subject = subject
        .trim_start_matches("a rating")
        .trim_start_matches("rating")
        .trim_start_matches(" for ")
        .trim_start_matches(" of ")
        .trim();
    let subject = if subject.is_empty() {
        "your experience".to_owned()
    } else if subject.to_lowercase().starts_with("your ")
        || subject.to_lowercase().starts_with("us")
        || subject.to_lowercase().starts_with("the ")
    {
        subject.to_owned()
    } else {
        format!("the {subject}")
    };
    let question = if min == 0 && max == 10 && what.to_lowercase().contains("recommend") {
        "On a scale of 0 to 10, how likely are you to recommend us to a friend or colleague?".to_owned()
    } else {
        format!("On a scale of {min} to {max}, how would you rate {subject}?")
    };
    let kind = FieldKind::Rating { min, max };
    Ask {
        name: name_of(&question, &kind),
        question,
        kind,
    }
}

/// "How likely are you to recommend us?" with its scale said first.
pub(super) fn scale_question(q: &str, min: u8, max: u8) -> String {
    let mut q = q.trim();
    // A scale already said first is replaced, not said twice.
    if q.to_lowercase().starts_with("on a scale of")
        && let Some(comma) = q.find(", ")
    {
        q = &q[comma + 2..];
    }
    let cut = [" on a scale of", " from ", " (", " out of"]
        .iter()
        .filter_map(|m| q.to_lowercase().find(m))
        .min();
    let core = match cut {
        Some(at) => format!("{}?", &q[..at]),
        None => q.to_owned(),
    };
    let mut chars = core.chars();
    let lowered: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    format!("On a scale of {min} to {max}, {lowered}")
}

/// Whether the text reads as a clause with a subject and verb ("they received it") rather than a
/// noun phrase ("their payment method").
pub(super) fn looks_like_clause(text: &str) -> bool {
    let ws = words(text);
    let subject = ws.first().map(String::as_str);
    let pronoun = matches!(
        subject,
        Some(
            "you"
                | "it"
                | "there"
                | "we"
                | "everything"
                | "nothing"
                | "you're"
                | "you'll"
                | "you've"
                | "you'd"
                | "it's"
                | "there's"
                | "we're"
                | "they're"
                | "everything's"
        )
    ) && ws.len() > 1
        && !matches!(ws.get(1).map(String::as_str), Some("and" | "or"));
    // "your insurance is still Delta Dental", "the new address is correct": a noun phrase, then
    // a verb.
    // ("the date you will pay the rest" is a noun phrase: its verb belongs to "you".)
    let noun_then_verb = ws.len() > 2
        && (1..ws.len().min(12)).any(|i| {
            matches!(
                ws[i].as_str(),
                "is" | "are"
                    | "was"
                    | "were"
                    | "has"
                    | "have"
                    | "will"
                    | "can"
                    | "still"
                    | "would"
                    | "should"
                    | "hasn't"
                    | "isn't"
                    | "aren't"
                    | "won't"
            ) && !matches!(
                ws[i - 1].as_str(),
                "you" | "they" | "he" | "she" | "we" | "i" | "who" | "that" | "which"
            )
        });
    pronoun || noun_then_verb
}

/// Whether a yes/no question confirms an event ("Can you come to your appointment on Tuesday?",
/// "Does the delivery on Friday still work for you?").
pub(super) fn is_confirmation(question: &str) -> bool {
    let q = question.to_lowercase();
    event_noun(&q).is_some()
        && (q.contains(" still ")
            || [
                "can you come",
                "can you make",
                "can you attend",
                "will you be able",
                "are you coming",
                "are you able to come",
                "can you confirm",
                "will you be there",
                "will you make",
                "are you available",
                "will you attend",
                "can you be there",
            ]
            .iter()
            .any(|p| q.starts_with(p)))
}

/// The event noun a phrase contains ("appointment", "oil change"), if any.
pub(super) fn event_noun(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    let ws = words(&lower);
    EVENTS.iter().copied().find(|e| {
        if e.contains(' ') {
            lower.contains(e)
        } else {
            ws.iter().any(|w| w == e || w.trim_end_matches('s') == *e)
        }
    })
}

/// The event in a phrase, as "your ..." ("the appointment for you on Thursday at 2 PM" -> "your
/// appointment on Thursday at 2 PM").
pub(super) fn event_phrase(text: &str) -> Option<String> {
    event_noun(text)?;
    let t = text.trim().trim_end_matches(['.', '!', '?']);
    let t = t.replace(" for you ", " ").replace(" for you,", ",");
    let t = t.strip_suffix(" for you").unwrap_or(&t).to_owned();
    let t = strip_any(&t, &["that", "about", "of"]).unwrap_or(&t).to_owned();
    Some(ensure_possessive(&t))
}

/// "the appointment ..." / "an appointment" / "appointment" -> "your appointment ...".
pub(super) fn ensure_possessive(np: &str) -> String {
    let t = np.trim();
    let lower = t.to_lowercase();
    for d in ["the ", "an ", "a ", "this ", "that "] {
        if lower.starts_with(d) && event_noun(t).is_some() {
            return format!("your {}", &t[d.len()..]);
        }
    }
    let first = words(&lower).into_iter().next().unwrap_or_default();
    if event_noun(t).is_some()
        && !matches!(
            first.as_str(),
            "your" | "our" | "my" | "their" | "his" | "her" | "tomorrow's" | "today's"
        )
        && !t.chars().next().is_some_and(char::is_uppercase)
    {
        return format!("your {t}");
    }
    t.to_owned()
}

/// "Will you still be able to make your appointment on Thursday at 2 PM?"
pub(super) fn event_question(event: &str) -> String {
    let noun = event_noun(event).unwrap_or("");
    let q = match noun {
        "delivery" | "installation" | "install" | "pickup" | "pick-up" | "service" | "repair"
        | "inspection" | "estimate" | "job" | "shipment" | "move" | "drop-off" | "dropoff" | "cleaning"
            if !event.to_lowercase().contains("dental") =>
        {
            format!("Does {event} still work for you?")
        }
        "reservation" | "booking" | "order" | "registration" | "subscription" | "renewal" | "rsvp"
        | "spot" | "table" | "seat" | "seats" => {
            format!("Can you confirm {event}?")
        }
        _ => format!("Will you still be able to make {event}?"),
    };
    capitalize(&q)
}

/// The question that asks for a piece of information a prompt says to confirm.
pub(super) fn confirm_question(topic_question: &str, _item: &str) -> String {
    topic_question.to_owned()
}

pub(super) fn mentions_event(question: &str, event: &str) -> bool {
    let noun = event_noun(event).unwrap_or("");
    !noun.is_empty() && question.to_lowercase().contains(noun)
}

pub(super) fn with_article(np: &str) -> String {
    let lower = np.to_lowercase();
    let first = words(&lower).into_iter().next().unwrap_or_default();
    if matches!(
        first.as_str(),
        "a" | "an" | "the" | "your" | "our" | "this" | "that" | "some" | "any"
    ) || first.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        np.to_owned()
    } else {
        let article = if first.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {np}")
    }
}

pub(super) fn clean_options(options: Vec<String>) -> Vec<String> {
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
        " available",
        " class",
        " that week",
        " same window",
        " then",
    ];
    options
        .into_iter()
        .map(|o| {
            let o = o
                .trim()
                .trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '.' | ','))
                .trim();
            question::cut_tails(o, TAILS, |_| None)
        })
        .collect()
}

pub(super) fn join_options(options: &[String]) -> String {
    match options {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A quoted question inside an instruction (`Ask: "Would you like a receipt?"`).
pub(super) fn quoted(text: &str) -> Option<String> {
    let start = text.find('"')?;
    let end = text[start + 1..].find('"')? + start + 1;
    let q = text[start + 1..end].trim();
    (q.split_whitespace().count() >= 2).then(|| q.to_owned())
}

/// "which drink they order most", "espresso", "latte", "or drip coffee" -> one item whose options
/// are listed: "which drink they order most: espresso, latte or drip coffee".
pub(super) fn merge_trailing_options(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let item = &items[i];
        let wh = words(item)
            .first()
            .is_some_and(|w| ["what", "which", "whether", "how"].contains(&w.as_str()));
        if wh {
            // Short items up to one that starts with "or".
            let mut j = i + 1;
            while j < items.len()
                && items[j].split_whitespace().count() <= 3
                && !items[j].to_lowercase().starts_with("or ")
                && !is_question_start(&items[j])
            {
                j += 1;
            }
            if j < items.len()
                && j > i + 1 - 1
                && items[j].to_lowercase().starts_with("or ")
                && items[j].split_whitespace().count() <= 4
                && j > i + 1
            {
                let options: Vec<String> = items[i + 1..j].to_vec();
                out.push(format!("{item}: {}, {}", options.join(", "), items[j].trim()));
                i = j + 1;
                continue;
            }
        }
        out.push(item.clone());
        i += 1;
    }
    out
}

/// "see how they're doing" with nothing about what: small talk, not a question worth a field.
pub(super) fn is_bare_wellbeing(lower: &str) -> bool {
    let rest = lower
        .trim_end_matches(['.', '!', '?'])
        .trim_start_matches("see how ")
        .trim_start_matches("check how ");
    let ws = words(rest);
    ws.len() <= 4
        && ws.iter().all(|w| {
            matches!(
                w.as_str(),
                "they're"
                    | "they"
                    | "are"
                    | "he"
                    | "she"
                    | "is"
                    | "he's"
                    | "she's"
                    | "doing"
                    | "feeling"
                    | "getting"
                    | "on"
                    | "things"
                    | "going"
                    | "today"
                    | "lately"
                    | "these"
                    | "days"
                    | "everything"
                    | "all"
                    | "in"
                    | "general"
                    | "overall"
                    | "the"
                    | "customer"
                    | "client"
                    | "'s"
            )
        })
}
