//! A worker thread of the engine: its sessions, their sockets, and the two passes of a tick.

use std::collections::VecDeque;
use std::net::UdpSocket as StdUdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Instant;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::receive::{ArrivalClock, Inbox, Received};
use super::stats::WorkerStats;
use crate::driver::{Command, DriverError};
use crate::event::{MediaEvent, SessionSummary};
use crate::frame::FRAME_DURATION;
use crate::rtcp::RtcpMode;
use crate::session::MediaSession;

/// Send buffer: larger than any packet a session writes.
const SEND_BUFFER: usize = 2048;
/// A socket that only fails this many reads in a row (ICMP errors) is no longer read.
const MAX_RECEIVE_ERRORS: u32 = 100;

/// A session handed to a worker, with everything it talks through.
pub(crate) struct Registration {
    pub(crate) session: MediaSession,
    /// The RTP socket, non-blocking, with kernel receive timestamps on.
    pub(crate) socket: StdUdpSocket,
    /// The RTCP socket when RTCP has its own port, set up the same way.
    pub(crate) rtcp: Option<StdUdpSocket>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    pub(crate) done: oneshot::Sender<Result<SessionSummary, DriverError>>,
    pub(crate) cancel: CancellationToken,
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
    /// Whether the sending pass of this wake-up ran a tick (so the tap has a frame to see).
    ticked: bool,
    /// Datagrams too long for the receive buffer.
    rx_dropped: u64,
    /// Failed reads in a row, per socket (RTP, RTCP).
    errors: [u32; 2],
}

/// What a worker reuses on every wake-up: the send and receive buffers.
struct Io {
    send: Vec<u8>,
    inbox: Inbox,
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

    /// The thread's loop: sleep to the next grid point, then two passes over the sessions.
    /// The first reads each session's socket, applies its commands, runs the sending half of
    /// its tick and sends; only then does the second run the listening halves (jitter buffer,
    /// decoding, ear, recording) and the taps. So a session's send time depends on the cheap
    /// sending work of the sessions before it, not on their analysis.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    pub(crate) fn run(self) {
        let mut slots: Vec<Slot> = Vec::with_capacity(256);
        let mut io = Io {
            send: vec![0u8; SEND_BUFFER],
            inbox: Inbox::new(),
        };
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
            let clock = ArrivalClock::now();
            while let Ok(reg) = self.registrations.try_recv() {
                slots.push(Slot {
                    reg,
                    pending: VecDeque::with_capacity(8),
                    events_open: true,
                    stopping: false,
                    ticked: false,
                    rx_dropped: 0,
                    errors: [0; 2],
                });
            }
            for slot in &mut slots {
                let before = slot.reg.session.media_time_ms();
                slot.send_half(&clock, &mut io);
                let frames = (slot.reg.session.media_time_ms() - before) / 20;
                slot.ticked = frames > 0;
                let deviation = Instant::now().saturating_duration_since(grid);
                self.stats
                    .frame(u64::try_from(deviation.as_micros()).unwrap_or(u64::MAX), frames);
            }
            for slot in &mut slots {
                slot.listen_half(&mut io.send);
            }
            let mut i = 0;
            while i < slots.len() {
                if slots[i].stopping {
                    slots.swap_remove(i).finish(&mut io.send);
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
                    slot.finish(&mut io.send);
                }
                return;
            }
        }
    }
}

impl Slot {
    /// The first pass: datagrams in, commands, the sending half of the due ticks, RTP out.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    fn send_half(&mut self, clock: &ArrivalClock, io: &mut Io) {
        self.receive(clock, &mut io.inbox);
        let session = &mut self.reg.session;
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
        session.handle_timeout_send(Instant::now());
        while let Some((dst, n)) = session.poll_transmit(&mut io.send) {
            // WouldBlock: the kernel buffer is full; late audio is worthless, drop it.
            let _ = self.reg.socket.send_to(&io.send[..n], dst);
        }
    }

    /// Reads everything both sockets hold into the session, stamped with kernel arrival times.
    fn receive(&mut self, clock: &ArrivalClock, inbox: &mut Inbox) {
        let session = &mut self.reg.session;
        let sockets = [Some(&self.reg.socket), self.reg.rtcp.as_ref()];
        for (which, socket) in sockets.into_iter().enumerate() {
            let Some(socket) = socket else { continue };
            if self.errors[which] >= MAX_RECEIVE_ERRORS {
                continue;
            }
            loop {
                match inbox.receive(socket, clock) {
                    Received::Datagram { arrival, src, bytes } => {
                        self.errors[which] = 0;
                        if which == 0 {
                            session.handle_datagram(arrival, src, bytes);
                        } else {
                            session.handle_rtcp(arrival, src, bytes);
                        }
                    }
                    Received::Truncated => self.rx_dropped += 1,
                    Received::Empty => break,
                    Received::Failed(err) => {
                        // ICMP errors surface here; a socket that only fails is given up on.
                        self.errors[which] += 1;
                        tracing::debug!(error = %err, "media receive failed");
                        break;
                    }
                }
            }
        }
    }

    /// The second pass: the listening half of the tick, the tap, RTCP and events out.
    fn listen_half(&mut self, send_buf: &mut [u8]) {
        let session = &mut self.reg.session;
        session.finish_timeout();
        if self.ticked
            && let Some(tap) = &mut self.reg.tap
        {
            let at_ms = session.media_time_ms() - FRAME_DURATION.as_millis() as u64;
            tap(at_ms, session.remote_frame());
        }
        self.send(send_buf);
    }

    /// Sends what the session produced and hands its events on.
    fn send(&mut self, send_buf: &mut [u8]) {
        let session = &mut self.reg.session;
        while let Some((dst, n)) = session.poll_transmit(send_buf) {
            let _ = self.reg.socket.send_to(&send_buf[..n], dst);
        }
        while let Some((dst, n)) = session.poll_transmit_rtcp(send_buf) {
            let socket = match (&self.reg.rtcp, session.rtcp_mode()) {
                (Some(rtcp), RtcpMode::Separate { .. }) => rtcp,
                _ => &self.reg.socket,
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

    /// Ends the session: says goodbye, finalizes, reports the summary. The sockets close
    /// when the slot is dropped.
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clock
    fn finish(mut self, send_buf: &mut [u8]) {
        // Closed before the summary goes out, so a handle that sees the summary also sees
        // the session as stopped.
        self.reg.commands.close();
        self.reg.session.close(Instant::now());
        self.send(send_buf);
        for event in self.pending.drain(..) {
            if self.reg.events.try_send(event).is_err() {
                break;
            }
        }
        let dropped = self.rx_dropped;
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
