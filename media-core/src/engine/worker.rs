//! A worker thread of the engine and the network task that feeds it.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::stats::WorkerStats;
use super::{Datagram, MAX_DATAGRAM};
use crate::driver::{Command, DriverError};
use crate::event::{MediaEvent, SessionSummary};
use crate::frame::FRAME_DURATION;
use crate::rtcp::RtcpMode;
use crate::session::MediaSession;

/// Send buffer: larger than any packet a session writes.
const SEND_BUFFER: usize = 2048;

/// A session handed to a worker, with everything it talks through.
pub(crate) struct Registration {
    pub(crate) session: MediaSession,
    pub(crate) send: StdUdpSocket,
    pub(crate) rtcp_send: Option<StdUdpSocket>,
    pub(crate) inbound: rtrb::Consumer<Datagram>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    pub(crate) done: oneshot::Sender<Result<SessionSummary, DriverError>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) receiving: CancellationToken,
    pub(crate) ring_dropped: Arc<AtomicU64>,
    pub(crate) tap: Option<super::FrameTap>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").finish_non_exhaustive()
    }
}

/// One session on a worker, and the events its consumer has not taken yet.
struct Slot {
    reg: Registration,
    pending: VecDeque<MediaEvent>,
    events_open: bool,
    stopping: bool,
}

/// A worker thread: owns its sessions, wakes every 20 ms on the engine's grid.
pub(crate) struct Worker {
    registrations: std_mpsc::Receiver<Registration>,
    stats: Arc<WorkerStats>,
    shutdown: Arc<AtomicBool>,
    epoch: Instant,
}

impl Worker {
    pub(crate) fn new(
        registrations: std_mpsc::Receiver<Registration>,
        stats: Arc<WorkerStats>,
        shutdown: Arc<AtomicBool>,
        epoch: Instant,
    ) -> Self {
        Worker {
            registrations,
            stats,
            shutdown,
            epoch,
        }
    }

    /// The thread's loop: sleep to the next grid point, then run every session once.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    pub(crate) fn run(self) {
        let mut slots: Vec<Slot> = Vec::with_capacity(256);
        let mut send_buf = vec![0u8; SEND_BUFFER];
        let mut grid = self.epoch;
        loop {
            let now = Instant::now();
            // The next grid point; if we fell more than a frame behind, skip to the present
            // (the sessions catch their missed ticks up themselves).
            grid += FRAME_DURATION;
            if grid + FRAME_DURATION < now {
                let behind = now.duration_since(grid).as_nanos() / FRAME_DURATION.as_nanos();
                grid += FRAME_DURATION * u32::try_from(behind).unwrap_or(u32::MAX);
            }
            if grid > now {
                std::thread::sleep(grid - now);
            }
            let woke = Instant::now();
            while let Ok(reg) = self.registrations.try_recv() {
                slots.push(Slot {
                    reg,
                    pending: VecDeque::with_capacity(8),
                    events_open: true,
                    stopping: false,
                });
            }
            for slot in &mut slots {
                let before = slot.reg.session.media_time_ms();
                slot.turn(&mut send_buf);
                let frames = (slot.reg.session.media_time_ms() - before) / 20;
                let deviation = Instant::now().saturating_duration_since(grid);
                self.stats
                    .frame(u64::try_from(deviation.as_micros()).unwrap_or(u64::MAX), frames);
            }
            let mut i = 0;
            while i < slots.len() {
                if slots[i].reg_finished() {
                    slots.swap_remove(i).finish(&mut send_buf);
                } else {
                    i += 1;
                }
            }
            self.stats.sessions.store(slots.len() as u64, Ordering::Relaxed);
            let busy = Instant::now().saturating_duration_since(woke);
            self.stats
                .tick(u64::try_from(busy.as_micros()).unwrap_or(u64::MAX));
            if self.shutdown.load(Ordering::Relaxed) {
                for slot in slots.drain(..) {
                    slot.finish(&mut send_buf);
                }
                return;
            }
        }
    }
}

impl Slot {
    /// One turn of the session: datagrams in, commands, due ticks, packets and events out.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    fn turn(&mut self, send_buf: &mut [u8]) {
        let session = &mut self.reg.session;
        while let Ok(d) = self.reg.inbound.pop() {
            let bytes = &d.data[..d.len];
            if d.rtcp {
                session.handle_rtcp(d.arrival, d.src, bytes);
            } else {
                session.handle_datagram(d.arrival, d.src, bytes);
            }
        }
        loop {
            match self.reg.commands.try_recv() {
                Ok(command) => {
                    if !command.apply(session) {
                        self.stopping = true;
                    }
                }
                Err(TryRecvError::Empty) => break,
                // Every handle dropped: stop, as the dedicated driver does.
                Err(TryRecvError::Disconnected) => {
                    self.stopping = true;
                    break;
                }
            }
        }
        if self.reg.cancel.is_cancelled() {
            self.stopping = true;
        }
        let before = session.media_time_ms();
        session.handle_timeout(Instant::now());
        let now_ms = session.media_time_ms();
        if now_ms > before
            && let Some(tap) = &mut self.reg.tap
        {
            tap(now_ms - FRAME_DURATION.as_millis() as u64, session.remote_frame());
        }
        self.send(send_buf);
    }

    fn reg_finished(&self) -> bool {
        self.stopping
    }

    /// Sends what the session produced and hands its events on.
    fn send(&mut self, send_buf: &mut [u8]) {
        let session = &mut self.reg.session;
        while let Some((dst, n)) = session.poll_transmit(send_buf) {
            // WouldBlock: the kernel buffer is full; late audio is worthless, drop it.
            let _ = self.reg.send.send_to(&send_buf[..n], dst);
        }
        while let Some((dst, n)) = session.poll_transmit_rtcp(send_buf) {
            let socket = match (&self.reg.rtcp_send, session.rtcp_mode()) {
                (Some(rtcp), RtcpMode::Separate { .. }) => rtcp,
                _ => &self.reg.send,
            };
            let _ = socket.send_to(&send_buf[..n], dst);
        }
        while let Some(event) = session.poll_event() {
            if self.events_open {
                self.pending.push_back(event);
            }
        }
        while self.events_open && !self.pending.is_empty() {
            match self.reg.events.try_reserve() {
                Ok(permit) => {
                    if let Some(event) = self.pending.pop_front() {
                        permit.send(event);
                    }
                }
                // Full: the consumer is slow; the events wait here, the media goes on.
                Err(mpsc::error::TrySendError::Full(())) => break,
                Err(mpsc::error::TrySendError::Closed(())) => {
                    self.events_open = false;
                    self.pending.clear();
                }
            }
        }
    }

    /// Ends the session: says goodbye, finalizes, reports the summary, stops the receiver.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    fn finish(mut self, send_buf: &mut [u8]) {
        // Closed before the summary goes out, so a handle that sees the summary also sees
        // the session as stopped.
        self.reg.commands.close();
        self.reg.receiving.cancel();
        self.reg.session.close(Instant::now());
        self.send(send_buf);
        for event in self.pending.drain(..) {
            if self.reg.events.try_send(event).is_err() {
                break;
            }
        }
        let dropped = self.reg.ring_dropped.load(Ordering::Relaxed);
        let result = self
            .reg
            .session
            .finish()
            .map(|mut summary| {
                summary.stats.rx_dropped += dropped;
                summary
            })
            .map_err(DriverError::from);
        let _ = self.reg.done.send(result);
    }
}

/// The network task of one session: receives, stamps, and pushes into the ring until stopped.
pub(crate) async fn receive(
    rtp: UdpSocket,
    rtcp: Option<UdpSocket>,
    mut ring: rtrb::Producer<Datagram>,
    stop: CancellationToken,
    dropped: Arc<AtomicU64>,
) {
    let mut slot = Datagram {
        arrival: tokio::time::Instant::now().into_std(),
        src: SocketAddr::from(([0, 0, 0, 0], 0)),
        rtcp: false,
        len: 0,
        data: [0; MAX_DATAGRAM],
    };
    // One byte more than a slot holds, so an oversized datagram is seen as such.
    let mut rtcp_buf = [0u8; MAX_DATAGRAM + 1];
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    let mut errors = 0u32;
    loop {
        let received = tokio::select! {
            () = stop.cancelled() => return,
            r = rtp.recv_from(&mut buf) => r.map(|(n, src)| (n, src, false)),
            r = recv_rtcp(rtcp.as_ref(), &mut rtcp_buf) => r.map(|(n, src)| (n, src, true)),
        };
        let (n, src, is_rtcp) = match received {
            Ok(r) => {
                errors = 0;
                r
            }
            Err(err) => {
                // ICMP errors surface here; a socket that only fails is given up on.
                errors += 1;
                tracing::debug!(error = %err, "media receive failed");
                if errors >= 100 {
                    return;
                }
                continue;
            }
        };
        let bytes = if is_rtcp { &rtcp_buf[..n] } else { &buf[..n] };
        if n > MAX_DATAGRAM {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        slot.arrival = tokio::time::Instant::now().into_std();
        slot.src = src;
        slot.rtcp = is_rtcp;
        slot.len = n;
        slot.data[..n].copy_from_slice(bytes);
        if ring.push(slot).is_err() {
            // The worker is behind by more than the ring: drop, count.
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn recv_rtcp(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}
