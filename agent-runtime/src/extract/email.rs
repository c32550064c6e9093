//! Email addresses, written ("jane@example.com") or spelled out loud ("jane dot doe at example dot com",
//! "j a n e at gmail dot com").

use super::numbers::number_words;

/// Words that end the local part when walking back from "at".
const STOP: &[&str] = &[
    "is", "it's", "its", "email", "e-mail", "mail", "address", "my", "me", "it", "the", "yes", "yeah",
    "sure", "that's", "so", "um", "uh", "you", "can", "use", "reach", "ok", "okay", "it’s", "send", "to",
    "write", "of", "course", "and",
];

fn connector(word: &str) -> Option<&'static str> {
    Some(match word {
        "dot" | "period" | "point" => ".",
        "underscore" => "_",
        "dash" | "hyphen" | "minus" => "-",
        "plus" => "+",
        _ => return None,
    })
}

/// Lowercase tokens, keeping `@ . _ - +` inside them.
fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ',' | '!' | '?' | ';' | '"' | '(' | ')' | '<' | '>')
        })
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ':' | '\'')).to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

fn valid(local: &str, domain: &str) -> bool {
    let tld = domain.rsplit('.').next().unwrap_or("");
    !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && domain.contains('.')
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && domain.split('.').all(|label| !label.is_empty())
        && local
            .chars()
            .chain(domain.chars())
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

/// A word as it contributes to an address: a connector, digits for number words, else itself.
fn piece(word: &str) -> String {
    if let Some(c) = connector(word) {
        return c.to_owned();
    }
    if let Some((n, 1)) = number_words(&[word.to_owned()]) {
        return n.to_string();
    }
    word.to_owned()
}

/// The domain said after "at": labels of one to three words ("haddad events" is `haddadevents`)
/// joined by "dot" or "dash"; the last label (the top-level domain) is one word, or letters
/// spelled out ("I, O" is `io`).
fn spoken_domain(ts: &[String]) -> String {
    let mut labels: Vec<Vec<&str>> = vec![Vec::new()];
    let mut joins: Vec<&str> = Vec::new();
    for w in ts {
        let w = w.as_str();
        match connector(w) {
            Some(c) if c == "." || c == "-" => {
                if labels.last().is_none_or(Vec::is_empty) {
                    break;
                }
                joins.push(c);
                labels.push(Vec::new());
            }
            Some(_) => break,
            None => {
                let label = labels.last_mut().map_or(0, |l| l.len());
                if label >= 3 || STOP.contains(&w) && label > 0 {
                    break;
                }
                if let Some(l) = labels.last_mut() {
                    l.push(w);
                }
            }
        }
    }
    if labels.last().is_some_and(Vec::is_empty) {
        labels.pop();
        joins.pop();
    }
    if let Some(last) = labels.last_mut()
        && last.len() > 1
    {
        // "dot com thanks": the top-level domain is its first word, unless it is spelled out.
        if !last.iter().all(|w| w.len() == 1) {
            last.truncate(1);
        }
    }
    let mut domain = String::new();
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            domain.push_str(joins.get(i - 1).copied().unwrap_or("."));
        }
        domain.extend(label.iter().map(|w| piece(w)));
    }
    domain
}

/// The first email address in the text.
pub fn email(text: &str) -> Option<String> {
    let ts = tokens(text);
    // Written form.
    for t in &ts {
        if let Some((local, domain)) = t.split_once('@')
            && valid(local, domain)
        {
            return Some(format!("{local}@{domain}"));
        }
    }
    // Spoken form: "<local words> at <domain words>".
    for (at, _) in ts.iter().enumerate().filter(|(_, t)| t.as_str() == "at") {
        let mut local_words: Vec<&str> = Vec::new();
        for w in ts[..at].iter().rev() {
            if STOP.contains(&w.as_str()) || local_words.len() >= 8 {
                break;
            }
            local_words.push(w);
        }
        local_words.reverse();
        let local: String = local_words.iter().map(|w| piece(w)).collect();
        let domain = spoken_domain(&ts[at + 1..]);
        if valid(&local, &domain) {
            return Some(format!("{local}@{domain}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_and_written_addresses() {
        assert_eq!(
            email("It's jane at example dot com."),
            Some("jane@example.com".into())
        );
        assert_eq!(
            email("Sure, my email is jane dot doe at example dot co dot uk, thanks"),
            Some("jane.doe@example.co.uk".into())
        );
        assert_eq!(
            email("j a n e underscore two at gmail dot com"),
            Some("jane_2@gmail.com".into())
        );
        assert_eq!(
            email("You can reach me at Jane@Example.com."),
            Some("jane@example.com".into())
        );
        assert_eq!(
            email("My email is jane at example.com"),
            Some("jane@example.com".into())
        );
        assert_eq!(
            email("Uh, sure, it's monique at baptiste bakes dot com. Baptiste is B, A, P, T, I, S, T, E."),
            Some("monique@baptistebakes.com".into())
        );
        assert_eq!(
            email("Dan at parcelpoint dot I, O."),
            Some("dan@parcelpoint.io".into())
        );
        assert_eq!(
            email("It's corinne at haddad events dot com. Corinne with two N's."),
            Some("corinne@haddadevents.com".into())
        );
        assert_eq!(
            email("bob dash smith at my-company dot org"),
            Some("bob-smith@my-company.org".into())
        );
    }

    #[test]
    fn no_address_no_answer() {
        assert_eq!(email("I'll be at home at five"), None);
        assert_eq!(email("at example dot com"), None);
        assert_eq!(email("jane at example"), None);
        assert_eq!(email(""), None);
    }
}
