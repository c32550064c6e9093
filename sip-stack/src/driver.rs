//! The thin tokio driver: owns the UDP socket and the sleep, feeds the [`Endpoint`] with datagrams,
//! commands and timeouts, and forwards what it reports. All SIP logic stays in the core.

use crate::call::{CallEvent, CallHandle, InviteParams};
use crate::endpoint::{Endpoint, EndpointConfig, EndpointError, Event};
use crate::registration::RegistrationStatus;
use crate::trunk::TrunkConfig;
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Errors of the driver handle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The driver task has stopped.
    #[error("SIP driver stopped")]
    Stopped,
    /// The endpoint refused the command.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

/// The longest a shutdown waits for BYEs and unregistrations to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

enum Command {
    Invite {
        params: InviteParams,
        events: mpsc::UnboundedSender<CallEvent>,
        reply: oneshot::Sender<Result<CallHandle, EndpointError>>,
    },
    Hangup(CallHandle),
    Shutdown,
}

/// A placed call: its handle and the stream of what happens to it.
#[derive(Debug)]
pub struct PlacedCall {
    /// The handle, for [`SipHandle::hangup`].
    pub handle: CallHandle,
    /// Progress, answer and end, in order; closes after `Ended`.
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Cloneable access to a running driver.
#[derive(Debug, Clone)]
pub struct SipHandle {
    commands: mpsc::Sender<Command>,
    registrations: watch::Receiver<Vec<RegistrationStatus>>,
}

impl SipHandle {
    /// Places a call.
    pub async fn invite(&self, params: InviteParams) -> Result<PlacedCall, DriverError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        let command = Command::Invite {
            params,
            events: events_tx,
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| DriverError::Stopped)?;
        let handle = answer.await.map_err(|_| DriverError::Stopped)??;
        Ok(PlacedCall { handle, events })
    }

    /// Hangs up (CANCEL or BYE); the end arrives on the call's events.
    pub async fn hangup(&self, call: CallHandle) -> Result<(), DriverError> {
        self.commands
            .send(Command::Hangup(call))
            .await
            .map_err(|_| DriverError::Stopped)
    }

    /// Registration status per trunk, in trunk order (`Pending` for trunks that do not register).
    pub fn registrations(&self) -> watch::Receiver<Vec<RegistrationStatus>> {
        self.registrations.clone()
    }

    /// Hangs up every call, unregisters, and stops the driver (the task ends after a short grace).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

/// Starts the driver on a bound socket.
pub fn spawn(
    socket: UdpSocket,
    config: EndpointConfig,
    trunks: Vec<TrunkConfig>,
) -> (SipHandle, JoinHandle<()>) {
    let (commands, command_rx) = mpsc::channel(64);
    let (reg_tx, registrations) = watch::channel(vec![RegistrationStatus::Pending; trunks.len()]);
    let endpoint = Endpoint::new(Instant::now().into_std(), config, trunks);
    let task = tokio::spawn(run(socket, endpoint, command_rx, reg_tx));
    (
        SipHandle {
            commands,
            registrations,
        },
        task,
    )
}

async fn run(
    socket: UdpSocket,
    mut endpoint: Endpoint,
    mut commands: mpsc::Receiver<Command>,
    registrations: watch::Sender<Vec<RegistrationStatus>>,
) {
    let mut buf = vec![0u8; 65_535];
    let mut calls: HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>> = HashMap::new();
    let mut stop_at: Option<Instant> = None;
    loop {
        while let Some(transmit) = endpoint.poll_transmit() {
            if let Err(err) = socket.send_to(&transmit.payload, transmit.destination).await {
                tracing::warn!(%err, to = %transmit.destination, "SIP send failed");
            }
        }
        while let Some(event) = endpoint.poll_event() {
            match event {
                Event::Registration { trunk, status } => {
                    registrations.send_modify(|all| {
                        if let Some(slot) = all.get_mut(trunk.0) {
                            *slot = status;
                        }
                    });
                }
                Event::Call { call, event } => {
                    let ended = matches!(event, CallEvent::Ended(_));
                    if let Some(tx) = calls.get(&call) {
                        let _ = tx.send(event);
                    }
                    if ended {
                        calls.remove(&call);
                    }
                }
                Event::Malformed { .. } => {}
            }
        }
        if let Some(stop_at) = stop_at
            && (!endpoint.is_busy() || Instant::now() >= stop_at)
        {
            return;
        }
        let wake = endpoint
            .poll_timeout()
            .map(Instant::from_std)
            .into_iter()
            .chain(stop_at)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => endpoint.handle_datagram(Instant::now().into_std(), from, &buf[..len]),
                // ICMP port-unreachable surfaces as an error on the next receive: not fatal.
                Err(err) => tracing::debug!(%err, "SIP receive error"),
            },
            command = commands.recv(), if stop_at.is_none() => {
                let now = Instant::now().into_std();
                match command {
                    Some(Command::Invite { params, events, reply }) => {
                        let result = endpoint.invite(now, params);
                        if let Ok(handle) = &result {
                            calls.insert(*handle, events);
                        }
                        let _ = reply.send(result);
                    }
                    Some(Command::Hangup(call)) => {
                        if let Err(err) = endpoint.hangup(now, call) {
                            tracing::debug!(%err, "hangup of a finished call");
                        }
                    }
                    Some(Command::Shutdown) | None => {
                        for call in calls.keys().copied().collect::<Vec<_>>() {
                            let _ = endpoint.hangup(now, call);
                        }
                        endpoint.unregister_all(now);
                        stop_at = Some(Instant::now() + SHUTDOWN_GRACE);
                    }
                }
            }
            () = tokio::time::sleep_until(wake) => endpoint.handle_timeout(Instant::now().into_std()),
        }
    }
}
