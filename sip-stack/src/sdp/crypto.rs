//! SDES `a=crypto` attributes (RFC 4568) as SDP text: tag, suite, key parameters. The keys are
//! opaque here; the media layer reads and checks them.

use std::fmt;

use super::SdpError;

/// One `a=crypto:<tag> <suite> <key-params>` line.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag that pairs an answer's line with the offer's (RFC 4568 9.1).
    pub tag: u32,
    /// The crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// Key parameters and any session parameters, as written (`inline:<base64>`...).
    pub params: String,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The parameters carry the master key: never print them.
        f.debug_struct("Crypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Reads the value of an `a=crypto:` attribute (what follows the colon).
    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or(SdpError::Malformed("crypto tag"))?;
        let suite = fields
            .next()
            .ok_or(SdpError::Malformed("crypto suite"))?
            .to_owned();
        let params: Vec<&str> = fields.collect();
        if params.is_empty() {
            return Err(SdpError::Malformed("crypto key"));
        }
        Ok(Crypto {
            tag,
            suite,
            params: params.join(" "),
        })
    }

    /// The attribute value, as [`parse`](Self::parse) reads it.
    pub fn to_value(&self) -> String {
        format!("{} {} {}", self.tag, self.suite, self.params)
    }

    /// Whether `other` uses the same suite (names compare without case).
    pub fn same_suite(&self, other: &Crypto) -> bool {
        self.suite.eq_ignore_ascii_case(&other.suite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_a_crypto_line_and_hides_the_key() {
        let value = "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4";
        let c = Crypto::parse(value).expect("parses");
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(c.to_value(), value);
        assert!(!format!("{c:?}").contains("inline"));
        assert_eq!(
            Crypto::parse("x AES_CM_128_HMAC_SHA1_80 inline:a"),
            Err(SdpError::Malformed("crypto tag"))
        );
        assert_eq!(
            Crypto::parse("1 AES_CM_128_HMAC_SHA1_80"),
            Err(SdpError::Malformed("crypto key"))
        );
    }
}
