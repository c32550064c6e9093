//! Replays the saved fuzz corpus (`fuzz/corpus/rtp`) through the RTP and RFC 4733 parsers: the CI smoke
//! run of the fuzz target. Every input must be handled without a panic.

use std::path::Path;

#[test]
fn rtp_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rtp");
    let mut seen = 0;
    let mut valid = 0;
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
    {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("readable");
        seen += 1;
        if let Ok(packet) = media_core::rtp::parse(&bytes) {
            valid += 1;
            let _ = media_core::dtmf::TelephoneEvent::parse(packet.payload);
        }
    }
    assert!(seen >= 3, "corpus present");
    assert!(valid >= 2, "the valid seeds still parse");
}
