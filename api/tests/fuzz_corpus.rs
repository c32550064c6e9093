//! Replays the saved fuzz corpus (`fuzz/corpus/mcp`) through the body of the fuzz target
//! (`ringback::fuzzing`): the CI smoke run of the fuzzer. Every input must be handled without a
//! panic.

use std::path::Path;

#[test]
fn mcp_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mcp");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 2, "corpus mcp present");
    for path in inputs {
        ringback::fuzzing::mcp(&std::fs::read(&path).expect("readable"));
    }
}
