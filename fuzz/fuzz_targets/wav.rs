//! Untrusted wav input: must never panic (see media_core::fuzzing::wav).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| media_core::fuzzing::wav(data));
