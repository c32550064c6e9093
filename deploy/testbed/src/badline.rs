//! A bad line for RTP: a UDP relay between two peers that loses, delays, jitters (and so reorders)
//! and duplicates packets, as a congested or wireless last mile does.
//!
//! The usual tool, `tc qdisc ... netem`, needs the kernel's `sch_netem`, which the machines these
//! tests run on do not have; this relay does the same to one media stream in userspace, seeded, so
//! a run is repeatable. Each side sends to the relay's address (put it in that side's SDP) and
//! receives from it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::{Result, TestbedError};

/// What the line does to each packet, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Share of packets dropped, 0 to 1.
    pub loss: f64,
    /// Delay every packet gets.
    pub delay: Duration,
    /// Extra delay, uniform between zero and this: at 20 ms packets, anything past 20 ms reorders.
    pub jitter: Duration,
    /// Share of packets sent twice, 0 to 1.
    pub duplicate: f64,
    /// The random generator's seed.
    pub seed: u64,
}

/// Counts of what the line did, both directions together.
#[derive(Debug, Default)]
pub struct LineStats {
    /// Packets that arrived at the relay.
    pub received: AtomicU64,
    /// Packets dropped on purpose.
    pub dropped: AtomicU64,
    /// Copies sent on (duplicates included).
    pub forwarded: AtomicU64,
}

/// A relay socket bound on 127.0.0.1, not relaying yet (its address goes into an SDP first).
#[derive(Debug)]
pub struct BadLine {
    socket: Arc<UdpSocket>,
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct RunningLine {
    task: JoinHandle<()>,
    stats: Arc<LineStats>,
}

impl BadLine {
    /// Binds the relay's socket.
    pub async fn bind() -> Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(TestbedError::FreePort)?;
        Ok(Self {
            socket: Arc::new(socket),
        })
    }

    /// Where both sides send.
    pub fn addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Relays between `a` and `b`: what comes from `a` goes to `b` and the other way round, each
    /// packet impaired as `line` says; anything from elsewhere is ignored.
    pub fn start(self, a: SocketAddr, b: SocketAddr, line: Impairment) -> RunningLine {
        let stats = Arc::new(LineStats::default());
        let counted = Arc::clone(&stats);
        let socket = self.socket;
        let task = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(line.seed);
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let to = if from == a {
                    b
                } else if from == b {
                    a
                } else {
                    continue;
                };
                counted.received.fetch_add(1, Ordering::Relaxed);
                if rng.random_bool(line.loss.clamp(0.0, 1.0)) {
                    counted.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let copies = if rng.random_bool(line.duplicate.clamp(0.0, 1.0)) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let extra = line.jitter.mul_f64(rng.random::<f64>());
                    let (socket, packet, counted) =
                        (Arc::clone(&socket), buf[..n].to_vec(), Arc::clone(&counted));
                    tokio::spawn(async move {
                        tokio::time::sleep(line.delay + extra).await;
                        if socket.send_to(&packet, to).await.is_ok() {
                            counted.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            }
        });
        RunningLine { task, stats }
    }
}

impl RunningLine {
    /// What the line has done so far.
    pub fn stats(&self) -> &LineStats {
        &self.stats
    }
}

impl Drop for RunningLine {
    fn drop(&mut self) {
        self.task.abort();
    }
}
