//! TCP and TLS byte streams cut into reads: the stream framer, then the parser on every message it
//! frames (see sip_stack::fuzzing::stream_framer).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sip_stack::fuzzing::stream_framer(data));
