//! The configuration's types as their source declares them: each struct's keys with their doc
//! comments, and each enum's words. `build.rs` reads `config.rs`, `policy.rs` and the provider
//! settings in agent-runtime into this table, so that the example file and `config check` speak in
//! the words of the code and cannot drift from it.

/// How a field holds its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `T`.
    Plain,
    /// `Option<T>`: unset unless given.
    Optional,
    /// `Vec<T>`: in TOML an array, or an array of tables when `T` is a struct.
    List,
}

/// One key of a struct.
#[derive(Debug)]
pub(crate) struct Field {
    /// The key as serde reads it.
    pub key: &'static str,
    /// The field's doc comment.
    pub doc: &'static str,
    /// The last path segment of the field's type (inside `Option` or `Vec`).
    pub ty: &'static str,
    /// Plain, optional or a list.
    pub shape: Shape,
    /// No default: a file that names the table must name this key.
    pub required: bool,
}

/// One word of an enum, or one table a tag chooses.
#[derive(Debug)]
pub(crate) struct Variant {
    /// The word as serde reads it.
    pub word: &'static str,
    /// The variant's doc comment.
    pub doc: &'static str,
    /// For a tagged enum, the struct the variant holds; empty for a plain word.
    pub payload: &'static str,
}

/// What a type is in a configuration file.
#[derive(Debug)]
pub(crate) enum Body {
    /// A table of keys.
    Struct(&'static [Field]),
    /// A closed set of words (`tag: None`), or tables chosen by the key `tag`.
    Enum {
        /// `provider` for the speech providers; none for plain words.
        tag: Option<&'static str>,
        /// The words.
        variants: &'static [Variant],
    },
}

/// One type.
#[derive(Debug)]
pub(crate) struct Item {
    /// The type's name.
    pub name: &'static str,
    /// Its keys or words.
    pub body: Body,
}

/// Every configuration type, in source order.
static ITEMS: &[Item] = include!(concat!(env!("OUT_DIR"), "/config_schema.rs"));

/// The type called `name`, if it is one of the configuration's.
pub(crate) fn item(name: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.name == name)
}

/// The keys of the struct called `name` (none when it is not a configuration struct).
pub(crate) fn fields(name: &str) -> &'static [Field] {
    match item(name).map(|i| &i.body) {
        Some(Body::Struct(fields)) => fields,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_sections_with_their_doc_comments() {
        let sections: Vec<&str> = fields("Config").iter().map(|f| f.key).collect();
        for section in [
            "server",
            "sip",
            "trunks",
            "media",
            "storage",
            "models",
            "providers",
            "policy",
        ] {
            assert!(sections.contains(&section), "{section} missing from {sections:?}");
        }
        let listen = fields("ServerConfig")
            .iter()
            .find(|f| f.key == "listen")
            .expect("server.listen");
        assert_eq!(listen.doc, "Where the HTTP API listens.");
        assert_eq!((listen.shape, listen.required), (Shape::Plain, false));
        let proxy = fields("TrunkSection")
            .iter()
            .find(|f| f.key == "proxy")
            .expect("trunks.proxy");
        assert!(proxy.required, "a trunk names its proxy");
        let Some(Body::Enum { tag, variants }) = item("TtsConfig").map(|i| &i.body) else {
            panic!("TtsConfig is a tagged enum")
        };
        assert_eq!(*tag, Some("provider"));
        assert!(
            variants
                .iter()
                .any(|v| v.word == "openai" && v.payload == "OpenAiTtsConfig")
        );
        let Some(Body::Enum { tag: None, variants }) = item("TurnModelChoice").map(|i| &i.body) else {
            panic!("TurnModelChoice is a set of words")
        };
        let words: Vec<&str> = variants.iter().map(|v| v.word).collect();
        assert_eq!(words, ["smart_turn", "off"]);
        assert!(
            !fields("PiperConfig").iter().any(|f| f.key == "models_dir"),
            "skipped fields are no keys"
        );
    }
}
