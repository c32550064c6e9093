//! RFC 4475 (SIP torture tests): every labelled message of `tests/data/rfc4475/` goes through the
//! parser and the UAS checks. Valid and parseable messages must be accepted as well formed, invalid ones
//! refused; requests get the status the RFC names, and nothing panics.
#![allow(clippy::unwrap_used)]

use sip_stack::message::verdict::{Inspection, inspect};
use sip_stack::message::{Limits, frame, parse};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475")
}

struct Label {
    file: String,
    expect: String,
    section: String,
    expected_response: Option<u16>,
}

fn labels() -> Vec<Label> {
    let text = std::fs::read_to_string(data_dir().join("labels.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|v| Label {
            file: v["file"].as_str().unwrap().to_owned(),
            expect: v["expect"].as_str().unwrap().to_owned(),
            section: v["section"].as_str().unwrap().to_owned(),
            expected_response: v["expected_response"].as_u64().map(|s| u16::try_from(s).unwrap()),
        })
        .collect()
}

/// The status a UAS answers each invalid request with; invalid responses are dropped (`None`).
fn invalid_response(file: &str) -> Option<u16> {
    match file {
        "scalarlg.dat" | "bigcode.dat" => None,
        "badvers.dat" => Some(505),
        _ => Some(400),
    }
}

fn inspect_file(file: &str) -> Inspection {
    let bytes = std::fs::read(data_dir().join(file)).unwrap();
    inspect(&bytes, &Limits::default())
}

#[test]
fn every_labelled_message_gets_the_right_verdict() {
    let labels = labels();
    assert_eq!(labels.len(), 49, "the 49 messages of RFC 4475");
    let mut wrong = Vec::new();
    for label in &labels {
        let got = inspect_file(&label.file);
        let (valid, response) = match label.expect.as_str() {
            "valid" => (true, None),
            "parseable" => (true, label.expected_response),
            "invalid" => (false, invalid_response(&label.file)),
            other => panic!("unknown label {other}"),
        };
        if got.valid != valid || got.response != response {
            wrong.push(format!(
                "{} ({}): want valid={valid} response={response:?}, got {}",
                label.file,
                label.section,
                got.to_json_line()
            ));
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn well_formed_requests_carry_their_method_and_call_id() {
    let got = inspect_file("intmeth.dat");
    assert_eq!(got.kind, Some("request"));
    assert_eq!(
        got.method.as_deref(),
        Some("!interesting-Method0123456789_*+`.%indeed'~")
    );
    assert_eq!(
        got.call_id.as_deref(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    let got = inspect_file("unreason.dat");
    assert_eq!((got.kind, got.status), (Some("response"), Some(200)));
    // The first of two messages in one datagram; the trailing octets are not part of it.
    let bytes = std::fs::read(data_dir().join("dblreq.dat")).unwrap();
    let framed = frame(&bytes, &Limits::default()).unwrap();
    assert!(framed.error.is_none());
    assert_eq!(
        framed.message.headers().get("call-id"),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
}

#[test]
fn the_tortuous_invite_yields_its_key_fields() {
    let bytes = std::fs::read(data_dir().join("wsinv.dat")).unwrap();
    let Ok(sip_stack::message::Incoming::Request(r)) = parse(&bytes, &Limits::default()) else {
        panic!("wsinv parses");
    };
    assert_eq!(r.common.cseq, 9);
    assert_eq!(r.common.from_tag.as_deref(), Some("98asjd8"));
    assert_eq!(r.common.to_tag.as_deref(), Some("1918181833n"));
    assert_eq!(r.msg.body.len(), 150);
    assert_eq!(r.msg.headers.count("via"), 2);
    assert_eq!(
        r.msg.headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
}

#[test]
fn every_prefix_and_mutation_is_handled_without_panic() {
    // Truncations and single-byte corruptions of every torture message: the parser must return.
    for label in labels() {
        let bytes = std::fs::read(data_dir().join(&label.file)).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            let _ = inspect(&bytes[..cut], &Limits::default());
        }
        for i in (0..bytes.len()).step_by(13) {
            let mut copy = bytes.clone();
            copy[i] ^= 0x5a;
            let _ = inspect(&copy, &Limits::default());
        }
    }
}
