//! Reading what a clause asks for: questions, fields to collect, confirmations and offers.

use super::*;

/// Times offered without an offer verb: "we have openings Monday at 2 or Wednesday at 4", "Sam
/// also has Friday at 1 PM or next Monday at 9:15 AM available, so please let her pick one",
/// "Thursday or Friday are open".
fn availability_options(c: &str) -> Option<Vec<String>> {
    let lower = c.to_lowercase();
    const MARKS: &[&str] = &[
        "openings on",
        "openings",
        "opening on",
        "availability on",
        "availability",
        "slots on",
        "slots",
        "also has",
        "also have",
        "we can do",
        "we could do",
    ];
    let (at, len) = MARKS.iter().find_map(|m| {
        let at = lower.find(&format!("{m} "))?;
        Some((at, m.len() + 1))
    })?;
    let mut rest = c[at + len..].trim();
    for tail in [
        ", so",
        " so please",
        " available",
        " open",
        ". ",
        " for them",
        " if ",
    ] {
        if let Some(cut) = rest.to_lowercase().find(tail) {
            rest = rest[..cut].trim();
        }
    }
    let options = clean_options(options_in(rest)?);
    let timely = |o: &String| {
        let l = o.to_lowercase();
        l.chars().any(|ch| ch.is_ascii_digit())
            || [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "morning",
                "afternoon",
                "evening",
                "tomorrow",
                "next week",
                "noon",
            ]
            .iter()
            .any(|d| l.contains(d))
    };
    (options.len() >= 2 && options.iter().all(timely)).then_some(options)
}

/// Splits "A, what B, and how C" at a comma (and "and") that opens a question word, "whether" or
/// "if"; a single segment when there is none.
fn wh_segments(clause: &str) -> Vec<String> {
    let ws: Vec<&str> = clause.split_whitespace().collect();
    let mut cuts = vec![0];
    // "whether it's been scheduled, the payment date, and the amount": after a yes/no, noun
    // phrases are questions of their own too.
    let first = ws.first().map(|w| w.to_lowercase()).unwrap_or_default();
    let yes_no_first = matches!(first.as_str(), "whether" | "if");
    let noun_opener = |w: &str| yes_no_first && matches!(w, "the" | "their" | "his" | "her" | "your");
    for i in 1..ws.len() {
        let prev = ws[i - 1];
        let w = ws[i].to_lowercase();
        if prev.ends_with(',') && noun_opener(&w) {
            cuts.push(i);
            continue;
        }
        if prev.ends_with(',') && w == "and" && ws.get(i + 1).is_some_and(|n| noun_opener(&n.to_lowercase()))
        {
            cuts.push(i + 1);
            continue;
        }
        let opens = |w: &str| {
            matches!(
                w,
                "what"
                    | "how"
                    | "when"
                    | "which"
                    | "where"
                    | "who"
                    | "whether"
                    | "if"
                    | "why"
                    | "what's"
                    | "how's"
                    | "where's"
                    | "who's"
                    | "when's"
            )
        };
        if prev.ends_with(',') && opens(&w) {
            cuts.push(i);
        } else if prev.ends_with(',')
            && w == "and"
            && ws.get(i + 1).is_some_and(|n| opens(&n.to_lowercase()))
            && ws.get(i + 2).is_none_or(|n| n.to_lowercase() != "so")
        {
            cuts.push(i + 1);
        } else if prev.ends_with(',')
            && matches!(w.as_str(), "and" | "also")
            && ws.get(i + 1).is_some_and(|n| {
                matches!(
                    n.to_lowercase().as_str(),
                    "roughly" | "approximately" | "about" | "exactly" | "also" | "ask"
                )
            })
            && ws.get(i + 2).is_some_and(|n| opens(&n.to_lowercase()))
        {
            cuts.push(i + 2);
        }
    }
    let mut out = Vec::new();
    for (k, &start) in cuts.iter().enumerate() {
        let mut end = cuts.get(k + 1).copied().unwrap_or(ws.len());
        // The words that led into the next part are not this part's: ", and roughly".
        while end > start
            && cuts.get(k + 1).is_some()
            && matches!(
                ws[end - 1].to_lowercase().as_str(),
                "and" | "also" | "roughly" | "approximately" | "about" | "exactly" | "ask"
            )
        {
            end -= 1;
        }
        let seg = ws[start..end].join(" ");
        let seg = seg.trim().trim_end_matches(',').trim().to_owned();
        if !seg.is_empty() {
            out.push(seg);
        }
    }
    out
}

impl Builder {
    /// "Confirm the appointment for Thursday at 2 PM", "Confirm their payment method and the
    /// expected payment date", "Make sure they're still coming", "Verify their address".
    pub(super) fn confirm(&mut self, c: &str) -> bool {
        let Some(rest) = strip_any(
            c,
            &[
                "confirm",
                "re-confirm",
                "reconfirm",
                "verify",
                "double-check",
                "double check",
                "doublecheck",
                "make sure",
                "ensure",
                "check that",
                "check whether",
                "check if",
                "check on",
                "check",
            ],
        ) else {
            return false;
        };
        let lower = c.to_lowercase();
        let rest = self.strip_listener(rest);
        let rest =
            strip_any(rest, &["with them", "with the customer", "with him", "with her"]).unwrap_or(rest);
        // "Confirm with Yusuf Karim that ...": the callee is who confirms.
        let rest = match (strip_word(rest, "with"), self.callee.clone()) {
            (Some(after), Some(name)) => [name.as_str(), greeting_name(&name)]
                .iter()
                .find_map(|n| strip_word(after, n))
                .unwrap_or(rest),
            _ => rest,
        };
        if rest.is_empty() {
            return true;
        }
        let rest_lower = rest.to_lowercase();
        // "check in", "check how they're doing": not a confirmation.
        if lower.starts_with("check in") || lower.starts_with("check how") || lower.starts_with("check up") {
            return false;
        }
        // "Make sure they know to bring their insurance card": something to tell them.
        for lead in [
            "they know to ",
            "they know that ",
            "you know to ",
            "they remember to ",
            "they bring ",
        ] {
            if rest_lower.starts_with(lead) {
                let what = self.address(&rest[lead.len()..]);
                let message = if lead.ends_with("to ") {
                    format!("Please remember to {what}")
                } else if lead == "they bring " {
                    format!("Please bring {what}")
                } else {
                    capitalize(&what)
                };
                self.messages.push(sentence_case(&message, '.'));
                return true;
            }
        }
        // "Verify you're speaking with the account holder": the name check every call with a
        // named callee makes anyway.
        if [
            "you're speaking with",
            "you are speaking with",
            "you're talking to",
            "you are talking to",
            "you have the right person",
            "you've reached",
            "you have reached",
            "it's the right person",
            "identity",
            "you're speaking to",
            "you are speaking to",
        ]
        .iter()
        .any(|k| rest_lower.starts_with(k))
        {
            return true;
        }
        let asks = self.confirmation_asks(rest, &rest_lower);
        self.push_asks(asks, None);
        true
    }

    /// The questions that confirm `rest` (what follows "confirm").
    pub(super) fn confirmation_asks(&mut self, rest: &str, rest_lower: &str) -> Vec<Ask> {
        // "confirm whether/if X": a yes/no on the clause.
        if let Some(clause) = strip_any(rest, &["whether", "if"]) {
            return vec![yes_no_ask(&self.address(clause), "confirmed")];
        }
        let addressed = self.address(strip_any(rest, &["that"]).unwrap_or(rest));
        let that_clause = rest_lower.starts_with("that ") || looks_like_clause(&addressed);
        if that_clause && let Some(q) = invert(&addressed) {
            if let Some(choice) = listed_choice(&addressed, &q, "confirmed") {
                return vec![choice];
            }
            return vec![Ask {
                kind: FieldKind::YesNo,
                name: "confirmed".to_owned(),
                question: q,
            }];
        }
        // Pieces of information: ask for each ("payment method and expected payment date").
        let items = split_list(&addressed);
        let infos: Vec<Option<Ask>> = items
            .iter()
            .map(|item| {
                (event_noun(item).is_none())
                    .then(|| topics::lookup(item))
                    .flatten()
                    .map(|t| Ask {
                        question: confirm_question(&t.question, item),
                        kind: t.kind,
                        name: t.name,
                    })
            })
            .collect();
        if !infos.is_empty() && infos.iter().all(Option::is_some) {
            return infos.into_iter().flatten().collect();
        }
        // "Verify her current interest rate, the balance left on her loan, and whether she's had
        // any late payments": several pieces, each asked for.
        let info_piece = |i: &String| {
            let l = i.to_lowercase();
            let when_words = [
                "today",
                "tomorrow",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                " am",
                " pm",
                "morning",
                "afternoon",
                "noon",
                "'s ",
            ];
            l.starts_with("whether")
                || l.starts_with("if ")
                || (event_noun(i).is_none()
                    && i.split_whitespace().count() <= 9
                    && !when_words.iter().any(|w| l.contains(w))
                    && !l.chars().any(|c| c.is_ascii_digit()))
        };
        if items.len() >= 2 && items.iter().all(info_piece) {
            let mut asks = Vec::new();
            for item in &items {
                match strip_any(item, &["whether", "if"]) {
                    Some(clause) => asks.extend(self.yes_no_clauses(clause)),
                    None => asks.push(ask_for(item)),
                }
            }
            return asks;
        }
        // An event: "the appointment for Thursday at 2 PM" -> "Will you still be able to make
        // your appointment on Thursday at 2 PM?"
        let Some(event) = event_phrase(&addressed) else {
            return vec![Ask {
                question: sentence_case(
                    &format!("Can you confirm {}", addressed.trim_end_matches(['.', '!'])),
                    '?',
                ),
                kind: FieldKind::YesNo,
                name: "confirmed".to_owned(),
            }];
        };
        self.subject.get_or_insert(event.clone());
        vec![Ask {
            question: event_question(&event),
            kind: FieldKind::YesNo,
            name: "confirmed".to_owned(),
        }]
    }

    /// "Ask if ...", "Ask about A, B and C", "Find out when ...", "Collect their email", "Get a
    /// rating from 1 to 10", "See if ...".
    pub(super) fn ask(&mut self, c: &str) -> bool {
        let lower = c.to_lowercase();
        let ws = words(&lower);
        let Some(verb) = ws.first().cloned() else {
            return false;
        };
        // "Survey for former subscribers:", "Poll our members": whom the survey is for, not a
        // question to ask.
        if matches!(verb.as_str(), "survey" | "poll" | "interview") {
            let rest = &ws[1..];
            let asks_something = rest.iter().any(|w| {
                matches!(
                    w.as_str(),
                    "about" | "on" | "whether" | "if" | "what" | "how" | "which" | "why" | "when" | "to"
                )
            });
            let for_whom = rest.first().is_some_and(|w| w == "for")
                || rest.iter().any(|w| super::super::names::is_role(w));
            if for_whom && !asks_something {
                return false;
            }
        }
        let ask_verb = matches!(
            verb.as_str(),
            "ask" | "inquire" | "enquire" | "query" | "question" | "poll" | "survey" | "interview"
        ) || lower.starts_with("find out")
            || (lower.starts_with("see how") || lower.starts_with("check how")) && !is_bare_wellbeing(&lower)
            || lower.starts_with("figure out")
            || lower.starts_with("learn")
            || lower.starts_with("determine")
            || lower.starts_with("see if")
            || lower.starts_with("see whether")
            || lower.starts_with("see what")
            || lower.starts_with("see when")
            || lower.starts_with("see which")
            || lower.starts_with("check if")
            || lower.starts_with("check whether")
            || lower.starts_with("understand")
            || lower.starts_with("discover")
            || lower.starts_with("gauge")
            || lower.starts_with("assess")
            || lower.starts_with("identify")
            || lower.starts_with("have them")
            || lower.starts_with("get them to")
            || lower.starts_with("we want to know")
            || lower.starts_with("i want to know")
            || lower.starts_with("we need to know")
            || lower.starts_with("i need to know")
            || lower.starts_with("we'd like to know")
            || lower.starts_with("i'd like to know")
            || lower.starts_with("want to know");
        let collect_verb = matches!(
            verb.as_str(),
            "collect"
                | "get"
                | "obtain"
                | "request"
                | "gather"
                | "grab"
                | "take"
                | "capture"
                | "record"
                | "note"
                | "jot"
                | "secure"
                | "retrieve"
                | "fetch"
                | "acquire"
                | "update"
                | "pull"
        );
        if !ask_verb && !collect_verb {
            return false;
        }
        // "Find out:" over a list: the items are the questions.
        let c = c.trim_end_matches(['.', ':', '!']).trim();
        if matches!(
            lower.trim_end_matches(['.', ':', '!']).trim(),
            "find out" | "ask" | "collect" | "gather" | "get" | "learn" | "ask them" | "ask about"
        ) {
            return true;
        }
        let rest = strip_any(
            c,
            &[
                "find out",
                "figure out",
                "we want to know",
                "i want to know",
                "we need to know",
                "i need to know",
                "we'd like to know",
                "i'd like to know",
                "want to know",
                "learn",
                "determine",
                "see",
                "check",
                "understand",
                "discover",
                "gauge",
                "assess",
                "identify",
                "have them",
                "get them to",
                "jot down",
                "note down",
                "write down",
            ],
        )
        .or_else(|| strip_word(c, &verb))
        .unwrap_or("");
        let rest = self.strip_listener(rest);
        let rest = strip_any(rest, &["also", "politely", "kindly", "briefly"]).unwrap_or(rest);
        if rest.is_empty() {
            return false;
        }
        // "get back to", "get them excited": not a collection.
        if collect_verb
            && words(rest)
                .first()
                .is_some_and(|w| matches!(w.as_str(), "back" | "in" | "started" | "going" | "excited"))
        {
            return false;
        }
        // "Ask if they need to reschedule" after a confirmation: when they cannot make it, ask
        // when would work instead.
        let rest_lower = rest.to_lowercase();
        if let Some(confirmed) = self.confirmation_field()
            && (rest_lower.starts_with("if") || rest_lower.starts_with("whether"))
            && (rest_lower.contains("reschedule")
                || rest_lower.contains("change the time")
                || rest_lower.contains("different time")
                || rest_lower.contains("move the"))
        {
            let ask = Ask {
                question: "What day and time would work better for you?".into(),
                kind: FieldKind::DateTime,
                name: "new_time".into(),
            };
            self.push_asks(
                vec![ask],
                Some(Condition {
                    field: confirmed,
                    equals: Value::Bool(false),
                }),
            );
            return true;
        }
        let asks = self.asks_from(rest, collect_verb || lower.starts_with("have them"));
        if asks.is_empty() {
            return false;
        }
        self.push_asks(asks, None);
        true
    }

    /// The field of the call's confirmation question, if it has one.
    pub(super) fn confirmation_field(&self) -> Option<String> {
        self.steps
            .iter()
            .find(|s| {
                s.field.kind == FieldKind::YesNo
                    && (s.field.name == "confirmed" || s.field.name == "attending")
            })
            .map(|s| s.field.name.clone())
    }

    /// The questions in what follows an ask verb, with the notes beside it ("y/n", "1-10",
    /// "(weekly, monthly, or rarely)") applied to the one question it gives.
    pub(super) fn asks_from(&mut self, rest: &str, collecting: bool) -> Vec<Ask> {
        // "to rate X from 1 to 10, and whether Y (yes or no)": each part on its own, with its
        // own notes.
        let segments = wh_segments(rest);
        if segments.len() > 1 {
            let mut asks = Vec::new();
            for segment in segments {
                asks.extend(self.asks_from(&segment, collecting));
            }
            return asks;
        }
        let (base, notes) = annotations::take(rest);
        let mut asks = self.asks_from_text(&base, collecting);
        // "which instrument (piano, guitar, or drums) and the student's age": several questions,
        // each item reads its own notes.
        if asks.len() > 1 && !notes.is_empty() {
            let steps = self.steps.len();
            let with_notes = self.asks_from_text(rest, collecting);
            self.steps.truncate(steps);
            if with_notes.len() == asks.len() {
                return with_notes;
            }
        }
        if asks.len() == 1 {
            let ask = asks.remove(0);
            let topic =
                self.address(strip_any(&base, &["about", "whether", "if", "to", "for"]).unwrap_or(&base));
            asks.push(annotations::apply(ask, &topic, &notes));
        }
        asks
    }

    /// The questions in what follows an ask verb, notes taken off.
    fn asks_from_text(&mut self, rest: &str, collecting: bool) -> Vec<Ask> {
        let rest = rest.trim().trim_end_matches(['.', '!']);
        let rest = strip_any(
            rest,
            &[
                "roughly",
                "approximately",
                "briefly",
                "exactly",
                "specifically",
                "also",
                "politely",
            ],
        )
        .unwrap_or(rest);
        let rest_lower = rest.to_lowercase();
        // "which applies: pay now, payment arrangement, or already paid": options after a colon.
        if let Some((head, list)) = rest.split_once(": ")
            && let Some(options) = options_listed(list).filter(|o| (2..=6).contains(&o.len()))
        {
            // "for a payment date and how he'll pay: autopay, card, or check": the options are
            // the last item's.
            let mut items = split_list(head);
            let last = items.pop().unwrap_or_else(|| head.to_owned());
            let mut asks = Vec::new();
            for item in items {
                asks.extend(self.noun_phrases(&item));
            }
            let head = strip_any(&last, &["for", "about"]).unwrap_or(&last);
            let head = self.address(strip_any(head, &["whether", "if"]).unwrap_or(head));
            let stem = wh_question(&head)
                .or_else(|| invert(&head))
                .unwrap_or_else(|| sentence_case(&head, '?'));
            let stem = stem.trim_end_matches('?');
            let options = clean_options(options);
            asks.push(Ask {
                question: format!("{stem}: {}?", join_options(&options)),
                name: topics::field_name_from(&head),
                kind: FieldKind::Choice { options },
            });
            return asks;
        }
        // A quoted question: ask: "Would you like a receipt?"
        if let Some(q) = quoted(rest) {
            return vec![ask_from_question(&sentence_case(&q, '?'))];
        }
        if let Some(clause) = strip_any(rest, &["whether or not", "whether", "if"]) {
            return self.yes_no_clauses(clause);
        }
        if let Some(clause) = strip_word(rest, "to") {
            return self.ask_to(clause);
        }
        if let Some(np) = strip_any(rest, &["about", "regarding", "for", "on"]) {
            return self.noun_phrases(np);
        }
        let first = words(&rest_lower).into_iter().next().unwrap_or_default();
        if ["what", "when", "where", "which", "who", "why", "how"].contains(&first.as_str()) {
            return self.noun_phrases(rest);
        }
        if rest.ends_with('?') || is_question_start(rest) {
            return vec![ask_from_question(&sentence_case(&self.address(rest), '?'))];
        }
        if collecting
            || rest_lower.starts_with("their ")
            || rest_lower.starts_with("his ")
            || rest_lower.starts_with("her ")
            || rest_lower.starts_with("the ")
            || rest_lower.starts_with("a ")
            || rest_lower.starts_with("an ")
        {
            return self.noun_phrases(rest);
        }
        // "Ask them their budget", "ask how many ...": whatever it is, as an NP.
        self.noun_phrases(rest)
    }

    /// "if they can come on Tuesday and whether they need parking" -> one yes/no each; "whether
    /// they prefer mornings or afternoons" -> a choice.
    pub(super) fn yes_no_clauses(&mut self, clause: &str) -> Vec<Ask> {
        // "if she's pre-approved, what her price range is, and how soon she's moving": a list
        // of questions of different shapes; each is read on its own.
        let segments = wh_segments(clause);
        if segments.len() > 1 {
            let mut asks = self.yes_no_clauses(&segments[0]);
            for seg in &segments[1..] {
                if let Some(rest) = strip_any(seg, &["whether", "if"]) {
                    asks.extend(self.yes_no_clauses(rest));
                } else {
                    asks.extend(self.noun_phrases(seg));
                }
            }
            return asks;
        }
        // "..., and separately whether", "and also if": the same list joint.
        let addressed = self
            .address(clause)
            .replace(" , ", ", ")
            .replace(", and separately ", " and ")
            .replace(" and separately ", " and ")
            .replace(", and also ", " and ")
            .replace(" and also whether ", " and whether ")
            .replace(" and also if ", " and if ")
            .replace(", and whether ", " and whether ")
            .replace(", and if ", " and if ");
        let mut parts: Vec<String> = addressed
            .split(" and whether ")
            .flat_map(|p| p.split(" and if "))
            .flat_map(|p| p.split(", whether "))
            .map(str::to_owned)
            .collect();
        // "whether they rent or own and how many doors it has": a wh-question follows.
        let mut tail = Vec::new();
        if let Some(last) = parts.last_mut() {
            for wh in [
                " and how ",
                " and what ",
                " and when ",
                " and which ",
                " and where ",
                " and who ",
                " and why ",
            ] {
                if let Some(at) = last.find(wh) {
                    tail = self.noun_phrases(&last[at + 5..]);
                    last.truncate(at);
                    break;
                }
            }
        }
        let mut asks: Vec<Ask> = parts
            .iter()
            .map(|p| {
                // "if they have any other comments": the comments are the answer.
                if let Some(t) = topics::lookup(p).filter(|t| t.name == "comments") {
                    return Ask {
                        question: t.question,
                        kind: t.kind,
                        name: t.name,
                    };
                }
                let ask = yes_no_ask(p, "");
                // "whether they prefer A or B": the options are the answer.
                // "whether he's had any whistling or feedback": any of them, yes or no.
                let any_of = p.to_lowercase().contains(" any ");
                if let Some(options) = options_in(p).filter(|o| o.len() <= 5)
                    && !any_of
                    && !p.to_lowercase().contains(" or not")
                    && (p.to_lowercase().contains("prefer")
                        || p.to_lowercase().contains("would like")
                        || p.to_lowercase().contains("'d like")
                        || p.to_lowercase().contains("rather")
                        || p.to_lowercase().contains("want")
                        || options.iter().all(|o| o.split_whitespace().count() <= 3))
                {
                    return Ask {
                        kind: FieldKind::Choice { options },
                        name: name_of(&ask.question, &FieldKind::Text),
                        question: ask.question,
                    };
                }
                // "whether she'd like to pay it now over the phone, or have a statement mailed":
                // two courses of action, too long for a list of options but a choice all the same.
                if let Some(options) = either_course(p) {
                    return Ask {
                        kind: FieldKind::Choice { options },
                        name: name_of(&ask.question, &FieldKind::Text),
                        question: ask.question,
                    };
                }
                ask
            })
            .collect();
        asks.extend(tail);
        asks
    }

    /// "ask them to rate ...", "ask them to confirm ...", "ask them to spell their name".
    pub(super) fn ask_to(&mut self, clause: &str) -> Vec<Ask> {
        let lower = clause.to_ascii_lowercase();
        if lower.starts_with("rate") || lower.starts_with("score") || lower.starts_with("grade") {
            // "rate the repair quality from 1 to 10, rate our communication from 1 to 10, and
            // whether the bill matched the estimate": each rating, then the yes/no.
            let (ratings, yes_no) = match [", and whether ", " and whether ", ", whether "]
                .iter()
                .find_map(|m| lower.find(m).map(|at| (at, m.len())))
            {
                Some((at, len)) => (&clause[..at], Some(&clause[at + len..])),
                None => (clause, None),
            };
            let mut asks = Vec::new();
            let mut rest = ratings;
            loop {
                let rest_lower = rest.to_ascii_lowercase();
                let next = [", and rate ", " and rate ", ", rate "]
                    .iter()
                    .filter_map(|m| rest_lower.find(m).map(|at| (at, m.len())))
                    .min();
                let (this, more) = match next {
                    Some((at, len)) => (&rest[..at], Some(&rest[at + len..])),
                    None => (rest, None),
                };
                let what = strip_any(this, &["rate", "score", "grade"]).unwrap_or(this);
                asks.push(rating_ask(&self.address(what)));
                match more {
                    Some(m) => rest = m,
                    None => break,
                }
            }
            if let Some(q) = yes_no {
                asks.extend(self.yes_no_clauses(q));
            }
            return asks;
        }
        if let Some(rest) = strip_any(clause, &["confirm", "verify"]) {
            let rest_lower = rest.to_lowercase();
            return self.confirmation_asks(rest, &rest_lower);
        }
        if let Some(rest) = strip_any(
            clause,
            &[
                "provide", "give", "share", "tell", "spell", "state", "say", "name", "choose", "pick",
                "select",
            ],
        ) {
            let rest = strip_any(rest, &["us", "me", "you"]).unwrap_or(rest);
            if let Some(options) = options_in(rest) {
                let q = format!("Would you prefer {}?", options.join(" or "));
                return vec![Ask {
                    name: "choice".into(),
                    kind: FieldKind::Choice { options },
                    question: q,
                }];
            }
            return self.noun_phrases(rest);
        }
        // "ask them to describe what happens": what they say is the answer.
        if let Some(rest) = strip_any(
            clause,
            &[
                "describe",
                "explain",
                "walk us through",
                "walk me through",
                "list",
                "summarize",
                "tell us",
                "tell me",
            ],
        ) {
            let addressed = self.address(rest);
            let verb = clause
                .split_whitespace()
                .next()
                .unwrap_or("describe")
                .to_lowercase();
            return vec![Ask {
                question: sentence_case(&format!("Could you {verb} {addressed}"), '?'),
                kind: FieldKind::Text,
                name: topics::field_name_from(&addressed),
            }];
        }
        // "ask them to call back" -> "Could you call us back?": a yes/no request.
        let addressed = self.address(clause);
        vec![Ask {
            question: sentence_case(&format!("Could you {addressed}"), '?'),
            kind: FieldKind::YesNo,
            name: topics::field_name_from(&addressed),
        }]
    }

    /// A list of things to ask about or collect: "their company size, what problem they're
    /// trying to solve, and their timeline".
    pub(super) fn noun_phrases(&mut self, np: &str) -> Vec<Ask> {
        let addressed = self.address(np);
        // A whole rating request ("a rating from 1 to 10 for the service").
        if scale_in(&addressed).is_some()
            && (addressed.to_lowercase().contains("rat")
                || addressed.to_lowercase().contains("score")
                || addressed.to_lowercase().contains("recommend"))
        {
            if let Some(q) = wh_question(&addressed) {
                let (min, max) = scale_in(&addressed).unwrap_or((1, 10));
                return vec![Ask {
                    question: scale_question(&q, min, max),
                    kind: FieldKind::Rating { min, max },
                    name: name_of(&q, &FieldKind::Rating { min, max }),
                }];
            }
            return vec![rating_ask(&addressed)];
        }
        // "how likely they are to recommend us" (no scale given) is a 0-10 score too.
        let items = if options_in(&addressed).is_some()
            && !addressed.contains(',')
            && !addressed.to_lowercase().contains(" and ")
        {
            vec![addressed.clone()]
        } else {
            split_list(&addressed)
        };
        let items = merge_trailing_options(items);
        let mut asks = Vec::new();
        let mut pending_wh: Option<String> = None;
        for item in items {
            // "on a scale of 1 to 5 how satisfied they are": the scale, then the question.
            if let Some(rest) = strip_any(&item, &["on a scale of", "on a scale from", "from"])
                && let Some((min, max)) = scale_in(&format!("from {rest}"))
            {
                let after: Vec<&str> = rest.split_whitespace().skip(3).collect();
                let q = wh_question(&after.join(" ")).unwrap_or_else(|| rating_ask(&item).question);
                let kind = FieldKind::Rating { min, max };
                asks.push(Ask {
                    question: scale_question(&q, min, max),
                    name: name_of(&q, &kind),
                    kind,
                });
                continue;
            }
            // "whether they are happy and would recommend us": the second part shares the wh-word.
            let item = match (&pending_wh, words(&item).first().map(String::as_str)) {
                (Some(_), Some(w))
                    if [
                        "what", "when", "where", "which", "who", "why", "how", "whether", "if",
                    ]
                    .contains(&w) =>
                {
                    item
                }
                _ => item,
            };
            let first = words(&item).into_iter().next().unwrap_or_default();
            if first == "whether" || first == "if" {
                asks.extend(self.yes_no_clauses(strip_any(&item, &["whether", "if"]).unwrap_or(&item)));
                pending_wh = None;
                continue;
            }
            if ["what", "when", "where", "which", "who", "why", "how"].contains(&first.as_str()) {
                pending_wh = Some(first);
            }
            // Notes beside this item ("(we have Tuesday or Thursday mornings)", "y/n").
            let (item, notes) = annotations::take(&item);
            let mut ask = annotations::apply(ask_for(&item), &item, &notes);
            if let Some((min, max)) = scale_in(&item) {
                if !matches!(ask.kind, FieldKind::Rating { .. }) {
                    ask.question = scale_question(&ask.question, min, max);
                    ask.kind = FieldKind::Rating { min, max };
                    ask.name = name_of(&ask.question, &ask.kind);
                }
            } else if item.to_lowercase().contains("recommend") && item.to_lowercase().contains("likely") {
                ask.question = scale_question(&ask.question, 0, 10);
                ask.kind = FieldKind::Rating { min: 0, max: 10 };
                ask.name = "recommend_score".into();
            }
            asks.push(ask);
        }
        asks
    }

    /// "Offer Monday or Tuesday", "offer to schedule a call", "offer a 10% discount".
    pub(super) fn offer(&mut self, c: &str) -> bool {
        if let Some(options) = availability_options(c) {
            let q = format!("Would {} work better for you?", join_options(&options));
            self.push_asks(
                vec![Ask {
                    question: q,
                    kind: FieldKind::Choice { options },
                    name: "choice".into(),
                }],
                None,
            );
            return true;
        }
        let Some(rest) = strip_any(
            c,
            &[
                "offer",
                "propose",
                "suggest",
                "present",
                "give them the option of",
                "give them the choice of",
                "let them choose between",
                "let them pick between",
                "let them choose",
                "let them pick",
            ],
        ) else {
            return false;
        };
        let rest = self.strip_listener(rest);
        let rest = strip_any(
            rest,
            &[
                "them",
                "the customer",
                "the option of",
                "the options of",
                "the choice of",
            ],
        )
        .unwrap_or(rest);
        if let Some(options) = options_in(rest) {
            let options = clean_options(options);
            let q = format!("Would {} work better for you?", join_options(&options));
            self.push_asks(
                vec![Ask {
                    question: q,
                    kind: FieldKind::Choice { options },
                    name: "choice".into(),
                }],
                None,
            );
            return true;
        }
        let addressed = self.address(rest);
        let (question, name) = if let Some(todo) = strip_word(&addressed, "to") {
            (
                format!("Would you like me to {todo}?"),
                topics::field_name_from(todo),
            )
        } else {
            let np = topics::strip_determiners(&addressed);
            (
                format!("Would you be interested in {}?", with_article(&addressed)),
                format!("wants_{}", topics::field_name_from(&np)),
            )
        };
        self.push_asks(
            vec![Ask {
                question: terminate(&question, '?'),
                kind: FieldKind::YesNo,
                name,
            }],
            None,
        );
        true
    }

    /// "Schedule a follow-up visit", "Book them a demo next week".
    pub(super) fn schedule(&mut self, c: &str) -> bool {
        let Some(rest) = strip_any(c, &["schedule", "book", "set up", "arrange", "reschedule"]) else {
            return false;
        };
        let rest = self.strip_listener(rest);
        let rest = strip_any(rest, &["in for", "for", "in"]).unwrap_or(rest);
        let addressed = self.address(rest);
        let what = if addressed.is_empty() {
            "it".to_owned()
        } else {
            with_article(&addressed)
        };
        let question = format!("When would be a good time for {what}?");
        self.push_asks(
            vec![Ask {
                question,
                kind: FieldKind::DateTime,
                name: "meeting_time".into(),
            }],
            None,
        );
        true
    }
}

/// "you'd like to A, or B", "you would prefer to A or B": the two courses offered.
fn either_course(clause: &str) -> Option<Vec<String>> {
    // ASCII lowering keeps byte offsets, so slicing `clause` by them is safe.
    let lower = clause.to_ascii_lowercase();
    let at = [
        "'d like to ",
        "would like to ",
        "'d prefer to ",
        "would prefer to ",
        "'d rather ",
    ]
    .iter()
    .find_map(|m| lower.find(m).map(|a| a + m.len()))?;
    let rest = &clause[at..];
    let rest_lower = &lower[at..];
    let split = rest_lower
        .rfind(", or ")
        .map(|s| (s, 5))
        .or_else(|| rest_lower.rfind(" or ").map(|s| (s, 4)))?;
    let first = rest[..split.0].trim();
    let second = rest[split.0 + split.1..].trim().trim_end_matches(['.', '?', '!']);
    let second = second.strip_prefix("to ").unwrap_or(second);
    if first.split_whitespace().count() < 2
        || second.split_whitespace().count() < 2
        || second.contains(" or ")
    {
        return None;
    }
    // "... or not" is the yes/no itself.
    if second.eq_ignore_ascii_case("not") {
        return None;
    }
    Some(vec![first.to_owned(), second.to_owned()])
}
