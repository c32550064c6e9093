//! A call's recording survives the process being killed mid-call, and `repair` makes it whole.
//!
//! The test runs itself as a child process (the `child` test below, switched on by an
//! environment variable) that records a real session, then waits to be killed with SIGKILL:
//! no destructor, no finalize. The parent then reads the file as it was left and repairs it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use media_core::recorder::repair;
use media_core::{Codec, MediaSession, PayloadType, SessionConfig, Ssrc};

const CHILD_ENV: &str = "MEDIA_CORE_RECORDING_CHILD";
/// Ticks the child records before it reports ready: 2.5 s.
const TICKS: u32 = 125;

fn wav_path() -> PathBuf {
    std::env::temp_dir().join(format!("media-core-crash-{}.wav", std::process::id()))
}

/// The child: records TICKS ticks of a session receiving a loud tone, then waits forever.
#[test]
fn child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only does something when the parent starts it.
    };
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    let t0 = Instant::now();
    let remote: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
    let mut config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, remote, Ssrc(1));
    config.recording = Some(PathBuf::from(&path));
    let mut session = MediaSession::new(config, t0).expect("session");
    let tick = Duration::from_millis(20);
    for k in 0..TICKS {
        let now = t0 + tick * k;
        let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        packet[2..4].copy_from_slice(&(k as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&(k * 160).to_be_bytes());
        packet.extend_from_slice(&[0x80; 160]);
        session.handle_datagram(now, remote, &packet);
        session.handle_timeout(now);
        let mut buf = [0u8; 1500];
        while session.poll_transmit(&mut buf).is_some() {}
    }
    #[allow(clippy::print_stdout)] // the parent waits for this line
    {
        println!("READY");
    }
    std::thread::sleep(Duration::from_secs(600));
    drop(session);
}

#[test]
fn a_recording_killed_mid_call_is_readable_and_repaired() {
    let path = wav_path();
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start child");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut chunk = [0u8; 256];
    while !seen.contains("READY") {
        let n = std::io::Read::read(&mut stdout, &mut chunk).expect("read child");
        assert!(n > 0, "child exited before recording: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    // As left by the kill: a valid WAV up to the last header update (once a second).
    let reader = hound::WavReader::open(&path).expect("readable after kill");
    let frames_readable = reader.duration();
    assert_eq!(frames_readable, 2 * 8000, "two whole seconds");
    drop(reader);

    let report = repair(&path).expect("repair");
    // Whatever reached the disk is now counted; nothing past what was written.
    assert!(report.duration_ms >= 2000 && report.duration_ms <= u64::from(TICKS) * 20);
    let mut reader = hound::WavReader::open(&path).expect("readable after repair");
    let left: Vec<i16> = reader
        .samples::<i16>()
        .step_by(2)
        .map(|s| s.expect("sample"))
        .collect();
    // The remote's tone starts after the jitter delay (60 ms) and is intact from there.
    assert!(left[..480].iter().all(|&s| s == 0));
    assert!(left[480..].iter().all(|&s| s == 32124));
    std::fs::remove_file(&path).ok();
}
