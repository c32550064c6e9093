//! figment's errors in the operator's words: the key first, written as in the file
//! (`server.listen`, without figment's profile name), then the problem, then where the value came
//! from (the file, or the `RINGBACK_...` variable), since the key is what the operator edits.

/// figment's errors as `key: problem (where)`, one after another.
pub(super) fn describe(error: &figment::Error) -> String {
    let described: Vec<String> = error
        .clone()
        .into_iter()
        .map(|e| {
            let mut path: Vec<&str> = e.path.iter().map(String::as_str).collect();
            if path.first() == Some(&"default") {
                path.remove(0);
            }
            let problem = match &e.kind {
                figment::error::Kind::UnknownField(key, expected) => {
                    if path.last() != Some(&key.as_str()) {
                        path.push(key);
                    }
                    format!("unknown key; expected one of {}", expected.join(", "))
                }
                kind => kind.to_string(),
            };
            let key = if path.is_empty() {
                String::new()
            } else {
                format!("{}: ", path.join("."))
            };
            let place = match e.metadata.as_ref() {
                Some(figment::Metadata {
                    source: Some(figment::Source::File(file)),
                    ..
                }) => format!(" (in {})", file.display()),
                Some(meta) if meta.name.contains("environment") => {
                    let variable: Vec<String> = path.iter().map(|p| p.to_uppercase()).collect();
                    format!(" (from RINGBACK_{})", variable.join("__"))
                }
                _ => String::new(),
            };
            format!("{key}{problem}{place}")
        })
        .collect();
    described.join("; ")
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn errors_name_the_key_as_written_in_the_file() {
        let err = Config::from_toml("[server]\nlisten_on = \"x\"\n")
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("server.listen_on: unknown key"), "{err}");
        let err = Config::from_toml("[sip]\nt1_ms = \"soon\"\n")
            .expect_err("mistyped")
            .to_string();
        assert!(err.starts_with("invalid configuration: sip.t1_ms: "), "{err}");
    }
}
