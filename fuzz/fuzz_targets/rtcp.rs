//! Untrusted rtcp input: must never panic (see media_core::fuzzing::rtcp).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| media_core::fuzzing::rtcp(data));
