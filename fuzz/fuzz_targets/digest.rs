//! Digest challenges and answers: the header parsers, and our answer to any challenge that parses
//! must read back and verify (see sip_stack::fuzzing::digest).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sip_stack::fuzzing::digest(data));
