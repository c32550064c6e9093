//! A STUN server (coturn's `turnserver`, apt `coturn`, STUN only), for tests where Ringback learns
//! the address its RTP leaves a NAT with.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::process::Supervised;
use crate::{Result, TestbedError};

/// The standard STUN port.
const PORT: u16 = 3478;
/// How long coturn may take to answer its first Binding request.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one probe waits.
const PROBE_WAIT: Duration = Duration::from_millis(100);
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running coturn answering STUN Binding requests on `<ip>:3478` (UDP), nothing else (no TURN
/// relaying, no TLS, no admin CLI). Stopped when dropped.
#[derive(Debug)]
pub struct StunServer {
    addr: SocketAddr,
    // Field order matters: the process stops before its run dir is removed.
    process: Supervised,
    _run_dir: tempfile::TempDir,
}

impl StunServer {
    /// Starts coturn on `ip` (an address of the calling thread's network namespace; the port is
    /// the standard one, so give each instance its own namespace) and waits until it answers.
    pub async fn start(ip: Ipv4Addr) -> Result<Self> {
        let run_dir = tempfile::Builder::new()
            .prefix("ringback-stun-")
            .tempdir()
            .map_err(|source| TestbedError::CreateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let addr = SocketAddr::from((ip, PORT));
        let mut command = Command::new("turnserver");
        command
            .args([
                "-n",
                "--stun-only",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--simple-log",
            ])
            .args(["--log-file=stdout", "--verbose"])
            // One thread listens and answers: with a listener per core (coturn's default), a
            // request from a new source port may land on a socket whose thread is not serving yet,
            // although the readiness probe was answered.
            .arg("--relay-threads=0")
            .arg(format!("--listening-ip={ip}"))
            .arg(format!("--listening-port={PORT}"))
            .arg(format!(
                "--pidfile={}",
                run_dir.path().join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", run_dir.path().join("turndb").display()));
        let mut process = Supervised::spawn(
            "turnserver",
            command,
            &run_dir.path().join("turnserver.log"),
            STOP_GRACE,
        )?;
        let probe = UdpSocket::bind((ip, 0))
            .await
            .map_err(|source| TestbedError::Probe { addr, source })?;
        let started = Instant::now();
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            if started.elapsed() >= READY_TIMEOUT {
                return Err(process.not_ready(started.elapsed()));
            }
            if binding(&probe, addr).await {
                break;
            }
            tokio::time::sleep(PROBE_WAIT / 4).await;
        }
        tracing::info!(%addr, "STUN server ready");
        Ok(Self {
            addr,
            process,
            _run_dir: run_dir,
        })
    }

    /// Where it answers.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything it has logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// One Binding request; true on a success response to it.
async fn binding(socket: &UdpSocket, to: SocketAddr) -> bool {
    let mut request = [0u8; 20];
    request[..8].copy_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42]);
    request[8..].copy_from_slice(b"ringback-rdy");
    if socket.send_to(&request, to).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(PROBE_WAIT, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => n >= 20 && buf[..2] == [1, 1] && buf[8..20] == request[8..],
        _ => false,
    }
}
