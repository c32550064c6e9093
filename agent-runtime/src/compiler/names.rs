//! Who the call is for and who it is made by: the callee's name ("Call Sarah Kim", "remind Mr.
//! Patel", "the customer, Maria Lopez,", "Dana's oil change") and the organization ("on behalf of
//! Bright Dental", "you are the assistant at QuickLube", "your appointment at City Dental").

use super::text::split_trailing_punct;

/// Words that are capitalized but are not names.
const NOT_NAMES: &[&str] = &[
    "what",
    "who",
    "whom",
    "which",
    "where",
    "when",
    "why",
    "how",
    "i",
    "ai",
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "our",
    "we",
    "you",
    "your",
    "they",
    "their",
    "he",
    "she",
    "his",
    "her",
    "them",
    "it",
    "its",
    "please",
    "ask",
    "call",
    "confirm",
    "collect",
    "get",
    "then",
    "if",
    "once",
    "also",
    "and",
    "or",
    "but",
    "so",
    "tell",
    "remind",
    "let",
    "offer",
    "make",
    "check",
    "see",
    "find",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "ok",
    "okay",
    "yes",
    "no",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "am",
    "pm",
    "a.m",
    "p.m",
    "today",
    "tomorrow",
    "tonight",
    "next",
    "last",
    "morning",
    "afternoon",
    "evening",
    "noon",
    "voicemail",
    "email",
    "phone",
    "sms",
    "text",
    "usd",
    "id",
    "dob",
    "nps",
    "faq",
    "us",
    "usa",
    "uk",
    "customer",
    "client",
    "patient",
    "lead",
    "caller",
    "callee",
    "user",
    "member",
    "mom",
    "dad",
    "sir",
    "madam",
    "ma'am",
    "everyone",
    "anyone",
    "someone",
    "whoever",
    "nobody",
    "mr",
    "mrs",
    "ms",
    "dr",
    "miss",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "be",
    "do",
    "don't",
    "is",
    "are",
    "was",
    "keep",
    "leave",
    "say",
    "mention",
    "note",
    "record",
    "reach",
    "press",
    "navigate",
    "go",
    "try",
    "give",
    "giving",
    "inform",
    "notify",
    "explain",
    "transfer",
    "connect",
    "book",
    "schedule",
    "verify",
    "end",
    "hang",
    "christmas",
    "thanksgiving",
    "easter",
    "halloween",
    "new",
    "year's",
    "eve",
    "spanish",
    "english",
    "zoom",
    "teams",
    "google",
    "gmail",
    "outlook",
    "visa",
    "mastercard",
    "amex",
    "paypal",
    "venmo",
    "ach",
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "suite",
    "room",
    "floor",
    "building",
    "main",
    "downtown",
    "north",
    "south",
    "east",
    "west",
    "central",
    "urgent",
    "important",
    "note:",
    "goal",
    "task",
    "context",
    "background",
    "instructions",
    "questions",
    "script",
    "step",
    "first",
    "second",
    "third",
    "finally",
    "lastly",
    "after",
    "before",
    "otherwise",
    "unless",
    "only",
    "never",
    "always",
    "kindly",
    "greet",
    "introduce",
    "gently",
    "politely",
    "briefly",
    "quickly",
];

/// Words that mark a business name ("Bright Dental", "Acme Corp", "Riverside Animal Hospital").
const ORG_WORDS: &[&str] = &[
    "fasteners",
    "machining",
    "tooling",
    "metro",
    "rail",
    "railway",
    "railroad",
    "masonry",
    "furnishings",
    "drug",
    "drugs",
    "decks",
    "pantry",
    "osteria",
    "lumber",
    "garden",
    "laundromat",
    "massage",
    "nails",
    "barber",
    "jewelry",
    "flooring",
    "carpets",
    "pools",
    "fencing",
    "paving",
    "concrete",
    "excavation",
    "arborists",
    "septic",
    "chimney",
    "gutters",
    "siding",
    "insulation",
    "cabinetry",
    "upholstery",
    "interiors",
    "conservatory",
    "dance",
    "arts",
    "karate",
    "aquatics",
    "camps",
    "rescue",
    "shelter",
    "humane",
    "aesthetics",
    "medspa",
    "motel",
    "hostel",
    "campground",
    "bowling",
    "tickets",
    "appliance",
    "dealers",
    "detailing",
    "towing",
    "couriers",
    "pharmacies",
    "optometrists",
    "vets",
    "orchards",
    "vineyards",
    "distillery",
    "rx",
    "laundry",
    "tailoring",
    "hair",
    "beauty",
    "lashes",
    "tattoo",
    "piercing",
    "dental",
    "dentistry",
    "clinic",
    "medical",
    "health",
    "healthcare",
    "hospital",
    "pharmacy",
    "care",
    "inc",
    "inc.",
    "llc",
    "ltd",
    "corp",
    "corp.",
    "co",
    "co.",
    "company",
    "corporation",
    "group",
    "bank",
    "insurance",
    "motors",
    "auto",
    "automotive",
    "services",
    "service",
    "solutions",
    "systems",
    "software",
    "technologies",
    "tech",
    "labs",
    "logistics",
    "express",
    "delivery",
    "deliveries",
    "store",
    "stores",
    "shop",
    "market",
    "foods",
    "farms",
    "veterinary",
    "vet",
    "animal",
    "school",
    "academy",
    "university",
    "college",
    "library",
    "church",
    "bakery",
    "pizza",
    "grill",
    "kitchen",
    "cafe",
    "café",
    "bistro",
    "restaurant",
    "hotel",
    "inn",
    "resort",
    "spa",
    "salon",
    "barbershop",
    "fitness",
    "gym",
    "studio",
    "studios",
    "partners",
    "associates",
    "law",
    "legal",
    "capital",
    "finance",
    "financial",
    "credit",
    "union",
    "lending",
    "mortgage",
    "properties",
    "property",
    "realty",
    "apartments",
    "homes",
    "plumbing",
    "hvac",
    "electric",
    "electrical",
    "energy",
    "power",
    "utilities",
    "water",
    "gas",
    "telecom",
    "wireless",
    "mobile",
    "internet",
    "cable",
    "airlines",
    "air",
    "travel",
    "tours",
    "rentals",
    "rental",
    "storage",
    "movers",
    "moving",
    "cleaning",
    "cleaners",
    "landscaping",
    "roofing",
    "construction",
    "builders",
    "pediatrics",
    "orthodontics",
    "optometry",
    "eye",
    "vision",
    "chiropractic",
    "therapy",
    "wellness",
    "physio",
    "physiotherapy",
    "center",
    "centre",
    "institute",
    "foundation",
    "association",
    "society",
    "club",
    "agency",
    "office",
    "department",
    "works",
    "industries",
    "enterprises",
    "holdings",
    "media",
    "marketing",
    "consulting",
    "realtors",
    "lawn",
    "pest",
    "control",
    "security",
    "alarm",
    "wash",
    "tire",
    "tires",
    "garage",
    "repair",
    "repairs",
    "pets",
    "grooming",
    "boutique",
    "books",
    "furniture",
    "appliances",
    "hardware",
    "supply",
    "supplies",
    "outfitters",
    "cinema",
    "theater",
    "theatre",
    "museum",
    "gallery",
    "daycare",
    "preschool",
    "tutoring",
    "learning",
    "nutrition",
    "bikes",
    "cycles",
    "yoga",
    "pilates",
    "crossfit",
    "dojo",
    "brewing",
    "coffee",
    "roasters",
    "imaging",
    "radiology",
    "diagnostics",
    "laboratory",
    "elementary",
    "high",
    "middle",
    "montessori",
    "charter",
    "ymca",
    "parish",
    "ministries",
    "trattoria",
    "cantina",
    "tavern",
    "diner",
    "brewery",
    "winery",
    "auction",
    "marina",
    "kennels",
    "fabrication",
    "design",
    "designs",
    "digital",
    "creative",
    "web",
    "township",
    "borough",
    "authority",
    "commission",
    "council",
    "manufacturing",
    "steel",
    "catering",
    "bridal",
    "kitchens",
    "boarding",
    "soccer",
    "league",
    "athletics",
    "sports",
    "bros",
    "brothers",
    "sons",
    "town",
    "village",
    "district",
    "photography",
    "florist",
    "florists",
    "orthopedics",
    "renovations",
    "events",
    "optical",
    "clinics",
    "deli",
    "pub",
    "bar",
    "steakhouse",
    "sushi",
    "taqueria",
    "pizzeria",
    "flowers",
    "analytics",
    "ventures",
    "networks",
    "communications",
    "lab",
    "bio",
    "pharma",
    "dynamics",
    "consultants",
    "advisors",
    "wealth",
    "investments",
    "bancorp",
    "trust",
    "mutual",
    "benefits",
    "broadband",
    "fiber",
    "solar",
    "roofers",
    "painters",
    "electricians",
    "plumbers",
    "mechanics",
    "motorsports",
    "dealership",
    "honda",
    "toyota",
    "ford",
    "pediatric",
    "urgent",
    "coworking",
    "printers",
    "contractors",
    "installers",
    "decorators",
    "caterers",
    "jewelers",
    "opticians",
    "lawyers",
    "accountants",
    "designers",
    "brokers",
    "engravers",
    "framers",
    "tailors",
    "upholsterers",
    "landscapers",
    "exterminators",
    "inspectors",
    "appraisers",
    "veterinarians",
    "chiropractors",
    "dentists",
    "orthodontists",
    "pharmacists",
    "crm",
    "booths",
    "propane",
    "dermatology",
    "cardiology",
    "cooperative",
    "co-op",
    "coop",
    "county",
    "authority",
    "bureau",
    "dmv",
    "hoa",
    "wholesale",
    "distributors",
    "distribution",
    "remodeling",
    "heating",
    "cooling",
    "landscapes",
    "nursery",
    "gardens",
    "farm",
    "suites",
    "golf",
    "printing",
    "architects",
    "engineering",
    "accounting",
    "cpa",
    "bookkeeping",
    "payroll",
    "staffing",
    "recruiting",
    "talent",
    "escrow",
    "funeral",
    "surgery",
    "surgical",
    "orthodontic",
    "kennel",
    "childcare",
    "assisted",
    "rehab",
    "rehabilitation",
    "counseling",
    "psychiatry",
    "medicine",
    "housing",
    "management",
    "residences",
    "towers",
    "plaza",
    "mall",
    "outlet",
    "warehouse",
    "depot",
    "mart",
    "grocers",
    "grocery",
    "provisions",
    "creamery",
    "dairy",
    "meats",
    "butcher",
    "seafood",
    "juice",
    "bagels",
    "donuts",
    "cakes",
    "bakes",
    "sweets",
    "confections",
    "cinemas",
    "entertainment",
    "productions",
    "films",
    "publishing",
    "radio",
    "tv",
    "telehealth",
    "laboratories",
    "scientific",
    "research",
    "synagogue",
    "mosque",
    "cathedral",
    "leasing",
    "collision",
    "glass",
    "windows",
    "locksmith",
    "hauling",
    "junk",
    "disposal",
    "recycling",
    "sanitation",
    "transport",
    "transit",
    "shipping",
    "freight",
    "courier",
    "airways",
    "cruises",
    "vacations",
    "getaways",
    "adventures",
    "sporting",
    "electronics",
    "computers",
    "robotics",
    "devices",
    "hearing",
    "audiology",
    "podiatry",
    "spine",
    "allergy",
    "oncology",
    "fertility",
    "maternity",
    "midwifery",
    "hospice",
    "barn",
    "cleanup",
    "project",
    "kia",
    "subaru",
    "nissan",
    "hyundai",
    "chevrolet",
    "mazda",
    "volkswagen",
    "lexus",
    "acura",
];

/// Honorifics that start a name.
const TITLES: &[&str] = &[
    "professor",
    "prof",
    "mr",
    "mrs",
    "ms",
    "dr",
    "miss",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "mx",
    "mx.",
];

/// Whether a capitalized word is a common word rather than a name ("If", "Ask", "Monday").
pub fn is_common_word(word: &str) -> bool {
    NOT_NAMES.contains(&word.to_lowercase().as_str())
}

/// Whether a word can be part of a proper name.
fn name_like(word: &str) -> bool {
    let (core, _) = split_trailing_punct(word);
    let core = core.trim_end_matches("'s").trim_end_matches('\'');
    let mut chars = core.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_uppercase()
        && core
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, '\'' | '-' | '.'))
        && !NOT_NAMES.contains(&core.to_lowercase().as_str())
}

/// A run of capitalized words from `words[i]` (a title first allowed), up to `max` words; stops
/// after a word that ends in punctuation. Returns the name and how many words it used.
fn capitalized_run(words: &[&str], i: usize, max: usize, allow_title: bool) -> Option<(String, usize, bool)> {
    let mut parts = Vec::new();
    let mut j = i;
    let mut possessive = false;
    if allow_title
        && let Some(w) = words.get(j)
        && TITLES.contains(&split_trailing_punct(w).0.to_lowercase().trim_end_matches('.'))
        && words.get(j + 1).is_some_and(|n| name_like(n))
    {
        let t = split_trailing_punct(w).0;
        let t = if t.ends_with('.') || t.eq_ignore_ascii_case("miss") {
            t.to_owned()
        } else {
            format!("{t}.")
        };
        parts.push(t);
        j += 1;
    }
    while let Some(w) = words.get(j) {
        if parts.len() >= max || !name_like(w) {
            break;
        }
        let (core, tail) = split_trailing_punct(w);
        possessive = core.ends_with("'s") || core.ends_with('\'');
        parts.push(core.trim_end_matches("'s").trim_end_matches('\'').to_owned());
        j += 1;
        if !tail.is_empty() || possessive {
            break;
        }
    }
    let names = parts
        .iter()
        .filter(|p| !TITLES.contains(&p.to_lowercase().as_str()))
        .count();
    (names > 0).then(|| (parts.join(" "), j - i, possessive))
}

/// Whether a capitalized run names a business rather than a person.
pub fn org_like(name: &str) -> bool {
    // "QuickCart", "TalentBridge", "HubSpot": a capital inside a word is a brand.
    // "Ferreira-Lopes", "Ortiz-Bell": a capital after a hyphen is a double-barrelled surname.
    let camel = name.split_whitespace().flat_map(|w| w.split('-')).any(|w| {
        let core = w.trim_end_matches("'s");
        core.len() > 3
            && core.chars().next().is_some_and(char::is_uppercase)
            && core.chars().skip(1).any(char::is_uppercase)
            && core.chars().any(char::is_lowercase)
    });
    camel
        || name.split_whitespace().any(|w| {
            ORG_WORDS.contains(
                &w.to_lowercase()
                    .trim_end_matches(['.', ','])
                    .trim_end_matches("'s"),
            )
        })
        || name.contains('&')
        || name.chars().filter(|c| c.is_uppercase()).count() > name.split_whitespace().count() + 1
}

/// Role words that precede a callee's name ("the customer, Maria Lopez", "patient John Doe").
const ROLES: &[&str] = &[
    "customer",
    "client",
    "patient",
    "lead",
    "prospect",
    "member",
    "tenant",
    "guest",
    "student",
    "parent",
    "homeowner",
    "subscriber",
    "applicant",
    "candidate",
    "donor",
    "caller",
    "callee",
    "owner",
    "driver",
    "buyer",
    "seller",
    "resident",
    "policyholder",
    "borrower",
    "vendor",
    "supplier",
    "contact",
    "user",
    "person",
    "family",
    "household",
    "account holder",
    "holder",
    "accountholder",
    "renter",
    "attendee",
    "participant",
    "volunteer",
    "employee",
    "recipient",
    "shopper",
    "passenger",
    "traveler",
    "traveller",
    "visitor",
    "patron",
    "guardian",
    "caregiver",
    "alumnus",
    "alumni",
    "homeowners",
    "bride",
    "groom",
    "manager",
    "juror",
    "voter",
    "tutor",
];

/// Whether a word names the callee's role ("customer", "patient", "resident").
pub fn is_role(word: &str) -> bool {
    ROLES.contains(&word.trim_end_matches('s')) || ROLES.contains(&word)
}

/// The callee's name, if the prompt gives one. When the call goes to a business ("Call Larch &
/// Pine Furniture and follow up on the table for Amelia Grant"), only a person asked for by name
/// ("ask to speak with the owner, Nadia") is the callee.
pub fn callee(sentences: &[String]) -> Option<String> {
    let business_call = sentences.iter().any(|s| {
        let ws: Vec<&str> = s.split_whitespace().collect();
        let lower: Vec<String> = ws.iter().map(|w| w.to_lowercase()).collect();
        (0..ws.len().saturating_sub(1)).any(|i| {
            matches!(lower[i].as_str(), "call" | "phone" | "ring" | "contact")
                && (i == 0 || lower[i - 1] == "please")
                && org_run(&ws[i + 1..]).is_some_and(|o| org_like(&o))
        })
    });
    let all = sentences.join(" ").to_lowercase();
    let pet_context = [
        "animal",
        "vet ",
        "veterinar",
        "pet ",
        "pets",
        "paws",
        "dog",
        "cat ",
        "cat's",
        "puppy",
        "kitten",
        "grooming",
        "neuter",
        "spay",
        "canine",
        "feline",
        "kennel",
    ]
    .iter()
    .any(|k| all.contains(k));
    for sentence in sentences {
        // "the homeowner (Gert Vandermeer)", "**Who:** Ms. Farrow": brackets and markup around
        // a name are not part of it.
        let words: Vec<&str> = sentence
            .split_whitespace()
            .map(|w| w.trim_start_matches(['(', '"', '*', '[']))
            .filter(|w| !w.is_empty())
            .collect();
        let lower: Vec<String> = words
            .iter()
            .map(|w| split_trailing_punct(w).0.to_lowercase())
            .collect();
        for i in 0..words.len() {
            let prev = if i == 0 { "" } else { lower[i - 1].as_str() };
            let prev2 = if i < 2 { "" } else { lower[i - 2].as_str() };
            let opener = matches!(
                prev,
                "call"
                    | "phone"
                    | "ring"
                    | "remind"
                    | "ask"
                    | "tell"
                    | "text"
                    | "contact"
                    | "reach"
                    | "named"
                    | "is"
                    | "for"
                    | "let"
                    | "inform"
                    | "notify"
                    | "thank"
                    | "with"
                    | "to"
                    | "dial"
                    | "message"
                    | "sure"
                    | "that"
                    | "give"
                    | "giving"
                    | "whether"
                    | "if"
            ) || ROLES.contains(&prev);
            // "Owner: Yusra Haddad", "the facilities manager, Mr. Dunleavy", "lead_name:
            // Dominique Ashford": a name set off by a colon or comma, or after a name key.
            let after_mark = i > 0 && words[i - 1].ends_with([',', ':']);
            let name_key = prev == "name" || prev.ends_with("_name");
            if !(opener || i == 0 || after_mark || name_key) {
                continue;
            }
            let Some((name, used, possessive)) = capitalized_run(&words, i, 3, true) else {
                continue;
            };
            // Mr., Mrs., Ms., Miss: a person being addressed (a Dr. is more often the provider).
            let title = lower[i].trim_end_matches('.');
            let addressed = matches!(title, "mr" | "mrs" | "ms" | "miss" | "mx");
            let full_name = name.split_whitespace().count() >= 2;
            // "Call Larch & Pine Furniture's store": a business, not a person.
            if org_like(&name) || org_run(&words[i..]).is_some_and(|o| org_like(&o)) {
                continue;
            }
            let next = lower.get(i + used).map(String::as_str).unwrap_or("");
            // "Mrs. Albescu has a balance", "Joanna Kessler missed her appointment": a person
            // opening a sentence as its subject.
            // "Tessmer Kia finance office: Priscilla Okoro asked for a callback" too.
            let subject = (i == 0 || (after_mark && words[i - 1].ends_with(':')))
                && (addressed || full_name)
                && matches!(
                    next,
                    "has"
                        | "had"
                        | "is"
                        | "was"
                        | "owes"
                        | "needs"
                        | "wants"
                        | "missed"
                        | "booked"
                        | "requested"
                        | "called"
                        | "signed"
                        | "left"
                        | "ordered"
                        | "bought"
                        | "hasn't"
                        | "isn't"
                        | "will"
                        | "asked"
                        | "inquired"
                        | "applied"
                        | "scheduled"
                        | "reserved"
                        | "filled"
                        | "submitted"
                        | "visited"
                        | "got"
                );
            // "Confirm that Nutmeg is booked for boarding at a pet resort": a lone first name
            // the booking is about is the pet.
            if pet_context && !addressed && !full_name && matches!(prev, "that" | "sure" | "whether" | "if") {
                continue;
            }
            let marked = (after_mark || prev == "to") && addressed || name_key;
            if subject || marked {
                return Some(name);
            }
            // "Call Professor Haldane's former student, Beatrix Mwangi": the student is called.
            let relation = lower[i + used..].iter().take(3).any(|w| {
                matches!(
                    w.trim_end_matches([',', '.']),
                    "student"
                        | "son"
                        | "daughter"
                        | "mother"
                        | "father"
                        | "mom"
                        | "dad"
                        | "wife"
                        | "husband"
                        | "assistant"
                        | "client"
                        | "patient"
                        | "tenant"
                        | "parent"
                        | "parents"
                        | "caregiver"
                        | "guardian"
                        | "office"
                        | "secretary"
                )
            });
            if possessive && relation {
                continue;
            }
            if !opener {
                continue;
            }
            let accepted = match prev {
                // "Call Sam", "call Mr. Patel about", "Remind Dana that", "Ask John if"
                "call" | "phone" | "ring" | "remind" | "ask" | "tell" | "text" | "contact" | "dial"
                | "inform" | "notify" | "thank" | "message" => {
                    !(prev == "ask" && next == "for") || prev2.is_empty()
                }
                // "let Dana know"
                "let" => next == "know",
                // "named Sam", "her name is Sam", "the callee is Sam"
                "named" => true,
                "is" => {
                    matches!(
                        prev2,
                        "name" | "callee" | "customer" | "client" | "patient" | "contact" | "one"
                    ) || is_role(prev2)
                }
                // "confirm the appointment for Sarah Kim on Thursday" (not "for Bright Dental")
                "for" if business_call => false,
                "for" => {
                    possessive
                        || matches!(
                            next,
                            "on" | "at"
                                | "this"
                                | "next"
                                | "tomorrow"
                                | "today"
                                | "to"
                                | "about"
                                | "and"
                                | "in"
                                | "that"
                                | "who"
                                | "is"
                                | ""
                        )
                        || sentence.to_lowercase().contains("appointment for")
                        || sentence.to_lowercase().contains("reservation for")
                }
                // "speak with Sam" / "talk to Sam" / "follow up with Kevin", never "meeting with Dana"
                // "follow up on the heat pump estimate with Gideon Marsh" too.
                "with" | "to" => {
                    matches!(prev2, "speak" | "talk" | "speaking" | "up" | "in" | "base")
                        || (prev == "with" && sentence.to_lowercase().starts_with("follow up"))
                }
                // "make sure Mrs. Alvarez is still coming", "check that Alex is coming"
                "sure" | "that" | "whether" | "if" => matches!(
                    next,
                    "is" | "can"
                        | "will"
                        | "has"
                        | "still"
                        | "received"
                        | "got"
                        | "knows"
                        | "remembers"
                        | "would"
                        | "wants"
                        | "plans"
                ),
                // "give Mr. Brooks a call"
                "give" | "giving" | "gives" => next == "a",
                "reach" => true,
                // "the customer, Maria Lopez," / "customer Maria Lopez"
                _ => ROLES.contains(&prev),
            };
            if accepted {
                return Some(name);
            }
        }
        // "call the Rivera family", "the Nguyen household": the family name.
        for i in 1..words.len().saturating_sub(1) {
            let next = split_trailing_punct(words[i + 1]).0.to_lowercase();
            if lower[i - 1] == "the"
                && matches!(next.as_str(), "family" | "household" | "residence" | "home")
                && name_like(words[i])
                && !org_like(words[i])
                && !NOT_NAMES.contains(&lower[i].as_str())
            {
                return Some(split_trailing_punct(words[i]).0.to_owned());
            }
        }
        // "Dana's oil change", "Sarah's appointment": a possessive name opening a sentence or
        // following a verb.
        for i in 0..words.len() {
            // "confirm Bella's dental cleaning" at an animal hospital: Bella is the pet.
            if business_call || pet_context {
                break;
            }
            let (core, _) = split_trailing_punct(words[i]);
            if !(core.ends_with("'s") && name_like(words[i])) {
                continue;
            }
            let prev = if i == 0 { "" } else { lower[i - 1].as_str() };
            // "walked through Theo Vasquez's basement": a first and last name in the possessive.
            if i >= 1
                && TITLES.contains(&lower[i - 1].trim_end_matches('.'))
                && let Some((name, 2, true)) = capitalized_run(&words, i - 1, 2, true)
                && !business_call
            {
                return Some(name);
            }
            if i >= 1
                && name_like(words[i - 1])
                && split_trailing_punct(words[i - 1]).1.is_empty()
                && (i == 1 || !name_like(words[i - 2]))
                && let Some((name, 2, true)) = capitalized_run(&words, i - 1, 2, false)
                && !org_like(&name)
                && !lower.get(i + 1).is_some_and(|w| {
                    matches!(
                        w.as_str(),
                        "accounts"
                            | "office"
                            | "billing"
                            | "front"
                            | "team"
                            | "store"
                            | "support"
                            | "department"
                            | "sales"
                            | "payroll"
                            | "reception"
                            | "desk"
                            | "warehouse"
                    )
                })
            {
                return Some(name);
            }
            if !matches!(
                prev,
                "" | "confirm" | "about" | "of" | "that" | "re" | "regarding" | "on"
            ) {
                continue;
            }
            if let Some((name, _, true)) = capitalized_run(&words, i, 1, false)
                && !org_like(&name)
                && !(i == 0 && NOT_NAMES.contains(&name.to_lowercase().as_str()))
            {
                return Some(name);
            }
        }
    }
    addressed_anywhere(sentences)
}

/// The last resort for the callee: a person addressed by honorific anywhere ("we mailed Mr.
/// Sandoval his draft will", "confirm 2 nights for Mr. Abernethy-Rowe, check-in Fri"). A "Dr."
/// is left out: in a prompt it is more often the provider than the one called.
fn addressed_anywhere(sentences: &[String]) -> Option<String> {
    sentences.iter().find_map(|sentence| {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        (0..words.len()).find_map(|i| {
            let title = split_trailing_punct(words[i]).0.to_lowercase();
            if !matches!(title.trim_end_matches('.'), "mr" | "mrs" | "ms" | "miss" | "mx") {
                return None;
            }
            // "a conference with Ms. Okafor": whom the callee meets, not the callee.
            let prev = i.checked_sub(1).map(|p| words[p].to_lowercase());
            if prev.is_some_and(|p| matches!(p.as_str(), "with" | "by" | "from")) {
                return None;
            }
            let (name, used, possessive) = capitalized_run(&words, i, 3, true)?;
            // "Mr. Lee's office", "Ms. Ortiz's class": someone else's place, not the callee.
            let place = possessive
                && words.get(i + used).is_some_and(|w| {
                    matches!(
                        split_trailing_punct(w).0.to_lowercase().as_str(),
                        "office" | "class" | "team" | "practice" | "clinic" | "desk"
                    )
                });
            (!place && !org_like(&name)).then_some(name)
        })
    })
}

/// The organization the call is made for, if the prompt says, and whether a marker named it as
/// such ("on behalf of X") rather than a business name merely appearing ("at City Dental").
pub fn organization(sentences: &[String]) -> Option<(String, bool)> {
    const MARKERS: &[&str] = &[
        "on behalf of ",
        "you're from ",
        "you are from ",
        "we're from ",
        "i'm from ",
        "customers of ",
        "clients of ",
        "members of ",
        "patients of ",
        "users of ",
        "recruiter at ",
        "recruiter for ",
        "advisor at ",
        "nurse at ",
        "manager at ",
        "specialist at ",
        "specialist from ",
        "rep from ",
        "rep at ",
        "calling from ",
        "calling for ",
        "call on behalf of ",
        "calls for ",
        "answering for ",
        "answer calls for ",
        "answer the phone for ",
        "you work for ",
        "you work at ",
        "you represent ",
        "representing ",
        "you are calling from ",
        "you're calling from ",
        "assistant for ",
        "assistant at ",
        "assistant from ",
        "assistant with ",
        "receptionist at ",
        "receptionist for ",
        "agent for ",
        "agent at ",
        "agent from ",
        "representative of ",
        "representative from ",
        "scheduler at ",
        "scheduler for ",
        "coordinator at ",
        "coordinator for ",
        "team at ",
        "team from ",
        "office of ",
        "we are ",
        "we're ",
        "this is ",
        "from ",
        "for ",
        "at ",
        "with ",
        "to ",
    ];
    if let Some(org) = sentences
        .iter()
        .find_map(|s| labelled_org(s).or_else(|| persona_org(s)))
    {
        return Some((org, true));
    }
    let mut weak: Option<(String, bool)> = None;
    // "Sunrise Family Dentistry here.": a business introducing itself.
    for sentence in sentences {
        let trimmed = sentence.trim().trim_end_matches(['.', '!', ',']);
        if let Some(name) = trimmed.strip_suffix(" here")
            && name.split_whitespace().count() <= 6
            && let Some(org) = org_run(&name.split_whitespace().collect::<Vec<_>>())
            && org == name.trim()
        {
            return Some((org, true));
        }
    }
    for sentence in sentences {
        let lower = sentence.to_lowercase();
        let starts_with_call = lower.starts_with("call ") || lower.starts_with("please call ");
        for (rank, marker) in MARKERS.iter().enumerate() {
            let mut from = 0;
            while let Some(at) = lower[from..].find(marker).map(|a| a + from) {
                from = at + marker.len();
                // Whole words only.
                if at > 0 && lower.as_bytes()[at - 1].is_ascii_alphanumeric() {
                    continue;
                }
                let rest: Vec<&str> = sentence[at + marker.len()..].split_whitespace().collect();
                let Some(name) = org_run(&rest) else {
                    continue;
                };
                let strong = rank < MARKERS.len() - 8;
                // "Call Comcast's billing line" names whom we call, not whom we call for.
                if starts_with_call && lower[..at].split_whitespace().count() <= 2 && !strong {
                    continue;
                }
                if strong {
                    return Some((name, true));
                }
                // "We're Ironclad Fasteners.": a sentence that only introduces us names us,
                // whatever the words of the name.
                let introduces_us = matches!(*marker, "we are " | "we're ")
                    && at == 0
                    && rest.len() == name.split_whitespace().count()
                    && name.split_whitespace().count() >= 2;
                if introduces_us {
                    return Some((name, true));
                }
                if org_like(&name) || described_as_business(&rest, &name) {
                    if matches!(*marker, "we are " | "we're " | "this is ") {
                        return Some((name, true));
                    }
                    weak.get_or_insert((name, false));
                }
            }
        }
    }
    weak.or_else(|| named_anywhere(sentences))
}

/// The value of a filled-in template's business line: "Company: Frostline Mechanical",
/// "Clinic: Westbrook Dental".
fn labelled_org(sentence: &str) -> Option<String> {
    let (label, value) = sentence.split_once(':')?;
    let label = label.trim().trim_matches('*').to_lowercase();
    let business = matches!(
        label.as_str(),
        "company"
            | "business"
            | "organization"
            | "organisation"
            | "org"
            | "clinic"
            | "practice"
            | "store"
            | "brand"
            | "restaurant"
            | "calling for"
            | "on behalf of"
            | "caller"
            | "from"
    );
    if !business {
        return None;
    }
    let words: Vec<&str> = value.split_whitespace().collect();
    org_run(&words)
}

/// The business a persona line places the speaker in: "You are Theo, an SDR at Ledgerlight",
/// "I'm the treasurer of the Heronwood Commons Homeowners Association", "You're Kit, the office
/// assistant at Copperpipe Plumbing & Heating". The words between the introduction and the
/// preposition must hold an article (a role: "an SDR", "the treasurer"), so "I'm calling for Mr.
/// Soto" names no business.
fn persona_org(sentence: &str) -> Option<String> {
    let lower = sentence.to_lowercase();
    let start = ["hi, ", "hello, ", "hey, ", "so ", "ok, ", "okay, "]
        .iter()
        .find_map(|g| lower.strip_prefix(g).map(|_| g.len()))
        .unwrap_or(0);
    let intro = ["you are ", "you're ", "i'm ", "i am ", "this is "]
        .iter()
        .find(|i| lower[start..].starts_with(**i))?;
    let role_from = start + intro.len();
    let words: Vec<&str> = sentence[role_from..].split_whitespace().collect();
    let lowered: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let at = lowered
        .iter()
        .take(9)
        .position(|w| matches!(w.as_str(), "at" | "of" | "for" | "from" | "with"))?;
    // "This is Swift Movers calling to confirm the move for the Alvarez family": a sentence
    // that goes on to say what the call is for has no role in it.
    let role = &lowered[..at];
    if !role.iter().any(|w| matches!(w.as_str(), "a" | "an" | "the"))
        || role
            .iter()
            .any(|w| matches!(w.as_str(), "calling" | "to" | "and"))
    {
        return None;
    }
    let name = org_run(&words[at + 1..])?;
    let titled = name
        .split_whitespace()
        .next()
        .is_some_and(|w| TITLES.contains(&w.to_lowercase().as_str()));
    (!titled && !is_first_person(&name)).then_some(name)
}

/// "Tallyhand (inventory software)", "Brio (a coffee shop)": a name followed by what kind of
/// business it is.
fn described_as_business(rest: &[&str], name: &str) -> bool {
    let n = name.split_whitespace().count();
    let Some(next) = rest.get(n) else {
        return false;
    };
    if !next.starts_with('(') {
        return false;
    }
    rest[n..]
        .iter()
        .take(4)
        .take_while(|w| !w.starts_with(')'))
        .enumerate()
        .take_while(|(i, _)| *i == 0 || !rest[n + i - 1].ends_with(')'))
        .any(|(_, w)| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            ORG_WORDS.contains(&core.as_str())
        })
}

/// The last resort: a business name standing anywhere in the prompt, unmarked ("Call the parent
/// of Jayden (7th grade, Lincoln Middle School)", "Cascade Power will be doing maintenance").
/// Only runs of two words or more that read as a business ("School", "Power", "&", a brand's
/// inner capital) count, so a person's name or a weekday never becomes the organization.
fn named_anywhere(sentences: &[String]) -> Option<(String, bool)> {
    for sentence in sentences {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let starts_run = words[i]
                .trim_start_matches(['(', '"', '\''])
                .chars()
                .next()
                .is_some_and(char::is_uppercase);
            // "at the Maple Lodge", "a test of the ClawCall API": a place or a product named
            // in passing, not whom we call for.
            let after_the = i > 0 && words[i - 1].eq_ignore_ascii_case("the");
            if !starts_run {
                i += 1;
                continue;
            }
            // The whole run is passed over, not only its first word: "the Heronwood Commons
            // Association" must not leave "Commons Association" behind as a name.
            if after_the {
                i += org_run(&words[i..]).map_or(1, |n| n.split_whitespace().count().max(1));
                continue;
            }
            let rest: Vec<&str> = words[i..]
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    if k == 0 {
                        w.trim_start_matches(['(', '"', '\''])
                    } else {
                        w
                    }
                })
                .collect();
            match org_run(&rest) {
                Some(name) if name.split_whitespace().count() >= 2 && org_like(&name) => {
                    return Some((name, false));
                }
                Some(name) => i += name.split_whitespace().count().max(1),
                None => i += 1,
            }
        }
    }
    None
}

/// A business name at the start of `words`: capitalized words, with "&", "of", "and", "the" and
/// numbers inside ("Bank of America", "Smith & Sons", "24 Hour Fitness"); a trailing possessive
/// noun is dropped ("Bright Dental's front desk" -> "Bright Dental").
fn org_run(words: &[&str]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let (core, tail) = split_trailing_punct(w);
        let lower = core.to_lowercase();
        let capital = core
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit());
        // "the Heronwood Commons Homeowners Association and I'm hoping": "I" is not a name's.
        let connector = matches!(lower.as_str(), "&" | "of" | "and" | "the" | "+")
            && !parts.is_empty()
            && words
                .get(i + 1)
                .is_some_and(|n| n.chars().next().is_some_and(char::is_uppercase) && !is_first_person(n));
        let the_first = parts.is_empty()
            && lower == "the"
            && words
                .get(i + 1)
                .is_some_and(|n| n.chars().next().is_some_and(char::is_uppercase));
        if the_first {
            continue;
        }
        if !(capital || connector) {
            break;
        }
        // "First Harbor Bank", "City Water": a common word may open a business name.
        let name_opener = matches!(
            lower.as_str(),
            "first"
                | "new"
                | "city"
                | "united"
                | "american"
                | "national"
                | "central"
                | "north"
                | "south"
                | "east"
                | "west"
                | "great"
                | "golden"
                | "royal"
                | "best"
                | "prime"
                | "premier"
                | "main"
                | "grand"
                | "old"
                | "green"
                | "blue"
                | "red"
                | "metro"
                | "county"
                | "state"
                | "global"
        ) && words
            .get(i + 1)
            .is_some_and(|n| n.chars().next().is_some_and(char::is_uppercase));
        if capital
            && NOT_NAMES.contains(&lower.trim_end_matches("'s"))
            && !ORG_WORDS.contains(&lower.as_str())
            && !name_opener
        {
            break;
        }
        let possessive = core.ends_with("'s");
        // "Luigi's Trattoria", "Dr. Lee's office": a possessive that goes on in capitals is part
        // of the name.
        let continues = possessive
            && tail.is_empty()
            && words
                .get(i + 1)
                .is_some_and(|n| n.chars().next().is_some_and(char::is_uppercase));
        if continues {
            parts.push(core.to_owned());
            continue;
        }
        // "St. Brigid Academy", "Mt. Sinai": the abbreviation's period does not end the name.
        let abbreviation = tail == "."
            && matches!(lower.as_str(), "st" | "mt" | "ft" | "dr" | "jr" | "sr")
            && words
                .get(i + 1)
                .is_some_and(|n| n.chars().next().is_some_and(char::is_uppercase));
        parts.push(format!(
            "{}{}",
            core.trim_end_matches("'s"),
            if abbreviation { "." } else { "" }
        ));
        if (!tail.is_empty() && !abbreviation) || possessive || parts.len() >= 6 {
            break;
        }
    }
    while parts
        .last()
        .is_some_and(|p| matches!(p.to_lowercase().as_str(), "&" | "of" | "and" | "the"))
    {
        parts.pop();
    }
    let name = parts.join(" ");
    (!name.is_empty() && name.chars().any(char::is_alphabetic)).then_some(name)
}

/// "I", "I'm", "I'll": the writer speaking, capitalized but never part of a name.
fn is_first_person(word: &str) -> bool {
    let core = split_trailing_punct(word).0;
    core == "I" || core.starts_with("I'") || core.starts_with("I\u{2019}")
}

/// The first name of a callee ("Sarah Kim" -> "Sarah"; "Mr. Patel" stays whole).
pub fn greeting_name(name: &str) -> &str {
    if TITLES
        .iter()
        .any(|t| name.to_lowercase().starts_with(&format!("{t} ")))
    {
        return name;
    }
    name.split_whitespace().next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Vec<String> {
        super::super::text::sentences(text)
    }

    #[test]
    fn callees() {
        let cases = [
            ("Call Sarah Kim and confirm her appointment.", Some("Sarah Kim")),
            (
                "Call and confirm the appointment for Sarah Kim on Thursday April 10 at 2 PM.",
                Some("Sarah Kim"),
            ),
            (
                "Please remind Mr. Patel that his car is ready.",
                Some("Mr. Patel"),
            ),
            (
                "Call the customer, Maria Lopez, about her order.",
                Some("Maria Lopez"),
            ),
            ("Confirm Dana's oil change tomorrow at 9am.", Some("Dana")),
            ("Confirm the meeting with Dana on Friday.", None),
            ("Call Bright Dental and ask for the billing department.", None),
            ("Call and confirm the appointment for Thursday at 2 PM.", None),
            (
                "You are calling on behalf of Bright Dental. Ask if they can come.",
                None,
            ),
            ("Her name is Priya. Ask if she can come.", Some("Priya")),
        ];
        for (prompt, want) in cases {
            assert_eq!(callee(&s(prompt)).as_deref(), want, "{prompt}");
        }
    }

    #[test]
    fn organizations() {
        let cases = [
            (
                "You are calling on behalf of Bright Dental. Ask if they can come.",
                Some("Bright Dental"),
            ),
            (
                "Please call Dana on behalf of QuickLube to confirm.",
                Some("QuickLube"),
            ),
            (
                "You're the scheduling assistant at Riverside Animal Hospital.",
                Some("Riverside Animal Hospital"),
            ),
            (
                "Confirm the appointment at City Dental on Friday.",
                Some("City Dental"),
            ),
            ("Call Comcast and get to the billing department.", None),
            (
                "We are Smith & Sons Plumbing. Confirm the visit.",
                Some("Smith & Sons Plumbing"),
            ),
            (
                "Confirm the appointment for Thursday at 2 PM at the downtown clinic.",
                None,
            ),
            (
                "This is a courtesy call from Bank of America about your card.",
                Some("Bank of America"),
            ),
        ];
        for (prompt, want) in cases {
            assert_eq!(
                organization(&s(prompt)).map(|(o, _)| o).as_deref(),
                want,
                "{prompt}"
            );
        }
    }
}
