//! Call-level settings a prompt states in passing: a number to transfer to, a menu option to
//! reach, a time limit, rules of conduct, how to close.

use super::*;

/// A phone number in the text ("call back at 555-0100", "(555) 123-4567").
pub(super) fn phone_in(text: &str) -> Option<String> {
    let mut best = String::new();
    let mut current = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit()
            || (matches!(ch, '-' | '(' | ')' | '.' | '+') && !current.is_empty())
            || (ch == '(')
            || (ch == '+' && current.is_empty())
            || (ch == ' ' && current.ends_with(')'))
        {
            current.push(ch);
        } else {
            let digits = current.chars().filter(char::is_ascii_digit).count();
            if digits >= 7 && digits > best.chars().filter(char::is_ascii_digit).count() {
                best = current.trim().trim_end_matches(['.', '-']).to_owned();
            }
            current.clear();
        }
    }
    (!best.is_empty()).then_some(best)
}

/// "Navigate the phone menu to billing", "get to the billing department", "reach the pharmacy",
/// "talk to someone in claims", "press through the menu to customer service".
pub(super) fn menu_target(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    let lower = lower.trim_end_matches(['.', '!', '?']);
    let menu_words = [
        "menu",
        "ivr",
        "phone tree",
        "automated",
        "prompts",
        "press",
        "option",
        "extension",
        "department",
        "dept",
        "desk",
        "line",
        "team",
        "queue",
    ];
    let has_menu_word = menu_words.iter().any(|k| lower.contains(k));
    const PATTERNS: &[&str] = &[
        "navigate the phone menu to ",
        "navigate the menu to ",
        "navigate the ivr to ",
        "navigate the phone tree to ",
        "navigate the automated menu to ",
        "navigate through the menu to ",
        "navigate to the ",
        "navigate to ",
        "press through the menu to reach ",
        "press through the menu to get to ",
        "press through the menu to ",
        "go through the menu to reach ",
        "go through the menu to get to ",
        "go through the menu to ",
        "go through the phone menu to ",
        "through the menu to reach ",
        "through the menu to ",
        "through the ivr to ",
        "use the menu to reach ",
        "use the menu to get to ",
        "use the phone menu to reach ",
        "until you reach ",
        "until you get to ",
        "until you get ",
        "whatever gets you to ",
        "gets you to ",
        "whatever option gets to ",
        "gets to ",
        "get me to ",
        "get me through to ",
        "put me through to ",
        "get us to ",
        "go to the ",
        "get you to ",
        "get through to ",
        "get connected with ",
        "connect with ",
        "get hold of ",
        "get ahold of ",
        "get connected to ",
        "get transferred to ",
        "get put through to ",
        "get to ",
        "reach ",
        "talk to someone in ",
        "talk to somebody in ",
        "speak to someone in ",
        "speak with someone in ",
        "speak to someone from ",
        "speak with someone from ",
        "talk to someone from ",
        "talk to a person in ",
        "speak to a person in ",
        "talk to a human in ",
        "get a person in ",
        "get someone in ",
        "get a human in ",
        "get someone from ",
        "get a person from ",
        "talk to someone at ",
        "speak to someone at ",
        "talk to ",
        "speak to ",
        "speak with ",
        "ask for ",
        "be connected to ",
        "connect to ",
        "select the option for ",
        "choose the option for ",
        "press the option for ",
        "pick the option for ",
        "press the key for ",
        "select ",
        "choose ",
    ];
    // "Work through the automated menu to the start service option": any way through a menu.
    if let Some(through) = lower.find("through the ")
        && let Some(to) = lower[through..].find(" to ").map(|t| t + through)
        && lower[through..to].split_whitespace().count() <= 4
        && lower[through..to].contains("menu")
    {
        let navigated = format!("navigate to {}", &lower[to + 4..]);
        if let Some(target) = menu_target(&navigated) {
            return Some(target);
        }
    }
    // "Navigate the phone menu at the County Clerk to the marriage license office": the menu's
    // owner sits between the verb and the goal.
    if let Some(nav) = lower.find("navigate ")
        && let Some(to) = lower[nav..].find(" to ").map(|t| t + nav)
        && to > nav + "navigate".len()
        && lower[nav..to].split_whitespace().count() <= 10
    {
        let navigated = format!("navigate to {}", &lower[to + 4..]);
        if let Some(target) = menu_target(&navigated) {
            return Some(target);
        }
    }
    for p in PATTERNS {
        let Some(at) = lower.find(p) else {
            continue;
        };
        let before = &lower[..at];
        // Loose patterns need a menu word or a department-like target.
        let loose = matches!(
            *p,
            "reach "
                | "talk to "
                | "speak to "
                | "speak with "
                | "ask for "
                | "get to "
                | "gets to "
                | "go to the "
                | "get us to "
                | "select "
                | "choose "
                | "connect to "
                | "connect with "
                | "be connected to "
        );
        let mut target = lower[at + p.len()..].trim().to_owned();
        for cut in [
            " and ",
            ", then",
            ", ",
            " then ",
            " so ",
            " to ask",
            " to find",
            " to get",
            " to see",
            " to check",
            " to confirm",
            " to request",
            " to dispute",
            " to report",
            " to cancel",
            " to schedule",
            " to book",
            " to order",
            " to inquire",
            " and ask",
            " at ",
            " for ",
            " about ",
            " regarding ",
            " once ",
            " when ",
            " where ",
            " who ",
            " that ",
        ] {
            if let Some(at) = target.find(cut) {
                target.truncate(at);
            }
        }
        let target = target
            .trim()
            .trim_start_matches("the ")
            .trim_start_matches("a ")
            // "a live representative": the person is the goal, "live" only says not a recording.
            .trim_start_matches("live ")
            .trim_start_matches("real ")
            .trim_end_matches(" menu")
            .trim_end_matches(" option")
            .trim_end_matches(" department")
            .trim_end_matches(" dept")
            .trim_end_matches(" desk")
            .trim_end_matches(" line")
            .trim_end_matches(" team")
            .trim_end_matches(" queue")
            .trim_end_matches(" section")
            .trim_end_matches(" office")
            .trim_end_matches(" people")
            .trim_end_matches(" person")
            .trim_end_matches(" representative")
            .trim_end_matches(" agent")
            .trim_end_matches(" staff")
            .trim_end_matches(" unit")
            .trim()
            .to_owned();
        let departmentish = lower[at + p.len()..].split_whitespace().take(5).any(|w| {
            matches!(
                w.trim_end_matches(['.', ',']),
                "department"
                    | "dept"
                    | "desk"
                    | "line"
                    | "team"
                    | "queue"
                    | "menu"
                    | "option"
                    | "section"
                    | "office"
                    | "unit"
                    | "services"
                    | "support"
                    | "billing"
                    | "sales"
                    | "pharmacy"
                    | "claims"
                    | "returns"
                    | "appointments"
                    | "scheduling"
                    | "accounts"
                    | "collections"
                    | "reservations"
                    | "enrollment"
                    | "records"
                    | "payroll"
                    | "benefits"
                    | "shipping"
                    | "refunds"
                    | "outage"
                    | "outages"
                    | "counter"
                    | "radiology"
                    | "license"
            )
        });
        if loose && !(has_menu_word || departmentish) {
            continue;
        }
        // "Ask them to go to the records office portal": going somewhere is a menu goal only
        // where a menu is named.
        if *p == "go to the " && !has_menu_word {
            continue;
        }
        // "reach them", "talk to a person" (a transfer), "ask for their email": not menus.
        if target.is_empty()
            || matches!(
                target.as_str(),
                "them"
                    | "him"
                    | "her"
                    | "a human"
                    | "a person"
                    | "someone"
                    | "somebody"
                    | "a real person"
                    | "a live person"
                    | "person"
                    | "human"
                    | "voicemail"
                    | "the customer"
                    | "you"
            )
            || target.starts_with("their ")
            || target.starts_with("his ")
            || target.starts_with("her ")
            || target.split_whitespace().count() > 5
        {
            continue;
        }
        if before.contains("if ") && !before.contains(',') {
            continue;
        }
        // "ask ... whether they'd like to talk to sales": the callee's wish (a question, or a
        // transfer), not a menu the agent is to get through.
        let clause = before.rsplit([',', ';']).next().unwrap_or(before);
        let clause = clause.rsplit(" and ").next().unwrap_or(clause);
        if [
            "whether",
            "they'd",
            "they would",
            "they want",
            "he'd",
            "she'd",
            "would like",
            "wants",
            "if they",
            "if he",
            "if she",
        ]
        .iter()
        .any(|w| clause.contains(w))
        {
            continue;
        }
        return Some(target);
    }
    None
}

/// "keep the call under 2 minutes", "no longer than 90 seconds".
pub(super) fn duration_limit(lower: &str) -> Option<u32> {
    if ![
        "under",
        "less than",
        "no longer than",
        "at most",
        "maximum",
        "max",
        "no more than",
        "shorter than",
        "within",
        "limit",
        "keep it",
        "keep the call",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        return None;
    }
    let ws: Vec<&str> = lower.split_whitespace().collect();
    let found = ws.windows(2).find_map(|w| {
        let n = crate::extract::number(w[0])?;
        let unit = w[1].trim_end_matches(['.', ',', ')']);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small positive durations
        let n = n as u32;
        match unit {
            "minute" | "minutes" | "min" | "mins" => Some(n * 60),
            "second" | "seconds" | "secs" | "sec" => Some(n),
            _ => None,
        }
    });
    if found.is_none()
        && (lower.contains("keep it short")
            || lower.contains("keep the call short")
            || lower.contains("keep it brief")
            || lower.contains("keep the call brief"))
    {
        return Some(180);
    }
    found.filter(|s| (10..=7200).contains(s))
}

/// "a quick 60-second survey", "this 2-minute check-in": a call sized by its own name.
pub(super) fn sized_call(lower: &str) -> Option<u32> {
    let ws: Vec<&str> = lower.split_whitespace().collect();
    ws.windows(2).find_map(|w| {
        let (n, unit) = w[0].split_once('-')?;
        let n: u32 = n.parse().ok()?;
        let call = w[1].trim_end_matches(['.', ',', ':', ')']);
        if !matches!(
            call,
            "survey" | "call" | "check-in" | "checkin" | "chat" | "questionnaire" | "poll"
        ) {
            return None;
        }
        let secs = match unit {
            "second" | "sec" => n,
            "minute" | "min" => n * 60,
            _ => return None,
        };
        (10..=7200).contains(&secs).then_some(secs)
    })
}

pub(super) fn transfer_instruction(lower: &str) -> bool {
    let verbs = [
        "transfer",
        "connect them",
        "put them through",
        "bridge",
        "hand them",
        "hand the call",
        "hand off",
        "loop in",
        "patch them",
    ];
    let human = [
        "human",
        "person",
        "representative",
        "agent",
        "manager",
        "supervisor",
        "specialist",
        "colleague",
        "someone",
        "staff",
        "team",
        "sales",
        "me",
        "us",
        "a rep",
        "associate",
        "advisor",
        "expert",
        "live",
    ];
    let ws = words(lower);
    let has_word = |h: &str| {
        if h.contains(' ') {
            lower.contains(h)
        } else {
            ws.iter().any(|w| w == h)
        }
    };
    (verbs.iter().any(|v| lower.contains(v)) && human.iter().any(|h| has_word(h)))
        || lower.starts_with("offer to transfer")
        || lower.starts_with("offer to connect")
}

pub(super) fn is_rule(lower: &str) -> bool {
    let ws = words(lower);
    let first = ws.first().map(String::as_str);
    matches!(first, Some("don't" | "never" | "avoid" | "refrain"))
        || lower.starts_with("do not")
        || lower.starts_with("no need to")
        || lower.starts_with("under no circumstances")
        || lower.starts_with("not to")
        || lower.starts_with("you must not")
        || lower.starts_with("you should not")
        || lower.starts_with("you shouldn't")
        || lower.starts_with("you may not")
        || lower.starts_with("make sure not")
        || lower.starts_with("be careful not")
}

/// "Thank them and end the call" -> the closing to say (`Some(None)` for the default).
pub(super) fn closing_instruction(c: &str) -> Option<Option<String>> {
    let lower = c.to_lowercase();
    let lower = lower.trim_end_matches(['.', '!']);
    if let Some(rest) = lower
        .strip_prefix("thank them for ")
        .or_else(|| lower.strip_prefix("thank the customer for "))
        .or_else(|| lower.strip_prefix("thank him for "))
        .or_else(|| lower.strip_prefix("thank her for "))
    {
        let reason = rest.split(" and ").next().unwrap_or(rest).trim();
        let reason = reason
            .replace("their ", "your ")
            .replace("his ", "your ")
            .replace("her ", "your ");
        return Some(Some(format!("Thank you for {reason}. Goodbye!")));
    }
    let closings = [
        "thank them",
        "thank the customer",
        "thank him",
        "thank her",
        "thank you",
        "end the call",
        "end call",
        "say goodbye",
        "say bye",
        "hang up",
        "wrap up",
        "end politely",
        "close the call",
        "end the conversation",
        "finish the call",
        "then hang up",
        "conclude the call",
        "sign off",
    ];
    closings.iter().any(|k| lower.starts_with(k)).then_some(None)
}
