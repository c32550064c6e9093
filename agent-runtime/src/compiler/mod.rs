//! The built-in workflow compiler: a prompt in plain English, as business users write them
//! ("Call and confirm the appointment for Sarah Kim on Thursday at 2 PM. If she needs to
//! reschedule, offer April 14 at 10 AM or April 15 at 3 PM. Collect her phone number."), becomes a
//! [`Workflow`] without a language model.
//!
//! It reads the prompt clause by clause. Each clause is an instruction (ask, collect, confirm,
//! remind, offer, leave a voicemail, navigate a menu, transfer), a condition on an earlier answer
//! (a branch), or context (who is called, for whom, facts the agent may repeat). Questions come
//! from the instruction's own words, turned to address the callee; lists become one question
//! each; the kind of answer comes from the topic ("company size" is a number, "preferred meeting
//! time" a day and time). A prompt is refused only when it asks nothing, collects nothing and
//! delivers nothing.

mod brief;
mod builder;
mod language;
mod lists;
mod names;
mod question;
mod text;
mod topics;

use crate::workflow::{MAX_PROMPT_CHARS, Workflow, WorkflowError};

pub use names::greeting_name;

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
    // A letter whose lowercase is longer or shorter in bytes ("İ") is lowered up front, so every
    // offset the readers find in a lowered copy of the text holds in the text itself.
    let original = prompt;
    let steady = steady_case(prompt);
    let prompt = steady.as_str();
    match language::read(prompt) {
        language::Reading::English => {}
        language::Reading::OtherLanguage => return Err(WorkflowError::NotEnglish),
        language::Reading::Unreadable => return Err(WorkflowError::Unreadable),
    }
    // A JSON brief is read as the prose it stands for.
    let prose = brief::as_prose(prompt);
    let normalized = text::normalize(prose.as_deref().unwrap_or(prompt));
    let sentences = text::sentences(&normalized);
    let organization = names::organization(&sentences);
    // A business name found as the callee is whom we call for, not whom we greet.
    let callee = names::callee(&sentences).filter(|c| organization.as_ref().is_none_or(|(o, _)| o != c));
    let mut builder = builder::Builder::new(callee, organization);
    for sentence in &sentences {
        builder.sentence(sentence);
    }
    // The workflow keeps the prompt as it was given.
    builder.finish(original)
}

/// The text with each letter whose lowercase has another byte length replaced by that lowercase.
fn steady_case(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let lower: Vec<char> = c.to_lowercase().collect();
            let same = lower.iter().map(|l| l.len_utf8()).sum::<usize>() == c.len_utf8();
            if same { vec![c] } else { lower }
        })
        .collect()
}

#[cfg(test)]
mod tests;
