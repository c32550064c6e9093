//! What a recognizer returns is not always what the caller said: Whisper decoders (ours through
//! CTranslate2, and many remote servers) can leak special tokens (`<|notimestamps|>`,
//! `<|endoftext|>`) into the text, and on silence or noise they write captions such as
//! `[BLANK_AUDIO]` or `(music)`. Neither may reach the transcript, the answer parsers or the
//! model, so every transcript passes through [`clean_transcript`].
//!
//! Whisper also falls into loops ("Wednesday, Wednesday, Wednesday, ..." or "3.0.0.0.0..." until
//! its length limit), more often on noisy lines and with a prompt. No caller says a phrase four
//! times running, so a loop is cut after its first round: [`loop_free_len`] finds it in any
//! sequence (Whisper's tokens, or words), and [`clean_transcript`] applies it to words.

/// The longest cycle [`loop_free_len`] looks for, in items (tokens or words).
const MAX_LOOP_PERIOD: usize = 8;
/// How many rounds of a cycle of two or more items make a loop.
const LOOP_ROUNDS: usize = 4;
/// How many times one item in a row makes a loop: single words and digits do repeat in speech
/// ("no, no, no"; "five five five"), so a longer run is needed.
const LOOP_RUNS: usize = 6;

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
    let words: Vec<&str> = out.split_whitespace().collect();
    let joined = words[..loop_free_len(&word_keys(&words))].join(" ");
    // A caption removed before punctuation leaves " ," or " .".
    joined
        .replace(" ,", ",")
        .replace(" .", ".")
        .replace(" ?", "?")
        .trim_start_matches([',', '.', ' '])
        .to_owned()
}

/// Whether the words of `text` run into a loop (which [`clean_transcript`] would cut).
pub fn has_word_loop(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    loop_free_len(&word_keys(&words)) < words.len()
}

/// Words compared for loops: lower case, without surrounding punctuation.
fn word_keys(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .collect()
}

/// How many leading items of `items` to keep so that no loop remains: the items up to the end
/// of the first round of the earliest cycle (of 2 to 8 items) repeated four times in a row, or
/// of one item repeated six times; all of them when there is no loop.
pub fn loop_free_len<T: PartialEq>(items: &[T]) -> usize {
    for start in 0..items.len() {
        for period in 1..=MAX_LOOP_PERIOD {
            let needed = if period == 1 { LOOP_RUNS } else { LOOP_ROUNDS };
            if start + period * needed > items.len() {
                break;
            }
            let cycle = &items[start..start + period];
            let rounds = items[start..]
                .chunks_exact(period)
                .take_while(|chunk| *chunk == cycle)
                .count();
            if rounds >= needed {
                return start + period;
            }
        }
    }
    items.len()
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
    fn loops_are_cut_after_their_first_round() {
        let days = "I'd say Wednesday, Wednesday, Wednesday, Wednesday, Wednesday, Wednesday, Wednesday,";
        assert_eq!(clean_transcript(days), "I'd say Wednesday,");
        let pair = "Thursday or Friday or Friday or Friday or Friday or Friday or";
        assert_eq!(clean_transcript(pair), "Thursday or Friday");
        // Speech repeats words, just not that often.
        assert_eq!(clean_transcript("No, no, no, no."), "No, no, no, no.");
        assert_eq!(
            clean_transcript("It's five five five, one two one two."),
            "It's five five five, one two one two."
        );
        assert!(has_word_loop(days));
        assert!(!has_word_loop("No, no, no, no."));
        // Tokens: "3.0.0.0.0..." is one word but many tokens.
        let tokens = ["It's", " 3", ".", "0", ".", "0", ".", "0", ".", "0", ".", "0"];
        assert_eq!(loop_free_len(&tokens), 4);
        assert_eq!(loop_free_len::<u8>(&[]), 0);
        assert_eq!(loop_free_len(&[1, 2, 3]), 3);
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
