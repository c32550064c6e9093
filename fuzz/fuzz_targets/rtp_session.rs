//! RTP through a whole media session from changing source addresses (the latch policy), with
//! G.711 or Opus, in the clear or under SRTP (see media_core::fuzzing::rtp_session).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = media_core::fuzzing::rtp_session(data);
});
