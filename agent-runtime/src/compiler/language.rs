//! Is the prompt English, and readable at all? The on-box engine speaks and understands English
//! only, so a prompt in another language is refused with a message that says so rather than
//! compiled into nonsense.

/// What the language check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// English words: compile it.
    English,
    /// Letters, but mostly the function words of another language (or another script).
    OtherLanguage,
    /// Hardly any words at all: binary, markup, keyboard noise.
    Unreadable,
}

/// Very common English words; a real English prompt has many of them.
const ENGLISH: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "to",
    "of",
    "for",
    "in",
    "on",
    "at",
    "is",
    "are",
    "be",
    "if",
    "they",
    "them",
    "their",
    "you",
    "your",
    "with",
    "ask",
    "call",
    "confirm",
    "about",
    "that",
    "this",
    "it",
    "from",
    "will",
    "can",
    "would",
    "please",
    "get",
    "tell",
    "remind",
    "their",
    "he",
    "she",
    "her",
    "his",
    "we",
    "our",
    "us",
    "what",
    "when",
    "how",
    "whether",
    "by",
    "leave",
    "message",
    "collect",
    "appointment",
    "email",
    "phone",
    "number",
    "offer",
    "not",
    "do",
    "don't",
    "any",
    "have",
    "has",
    "need",
    "want",
    "let",
    "know",
    "time",
    "who",
    "as",
    "my",
    "me",
    "i",
    "up",
    "so",
    "out",
];

/// Function words of the languages most often mistaken for a prompt we could run.
const FOREIGN: &[&str] = &[
    // Spanish
    "el",
    "la",
    "los",
    "las",
    "que",
    "de",
    "del",
    "por",
    "para",
    "con",
    "una",
    "es",
    "su",
    "sus",
    "si",
    "llama",
    "llamar",
    "pregunta",
    "preguntale",
    "confirma",
    "cita",
    "correo",
    "usted",
    "y",
    "en",
    "se",
    "lo",
    "le",
    "al",
    "más",
    "pero",
    "como",
    "cuando",
    "mañana",
    "hora",
    // French
    "le",
    "les",
    "des",
    "du",
    "et",
    "est",
    "une",
    "pour",
    "avec",
    "vous",
    "votre",
    "leur",
    "demande",
    "appelle",
    "rendez-vous",
    "qui",
    "pas",
    "sur",
    "dans",
    "au",
    "aux",
    "ce",
    // German
    "der",
    "die",
    "das",
    "und",
    "ist",
    "ein",
    "eine",
    "mit",
    "für",
    "sie",
    "ihr",
    "ihre",
    "den",
    "dem",
    "bitte",
    "frage",
    "ob",
    "termin",
    "nicht",
    "auf",
    "zu",
    "wenn",
    "rufe",
    "an",
    // Portuguese and Italian
    "o",
    "os",
    "e",
    "ele",
    "ela",
    "eles",
    "para",
    "que",
    "na",
    "da",
    "do",
    "se",
    "por",
    "ou",
    "um",
    "em",
    "pergunte",
    "ligue",
    "lembre",
    "não",
    "uma",
    "com",
    "você",
    "seu",
    "sua",
    "il",
    "di",
    "che",
    "per",
    "gli",
    "della",
    "chiedi",
];

/// Reads the prompt's words and decides.
pub fn read(prompt: &str) -> Reading {
    let letters = prompt.chars().filter(|c| c.is_alphabetic()).count();
    let visible = prompt.chars().filter(|c| !c.is_whitespace()).count();
    if letters == 0 || letters * 2 < visible {
        return Reading::Unreadable;
    }
    let latin = prompt
        .chars()
        .filter(|c| c.is_alphabetic() && (c.is_ascii_alphabetic() || ('\u{00c0}'..='\u{024f}').contains(c)))
        .count();
    if latin * 2 < letters {
        return Reading::OtherLanguage;
    }
    let words: Vec<String> = prompt
        .split(|c: char| !(c.is_alphabetic() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let english = words.iter().filter(|w| ENGLISH.contains(&w.as_str())).count();
    // Words both lists share ("a", "an", "in", "de"...) count for English only.
    let foreign = words
        .iter()
        .filter(|w| FOREIGN.contains(&w.as_str()) && !ENGLISH.contains(&w.as_str()))
        .count();
    let accented = prompt.chars().any(|c| "ñáéíóúàèçãõäöüßêâ¿¡".contains(c));
    if words.len() >= 4 && foreign >= 3 && foreign > english * 2 {
        return Reading::OtherLanguage;
    }
    if words.len() >= 4 && english == 0 && (accented || foreign >= 1) {
        return Reading::OtherLanguage;
    }
    if words.len() >= 2 && english == 0 && words.iter().all(|w| !w.chars().any(|c| "aeiouy".contains(c))) {
        return Reading::Unreadable;
    }
    Reading::English
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(read("Ask if they can come on Tuesday at 3 PM."), Reading::English);
        assert_eq!(read("Call Sam and confirm the delivery."), Reading::English);
        assert_eq!(
            read(
                "Ligue para o Sr. Costa e lembre-o de que a conta vence na sexta. Pergunte se ele prefere pagar por boleto ou Pix."
            ),
            Reading::OtherLanguage
        );
        assert_eq!(
            read("Remind Dana: no food after midnight, and do not drive yourself home."),
            Reading::English
        );
        assert_eq!(
            read("Llama a la clienta y confirma su cita del martes a las tres. Pregúntale su correo."),
            Reading::OtherLanguage
        );
        assert_eq!(
            read("Bitte rufe den Kunden an und frage, ob der Termin am Dienstag passt."),
            Reading::OtherLanguage
        );
        assert_eq!(
            read("Appelle le client et demande-lui s'il peut venir mardi."),
            Reading::OtherLanguage
        );
        assert_eq!(read("请确认周二的预约"), Reading::OtherLanguage);
        assert_eq!(read("%%%% 0x00 #### ////"), Reading::Unreadable);
        assert_eq!(read("sdfg qwrt zxcv"), Reading::Unreadable);
        // A short English word is readable; the compiler then refuses it as too vague.
        assert_eq!(read("Hi."), Reading::English);
    }
}
