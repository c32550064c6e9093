//! What the things a prompt asks for are, as a business caller means them: "their email" is an
//! email address read back letter by letter, "company size" a number of people, "preferred
//! meeting time" a day and time, "payment method" a short answer. Each topic says how to ask for
//! it, what kind of answer it takes and what the field is called in `form_fills`.

use crate::workflow::FieldKind;

/// An entry of the table: `{np}` in the name or question stands for the prompt's own words.
struct Topic {
    name: &'static str,
    kind: FieldKind,
    question: &'static str,
}

const fn topic(name: &'static str, kind: FieldKind, question: &'static str) -> Topic {
    Topic { name, kind, question }
}

/// A topic found in a noun phrase, filled in from the phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The field's name in `form_fills`.
    pub name: String,
    /// What kind of answer it takes.
    pub kind: FieldKind,
    /// How the agent asks for it.
    pub question: String,
}

/// Phrases (lowercase, after "their" became "your") and their topics, most specific first.
fn table() -> Vec<(&'static [&'static str], Topic)> {
    use FieldKind::*;
    vec![
        (
            &[
                "email address",
                "email",
                "e-mail address",
                "e-mail",
                "mail address",
            ][..],
            topic("email", Email, "What is the best email address to reach you?"),
        ),
        (
            &["date of birth", "birth date", "birthdate", "birthday", "dob"][..],
            topic("date_of_birth", Date, "What is your date of birth?"),
        ),
        (
            &[
                "callback number",
                "call back number",
                "call-back number",
                "contact number",
                "phone number",
                "cell number",
                "cell phone number",
                "mobile number",
                "cell phone",
                "telephone number",
                "phone",
                "number to reach",
                "best number",
                "good number",
                "mobile",
                "cell",
            ][..],
            topic("phone", Phone, "What is the best phone number to reach you?"),
        ),
        (
            &[
                "preferred meeting time",
                "meeting time",
                "time for a follow-up",
                "time for a demo",
                "time for the demo",
                "time for a call",
                "time to call back",
                "time to call",
                "time to talk",
                "time for a meeting",
                "preferred time",
                "best time",
                "good time",
                "convenient time",
                "availability",
                "available times",
                "preferred date and time",
                "date and time",
                "day and time",
                "time slot",
                "preferred slot",
                "callback time",
                "time that works",
            ][..],
            topic(
                "meeting_time",
                DateTime,
                "What day and time would work best for you?",
            ),
        ),
        (
            &[
                "expected payment date",
                "expected date",
                "payment date",
                "date of payment",
                "date they will pay",
                "date they can pay",
                "when they will pay",
                "when they can pay",
                "when they expect to pay",
                "when they plan to pay",
                "pay date",
            ][..],
            topic("payment_date", Date, "When do you expect to make the payment?"),
        ),
        (
            &[
                "payment method",
                "method of payment",
                "form of payment",
                "way of paying",
                "way to pay",
                "how they will pay",
                "how they plan to pay",
                "how they'd like to pay",
                "how they want to pay",
                "how they'll pay",
                "how you will pay",
                "how you plan to pay",
                "how you'd like to pay",
                "how you'll pay",
            ][..],
            topic("payment_method", Text, "What payment method will you use?"),
        ),
        (
            &[
                "payment amount",
                "amount they can pay",
                "amount they will pay",
                "how much they can pay",
                "how much they will pay",
                "how much they can afford",
                "how much you can pay",
                "amount",
            ][..],
            topic("amount", Number, "How much will you be able to pay?"),
        ),
        (
            &[
                "company size",
                "size of your company",
                "size of the company",
                "size of their company",
                "team size",
                "size of your team",
                "number of employees",
                "how many employees",
                "headcount",
                "head count",
                "employee count",
                "how many people work",
                "employees",
                "staff size",
            ][..],
            topic("company_size", Number, "How many people work at your company?"),
        ),
        (
            &[
                "average monthly electric bill",
                "monthly electric bill",
                "electric bill",
                "average bill",
                "monthly bill",
                "utility bill",
                "bill",
                "monthly spend",
                "spend",
                "spending",
            ][..],
            topic("{np}", Number, "{what_np}"),
        ),
        (
            &["monthly budget", "budget range", "annual budget", "budget"][..],
            topic("budget", Number, "What budget do you have in mind?"),
        ),
        (
            &[
                "timeline for a decision",
                "decision timeline",
                "timeline for deciding",
                "timeline",
                "timeframe",
                "time frame",
                "time line",
                "when they plan to decide",
                "when they will decide",
                "when they'd like to start",
                "when they want to start",
                "start date",
            ][..],
            topic("timeline", Text, "What is your timeline for a decision?"),
        ),
        (
            &[
                "problem you're trying to solve",
                "problem you are trying to solve",
                "problem they're trying to solve",
                "problem they are trying to solve",
                "problems you're trying to solve",
                "problem to solve",
                "main challenge",
                "biggest challenge",
                "current challenges",
                "challenges",
                "challenge",
                "pain points",
                "pain point",
                "problem",
                "problems",
                "main need",
                "needs",
                "goals",
            ][..],
            topic("problem", Text, "{what_np}"),
        ),
        (
            &[
                "current provider",
                "current vendor",
                "current supplier",
                "current solution",
                "current system",
                "current tool",
                "current software",
                "current carrier",
                "current plan",
                "provider",
                "vendor",
            ][..],
            topic("current_provider", Text, "Who is your current provider?"),
        ),
        (
            &[
                "company name",
                "business name",
                "name of your company",
                "name of their company",
                "name of the company",
                "organization name",
                "company",
                "business",
            ][..],
            topic("company", Text, "What is the name of your company?"),
        ),
        (
            &[
                "full name",
                "first and last name",
                "last name",
                "first name",
                "name",
            ][..],
            topic("name", Text, "May I have your full name?"),
        ),
        (
            &[
                "mailing address",
                "shipping address",
                "delivery address",
                "home address",
                "billing address",
                "street address",
                "service address",
                "current address",
                "new address",
                "address",
            ][..],
            topic("address", Text, "What is your {np}?"),
        ),
        (
            &[
                "account number",
                "member number",
                "member id",
                "membership number",
                "policy number",
                "customer number",
                "customer id",
                "order number",
                "confirmation number",
                "reference number",
                "invoice number",
                "case number",
                "claim number",
                "ticket number",
                "tracking number",
                "booking number",
                "reservation number",
                "patient id",
                "student id",
                "employee id",
                "last four digits",
                "last 4 digits",
                "last four",
                "last 4",
                "zip code",
                "zip",
                "postal code",
                "postcode",
                "pin",
                "pin code",
                "gate code",
                "access code",
                "door code",
                "security code",
                "verification code",
                "passcode",
                "account id",
                "id number",
                "vin",
            ][..],
            topic("{np}", Digits, "What is your {np}?"),
        ),
        (
            &[
                "number of guests",
                "number of people",
                "party size",
                "size of the party",
                "how many guests",
                "how many people",
                "how many attendees",
                "number of attendees",
                "how many will attend",
                "headcount for",
                "number of seats",
                "how many seats",
                "quantity",
                "how many units",
                "number of units",
                "number of rooms",
                "how many rooms",
                "number of bedrooms",
                "how many bedrooms",
                "how many vehicles",
                "number of vehicles",
                "how many kids",
                "number of children",
                "how many children",
                "square footage",
                "age",
                "years in business",
            ][..],
            topic("{np}", Number, "{how_many}"),
        ),
        (
            &[
                "any other comments",
                "other comments",
                "additional comments",
                "any comments",
                "comments",
                "any other feedback",
                "other feedback",
                "additional feedback",
                "any feedback",
                "feedback",
                "suggestions",
                "suggestion",
                "one suggestion",
                "a suggestion",
                "any suggestions",
                "anything we should improve",
                "anything we could improve",
                "anything to improve",
                "what to improve",
                "what we should improve",
                "improvements",
                "improvement suggestions",
                "how we can improve",
                "what we could do better",
                "what we can do better",
                "what they'd improve",
                "anything else they want to share",
            ][..],
            topic(
                "comments",
                Text,
                "Do you have any other comments or feedback for us?",
            ),
        ),
        (
            &["any questions", "questions"][..],
            topic("has_questions", YesNo, "Do you have any questions?"),
        ),
        (
            &[
                "reason for cancelling",
                "reason for canceling",
                "reason for cancellation",
                "reason they cancelled",
                "reason they canceled",
                "why they cancelled",
                "why they canceled",
                "why they want to cancel",
                "why you want to cancel",
                "reason for leaving",
                "why they left",
                "reason",
            ][..],
            topic("reason", Text, "May I ask the reason?"),
        ),
        (
            &[
                "insurance provider",
                "insurance company",
                "insurance carrier",
                "insurance",
            ][..],
            topic("insurance", Text, "Who is your insurance provider?"),
        ),
        (
            &[
                "dietary restrictions",
                "dietary needs",
                "allergies",
                "food allergies",
            ][..],
            topic(
                "dietary_restrictions",
                Text,
                "Do you have any allergies or dietary restrictions?",
            ),
        ),
        (
            &[
                "license plate",
                "plate number",
                "vehicle make and model",
                "make and model",
                "vehicle",
                "car model",
                "car",
            ][..],
            topic("vehicle", Text, "What is your {np}?"),
        ),
        (
            &[
                "preferred day",
                "best day",
                "day that works",
                "preferred date",
                "best date",
                "a good day",
                "good day",
                "date that works",
                "new date",
                "delivery date",
                "move-in date",
                "move in date",
                "start day",
            ][..],
            topic("{np}", Date, "Which day works best for you?"),
        ),
        (
            &[
                "delivery window",
                "arrival time",
                "pickup time",
                "pick-up time",
                "delivery time",
                "time of day",
            ][..],
            topic("{np}", Time, "What time works best for you?"),
        ),
        (
            &["overall experience", "experience", "visit", "stay"][..],
            topic("experience", Text, "How was your {np}?"),
        ),
        (
            &["job title", "role", "position", "title"][..],
            topic("job_title", Text, "What is your role at your company?"),
        ),
        (
            &["industry"][..],
            topic("industry", Text, "What industry are you in?"),
        ),
        (
            &["website", "web site", "url"][..],
            topic("website", Text, "What is your website?"),
        ),
        (&["status"][..], topic("status", Text, "What is the {np}?")),
        (
            &[
                "location",
                "city",
                "zip area",
                "neighborhood",
                "where they are located",
                "where they live",
            ][..],
            topic("location", Text, "Where are you located?"),
        ),
    ]
}

/// The topic a noun phrase (already in the callee's words: "your current phone number") names,
/// with the field name and question filled in from the phrase.
pub fn lookup(np: &str) -> Option<Found> {
    let lower = np.to_lowercase();
    let bare = strip_determiners(&lower);
    // Someone else's thing ("the adjuster's name", "the name of the day-of contact person") is
    // not the callee's.
    if bare
        .split_whitespace()
        .any(|w| w.ends_with("'s") && w != "company's" && w != "business's")
    {
        return None;
    }
    if let Some((head, owner)) = bare.split_once(" of ")
        && matches!(
            head.trim(),
            "name" | "full name" | "first name" | "last name" | "phone number" | "number" | "email"
        )
        && !owner.trim_start().starts_with("your")
    {
        return None;
    }
    // The table speaks of the callee as "they"; the prompt may already say "you".
    let theirs = format!(" {bare} ")
        .replace(" you'll ", " they'll ")
        .replace(" you're ", " they're ")
        .replace(" you'd ", " they'd ")
        .replace(" you ", " they ")
        .replace(" your ", " their ");
    let theirs = theirs.trim();
    // "the status of claim 77": the head ("status") says what it is, not the tail.
    let head = bare.split(" of ").next().unwrap_or(&bare);
    let theirs_head = theirs.split(" of ").next().unwrap_or(theirs);
    for (phrases, topic) in table() {
        let Some(phrase) = phrases.iter().find(|p| {
            let (text, alt) = if p.contains(" of ") {
                (bare.as_str(), theirs)
            } else {
                (head, theirs_head)
            };
            contains_phrase(text, p) || contains_phrase(alt, p)
        }) else {
            continue;
        };
        // "any comments", "feedback on the visit" ask for comments; "he's had any whistling or
        // feedback" asks about a thing that happened.
        let coordinated = |text: &str| {
            text.find(phrase)
                .is_some_and(|at| text[..at].ends_with(" or ") || text[..at].ends_with(" and "))
        };
        if topic.name == "comments" && (coordinated(&bare) || coordinated(theirs)) {
            continue;
        }
        let np_text = bare.trim_end_matches(['.', '?', '!', ',']).to_owned();
        let name: String = if topic.name == "{np}" {
            field_name_from(phrase)
        } else {
            topic.name.to_owned()
        };
        let how_many = if phrase.starts_with("how many") || phrase.starts_with("number of") {
            let noun = phrase
                .trim_start_matches("how many ")
                .trim_start_matches("number of ");
            format!("How many {noun} will there be?")
        } else {
            format!("What is your {np_text}?")
        };
        let plural = np_text.ends_with('s') && !np_text.ends_with("ss") && !np_text.ends_with("us");
        let what_np = format!("What {} your {np_text}?", if plural { "are" } else { "is" });
        let question = topic
            .question
            .replace("{what_np}", &what_np)
            .replace("{np}", &np_text)
            .replace("{how_many}", &how_many);
        // Comments asked in the prompt's own word, so the callee hears what was meant.
        let question = if topic.name == "comments" {
            if np_text.contains("suggest") {
                "Do you have a suggestion for us?".to_owned()
            } else if np_text.contains("improve") || np_text.contains("better") {
                "Is there anything we could do better?".to_owned()
            } else {
                question
            }
        } else {
            question
        };
        return Some(Found {
            name,
            kind: topic.kind,
            question,
        });
    }
    None
}

fn contains_phrase(text: &str, phrase: &str) -> bool {
    let mut from = 0;
    while let Some(at) = text[from..].find(phrase).map(|a| a + from) {
        let before_ok = at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric();
        let end = at + phrase.len();
        let after_ok = end == text.len() || !text.as_bytes()[end].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return true;
        }
        from = at + 1;
    }
    false
}

/// "your current phone number" -> "current phone number".
pub fn strip_determiners(np: &str) -> String {
    let mut t = np.trim();
    loop {
        let before = t;
        for d in [
            "your ", "their ", "the ", "a ", "an ", "his ", "her ", "any ", "some ", "its ",
        ] {
            if let Some(rest) = t.strip_prefix(d) {
                t = rest.trim_start();
            }
        }
        if t == before {
            break;
        }
    }
    t.to_owned()
}

/// snake_case from the content words of a phrase ("the last four digits" -> "last_four_digits").
pub fn field_name_from(phrase: &str) -> String {
    const STOP: &[&str] = &[
        "a", "an", "the", "your", "their", "his", "her", "my", "our", "of", "for", "to", "is", "are", "you",
        "they", "what", "how", "when", "which", "who", "where", "why", "whether", "if", "do", "does", "did",
        "can", "could", "would", "will", "have", "has", "be", "any", "with", "on", "at", "in", "about",
        "that", "this", "it", "me", "tell", "please", "still", "like", "would", "there", "and", "or", "many",
        "much", "were", "was", "am", "i", "we", "us", "so", "just", "also", "some", "them", "give", "may",
        "ask", "get", "confirm", "whoever", "answers", "should", "might", "let",
    ];
    let words: Vec<String> = phrase
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP.contains(w))
        .take(3)
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        "answer".to_owned()
    } else {
        words.join("_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        let t = lookup("your email").expect("email");
        assert_eq!((t.name.as_str(), &t.kind), ("email", &FieldKind::Email));
        let t = lookup("your current phone number").expect("phone");
        assert_eq!(t.kind, FieldKind::Phone);
        let t = lookup("your company size").expect("size");
        assert_eq!((t.name.as_str(), &t.kind), ("company_size", &FieldKind::Number));
        let t = lookup("your account number").expect("digits");
        assert_eq!(
            (t.name.as_str(), t.question.as_str()),
            ("account_number", "What is your account number?")
        );
        let t = lookup("your preferred meeting time for a follow-up demo").expect("time");
        assert_eq!(t.kind, FieldKind::DateTime);
        assert!(lookup("the weather").is_none());
    }
}
