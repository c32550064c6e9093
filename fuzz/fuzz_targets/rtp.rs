//! RTP packets and RFC 4733 payloads from the network, one packet and then a whole stream
//! through a session: must never panic (see media_core::fuzzing::rtp).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| media_core::fuzzing::rtp(data));
