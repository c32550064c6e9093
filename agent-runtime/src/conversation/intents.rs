//! What a caller's words mean beyond the answer to the current question: they want a human, they ask
//! whether this is a robot, they want no more calls, they say goodbye or ask us to wait; and phone-menu
//! prompts ("for billing, press 2") read for the digit that reaches the workflow's target.

use crate::extract::words;

/// Something the caller asked for that takes precedence over the current question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// "Can I speak to a person?"
    Human,
    /// "Is this a robot?"
    AreYouAi,
    /// "Stop calling me", "remove me from your list".
    DoNotCall,
    /// "Who is this?", "what is this about?"
    WhoIsThis,
    /// "Goodbye", "I have to go".
    Goodbye,
    /// "Hold on", "one moment".
    Wait,
    /// "Can you repeat that?", "What?"
    Repeat,
    /// "What is this about?", "Why are you calling?"
    About,
    /// "Call me back tomorrow at 5", "I'm driving, can you call later?"
    CallBack,
    /// A question of their own ("How much is it?", "Where is the office?").
    Question,
    /// "I'd rather not say": no answer to this question.
    Decline,
    /// "I'm not interested."
    NotInterested,
}

/// The intent in an utterance, if any.
pub fn intent(text: &str) -> Option<Intent> {
    // Fillers between the words of a phrase ("could you, um, call back") are not words.
    let content: Vec<String> = words(text)
        .into_iter()
        .filter(|w| {
            !matches!(
                w.as_str(),
                "um" | "uh" | "erm" | "er" | "hmm" | "like" | "ah" | "oh"
            )
        })
        .collect();
    let t = format!(" {} ", content.join(" "));
    let any = |list: &[&str]| list.iter().any(|p| t.contains(&format!(" {p} ")));
    if any(&[
        "stop calling",
        "do not call",
        "don't call",
        "dont call",
        "remove me",
        "take me off",
        "unsubscribe",
        "off your list",
        "off the list",
        "off your calling list",
        "off your call list",
        "take my number off",
        "remove my number",
        "lose my number",
        "never call",
        "no more calls",
        "don't contact",
        "do not contact",
        "quit calling",
    ]) {
        return Some(Intent::DoNotCall);
    }
    if any(&[
        "real person",
        "a person",
        "a human",
        "human being",
        "representative",
        "an operator",
        "someone else",
        "a manager",
        "live agent",
        "speak to somebody",
        "talk to somebody",
        "speak to someone",
        "talk to someone",
    ]) && any(&[
        "speak", "talk", "transfer", "connect", "get", "want", "need", "put me",
    ]) {
        return Some(Intent::Human);
    }
    if any(&[
        "are you a robot",
        "are you a bot",
        "are you real",
        "are you human",
        "are you a machine",
        "are you an ai",
        "is this a robot",
        "is this a recording",
        "am i talking to a",
        "ai robot",
        "ai robots",
        "is this an ai",
        "is this ai",
        "is this a bot",
        "is this a machine",
        "are you a computer",
        "is this a computer",
        "are you automated",
        "is this automated",
    ]) {
        return Some(Intent::AreYouAi);
    }
    if any(&[
        "what is this about",
        "what's this about",
        "what is this regarding",
        "what's this regarding",
        "what is it about",
        "what's it about",
        "why are you calling",
        "why are you calling me",
        "what are you calling about",
        "what is this call about",
        "what's the call about",
        "what's this for",
    ]) {
        return Some(Intent::About);
    }
    if any(&[
        "who is this",
        "who's this",
        "who is calling",
        "who's calling",
        "who are you",
        "who's speaking",
        "who am i speaking",
        "who am i talking",
        "who is speaking",
        "where are you calling from",
    ]) {
        return Some(Intent::WhoIsThis);
    }
    if any(&[
        "call me back",
        "call back later",
        "call me later",
        "call back tomorrow",
        "call me tomorrow",
        "call me next",
        "call back next",
        "call me in",
        "call back in",
        "call another time",
        "call me another time",
        "call at another time",
        "not a good time",
        "bad time right now",
        "i'm driving",
        "im driving",
        "i'm in a meeting",
        "i am in a meeting",
        "in the middle of something",
        "in the middle of",
        "can't talk right now",
        "cant talk right now",
        "can't talk now",
        "busy right now",
        "not a great time",
        "can you call back",
        "could you call back",
        "try me later",
        "try again later",
        "try her",
        "try him",
        "try back",
        "call her back",
        "call him back",
        "call her tomorrow",
        "call him tomorrow",
        "call her later",
        "call him later",
        "can you call me",
        "could you call me",
        "call me on",
        "call me at",
        "call me around",
        "call me after",
        "call me this",
        "call back on",
        "call back at",
    ]) || content.windows(3).any(|w| {
        w[0] == "call" && matches!(w[1].as_str(), "me" | "back") && crate::extract::is_weekday(&w[2])
    }) {
        return Some(Intent::CallBack);
    }
    if any(&[
        "rather not say",
        "rather not share",
        "prefer not to say",
        "prefer not to answer",
        "prefer not to share",
        "rather not answer",
        "don't want to say",
        "don't want to share",
        "don't want to give",
        "not comfortable sharing",
        "not comfortable giving",
        "no comment",
        "skip that",
        "skip this question",
        "pass on that",
        "i'll pass",
        "none of your business",
    ]) {
        return Some(Intent::Decline);
    }
    if any(&[
        "not interested",
        "no interest",
        "don't need it",
        "don't want it",
        "not for me",
        "cancel that",
        "cancel it",
        "please cancel",
        "won't be needing",
        "don't need it anymore",
        "no longer need",
        "sold the house",
        "we've moved",
        "we moved",
    ]) {
        return Some(Intent::NotInterested);
    }
    if any(&[
        "repeat that",
        "say that again",
        "come again",
        "pardon",
        "didn't catch",
        "didnt catch",
        "sorry what",
    ]) {
        return Some(Intent::Repeat);
    }
    if any(&[
        "hold on",
        "one moment",
        "one second",
        "just a second",
        "just a moment",
        "give me a second",
        "wait a",
    ]) {
        return Some(Intent::Wait);
    }
    let ws = words(text);
    if ws.len() <= 4 && any(&["goodbye", "bye", "bye bye", "i have to go", "gotta go"]) {
        return Some(Intent::Goodbye);
    }
    // "What?", "Huh?", "Sorry?", "Excuse me?": they did not hear the question.
    if ws.len() <= 3
        && ws.iter().all(|w| {
            matches!(
                w.as_str(),
                "what"
                    | "huh"
                    | "sorry"
                    | "excuse"
                    | "me"
                    | "pardon"
                    | "hello"
                    | "eh"
                    | "come"
                    | "again"
                    | "say"
                    | "hmm"
                    | "um"
                    | "uh"
            )
        })
        && ws.iter().any(|w| {
            matches!(
                w.as_str(),
                "what" | "huh" | "sorry" | "excuse" | "pardon" | "again"
            )
        })
    {
        return Some(Intent::Repeat);
    }
    // A question of their own: Whisper writes the question mark.
    let trimmed = text.trim();
    const OPENERS: &[&str] = &[
        "what", "what's", "when", "when's", "where", "where's", "how", "how's", "why", "which", "who", "is",
        "are", "can", "could", "do", "does", "will", "would", "should", "am", "did", "was",
    ];
    if trimmed.ends_with('?') && ws.len() >= 3 && ws.first().is_some_and(|w| OPENERS.contains(&w.as_str())) {
        return Some(Intent::Question);
    }
    None
}

/// Whether the words are only a greeting or an introduction, with no answer in them: "Hello?",
/// "Dockside Bakery, good morning, this is Ana!", "Lakeside Dental, how can I help you?". A
/// business or a person picking up says this before anything else; it is not an answer.
pub fn is_greeting(text: &str) -> bool {
    let ws = words(text);
    if ws.is_empty() || ws.len() > 16 {
        return false;
    }
    let t = format!(" {} ", ws.join(" "));
    let has = |p: &str| t.contains(&format!(" {p} "));
    let greets = [
        "hello",
        "hi",
        "hey",
        "good morning",
        "good afternoon",
        "good evening",
        "this is",
        "how can i help",
        "how may i help",
        "how can i direct",
        "thanks for calling",
        "thank you for calling",
        "speaking",
    ]
    .iter()
    .any(|p| has(p));
    // An answer word means it is more than a greeting ("Hello, yes, this is Sam").
    let answers = [
        "yes", "yeah", "yep", "no", "nope", "sure", "correct", "right", "okay", "ok", "fine", "works",
    ]
    .iter()
    .any(|p| has(p))
        || ws.iter().any(|w| w.chars().any(|c| c.is_ascii_digit()));
    greets && !answers
}

/// The name someone gives in "this is Ana" / "Ana speaking", as they said it.
pub fn introduced_name(text: &str) -> Option<String> {
    let ws: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '!' | '?' | '.' | ';'))
        .filter(|w| !w.is_empty())
        .collect();
    let lower: Vec<String> = ws.iter().map(|w| w.to_lowercase()).collect();
    let capital = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
    for i in 0..lower.len() {
        if lower[i] == "this"
            && lower.get(i + 1).is_some_and(|w| w == "is")
            && let Some(name) = ws.get(i + 2).filter(|w| capital(w))
        {
            return Some((*name).to_owned());
        }
        if lower[i] == "speaking" && i > 0 && capital(ws[i - 1]) {
            return Some(ws[i - 1].to_owned());
        }
    }
    None
}

/// Whether the words sound like a phone menu ("press 1 for ...", "para español oprima dos").
pub fn is_menu(text: &str) -> bool {
    let ws = words(text);
    ws.iter()
        .any(|w| matches!(w.as_str(), "press" | "dial" | "oprima" | "select"))
        && ws.iter().any(|w| digit_of(w).is_some())
}

/// The clause just before the menu's first "press N" when punctuation sets it off ("To report
/// a stray animal, press 1" gives "to report a stray animal"); `None` without punctuation.
fn label_before_first_key(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = ["press ", "dial ", "select "]
        .iter()
        .filter_map(|p| lower.find(p))
        .min()?;
    let before = lower[..at].trim_end();
    // Only a clause that ends right before the key ("..., press 1").
    let before = before.strip_suffix(',')?;
    let start = before.rfind(['.', ',', ';', ':', '!', '?']).map_or(0, |s| s + 1);
    Some(before[start..].trim().to_owned())
}

fn digit_of(word: &str) -> Option<char> {
    match word {
        "zero" | "0" => Some('0'),
        "one" | "1" => Some('1'),
        "two" | "2" => Some('2'),
        "three" | "3" => Some('3'),
        "four" | "4" => Some('4'),
        "five" | "5" => Some('5'),
        "six" | "6" => Some('6'),
        "seven" | "7" => Some('7'),
        "eight" | "8" => Some('8'),
        "nine" | "9" => Some('9'),
        "star" => Some('*'),
        "pound" | "hash" => Some('#'),
        _ => None,
    }
}

/// The keys a spoken menu offers ("for sales press 1, for billing press 2" -> 1, 2): the only
/// keys a language model may press in answer to it.
pub fn menu_keys(text: &str) -> Vec<char> {
    let ws = words(&text.to_lowercase());
    let mut keys: Vec<char> = ws
        .windows(2)
        .filter(|w| matches!(w[0].as_str(), "press" | "dial" | "select" | "oprima" | "enter"))
        .filter_map(|w| digit_of(&w[1]))
        .collect();
    keys.dedup();
    keys
}

/// The key that reaches `target` in a spoken menu. Speech-to-text often drops the punctuation
/// ("for new service press 1 for billing press 2"), so clauses are found from the keys alone: each
/// "press N" has a label either before it ("for billing, press 2") or after it ("press 2 for
/// billing"). The menu uses the form after the keys when every key is followed by "for"/"to"/"if"
/// words (the last one included); otherwise the label is what precedes the key, from its last
/// "for"/"to"/"if". The label sharing most words with the target wins.
pub fn menu_choice(text: &str, target: &str) -> Option<char> {
    const FILLER: &[&str] = &[
        "for", "to", "press", "the", "a", "an", "please", "or", "and", "your", "now", "if", "you", "would",
        "like", "are", "calling", "about", "dial", "select",
    ];
    const LEADS: &[&str] = &["for", "to", "if"];
    let target_words: Vec<String> = words(target)
        .into_iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .collect();
    let ws = words(&text.to_lowercase());
    // (position of the press word, key)
    let keys: Vec<(usize, char)> = ws
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w.as_str(), "press" | "dial" | "select"))
        .filter_map(|(i, _)| ws.get(i + 1).and_then(|w| digit_of(w)).map(|k| (i, k)))
        .collect();
    let after = |n: usize| -> &[String] {
        let from = keys[n].0 + 2;
        let to = keys.get(n + 1).map_or(ws.len(), |k| k.0).max(from);
        &ws[from..to]
    };
    // "To report a stray animal, press 1. ... For all other questions, stay on the line": a
    // label clause right before the first key says labels come first, whatever follows the last.
    let label_first = label_before_first_key(text).is_some_and(|clause| {
        words(&clause)
            .first()
            .is_some_and(|w| LEADS.contains(&w.as_str()))
    });
    let labels_follow = !label_first
        && !keys.is_empty()
        && (0..keys.len()).all(|n| after(n).first().is_some_and(|w| LEADS.contains(&w.as_str())));
    let mut best: Option<(usize, char)> = None;
    for (n, &(press, key)) in keys.iter().enumerate() {
        let label: &[String] = if labels_follow {
            after(n)
        } else {
            let from = if n == 0 { 0 } else { keys[n - 1].0 + 2 };
            let before = &ws[from.min(press)..press];
            let lead = before
                .iter()
                .rposition(|w| LEADS.contains(&w.as_str()))
                .unwrap_or(0);
            &before[lead..]
        };
        let score = target_words
            .iter()
            .filter(|t| {
                label
                    .iter()
                    .any(|l| l == *t || l.trim_end_matches('s') == t.trim_end_matches('s'))
            })
            .count();
        if score > 0 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, key));
        }
    }
    best.map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_not_answers() {
        assert!(is_greeting("Dockside Bakery, good morning, this is Ana!"));
        assert!(is_greeting("Hello?"));
        assert!(is_greeting("Lakeside Dental, how can I help you?"));
        assert!(!is_greeting("Hello, yes, this is Sam."));
        assert!(!is_greeting("Yes, Tuesday works."));
        assert!(!is_greeting("We're about twenty people."));
        assert_eq!(
            introduced_name("Dockside Bakery, good morning, this is Ana!").as_deref(),
            Some("Ana")
        );
        assert_eq!(introduced_name("Greg speaking.").as_deref(), Some("Greg"));
        assert_eq!(introduced_name("this is the front desk"), None);
    }

    #[test]
    fn intents() {
        assert_eq!(
            intent("Can I speak to a real person please?"),
            Some(Intent::Human)
        );
        assert_eq!(intent("Wait, are you a robot?"), Some(Intent::AreYouAi));
        assert_eq!(intent("Please stop calling me."), Some(Intent::DoNotCall));
        assert_eq!(
            intent("No. I don't talk to robots. Take my number off your list, please."),
            Some(Intent::DoNotCall)
        );
        assert_eq!(intent("Who is this?"), Some(Intent::WhoIsThis));
        assert_eq!(intent("Sorry, what is this about?"), Some(Intent::About));
        assert_eq!(intent("What?"), Some(Intent::Repeat));
        assert_eq!(
            intent("I'm driving, can you call me back tomorrow at 5?"),
            Some(Intent::CallBack)
        );
        assert_eq!(
            intent(
                "We submit about four hundred claims a month. But I've got patients waiting. Call me Wednesday at two?"
            ),
            Some(Intent::CallBack)
        );
        assert_eq!(intent("How much is the bill?"), Some(Intent::Question));
        assert_eq!(intent("I'd rather not say."), Some(Intent::Decline));
        assert_eq!(intent("Sorry, I'm not interested."), Some(Intent::NotInterested));
        assert_eq!(intent("Okay, bye."), Some(Intent::Goodbye));
        assert_eq!(intent("Hold on one second."), Some(Intent::Wait));
        assert_eq!(intent("Yes, Tuesday works for me."), None);
        assert_eq!(
            intent("I'll tell my husband goodbye later when we talk about the appointment"),
            None
        );
    }

    #[test]
    fn menus() {
        let menu = "Thank you for calling City Power. For new service, press 1. For billing and payments, press 2. \
                    To report an outage, press 3. For all other questions, press 0.";
        assert!(is_menu(menu));
        assert_eq!(menu_choice(menu, "billing"), Some('2'));
        assert_eq!(menu_choice(menu, "an outage"), Some('3'));
        assert_eq!(
            menu_choice("Press one for sales. Press two for support.", "technical support"),
            Some('2')
        );
        assert_eq!(menu_choice(menu, "pharmacy"), None);
        // Transcripts without punctuation, in both forms.
        let flat = "thank you for calling riverside utilities for new service press 1 for billing press 2 \
                    for power outages press 3";
        assert_eq!(menu_choice(flat, "billing"), Some('2'));
        let stay = "Thank you for calling Marlow County Animal Services. To report a stray or dangerous animal, press 1. For adoptions, press 2. For pet licensing, press 3. For all other questions, please stay on the line.";
        assert_eq!(menu_choice(stay, "licensing"), Some('3'));
        assert_eq!(
            menu_choice("Press 1 for sales, press 2 for billing.", "billing"),
            Some('2')
        );
        assert_eq!(menu_choice(flat, "new service"), Some('1'));
        assert_eq!(menu_choice(flat, "an outage"), Some('3'));
        let flat = "welcome press 1 for sales press 2 for billing press 3 to report an outage";
        assert_eq!(menu_choice(flat, "billing"), Some('2'));
        assert_eq!(menu_choice(flat, "an outage"), Some('3'));
        assert_eq!(
            menu_choice("For new service, press 1 for billing, press 2.", "billing"),
            Some('2')
        );
        assert!(!is_menu("Hello, this is Dana speaking."));
    }
}
