//! The workflow compiler: a natural-language prompt becomes the script the agent follows. This is the
//! built-in deterministic compiler (no model): it finds the goal and the first question in the prompt
//! and writes the opening with the AI disclosure, which is never optional.

use serde::{Deserialize, Serialize};

/// Why a prompt cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The prompt is empty or whitespace.
    #[error("the prompt is empty")]
    Empty,
    /// The prompt is longer than the limit.
    #[error("the prompt is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// No goal or question could be found: the agent would not know what to ask.
    #[error(
        "the prompt has no question to ask or goal to pursue (say what to ask, e.g. \"Ask if they can attend on Tuesday\")"
    )]
    TooVague,
}

/// The most characters a prompt may have.
pub const MAX_PROMPT_CHARS: usize = 8_000;

/// What the agent does on the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    /// The prompt as given.
    pub prompt: String,
    /// The goal in one sentence, for summaries.
    pub goal: String,
    /// The first words: the AI disclosure and the purpose.
    pub opening: String,
    /// The question the agent asks.
    pub question: String,
    /// Said before hanging up.
    pub closing: String,
    /// Said when the caller stays silent.
    pub reprompt: String,
}

/// The disclosure every call starts with.
pub const DISCLOSURE: &str = "Hello, this is an AI assistant calling.";

/// Compiles a prompt with the deterministic compiler.
pub fn compile(prompt: &str) -> Result<Workflow, WorkflowError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(WorkflowError::Empty);
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(WorkflowError::TooLong {
            max: MAX_PROMPT_CHARS,
        });
    }
    let sentences = sentences(prompt);
    let question = sentences
        .iter()
        .find(|s| s.ends_with('?'))
        .map(|s| s.to_string())
        .or_else(|| sentences.iter().find_map(|s| question_from_instruction(s)))
        .ok_or(WorkflowError::TooVague)?;
    let goal = sentences.first().map(|s| s.to_string()).unwrap_or_default();
    Ok(Workflow {
        prompt: prompt.to_owned(),
        goal,
        opening: DISCLOSURE.to_owned(),
        reprompt: format!("Sorry, I did not catch that. {question}"),
        question,
        closing: "Thank you for your time. Goodbye!".to_owned(),
    })
}

/// Splits at `.`, `?` and `!` followed by whitespace, keeping the terminator.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ends =
            matches!(b, b'.' | b'?' | b'!') && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
        if ends {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Turns "Ask (them) if/whether/what ..." or "Confirm (that) ..." into a question addressed to the
/// callee, swapping third-person pronouns for "you".
fn question_from_instruction(sentence: &str) -> Option<String> {
    let words: Vec<&str> = sentence.trim_end_matches(['.', '!']).split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let verb = lower
        .iter()
        .position(|w| matches!(w.as_str(), "ask" | "confirm" | "check"))?;
    // Only instructions to the agent count ("Ask if..."), not descriptions ("You are calling to confirm").
    let lead_in = |w: &String| {
        matches!(
            w.as_str(),
            "please" | "then" | "and" | "also" | "politely" | "kindly" | "first"
        )
    };
    if !lower[..verb].iter().all(lead_in) {
        return None;
    }
    let mut rest = verb + 1;
    if lower
        .get(rest)
        .is_some_and(|w| matches!(w.as_str(), "them" | "him" | "her" | "the" | "whoever"))
    {
        // "ask the person whether", "ask them if"
        while lower.get(rest).is_some_and(|w| {
            !matches!(
                w.as_str(),
                "if" | "whether"
                    | "what"
                    | "when"
                    | "which"
                    | "how"
                    | "who"
                    | "where"
                    | "why"
                    | "about"
                    | "that"
            )
        }) {
            rest += 1;
        }
    }
    let clause: Vec<String> = words.get(rest..)?.iter().map(|w| second_person(w)).collect();
    if clause.is_empty() {
        return None;
    }
    let clause = clause.join(" ");
    Some(match lower[verb].as_str() {
        "confirm" | "check" => {
            let clause = clause.strip_prefix("that ").unwrap_or(&clause).to_owned();
            format!("Can you confirm {clause}?")
        }
        _ => format!("Could you tell me {clause}?"),
    })
}

fn second_person(word: &str) -> String {
    let (core, tail) = word.split_at(word.trim_end_matches([',', ';', ':']).len());
    let swapped = match core.to_lowercase().as_str() {
        "they" | "he" | "she" | "them" | "him" => "you",
        "their" | "his" => "your",
        "theirs" => "yours",
        "themselves" | "himself" | "herself" => "yourself",
        _ => return word.to_owned(),
    };
    format!("{swapped}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_question_is_asked_as_written() {
        let w =
            compile("You are calling for Bright Dental. Can you attend your appointment on Tuesday at 3 PM?")
                .expect("compiles");
        assert_eq!(w.question, "Can you attend your appointment on Tuesday at 3 PM?");
        assert_eq!(w.goal, "You are calling for Bright Dental.");
        assert!(w.opening.contains("AI assistant"));
    }

    #[test]
    fn instructions_become_questions_to_the_callee() {
        let w = compile("Call the clinic. Ask them whether they can move the meeting to Monday.")
            .expect("compiles");
        assert_eq!(
            w.question,
            "Could you tell me whether you can move the meeting to Monday?"
        );
        let w = compile("Confirm that their order ships on Friday").expect("compiles");
        assert_eq!(w.question, "Can you confirm your order ships on Friday?");
        let w = compile(
            "You are calling to confirm an appointment. Then ask if they can come on Tuesday at 3 PM.",
        )
        .expect("compiles");
        assert_eq!(
            w.question,
            "Could you tell me if you can come on Tuesday at 3 PM?"
        );
    }

    #[test]
    fn vague_or_empty_prompts_are_refused() {
        assert_eq!(compile("   "), Err(WorkflowError::Empty));
        assert_eq!(compile("Be nice."), Err(WorkflowError::TooVague));
        assert!(matches!(
            compile(&"a".repeat(MAX_PROMPT_CHARS + 1)),
            Err(WorkflowError::TooLong { .. })
        ));
    }
}
