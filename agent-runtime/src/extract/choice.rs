//! A choice among the options the agent offered ("Monday or Tuesday?" -> "Tuesday, please").

use super::words;

const ORDINALS: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];

/// The option the caller picked: the one whose words they said (the last one mentioned wins when they
/// correct themselves: "Monday, no, Tuesday"), or "the first/second one". `None` when no option fits.
pub fn choice(text: &str, options: &[String]) -> Option<String> {
    let ws = words(text);
    let mut best: Option<(usize, usize)> = None; // (position of last mention, option index)
    for (index, option) in options.iter().enumerate() {
        let option_words = words(option);
        if option_words.is_empty() {
            continue;
        }
        // Every word of the option must be said, in a window; take the last place it appears.
        let last = ws
            .windows(option_words.len())
            .enumerate()
            .filter(|(_, window)| {
                window
                    .iter()
                    .zip(&option_words)
                    .all(|(a, b)| a == b || a.trim_end_matches('s') == b)
            })
            .map(|(i, _)| i)
            .next_back();
        if let Some(pos) = last
            && best.is_none_or(|(p, _)| pos > p)
        {
            best = Some((pos, index));
        }
    }
    if let Some((_, index)) = best {
        return Some(options[index].clone());
    }
    let ordinal = ws.iter().find_map(|w| ORDINALS.iter().position(|o| o == w))?;
    let index = if ws.iter().any(|w| w == "last") {
        options.len().checked_sub(1)?
    } else {
        ordinal
    };
    options.get(index).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days() -> Vec<String> {
        vec!["Monday".into(), "Tuesday".into()]
    }

    #[test]
    fn picks_the_option_said() {
        assert_eq!(choice("Tuesday would be better", &days()), Some("Tuesday".into()));
        assert_eq!(
            choice("Monday, no wait, Tuesday", &days()),
            Some("Tuesday".into())
        );
        assert_eq!(choice("the first one", &days()), Some("Monday".into()));
        assert_eq!(choice("neither", &days()), None);
        let plans = vec!["basic plan".to_owned(), "premium plan".to_owned()];
        assert_eq!(
            choice("I'll take the premium plan", &plans),
            Some("premium plan".into())
        );
    }
}
