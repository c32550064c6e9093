//! A carrier's media edge: Sipwise rtpengine (apt `rtpengine-daemon`), in userspace, driven by
//! kamailio's `rtpengine` module over its ng control protocol.
//!
//! Real carriers anchor media on such a relay: the SDP the far end sees names the relay, and the
//! relay learns where each side really is from the first packets it receives (latching), which is
//! how a caller behind a NAT that advertises a private address is still heard. Tests start one on a
//! namespace's address (see [`netns`](crate::netns)) and pass [`Rtpengine::ng_addr`] to
//! [`KamailioOptions::rtpengine`](crate::KamailioOptions::rtpengine).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::process::{self, Supervised};
use crate::{Result, TestbedError};

/// How long rtpengine may take to answer its first ping.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one ping waits for its pong.
const PING_WAIT: Duration = Duration::from_millis(100);
/// How long rtpengine may take to stop on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The media ports it may use: a range of its own, away from ephemeral ports.
const PORTS: (u16, u16) = (31_000, 31_999);

/// A running rtpengine relaying media on one address.
#[derive(Debug)]
pub struct Rtpengine {
    media_ip: Ipv4Addr,
    ng_addr: SocketAddr,
    // Field order matters: the process stops before its run dir is removed.
    process: Supervised,
    _run_dir: tempfile::TempDir,
}

impl Rtpengine {
    /// Starts rtpengine with its media on `media_ip` and its ng control socket on a free port of
    /// 127.0.0.1, in the network namespace of the calling thread, and waits until it answers a ping.
    /// Kernel forwarding is off (`--table=-1`): the relay runs entirely in userspace.
    pub async fn start(media_ip: Ipv4Addr) -> Result<Self> {
        let run_dir = tempfile::Builder::new()
            .prefix("ringback-rtpengine-")
            .tempdir()
            .map_err(|source| TestbedError::CreateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let ng_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, process::free_udp_port()?));
        let mut command = Command::new("rtpengine");
        command
            .arg("--config-file=none")
            .args(["--foreground", "--log-stderr", "--table=-1", "--log-level=6"])
            .arg(format!("--interface={media_ip}"))
            .arg(format!("--listen-ng={ng_addr}"))
            .arg(format!("--port-min={}", PORTS.0))
            .arg(format!("--port-max={}", PORTS.1));
        let mut process = Supervised::spawn(
            "rtpengine",
            command,
            &run_dir.path().join("rtpengine.log"),
            STOP_GRACE,
        )?;
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| TestbedError::Probe {
                addr: ng_addr,
                source,
            })?;
        let started = Instant::now();
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            if started.elapsed() >= READY_TIMEOUT {
                return Err(process.not_ready(started.elapsed()));
            }
            if ping(&probe, ng_addr).await {
                break;
            }
            tokio::time::sleep(PING_WAIT / 4).await;
        }
        tracing::info!(%media_ip, %ng_addr, "rtpengine ready");
        Ok(Self {
            media_ip,
            ng_addr,
            process,
            _run_dir: run_dir,
        })
    }

    /// The address media is relayed on: what the SDP kamailio forwards names.
    pub fn media_ip(&self) -> Ipv4Addr {
        self.media_ip
    }

    /// Its ng control socket, for kamailio's `rtpengine_sock`.
    pub fn ng_addr(&self) -> SocketAddr {
        self.ng_addr
    }

    /// Everything it has logged so far (offers, answers, and where it latched each stream).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// One ng `ping` (bencoded, behind a cookie); true on `pong`.
async fn ping(socket: &UdpSocket, to: SocketAddr) -> bool {
    if socket.send_to(b"rb1 d7:command4:pinge", to).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 128];
    match tokio::time::timeout(PING_WAIT, socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => buf[..n].ends_with(b"d6:result4:ponge"),
        _ => false,
    }
}
