//! Notices: a prompt that is the message itself, under a label ("Courtesy reminder from the
//! Harlan County Jury Office: the juror is scheduled to report on Monday ... Bring a photo ID."),
//! with no instruction to the agent but how to handle a machine. The label opens the prompt; the
//! lines that follow it, up to the agent's own instructions, are what the callee is told.

use super::wording::starts_instruction;

/// Words a notice label may carry before its noun ("friendly reminder").
const LABEL_ADJECTIVES: &[&str] = &[
    "a",
    "our",
    "friendly",
    "courtesy",
    "quick",
    "important",
    "gentle",
    "final",
    "urgent",
    "official",
    "automated",
    "service",
];

/// Nouns that make a label a notice.
const LABEL_NOUNS: &[&str] = &[
    "reminder",
    "notice",
    "announcement",
    "heads-up",
    "alert",
    "notification",
];

/// The message after a notice label that opens the prompt, e.g. "Reminder for our new volunteer
/// tutors: the orientation is this Saturday" gives "the orientation is this Saturday". `None` when
/// the sentence has no such label, or nothing after it.
pub(super) fn after_label(sentence: &str) -> Option<&str> {
    let colon = sentence.find([':', '\u{2014}'])?;
    let label = sentence[..colon].to_lowercase();
    let words: Vec<&str> = label.split_whitespace().collect();
    let noun = words.iter().position(|w| !LABEL_ADJECTIVES.contains(w))?;
    if !LABEL_NOUNS.contains(&words[noun]) || words.len() > noun + 8 {
        return None;
    }
    // What may follow the noun: for whom, or from whom ("from the Harlan County Jury Office").
    if let Some(next) = words.get(noun + 1)
        && !matches!(*next, "for" | "from" | "to" | "about" | "regarding" | "re")
    {
        return None;
    }
    let rest = sentence[colon..].trim_start_matches([':', '\u{2014}']).trim();
    (!rest.is_empty()).then_some(rest)
}

/// Whether a sentence after a notice's label is more of the message ("Bring a photo ID.",
/// "Parking is not validated.") rather than a word to the agent ("Don't ask them anything else",
/// "If you reach voicemail, leave the time") or a question.
pub(super) fn is_message_line(sentence: &str) -> bool {
    let s = sentence.trim();
    let lower = s.to_lowercase();
    let first = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    !s.ends_with('?')
        && !starts_instruction(s)
        && !matches!(
            first,
            "don't"
                | "do"
                | "never"
                | "just"
                | "only"
                | "keep"
                | "you"
                | "you're"
                | "we"
                | "we're"
                | "i"
                | "i'm"
                | "your"
                | "be"
                | "avoid"
                | "no"
                | "end"
                | "hang"
                | "thank"
                | "unless"
                | "otherwise"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_open_notices() {
        assert_eq!(
            after_label("Courtesy reminder from the Harlan County Jury Office: the juror reports Monday."),
            Some("the juror reports Monday.")
        );
        assert_eq!(
            after_label("Reminder for our new volunteer tutors: the orientation is Saturday."),
            Some("the orientation is Saturday.")
        );
        assert_eq!(
            after_label("Reminder: bins go out Tuesday."),
            Some("bins go out Tuesday.")
        );
        for not in [
            "Company: Bright Dental",
            "Reminder call script for the clinic: ask about Tuesday.",
            "Ask them: do you need a reminder?",
            "Reminder:",
        ] {
            assert_eq!(after_label(not), None, "{not}");
        }
    }

    #[test]
    fn message_lines_are_told_and_instructions_are_not() {
        for line in [
            "Bring a photo ID.",
            "Parking is not validated.",
            "Please bring your form.",
        ] {
            assert!(is_message_line(line), "{line}");
        }
        for line in [
            "Don't ask them anything else, just make sure they heard the reminder.",
            "If you reach voicemail, leave the time and the room number.",
            "Ask if they can make it.",
            "Can they make it?",
        ] {
            assert!(!is_message_line(line), "{line}");
        }
    }
}
