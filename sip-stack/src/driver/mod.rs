//! The thin tokio driver: owns the sockets (UDP, and TCP and TLS listeners with their connections) and
//! the sleep, feeds the [`Endpoint`] with messages, commands and timeouts, and forwards what it reports.
//! All SIP logic stays in the core.
//!
//! [`start`] serves every transport and hands inbound calls over on [`Driver::incoming`]; [`spawn`] is
//! the UDP-only shorthand that refuses inbound calls.

mod resolve;
mod route;
mod stream;
pub mod tls;

pub use resolve::{ResolveError, Resolver};
pub use route::{check_addresses, local_ip_towards};

use crate::call::{CallEvent, CallHandle, InviteParams};
use crate::endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointStats, Event, IncomingCall};
use crate::registration::RegistrationStatus;
use crate::sdp::Offer;
use crate::transport::{Peer, Transport};
use crate::trunk::{ProxyHost, TrunkConfig, TrunkId, UNRESOLVED};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use stream::{Conn, StreamEvent};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector};

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

/// What one call command asks for.
#[derive(Debug)]
enum CallOp {
    Hangup,
    Hold(bool),
    Reoffer(Offer),
    Transfer(String),
    Link(CallHandle),
    Ring,
    Accept(Vec<u8>),
    Reject(u16),
}

enum Command {
    Invite {
        params: InviteParams,
        events: mpsc::UnboundedSender<CallEvent>,
        reply: oneshot::Sender<Result<CallHandle, EndpointError>>,
    },
    Call {
        call: CallHandle,
        op: CallOp,
        reply: Option<oneshot::Sender<Result<(), EndpointError>>>,
    },
    Stats(oneshot::Sender<DriverStats>),
    TrunkAddr(TrunkId, oneshot::Sender<Result<SocketAddr, EndpointError>>),
    Shutdown,
}

/// What a driver holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// The endpoint's calls and transactions.
    pub endpoint: EndpointStats,
    /// Open TCP and TLS connections, both directions.
    pub connections: usize,
}

/// A placed call: its handle and the stream of what happens to it.
#[derive(Debug)]
pub struct PlacedCall {
    /// The handle, for [`SipHandle::hangup`] and the other call commands.
    pub handle: CallHandle,
    /// Progress, answer, media changes, transfers and the end, in order; closes after `Ended`.
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// An inbound call waiting for [`SipHandle::accept`] or [`SipHandle::reject`].
#[derive(Debug)]
pub struct IncomingCallHandle {
    /// Who calls, which number, the offer.
    pub info: IncomingCall,
    /// What happens to the call, in order (`Answered` once our 2xx is acknowledged, then as for a
    /// placed call); closes after `Ended`.
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Cloneable access to a running driver.
#[derive(Debug, Clone)]
pub struct SipHandle {
    commands: mpsc::Sender<Command>,
    registrations: watch::Receiver<Vec<RegistrationStatus>>,
    health: watch::Receiver<Vec<Option<bool>>>,
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

    async fn call_op(&self, call: CallHandle, op: CallOp) -> Result<(), DriverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Call {
                call,
                op,
                reply: Some(reply),
            })
            .await
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)??;
        Ok(())
    }

    /// Hangs up (CANCEL, a refusal, or BYE); the end arrives on the call's events.
    pub async fn hangup(&self, call: CallHandle) -> Result<(), DriverError> {
        self.commands
            .send(Command::Call {
                call,
                op: CallOp::Hangup,
                reply: None,
            })
            .await
            .map_err(|_| DriverError::Stopped)
    }

    /// Puts an answered call on hold, or resumes it (re-INVITE); the result arrives as
    /// `MediaChanged` or `MediaRefused`.
    pub async fn hold(&self, call: CallHandle, hold: bool) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Hold(hold)).await
    }

    /// Offers new media on an answered call (re-INVITE).
    pub async fn reoffer(&self, call: CallHandle, offer: Offer) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Reoffer(offer)).await
    }

    /// Blind transfer of an answered call to `target` (a SIP URI or a number) by REFER; progress arrives
    /// as `Transfer` events.
    pub async fn transfer(&self, call: CallHandle, target: &str) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Transfer(target.to_owned())).await
    }

    /// Ties two calls: when either ends, the other is hung up (a bridged hand-off to a human).
    pub async fn link(&self, a: CallHandle, b: CallHandle) -> Result<(), DriverError> {
        self.call_op(a, CallOp::Link(b)).await
    }

    /// Sends 180 Ringing for an inbound call.
    pub async fn ring(&self, call: CallHandle) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Ring).await
    }

    /// Accepts an inbound call with our SDP answer.
    pub async fn accept(&self, call: CallHandle, sdp: Vec<u8>) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Accept(sdp)).await
    }

    /// Rejects an inbound call with a final status (486, 603, 480, ...).
    pub async fn reject(&self, call: CallHandle, status: u16) -> Result<(), DriverError> {
        self.call_op(call, CallOp::Reject(status)).await
    }

    /// Registration status per trunk, in trunk order (`Pending` for trunks that do not register).
    pub fn registrations(&self) -> watch::Receiver<Vec<RegistrationStatus>> {
        self.registrations.clone()
    }

    /// Keep-alive verdict per trunk, in trunk order: `Some(true)` answering, `Some(false)` not,
    /// `None` before the first verdict or without keep-alives.
    pub fn health(&self) -> watch::Receiver<Vec<Option<bool>>> {
        self.health.clone()
    }

    /// Counts of what the driver holds now (calls, transactions, connections).
    pub async fn stats(&self) -> Result<DriverStats, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Stats(reply))
            .await
            .map_err(|_| DriverError::Stopped)?;
        answer.await.map_err(|_| DriverError::Stopped)
    }

    /// Where a trunk's proxy is now (its name looked up), for the application to find its own
    /// address towards it (the SDP's `c=` line). [`UNRESOLVED`] while its name has not resolved;
    /// asking then starts a new lookup.
    pub async fn trunk_addr(&self, trunk: TrunkId) -> Result<SocketAddr, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::TrunkAddr(trunk, reply))
            .await
            .map_err(|_| DriverError::Stopped)?;
        Ok(answer.await.map_err(|_| DriverError::Stopped)??)
    }

    /// Hangs up every call, unregisters, and stops the driver (the task ends after a short grace).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}

/// The sockets a driver serves: UDP always, TCP and TLS when given.
pub struct Sockets {
    /// The UDP socket.
    pub udp: UdpSocket,
    /// The TCP listener.
    pub tcp: Option<TcpListener>,
    /// The TLS listener and the acceptor with our certificate.
    pub tls: Option<(TcpListener, TlsAcceptor)>,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets")
            .field("udp", &self.udp)
            .field("tcp", &self.tcp)
            .field("tls", &self.tls.as_ref().map(|(l, _)| l))
            .finish()
    }
}

/// Driver settings beyond the endpoint's.
#[derive(Clone)]
pub struct DriverOptions {
    /// How we open TLS connections to trunks (roots to trust); `None` makes TLS trunks fail.
    pub tls_client: Option<TlsConnector>,
    /// Most stream connections at once (both directions).
    pub max_connections: usize,
    /// Most connections accepted from one address (trunk addresses excepted).
    pub max_connections_per_ip: usize,
    /// Connections only trunks may take (of `max_connections`): strangers' connections, accepted or
    /// opened back to them, stop at `max_connections - trunk_connections`, so idle connections from
    /// strangers cannot lock a TCP or TLS trunk out.
    pub trunk_connections: usize,
    /// Keep-alive ping on idle connections we opened (RFC 5626), every this long.
    pub ping_interval: Duration,
    /// Connections idle this long are closed.
    pub idle_timeout: Duration,
    /// Inbound calls waiting for the application, at most; more are refused with 480.
    pub incoming_queue: usize,
    /// The DNS server for trunk names; the system's resolver when `None`.
    pub dns_server: Option<SocketAddr>,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            tls_client: None,
            max_connections: 1024,
            max_connections_per_ip: 32,
            trunk_connections: 64,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            incoming_queue: 64,
            dns_server: None,
        }
    }
}

impl std::fmt::Debug for DriverOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverOptions")
            .field("tls_client", &self.tls_client.is_some())
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("trunk_connections", &self.trunk_connections)
            .field("dns_server", &self.dns_server)
            .finish_non_exhaustive()
    }
}

/// A running driver.
#[derive(Debug)]
pub struct Driver {
    /// Commands.
    pub handle: SipHandle,
    /// Inbound calls, to accept or reject. Dropping the receiver makes further calls get 480.
    pub incoming: mpsc::Receiver<IncomingCallHandle>,
    /// The task; it ends after [`SipHandle::shutdown`].
    pub task: JoinHandle<()>,
    /// The addresses the listeners are bound to.
    pub local: LocalAddrs,
}

/// Where the driver listens.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddrs {
    /// UDP.
    pub udp: SocketAddr,
    /// TCP, if listening.
    pub tcp: Option<SocketAddr>,
    /// TLS, if listening.
    pub tls: Option<SocketAddr>,
}

/// Where a datagram for `to` goes on `socket`: an IPv4 address as its IPv4-mapped IPv6 form when
/// the socket is a dual-stack IPv6 one (which cannot send to an IPv4 socket address as such).
fn udp_destination(socket: &UdpSocket, to: SocketAddr) -> SocketAddr {
    match (socket.local_addr(), to.ip()) {
        (Ok(local), IpAddr::V4(v4)) if local.is_ipv6() => {
            SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), to.port())
        }
        _ => to,
    }
}

/// Starts the UDP-only driver on a bound socket; inbound calls are refused with 480.
pub fn spawn(
    socket: UdpSocket,
    config: EndpointConfig,
    trunks: Vec<TrunkConfig>,
) -> (SipHandle, JoinHandle<()>) {
    let sockets = Sockets {
        udp: socket,
        tcp: None,
        tls: None,
    };
    let driver = start(sockets, DriverOptions::default(), config, trunks);
    // Nobody takes inbound calls: the driver refuses them.
    drop(driver.incoming);
    (driver.handle, driver.task)
}

/// Starts the driver on its sockets. The endpoint learns the listeners' addresses (for Via and
/// Contact) unless `config` already names them.
pub fn start(
    sockets: Sockets,
    options: DriverOptions,
    mut config: EndpointConfig,
    trunks: Vec<TrunkConfig>,
) -> Driver {
    let local = LocalAddrs {
        udp: sockets.udp.local_addr().unwrap_or(config.local_addr),
        tcp: sockets.tcp.as_ref().and_then(|l| l.local_addr().ok()),
        tls: sockets.tls.as_ref().and_then(|(l, _)| l.local_addr().ok()),
    };
    config.tcp_addr = config.tcp_addr.or(local.tcp);
    config.tls_addr = config.tls_addr.or(local.tls);
    let (commands, command_rx) = mpsc::channel(64);
    let (reg_tx, registrations) = watch::channel(vec![RegistrationStatus::Pending; trunks.len()]);
    let (health_tx, health) = watch::channel(vec![None; trunks.len()]);
    let (incoming_tx, incoming) = mpsc::channel(options.incoming_queue.max(1));
    let resolver = match options.dns_server {
        Some(server) => Resolver::with_server(server),
        None => Resolver::system(),
    };
    let (resolved_tx, resolved_rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        // Trunk names are looked up before the endpoint starts, so the first REGISTER goes to them.
        let trunks = resolve_names(&resolver, trunks).await;
        let tls_names = trunks
            .iter()
            .filter(|t| t.transport == Transport::Tls)
            .map(|t| (t.proxy, server_name(t)))
            .collect();
        let hosts = trunks.iter().map(|t| t.host.clone()).collect();
        let proxies: Vec<IpAddr> = trunks.iter().map(|t| t.proxy.ip()).collect();
        let endpoint = Endpoint::new(Instant::now().into_std(), config.clone(), trunks);
        let (stream_tx, stream_rx) = mpsc::channel(1024);
        let driver = Loop {
            endpoint,
            limits: config.limits,
            options,
            sockets,
            commands: command_rx,
            registrations: reg_tx,
            health: health_tx,
            incoming: incoming_tx,
            calls: HashMap::new(),
            connections: HashMap::new(),
            accepted_per_ip: HashMap::new(),
            next_conn: 1,
            stream_tx,
            stream_rx,
            tasks: JoinSet::new(),
            tls_names,
            resolver,
            hosts,
            resolving: HashSet::new(),
            resolved_tx,
            resolved_rx,
        };
        let mut driver = driver;
        for ip in proxies {
            driver.learn_route(ip);
        }
        driver.run().await;
    });
    Driver {
        handle: SipHandle {
            commands,
            registrations,
            health,
        },
        incoming,
        task,
        local,
    }
}

/// Fills in the proxy address of every trunk named by host; one that does not resolve stays
/// [`UNRESOLVED`] (its requests fail at once, and each failure asks for a new lookup).
async fn resolve_names(resolver: &Resolver, mut trunks: Vec<TrunkConfig>) -> Vec<TrunkConfig> {
    for (i, trunk) in trunks.iter_mut().enumerate() {
        let Some(host) = &trunk.host else {
            continue;
        };
        match resolver.lookup(host, trunk.transport).await {
            Ok(addrs) => trunk.proxy = addrs.first().copied().unwrap_or(UNRESOLVED),
            Err(err) => tracing::warn!(trunk = %TrunkId(i), %err, "trunk name does not resolve yet"),
        }
    }
    trunks
}

/// The name a TLS trunk's certificate must carry: its domain (or the proxy's configured name) when
/// that is a host name, else its IP.
fn server_name(trunk: &TrunkConfig) -> rustls::pki_types::ServerName<'static> {
    let host = trunk
        .domain()
        .parse::<ProxyHost>()
        .map(|h| h.host().to_owned())
        .unwrap_or_default();
    rustls::pki_types::ServerName::try_from(host)
        .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(trunk.proxy.ip().into()))
}

/// A finished lookup of a trunk's name: the trunk, whether it was asked after a failure, and the
/// addresses found.
type Resolved = (TrunkId, bool, Result<Vec<SocketAddr>, ResolveError>);

/// A stream connection the driver knows: its id (to tell a replacement from the one that closed), the
/// sender of its task, and whether a peer opened it to us.
struct Connection {
    id: u64,
    sender: mpsc::Sender<Vec<u8>>,
    accepted: bool,
}

struct Loop {
    endpoint: Endpoint,
    limits: crate::message::Limits,
    options: DriverOptions,
    sockets: Sockets,
    commands: mpsc::Receiver<Command>,
    registrations: watch::Sender<Vec<RegistrationStatus>>,
    health: watch::Sender<Vec<Option<bool>>>,
    incoming: mpsc::Sender<IncomingCallHandle>,
    calls: HashMap<CallHandle, mpsc::UnboundedSender<CallEvent>>,
    connections: HashMap<Peer, Connection>,
    accepted_per_ip: HashMap<IpAddr, usize>,
    next_conn: u64,
    stream_tx: mpsc::Sender<StreamEvent>,
    stream_rx: mpsc::Receiver<StreamEvent>,
    tasks: JoinSet<()>,
    tls_names: HashMap<SocketAddr, rustls::pki_types::ServerName<'static>>,
    resolver: Resolver,
    /// Each trunk's configured name, for those that have one.
    hosts: Vec<Option<ProxyHost>>,
    /// Trunks with a lookup in flight.
    resolving: HashSet<TrunkId>,
    resolved_tx: mpsc::Sender<Resolved>,
    resolved_rx: mpsc::Receiver<Resolved>,
}

/// Accepts on a listener, or waits forever when there is none.
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

impl Loop {
    async fn run(mut self) {
        let mut buf = vec![0u8; 65_535];
        let mut stop_at: Option<Instant> = None;
        loop {
            self.flush().await;
            self.drain_events();
            if let Some(stop_at) = stop_at
                && (!self.endpoint.is_busy() || Instant::now() >= stop_at)
            {
                self.tasks.abort_all();
                return;
            }
            let wake = self
                .endpoint
                .poll_timeout()
                .map(Instant::from_std)
                .into_iter()
                .chain(stop_at)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let tls_listener = self.sockets.tls.as_ref().map(|(l, _)| l);
            tokio::select! {
                received = self.sockets.udp.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        // On a dual-stack socket ([::]) IPv4 peers arrive as ::ffff:a.b.c.d: name
                        // them as the IPv4 addresses trunks are configured with.
                        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                        self.learn_route(from.ip());
                        self.endpoint.handle_datagram(Instant::now().into_std(), from, &buf[..len]);
                    }
                    // ICMP port-unreachable surfaces as an error on the next receive: not fatal.
                    Err(err) => tracing::debug!(%err, "SIP receive error"),
                },
                Some(event) = self.stream_rx.recv() => self.on_stream_event(event),
                Some(resolved) = self.resolved_rx.recv() => self.on_resolved(resolved),
                accepted = accept_on(self.sockets.tcp.as_ref()) => self.on_accept(accepted, Transport::Tcp),
                accepted = accept_on(tls_listener) => self.on_accept(accepted, Transport::Tls),
                command = self.commands.recv(), if stop_at.is_none() => {
                    if self.on_command(command) {
                        stop_at = Some(Instant::now() + SHUTDOWN_GRACE);
                    }
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                () = tokio::time::sleep_until(wake) => self.endpoint.handle_timeout(Instant::now().into_std()),
            }
        }
    }

    /// Sends everything the endpoint has queued.
    async fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            if transmit.destination == UNRESOLVED {
                // A trunk whose name has not resolved: fail at once, which asks for a new lookup.
                tracing::debug!("request to an unresolved trunk");
                self.endpoint
                    .handle_transport_error(Instant::now().into_std(), transmit.peer());
                continue;
            }
            match transmit.transport {
                Transport::Udp => {
                    let to = udp_destination(&self.sockets.udp, transmit.destination);
                    if let Err(err) = self.sockets.udp.send_to(&transmit.payload, to).await {
                        tracing::warn!(%err, to = %transmit.destination, "SIP send failed");
                    }
                }
                _ => self.send_stream(transmit.peer(), transmit.payload),
            }
        }
    }

    /// Whether `ip` is one of our trunks' addresses.
    fn is_trunk(&self, ip: IpAddr) -> bool {
        self.endpoint.trunks().iter().any(|t| t.is_source(ip))
    }

    /// Whether one more connection with `ip` fits: trunks may take every slot, strangers stop short
    /// of the trunks' reserve.
    fn room_for_connection(&self, ip: IpAddr) -> bool {
        let max = self.options.max_connections;
        let limit = if self.is_trunk(ip) {
            max
        } else {
            max.saturating_sub(self.options.trunk_connections)
        };
        self.connections.len() < limit
    }

    /// Queues a message on the connection to `peer`, opening one if there is none.
    fn send_stream(&mut self, peer: Peer, payload: Vec<u8>) {
        if !self.connections.contains_key(&peer) {
            if !self.room_for_connection(peer.addr.ip()) {
                tracing::warn!(%peer, "connection cap reached: message dropped");
                self.endpoint
                    .handle_transport_error(Instant::now().into_std(), peer);
                return;
            }
            let tls = match peer.transport {
                Transport::Tls => self.options.tls_client.clone().map(|c| {
                    let name =
                        self.tls_names.get(&peer.addr).cloned().unwrap_or_else(|| {
                            rustls::pki_types::ServerName::IpAddress(peer.addr.ip().into())
                        });
                    (c, name)
                }),
                _ => None,
            };
            let conn = self.new_conn(peer, Some(self.options.ping_interval), false);
            self.tasks.spawn(stream::connect(conn, tls));
        }
        let Some(connection) = self.connections.get(&peer) else {
            return;
        };
        if let Err(err) = connection.sender.try_send(payload) {
            tracing::warn!(%peer, %err, "SIP connection backlogged: message dropped");
        }
    }

    fn new_conn(&mut self, peer: Peer, ping: Option<Duration>, accepted: bool) -> Conn {
        let (sender, outgoing) = mpsc::channel(256);
        let id = self.next_conn;
        self.next_conn += 1;
        self.connections.insert(peer, Connection { id, sender, accepted });
        Conn {
            peer,
            id,
            limits: self.limits,
            outgoing,
            events: self.stream_tx.clone(),
            ping,
            idle_timeout: self.options.idle_timeout,
        }
    }

    fn on_accept(
        &mut self,
        accepted: std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
        transport: Transport,
    ) {
        let (tcp, addr) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::debug!(%err, "accept failed");
                return;
            }
        };
        let peer = Peer { transport, addr };
        let trunk = self.is_trunk(addr.ip());
        let per_ip = self.accepted_per_ip.get(&addr.ip()).copied().unwrap_or(0);
        if !self.room_for_connection(addr.ip()) || (!trunk && per_ip >= self.options.max_connections_per_ip) {
            tracing::warn!(from = %addr, %transport, per_ip, "connection cap reached: refused");
            drop(tcp);
            return;
        }
        *self.accepted_per_ip.entry(addr.ip()).or_default() += 1;
        let acceptor = match transport {
            Transport::Tls => self.sockets.tls.as_ref().map(|(_, a)| a.clone()),
            _ => None,
        };
        let conn = self.new_conn(peer, None, true);
        self.tasks.spawn(stream::accepted(tcp, conn, acceptor));
    }

    fn on_stream_event(&mut self, event: StreamEvent) {
        let now = Instant::now().into_std();
        match event {
            StreamEvent::Message { peer, bytes } => {
                self.learn_route(peer.addr.ip());
                self.endpoint.handle_message(now, peer, &bytes);
            }
            StreamEvent::Closed { peer, id, failed } => {
                if self.connections.get(&peer).is_some_and(|c| c.id == id) {
                    if let Some(conn) = self.connections.remove(&peer)
                        && conn.accepted
                        && let Some(count) = self.accepted_per_ip.get_mut(&peer.addr.ip())
                    {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.accepted_per_ip.remove(&peer.addr.ip());
                        }
                    }
                    if failed {
                        self.endpoint.handle_transport_error(now, peer);
                    }
                }
            }
        }
    }

    /// Carries out a command; `true` when it asks for shutdown.
    fn on_command(&mut self, command: Option<Command>) -> bool {
        let now = Instant::now().into_std();
        match command {
            Some(Command::Invite {
                params,
                events,
                reply,
            }) => {
                let result = self.endpoint.invite(now, params);
                if let Ok(handle) = &result {
                    self.calls.insert(*handle, events);
                }
                let _ = reply.send(result);
                false
            }
            Some(Command::Call { call, op, reply }) => {
                let result = match op {
                    CallOp::Hangup => self.endpoint.hangup(now, call),
                    CallOp::Hold(hold) => self.endpoint.hold(now, call, hold),
                    CallOp::Reoffer(offer) => self.endpoint.reoffer(now, call, offer),
                    CallOp::Transfer(target) => self.endpoint.transfer(now, call, &target),
                    CallOp::Link(other) => self.endpoint.link(call, other),
                    CallOp::Ring => self.endpoint.ring(now, call),
                    CallOp::Accept(sdp) => self.endpoint.accept(now, call, sdp),
                    CallOp::Reject(status) => self.endpoint.reject(now, call, status),
                };
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
                    }
                    None => {
                        if let Err(err) = result {
                            tracing::debug!(%err, "call command on a finished call");
                        }
                    }
                }
                false
            }
            Some(Command::Stats(reply)) => {
                let _ = reply.send(DriverStats {
                    endpoint: self.endpoint.stats(),
                    connections: self.connections.len(),
                });
                false
            }
            Some(Command::TrunkAddr(trunk, reply)) => {
                let addr = self
                    .endpoint
                    .trunks()
                    .get(trunk.0)
                    .map(|t| t.proxy)
                    .ok_or(EndpointError::UnknownTrunk(trunk));
                // A call cannot start towards a name not resolved yet: look it up again, as a
                // failed request would, so the next call finds it.
                if addr == Ok(UNRESOLVED) {
                    self.re_resolve(trunk, true);
                }
                let _ = reply.send(addr);
                false
            }
            Some(Command::Shutdown) | None => {
                for call in self.calls.keys().copied().collect::<Vec<_>>() {
                    let _ = self.endpoint.hangup(now, call);
                }
                self.endpoint.unregister_all(now);
                true
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Registration { trunk, status } => {
                    // Each refresh and each failure looks the trunk's name up again (a failure
                    // moves on to its next address).
                    match &status {
                        RegistrationStatus::Registered { .. } => self.re_resolve(trunk, false),
                        RegistrationStatus::Failed { .. } => self.re_resolve(trunk, true),
                        _ => {}
                    }
                    self.registrations.send_modify(|all| {
                        if let Some(slot) = all.get_mut(trunk.0) {
                            *slot = status;
                        }
                    });
                }
                Event::TrunkHealth { trunk, up } => {
                    if !up {
                        self.re_resolve(trunk, true);
                    }
                    self.health.send_modify(|all| {
                        if let Some(slot) = all.get_mut(trunk.0) {
                            *slot = Some(up);
                        }
                    });
                }
                Event::TrunkMoved { proxy, .. } => self.learn_route(proxy.ip()),
                Event::Incoming(info) => self.offer_incoming(info),
                Event::Call { call, event } => {
                    let ended = matches!(event, CallEvent::Ended(_));
                    if let Some(tx) = self.calls.get(&call) {
                        let _ = tx.send(event);
                    }
                    if ended {
                        self.calls.remove(&call);
                    }
                }
                _ => {}
            }
        }
    }

    /// Starts a lookup of a trunk's name, unless it has none or one is in flight.
    fn re_resolve(&mut self, trunk: TrunkId, failed: bool) {
        let Some(Some(host)) = self.hosts.get(trunk.0).cloned() else {
            return;
        };
        let Some(transport) = self.endpoint.trunks().get(trunk.0).map(|t| t.transport) else {
            return;
        };
        if !self.resolving.insert(trunk) {
            return;
        }
        let resolver = self.resolver.clone();
        let done = self.resolved_tx.clone();
        self.tasks.spawn(async move {
            if failed {
                resolver.forget();
            }
            let result = resolver.lookup(&host, transport).await;
            let _ = done.send((trunk, failed, result)).await;
        });
    }

    /// Moves a trunk to the address a lookup found.
    fn on_resolved(&mut self, (trunk, failed, result): Resolved) {
        self.resolving.remove(&trunk);
        let Some(config) = self.endpoint.trunks().get(trunk.0) else {
            return;
        };
        let current = config.proxy;
        let addrs = match result {
            Ok(addrs) => addrs,
            Err(err) => {
                tracing::warn!(%trunk, %err, "trunk lookup failed: keeping its address");
                return;
            }
        };
        let Some(next) = resolve::pick(&addrs, current, failed) else {
            return;
        };
        if next != current {
            if config.transport == Transport::Tls {
                self.tls_names.insert(next, server_name(config));
            }
            let _ = self.endpoint.set_trunk_proxy(trunk, next);
            self.learn_route(next.ip());
        }
    }

    /// Looks up our route towards `ip` when the endpoint needs it (bound to the unspecified address
    /// and not known yet): one connect of a throw-away UDP socket, no packet sent.
    fn learn_route(&mut self, ip: IpAddr) {
        if ip.is_unspecified() || !self.endpoint.needs_route(ip) {
            return;
        }
        match local_ip_towards(ip) {
            Ok(local) => {
                tracing::debug!(peer = %ip, %local, "route learned");
                self.endpoint.learn_route(ip, local);
            }
            Err(err) => tracing::warn!(peer = %ip, %err, "no route towards this peer"),
        }
    }

    /// Hands an inbound call to the application, or refuses it when nobody takes calls.
    fn offer_incoming(&mut self, info: IncomingCall) {
        let call = info.call;
        let (events_tx, events) = mpsc::unbounded_channel();
        match self.incoming.try_send(IncomingCallHandle { info, events }) {
            Ok(()) => {
                self.calls.insert(call, events_tx);
            }
            Err(err) => {
                let why = match err {
                    mpsc::error::TrySendError::Full(_) => "inbound queue full",
                    mpsc::error::TrySendError::Closed(_) => "nobody takes inbound calls",
                };
                tracing::info!(%call, why, "inbound call refused");
                let _ = self.endpoint.reject(Instant::now().into_std(), call, 480);
            }
        }
    }
}
