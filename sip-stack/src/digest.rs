//! HTTP digest authentication for SIP (RFC 3261 22, RFC 2617, RFC 8760 for SHA-256), kept a pure
//! function over borrowed parts: parse a challenge, compute the credentials line. The caller owns the
//! nonce count and the client nonce, so the same inputs always give the same header.

use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt::Write as _;

/// Why a challenge could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestError {
    /// The scheme is not `Digest`.
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// A parameter the computation needs is absent.
    #[error("challenge has no {0}")]
    Missing(&'static str),
    /// The server asked for an algorithm we do not implement.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The server offered only qop values we do not implement (auth-int).
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(String),
}

/// Hash function of the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, the RFC 2617 default.
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hex(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
}

/// A parsed `WWW-Authenticate` or `Proxy-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo back.
    pub opaque: Option<String>,
    /// Hash function.
    pub algorithm: Algorithm,
    /// Whether `qop=auth` is to be used (offered by the server).
    pub qop_auth: bool,
    /// The previous credentials were right but the nonce expired: retry without asking the user.
    pub stale: bool,
}

impl Challenge {
    /// Parses the header value, e.g. `Digest realm="x", nonce="y", qop="auth,auth-int"`.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let value = value.trim();
        let rest = value
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
            .map(|_| &value[6..])
            .ok_or(DigestError::NotDigest)?;
        let params = parse_params(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("md5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("sha-256") => Algorithm::Sha256,
            Some(other) => return Err(DigestError::UnsupportedAlgorithm(other)),
        };
        let qop_auth = match get("qop") {
            None => false,
            Some(q) if q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth")) => true,
            Some(other) => return Err(DigestError::UnsupportedQop(other)),
        };
        Ok(Self {
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// Splits `k=v, k="v, with comma"` into pairs, unquoting values.
fn parse_params(input: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value.trim().to_owned()));
    }
}

/// What the answer is computed over: the request being authorized.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// SIP method, e.g. `REGISTER`.
    pub method: &'a str,
    /// The digest URI: the Request-URI of the request.
    pub uri: &'a str,
}

/// Username and password.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// Authentication user name.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Computes the `Authorization` / `Proxy-Authorization` header value. `nonce_count` counts uses of
/// this nonce (starting at 1) and `cnonce` is the client nonce; both matter only with qop.
pub fn authorization(
    challenge: &Challenge,
    creds: Credentials<'_>,
    request: RequestParts<'_>,
    nonce_count: u32,
    cnonce: &str,
) -> String {
    let alg = challenge.algorithm;
    let ha1 = alg.hex(&format!(
        "{}:{}:{}",
        creds.username, challenge.realm, creds.password
    ));
    let ha2 = alg.hex(&format!("{}:{}", request.method, request.uri));
    let nc = format!("{nonce_count:08x}");
    let response = if challenge.qop_auth {
        alg.hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", challenge.nonce))
    } else {
        alg.hex(&format!("{ha1}:{}:{ha2}", challenge.nonce))
    };
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
        Quoted(creds.username),
        Quoted(&challenge.realm),
        Quoted(&challenge.nonce),
        Quoted(request.uri),
        response,
        alg.name()
    );
    if let Some(opaque) = &challenge.opaque {
        let _ = write!(out, ", opaque=\"{}\"", Quoted(opaque));
    }
    if challenge.qop_auth {
        let _ = write!(out, ", qop=auth, nc={nc}, cnonce=\"{}\"", Quoted(cnonce));
    }
    out
}

/// The inside of a quoted-string (RFC 3261 25.1): `"` and `\` escaped. The hashes are computed
/// over the values themselves; a realm or nonce from a server may hold either character (the
/// parser unescapes them), and written back raw they would end the string early, so the server
/// would read a different nonce (found by the `digest` fuzz target).
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if matches!(c, '"' | '\\') {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        Ok(())
    }
}

/// The value of a challenge we send (`Proxy-Authenticate` / `WWW-Authenticate`), with qop=auth.
pub fn challenge_header(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut out = format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
        algorithm.name()
    );
    if stale {
        out.push_str(", stale=true");
    }
    out
}

/// Credentials a client sent (`Authorization` / `Proxy-Authorization`), for a server to check.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// User name.
    pub username: String,
    /// Realm the client answered for.
    pub realm: String,
    /// The nonce it answered.
    pub nonce: String,
    /// The digest URI.
    pub uri: String,
    /// The client's response hash (lower-case hex).
    pub response: String,
    /// Hash function.
    pub algorithm: Algorithm,
    /// `qop=auth` with its nonce count and client nonce, when used.
    pub qop: Option<(String, String)>,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Authorization {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let value = value.trim();
        let rest = value
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
            .map(|_| &value[6..])
            .ok_or(DigestError::NotDigest)?;
        let params = parse_params(rest);
        let get = |name: &'static str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .ok_or(DigestError::Missing(name))
        };
        let algorithm = match get("algorithm").ok() {
            None => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("md5") => Algorithm::Md5,
            Some(a) if a.eq_ignore_ascii_case("sha-256") => Algorithm::Sha256,
            Some(other) => return Err(DigestError::UnsupportedAlgorithm(other)),
        };
        let qop = match get("qop").ok() {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some((get("nc")?, get("cnonce")?)),
            Some(other) => return Err(DigestError::UnsupportedQop(other)),
        };
        Ok(Self {
            username: get("username")?,
            realm: get("realm")?,
            nonce: get("nonce")?,
            uri: get("uri")?,
            response: get("response")?.to_ascii_lowercase(),
            algorithm,
            qop,
        })
    }

    /// Whether the response proves knowledge of `password` for a request with `method`. The
    /// comparison takes the same time wherever the first difference is.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let alg = self.algorithm;
        let ha1 = alg.hex(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = alg.hex(&format!("{method}:{}", self.uri));
        let expected = match &self.qop {
            Some((nc, cnonce)) => alg.hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce)),
            None => alg.hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        };
        expected.len() == self.response.len()
            && expected
                .bytes()
                .zip(self.response.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_in_a_challenge_survive_the_answer() {
        // The digest fuzz target's first find: a realm with an escaped quote was written back raw.
        let challenge =
            Challenge::parse(r#"Digest realm="a\"b, c", nonce="q\\z", opaque="o\"p""#).expect("parses");
        assert_eq!(
            (challenge.realm.as_str(), challenge.nonce.as_str()),
            ("a\"b, c", "q\\z")
        );
        let creds = Credentials {
            username: "al\"ice",
            password: "pw",
        };
        let request = RequestParts {
            method: "REGISTER",
            uri: "sip:example.com",
        };
        let value = authorization(&challenge, creds, request, 1, "c");
        let answer = Authorization::parse(&value).expect("parses");
        assert_eq!(answer.realm, challenge.realm);
        assert_eq!(answer.nonce, challenge.nonce);
        assert_eq!(answer.username, "al\"ice");
        assert!(answer.verify("REGISTER", "pw"));
    }

    #[test]
    fn our_challenges_verify_what_our_client_computes() {
        for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
            let header = challenge_header("ringback", "n0nce", algorithm, false);
            let challenge = Challenge::parse(&header).expect("our challenge parses");
            assert!(challenge.qop_auth && !challenge.stale);
            let creds = Credentials {
                username: "carrier",
                password: "s3cret",
            };
            let parts = RequestParts {
                method: "INVITE",
                uri: "sip:+15550001@ringback",
            };
            let answer = authorization(&challenge, creds, parts, 1, "cn");
            let auth = Authorization::parse(&answer).expect("parses");
            assert_eq!(auth.username, "carrier");
            assert!(auth.verify("INVITE", "s3cret"));
            assert!(!auth.verify("INVITE", "wrong"));
            assert!(!auth.verify("BYE", "s3cret"), "the method is covered");
        }
        assert!(challenge_header("r", "n", Algorithm::Md5, true).ends_with("stale=true"));
        assert!(Authorization::parse("Digest username=\"x\"").is_err());
        assert!(Authorization::parse("Basic eA==").is_err());
    }

    #[test]
    fn rfc2617_example_with_qop() {
        // RFC 2617 section 3.5, with the SIP-irrelevant HTTP method and URI of the example.
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("valid challenge");
        assert!(ch.qop_auth);
        let header = authorization(
            &ch,
            Credentials {
                username: "Mufasa",
                password: "Circle Of Life",
            },
            RequestParts {
                method: "GET",
                uri: "/dir/index.html",
            },
            1,
            "0a4f113b",
        );
        assert!(
            header.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{header}"
        );
        assert!(header.contains("nc=00000001"));
        assert!(header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn without_qop_the_response_is_ha1_nonce_ha2() {
        let ch = Challenge::parse("Digest realm=\"trunk.test\", nonce=\"abc\"").expect("valid");
        let header = authorization(
            &ch,
            Credentials {
                username: "agent",
                password: "agentpw",
            },
            RequestParts {
                method: "REGISTER",
                uri: "sip:trunk.test",
            },
            1,
            "x",
        );
        let ha1 = hex::encode(Md5::digest(b"agent:trunk.test:agentpw"));
        let ha2 = hex::encode(Md5::digest(b"REGISTER:sip:trunk.test"));
        let expected = hex::encode(Md5::digest(format!("{ha1}:abc:{ha2}").as_bytes()));
        assert!(header.contains(&format!("response=\"{expected}\"")));
        assert!(!header.contains("qop"));
    }

    #[test]
    fn sha256_and_stale_are_understood() {
        let ch =
            Challenge::parse("digest realm=\"r\",nonce=\"n\",algorithm=SHA-256,stale=TRUE").expect("valid");
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert!(ch.stale);
        let header = authorization(
            &ch,
            Credentials {
                username: "u",
                password: "p",
            },
            RequestParts {
                method: "INVITE",
                uri: "sip:x",
            },
            1,
            "c",
        );
        let response = header
            .split("response=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("");
        assert_eq!(response.len(), 64);
        assert!(header.contains("algorithm=SHA-256"));
    }

    #[test]
    fn bad_challenges_are_refused() {
        assert_eq!(Challenge::parse("Basic realm=\"x\""), Err(DigestError::NotDigest));
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(DigestError::Missing("realm"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(DigestError::UnsupportedQop(_))
        ));
    }
}
