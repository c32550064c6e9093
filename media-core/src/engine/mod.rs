//! The media engine: many sessions on a few threads, all their 20 ms frames driven by one timer
//! per worker thread.
//!
//! Per call, [`crate::driver::spawn`] costs a tokio task that wakes 50 times a second on its own
//! timer and once per packet; with hundreds of calls those wake-ups and their scheduling are
//! most of the cost, and the send times wander with the scheduler. The engine splits the work:
//! - a **network task** per session (tokio) only receives: it stamps each datagram with its
//!   arrival time and pushes it into a bounded lock-free SPSC ring (`rtrb`), slots preallocated,
//!   nothing locked or allocated per packet. A full ring drops the packet and counts it;
//! - a **worker thread** per core owns its sessions outright. Every 20 ms on one shared grid it
//!   wakes once and, session by session, drains the ring into `handle_datagram` (with the
//!   arrival times), applies commands, runs the tick, and sends the packets straight from a
//!   duplicated socket handle with a non-blocking `send_to`. Events go out through the same
//!   bounded channels as with the dedicated driver.
//!
//! The handle, events and summary are the dedicated driver's ([`RunningSession`]), so a caller
//! switches by calling [`MediaEngine::spawn`] instead. [`MediaEngine::stats`] reports how late
//! the timer woke and how far each frame's send time was from its grid point.

mod stats;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc as std_mpsc};
use std::thread::JoinHandle as ThreadHandle;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::driver::{COMMAND_CAPACITY, DriverError, EVENT_CAPACITY, MediaHandle, RunningSession};
use crate::frame::{FRAME_DURATION, Frame};
use crate::session::MediaSession;
pub use stats::EngineStats;
use stats::WorkerStats;
use worker::{Registration, Worker};

/// Largest datagram carried through a ring; longer ones are dropped as oversized.
pub const MAX_DATAGRAM: usize = 1500;
/// Datagrams a session's ring holds: 640 ms of 20 ms packets, far more than one frame.
const RING_SLOTS: usize = 32;

/// Settings of a [`MediaEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Worker threads (one timer each); sessions are spread over them round-robin.
    pub workers: usize,
}

impl Default for EngineConfig {
    /// One worker per core.
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Why the engine could not start or take a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A worker thread could not be started.
    #[error("cannot start a media worker thread: {0}")]
    Thread(#[source] io::Error),
    /// The socket could not be split into its receiving and sending halves.
    #[error("cannot prepare the RTP socket: {0}")]
    Socket(#[source] io::Error),
    /// The engine has shut down.
    #[error("the media engine has shut down")]
    ShutDown,
}

/// Sees the remote audio of every tick of a session, on its worker thread: `(media time of
/// the frame's start in ms, the frame)`. This is where per-call audio analysis runs, so its
/// cost lands on the same timer as the media. When a worker had to catch up several ticks at
/// once, only the last frame is shown (the analysis fills the gap as silence). It must be
/// quick: it runs inside the 20 ms budget of every session on the worker.
pub type FrameTap = Box<dyn FnMut(u64, &Frame) + Send>;

/// One datagram in a ring: its bytes, where it came from, when it arrived.
#[derive(Clone, Copy)]
pub(crate) struct Datagram {
    pub(crate) arrival: Instant,
    pub(crate) src: SocketAddr,
    pub(crate) rtcp: bool,
    pub(crate) len: usize,
    pub(crate) data: [u8; MAX_DATAGRAM],
}

/// Runs sessions on worker threads. See the module docs. Dropping it stops the workers once
/// their sessions have ended.
#[derive(Debug)]
pub struct MediaEngine {
    workers: Vec<WorkerHandle>,
    next: AtomicUsize,
    epoch: Instant,
}

#[derive(Debug)]
struct WorkerHandle {
    register: std_mpsc::Sender<Registration>,
    stats: Arc<WorkerStats>,
    shutdown: Arc<AtomicBool>,
    thread: Option<ThreadHandle<()>>,
}

impl MediaEngine {
    /// Starts the worker threads.
    pub fn start(config: EngineConfig) -> Result<Self, EngineError> {
        let epoch = tokio::time::Instant::now().into_std();
        let workers = (0..config.workers.max(1))
            .map(|index| {
                let (register, registrations) = std_mpsc::channel();
                let stats = Arc::new(WorkerStats::default());
                let shutdown = Arc::new(AtomicBool::new(false));
                let worker = Worker::new(registrations, stats.clone(), shutdown.clone(), epoch);
                let thread = std::thread::Builder::new()
                    .name(format!("media-{index}"))
                    .spawn(move || worker.run())
                    .map_err(EngineError::Thread)?;
                Ok(WorkerHandle {
                    register,
                    stats,
                    shutdown,
                    thread: Some(thread),
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        Ok(MediaEngine {
            workers,
            next: AtomicUsize::new(0),
            epoch,
        })
    }

    /// The process-wide engine, started on first use with one worker per core.
    pub fn global() -> Result<&'static MediaEngine, EngineError> {
        static GLOBAL: OnceLock<MediaEngine> = OnceLock::new();
        if let Some(engine) = GLOBAL.get() {
            return Ok(engine);
        }
        let engine = MediaEngine::start(EngineConfig::default())?;
        // Another thread may have won the race; its engine is used and ours is dropped.
        Ok(GLOBAL.get_or_init(|| engine))
    }

    /// The start of the 20 ms grid all workers tick on. Sessions created at a grid point
    /// (`epoch + k * 20 ms`) send exactly when the worker wakes.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The latest point of the 20 ms grid at or before now: the `now` to create a session for
    /// the engine with, so its ticks fall on the grid. A session started between two grid
    /// points is still run, but a worker waking a little late then finds two of its ticks due
    /// and has to catch one up.
    #[allow(clippy::disallowed_methods)] // the engine is a driver: it reads the clock
    pub fn grid_now(&self) -> Instant {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        let frames = elapsed.as_nanos() / FRAME_DURATION.as_nanos();
        self.epoch + FRAME_DURATION * u32::try_from(frames).unwrap_or(u32::MAX)
    }

    /// Runs `session` on a worker until stopped or `cancel`led, receiving on `socket` (and on
    /// `rtcp`, when RTCP has its own port). Must be called inside a tokio runtime, which runs
    /// the receiving task.
    pub fn spawn(
        &self,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: MediaSession,
        cancel: CancellationToken,
    ) -> Result<RunningSession, EngineError> {
        self.spawn_with_tap(socket, rtcp, session, cancel, None)
    }

    /// [`spawn`](Self::spawn), with `tap` shown the remote audio of every tick (see
    /// [`FrameTap`]).
    pub fn spawn_with_tap(
        &self,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
        session: MediaSession,
        cancel: CancellationToken,
        tap: Option<FrameTap>,
    ) -> Result<RunningSession, EngineError> {
        let (recv, send) = split(socket)?;
        let (rtcp_recv, rtcp_send) = match rtcp {
            Some(socket) => {
                let (recv, send) = split(socket)?;
                (Some(recv), Some(send))
            }
            None => (None, None),
        };
        let (producer, consumer) = rtrb::RingBuffer::new(RING_SLOTS);
        let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
        let (done_tx, done_rx) = oneshot::channel();
        let receiving = cancel.child_token();
        let ring_dropped = Arc::new(AtomicU64::new(0));
        let registration = Registration {
            session,
            send,
            rtcp_send,
            inbound: consumer,
            commands: command_rx,
            events: event_tx,
            done: done_tx,
            cancel,
            receiving: receiving.clone(),
            ring_dropped: ring_dropped.clone(),
            tap,
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[index]
            .register
            .send(registration)
            .map_err(|_| EngineError::ShutDown)?;
        tokio::spawn(worker::receive(
            recv,
            rtcp_recv,
            producer,
            receiving,
            ring_dropped,
        ));
        let task = tokio::spawn(async move { done_rx.await.unwrap_or(Err(DriverError::Stopped)) });
        Ok(RunningSession {
            handle: MediaHandle { commands: command_tx },
            events: event_rx,
            task,
        })
    }

    /// Timer and send-time figures of all workers since they started.
    pub fn stats(&self) -> EngineStats {
        self.workers
            .iter()
            .map(|w| w.stats.snapshot())
            .fold(EngineStats::default(), EngineStats::merge)
    }

    /// Sessions running now.
    pub fn sessions(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.stats.sessions.load(Ordering::Relaxed) as usize)
            .sum()
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.shutdown.store(true, Ordering::Relaxed);
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Splits a socket into the tokio socket the network task receives on and a duplicate of its
/// descriptor the worker sends on, so sending never touches the runtime's reactor.
fn split(socket: UdpSocket) -> Result<(UdpSocket, std::net::UdpSocket), EngineError> {
    let std = socket.into_std().map_err(EngineError::Socket)?;
    let send = std.try_clone().map_err(EngineError::Socket)?;
    send.set_nonblocking(true).map_err(EngineError::Socket)?;
    let recv = UdpSocket::from_std(std).map_err(EngineError::Socket)?;
    Ok((recv, send))
}

#[cfg(test)]
mod tests;
