//! A whole SIP endpoint with a trunk, driven by datagrams from a few sources, answers to its own
//! messages, commands and a clock the input advances: transactions, ACK/CANCEL matching, dialogs,
//! digest challenges, the guard and admission must never panic (see sip_stack::fuzzing::endpoint).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sip_stack::fuzzing::endpoint(data);
});
