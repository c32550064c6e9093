//! Where calls may go: the pre-dial destination policy. Toll fraud is the first thing attackers try
//! on an exposed telephony box (premium-rate numbers that pay the caller's attacker per minute,
//! satellite ranges at tens of dollars a minute), so every number Ringback would dial (a call's
//! `to`, a hand-off's `bridge_number`, an inbound route's bridge) passes one check before anything
//! is dialled: its country calling code must be allowed, and it must not start with a blocked
//! prefix. International dialling is something an operator turns on.
//!
//! A key may carry its own list ([`KeyPolicy`], set with `ringback keys policy`): its country codes
//! and prefixes narrow what the installation allows (a key for a London office's reminders may dial
//! only +4420). A key list never widens the installation's unless the operator says so for that
//! key (`--beyond-installation`): then the key's list replaces the installation's country codes for
//! it, so one customer may call the UK while the rest stay in +1. Blocked prefixes (premium rate,
//! satellite) apply to every key whatever its list: an override opens a country, not a fraud range.
//!
//! Last comes the do-not-call list (issue 18): the installation's list and the calling key's own.
//! The lists live in the store (`store/dnc.rs`), so the caller looks the number up and hands the
//! answer to [`PolicyConfig::check_dialable`]; the decision, its order and its error stay here,
//! one place for every face (API, MCP, compatible faces, campaigns). A listed number is refused
//! whatever the country rules say: a person's request not to be called outranks any allow-list.

use agent_runtime::phone::E164;
use serde::{Deserialize, Serialize};

/// `[policy]`: which destinations may be dialled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Country calling codes that may be dialled, without `+` (`"1"`, `"44"`), or `"*"` for any.
    /// Default: `["1"]` (North America), as the fire-and-poll face's write-up allows.
    pub allowed_country_codes: Vec<String>,
    /// Numbers starting with these (E.164, with `+`) are never dialled, whatever the country codes
    /// allow. Setting the key replaces the default list: premium-rate and satellite ranges, and
    /// the NANP areas billed at international rates.
    pub blocked_prefixes: Vec<String>,
}

/// Premium-rate and satellite ranges, and the NANP (+1) areas that are other countries billed at
/// international rates (the Caribbean "one-ring" fraud destinations). Blocked unless the operator
/// replaces the list.
pub const DEFAULT_BLOCKED_PREFIXES: &[(&str, &str)] = &[
    ("+1900", "NANP premium rate"),
    ("+1976", "NANP premium rate"),
    ("+1242", "Bahamas, international rate"),
    ("+1246", "Barbados, international rate"),
    ("+1264", "Anguilla, international rate"),
    ("+1268", "Antigua and Barbuda, international rate"),
    ("+1284", "British Virgin Islands, international rate"),
    ("+1345", "Cayman Islands, international rate"),
    ("+1441", "Bermuda, international rate"),
    ("+1473", "Grenada, international rate"),
    ("+1649", "Turks and Caicos, international rate"),
    ("+1658", "Jamaica, international rate"),
    ("+1664", "Montserrat, international rate"),
    ("+1721", "Sint Maarten, international rate"),
    ("+1758", "Saint Lucia, international rate"),
    ("+1767", "Dominica, international rate"),
    ("+1784", "Saint Vincent, international rate"),
    ("+1809", "Dominican Republic, international rate"),
    ("+1829", "Dominican Republic, international rate"),
    ("+1849", "Dominican Republic, international rate"),
    ("+1868", "Trinidad and Tobago, international rate"),
    ("+1869", "Saint Kitts and Nevis, international rate"),
    ("+1876", "Jamaica, international rate"),
    ("+870", "Inmarsat satellite"),
    ("+881", "Global mobile satellite systems (Iridium, Globalstar)"),
    ("+882", "International networks"),
    ("+883", "International networks"),
    ("+979", "International premium rate"),
];

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            allowed_country_codes: vec!["1".to_owned()],
            blocked_prefixes: DEFAULT_BLOCKED_PREFIXES
                .iter()
                .map(|(p, _)| (*p).to_owned())
                .collect(),
        }
    }
}

/// A `[policy]` entry that cannot be a country code or a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    /// Not 1 to 3 digits, nor `*`.
    #[error("policy.allowed_country_codes: {0:?} is not a country calling code (1 to 3 digits, or \"*\")")]
    CountryCode(String),
    /// Not `+` and 1 to 15 digits.
    #[error("policy.blocked_prefixes: {0:?} is not a number prefix (\"+\" and 1 to 15 digits)")]
    Prefix(String),
}

/// One key's own destination list (stored with the key as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicy {
    /// Country calling codes the key may dial, without `+`.
    #[serde(default)]
    pub country_codes: Vec<String>,
    /// Number prefixes the key may dial, E.164 with `+` (`+4420`).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Whether the list replaces the installation's country codes for this key (it may then reach
    /// countries the installation does not allow) instead of narrowing them. Only the operator's
    /// command line sets it; blocked prefixes apply regardless.
    #[serde(default)]
    pub beyond_installation: bool,
}

/// Why a key's list cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPolicyError {
    /// A malformed entry.
    #[error(transparent)]
    Entry(#[from] PolicyConfigError),
    /// Nothing is listed: the key would dial nothing (use `--clear` to remove a key's list).
    #[error("a key's list needs at least one country code or prefix")]
    Empty,
}

impl KeyPolicy {
    /// Checks the entries' syntax (when an operator sets the list).
    pub fn validate(&self) -> Result<(), KeyPolicyError> {
        if self.country_codes.is_empty() && self.prefixes.is_empty() {
            return Err(KeyPolicyError::Empty);
        }
        if self.country_codes.iter().any(|c| c == "*") {
            return Err(PolicyConfigError::CountryCode("*".to_owned()).into());
        }
        check_entries(&self.country_codes, &self.prefixes)?;
        Ok(())
    }

    /// Whether the list names `number` (by country code or prefix).
    fn names(&self, number: &str) -> bool {
        let digits = number.trim_start_matches('+');
        self.country_codes.iter().any(|c| digits.starts_with(c.as_str()))
            || self.prefixes.iter().any(|p| number.starts_with(p.as_str()))
    }

    /// The list, for messages: `+44, +4420`.
    fn describe(&self) -> String {
        self.country_codes
            .iter()
            .map(|c| format!("+{c}"))
            .chain(self.prefixes.iter().cloned())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which do-not-call list names a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DncScope {
    /// The installation's list: no key may call the number.
    Installation,
    /// The calling key's own list (numbers that asked that key's business not to call).
    Key,
}

impl DncScope {
    /// The word used in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installation => "installation",
            Self::Key => "key",
        }
    }
}

/// Why a number may not be dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its country calling code is not allowed.
    #[error(
        "{number} is outside the allowed country calling codes ({allowed}); an operator allows more in [policy] allowed_country_codes"
    )]
    CountryNotAllowed {
        /// The number.
        number: String,
        /// The allowed codes, for the message.
        allowed: String,
    },
    /// It is outside the calling key's own list.
    #[error(
        "{number} is outside this API key's destinations ({allowed}); an operator sets them with ringback keys policy"
    )]
    NotAllowedForKey {
        /// The number.
        number: String,
        /// The key's list, for the message.
        allowed: String,
    },
    /// It starts with a blocked prefix.
    #[error("{number} starts with the blocked prefix {prefix} ({why})")]
    BlockedPrefix {
        /// The number.
        number: String,
        /// The prefix.
        prefix: String,
        /// What the range is, when it is one of the defaults.
        why: &'static str,
    },
    /// It is on a do-not-call list.
    #[error("{number} is on the {} do-not-call list", list.as_str())]
    DoNotCall {
        /// The number.
        number: String,
        /// The list that names it.
        list: DncScope,
    },
}

impl Refusal {
    /// The refused number.
    pub fn number(&self) -> &str {
        match self {
            Self::CountryNotAllowed { number, .. }
            | Self::NotAllowedForKey { number, .. }
            | Self::BlockedPrefix { number, .. }
            | Self::DoNotCall { number, .. } => number,
        }
    }

    /// The rule that refused it, without the number (for the audit log).
    pub fn rule(&self) -> serde_json::Value {
        match self {
            Self::CountryNotAllowed { allowed, .. } => {
                serde_json::json!({ "rule": "country_code", "allowed": allowed })
            }
            Self::NotAllowedForKey { allowed, .. } => {
                serde_json::json!({ "rule": "key_list", "allowed": allowed })
            }
            Self::BlockedPrefix { prefix, why, .. } => {
                serde_json::json!({ "rule": "blocked_prefix", "prefix": prefix, "why": why })
            }
            Self::DoNotCall { list, .. } => {
                serde_json::json!({ "rule": "do_not_call", "list": list.as_str() })
            }
        }
    }
}

impl PolicyConfig {
    /// Checks the entries' syntax (at start-up).
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        check_entries(&self.allowed_country_codes, &self.blocked_prefixes)
    }

    /// Whether `number` may be dialled by a key with `key`'s own list (see the module's opening).
    pub fn check_for_key(&self, key: Option<&KeyPolicy>, number: &E164) -> Result<(), Refusal> {
        let Some(key) = key else {
            return self.check(number);
        };
        let n = number.as_str();
        if key.beyond_installation {
            self.check_blocked(n)?;
        } else {
            self.check(number)?;
        }
        if key.names(n) {
            Ok(())
        } else {
            Err(Refusal::NotAllowedForKey {
                number: n.to_owned(),
                allowed: key.describe(),
            })
        }
    }

    /// The whole pre-dial decision: the destination rules of [`Self::check_for_key`], then the
    /// do-not-call lists (`listed` is the store's answer for this number and key, `None` when no
    /// list names it). Destination rules come first so that a premium number is reported as such
    /// even when someone also listed it.
    pub fn check_dialable(
        &self,
        key: Option<&KeyPolicy>,
        number: &E164,
        listed: Option<DncScope>,
    ) -> Result<(), Refusal> {
        self.check_for_key(key, number)?;
        match listed {
            Some(list) => Err(Refusal::DoNotCall {
                number: number.as_str().to_owned(),
                list,
            }),
            None => Ok(()),
        }
    }

    fn check_blocked(&self, n: &str) -> Result<(), Refusal> {
        match self.blocked_prefixes.iter().find(|p| n.starts_with(p.as_str())) {
            Some(prefix) => {
                let why = DEFAULT_BLOCKED_PREFIXES
                    .iter()
                    .find(|(p, _)| p == prefix)
                    .map_or("blocked by the operator", |(_, why)| why);
                Err(Refusal::BlockedPrefix {
                    number: n.to_owned(),
                    prefix: prefix.clone(),
                    why,
                })
            }
            None => Ok(()),
        }
    }

    /// Whether `number` may be dialled. Country calling codes are prefix-free, so a number is in
    /// an allowed country exactly when its digits start with that code.
    pub fn check(&self, number: &E164) -> Result<(), Refusal> {
        let n = number.as_str();
        self.check_blocked(n)?;
        let digits = n.trim_start_matches('+');
        let allowed = self
            .allowed_country_codes
            .iter()
            .any(|c| c == "*" || digits.starts_with(c.as_str()));
        if allowed {
            Ok(())
        } else {
            Err(Refusal::CountryNotAllowed {
                number: n.to_owned(),
                allowed: self
                    .allowed_country_codes
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// Country codes are 1 to 3 digits (or `*`), prefixes `+` and 1 to 15 digits.
fn check_entries(codes: &[String], prefixes: &[String]) -> Result<(), PolicyConfigError> {
    for code in codes {
        let digits = (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        if code != "*" && !digits {
            return Err(PolicyConfigError::CountryCode(code.clone()));
        }
    }
    for prefix in prefixes {
        let ok = prefix
            .strip_prefix('+')
            .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(PolicyConfigError::Prefix(prefix.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(s: &str) -> E164 {
        E164::parse(s).expect("valid")
    }

    #[test]
    fn the_default_dials_north_america_only_and_never_premium_or_caribbean_ranges() {
        let policy = PolicyConfig::default();
        assert_eq!(policy.check(&e164("+14155550123")), Ok(()));
        assert!(matches!(
            policy.check(&e164("+442071838750")),
            Err(Refusal::CountryNotAllowed { .. })
        ));
        for premium in ["+19005550123", "+19765550123", "+18765550123", "+18095550123"] {
            assert!(
                matches!(policy.check(&e164(premium)), Err(Refusal::BlockedPrefix { .. })),
                "{premium}"
            );
        }
    }

    #[test]
    fn an_operator_opens_countries_but_blocked_ranges_stay_blocked() {
        let policy = PolicyConfig {
            allowed_country_codes: vec!["*".to_owned()],
            ..PolicyConfig::default()
        };
        assert_eq!(policy.check(&e164("+442071838750")), Ok(()));
        let refused = policy.check(&e164("+881612345678")).expect_err("satellite");
        assert!(refused.to_string().contains("satellite"), "{refused}");
        // Country codes are matched on whole codes: +44 allows the UK, not +4...
        let uk = PolicyConfig {
            allowed_country_codes: vec!["44".to_owned()],
            blocked_prefixes: vec!["+449".to_owned()],
        };
        assert_eq!(uk.check(&e164("+442071838750")), Ok(()));
        assert!(uk.check(&e164("+4930123456")).is_err());
        assert!(matches!(
            uk.check(&e164("+449098790000")),
            Err(Refusal::BlockedPrefix {
                why: "blocked by the operator",
                ..
            })
        ));
    }

    #[test]
    fn a_key_list_narrows_and_widens_only_when_the_operator_says_so() {
        let installation = PolicyConfig::default();
        let london = KeyPolicy {
            prefixes: vec!["+4420".to_owned()],
            ..KeyPolicy::default()
        };
        let sf = KeyPolicy {
            prefixes: vec!["+1415".to_owned()],
            ..KeyPolicy::default()
        };
        // Narrowing: inside the installation and the key's list.
        assert_eq!(
            installation.check_for_key(Some(&sf), &e164("+14155550123")),
            Ok(())
        );
        assert!(matches!(
            installation.check_for_key(Some(&sf), &e164("+12125550123")),
            Err(Refusal::NotAllowedForKey { .. })
        ));
        // Without the operator's word, a key's list cannot reach past the installation.
        assert!(matches!(
            installation.check_for_key(Some(&london), &e164("+442071838750")),
            Err(Refusal::CountryNotAllowed { .. })
        ));
        // With it, the key reaches its list (and only its list)...
        let london_override = KeyPolicy {
            beyond_installation: true,
            ..london
        };
        assert_eq!(
            installation.check_for_key(Some(&london_override), &e164("+442071838750")),
            Ok(())
        );
        assert!(matches!(
            installation.check_for_key(Some(&london_override), &e164("+14155550123")),
            Err(Refusal::NotAllowedForKey { .. })
        ));
        // ...but never a blocked range.
        let satellite = KeyPolicy {
            country_codes: vec!["881".to_owned(), "1".to_owned()],
            prefixes: Vec::new(),
            beyond_installation: true,
        };
        assert!(matches!(
            installation.check_for_key(Some(&satellite), &e164("+881612345678")),
            Err(Refusal::BlockedPrefix { .. })
        ));
        assert!(matches!(
            installation.check_for_key(Some(&satellite), &e164("+19005550123")),
            Err(Refusal::BlockedPrefix { .. })
        ));
        // Entries are checked when set.
        assert_eq!(KeyPolicy::default().validate(), Err(KeyPolicyError::Empty));
        for bad in [
            KeyPolicy {
                country_codes: vec!["*".to_owned()],
                ..KeyPolicy::default()
            },
            KeyPolicy {
                prefixes: vec!["4420".to_owned()],
                ..KeyPolicy::default()
            },
        ] {
            assert!(matches!(bad.validate(), Err(KeyPolicyError::Entry(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_listed_number_is_refused_after_the_destination_rules() {
        let policy = PolicyConfig::default();
        let number = e164("+14155550123");
        assert_eq!(policy.check_dialable(None, &number, None), Ok(()));
        let refused = policy
            .check_dialable(None, &number, Some(DncScope::Key))
            .expect_err("listed");
        assert_eq!(
            refused,
            Refusal::DoNotCall {
                number: "+14155550123".to_owned(),
                list: DncScope::Key
            }
        );
        assert_eq!(refused.rule()["rule"], "do_not_call");
        // A premium number that is also listed is reported as premium: the stronger rule first.
        assert!(matches!(
            policy.check_dialable(None, &e164("+19005550123"), Some(DncScope::Installation)),
            Err(Refusal::BlockedPrefix { .. })
        ));
    }

    #[test]
    fn malformed_entries_are_refused_at_start() {
        let bad_code = PolicyConfig {
            allowed_country_codes: vec!["+1".to_owned()],
            ..PolicyConfig::default()
        };
        assert!(matches!(
            bad_code.validate(),
            Err(PolicyConfigError::CountryCode(_))
        ));
        let bad_prefix = PolicyConfig {
            blocked_prefixes: vec!["1900".to_owned()],
            ..PolicyConfig::default()
        };
        assert!(matches!(bad_prefix.validate(), Err(PolicyConfigError::Prefix(_))));
        assert_eq!(PolicyConfig::default().validate(), Ok(()));
    }
}
