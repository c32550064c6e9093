//! How well the built-in compiler turns prompts into the workflows an experienced user expects,
//! on the prompt corpus (benches/prompts, matching rules in src/prompts.rs). One JSON line:
//! per part (`dev` to `dev5`: tuned on; `heldout`: never tuned on) the cases, how many match, the
//! match rate per kind, how many clear prompts were refused, and the median compile time.
//!
//! The compiler takes microseconds a prompt, so `cargo test --benches` runs the whole corpus too.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use ringback_benches::prompts;
use serde_json::json;

fn main() {
    let mut parts = serde_json::Map::new();
    let mut times = Vec::new();
    for part in ["dev", "dev2", "dev3", "dev4", "dev5", "heldout"] {
        let Ok(cases) = prompts::load(part) else {
            continue;
        };
        let mut by_kind: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        let (mut matched, mut refused_clear) = (0, 0);
        for case in &cases {
            #[allow(clippy::disallowed_methods)] // a benchmark's own stopwatch
            let start = Instant::now();
            let compiled = agent_runtime::workflow::compile(&case.prompt);
            times.push(start.elapsed().as_micros());
            let ok = prompts::check(case, &compiled).is_empty();
            if case.refused.is_none() && compiled.is_err() {
                refused_clear += 1;
            }
            let entry = by_kind.entry(case.kind.as_str()).or_default();
            entry.1 += 1;
            if ok {
                entry.0 += 1;
                matched += 1;
            }
        }
        let rate = |m: u32, n: u32| (f64::from(m) / f64::from(n.max(1)) * 1000.0).round() / 1000.0;
        let kinds: serde_json::Map<String, serde_json::Value> = by_kind
            .iter()
            .map(|(k, (m, n))| {
                (
                    (*k).to_owned(),
                    json!({"matched": m, "cases": n, "rate": rate(*m, *n)}),
                )
            })
            .collect();
        let n = u32::try_from(cases.len()).unwrap();
        parts.insert(
            part.to_owned(),
            json!({
                "cases": n,
                "matched": matched,
                "rate": rate(matched, n),
                "clear_prompts_refused": refused_clear,
                "by_kind": kinds,
            }),
        );
    }
    times.sort_unstable();
    let median_us = times.get(times.len() / 2).copied().unwrap_or(0);
    println!(
        "{}",
        json!({"bench": "prompt_eval", "compiler": "builtin", "parts": parts, "median_compile_us": median_us})
    );
}
