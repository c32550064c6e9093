//! Replays the saved fuzz corpora (`fuzz/corpus/{rtp,rtcp,rfc4733,wav,rtp_session,sdp_answer}`)
//! through the bodies of the fuzz targets (`media_core::fuzzing`, and `sip_stack::fuzzing` for the
//! SDP half of `sdp_answer`): the CI smoke run of the fuzzers. Every input must
//! be handled without a panic; the valid seeds must still do what they did.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 2, "corpus {target} present");
    inputs
}

#[test]
fn rtp_corpus() {
    let mut valid = 0;
    for (_, bytes) in corpus("rtp") {
        if media_core::rtp::parse(&bytes).is_ok() {
            valid += 1;
        }
        media_core::fuzzing::rtp(&bytes);
    }
    assert!(valid >= 2, "the valid seeds still parse");
}

#[test]
fn rtcp_corpus() {
    for (path, bytes) in corpus("rtcp") {
        media_core::fuzzing::rtcp(&bytes);
        if path.ends_with("sr_sdes") {
            #[allow(clippy::disallowed_methods)] // any origin will do
            let t0 = std::time::Instant::now();
            let mut rtcp = media_core::rtcp::RtcpSession::new(media_core::Ssrc(0xA), t0, 0);
            let info = rtcp.handle(t0, &bytes).expect("the SR seed is valid");
            assert_eq!(info.report.map(|r| r.cumulative_lost), Some(10));
        }
    }
}

#[test]
fn rfc4733_corpus() {
    for (_, bytes) in corpus("rfc4733") {
        media_core::fuzzing::rfc4733(&bytes);
    }
}

#[test]
fn wav_corpus() {
    for (_, bytes) in corpus("wav") {
        media_core::fuzzing::wav(&bytes);
    }
}

#[test]
fn rtp_session_corpus() {
    let mut received = Vec::new();
    for (path, bytes) in corpus("rtp_session") {
        let stats = media_core::fuzzing::rtp_session(&bytes);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        received.push((name.unwrap_or_default(), stats.map(|s| s.packets_received)));
    }
    let got = |seed: &str| {
        received
            .iter()
            .find(|(name, _)| name == seed)
            .and_then(|(_, n)| *n)
            .unwrap_or_else(|| panic!("seed {seed} makes a session"))
    };
    assert!(got("opus_srtp_mux") >= 8, "SRTP-protected Opus gets through");
    assert!(got("pcma_latch_private") >= 8, "the source latched");
    assert_eq!(got("srtp_forged"), 0, "unprotected packets do not");
}

/// As `fuzz/fuzz_targets/sdp_answer.rs`: the SDP answer path, then the SDES keys it passed on.
#[test]
fn sdp_answer_corpus() {
    let mut keys = 0;
    for (_, bytes) in corpus("sdp_answer") {
        for value in sip_stack::fuzzing::sdp_answer(&bytes) {
            keys += usize::from(media_core::srtp::SdesKey::parse_attribute(&value).is_ok());
            media_core::fuzzing::sdes_attribute(&value);
        }
    }
    assert!(keys >= 2, "the SRTP seeds still carry keys through the answer");
}
