//! Replays the saved fuzz corpus (`fuzz/corpus/{sip_message,sdp,endpoint,stream_framer,digest}`)
//! through the parsers and the bodies of the fuzz targets (`sip_stack::fuzzing`): the CI smoke run
//! of the fuzz targets. Every input must be handled without a panic; the seeds must still reach
//! what they were written to reach.

use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} unreadable: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap_or_default(),
            )
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
    inputs
}

#[test]
fn sip_message_corpus() {
    let mut parsed = 0;
    for (_, bytes) in corpus("sip_message") {
        parsed +=
            usize::from(sip_stack::message::parse(&bytes, &sip_stack::message::Limits::default()).is_ok());
    }
    assert!(parsed >= 2, "the valid seeds still parse");
}

#[test]
fn sdp_corpus() {
    use sip_stack::sdp::{Direction, Format, Offer, answer, negotiate, parse_audio};
    let ours = Offer {
        session_id: 1,
        address: std::net::IpAddr::from([127, 0, 0, 1]),
        port: 4000,
        formats: vec![
            Format::new(0, "PCMU", 8000),
            Format::new(101, "telephone-event", 8000),
        ],
        ptime: 20,
        crypto: Vec::new(),
    };
    let (mut parsed, mut answered) = (0, 0);
    for (_, bytes) in corpus("sdp") {
        if let Ok(remote) = parse_audio(&bytes) {
            parsed += 1;
            let _ = negotiate(&ours, &remote);
            answered += usize::from(answer(&ours, 2, &remote, None, Direction::SendRecv).is_ok());
        }
    }
    assert!(parsed >= 1, "the valid seed still parses");
    assert!(answered >= 1, "and an offer among them is answered");
}

#[test]
fn endpoint_corpus() {
    let mut runs = Vec::new();
    for (name, bytes) in corpus("endpoint") {
        runs.push((name, sip_stack::fuzzing::endpoint(&bytes)));
    }
    let run = |seed: &str| {
        runs.iter()
            .find(|(name, _)| name == seed)
            .map(|(_, reached)| *reached)
            .unwrap_or_else(|| panic!("seed {seed} is in the corpus"))
    };
    assert!(
        run("register_challenge").registered,
        "the challenged REGISTER succeeds"
    );
    let inbound = run("inbound_from_trunk");
    assert!(
        inbound.incoming == 1 && inbound.answered == 1 && inbound.ended == 1,
        "{inbound:?}"
    );
    let stranger = run("stranger_challenge");
    assert!(
        stranger.incoming == 1 && stranger.answered == 1,
        "answered its 407: {stranger:?}"
    );
    let outbound = run("outbound_call");
    assert!(outbound.answered == 1 && outbound.ended == 1, "{outbound:?}");
    assert_eq!(run("inbound_cancel").ended, 1, "the CANCEL ends the call");
}

#[test]
fn stream_framer_corpus() {
    for (_, bytes) in corpus("stream_framer") {
        sip_stack::fuzzing::stream_framer(&bytes);
    }
}

#[test]
fn digest_corpus() {
    for (_, bytes) in corpus("digest") {
        sip_stack::fuzzing::digest(&bytes);
    }
}
