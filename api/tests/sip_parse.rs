//! `ringback sip-parse FILE` over the RFC 4475 torture messages: one JSON line with the contract's
//! keys, exit status 0 whatever the verdict, and the verdicts of the labels.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sip-stack/tests/data/rfc4475")
}

fn sip_parse(file: &std::path::Path) -> Value {
    let out = Command::new(BIN)
        .arg("sip-parse")
        .arg(file)
        .output()
        .expect("runs");
    assert!(out.status.success(), "exit 0 whatever the verdict: {out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stdout}");
    serde_json::from_str(lines[0]).expect("JSON")
}

#[test]
fn every_torture_message_gets_one_contract_line() {
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("labels.json")).expect("labels"))
            .expect("JSON");
    let labels = labels.as_array().expect("array");
    assert_eq!(labels.len(), 49);
    for label in labels {
        let file = label["file"].as_str().expect("file");
        let line = sip_parse(&data_dir().join(file));
        for key in ["valid", "kind", "call_id", "response", "error"] {
            assert!(line.get(key).is_some(), "{file}: key {key} in {line}");
        }
        let expect = label["expect"].as_str().expect("expect");
        assert_eq!(line["valid"], Value::Bool(expect != "invalid"), "{file}: {line}");
        match line["kind"].as_str() {
            Some("request") => {
                assert!(
                    line["method"].is_string() && line.get("status").is_none(),
                    "{file}: {line}"
                );
            }
            Some("response") => {
                assert!(
                    line["status"].is_u64() && line.get("method").is_none(),
                    "{file}: {line}"
                );
                assert!(line["response"].is_null(), "responses are never answered: {line}");
            }
            _ => assert_eq!(expect, "invalid", "{file}: only invalid messages may lack a kind"),
        }
        if expect == "parseable" {
            assert_eq!(line["response"], label["expected_response"], "{file}: {line}");
        }
        if expect == "invalid" && line["kind"] == "request" {
            let status = line["response"].as_u64().expect("invalid requests are answered");
            assert!((400..=505).contains(&status), "{file}: {line}");
            assert!(line["error"].is_string(), "{file}: {line}");
        }
        if expect == "valid" {
            assert!(
                line["response"].is_null() && line["error"].is_null(),
                "{file}: {line}"
            );
        }
    }
}

#[test]
fn a_clean_invite_reports_its_fields_and_a_missing_file_is_an_error() {
    let line = sip_parse(&data_dir().join("wsinv.dat"));
    assert_eq!(line["kind"], "request");
    assert_eq!(line["method"], "INVITE");
    assert_eq!(line["call_id"], "wsinv.ndaksdj@192.0.2.1");
    let out = Command::new(BIN)
        .args(["sip-parse", "/nonexistent/ringback-message"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
