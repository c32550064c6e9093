//! The media engine: many sessions on a few threads, all their 20 ms frames driven by one timer
//! per worker thread.
//!
//! Per call, [`crate::driver::spawn`] costs a tokio task that wakes 50 times a second on its own
//! timer and once per packet; with hundreds of calls those wake-ups and their scheduling are
//! most of the cost, and the send times wander with the scheduler. The engine has one **worker
//! thread** per core that owns its sessions and their sockets outright and wakes once per 20 ms
//! on one shared grid; nothing else runs per call. Each wake-up makes two passes:
//! 1. session by session: read the socket until it is empty (non-blocking, each datagram with
//!    the kernel's arrival time, see `receive`), apply the commands, run the sending half of the
//!    tick ([`MediaSession::handle_timeout_send`]) and send its packet;
//! 2. session by session: the listening half (jitter buffer, decoding, ear, recording), the
//!    [`FrameTap`], RTCP, and the events out through the same bounded channels as with the
//!    dedicated driver.
//!
//! So every packet of the wake-up goes out before any session spends time listening, and the
//! send times hold with more sessions per worker. Nothing is locked or allocated per packet.
//!
//! The handle, events and summary are the dedicated driver's ([`RunningSession`]), so a caller
//! switches by calling [`MediaEngine::spawn`] instead. [`MediaEngine::stats`] reports how late
//! the timer woke and how far each frame's send time was from its grid point.

mod receive;
mod stats;
mod worker;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Largest datagram a worker reads; longer ones are dropped and counted as `rx_dropped`.
pub const MAX_DATAGRAM: usize = 1500;

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
    /// `rtcp`, when RTCP has its own port); the worker takes the sockets over. Must be called
    /// inside a tokio runtime, which runs the task that reports the summary.
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
        let socket = prepare(socket)?;
        let rtcp = rtcp.map(prepare).transpose()?;
        let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
        let (done_tx, done_rx) = oneshot::channel();
        let registration = Registration {
            session,
            socket,
            rtcp,
            commands: command_rx,
            events: event_tx,
            done: done_tx,
            cancel,
            tap,
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[index]
            .register
            .send(registration)
            .map_err(|_| EngineError::ShutDown)?;
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

/// Takes a socket out of the tokio reactor for its worker: non-blocking, with the kernel's
/// receive timestamps on.
fn prepare(socket: UdpSocket) -> Result<std::net::UdpSocket, EngineError> {
    let std = socket.into_std().map_err(EngineError::Socket)?;
    std.set_nonblocking(true).map_err(EngineError::Socket)?;
    receive::enable_timestamps(&std).map_err(EngineError::Socket)?;
    Ok(std)
}

#[cfg(test)]
mod tests;
