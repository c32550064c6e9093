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

/// The shapes a fourth, blind development part showed: each with sentences of its own.
mod shapes_seen_in_dev4 {
    use super::*;

    fn kinds(prompt: &str) -> Vec<FieldKind> {
        compile(prompt)
            .expect("compiles")
            .steps
            .into_iter()
            .map(|s| s.field.kind)
            .collect()
    }

    #[test]
    fn an_inverted_auxiliary_agrees_with_you() {
        let w = compile("Call Dora Finch for Ashgrove Clinic. Ask whether she has been able to book her scan, and how satisfied was she with the nurse.")
            .expect("compiles");
        let questions: Vec<&str> = w.steps.iter().map(|s| s.question.as_str()).collect();
        assert!(
            questions
                .iter()
                .all(|q| !q.contains("Has you") && !q.contains("was you") && !q.contains("you has")),
            "{questions:?}"
        );
    }

    #[test]
    fn options_in_parentheses_make_a_choice() {
        assert_eq!(
            kinds(
                "Survey for Pinecrest Dairy customers. Ask: How do you usually buy our milk (grocery store, farm stand, or delivery)?"
            ),
            vec![FieldKind::Choice {
                options: vec!["grocery store".into(), "farm stand".into(), "delivery".into()]
            }]
        );
        let w = compile("Call the parent for Oakline Tutoring and check whether their son is preparing for an exam (GED, SAT, or none).")
            .expect("compiles");
        assert!(
            matches!(&w.steps[0].field.kind, FieldKind::Choice { options } if options.len() == 3),
            "{:?}",
            w.steps
        );
    }

    #[test]
    fn shorthand_questions_keep_their_kinds() {
        assert_eq!(
            kinds("Lead qual for Brightmill (bakery software). # of stores? using a scale now y/n?"),
            vec![FieldKind::Number, FieldKind::YesNo]
        );
        let w = compile("Lead qual for Brightmill (bakery software). # of stores?").expect("compiles");
        assert_eq!(w.organization.as_deref(), Some("Brightmill"));
    }

    #[test]
    fn whom_to_ask_before_a_colon_is_not_a_question() {
        let w = compile("You are a survey assistant for the Elmwood Parks Department. Ask visitors: How often do you visit the park (weekly, monthly, or rarely)? Would you use a dog run?")
            .expect("compiles");
        assert_eq!(w.steps.len(), 2, "{:#?}", w.steps);
        assert!(w.steps[0].question.starts_with("How often"));
    }

    #[test]
    fn menu_goals_in_more_phrasings() {
        for (prompt, target) in [
            (
                "Navigate the phone menu at the Brookfield Town Hall to the dog license office. Ask what the fee is.",
                "dog license",
            ),
            (
                "Call Sunfield Power, press whatever gets you to the outage line, and ask when power returns.",
                "outage",
            ),
            (
                "Reach claims scheduling at Coastway Insurance and ask for the next inspection date.",
                "claims scheduling",
            ),
            (
                "Call Marlow Drugs and get me to the pharmacy. Ask what they need to move a prescription.",
                "pharmacy",
            ),
            (
                "Dial Ridgeway Water, work through the automated menu to the new service option, and ask about deposits.",
                "new service",
            ),
            (
                "Call the county passport office and press whatever you need to reach a live representative. Ask about the status of my application.",
                "representative",
            ),
        ] {
            let w = compile(prompt).expect("compiles");
            assert_eq!(w.ivr_target.as_deref(), Some(target), "{prompt}");
        }
    }

    #[test]
    fn going_somewhere_is_a_menu_goal_only_where_a_menu_is_named() {
        let w = compile(
            "Call Dana Pruitt from Elmstead Clinic. Ask her to go to the records office portal and confirm her address is still 12 Oak Lane.",
        )
        .expect("compiles");
        assert_eq!(w.ivr_target, None, "{w:#?}");
        assert!(!w.steps.is_empty(), "the question is kept: {w:#?}");
    }

    #[test]
    fn a_json_brief_with_fields_as_data_asks_each_in_order() {
        let w = compile(
            r#"{"business": "Fernhill Movers", "lead": "Ada Quist", "collect": {"moving_date": "date", "bedrooms": "number", "service": "one of packing, loading, full move"}}"#,
        )
        .expect("compiles");
        let kinds: Vec<&FieldKind> = w.steps.iter().map(|s| &s.field.kind).collect();
        assert_eq!(kinds.len(), 3, "{:#?}", w.steps);
        assert!(matches!(kinds[0], FieldKind::Date), "{:#?}", w.steps);
        assert!(matches!(kinds[1], FieldKind::Number), "{:#?}", w.steps);
        assert!(
            matches!(kinds[2], FieldKind::Choice { options } if options.len() == 3),
            "{:#?}",
            w.steps
        );
        let w = compile(
            r#"{"survey": "Larkspur Books members", "questions": [{"q": "How would you rate our events?", "scale": "1-5"}, {"q": "Favorite section", "options": ["fiction", "history", "kids"]}]}"#,
        )
        .expect("compiles");
        assert!(
            matches!(w.steps[0].field.kind, FieldKind::Rating { min: 1, max: 5 }),
            "{:#?}",
            w.steps
        );
        assert!(
            matches!(&w.steps[1].field.kind, FieldKind::Choice { options } if options.len() == 3),
            "{:#?}",
            w.steps
        );
    }

    #[test]
    fn a_lead_in_like_just_does_not_hide_the_ask() {
        let w = compile(
            "Call Ivo Brandt for Hollis Wealth Partners. Just find out the best number to reach him at.",
        )
        .expect("compiles");
        assert_eq!(w.steps[0].field.kind, FieldKind::Phone);
    }
}

/// "A or B" questions whose last option runs on into the question, or shares its article.
#[test]
fn an_or_question_keeps_only_its_options() {
    for (question, options) in [
        (
            "Would you like a refund or a credit toward a future order?",
            vec!["refund", "credit"],
        ),
        (
            "Are weekdays or weekends better for you?",
            vec!["weekdays", "weekends"],
        ),
        (
            "Do you want pickup or delivery for your next order?",
            vec!["pickup", "delivery"],
        ),
    ] {
        let w = compile(&format!("Call Jo Park for Elmstead Clinic. {question}")).expect("compiles");
        assert_eq!(
            w.steps[0].field.kind,
            FieldKind::Choice {
                options: options.iter().map(|o| (*o).to_owned()).collect()
            },
            "{question}"
        );
    }
}

/// "Would you mind giving X a ring ...?" is the request to call; "see if A at 10 AM or B suits
/// her better" compares two options (and "AM" is not the verb "am").
#[test]
fn a_polite_ring_and_a_compared_pair() {
    let w = compile(
        "Would you mind giving Mr. Alvarado a ring on behalf of Cedar Point Dental? He is booked for a cleaning \
         on Thursday at 9 AM. We'd love to confirm he's still coming; otherwise, see if Monday at 10 AM or \
         Tuesday at 2 PM suits him better.",
    )
    .expect("compiles");
    assert_eq!(w.callee.as_deref(), Some("Mr. Alvarado"));
    assert_eq!(w.organization.as_deref(), Some("Cedar Point Dental"));
    let last = w.steps.last().expect("a step");
    assert_eq!(
        last.field.kind,
        FieldKind::Choice {
            options: vec!["Monday at 10 AM".into(), "Tuesday at 2 PM".into()]
        },
        "{:#?}",
        w.steps
    );
    assert!(!last.question.starts_with("Am "), "{}", last.question);
}

/// A YAML-style brief: a condition written as a key, labelled facts under a title.
#[test]
fn keyed_conditions_and_labelled_facts() {
    let w = compile(
        "restaurant: Casa Lumo\nguest: Idris Vance\nbooking: Friday 8 PM\nsteps:\n  - confirm the booking\n  \
         - if_cancelled: ask whether he'd like to rebook for another night\n  - ask if it's a birthday",
    )
    .expect("compiles");
    let rebook = w
        .steps
        .iter()
        .find(|s| s.question.to_lowercase().contains("rebook"))
        .expect("the rebook question");
    assert!(
        rebook.when.is_some(),
        "asked only when the booking is off: {:#?}",
        w.steps
    );
    let w = compile(
        "Pinewood Roofing - confirm job start\n- Client: Oona Reyes\n- Start: Tuesday 8 AM, crew of 4\n\
         - Check: can we park the dumpster on the street?",
    )
    .expect("compiles");
    assert!(
        w.steps
            .iter()
            .all(|s| !s.question.to_lowercase().contains("client")),
        "a labelled fact is not a question: {:#?}",
        w.steps
    );
}

/// The shapes a fifth, blind development part showed: each tested with sentences of its own.
mod shapes_seen_in_dev5 {
    use super::*;

    fn compiled(prompt: &str) -> crate::workflow::Workflow {
        compile(prompt).expect("compiles")
    }

    #[test]
    fn a_persona_line_names_the_business() {
        let w = compiled(
            "You are Mara, a support rep at Quillfeather, a bookkeeping app for bakeries. Ask Tomas Reyes how many invoices he sends a month.",
        );
        assert_eq!(w.organization.as_deref(), Some("Quillfeather"));
        let w = compiled(
            "Hello, I'm the secretary of the Larkspur Garden Club and I'm hoping you can help. Ask Mrs. Oduya whether she will bring a dish on Sunday.",
        );
        assert_eq!(w.organization.as_deref(), Some("Larkspur Garden Club"));
        // A sentence that says what the call is for has no role in it.
        let w = compiled(
            "This is Tidewell Movers calling to confirm the move for the Haskins family on May 2. Ask whether there is an elevator.",
        );
        assert_ne!(w.organization.as_deref(), Some("Haskins"));
    }

    #[test]
    fn a_filled_template_names_its_business_and_callee() {
        let w = compiled(
            "Customer name: Odile Fontaine\nService: chimney sweep\nCompany: Brightflue Chimney Care\nInstructions: Confirm the visit on Monday at 9 AM. Ask where the fireplace is: living room, den, or basement.",
        );
        assert_eq!(w.organization.as_deref(), Some("Brightflue Chimney Care"));
        assert_eq!(w.callee.as_deref(), Some("Odile Fontaine"));
        let last = &w.steps.last().expect("a step").field.kind;
        assert_eq!(
            *last,
            FieldKind::Choice {
                options: vec!["living room".into(), "den".into(), "basement".into()]
            },
            "{:#?}",
            w.steps
        );
    }

    #[test]
    fn an_addressed_person_is_the_callee_unless_they_are_met() {
        let w =
            compiled("We shipped Mr. Pellegrino his replacement blender on Monday. Ask whether it arrived.");
        assert_eq!(w.callee.as_deref(), Some("Mr. Pellegrino"));
        let w = compiled("Ms. Vance's water heater service is due this month. Ask if she'd like to book it.");
        assert_eq!(w.callee.as_deref(), Some("Ms. Vance"));
        let w =
            compiled("Call the parent of Ruby Tan to confirm the meeting with Mr. Dorsey on Friday at 3 PM.");
        assert_ne!(w.callee.as_deref(), Some("Mr. Dorsey"));
    }

    #[test]
    fn a_callees_wish_to_talk_to_sales_is_a_question_not_a_menu() {
        let w = compiled(
            "Call the account owner and ask how many licenses they need, and whether they'd like to talk to sales about volume pricing.",
        );
        assert_eq!(w.ivr_target, None);
        assert_eq!(w.steps.len(), 2, "{:#?}", w.steps);
        assert_eq!(w.steps[1].field.kind, FieldKind::YesNo);
    }

    #[test]
    fn scales_written_in_the_ways_people_write_them() {
        let w = compiled(
            "Survey for Fernhill Library patrons. Questions:\nHow would you rate our opening hours, 1-10?\nAnything we should add?",
        );
        assert_eq!(w.steps[0].field.kind, FieldKind::Rating { min: 1, max: 10 });
        let w = compiled(
            "Parent survey for Oakridge Elementary.\n1) On a scale of 1 to 5, how happy are you with the new lunch menu?\n2) Does your child take the bus?",
        );
        assert_eq!(w.steps.len(), 2, "{:#?}", w.steps);
        assert_eq!(w.steps[0].field.kind, FieldKind::Rating { min: 1, max: 5 });
        assert!(
            w.steps[0].question.contains("lunch menu"),
            "{}",
            w.steps[0].question
        );
        let w = compiled(
            r#"{"org": "Harbor Lights Choir", "questions": [{"ask": "Rate the concert overall", "scale": [1, 10]}]}"#,
        );
        assert_eq!(w.steps[0].field.kind, FieldKind::Rating { min: 1, max: 10 });
    }
}

/// A prompt that is the message itself, under a label: its lines are told, the callee is asked
/// whether they got it, and the agent's own instructions after it still count.
#[test]
fn a_labelled_notice_is_the_message() {
    let w = compile(
        "Friendly reminder from Oakmont Library: the book you reserved is ready and will be held \
         until Friday. Bring your library card. Don't ask anything else.",
    )
    .expect("a notice compiles");
    let message = w.message.clone().expect("a message");
    assert!(message.contains("held until Friday"), "{message}");
    assert!(message.contains("Bring your library card"), "{message}");
    assert!(!message.contains("ask anything"), "{message}");
    assert_eq!(w.steps.len(), 1, "{:?}", w.steps);
    assert_eq!(w.steps[0].field.kind, FieldKind::YesNo);

    let w = compile(
        "Reminder for jurors: the juror is due at the courthouse Monday at 8 AM. If you get voicemail, \
         leave the same message.",
    )
    .expect("compiles");
    let message = w.message.clone().expect("a message");
    assert!(message.contains("you are due at the courthouse"), "{message}");
    assert!(
        w.voicemail_message.contains("Monday at 8 AM"),
        "{}",
        w.voicemail_message
    );
    // A label that is not a notice's is not read as one.
    assert!(compile("Reminder call script for the clinic: nothing here.").is_err());
}

/// Options after a colon start at the colon, however long the last one is; the question's own
/// verb and a noun only the last option says are not part of an option.
#[test]
fn options_are_the_options_words() {
    for (prompt, options) in [
        (
            "Ask which option he wants: pay in full or payment plan.",
            vec!["pay in full", "payment plan"],
        ),
        (
            "Ask if he wants to pay in full or set up a payment plan.",
            vec!["pay in full", "set up a payment plan"],
        ),
        (
            "Find out whether she prefers a morning or an afternoon visit.",
            vec!["morning", "afternoon"],
        ),
    ] {
        let w = compile(prompt).expect("compiles");
        assert_eq!(
            w.steps[0].field.kind,
            FieldKind::Choice {
                options: options.iter().map(|o| o.to_string()).collect()
            },
            "{prompt}"
        );
    }
}
