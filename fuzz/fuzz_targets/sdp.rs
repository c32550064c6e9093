//! SDP bodies from the network: parsing and negotiation must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_stack::sdp::{Format, Offer, negotiate, parse_audio};

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = parse_audio(data) {
        let offer = Offer {
            session_id: 1,
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            formats: vec![Format::new(0, "PCMU", 8000), Format::new(101, "telephone-event", 8000)],
            ptime: 20,
        };
        let _ = negotiate(&offer, &answer);
    }
});
