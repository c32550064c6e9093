//! The body of the `llm_sse` fuzz target in `fuzz/`, here so its saved corpus replays as a plain
//! test (`tests/fuzz_corpus.rs`) through exactly the code the fuzzer ran. The language model's
//! server is not trusted to be well-behaved (a proxy, a misconfigured or broken server, a model
//! writing nonsense): whatever it streams must end in deltas or an error, never a panic.

use crate::llm::sse::EventParser;
use crate::llm::{Delta, SentenceSplitter};

/// The chat-completion event stream parser, fed as the client feeds it: the input cut into reads
/// (sizes seeded by the first byte), reading stopped once the stream says it is done, then the
/// end of the stream. Text goes through the sentence splitter as the conversation speaks it. Every
/// tool call handed out has a name and arguments.
pub fn llm_sse(data: &[u8]) {
    let Some((&seed, mut rest)) = data.split_first() else {
        return;
    };
    let mut parser = EventParser::default();
    let mut sentences = SentenceSplitter::default();
    let mut take = |deltas: Vec<Delta>| {
        for delta in deltas {
            match delta {
                Delta::Text(text) => {
                    let _ = sentences.push(&text);
                }
                Delta::ToolCall(call) => {
                    assert!(!call.function.name.is_empty(), "a tool call without a name");
                    assert!(
                        !call.function.arguments.is_empty(),
                        "a tool call without arguments"
                    );
                    let _ = call.args();
                }
                _ => {}
            }
        }
    };
    let mut k = 0usize;
    while !rest.is_empty() {
        let size = 1 + (usize::from(seed).wrapping_mul(31) ^ k.wrapping_mul(17)) % 97;
        let (read, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        k += 1;
        match parser.push(read) {
            Ok(deltas) => take(deltas),
            Err(_) => return,
        }
        if parser.is_done() {
            break;
        }
    }
    let _ = parser.has_started();
    take(parser.finish());
    let _ = sentences.finish();
}
