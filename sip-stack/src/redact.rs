//! Phone numbers and SIP users never reach the logs whole: `Redacted` keeps enough to tell calls apart
//! (a `+` and the first digit, and the last two digits) and masks the rest. It is the only masker
//! of numbers in Ringback: two maskers that hide different digits together reveal more than either.

use std::fmt;

/// A phone number, SIP user or SIP URI, masked when displayed: `+15551234567` shows as
/// `+1********67`, `sip:alice@trunk.test` as `sip:a***e@trunk.test`.
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        let lower = text.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
        let scheme_len = if lower.starts_with("sips:") {
            5
        } else if lower.starts_with("sip:") || lower.starts_with("tel:") {
            4
        } else {
            0
        };
        let (scheme, rest) = text.split_at(scheme_len);
        let (user, host) = match rest.find('@') {
            Some(at) => rest.split_at(at),
            None if scheme_len > 0 && !lower.starts_with("tel:") => ("", rest),
            None => (rest, ""),
        };
        f.write_str(scheme)?;
        mask(user, f)?;
        f.write_str(host)
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Writes `user` with its middle masked: up to 2 leading characters (a `+` and the first digit) and
/// 2 trailing ones stay when the value is long enough for that to leave most of it hidden.
fn mask(user: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let chars: Vec<char> = user.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0 => return Ok(()),
        1..=3 => (0, 0),
        4..=6 => (1, 1),
        7..=9 => (1, 2),
        _ => (2, 2),
    };
    for c in &chars[..head] {
        fmt::Write::write_char(f, *c)?;
    }
    for _ in head..n - tail {
        f.write_str("*")?;
    }
    for c in &chars[n - tail..] {
        fmt::Write::write_char(f, *c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_uris_are_masked() {
        let cases = [
            ("+15551234567", "+1********67"),
            ("5551234", "5****34"),
            ("alice", "a***e"),
            ("bob", "***"),
            ("", ""),
            ("sip:+15551234567@trunk.test", "sip:+1********67@trunk.test"),
            ("sips:alice@10.0.0.1:5061", "sips:a***e@10.0.0.1:5061"),
            ("sip:trunk.test", "sip:trunk.test"),
            ("tel:+4930123456", "tel:+4*******56"),
        ];
        for (input, shown) in cases {
            assert_eq!(Redacted(input).to_string(), shown, "{input}");
        }
        assert!(!format!("{:?}", Redacted("+15551234567")).contains("1234"));
    }
}
