//! SDP bodies from the network: parsing, negotiation of an answer and answering an offer (an
//! inbound call's, or a re-INVITE's) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_stack::sdp::{Direction, Format, Offer, answer, negotiate, parse_audio};

fuzz_target!(|data: &[u8]| {
    if let Ok(remote) = parse_audio(data) {
        let offer = Offer {
            session_id: 1,
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            formats: vec![
                Format::new(0, "PCMU", 8000),
                Format::new(111, "opus", 48000).with_channels(2),
                Format::new(101, "telephone-event", 8000),
            ],
            ptime: 20,
            crypto: Vec::new(),
        };
        let _ = negotiate(&offer, &remote);
        let _ = answer(&offer, 2, &remote, None, Direction::SendRecv);
    }
});
