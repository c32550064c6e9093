//! Untrusted rfc4733 input: must never panic (see media_core::fuzzing::rfc4733).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| media_core::fuzzing::rfc4733(data));
