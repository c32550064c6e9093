//! The language model's server-sent event stream: the chat-completion stream parser and the
//! sentence splitter behind it (see agent_runtime::fuzzing::llm_sse).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agent_runtime::fuzzing::llm_sse(data));
