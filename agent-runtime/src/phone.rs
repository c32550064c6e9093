//! Phone numbers, parsed at the edge: an [`E164`] is known to be well formed, and its `Display` masks
//! it so logs never carry a full number.

use std::fmt;

/// Why a phone number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneError {
    /// Not `+` followed by 8 to 15 digits with a non-zero country code.
    #[error("not an E.164 number: expected '+' then 8 to 15 digits, e.g. +15551234567")]
    NotE164,
    /// An emergency number: Ringback never dials these.
    #[error("emergency numbers are never dialled")]
    Emergency,
}

/// A number in E.164 form, e.g. `+15551234567`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

/// Emergency short codes, also refused when written with a leading `+` or a country code.
const EMERGENCY: &[&str] = &[
    "911", "112", "999", "000", "110", "119", "100", "101", "102", "108", "15", "17", "18",
];

impl E164 {
    /// Parses `+` and digits; spaces, dashes, dots and parentheses are tolerated and removed.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let digits_part = trimmed.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        let mut digits = String::with_capacity(15);
        for c in digits_part.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::NotE164),
            }
        }
        // Short numbers ending in an emergency code (`+911`, `+1911`, `+44999`) are emergency calls
        // however they were written; no real subscriber number is that short.
        if digits.len() <= 6 && EMERGENCY.iter().any(|e| digits.ends_with(e)) {
            return Err(PhoneError::Emergency);
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneError::NotE164);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The full number, for SIP signalling and the API (never for logs).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    /// Masked as every number in Ringback's logs is (`+1********67`, see
    /// [`sip_stack::Redacted`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        sip_stack::Redacted(&self.0).fmt(f)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(
            E164::parse("+1 (555) 123-4567").map(|n| n.as_str().to_owned()),
            Ok("+15551234567".into())
        );
        assert_eq!(
            E164::parse("+442079460000").map(|n| n.as_str().to_owned()),
            Ok("+442079460000".into())
        );
    }

    #[test]
    fn refuses_malformed_and_emergency_numbers() {
        for bad in [
            "5551234567",
            "+",
            "+0123456789",
            "+1555abc4567",
            "+1234567",
            "+1234567890123456",
            "",
        ] {
            assert_eq!(E164::parse(bad), Err(PhoneError::NotE164), "{bad}");
        }
        for emergency in ["+911", "+1911", "+112", "+999", "+44999"] {
            assert_eq!(E164::parse(emergency), Err(PhoneError::Emergency), "{emergency}");
        }
    }

    #[test]
    fn display_masks_the_number() {
        let n = E164::parse("+15551234567").expect("valid");
        assert_eq!(n.to_string(), "+1********67");
        assert!(!format!("{n:?}").contains("555123"));
    }
}
