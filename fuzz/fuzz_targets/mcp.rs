//! MCP JSON-RPC bodies of `POST /mcp`, read and answered as far as no store is needed (see
//! ringback::fuzzing::mcp).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringback::fuzzing::mcp(data));
