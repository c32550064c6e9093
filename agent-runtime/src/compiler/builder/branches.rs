//! Reading conditions ("if they need to reschedule, ...") into branches, notes and the voicemail rule.

use super::*;

impl Builder {
    /// A condition and what to do when it holds.
    pub(super) fn conditional(&mut self, cond: &str, cons: &str) {
        let cond_lower = cond.to_lowercase();
        let cons = strip_lead_ins(cons.trim());
        let cons_lower = cons.to_lowercase();
        if is_voicemail_condition(&cond_lower) {
            self.voicemail_rule(cons);
            return;
        }
        if is_reached_person(&cond_lower) || cons.is_empty() && cond_lower.contains("answer") {
            self.clause(cons);
            return;
        }
        if cons_lower.contains("transfer")
            || cons_lower.contains("connect them")
            || cons_lower.contains("put them through")
            || cons_lower.contains("bridge")
            || cons_lower.contains("hand them")
            || cons_lower.contains("hand the call")
            || cons_lower.contains("patch them")
        {
            self.transfer = true;
            return;
        }
        // "If they ask about parking, tell them it is free": something the agent may say.
        if let Some(topic) = asked_about(&cond_lower) {
            let said = strip_any(
                cons,
                &[
                    "tell them that",
                    "tell them",
                    "let them know that",
                    "let them know",
                    "say that",
                    "say",
                    "explain that",
                    "explain",
                    "mention that",
                    "mention",
                    "inform them that",
                    "inform them",
                    "answer that",
                    "respond that",
                    "reply that",
                ],
            )
            .unwrap_or(cons);
            let answer = sentence_case(&self.address(said), '.');
            self.facts.push(Fact { topic, answer });
            return;
        }
        if cons_lower.contains("summary")
            || cons_lower.starts_with("note ")
            || cons_lower.starts_with("make a note")
            || cons_lower.starts_with("flag")
            || cons_lower.starts_with("log ")
            || cons_lower.starts_with("record that")
            || cons_lower.starts_with("write down")
            || cons_lower.starts_with("note it")
            || cons_lower.starts_with("just note")
        {
            self.notes.push(note_for(cond));
            // "note it in the summary but do not negotiate": the rest is a rule.
            if let Some(at) = cons_lower.find(" but ") {
                self.rules.push(sentence_case(&cons[at + 5..], '.'));
            }
            return;
        }
        if is_rule(&cons_lower) {
            self.rules.push(sentence_case(&format!("If {cond}, {cons}"), '.'));
            return;
        }
        if let Some(closing) = closing_instruction(cons) {
            // "If they're not interested, thank them and end the call": the script ends there
            // anyway, unless a branch follows.
            let _ = closing;
            return;
        }
        let condition = self.condition_for(cond);
        // "and if so, whether she wants pickup or delivery": a question without its verb.
        let cons_first = words(&cons_lower).into_iter().next().unwrap_or_default();
        let cons_owned;
        let cons = if matches!(
            cons_first.as_str(),
            "whether" | "what" | "when" | "how" | "which" | "where" | "who"
        ) {
            cons_owned = format!("ask {cons}");
            cons_owned.as_str()
        } else {
            cons
        };
        // A message under a condition is said as the reply to the answer that met it.
        let before_messages = self.messages.len();
        let before_steps = self.steps.len();
        let saved_event = self.reminded_event.clone();
        // "tell them they can renew online and ask if they'd like the office hours": each
        // instruction of the consequence under the same condition.
        for part in clauses(cons) {
            self.clause(&part);
        }
        if let Some(c) = condition {
            let said: Vec<String> = self.messages.drain(before_messages..).collect();
            for say in said {
                self.replies.push(Reply { when: c.clone(), say });
            }
            self.reminded_event = saved_event;
            for step in &mut self.steps[before_steps..] {
                if step.when.is_none() {
                    step.when = Some(c.clone());
                }
            }
            self.last_condition = Some(c);
        }
    }

    /// The condition a branch's words name: on the latest yes/no ("if not", "if she needs to
    /// reschedule", "if that time doesn't work"), on an offered option ("if they pick delivery"),
    /// or on a new yes/no question made from the condition ("if they're interested in a demo").
    pub(super) fn condition_for(&mut self, cond: &str) -> Option<Condition> {
        let lower = cond.to_lowercase();
        let negative = is_negative(&lower);
        // An option of the latest choice.
        let latest_choice = self.steps.iter().rev().find_map(|s| match &s.field.kind {
            FieldKind::Choice { options } => Some((s, options)),
            _ => None,
        });
        if let Some((step, options)) = latest_choice {
            let said = words(&lower);
            if let Some(option) = options.iter().find(|o| {
                let ow = words(o);
                !ow.is_empty() && ow.iter().all(|w| said.contains(w))
            }) {
                return Some(Condition {
                    field: step.field.name.clone(),
                    equals: Value::String(option.clone()),
                });
            }
        }
        // Conditions the agent cannot judge ("if they seem like a good fit", "if possible") or
        // that always hold for it: no branch.
        if is_judgement(&lower) {
            return None;
        }
        // "If she can't do Tuesday", "if they need to move it": the call's confirmation is
        // declined, whatever was asked after it.
        let declines_plan = negative && DECLINED.iter().any(|k| lower.contains(k));
        if declines_plan
            && let Some(step) = self.steps.iter().find(|s| {
                s.field.kind == FieldKind::YesNo && s.when.is_none() && is_confirmation_field(&s.field.name)
            })
        {
            return Some(Condition {
                field: step.field.name.clone(),
                equals: Value::Bool(false),
            });
        }
        // A sibling of the branch just read ("If they say no, ... If they say yes, ...") is on the
        // same question; otherwise the latest unconditional yes/no, then any.
        let sibling = self
            .last_condition
            .as_ref()
            .filter(|_| is_generic_condition(&lower))
            .map(|c| c.field.clone());
        // "If Friday no longer works" after "Is there parking?": the yes/no it talks about.
        let named = self.steps.iter().rev().find(|s| {
            s.field.kind == FieldKind::YesNo
                && s.when.is_none()
                && shares_content(&lower, &s.question.to_lowercase())
        });
        let latest_yes_no = sibling
            .and_then(|f| self.steps.iter().find(|s| s.field.name == f))
            .or(named)
            .or_else(|| {
                self.steps
                    .iter()
                    .rev()
                    .find(|s| s.field.kind == FieldKind::YesNo && s.when.is_none())
            })
            .or_else(|| self.steps.iter().rev().find(|s| s.field.kind == FieldKind::YesNo))
            .map(|s| (s.field.name.clone(), s.question.clone()));
        let refers_back = lower.starts_with("that ")
            || lower.starts_with("this ")
            || lower.starts_with("it ")
            || lower.starts_with("those ")
            || lower.starts_with("the time")
            || lower.starts_with("the date")
            || lower.starts_with("the day")
            || lower.starts_with("none ")
            || lower.starts_with("neither");
        if let Some((field, question)) = &latest_yes_no {
            // Said of the latest confirmation, a wish for another time declines it too.
            let changes = is_confirmation_field(field)
                && negative
                && DECLINED
                    .iter()
                    .chain(&["change", "move", "different", "another", "other", "push"])
                    .any(|k| lower.contains(k));
            if is_generic_condition(&lower)
                || refers_back
                || changes
                || shares_content(&lower, &question.to_lowercase())
            {
                return Some(Condition {
                    field: field.clone(),
                    equals: Value::Bool(!negative),
                });
            }
        }
        if latest_yes_no.is_none() && (is_generic_condition(&lower) || refers_back) {
            return None;
        }
        // A new question: "if they're interested in a demo" -> "Are you interested in a demo?"
        let positive = positive_form(cond);
        let addressed = self.address(&positive);
        let ask = yes_no_ask(&addressed, "");
        if ask.question.is_empty() {
            return None;
        }
        let name = self.unique_name(&ask.name);
        let field = name.clone();
        self.steps.push(Step {
            question: ask.question,
            field: Field {
                name,
                kind: FieldKind::YesNo,
            },
            when: None,
        });
        Some(Condition {
            field,
            equals: Value::Bool(!negative),
        })
    }

    /// "If you reach voicemail, leave a message saying ...", "don't leave a voicemail".
    pub(super) fn voicemail_rule(&mut self, cons: &str) {
        let lower = cons.to_lowercase();
        self.voicemail_same |= lower.contains("same");
        if lower.contains("don't leave")
            || lower.contains("do not leave")
            || lower.contains("no message")
            || lower.contains("not leave")
            || lower.starts_with("hang up")
            || lower.starts_with("just hang up")
            || lower.starts_with("end the call")
            || lower.starts_with("skip")
            || lower.contains("don't bother")
            || lower.starts_with("try again later")
            || lower.starts_with("call back later")
        {
            self.voicemail = Voicemail::Skip;
            return;
        }
        // "leave that message and our number": the message already given, on the machine too.
        let refers_back = [
            "that message",
            "this message",
            "the same message",
            "the message above",
            "that info",
            "this info",
            "that information",
            "the same info",
            "that reminder",
            "the same reminder",
            "the same",
        ]
        .iter()
        .any(|k| lower.contains(k))
            && !lower.contains("saying")
            && !lower.contains(": ");
        if refers_back {
            self.voicemail_same = true;
            self.voicemail = Voicemail::Generated {
                callback: phone_in(cons),
            };
            return;
        }
        for marker in [
            "saying that ",
            "saying: ",
            "saying ",
            "that says ",
            "that said ",
            "which says ",
            "telling them that ",
            "telling them ",
            "letting them know that ",
            "letting them know ",
            "to let them know that ",
            "to let them know ",
            "tell them that ",
            "tell him that ",
            "tell her that ",
            "tell them ",
            "tell him ",
            "tell her ",
            "let them know that ",
            "let him know that ",
            "let her know that ",
            "let them know ",
            "let him know ",
            "let her know ",
            "message: ",
            "voicemail: ",
            ": ",
            " that ",
        ] {
            if let Some(at) = lower.find(marker) {
                let text = cons[at + marker.len()..].trim().trim_matches('"').trim();
                if !text.is_empty() && !text.to_lowercase().starts_with("ask") {
                    // "tell him they're ready and that we're open 9 to 6": told to him, "they"
                    // are the things he waits for, not him.
                    let one_person = [" him ", " her "].iter().any(|p| marker.contains(p.trim_start()));
                    let text = text.replace(" and that ", " and ");
                    let text = if one_person {
                        keep_they(&text, |t| self.address(t))
                    } else {
                        self.address(&text)
                    };
                    self.voicemail = Voicemail::Exact(sentence_case(&text, '.'));
                    return;
                }
            }
        }
        let callback = phone_in(cons);
        self.voicemail = Voicemail::Generated { callback };
    }

    /// An unconditional voicemail instruction ("Leave a voicemail with ...", "Don't leave a
    /// message"); false when the clause is not one.
    pub(super) fn voicemail_instruction(&mut self, c: &str) -> bool {
        let lower = c.to_lowercase();
        let about_voicemail = lower.contains("voicemail")
            || lower.contains("voice mail")
            || lower.contains("answering machine")
            || (lower.contains("leave a") && (lower.contains("message") || lower.contains("vm")));
        if !about_voicemail {
            return false;
        }
        if lower.starts_with("leave")
            || lower.starts_with("don't leave")
            || lower.starts_with("do not leave")
            || lower.starts_with("never leave")
            || lower.starts_with("no voicemail")
            || lower.starts_with("no voicemails")
            || lower.starts_with("if voicemail")
            || lower.starts_with("on voicemail")
            || lower.starts_with("for voicemail")
            || lower.starts_with("voicemail")
            || lower.starts_with("in case of voicemail")
        {
            let cons = strip_any(
                c,
                &[
                    "if voicemail,",
                    "if voicemail",
                    "on voicemail,",
                    "on voicemail",
                    "for voicemail,",
                    "for voicemail",
                    "voicemail:",
                    "voicemail",
                    "in case of voicemail,",
                    "in case of voicemail",
                ],
            )
            .unwrap_or(c);
            self.voicemail_rule(cons);
            return true;
        }
        false
    }
}

/// `address` applied to a text whose "they", "them" and "their" stay as they are (they name
/// things or others when the callee is one person spoken of as "him" or "her").
fn keep_they(text: &str, address: impl Fn(&str) -> String) -> String {
    const KEPT: &[(&str, &str)] = &[
        ("They're", "\u{5}A"),
        ("they're", "\u{5}B"),
        ("They", "\u{5}C"),
        ("they", "\u{5}D"),
        ("Them", "\u{5}E"),
        ("them", "\u{5}F"),
        ("Their", "\u{5}G"),
        ("their", "\u{5}H"),
    ];
    let protected = text
        .split(' ')
        .map(|w| {
            let (core, tail) = split_trailing_punct(w);
            match KEPT.iter().find(|(k, _)| *k == core) {
                Some((_, mark)) => format!("{mark}{tail}"),
                None => w.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    KEPT.iter()
        .fold(address(&protected), |t, (word, mark)| t.replace(mark, word))
}

/// Words of a condition that declines the plan being confirmed ("she can't do Tuesday", "if they
/// need to reschedule", "if that no longer works").
const DECLINED: &[&str] = &[
    "can't",
    "cannot",
    "unable",
    "not able",
    "won't",
    "doesn't work",
    "does not work",
    "reschedule",
    "cancel",
    "not available",
    "unavailable",
    "conflict",
    "no longer",
    "move it",
];

/// Whether a field holds the call's confirmation ("confirmed", "appointment_confirmed",
/// "attending").
fn is_confirmation_field(name: &str) -> bool {
    name == "confirmed" || name.ends_with("_confirmed") || name == "attending"
}
