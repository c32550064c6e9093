//! `deploy/ringback.service` as systemd reads it, without systemd running (it is not PID 1 here):
//! `systemd-analyze verify` on a copy of the system's units plus ours under `--root` finds nothing to
//! say, `systemd-analyze security --offline=yes` scores its exposure under a bound (measured 1.2 with
//! systemd 252), and its command line is one the real binary takes.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ringback");
/// The exposure `systemd-analyze security` may give the unit (0 to 10; under 2 reads "OK"):
/// dropping the user, the filesystem or the system-call hardening takes the score past it.
const MAX_EXPOSURE: f64 = 2.0;

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/ringback.service")
}

fn unit() -> String {
    std::fs::read_to_string(unit_path()).expect("deploy/ringback.service")
}

/// The values of `key=` in the unit, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("link");
            std::os::unix::fs::symlink(link, target).expect("symlink");
        } else if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn systemd_analyze_verify_finds_nothing_to_say() {
    let root = tempfile::tempdir().expect("temp dir");
    // The units ours pulls in (multi-user.target, network-online.target, sysinit.target, ...).
    copy_dir(
        Path::new("/usr/lib/systemd/system"),
        &root.path().join("usr/lib/systemd/system"),
    );
    let units = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&units).expect("mkdir");
    std::fs::copy(unit_path(), units.join("ringback.service")).expect("copy the unit");
    // verify checks that ExecStart names an executable: one that runs the binary, where the unit
    // says it is (a script, not a 300 MB copy of a debug build).
    let unit = unit();
    let exec = values(&unit, "ExecStart");
    assert_eq!(exec.len(), 1, "one ExecStart");
    let program = exec[0].split_whitespace().next().expect("a program");
    let installed = root.path().join(program.trim_start_matches('/'));
    std::fs::create_dir_all(installed.parent().expect("a directory")).expect("mkdir");
    std::fs::write(&installed, format!("#!/bin/sh\nexec '{BIN}' \"$@\"\n")).expect("write");
    std::fs::set_permissions(&installed, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");

    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--root"])
        .arg(root.path())
        .arg("ringback.service")
        .output()
        .expect("systemd-analyze runs (deploy/setup installs systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // verify exits 0 on unknown keys and bad values, only printing them: silence is the pass.
    assert!(output.status.success(), "{said}");
    assert_eq!(said.trim(), "", "systemd-analyze verify has something to say");
}

#[test]
fn the_units_exposure_stays_under_the_bound() {
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit_path())
        .output()
        .expect("systemd-analyze runs (deploy/setup installs systemd)");
    let text = String::from_utf8_lossy(&output.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ringback.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(
        score < MAX_EXPOSURE,
        "exposure {score} >= {MAX_EXPOSURE}:\n{text}"
    );
}

#[test]
fn the_units_command_line_and_directories_agree_with_the_binary() {
    let unit = unit();
    let exec = values(&unit, "ExecStart")[0];
    let mut words = exec.split_whitespace();
    let program = words.next().expect("a program");
    assert_eq!(program, "/usr/local/bin/ringback");
    let args: Vec<&str> = words.collect();
    assert_eq!(args.first(), Some(&"serve"), "{exec}");
    // The binary takes these arguments (clap stops at --help once they parse).
    let help = Command::new(BIN)
        .args(&args)
        .arg("--help")
        .output()
        .expect("runs");
    assert!(help.status.success(), "{}", String::from_utf8_lossy(&help.stderr));

    // The file it reads is in the directory systemd makes for it, and its state directory is the
    // one it works in (where the relative default data_dir lands) and looks for models under.
    let config = args
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1])
        .expect("--config FILE");
    let configuration = values(&unit, "ConfigurationDirectory");
    assert_eq!(
        Path::new(config).parent(),
        Some(Path::new("/etc").join(configuration[0]).as_path())
    );
    let state = values(&unit, "StateDirectory")[0];
    assert_eq!(values(&unit, "WorkingDirectory"), [format!("%S/{state}")]);
    assert_eq!(
        values(&unit, "Environment"),
        [format!("RINGBACK_CACHE=%S/{state}")]
    );
    assert_eq!(values(&unit, "KillSignal"), ["SIGTERM"]);
    assert!(values(&unit, "DynamicUser") == ["yes"] || !values(&unit, "User").is_empty());
}
