//! Questions off the script ("What is this about?", "How much do I owe?", "Where is the office?")
//! answered only from what the prompt said: its subject, its message and the facts it stated or
//! told the agent to give. Nothing is invented: when the prompt holds no answer, the agent says
//! so.

use crate::extract::words;
use crate::workflow::Workflow;

/// Words that carry no topic.
const STOP: &[&str] = &[
    "the", "a", "an", "is", "are", "was", "were", "it", "this", "that", "what", "when", "where", "how",
    "why", "who", "which", "do", "does", "did", "i", "my", "me", "you", "your", "we", "our", "us", "to",
    "of", "for", "in", "on", "at", "and", "or", "can", "could", "would", "will", "there", "be", "have",
    "has", "about", "so", "just", "any", "much", "many", "tell", "know", "want", "please", "okay", "ok",
    "um", "uh", "sorry", "is", "if", "with", "get", "am", "going", "should",
];

/// What the call is about, for "What is this about?".
pub fn about(workflow: &Workflow) -> String {
    if let Some(subject) = &workflow.subject {
        return format!("I'm calling about {}.", subject.trim_end_matches(['.', '?', '!']));
    }
    if let Some(message) = &workflow.message {
        return message.clone();
    }
    match &workflow.organization {
        Some(org) => format!("I'm calling on behalf of {org} with a quick question."),
        None => "I'm calling with a quick question.".to_owned(),
    }
}

/// The answer to a callee's own question, from the prompt's facts; `None` when there is none.
pub fn answer(question: &str, workflow: &Workflow) -> Option<String> {
    let q = question.to_lowercase();
    let has = |k: &str| q.contains(k);
    let candidates: Vec<&str> = workflow
        .facts
        .iter()
        .map(|f| f.answer.as_str())
        .chain(workflow.message.as_deref())
        .collect();
    // A fact the prompt tied to this topic ("If they ask about parking, tell them ...").
    let said = words(&q);
    let content: Vec<&String> = said
        .iter()
        .filter(|w| !STOP.contains(&w.as_str()) && w.len() > 2)
        .collect();
    let by_topic = workflow.facts.iter().find(|f| {
        !f.topic.is_empty()
            && f.topic
                .iter()
                .any(|t| !STOP.contains(&t.as_str()) && content.iter().any(|c| stem(c) == stem(t)))
    });
    if let Some(f) = by_topic {
        return Some(f.answer.clone());
    }
    // Money, time and place questions take the facts that hold such things.
    let wants_amount = has("how much")
        || has("cost")
        || has("price")
        || has("owe")
        || has("balance")
        || has("amount")
        || has("fee")
        || has("charge");
    let wants_when =
        has("when") || has("what time") || has("what day") || has("what date") || has("which day");
    let wants_where = has("where") || has("address") || has("location");
    let pick = |test: &dyn Fn(&str) -> bool| candidates.iter().find(|c| test(c)).map(|c| (*c).to_owned());
    if wants_amount {
        return pick(&|c: &str| c.contains('$') || c.to_lowercase().contains("dollar"));
    }
    if wants_when {
        return pick(&|c: &str| {
            let l = c.to_lowercase();
            [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "tomorrow",
                "today",
                " am",
                " pm",
                "a.m",
                "p.m",
                "january",
                "february",
                "march",
                "april",
                "may ",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
                "o'clock",
                ":",
            ]
            .iter()
            .any(|k| l.contains(k))
        });
    }
    if wants_where {
        return pick(&|c: &str| {
            let l = c.to_lowercase();
            [
                " street",
                " st ",
                " avenue",
                " road",
                " office",
                " clinic",
                " store",
                " room",
                " suite",
                " building",
                " location",
                " lane",
                " at the ",
            ]
            .iter()
            .any(|k| l.contains(k))
        });
    }
    // Otherwise, a fact that shares the question's words.
    candidates
        .iter()
        .map(|c| {
            let cw = words(c);
            let shared = content
                .iter()
                .filter(|w| cw.iter().any(|x| stem(x) == stem(w)))
                .count();
            (shared, *c)
        })
        .filter(|(n, _)| *n >= 1)
        .max_by_key(|(n, _)| *n)
        .map(|(_, c)| c.to_owned())
}

/// What the agent says when the prompt holds no answer.
pub fn no_answer(workflow: &Workflow) -> String {
    match &workflow.organization {
        Some(org) => format!(
            "I'm sorry, I don't have that information, but someone from {org} can follow up with you."
        ),
        None => "I'm sorry, I don't have that information, but someone can follow up with you.".to_owned(),
    }
}

fn stem(w: &str) -> &str {
    w.trim_end_matches("ing")
        .trim_end_matches("ed")
        .trim_end_matches('s')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::compile;

    #[test]
    fn answers_come_from_the_prompt_only() {
        let w = compile(
            "Call about invoice #4521 for $1,200 due on April 15. The office is at 12 Main Street. \
             If they ask about parking, tell them parking is free behind the building. \
             Ask if they have questions about the charges.",
        )
        .expect("compiles");
        assert!(about(&w).contains("invoice #4521"), "{}", about(&w));
        assert!(answer("How much do I owe?", &w).is_some_and(|a| a.contains("$1,200")));
        assert!(answer("Where is the office?", &w).is_some_and(|a| a.contains("Main Street")));
        assert!(answer("Is there parking?", &w).is_some_and(|a| a.contains("free")));
        assert_eq!(answer("Do you sell insurance?", &w), None);
    }
}
