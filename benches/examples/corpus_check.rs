//! Prints where the built-in compiler misses the prompt corpus: for the dev part each mismatch,
//! for the held-out part only the score (its failures are not to be read, so it is never tuned
//! on). `prompt` compiles standard input and prints the workflow.
//!
//! `cargo run -p ringback-benches --example corpus_check -- dev [id-filter] [-v]`

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use ringback_benches::prompts;
use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let part = args.first().cloned().unwrap_or_else(|| "dev".into());
    if part == "prompt" {
        let mut prompt = String::new();
        std::io::stdin().read_to_string(&mut prompt).unwrap();
        match agent_runtime::workflow::compile(prompt.trim()) {
            Ok(w) => println!("{}", serde_json::to_string_pretty(&w).unwrap()),
            Err(e) => println!("refused: {e}"),
        }
        return;
    }
    let verbose = args.iter().any(|a| a == "-v") && part != "heldout";
    let only = args.get(1).filter(|a| *a != "-v");
    let cases = prompts::load(&part).unwrap();
    let mut matched = 0;
    for case in &cases {
        if only.is_some_and(|o| !case.id.contains(o.as_str())) {
            continue;
        }
        let compiled = agent_runtime::workflow::compile(&case.prompt);
        let problems = prompts::check(case, &compiled);
        if problems.is_empty() {
            matched += 1;
            continue;
        }
        if part == "heldout" {
            continue;
        }
        println!("== {} ({})", case.id, case.kind);
        for p in problems {
            println!("   {p}");
        }
        if let (true, Ok(w)) = (verbose, &compiled) {
            println!("{}", serde_json::to_string_pretty(w).unwrap());
        }
    }
    println!("{matched}/{} match", cases.len());
}
