//! The compiler on the prompts its first version handled, and on the shapes the corpus grew from.

use super::compile;
use crate::workflow::{Condition, Field, FieldKind, MAX_PROMPT_CHARS, WorkflowError};

#[test]
fn the_appointment_prompt() {
    let w = compile(
        "You are calling on behalf of Bright Dental to confirm an appointment. \
         Ask if they can come to their appointment on Tuesday at 3 PM. \
         If they need to reschedule, offer Monday or Wednesday. \
         Get their email address for the reminder. \
         If you reach voicemail, leave a message saying Bright Dental called about your appointment, please call back.",
    )
    .expect("compiles");
    assert_eq!(w.organization.as_deref(), Some("Bright Dental"));
    assert_eq!(
        w.opening,
        "Hello, this is an AI assistant calling on behalf of Bright Dental."
    );
    assert_eq!(w.steps.len(), 3, "{:#?}", w.steps);
    assert_eq!(
        w.steps[0].question,
        "Can you come to your appointment on Tuesday at 3 PM?"
    );
    assert_eq!(
        w.steps[0].field,
        Field {
            name: "confirmed".into(),
            kind: FieldKind::YesNo
        }
    );
    assert_eq!(
        w.steps[1].question,
        "Would Monday or Wednesday work better for you?"
    );
    assert_eq!(
        w.steps[1].field.kind,
        FieldKind::Choice {
            options: vec!["Monday".into(), "Wednesday".into()]
        }
    );
    assert_eq!(
        w.steps[1].when,
        Some(Condition {
            field: "confirmed".into(),
            equals: false.into()
        })
    );
    assert_eq!(w.steps[2].field.kind, FieldKind::Email);
    assert!(
        w.voicemail_message
            .ends_with("Bright Dental called about your appointment, please call back."),
        "{}",
        w.voicemail_message
    );
    assert!(w.voicemail_message.starts_with("Hello, this is an AI assistant"));
}

#[test]
fn questions_and_instructions() {
    let w = compile("Can you attend on Tuesday at 3 p.m. tomorrow? Find out how many people will come.")
        .expect("compiles");
    assert_eq!(
        w.steps[0].question,
        "Can you attend on Tuesday at 3 p.m. tomorrow?"
    );
    assert_eq!(w.steps[0].field.kind, FieldKind::YesNo);
    assert_eq!(w.steps[1].question, "How many people will come?");
    assert_eq!(w.steps[1].field.kind, FieldKind::Number);
    let w = compile("Ask them what time works best for the delivery.").expect("compiles");
    assert_eq!(w.steps[0].field.kind, FieldKind::Time, "{:?}", w.steps[0]);
}

#[test]
fn the_callee_is_named_and_lists_become_questions() {
    let w = compile(
        "Call this lead from the contact form. Ask about their company size, what problem they're trying to \
         solve, and their timeline for a decision. Collect their email and preferred meeting time.",
    )
    .expect("compiles");
    let kinds: Vec<&FieldKind> = w.steps.iter().map(|s| &s.field.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &FieldKind::Number,
            &FieldKind::Text,
            &FieldKind::Text,
            &FieldKind::Email,
            &FieldKind::DateTime
        ],
        "{:#?}",
        w.steps
    );
    let w = compile("Call Sarah Kim and confirm her appointment on Thursday at 2 PM.").expect("compiles");
    assert_eq!(w.callee.as_deref(), Some("Sarah Kim"));
    assert_eq!(
        w.identity_question().as_deref(),
        Some("Am I speaking with Sarah?")
    );
}

#[test]
fn menus_limits_and_transfers() {
    let w = compile(
        "Call the utility company. Navigate the phone menu to billing. Ask whether the late fee can be waived. \
         If they want to speak to a person, transfer them. Keep the call under 3 minutes.",
    )
    .expect("compiles");
    assert_eq!(w.ivr_target.as_deref(), Some("billing"));
    assert!(w.transfer_on_request);
    assert_eq!(w.max_duration_secs, 180);
    assert_eq!(w.steps.len(), 1);
}

#[test]
fn refusals_say_why() {
    assert_eq!(compile("   "), Err(WorkflowError::Empty));
    assert_eq!(compile("Be nice."), Err(WorkflowError::TooVague));
    assert_eq!(
        compile("Call the customer and see how they're doing."),
        Err(WorkflowError::TooVague)
    );
    assert_eq!(
        compile("Llama al cliente y confirma su cita del viernes."),
        Err(WorkflowError::NotEnglish)
    );
    assert_eq!(compile("\u{0}\u{1}%%%% ////"), Err(WorkflowError::Unreadable));
    assert!(matches!(
        compile(&"a".repeat(MAX_PROMPT_CHARS + 1)),
        Err(WorkflowError::TooLong { .. })
    ));
    assert!(
        WorkflowError::TooVague
            .to_string()
            .contains("Ask if they can come")
    );
}

#[test]
fn validation_catches_broken_workflows() {
    let mut w = compile("Ask if they can come on Tuesday.").expect("compiles");
    assert_eq!(w.validate(), Ok(()));
    w.opening = "Hi there!".into();
    assert!(matches!(w.validate(), Err(WorkflowError::Invalid(_))));
    let json =
        serde_json::to_value(compile("Offer Monday or Tuesday.").expect("compiles")).expect("serializes");
    assert_eq!(json["steps"][0]["field"]["type"], "choice");
    let back: crate::workflow::Workflow = serde_json::from_value(json).expect("round trips");
    assert_eq!(back.steps[0].field.name, "choice");
}

/// Letters whose lowercase takes more bytes than they do ("İ" is two, "i̇" three) once put
/// offsets found in a lowered copy off their character boundaries; no prompt may crash the
/// compiler.
#[test]
fn letters_that_change_length_when_lowered_never_crash_it() {
    for prompt in [
        "Call İlkay about her İstanbul trip. Ask if she'd like to rebook İt, or get a refund.",
        "İİİİ call about İ. İf they can't, ask when to call back.",
        "Ask: İ, İİ, and İİİ. If yes to İ, offer Ⱥ or Ⱦ.",
        "{\"task\": \"confirm İ\", \"guest\": \"Ⱥnna\", \"if_declined\": \"ask İ\"}",
        "Remind Ⱥlex that the İnvoice is due. Rate the İ from 1 to 10, rate Ⱦ from 1 to 10, and whether ok.",
        "ⱥⱥⱥ, İ: how İ, which Ⱥ: x, y, or z",
    ] {
        let _ = compile(prompt);
    }
}
