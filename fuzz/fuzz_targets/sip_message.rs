//! SIP messages from the network: parsing with our limits must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sip_stack::message::parse(data, &sip_stack::message::Limits::default());
});
