//! The name of a language model as a request may choose it per workflow (`"model":
//! "gpt-4o-mini"`). It is parsed once at the API's edge: the name travels into a JSON request body
//! to the configured server, is stored with the workflow and comes back in responses, so it is kept
//! to the characters model names actually use and to a bounded length.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most characters a model name may have (hosted names with an account path stay well below).
pub const MAX_MODEL_CHARS: usize = 128;

/// Why a string is not a model name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelNameError {
    /// Empty, or only whitespace.
    #[error("the model name is empty")]
    Empty,
    /// Longer than [`MAX_MODEL_CHARS`].
    #[error("the model name is longer than {MAX_MODEL_CHARS} characters")]
    TooLong,
    /// A character outside letters, digits and `. _ - : / @ +`.
    #[error(
        "the model name may only hold ASCII letters, digits and . _ - : / @ + (found {0:?}), e.g. \"gpt-4o-mini\" or \"meta-llama/Llama-3.1-8B-Instruct\""
    )]
    BadCharacter(char),
}

/// A model name: 1 to [`MAX_MODEL_CHARS`] ASCII letters, digits and `. _ - : / @ +` (which covers
/// `gpt-4o-mini`, `qwen2.5:7b-instruct`, `meta-llama/Llama-3.1-8B-Instruct`, `@cf/meta/llama-3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

impl ModelName {
    /// Parses a name, exactly as given (as the OpenAPI pattern says: no surrounding spaces).
    pub fn parse(name: &str) -> Result<Self, ModelNameError> {
        if name.trim().is_empty() {
            return Err(ModelNameError::Empty);
        }
        if name.chars().count() > MAX_MODEL_CHARS {
            return Err(ModelNameError::TooLong);
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '+')))
        {
            return Err(ModelNameError::BadCharacter(bad));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ModelName {
    type Error = ModelNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl From<ModelName> for String {
    fn from(name: ModelName) -> Self {
        name.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_use_parse() {
        for name in [
            "gpt-4o-mini",
            "qwen2.5:7b-instruct-q4_K_M",
            "meta-llama/Llama-3.1-8B-Instruct",
            "@cf/meta/llama-3-8b-instruct",
            "smollm2-135m",
            "ft:gpt-4o:org+team",
        ] {
            assert_eq!(ModelName::parse(name).map(|m| m.0), Ok(name.to_owned()));
        }
        assert_eq!(
            ModelName::parse(" gpt-4o"),
            Err(ModelNameError::BadCharacter(' '))
        );
    }

    #[test]
    fn bad_names_say_why() {
        assert_eq!(ModelName::parse(" "), Err(ModelNameError::Empty));
        assert_eq!(
            ModelName::parse(&"a".repeat(MAX_MODEL_CHARS + 1)),
            Err(ModelNameError::TooLong)
        );
        assert!(ModelName::parse(&"a".repeat(MAX_MODEL_CHARS)).is_ok());
        assert_eq!(ModelName::parse("gpt 4"), Err(ModelNameError::BadCharacter(' ')));
        assert_eq!(ModelName::parse("x\"}"), Err(ModelNameError::BadCharacter('"')));
        assert_eq!(ModelName::parse("modèle"), Err(ModelNameError::BadCharacter('è')));
    }

    #[test]
    fn serde_checks_the_name() {
        let name: ModelName = serde_json::from_str("\"gpt-4o\"").expect("parses");
        assert_eq!(serde_json::to_string(&name).expect("writes"), "\"gpt-4o\"");
        assert!(serde_json::from_str::<ModelName>("\"a b\"").is_err());
    }
}
