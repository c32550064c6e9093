//! What the conversation expects to hear next, as hints for speech recognition.
//!
//! The engine knows at every turn what it asked: whether we reached the right person, which
//! options it offered, what kind of answer the field takes. Whisper does not, and on telephone
//! audio it guesses short answers wrong ("Thursday" as "thirsty", a name as a common word). The
//! call runner asks [`Conversation::stt_hints`] before each transcription and passes the result to
//! the recognizer (`SpeechToText::transcribe_with`), which turns it into a prompt.
//!
//! The hint is deliberately small (names, options, the handful of words a kind of answer uses):
//! see [`SttHints`] for the length limit and the guard against a prompt written back. What goes in
//! was chosen on the development part of the `stt_wer` bench's corpus: names only where the caller
//! is expected to say one (the name check, an email address), options and calendar words where an
//! answer is made of them, nothing where Whisper does better alone (numbers, digits, times,
//! ratings, yes or no).
//! [`turn_hints`] is the pure part, shared with the word-error-rate bench so that it measures the
//! hints a real turn would carry.

use super::Conversation;
use crate::speech::SttHints;
use crate::workflow::FieldKind;

/// What a caller turn answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expecting<'a> {
    /// The name check ("Am I speaking with Sarah?"): the callee's name, yes or no, a wrong number.
    Identity,
    /// The answer to a question collecting a field of this kind.
    Answer(&'a FieldKind),
    /// Yes or no (or a correction) to a value read back: `said` is how it was read.
    Readback {
        /// The field's kind, for a correction.
        kind: &'a FieldKind,
        /// The value as the agent said it ("Monday, December 7 at 3 PM").
        said: &'a str,
    },
    /// Nothing in particular: a reply to a message, a phone menu, small talk.
    Anything,
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Mail domains people say on the phone, written as Whisper should write them.
const MAIL_DOMAINS: [&str; 5] = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
];

/// The hints of one caller turn. When the callee says who they are, or anything at all, the names
/// they may say: theirs and the organization's (names are what Whisper misses most). When they
/// answer a question, only what the answer is made of: its options or the words of its kind, and
/// the callee's name in an email address. Names in an answer's hint are worse than none: on a
/// garbled answer Whisper writes the name in ("So, if Yusuf Demir did it").
pub fn turn_hints(callee: Option<&str>, organization: Option<&str>, expecting: Expecting<'_>) -> SttHints {
    let mut hints = SttHints::new();
    match expecting {
        Expecting::Identity | Expecting::Anything => {
            hints.extend(callee);
            hints.extend(organization);
        }
        Expecting::Answer(kind) => {
            if *kind == FieldKind::Email {
                hints.extend(callee);
            }
            kind_words(&mut hints, kind);
        }
        Expecting::Readback { kind, said } => {
            hints.push(said);
            kind_words(&mut hints, kind);
        }
    }
    hints
}

/// The words an answer of `kind` is made of, beyond what Whisper gets right unaided.
fn kind_words(hints: &mut SttHints, kind: &FieldKind) {
    match kind {
        FieldKind::Choice { options } => hints.extend(options.iter().map(String::as_str)),
        FieldKind::Date => {
            hints.extend(WEEKDAYS);
            hints.extend(MONTHS);
        }
        FieldKind::DateTime => {
            hints.extend(WEEKDAYS);
            hints.extend(MONTHS);
        }
        FieldKind::Email => hints.extend(MAIL_DOMAINS),
        // Whisper writes times well unaided; "AM, PM" in the hint made it add them where none
        // was said.
        FieldKind::Time
        | FieldKind::YesNo
        | FieldKind::Phone
        | FieldKind::Number
        | FieldKind::Digits
        | FieldKind::Rating { .. }
        | FieldKind::Text => {}
    }
}

impl Conversation {
    /// What the caller is likely to say in the turn being listened to, for the recognizer: the
    /// callee's name and the organization at the name check, else what the current question
    /// expects (its options, weekdays and months for a date, mail domains and the callee's name for
    /// an email, the read-back value); see [`turn_hints`].
    pub fn stt_hints(&self) -> SttHints {
        let readback_said;
        let expecting = if self.asking_identity {
            Expecting::Identity
        } else if let Some(rb) = &self.readback {
            match self.workflow.steps.get(rb.step) {
                Some(step) => {
                    readback_said = super::answers::spoken(&step.field.kind, &rb.value);
                    Expecting::Readback {
                        kind: &step.field.kind,
                        said: &readback_said,
                    }
                }
                None => Expecting::Anything,
            }
        } else {
            match self.step.and_then(|i| self.workflow.steps.get(i)) {
                Some(step) => Expecting::Answer(&step.field.kind),
                None => Expecting::Anything,
            }
        };
        turn_hints(
            self.workflow.callee.as_deref(),
            self.workflow.organization.as_deref(),
            expecting,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_for_who_answers_and_options_for_an_answer() {
        let kind = FieldKind::Choice {
            options: vec!["Thursday at 10 AM".into(), "Friday at 3 PM".into()],
        };
        let answer = turn_hints(
            Some("Priya Raman"),
            Some("Lakeside Dental"),
            Expecting::Answer(&kind),
        );
        assert_eq!(
            answer.prompt().as_deref(),
            Some("Thursday at 10 AM, Friday at 3 PM.")
        );
        let identity = turn_hints(Some("Priya Raman"), Some("Lakeside Dental"), Expecting::Identity);
        assert_eq!(
            identity.prompt().as_deref(),
            Some("Priya Raman, Lakeside Dental.")
        );
        // Addresses are often made of the name.
        let email = turn_hints(
            Some("Priya Raman"),
            Some("Lakeside Dental"),
            Expecting::Answer(&FieldKind::Email),
        );
        assert_eq!(email.terms()[0], "Priya Raman");
        assert!(email.terms().iter().any(|t| t == "outlook.com"));
    }

    #[test]
    fn dates_bring_weekdays_and_months() {
        let hints = turn_hints(None, None, Expecting::Answer(&FieldKind::Date));
        assert!(hints.terms().iter().any(|t| t == "Thursday"));
        assert!(hints.terms().iter().any(|t| t == "September"));
        let hints = turn_hints(Some("Sam"), Some("Acme"), Expecting::Answer(&FieldKind::Number));
        assert!(
            hints.is_empty(),
            "Whisper writes numbers well; names would only get in"
        );
    }

    #[test]
    fn a_readback_hints_the_value_read() {
        let hints = turn_hints(
            Some("Sam"),
            None,
            Expecting::Readback {
                kind: &FieldKind::DateTime,
                said: "Monday, December 7 at 3 PM",
            },
        );
        assert_eq!(hints.terms()[0], "Monday, December 7 at 3 PM");
    }

    #[test]
    fn a_conversation_hints_what_it_just_asked() {
        use crate::conversation::{Action, ConversationConfig, Input};
        let prompt = "Call Priya Raman for Lakeside Dental and ask whether she prefers \
                      Thursday at 10 AM or Friday at 3 PM for her cleaning.";
        let workflow = crate::workflow::compile(prompt).expect("compiles");
        let mut c = Conversation::new(
            workflow,
            ConversationConfig::new(time::macros::date!(2026 - 11 - 22)),
        );
        c.handle(Input::Answered { now_ms: 0 });
        // Play everything: the disclosure, then the name check.
        let mut now_ms = 0;
        let mut play = |c: &mut Conversation| {
            let says: Vec<_> = std::iter::from_fn(|| c.poll_action())
                .filter_map(|a| match a {
                    Action::Say { id, .. } => Some(id),
                    _ => None,
                })
                .collect();
            for id in says {
                now_ms += 1000;
                c.handle(Input::PlaybackFinished {
                    id,
                    played_ms: 1000,
                    interrupted: false,
                    total_ms: 1000,
                    now_ms,
                });
            }
            now_ms
        };
        let now = play(&mut c);
        assert_eq!(
            c.stt_hints().terms(),
            ["Priya Raman", "Lakeside Dental"],
            "the name check"
        );
        c.handle(Input::CallerSaid {
            text: "Yes, this is Priya.".into(),
            start_ms: now,
            end_ms: now + 1000,
            now_ms: now + 1000,
        });
        play(&mut c);
        // Whatever the compiler made of the prompt, the hints follow the question being asked.
        let step = c.step.expect("a question is asked after the name check");
        let kind = &c.workflow.steps[step].field.kind;
        assert_eq!(
            c.stt_hints(),
            turn_hints(
                Some("Priya Raman"),
                Some("Lakeside Dental"),
                Expecting::Answer(kind)
            )
        );
    }

    #[test]
    fn nothing_known_is_no_hint() {
        assert!(turn_hints(None, None, Expecting::Anything).is_empty());
        assert!(turn_hints(None, None, Expecting::Identity).is_empty());
    }
}
