//! RTP packets and RFC 4733 payloads from the network: parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = media_core::rtp::parse(data) {
        let _ = media_core::dtmf::TelephoneEvent::parse(packet.payload);
    }
});
