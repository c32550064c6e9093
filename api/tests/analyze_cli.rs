//! `ringback analyze` end to end: the real binary on WAV files made with sox (stereo 44.1 kHz with
//! digits and a beep on the left, speech-free noise on the right), real Silero; checks the JSON
//! contract of DESIGN.md and that bad input is an error, not a panic.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("sox is not installed ({e}); run deploy/setup"));
    assert!(status.success(), "sox {args:?}");
}

fn analyze(file: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .arg("analyze")
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_stereo_file_at_44100_hz_is_analysed_on_its_left_channel() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let tone = |name: &str, lo: &str, hi: &str| {
        sox(&[
            "-D",
            "-n",
            "-r",
            "44100",
            "-b",
            "16",
            "-c",
            "1",
            &p(name),
            "synth",
            "0.08",
            "sine",
            lo,
            "sine",
            hi,
            "remix",
            "1v0.25,2v0.25",
        ]);
    };
    tone("d4.wav", "770", "1209");
    tone("d2.wav", "697", "1336");
    tone("dhash.wav", "941", "1477");
    sox(&[
        "-D",
        "-n",
        "-r",
        "44100",
        "-b",
        "16",
        "-c",
        "1",
        &p("gap.wav"),
        "trim",
        "0",
        "0.12",
    ]);
    sox(&[
        "-D",
        "-n",
        "-r",
        "44100",
        "-b",
        "16",
        "-c",
        "1",
        &p("beep.wav"),
        "synth",
        "0.3",
        "sine",
        "1000",
        "vol",
        "0.2",
    ]);
    sox(&[
        &p("gap.wav"),
        &p("d4.wav"),
        &p("gap.wav"),
        &p("d2.wav"),
        &p("gap.wav"),
        &p("dhash.wav"),
        &p("gap.wav"),
        &p("gap.wav"),
        &p("beep.wav"),
        &p("gap.wav"),
        &p("left.wav"),
    ]);
    // The right channel (the agent) holds other digits, which must not appear.
    sox(&[
        "-D",
        "-n",
        "-r",
        "44100",
        "-b",
        "16",
        "-c",
        "1",
        &p("right.wav"),
        "synth",
        "1.2",
        "sine",
        "852",
        "sine",
        "1633",
        "remix",
        "1v0.25,2v0.25",
    ]);
    sox(&["-M", &p("left.wav"), &p("right.wav"), &p("stereo.wav")]);

    let (code, stdout, stderr) = analyze(Path::new(&p("stereo.wav")));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON document: {stdout}");
    let doc: Value = serde_json::from_str(lines[0]).unwrap();
    let digits: String = doc["dtmf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(digits, "42#", "{doc}");
    // 120 ms of silence, then the first digit for 80 ms.
    let first = &doc["dtmf"][0];
    assert!(first["start_ms"].as_u64().unwrap().abs_diff(120) <= 15, "{first}");
    assert!(first["end_ms"].as_u64().unwrap().abs_diff(200) <= 15, "{first}");
    let beeps = doc["beeps"].as_array().unwrap();
    assert_eq!(beeps.len(), 1, "{doc}");
    // Four gaps and three digits before the beep: 4 * 120 + 3 * 80 + 120 = 840 ms.
    assert!(
        beeps[0]["start_ms"].as_u64().unwrap().abs_diff(840) <= 50,
        "{doc}"
    );
    assert!((beeps[0]["hz"].as_f64().unwrap() - 1000.0).abs() < 20.0, "{doc}");
    assert_eq!(doc["amd"]["verdict"], "machine", "a beep means a machine: {doc}");
    assert!(doc["amd"]["confidence"].as_f64().unwrap() > 0.9);
    assert!(doc["amd"]["decided_ms"].as_u64().is_some());
    assert_eq!(
        doc["speech"],
        serde_json::json!([]),
        "tones are not speech: {doc}"
    );
    assert_eq!(doc["duration_ms"].as_u64().unwrap().abs_diff(1260), 0, "{doc}");
}

#[test]
fn bad_input_is_an_error_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"RIFF\x10\x00\x00\x00WAVEfmt nonsense").unwrap();
    let (code, stdout, stderr) = analyze(&junk);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("cannot read WAV file"), "{stderr}");
    let (code, _, stderr) = analyze(&dir.path().join("missing.wav"));
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.wav"), "{stderr}");
}
