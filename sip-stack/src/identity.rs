//! Who a call says it is from, and the headers an application may add to its INVITE.
//!
//! Carriers read the caller's number from From, or from P-Asserted-Identity (RFC 3325) when the
//! trunk is a trusted peer, and withhold it from the callee on `Privacy: id` (RFC 3323). An
//! application's own headers (campaign ids, account numbers for the carrier's CDRs) travel as `X-`
//! headers; only well-formed ones are sent, so a caller of the API cannot inject a header or a
//! line break into our signalling.

use crate::message::grammar;

/// How a trunk wants the caller's number (`[[trunks]] identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityMode {
    /// In From only (the default).
    #[default]
    From,
    /// In From and in P-Asserted-Identity.
    Asserted,
    /// In P-Asserted-Identity only, with `Privacy: id`; From is anonymous (RFC 3323 4), so the
    /// callee does not see the number and the carrier still bills and screens it.
    Withheld,
}

/// The From user an anonymous call presents.
pub(crate) const ANONYMOUS_FROM: &str = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

/// A header the application adds: an `X-` name that is a token, and a value of printable text
/// (tabs allowed) no longer than 256 bytes.
pub fn is_custom_header(name: &str, value: &str) -> bool {
    let x = name.len() > 2 && name[..2].eq_ignore_ascii_case("x-") && grammar::is_token(name);
    let printable = value.len() <= 256 && value.chars().all(|c| c == '\t' || !c.is_control());
    x && printable && !value.trim().is_empty()
}

/// A caller ID we may send: `+` and 1 to 15 digits (E.164), or digits alone.
pub fn is_caller_number(user: &str) -> bool {
    let digits = user.strip_prefix('+').unwrap_or(user);
    (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_x_headers_are_custom_headers() {
        assert!(is_custom_header("X-Campaign-Id", "spring-2027"));
        assert!(is_custom_header("x-account", "A 17\twith tab"));
        for (name, value) in [
            ("Campaign", "v"),
            ("X-", "v"),
            ("X-Bad Name", "v"),
            ("X-Inject", "v\r\nVia: evil"),
            ("X-Nul", "a\0b"),
            ("X-Empty", "  "),
            ("P-Asserted-Identity", "<sip:+15550000000@x>"),
        ] {
            assert!(!is_custom_header(name, value), "{name}: {value:?}");
        }
        assert!(!is_custom_header("X-Long", &"a".repeat(257)));
    }

    #[test]
    fn caller_numbers_are_e164_digits() {
        assert!(is_caller_number("+15551230000"));
        assert!(is_caller_number("5551230000"));
        for bad in ["", "+", "+1555abc", "+1234567890123456", "anonymous", "+1 555"] {
            assert!(!is_caller_number(bad), "{bad}");
        }
    }
}
