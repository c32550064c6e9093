//! `{{name}}` placeholders in the config templates.

use crate::{Result, TestbedError};

/// Replaces every `{{key}}` of `template` with its value; fails if a placeholder is left over.
pub(crate) fn render(name: &'static str, template: &str, values: &[(&str, &str)]) -> Result<String> {
    let mut out = template.to_owned();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    if let Some(start) = out.find("{{") {
        let end = out[start..].find("}}").map_or(out.len(), |i| start + i + 2);
        return Err(TestbedError::Template {
            template: name,
            placeholder: out[start..end].to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replaces_all_occurrences() {
        let out = render("t", "a={{x}} b={{y}} c={{x}}", &[("x", "1"), ("y", "2")]).unwrap();
        assert_eq!(out, "a=1 b=2 c=1");
    }

    #[test]
    fn reports_a_missing_value() {
        let err = render("t", "a={{x}} b={{zz}}", &[("x", "1")]).unwrap_err();
        assert!(matches!(err, TestbedError::Template { placeholder, .. } if placeholder == "{{zz}}"));
    }
}
