//! Replays the saved fuzz corpus (`fuzz/corpus/llm_sse`) through the body of the fuzz target
//! (`agent_runtime::fuzzing`): the CI smoke run of the fuzzer. Every input must be handled
//! without a panic.

use std::path::Path;

#[test]
fn llm_sse_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/llm_sse");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 2, "corpus llm_sse present");
    for path in inputs {
        agent_runtime::fuzzing::llm_sse(&std::fs::read(&path).expect("readable"));
    }
}
