//! A remote SDP offer answered from ours with an SRTP key, and negotiated as an answer; the SDES
//! keys it carries go to the media layer's key parser (see sip_stack::fuzzing::sdp_answer and
//! media_core::fuzzing::sdes_attribute).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for value in sip_stack::fuzzing::sdp_answer(data) {
        media_core::fuzzing::sdes_attribute(&value);
    }
});
