//! Reads the configuration types' source (their fields, serde attributes and doc comments) into a
//! table the binary carries, so that `ringback config example` documents every key in the words of
//! the code that reads it: one text, with no copy beside it to fall behind.
//!
//! Only what serde makes of a type matters here: the key names (after `rename` and `rename_all`),
//! which fields are skipped, which have defaults, which enums are closed sets of words and which
//! are tables chosen by a tag (`provider = "piper"`). Types are named by their last path segment,
//! as the files below define no two with one name.

use std::fmt::Write as _;
use std::path::Path;
use syn::{Attribute, Expr, Fields, GenericArgument, Item, Lit, PathArguments, Type};

/// The files that define the configuration's types: the sections, the policy, and the provider
/// settings and word lists that live in agent-runtime.
const SOURCES: &[&str] = &[
    "src/config.rs",
    "src/policy.rs",
    "../agent-runtime/src/speech/mod.rs",
    "../agent-runtime/src/speech/openai.rs",
    "../agent-runtime/src/llm/mod.rs",
    "../agent-runtime/src/call/handoff.rs",
];

fn main() {
    let mut items = String::from("&[\n");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={source}");
        let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
        for item in &file.items {
            let line = match item {
                Item::Struct(s) if derives_deserialize(&s.attrs) => struct_item(s),
                Item::Enum(e) if derives_deserialize(&e.attrs) => enum_item(e),
                _ => None,
            };
            if let Some(line) = line {
                items.push_str(&line);
            }
        }
    }
    items.push_str("]\n");
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(Path::new(&out).join("config_schema.rs"), items).expect("write the schema table");
}

/// `#[derive(..., Deserialize, ...)]`.
fn derives_deserialize(attrs: &[Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("derive")).any(|a| {
        let mut found = false;
        // A derive list is paths only; a parse failure means no Deserialize we could read.
        let _ = a.parse_nested_meta(|meta| {
            found |= meta
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Deserialize");
            Ok(())
        });
        found
    })
}

/// The serde attributes this table needs, of a container, field or variant.
#[derive(Default)]
struct Serde {
    default: bool,
    skip: bool,
    rename: Option<String>,
    rename_all: Option<String>,
    tag: Option<String>,
    /// `try_from`/`from`: the type reads as some other type (a string), whatever its shape.
    converted: bool,
}

fn serde_of(attrs: &[Attribute]) -> Serde {
    let mut serde = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let value = if meta.input.peek(syn::Token![=]) {
                let expr: Expr = meta.value()?.parse()?;
                match expr {
                    Expr::Lit(lit) => match lit.lit {
                        Lit::Str(s) => Some(s.value()),
                        _ => None,
                    },
                    _ => None,
                }
            } else {
                None
            };
            match name.as_str() {
                "default" => serde.default = true,
                "skip" | "skip_deserializing" => serde.skip = true,
                "rename" => serde.rename = value,
                "rename_all" => serde.rename_all = value,
                "tag" => serde.tag = value,
                "try_from" | "from" => serde.converted = true,
                _ => {}
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("unreadable serde attribute: {e}"));
    }
    serde
}

/// The doc comment, one line per source line, with rustdoc's link brackets dropped.
fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned())
        .collect();
    lines.join("\n").replace("[`", "`").replace("`]", "`")
}

/// How a field holds its type: plain, `Option<T>` or `Vec<T>`; and `T`'s last path segment.
fn shape_of(ty: &Type) -> (&'static str, String) {
    let last = |ty: &Type| match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| (s.ident.to_string(), s.arguments.clone())),
        _ => None,
    };
    let Some((name, args)) = last(ty) else {
        return ("Plain", String::new());
    };
    let inner = match &args {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(t) => last(t).map(|(n, _)| n),
            _ => None,
        }),
        _ => None,
    };
    match (name.as_str(), inner) {
        ("Option", Some(inner)) => ("Optional", inner),
        ("Vec", Some(inner)) => ("List", inner),
        _ => ("Plain", name),
    }
}

fn renamed(name: &str, rule: Option<&str>) -> String {
    match rule {
        None => name.to_owned(),
        Some("lowercase") => name.to_lowercase(),
        Some("snake_case") => {
            let mut out = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            }
            out
        }
        Some(other) => panic!("rename_all = {other:?} is not handled by api/build.rs"),
    }
}

fn struct_item(item: &syn::ItemStruct) -> Option<String> {
    let container = serde_of(&item.attrs);
    if container.converted {
        return None;
    }
    let Fields::Named(named) = &item.fields else {
        return None;
    };
    let mut fields = String::new();
    for field in &named.named {
        let serde = serde_of(&field.attrs);
        if serde.skip {
            continue;
        }
        let ident = field.ident.as_ref().expect("named fields have names").to_string();
        let key = serde
            .rename
            .clone()
            .unwrap_or_else(|| renamed(&ident, container.rename_all.as_deref()));
        let (shape, ty) = shape_of(&field.ty);
        let required = !(container.default || serde.default || shape == "Optional");
        let _ = writeln!(
            fields,
            "        Field {{ key: {key:?}, doc: {:?}, ty: {ty:?}, shape: Shape::{shape}, required: {required} }},",
            doc_of(&field.attrs),
        );
    }
    Some(format!(
        "    Item {{ name: {:?}, body: Body::Struct(&[\n{fields}    ]) }},\n",
        item.ident.to_string(),
    ))
}

fn enum_item(item: &syn::ItemEnum) -> Option<String> {
    let container = serde_of(&item.attrs);
    if container.converted {
        return None;
    }
    let mut variants = String::new();
    for variant in &item.variants {
        let serde = serde_of(&variant.attrs);
        if serde.skip {
            continue;
        }
        let word = serde
            .rename
            .clone()
            .unwrap_or_else(|| renamed(&variant.ident.to_string(), container.rename_all.as_deref()));
        let payload = match (&variant.fields, &container.tag) {
            (Fields::Unit, None) => String::new(),
            (Fields::Unnamed(one), Some(_)) if one.unnamed.len() == 1 => shape_of(&one.unnamed[0].ty).1,
            // Neither a word nor a tagged table: not a shape a configuration file takes.
            _ => return None,
        };
        let _ = writeln!(
            variants,
            "        Variant {{ word: {word:?}, doc: {:?}, payload: {payload:?} }},",
            doc_of(&variant.attrs),
        );
    }
    let tag = container.tag;
    Some(format!(
        "    Item {{ name: {:?}, body: Body::Enum {{ tag: {tag:?}, variants: &[\n{variants}    ] }} }},\n",
        item.ident.to_string(),
    ))
}
