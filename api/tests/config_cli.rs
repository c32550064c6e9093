//! `ringback config example` and `ringback config check` as an operator runs them, where the
//! configuration file is found (`--config`, `RINGBACK_CONFIG`, `./ringback.toml`), and `serve`
//! refusing a configuration that cannot work, naming the key, before it opens anything.

use ringback_testbed::certs;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// `ringback ARGS` with no configuration from the caller's environment.
fn ringback(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("RINGBACK_CONFIG")
        .env_remove("ORT_DYLIB_PATH");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().contains("__") && name.to_string_lossy().starts_with("RINGBACK_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs a command that should exit by itself; one still running after 30 s (a server that
/// started when it should have refused) is killed, so the test fails instead of hanging.
fn exits(command: &mut Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    #[allow(clippy::disallowed_methods)] // a test's own deadline, not protocol time
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&output.stdout), text(&output.stderr)))
}

/// A configuration that needs no model: the energy detector and remote speech.
const NO_MODELS: &str = "[media]\nvad = \"energy\"\n[providers.tts]\nprovider = \"openai\"\n\
                         [providers.stt]\nprovider = \"openai\"\n";

#[test]
fn config_example_prints_the_committed_example_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = ringback(&["config", "example"], dir.path())
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/ringback.example.toml"
    ))
    .expect("deploy/ringback.example.toml");
    assert_eq!(text(&output.stdout), committed);

    // The committed file checks clean when its models are where it says (nowhere, here: the check
    // names them all, by the key that moves them).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/ringback.example.toml");
    let empty = dir.path().join("models");
    std::fs::create_dir(&empty).expect("mkdir");
    let output = ringback(&["config", "check", "--config", example], dir.path())
        .env("RINGBACK_MODELS__DIR", &empty)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let found = report(&output);
    assert_eq!(found["file"], example);
    let problems = found["problems"].as_array().expect("problems");
    assert!(!problems.is_empty());
    assert!(problems.iter().all(|p| p["key"] == "models.dir"), "{problems:?}");
    assert!(
        text(&output.stderr).contains("models.dir: "),
        "{}",
        text(&output.stderr)
    );

    // Put a file at each path it looked for: now the same file passes.
    for model in found["models"].as_array().expect("models") {
        let path = PathBuf::from(model["path"].as_str().expect("path"));
        assert!(path.starts_with(&empty), "{path:?} is outside [models] dir");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"").expect("write");
    }
    let output = ringback(&["config", "check", "--config", example], dir.path())
        .env("RINGBACK_MODELS__DIR", &empty)
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let found = report(&output);
    assert_eq!(found["problems"], Value::Array(Vec::new()));
    assert!(
        found["models"]
            .as_array()
            .expect("models")
            .iter()
            .all(|m| m["found"] == true)
    );
}

#[test]
fn config_check_prints_what_the_file_amounts_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = certs::generate(dir.path()).expect("openssl makes the test certificates");
    let file = dir.path().join("ringback.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = \"127.0.0.1:18443\"\ntls_cert = {:?}\ntls_key = {:?}\n\
             [sip]\nlisten = \"0.0.0.0:5062\"\ntcp_listen = \"0.0.0.0:5062\"\n\
             [storage]\ndatabase_url = \"postgres://ringback:s3cret@db.example/ringback\"\n\
             [[trunks]]\nname = \"carrier\"\nproxy = \"192.0.2.10:5060\"\nusername = \"agent\"\npassword = \"pw\"\n\
             [[trunks]]\nname = \"pbx\"\nproxy = \"pbx.example.test\"\ntransport = \"tcp\"\n{NO_MODELS}",
            tls.cert, tls.key
        ),
    )
    .expect("write");
    let output = ringback(&["config", "check", "--config"], dir.path())
        .arg(&file)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let found = report(&output);
    assert_eq!(found["https"], true);
    assert_eq!(found["public_url"], "https://127.0.0.1:18443");
    let listeners: Vec<(String, String, String)> = found["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| {
            (
                l["key"].as_str().unwrap_or_default().to_owned(),
                l["protocol"].as_str().unwrap_or_default().to_owned(),
                l["addr"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("server.listen", "tcp", "127.0.0.1:18443"),
        ("sip.listen", "udp", "0.0.0.0:5062"),
        ("sip.tcp_listen", "tcp", "0.0.0.0:5062"),
    ];
    assert_eq!(
        listeners,
        expected.map(|(k, p, a)| (k.to_owned(), p.to_owned(), a.to_owned()))
    );
    let trunks = found["trunks"].as_array().expect("trunks");
    assert_eq!(trunks.len(), 2);
    assert_eq!(
        (&trunks[0]["name"], &trunks[0]["registers"]),
        (&Value::from("carrier"), &Value::from(true))
    );
    assert_eq!(
        (
            &trunks[1]["proxy"],
            &trunks[1]["transport"],
            &trunks[1]["registers"]
        ),
        (
            &Value::from("pbx.example.test"),
            &Value::from("tcp"),
            &Value::from(false)
        )
    );
    assert_eq!(
        found["database"], "postgres://ringback:***@db.example/ringback",
        "the password stays in the file"
    );
    assert!(!text(&output.stdout).contains("s3cret"));
    assert_eq!(
        found["models"],
        Value::Array(Vec::new()),
        "nothing on-box is used"
    );
}

#[test]
fn config_check_and_serve_name_the_key_of_each_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            "[server]\nlisten_on = \"127.0.0.1:8080\"\n".to_owned(),
            "server.listen_on",
        ),
        (
            "[server]\nlisten = \"127.0.0.1:5090\"\n[sip]\ntcp_listen = \"127.0.0.1:5090\"\n".to_owned(),
            "server.listen and sip.tcp_listen",
        ),
        (
            format!("[server]\ntls_cert = {missing:?}\ntls_key = {missing:?}\n{NO_MODELS}"),
            "server.tls_cert",
        ),
        (
            format!("[models]\ndir = {:?}\n", dir.path().join("no-models")),
            "models.dir",
        ),
    ];
    for (index, (toml, key)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad-{index}.toml"));
        std::fs::write(&file, toml).expect("write");
        let checked = ringback(&["config", "check", "--config"], dir.path())
            .arg(&file)
            .output()
            .expect("runs");
        assert_eq!(checked.status.code(), Some(1), "{toml}");
        assert!(
            text(&checked.stderr).contains(key),
            "{toml}: {}",
            text(&checked.stderr)
        );

        // The server refuses the same file, in the same words, and never listens. (The data
        // directory is the test's: a server that went on would create its database there.)
        let data = dir.path().join(format!("data-{index}"));
        let served = exits(
            ringback(&["serve", "--config"], dir.path())
                .arg(&file)
                .env("RINGBACK_STORAGE__DATA_DIR", &data),
        );
        assert!(!served.status.success(), "{toml}");
        assert!(
            text(&served.stderr).contains(key),
            "{toml}: {}",
            text(&served.stderr)
        );
        assert!(
            !data.exists(),
            "{toml}: the server opened its store before refusing"
        );
    }
}

#[test]
fn the_configuration_file_comes_from_the_flag_the_environment_or_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let named = dir.path().join("named.toml");
    std::fs::write(
        &named,
        format!("[server]\nlisten = \"127.0.0.1:18081\"\n{NO_MODELS}"),
    )
    .expect("write");
    let local = dir.path().join("ringback.toml");
    std::fs::write(
        &local,
        format!("[server]\nlisten = \"127.0.0.1:18082\"\n{NO_MODELS}"),
    )
    .expect("write");
    let http = |output: &Output| {
        assert!(output.status.success(), "{}", text(&output.stderr));
        let found = report(output);
        (
            found["file"].as_str().map(str::to_owned),
            found["listeners"][0]["addr"].as_str().map(str::to_owned),
        )
    };

    let from_env = ringback(&["config", "check"], dir.path())
        .env("RINGBACK_CONFIG", &named)
        .output()
        .expect("runs");
    assert_eq!(
        http(&from_env),
        (
            Some(named.display().to_string()),
            Some("127.0.0.1:18081".to_owned())
        )
    );
    // The flag wins over the environment, before or after the subcommand (it is global).
    let from_flag = ringback(&["--config"], dir.path())
        .arg(&local)
        .args(["config", "check"])
        .env("RINGBACK_CONFIG", &named)
        .output()
        .expect("runs");
    assert_eq!(http(&from_flag).1, Some("127.0.0.1:18082".to_owned()));
    let missing = ringback(&["config", "check"], dir.path())
        .env("RINGBACK_CONFIG", dir.path().join("nowhere.toml"))
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("nowhere.toml"),
        "{}",
        text(&missing.stderr)
    );

    if Path::new("/etc/ringback/ringback.toml").exists() {
        // That file comes first when nothing is named; the rest of this test is about the others.
        return;
    }
    let from_cwd = ringback(&["config", "check"], dir.path()).output().expect("runs");
    assert_eq!(
        http(&from_cwd),
        (
            Some("ringback.toml".to_owned()),
            Some("127.0.0.1:18082".to_owned())
        )
    );
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let built_in = ringback(&["config", "check"], elsewhere.path())
        .output()
        .expect("runs");
    let found = report(&built_in);
    assert_eq!(found["file"], Value::Null, "no file: the built-in defaults");
    assert_eq!(found["listeners"][0]["addr"], "127.0.0.1:8080");
}
