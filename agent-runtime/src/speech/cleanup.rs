//! What a recognizer returns is not always what the caller said: Whisper decoders (ours through
//! CTranslate2, and many remote servers) can leak special tokens (`<|notimestamps|>`,
//! `<|endoftext|>`) into the text, and on silence or noise they write captions such as
//! `[BLANK_AUDIO]` or `(music)`. Neither may reach the transcript, the answer parsers or the
//! model, so every transcript passes through [`clean_transcript`].

/// Removes decoder tokens (`<|...|>`) and non-speech captions (`[...]`, `(...)` of at most four
/// words, `*coughs*`), and tidies the spaces left behind.
pub fn clean_transcript(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        let skip = match c {
            '<' if rest.starts_with("<|") => rest.find("|>").map(|end| end + 2),
            '[' => rest.find(']').map(|end| end + 1),
            '(' => rest
                .find(')')
                .filter(|end| is_caption(&rest[1..*end]))
                .map(|end| end + 1),
            '*' => rest[1..]
                .find('*')
                .filter(|end| is_caption(&rest[1..end + 1]))
                .map(|end| end + 2),
            _ => None,
        };
        match skip {
            Some(len) => {
                out.push(' ');
                rest = &rest[len..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    let joined = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // A caption removed before punctuation leaves " ," or " .".
    joined
        .replace(" ,", ",")
        .replace(" .", ".")
        .replace(" ?", "?")
        .trim_start_matches([',', '.', ' '])
        .to_owned()
}

/// A short run of words without digits: "music", "upbeat music", "coughs", not "(415) 555".
fn is_caption(inner: &str) -> bool {
    let words = inner.split_whitespace().count();
    (1..=4).contains(&words)
        && inner
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_tokens_and_captions_are_removed() {
        assert_eq!(
            clean_transcript("<|notimestamps|> actually, Friday."),
            "actually, Friday."
        );
        assert_eq!(clean_transcript("Yes.<|endoftext|>"), "Yes.");
        assert_eq!(clean_transcript("[BLANK_AUDIO]"), "");
        assert_eq!(clean_transcript("(upbeat music) Hello?"), "Hello?");
        assert_eq!(clean_transcript("Sure *coughs* that works."), "Sure that works.");
    }

    #[test]
    fn words_in_parentheses_with_digits_stay() {
        assert_eq!(
            clean_transcript("Call me at (415) 555 0100."),
            "Call me at (415) 555 0100."
        );
        assert_eq!(
            clean_transcript("Three times two (6) is it"),
            "Three times two (6) is it"
        );
        assert_eq!(clean_transcript("an unclosed [bracket"), "an unclosed [bracket");
        assert_eq!(clean_transcript("5 * 3"), "5 * 3");
    }
}
