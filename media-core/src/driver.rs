//! The thin tokio driver of a [`MediaSession`]: one task that owns the RTP socket and the
//! tick timer, feeds the session, and sends what it produces.
//!
//! Everything interesting happens in the session; this loop only waits. Each turn it sends
//! every datagram the session has ready (non-blocking: a full socket buffer drops a packet
//! rather than stalling the media clock), queues the session's events, then waits for the
//! first of: cancellation, a command from a [`MediaHandle`], the next tick, a datagram, or room
//! in the event channel. Buffers are allocated once when the task starts; nothing on the
//! per-packet path allocates.
//!
//! Events are never dropped because the consumer is slow: they wait in a local queue while
//! the media keeps flowing (they are rare: a few per second at most). If the event receiver is
//! dropped, events are discarded and the media goes on until stopped.
//!
//! The session stops, finalizing its recording, on [`MediaHandle::stop`], on cancellation of
//! the token, or when every [`MediaHandle`] is dropped; the summary comes back through the
//! task's `JoinHandle`.

use std::collections::VecDeque;
use std::io;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::analysis::Verdict;
use crate::dtmf::send::{DtmfSendError, event_code};
use crate::event::{MediaEvent, SessionSummary};
use crate::pacer::UtteranceId;
use crate::rtcp::RtcpMode;
use crate::session::{MediaSession, MediaUpdate, SessionError};

/// Commands queued between the handles and the task.
pub(crate) const COMMAND_CAPACITY: usize = 32;
/// Events buffered in the channel to the consumer.
pub(crate) const EVENT_CAPACITY: usize = 64;
/// Receive buffer: larger than any RTP packet a sane peer sends on a 1500-byte MTU.
const RECV_BUFFER: usize = 2048;
/// Consecutive receive errors after which the socket is considered dead.
const MAX_RECV_ERRORS: u32 = 100;

/// Why the driver stopped with an error, or why a command could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The session task has already stopped.
    #[error("the media session has stopped")]
    Stopped,
    /// The socket kept failing.
    #[error("RTP socket: {0}")]
    Socket(#[from] io::Error),
    /// Finishing the session failed (the recording).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// DTMF digits were refused.
    #[error(transparent)]
    Dtmf(#[from] DtmfSendError),
}

/// What the handles ask of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Play {
        id: UtteranceId,
        samples_8k: Vec<i16>,
    },
    Flush,
    SetListening(bool),
    SendDtmf {
        digits: String,
        tone_ms: u32,
    },
    OfferTranscript {
        at_ms: u64,
        verdict: Verdict,
        confidence: f32,
    },
    UpdateMedia(MediaUpdate),
    Stop,
}

impl Command {
    /// Applies the command to `session`; returns `false` for `Stop`.
    pub(crate) fn apply(self, session: &mut MediaSession) -> bool {
        match self {
            Command::Play { id, samples_8k } => session.play(id, samples_8k),
            Command::Flush => session.flush(),
            Command::SetListening(listening) => session.set_listening(listening),
            Command::SendDtmf { digits, tone_ms } => {
                if let Err(err) = session.send_dtmf(&digits, tone_ms) {
                    tracing::warn!(error = %err, "DTMF refused");
                }
            }
            Command::OfferTranscript {
                at_ms,
                verdict,
                confidence,
            } => session.offer_transcript(at_ms, verdict, confidence),
            Command::UpdateMedia(update) => {
                if let Err(err) = session.update_media(update) {
                    tracing::warn!(error = %err, "renegotiated media refused");
                }
            }
            Command::Stop => return false,
        }
        true
    }
}

/// Controls a running session. Cheap to clone; the session stops when the last one is
/// dropped.
#[derive(Debug, Clone)]
pub struct MediaHandle {
    pub(crate) commands: mpsc::Sender<Command>,
}

impl MediaHandle {
    /// Queues agent audio (8 kHz mono) after whatever is queued.
    pub async fn play(&self, id: UtteranceId, samples_8k: Vec<i16>) -> Result<(), DriverError> {
        self.send(Command::Play { id, samples_8k }).await
    }

    /// Drops all queued agent audio now (barge-in).
    pub async fn flush(&self) -> Result<(), DriverError> {
        self.send(Command::Flush).await
    }

    /// Turns speech detection on or off.
    pub async fn set_listening(&self, listening: bool) -> Result<(), DriverError> {
        self.send(Command::SetListening(listening)).await
    }

    /// Sends DTMF digits (`0-9 * # A-D`, `,` for a pause) with tones of `tone_ms`: RFC 4733
    /// events, or in-band tones when the peer has no telephone-event. Invalid digits are
    /// refused here, before anything is queued.
    pub async fn send_dtmf(&self, digits: &str, tone_ms: u32) -> Result<(), DriverError> {
        if let Some(bad) = digits
            .chars()
            .find(|&c| c != ',' && !c.is_whitespace() && event_code(c).is_none())
        {
            return Err(DtmfSendError::NotADigit(bad).into());
        }
        self.send(Command::SendDtmf {
            digits: digits.to_owned(),
            tone_ms,
        })
        .await
    }

    /// Offers the answering-machine detector a verdict taken from the greeting's transcript
    /// (see [`MediaSession::offer_transcript`]).
    pub async fn offer_transcript(
        &self,
        at_ms: u64,
        verdict: Verdict,
        confidence: f32,
    ) -> Result<(), DriverError> {
        self.send(Command::OfferTranscript {
            at_ms,
            verdict,
            confidence,
        })
        .await
    }

    /// Follows a renegotiation (see [`MediaSession::update_media`]).
    pub async fn update_media(&self, update: MediaUpdate) -> Result<(), DriverError> {
        self.send(Command::UpdateMedia(update)).await
    }

    /// Stops the session: the recording is finalized and the summary returned through the
    /// task's `JoinHandle`.
    pub async fn stop(&self) -> Result<(), DriverError> {
        self.send(Command::Stop).await
    }

    async fn send(&self, command: Command) -> Result<(), DriverError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| DriverError::Stopped)
    }
}

/// A session running on its own task.
#[derive(Debug)]
pub struct RunningSession {
    /// Sends commands to the session.
    pub handle: MediaHandle,
    /// The session's events.
    pub events: mpsc::Receiver<MediaEvent>,
    /// Resolves to the summary when the session stops.
    pub task: JoinHandle<Result<SessionSummary, DriverError>>,
}

/// Spawns the task driving `session` on `socket` until stopped or `cancel`led.
///
/// Create the session just before, with `tokio::time::Instant::now().into_std()` as its start,
/// or the first turn of the loop will catch up on the ticks in between.
pub fn spawn(socket: UdpSocket, session: MediaSession, cancel: CancellationToken) -> RunningSession {
    spawn_inner(socket, None, session, cancel)
}

/// Like [`spawn`], with a second socket for RTCP (RFC 3550: the port after the RTP port), for
/// sessions whose [`RtcpMode`] is `Separate`.
pub fn spawn_with_rtcp(
    socket: UdpSocket,
    rtcp: UdpSocket,
    session: MediaSession,
    cancel: CancellationToken,
) -> RunningSession {
    spawn_inner(socket, Some(rtcp), session, cancel)
}

fn spawn_inner(
    socket: UdpSocket,
    rtcp: Option<UdpSocket>,
    session: MediaSession,
    cancel: CancellationToken,
) -> RunningSession {
    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (event_tx, event_rx) = mpsc::channel(EVENT_CAPACITY);
    let sockets = Sockets { rtp: socket, rtcp };
    let task = tokio::spawn(run(sockets, session, command_rx, event_tx, cancel));
    RunningSession {
        handle: MediaHandle { commands: command_tx },
        events: event_rx,
        task,
    }
}

/// The driver reads tokio's clock (virtual under `tokio::time::pause`) and hands it to the core.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The session's sockets: RTP, and RTCP unless it is muxed or off.
struct Sockets {
    rtp: UdpSocket,
    rtcp: Option<UdpSocket>,
}

impl Sockets {
    async fn recv_rtcp(&self, buf: &mut [u8]) -> io::Result<(usize, std::net::SocketAddr)> {
        match &self.rtcp {
            Some(socket) => socket.recv_from(buf).await,
            None => std::future::pending().await,
        }
    }
}

async fn run(
    sockets: Sockets,
    mut session: MediaSession,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    cancel: CancellationToken,
) -> Result<SessionSummary, DriverError> {
    let socket = &sockets.rtp;
    let mut recv_buf = vec![0u8; RECV_BUFFER];
    let mut rtcp_buf = vec![0u8; RECV_BUFFER];
    let mut output = Output {
        send_buf: vec![0u8; RECV_BUFFER],
        pending: VecDeque::with_capacity(EVENT_CAPACITY),
    };
    let mut events_open = true;
    let mut recv_errors = 0u32;
    let sleep = tokio::time::sleep_until(session.poll_timeout().into());
    tokio::pin!(sleep);

    loop {
        output.drain(&sockets, &mut session, events_open);
        sleep.as_mut().reset(session.poll_timeout().into());
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            command = commands.recv() => match command {
                Some(command) => if !command.apply(&mut session) {
                    break;
                },
                None => break,
            },
            // Ticks before datagrams: a flood of packets must not starve the media clock.
            () = &mut sleep => session.handle_timeout(now()),
            received = sockets.recv_rtcp(&mut rtcp_buf) => match received {
                Ok((n, src)) => session.handle_rtcp(now(), src, &rtcp_buf[..n]),
                Err(err) => tracing::debug!(error = %err, "RTCP receive failed"),
            },
            received = socket.recv_from(&mut recv_buf) => match received {
                Ok((n, src)) => {
                    recv_errors = 0;
                    session.handle_datagram(now(), src, &recv_buf[..n]);
                }
                Err(err) => {
                    // ICMP errors surface here on some platforms; they pass. A socket that
                    // only fails is dead.
                    recv_errors += 1;
                    tracing::debug!(error = %err, "RTP receive failed");
                    if recv_errors >= MAX_RECV_ERRORS {
                        return Err(err.into());
                    }
                }
            },
            permit = events.reserve(), if events_open && !output.pending.is_empty() => match permit {
                Ok(permit) => {
                    if let Some(event) = output.pending.pop_front() {
                        permit.send(event);
                    }
                }
                Err(_) => {
                    events_open = false;
                    output.pending.clear();
                }
            },
        }
    }

    session.close(now());
    output.drain(&sockets, &mut session, events_open);
    if events_open {
        // Last events (a final PlaybackFinished, say), delivered if there is room.
        for event in output.pending.drain(..) {
            if events.try_send(event).is_err() {
                break;
            }
        }
    }
    Ok(session.finish()?)
}

/// Outgoing datagrams and events waiting for the consumer.
struct Output {
    send_buf: Vec<u8>,
    pending: VecDeque<MediaEvent>,
}

impl Output {
    /// Sends every ready datagram and moves the session's events into `pending`.
    fn drain(&mut self, sockets: &Sockets, session: &mut MediaSession, keep_events: bool) {
        while let Some((dst, n)) = session.poll_transmit(&mut self.send_buf) {
            if let Err(err) = sockets.rtp.try_send_to(&self.send_buf[..n], dst) {
                // WouldBlock: the kernel buffer is full; late audio is worthless, drop it.
                tracing::debug!(%dst, error = %err, "RTP send failed; packet dropped");
            }
        }
        while let Some((dst, n)) = session.poll_transmit_rtcp(&mut self.send_buf) {
            let socket = match (&sockets.rtcp, session.rtcp_mode()) {
                (Some(rtcp), RtcpMode::Separate { .. }) => rtcp,
                _ => &sockets.rtp,
            };
            if let Err(err) = socket.try_send_to(&self.send_buf[..n], dst) {
                tracing::debug!(%dst, error = %err, "RTCP send failed; report dropped");
            }
        }
        while let Some(event) = session.poll_event() {
            if keep_events {
                self.pending.push_back(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::rtp::{PayloadType, Ssrc, parse};
    use crate::session::SessionConfig;
    use std::time::Duration;

    /// Upper bound on waiting for something that should happen within a few hundred ms; a
    /// safety net against hanging, not a timing assertion.
    const PATIENCE: Duration = Duration::from_secs(10);

    async fn pair() -> (UdpSocket, UdpSocket) {
        let ours = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        (ours, peer)
    }

    fn start(ours: UdpSocket, peer: &UdpSocket, cancel: CancellationToken) -> RunningSession {
        let remote = peer.local_addr().expect("addr");
        let config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, remote, Ssrc(7));
        let session = MediaSession::new(config, now()).expect("session");
        spawn(ours, session, cancel)
    }

    async fn next_event(events: &mut mpsc::Receiver<MediaEvent>) -> MediaEvent {
        tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("event in time")
            .expect("channel open")
    }

    #[tokio::test]
    async fn plays_to_the_peer_receives_from_it_and_stops_with_a_summary() {
        let (ours, peer) = pair().await;
        let our_addr = ours.local_addr().expect("addr");
        let mut running = start(ours, &peer, CancellationToken::new());
        running
            .handle
            .play(UtteranceId(1), vec![8000; 800])
            .await
            .expect("play");

        // The peer sees a steady stream, with our 100 ms utterance in it.
        let mut buf = [0u8; 2048];
        let mut loud_packets = 0;
        let mut seqs = Vec::new();
        while seqs.len() < 20 {
            let (n, from) = tokio::time::timeout(PATIENCE, peer.recv_from(&mut buf))
                .await
                .expect("packet")
                .expect("recv");
            assert_eq!(from, our_addr);
            let packet = parse(&buf[..n]).expect("valid RTP");
            seqs.push(packet.seq.0);
            if packet.payload.iter().any(|&b| b != 0xFF) {
                loud_packets += 1;
            }
        }
        assert_eq!(loud_packets, 5);
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));

        // And talks back.
        for k in 0..10u16 {
            let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
            packet[2..4].copy_from_slice(&k.to_be_bytes());
            packet[4..8].copy_from_slice(&(u32::from(k) * 160).to_be_bytes());
            packet.extend_from_slice(&[0xFF; 160]);
            peer.send_to(&packet, our_addr).await.expect("send");
        }

        let mut seen = Vec::new();
        while seen.len() < 2 {
            let event = next_event(&mut running.events).await;
            if matches!(
                event,
                MediaEvent::PlaybackFinished { .. } | MediaEvent::RemoteLatched(_)
            ) {
                seen.push(event);
            }
        }
        assert!(seen.contains(&MediaEvent::PlaybackFinished {
            id: UtteranceId(1),
            played_ms: 100,
            interrupted: false
        }));
        assert!(seen.contains(&MediaEvent::RemoteLatched(peer.local_addr().expect("addr"))));

        running.handle.stop().await.expect("stop");
        let summary = running.task.await.expect("task").expect("summary");
        assert_eq!(summary.stats.packets_received, 10);
        assert!(summary.stats.packets_sent >= 20);
        assert!(matches!(running.handle.flush().await, Err(DriverError::Stopped)));
    }

    #[tokio::test]
    async fn cancellation_and_dropped_handles_stop_the_session() {
        let (ours, peer) = pair().await;
        let cancel = CancellationToken::new();
        let running = start(ours, &peer, cancel.clone());
        cancel.cancel();
        assert!(running.task.await.expect("task").is_ok());

        let (ours, peer) = pair().await;
        let RunningSession { handle, events, task } = start(ours, &peer, CancellationToken::new());
        drop(events);
        drop(handle);
        assert!(
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("stops")
                .expect("task")
                .is_ok()
        );
    }
}
