//! The sans-IO user agent: owns the registrations, the calls in both directions and their transactions,
//! the trunks' keep-alives and the guard against abuse, and turns everything into messages to send,
//! events to report and one next deadline. Call order, as in quinn: feed `handle_message` /
//! `handle_timeout` and the commands, then drain `poll_transmit` and `poll_event`, then sleep until
//! `poll_timeout`.
//!
//! The parts: this file (commands, responses, timers), [`uas`](self) for requests (server transactions,
//! in-dialog requests, ACK and CANCEL), `inbound` for the admission of new calls from trunks, and
//! `keepalive` for the OPTIONS pings that watch each trunk.

use crate::address::{self, AddressError};
use crate::call::timer::SessionTimerConfig;
use crate::call::{Call, CallAction, CallContext, CallEvent, CallHandle, CallIds, InviteParams};
use crate::guard::{Guard, GuardConfig};
use crate::message::verdict;
use crate::message::{self, IncomingRequest, IncomingResponse, Limits, Message, Method, ParseError, Request};
use crate::outgoing::{Local, OutgoingRequest, response_to};
use crate::redact::Redacted;
use crate::registration::{RegisterContext, Registration, RegistrationAction, RegistrationStatus};
use crate::sdp::Offer;
use crate::timer::TimerConfig;
use crate::transaction::server::{ServerOutput, ServerState, ServerTransaction};
use crate::transaction::{ClientOutput, ClientState, ClientTransaction, Transmit};
use crate::transport::{Peer, Transport};
use crate::trunk::{TrunkConfig, TrunkId};
use keepalive::Keepalive;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

mod inbound;
mod keepalive;
mod uas;

pub use inbound::IncomingCall;

pub(crate) use crate::call::ALLOW;
pub(crate) use crate::transaction::server::{ServerKey, server_key};

/// Errors from commands given to the endpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No trunk with this id.
    #[error("unknown {0}")]
    UnknownTrunk(TrunkId),
    /// No call with this handle (it may have ended).
    #[error("unknown {0}")]
    UnknownCall(CallHandle),
    /// The configured cap on simultaneous calls is reached.
    #[error("too many calls (at most {0})")]
    TooManyCalls(usize),
    /// The call is not in a state that allows this (not answered yet, already ending, another
    /// re-offer or transfer in progress, or not an inbound call waiting for an answer).
    #[error("{0} cannot do this now")]
    WrongState(CallHandle),
    /// A transfer target is not a SIP URI or a phone number.
    #[error("bad transfer target")]
    BadTarget,
}

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The address our UDP socket is bound to.
    pub local_addr: SocketAddr,
    /// Address to advertise in Via and Contact when behind NAT; `local_addr` otherwise. For TCP and
    /// TLS its IP is used with the listener's port.
    pub public_addr: Option<SocketAddr>,
    /// The TCP listener's address, if we listen on TCP.
    pub tcp_addr: Option<SocketAddr>,
    /// The TLS listener's address, if we listen on TLS.
    pub tls_addr: Option<SocketAddr>,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// RFC 3261 timer values.
    pub timers: TimerConfig,
    /// RFC 4028 session timers.
    pub session_timers: SessionTimerConfig,
    /// Message limits.
    pub limits: Limits,
    /// Most calls (both directions) at once; further INVITEs get 503 and [`Endpoint::invite`] fails.
    pub max_calls: usize,
    /// Most server transactions held at once. Each lingers after its answer (64*T1 over UDP, to
    /// absorb retransmissions), so a flood of requests from distinct sources, each under the guard's
    /// per-source rate, would otherwise grow the table without bound. Strangers (sources that are
    /// not a trunk's) may fill it only up to `max_server_transactions - trunk_server_transactions`;
    /// past that their new requests are dropped unanswered (see [`Endpoint::handle_message`]).
    pub max_server_transactions: usize,
    /// Server transactions only trunks may use: a flood of strangers cannot keep a trunk's calls
    /// out. A trunk's request that finds the whole table full is answered 503 (Retry-After).
    pub trunk_server_transactions: usize,
    /// Rate limits and bans for sources that are not trunks.
    pub guard: GuardConfig,
    /// Seed for tags, branches and Call-IDs; `None` seeds from the OS. Tests fix it.
    pub seed: Option<u64>,
}

impl EndpointConfig {
    /// Defaults for a socket bound at `local_addr`.
    pub fn new(local_addr: SocketAddr) -> Self {
        Self {
            local_addr,
            public_addr: None,
            tcp_addr: None,
            tls_addr: None,
            user_agent: concat!("Ringback/", env!("CARGO_PKG_VERSION")).to_owned(),
            timers: TimerConfig::default(),
            session_timers: SessionTimerConfig::default(),
            limits: Limits::default(),
            max_calls: 1000,
            // A trunk's call leaves two transactions lingering 64*T1 (32 s) after their answers
            // (INVITE, BYE): 32 768 carries about 500 calls a second, far past what one node's media
            // and speech can take, and holds tens of megabytes at most.
            max_server_transactions: 32_768,
            trunk_server_transactions: 8_192,
            guard: GuardConfig::default(),
            seed: None,
        }
    }

    /// The address our listener on `transport` is bound to.
    fn bound(&self, transport: Transport) -> SocketAddr {
        let listener = match transport {
            Transport::Udp => Some(self.local_addr),
            Transport::Tcp => self.tcp_addr,
            Transport::Tls => self.tls_addr,
        };
        listener.unwrap_or(self.local_addr)
    }

    /// Whether the address we advertise depends on the peer: bound to the unspecified address with
    /// no public address configured, so each peer is told our address on the route towards it.
    pub fn needs_routes(&self) -> bool {
        self.public_addr.is_none()
            && [Transport::Udp, Transport::Tcp, Transport::Tls]
                .iter()
                .any(|t| self.bound(*t).ip().is_unspecified())
    }

    /// The IP we advertise to `peer` when our local address on the route towards it is `route`
    /// (see [`address::advertised_ip`]); for a check at start-up, before any message is sent.
    pub fn advertised_ip(
        &self,
        transport: Transport,
        route: Option<IpAddr>,
        peer: IpAddr,
    ) -> Result<IpAddr, AddressError> {
        let public = self.public_addr.map(|a| a.ip());
        address::advertised_ip(self.bound(transport).ip(), public, route, peer)
    }

    /// How we name ourselves on `transport` when the peer does not matter (a configured or
    /// specific address).
    fn local(&self, transport: Transport) -> Local {
        let bound = self.bound(transport);
        let addr = match (self.public_addr, transport) {
            (Some(public), Transport::Udp) => public,
            (Some(public), _) => SocketAddr::new(public.ip(), bound.port()),
            (None, _) => bound,
        };
        Local {
            transport,
            host: addr.to_string(),
        }
    }
}

/// Our name on `transport`, from the per-transport table.
fn local_of(locals: &[Local; 3], transport: Transport) -> &Local {
    match transport {
        Transport::Udp => &locals[0],
        Transport::Tcp => &locals[1],
        Transport::Tls => &locals[2],
    }
}

/// What the endpoint reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A trunk's registration changed.
    Registration {
        /// The trunk.
        trunk: TrunkId,
        /// Its new status.
        status: RegistrationStatus,
    },
    /// A trunk's keep-alive found it reachable (`up`) or not.
    TrunkHealth {
        /// The trunk.
        trunk: TrunkId,
        /// Whether it answered.
        up: bool,
    },
    /// A trunk with several proxies moved to another (a failure, or back to its primary after
    /// its failback time).
    TrunkMoved {
        /// The trunk.
        trunk: TrunkId,
        /// The proxy now in use.
        proxy: SocketAddr,
    },
    /// A trunk delivers a call: answer it with [`Endpoint::accept`] or [`Endpoint::reject`].
    Incoming(IncomingCall),
    /// Something happened to a call.
    Call {
        /// The call.
        call: CallHandle,
        /// What happened.
        event: CallEvent,
    },
    /// A message was dropped as malformed (counted, never fatal).
    Malformed {
        /// Who sent it.
        from: SocketAddr,
    },
    /// A source was banned for a while; its messages are dropped unanswered until then.
    Banned {
        /// The source.
        ip: IpAddr,
        /// Why.
        reason: &'static str,
    },
}

/// What the endpoint holds at one moment: for health checks, and for tests that a finished call left
/// nothing behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Calls in progress, both directions.
    pub calls: usize,
    /// Client transactions not yet terminated (including those absorbing retransmissions).
    pub client_transactions: usize,
    /// Server transactions not yet terminated.
    pub server_transactions: usize,
    /// New requests refused since start because the server transaction table was full (dropped
    /// from strangers, 503 to trunks).
    pub server_transactions_refused: u64,
}

/// Who a client transaction works for.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Registration(TrunkId),
    Call(CallHandle),
    Keepalive(TrunkId),
}

/// A server transaction with what the endpoint needs to match ACKs and CANCELs to it.
#[derive(Debug)]
struct ServerEntry {
    txn: ServerTransaction,
    call_id: String,
    cseq: u32,
    /// The request, kept while it may still be answered (a CANCEL needs the INVITE for the 487; an
    /// inbound INVITE waits for the application).
    request: Option<Request>,
    /// The call this INVITE created or belongs to, told when our 2xx is never acknowledged.
    call: Option<CallHandle>,
    /// Whether the request came from a stranger (not a trunk's address): its answers carry no
    /// `Server` header.
    stranger: bool,
}

/// The user agent core.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    locals: [Local; 3],
    trunks: Vec<TrunkConfig>,
    /// Per trunk, when it left its primary proxy for a backup (`TrunkConfig::failover`).
    failed_over_at: Vec<Option<Instant>>,
    registrations: Vec<Registration>,
    keepalives: Vec<Keepalive>,
    calls: HashMap<CallHandle, Call>,
    /// Call-ID to call, for matching in-dialog requests and late 2xx responses.
    by_call_id: HashMap<String, CallHandle>,
    /// Legs that end together (a call and its hand-off to a human).
    links: HashMap<CallHandle, CallHandle>,
    transactions: HashMap<(String, String), (ClientTransaction, Owner)>,
    servers: HashMap<ServerKey, ServerEntry>,
    /// New requests refused for want of room in `servers`.
    servers_refused: u64,
    guard: Guard,
    nonces: inbound::Nonces,
    next_call: u64,
    rng: StdRng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    scratch: Vec<Transmit>,
    /// Our local IP on the route towards each peer, learned from the driver; used when bound to the
    /// unspecified address. Bounded by [`MAX_ROUTES`].
    routes: HashMap<IpAddr, IpAddr>,
    /// Where a registrar saw our REGISTERs come from, when that differs from what we advertised
    /// (NAT): advertised to that registrar from then on (UDP only).
    reported: HashMap<SocketAddr, SocketAddr>,
}

/// Most peers whose route we remember; a source spraying from many addresses cannot grow the table
/// beyond this (those past it are told the address of a trunk's route).
const MAX_ROUTES: usize = 4096;

impl Endpoint {
    /// An endpoint with the given trunks; those configured to register start doing so at `now`, and
    /// those with a keep-alive interval send their first OPTIONS at `now`.
    pub fn new(now: Instant, config: EndpointConfig, trunks: Vec<TrunkConfig>) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let locals = [
            config.local(Transport::Udp),
            config.local(Transport::Tcp),
            config.local(Transport::Tls),
        ];
        let guard = Guard::new(config.guard.clone());
        let mut endpoint = Self {
            config,
            locals,
            trunks: Vec::new(),
            failed_over_at: Vec::new(),
            registrations: Vec::new(),
            keepalives: Vec::new(),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            links: HashMap::new(),
            transactions: HashMap::new(),
            servers: HashMap::new(),
            servers_refused: 0,
            guard,
            nonces: inbound::Nonces::default(),
            next_call: 1,
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            routes: HashMap::new(),
            reported: HashMap::new(),
        };
        for (i, trunk) in trunks.into_iter().enumerate() {
            if trunk.register && trunk.credentials.is_some() {
                let call_id = endpoint.token(16);
                let tag = endpoint.token(10);
                endpoint
                    .registrations
                    .push(Registration::new(now, TrunkId(i), trunk.clone(), call_id, tag));
            }
            if let Some(interval) = trunk.keepalive {
                endpoint
                    .keepalives
                    .push(Keepalive::new(now, TrunkId(i), interval));
            }
            // A trunk with several proxies starts on its primary.
            let mut trunk = trunk;
            if let Some(primary) = trunk.failover.first() {
                trunk.proxy = *primary;
            }
            endpoint.trunks.push(trunk);
            endpoint.failed_over_at.push(None);
        }
        endpoint
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token(16))
    }

    /// How we name ourselves to `peer`: the configured public address if any; else where its
    /// registrar told us it sees us (NAT); else the bound address when it is a specific one; else our
    /// address on the route towards the peer (learned by [`learn_route`](Self::learn_route)).
    fn local_for(&self, peer: Peer) -> Local {
        let fixed = local_of(&self.locals, peer.transport);
        if self.config.public_addr.is_some() {
            return fixed.clone();
        }
        if peer.transport == Transport::Udp
            && let Some(addr) = self.reported.get(&peer.addr)
        {
            return Local {
                transport: peer.transport,
                host: addr.to_string(),
            };
        }
        let bound = self.config.bound(peer.transport);
        if !bound.ip().is_unspecified() {
            return fixed.clone();
        }
        let ip = self.route_to(peer.addr.ip());
        Local {
            transport: peer.transport,
            host: SocketAddr::new(ip, bound.port()).to_string(),
        }
    }

    /// Our IP towards `peer` when bound to the unspecified address: the learned route. For a peer
    /// whose route is unknown (the table is full): loopback for a loopback peer, else a trunk's
    /// route, else any route learned (the driver learns every trunk's at start, and the server
    /// refuses to start when one has none); only with no route at all, the bound address.
    fn route_to(&self, peer: IpAddr) -> IpAddr {
        if let Some(ip) = self.routes.get(&peer) {
            return *ip;
        }
        if peer.is_loopback() {
            return peer;
        }
        let routable = |ip: &&IpAddr| !ip.is_loopback();
        let known = self
            .trunks
            .iter()
            .find_map(|t| self.routes.get(&t.proxy.ip()).filter(routable))
            .or_else(|| self.routes.values().find(routable));
        match known {
            Some(ip) => *ip,
            None => {
                tracing::debug!(%peer, "no route known towards this peer: naming the bound address");
                self.config.local_addr.ip()
            }
        }
    }

    /// How registration `i` names us to its registrar.
    fn registration_local(&self, i: usize) -> Local {
        let trunk = self.registrations[i].trunk();
        match self.trunks.get(trunk.0) {
            Some(config) => self.local_for(self.trunk_peer(config)),
            None => local_of(&self.locals, self.registrations[i].transport()).clone(),
        }
    }

    /// Whether the endpoint wants to know our route towards `peer` (see
    /// [`learn_route`](Self::learn_route)): bound to the unspecified address, not known yet, and
    /// room in the table.
    pub fn needs_route(&self, peer: IpAddr) -> bool {
        self.config.needs_routes() && !self.routes.contains_key(&peer) && self.routes.len() < MAX_ROUTES
    }

    /// Tells the endpoint our local IP on the route towards `peer` (the driver connects a UDP socket
    /// to the peer and reads its local address). An unspecified `local` is ignored.
    pub fn learn_route(&mut self, peer: IpAddr, local: IpAddr) {
        if local.is_unspecified() || self.routes.len() >= MAX_ROUTES {
            return;
        }
        self.routes.insert(peer, local);
    }

    /// A registrar's 2xx says where it saw our REGISTER come from (top Via `received`/`rport`).
    /// When that differs from what we advertised, it becomes what we advertise to it (Via and
    /// Contact of later REGISTERs and calls), and the registration is refreshed at once, removing
    /// the binding of the old Contact. Returns that old Contact, if it changed. Only for UDP and when
    /// no public address is configured (the operator's word wins).
    fn note_reported(&mut self, peer: Peer, response: &IncomingResponse, user: &str) -> Option<String> {
        if peer.transport != Transport::Udp || self.config.public_addr.is_some() {
            return None;
        }
        let top = response.msg.headers.values("via").next()?;
        let first = message::grammar::split_commas(top).into_iter().next()?;
        let reported = address::reported_address(&message::grammar::via(first).ok()?)?;
        let before = self.local_for(peer);
        if before.host == reported.to_string() || reported.ip().is_unspecified() {
            return None;
        }
        tracing::info!(
            registrar = %peer.addr,
            advertised = %before.host,
            %reported,
            "the registrar sees us at another address (NAT): advertising that to it from now on"
        );
        self.reported.insert(peer.addr, reported);
        Some(before.contact(user))
    }

    fn trunk_peer(&self, trunk: &TrunkConfig) -> Peer {
        Peer {
            transport: trunk.transport,
            addr: trunk.proxy,
        }
    }

    /// The configured trunks.
    pub fn trunks(&self) -> &[TrunkConfig] {
        &self.trunks
    }

    /// Moves a trunk to a new proxy address (the driver looked its name up again). Requests already
    /// sent and calls in progress keep their address; the next REGISTER, keep-alive and call use this
    /// one, and calls from it are taken as the trunk's.
    pub fn set_trunk_proxy(&mut self, trunk: TrunkId, addr: SocketAddr) -> Result<(), EndpointError> {
        let config = self
            .trunks
            .get_mut(trunk.0)
            .ok_or(EndpointError::UnknownTrunk(trunk))?;
        if config.proxy != addr {
            tracing::info!(%trunk, from = %config.proxy, to = %addr, "trunk proxy moved");
            config.proxy = addr;
            for reg in self.registrations.iter_mut().filter(|r| r.trunk() == trunk) {
                reg.set_proxy(addr);
            }
        }
        Ok(())
    }

    /// Moves a trunk with several proxies to `proxy` (a failure elsewhere, or the failback), and
    /// remembers when it left its primary.
    fn move_trunk(&mut self, now: Instant, trunk: TrunkId, proxy: SocketAddr) {
        let Some(config) = self.trunks.get(trunk.0) else {
            return;
        };
        if config.proxy == proxy {
            return;
        }
        let primary = config.failover.first().copied();
        let _ = self.set_trunk_proxy(trunk, proxy);
        if let Some(slot) = self.failed_over_at.get_mut(trunk.0) {
            *slot = (Some(proxy) != primary).then_some(now);
        }
        self.events.push_back(Event::TrunkMoved { trunk, proxy });
    }

    /// Trunks that have been on a backup proxy for their failback time go back to their primary
    /// (which the next request or keep-alive then tests).
    fn fail_back(&mut self, now: Instant) {
        for i in 0..self.trunks.len() {
            let Some(since) = self.failed_over_at.get(i).copied().flatten() else {
                continue;
            };
            let trunk = &self.trunks[i];
            if now < since + trunk.failback {
                continue;
            }
            if let Some(primary) = trunk.failover.first().copied() {
                tracing::info!(trunk = %TrunkId(i), %primary, "failback: back to the primary proxy");
                self.move_trunk(now, TrunkId(i), primary);
            }
        }
    }

    /// Counts of calls and transactions held now.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            calls: self.calls.len(),
            client_transactions: self.transactions.len(),
            server_transactions: self.servers.len(),
            server_transactions_refused: self.servers_refused,
        }
    }

    /// How many calls are in progress (both directions).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    fn new_ids(&mut self) -> CallIds {
        CallIds {
            call_id: format!("{}@ringback", self.token(20)),
            local_tag: self.token(10),
            token: self.token(12),
        }
    }

    /// Places a call; progress arrives as [`Event::Call`].
    pub fn invite(&mut self, now: Instant, params: InviteParams) -> Result<CallHandle, EndpointError> {
        let trunk = self
            .trunks
            .get(params.trunk.0)
            .cloned()
            .ok_or(EndpointError::UnknownTrunk(params.trunk))?;
        if self.calls.len() >= self.config.max_calls {
            return Err(EndpointError::TooManyCalls(self.config.max_calls));
        }
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let ids = self.new_ids();
        let next_hop = self.trunk_peer(&trunk);
        tracing::info!(call = %handle, trunk = %trunk.name, to = %Redacted(&params.to_user), "placing call");
        let local = self.local_for(next_hop);
        let ctx = CallContext {
            now,
            local: &local,
            timers: self.config.session_timers,
        };
        let (call, invite) = Call::outbound(handle, params.trunk, trunk, params, ids, next_hop, &ctx);
        self.by_call_id.insert(call.call_id().to_owned(), handle);
        self.calls.insert(handle, call);
        self.start_transaction(now, invite, next_hop, Owner::Call(handle));
        Ok(handle)
    }

    /// Runs `f` on a call with a context, then carries out what it asked for.
    fn with_call(
        &mut self,
        now: Instant,
        handle: CallHandle,
        f: impl FnOnce(&mut Call, &CallContext<'_>) -> Vec<CallAction>,
    ) -> Result<(), EndpointError> {
        let peer = self
            .calls
            .get(&handle)
            .map(Call::next_hop)
            .ok_or(EndpointError::UnknownCall(handle))?;
        let local = self.local_for(peer);
        let call = self
            .calls
            .get_mut(&handle)
            .ok_or(EndpointError::UnknownCall(handle))?;
        let ctx = CallContext {
            now,
            local: &local,
            timers: self.config.session_timers,
        };
        let actions = f(call, &ctx);
        self.apply_call_actions(now, handle, actions);
        Ok(())
    }

    /// Hangs up: CANCEL before answer, a refusal (480) of an inbound call not yet accepted, BYE after.
    pub fn hangup(&mut self, now: Instant, handle: CallHandle) -> Result<(), EndpointError> {
        self.with_call(now, handle, |call, ctx| call.hangup(ctx))
    }

    /// Puts an answered call on hold (re-INVITE with `sendonly`), or resumes it (`sendrecv`). The
    /// outcome arrives as [`CallEvent::MediaChanged`] or [`CallEvent::MediaRefused`].
    pub fn hold(&mut self, now: Instant, handle: CallHandle, hold: bool) -> Result<(), EndpointError> {
        self.check_can_reoffer(handle)?;
        self.with_call(now, handle, |call, ctx| call.hold(hold, ctx))
    }

    /// Offers new media on an answered call (a new RTP port, or another codec list), by re-INVITE.
    /// The version of the description is ours to keep: `offer` only says what to offer.
    pub fn reoffer(&mut self, now: Instant, handle: CallHandle, offer: Offer) -> Result<(), EndpointError> {
        self.check_can_reoffer(handle)?;
        self.with_call(now, handle, |call, ctx| call.reoffer(offer, ctx))
    }

    fn check_can_reoffer(&self, handle: CallHandle) -> Result<(), EndpointError> {
        let call = self
            .calls
            .get(&handle)
            .ok_or(EndpointError::UnknownCall(handle))?;
        if call.can_reoffer() {
            Ok(())
        } else {
            Err(EndpointError::WrongState(handle))
        }
    }

    /// Blind transfer: asks the far end of an answered call to call `target` instead (REFER). `target`
    /// is a SIP URI, or a phone number dialled through the call's trunk. Progress arrives as
    /// [`CallEvent::Transfer`]; on success our leg ends with a BYE.
    pub fn transfer(&mut self, now: Instant, handle: CallHandle, target: &str) -> Result<(), EndpointError> {
        let call = self
            .calls
            .get(&handle)
            .ok_or(EndpointError::UnknownCall(handle))?;
        let target = self.transfer_uri(call.trunk(), target)?;
        if !call.is_established() {
            return Err(EndpointError::WrongState(handle));
        }
        self.with_call(now, handle, |call, ctx| call.transfer(&target, ctx))
    }

    fn transfer_uri(&self, trunk: TrunkId, target: &str) -> Result<String, EndpointError> {
        let target = target.trim();
        let lower = target.to_ascii_lowercase();
        if lower.starts_with("sip:") || lower.starts_with("sips:") || lower.starts_with("tel:") {
            message::grammar::check_uri(target).map_err(|_| EndpointError::BadTarget)?;
            return Ok(target.to_owned());
        }
        let digits = target.strip_prefix('+').unwrap_or(target);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EndpointError::BadTarget);
        }
        let domain = self
            .trunks
            .get(trunk.0)
            .map(TrunkConfig::domain)
            .ok_or(EndpointError::UnknownTrunk(trunk))?;
        Ok(format!("sip:{target}@{domain}"))
    }

    /// Ties two calls together: when either ends, the other is hung up. For a hand-off to a human,
    /// where the application bridges the media of both legs.
    pub fn link(&mut self, a: CallHandle, b: CallHandle) -> Result<(), EndpointError> {
        for handle in [a, b] {
            if !self.calls.contains_key(&handle) {
                return Err(EndpointError::UnknownCall(handle));
            }
        }
        self.links.insert(a, b);
        self.links.insert(b, a);
        Ok(())
    }

    /// Unregisters every registered trunk (on shutdown).
    pub fn unregister_all(&mut self, now: Instant) {
        for i in 0..self.registrations.len() {
            let (branch, cnonce) = (self.branch(), self.token(12));
            let local = self.registration_local(i);
            let ctx = RegisterContext {
                local: &local,
                branch: &branch,
                cnonce: &cnonce,
            };
            if let Some(action) = self.registrations[i].unregister(&ctx) {
                let trunk = self.registrations[i].trunk();
                self.apply_registration_actions(now, trunk, vec![action]);
            }
        }
        self.keepalives.clear();
    }

    /// Whether any call or REGISTER is still in progress (for a graceful shutdown).
    pub fn is_busy(&self) -> bool {
        !self.calls.is_empty() || self.registrations.iter().any(|r| r.pending_branch().is_some())
    }

    /// Feeds one received UDP datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle_message(now, Peer::udp(from), bytes);
    }

    /// Feeds one received message: a UDP datagram, or one message framed from a stream (see
    /// [`StreamFramer`](crate::transport::StreamFramer)).
    pub fn handle_message(&mut self, now: Instant, from: Peer, bytes: &[u8]) {
        // Keep-alive CRLFs (RFC 5626) carry nothing.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let trusted = self.is_trunk_source(from.addr.ip());
        if !trusted && !self.guard.admit(now, from.addr.ip()) {
            self.report_bans();
            return;
        }
        let framed = match message::frame(bytes, &self.config.limits) {
            Ok(framed) => framed,
            Err(err) => {
                tracing::debug!(from = %from, %err, "dropping unreadable SIP message");
                self.malformed(now, from, trusted);
                return;
            }
        };
        let message::Framed { message, error } = framed;
        if let Some(err) = error {
            if let Message::Request(request) = &message {
                self.refuse_malformed(from, request, &err);
            }
            tracing::debug!(from = %from, %err, "malformed SIP message");
            self.malformed(now, from, trusted);
            return;
        }
        match message {
            Message::Request(msg) => match message::common_fields(&msg.headers) {
                Ok(common) => {
                    let request = IncomingRequest { msg, common };
                    if !trusted && self.guard.inspect(now, from.addr.ip(), &request) {
                        self.report_bans();
                        return;
                    }
                    self.on_request(now, from, request);
                }
                Err(err) => {
                    self.refuse_malformed(from, &msg, &err);
                    self.malformed(now, from, trusted);
                }
            },
            Message::Response(msg) => match message::common_fields(&msg.headers) {
                Ok(common) => {
                    let (status, reason) = (msg.status, msg.reason.clone());
                    let response = IncomingResponse {
                        msg,
                        common,
                        status,
                        reason,
                    };
                    self.on_response(now, response);
                }
                Err(_) => self.malformed(now, from, trusted),
            },
        }
    }

    fn malformed(&mut self, now: Instant, from: Peer, trusted: bool) {
        self.events.push_back(Event::Malformed { from: from.addr });
        if !trusted {
            self.guard.strike(now, from.addr.ip(), "malformed messages");
            self.report_bans();
        }
    }

    fn report_bans(&mut self) {
        while let Some((ip, reason)) = self.guard.poll_ban() {
            tracing::warn!(%ip, reason, "source banned");
            self.events.push_back(Event::Banned { ip, reason });
        }
    }

    /// Whether `ip` is one of our trunks (its proxy, or a configured source network). Trunks are
    /// never rate limited.
    fn is_trunk_source(&self, ip: IpAddr) -> bool {
        self.trunks.iter().any(|t| t.is_source(ip))
    }

    /// The `Server` header of an answer to `ip`: our name and version for a trunk, nothing for a
    /// stranger (a product and version tell a scanner which exploits to try).
    fn server_header(&self, ip: IpAddr) -> &str {
        if self.is_trunk_source(ip) {
            &self.config.user_agent
        } else {
            ""
        }
    }

    /// A stream connection failed or closed: requests in flight towards it fail now rather than at
    /// their timeout (RFC 3261 8.1.3.1 treats a transport error like a 503).
    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        let failed: Vec<(String, String)> = self
            .transactions
            .iter()
            .filter(|(_, (t, _))| t.destination() == peer && t.state() != ClientState::Terminated)
            .map(|(k, _)| k.clone())
            .collect();
        for key in failed {
            if let Some((txn, owner)) = self.transactions.remove(&key) {
                tracing::debug!(%peer, method = %txn.request().method, "transport error");
                self.on_transaction_timeout(now, owner, &txn.request().method.clone());
            }
        }
    }

    /// Answers a malformed request (never an ACK) with 400 or 505 at its source address: its Via
    /// cannot be trusted, but the header fields a response copies are known.
    fn refuse_malformed(&mut self, from: Peer, request: &Request, err: &ParseError) {
        if request.method == Method::Ack {
            return;
        }
        let status = err.response_status();
        let reason = verdict::reason_phrase(status);
        let tag = self.token(10);
        let payload = response_to(
            request,
            status,
            reason,
            Some(&tag),
            &[],
            self.server_header(from.addr.ip()),
        );
        self.transmits.push_back(Transmit {
            transport: from.transport,
            destination: from.addr,
            payload,
        });
    }

    fn on_response(&mut self, now: Instant, response: IncomingResponse) {
        // A response with more than one Via was not meant for us (RFC 3261 8.1.3.3).
        let vias: usize = response
            .msg
            .headers
            .values("via")
            .map(|v| message::grammar::split_commas(v).len())
            .sum();
        if vias != 1 {
            tracing::debug!(vias, "dropping a response with more than one Via");
            return;
        }
        let key = (
            response.common.branch.clone(),
            response.common.cseq_method.to_string(),
        );
        if let Some((txn, owner)) = self.transactions.get_mut(&key) {
            let owner = *owner;
            self.scratch.clear();
            let output = txn.handle_response(now, response, &mut self.scratch);
            if txn.state() == ClientState::Terminated {
                self.transactions.remove(&key);
            }
            self.transmits.extend(self.scratch.drain(..));
            if let Some(ClientOutput::Response(response)) = output {
                self.deliver(now, owner, &response);
            }
            return;
        }
        // A 2xx retransmission after the INVITE transaction ended belongs to the dialog, which ACKs it.
        if response.common.cseq_method == Method::Invite
            && (200..300).contains(&response.status)
            && let Some(handle) = self.by_call_id.get(&response.common.call_id).copied()
        {
            let _ = self.with_call(now, handle, |call, _| call.handle_late_2xx(&response));
        }
    }

    fn deliver(&mut self, now: Instant, owner: Owner, response: &IncomingResponse) {
        match owner {
            Owner::Registration(trunk) => {
                let (branch, cnonce) = (self.branch(), self.token(12));
                let Some(i) = self.registrations.iter().position(|r| r.trunk() == trunk) else {
                    return;
                };
                let rebind = if (200..300).contains(&response.status) {
                    let peer = self.trunk_peer(&self.trunks[trunk.0]);
                    let user = self.trunks[trunk.0].local_user().to_owned();
                    self.note_reported(peer, response, &user)
                } else {
                    None
                };
                let local = self.registration_local(i);
                let ctx = RegisterContext {
                    local: &local,
                    branch: &branch,
                    cnonce: &cnonce,
                };
                let actions = self.registrations[i].handle_response(now, response, &ctx);
                if let Some(old_contact) = rebind {
                    self.registrations[i].rebind(now, old_contact);
                }
                self.apply_registration_actions(now, trunk, actions);
            }
            Owner::Call(handle) => {
                let _ = self.with_call(now, handle, |call, ctx| call.handle_response(response, ctx));
            }
            Owner::Keepalive(trunk) => {
                if response.status >= 200 {
                    self.keepalive_answered(now, trunk);
                }
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(String, String)> = self
            .transactions
            .iter()
            .filter(|(_, (t, _))| t.poll_timeout().is_some_and(|at| at <= now))
            .map(|(b, _)| b.clone())
            .collect();
        for key in due {
            let Some((txn, owner)) = self.transactions.get_mut(&key) else {
                continue;
            };
            let owner = *owner;
            let method = txn.request().method.clone();
            self.scratch.clear();
            let output = txn.handle_timeout(now, &mut self.scratch);
            self.transmits.extend(self.scratch.drain(..));
            if let Some(ClientOutput::Timeout) = output {
                self.on_transaction_timeout(now, owner, &method);
            }
        }
        self.transactions
            .retain(|_, (t, _)| t.state() != ClientState::Terminated);
        for i in 0..self.registrations.len() {
            let (branch, cnonce) = (self.branch(), self.token(12));
            let local = self.registration_local(i);
            let ctx = RegisterContext {
                local: &local,
                branch: &branch,
                cnonce: &cnonce,
            };
            if let Some(action) = self.registrations[i].handle_timeout(now, &ctx) {
                let trunk = self.registrations[i].trunk();
                self.apply_registration_actions(now, trunk, vec![action]);
            }
        }
        self.send_keepalives(now);
        self.fail_back(now);
        let due_calls: Vec<CallHandle> = self
            .calls
            .values()
            .filter(|c| c.poll_timeout().is_some_and(|at| at <= now))
            .map(Call::handle)
            .collect();
        for handle in due_calls {
            let _ = self.with_call(now, handle, |call, ctx| call.handle_timeout(ctx));
        }
        self.scratch.clear();
        let mut unacknowledged = Vec::new();
        for entry in self.servers.values_mut() {
            if entry.txn.poll_timeout().is_some_and(|at| at <= now)
                && let Some(ServerOutput::AckTimeout { status }) =
                    entry.txn.handle_timeout(now, &mut self.scratch)
            {
                tracing::debug!(status, call_id = %entry.call_id, "no ACK for our final response");
                if (200..300).contains(&status)
                    && let Some(call) = entry.call
                {
                    unacknowledged.push(call);
                }
            }
        }
        self.transmits.extend(self.scratch.drain(..));
        self.servers
            .retain(|_, e| e.txn.state() != ServerState::Terminated);
        for handle in unacknowledged {
            let _ = self.with_call(now, handle, |call, ctx| call.handle_ack_timeout(ctx));
        }
        self.guard.expire(now);
        self.nonces.expire(now);
    }

    fn on_transaction_timeout(&mut self, now: Instant, owner: Owner, method: &Method) {
        match owner {
            Owner::Registration(trunk) => {
                let Some(reg) = self.registrations.iter_mut().find(|r| r.trunk() == trunk) else {
                    return;
                };
                let actions = reg.handle_transaction_timeout(now);
                self.apply_registration_actions(now, trunk, actions);
            }
            Owner::Call(handle) => {
                let _ = self.with_call(now, handle, |call, ctx| {
                    call.handle_transaction_timeout(method, ctx)
                });
            }
            Owner::Keepalive(trunk) => self.keepalive_failed(now, trunk),
        }
    }

    fn apply_registration_actions(&mut self, now: Instant, trunk: TrunkId, actions: Vec<RegistrationAction>) {
        for action in actions {
            match action {
                RegistrationAction::Send(request) => {
                    let peer = self.trunk_peer(&self.trunks[trunk.0]);
                    self.start_transaction(now, *request, peer, Owner::Registration(trunk));
                }
                RegistrationAction::Status(status) => {
                    tracing::info!(%trunk, ?status, "registration");
                    self.events.push_back(Event::Registration { trunk, status });
                }
            }
        }
    }

    fn apply_call_actions(&mut self, now: Instant, handle: CallHandle, actions: Vec<CallAction>) {
        let Some(mut peer) = self.calls.get(&handle).map(Call::next_hop) else {
            return;
        };
        let mut ended = false;
        for action in actions {
            match action {
                CallAction::Send(request) => self.start_transaction(now, request, peer, Owner::Call(handle)),
                CallAction::SendStateless(request) => {
                    let payload = request.to_bytes(&self.config.user_agent);
                    self.transmits.push_back(Transmit {
                        transport: peer.transport,
                        destination: peer.addr,
                        payload,
                    });
                }
                CallAction::Respond(key, reply) => {
                    let Some(entry) = self.servers.get(&key) else {
                        continue;
                    };
                    let Some(request) = &entry.request else {
                        continue;
                    };
                    let server = if entry.stranger {
                        ""
                    } else {
                        &self.config.user_agent
                    };
                    let payload = reply.render(request, server);
                    self.respond(now, &key, reply.status, payload);
                }
                CallAction::FailedOver(proxy) => {
                    peer.addr = proxy;
                    if let Some(trunk) = self.calls.get(&handle).map(Call::trunk) {
                        self.move_trunk(now, trunk, proxy);
                    }
                }
                CallAction::Event(event) => {
                    if let CallEvent::Ended(cause) = &event {
                        tracing::info!(call = %handle, status = ?cause.status, reason = %cause.reason, by = cause.by.as_str(), "call ended");
                        ended = true;
                    }
                    self.events.push_back(Event::Call { call: handle, event });
                }
            }
        }
        if ended || self.calls.get(&handle).is_some_and(Call::is_ended) {
            if let Some(call) = self.calls.remove(&handle) {
                self.by_call_id.remove(call.call_id());
            }
            if let Some(other) = self.links.remove(&handle) {
                self.links.remove(&other);
                tracing::info!(call = %handle, linked = %other, "linked call ended: hanging up the other leg");
                let _ = self.hangup(now, other);
            }
        }
    }

    fn start_transaction(&mut self, now: Instant, request: OutgoingRequest, to: Peer, owner: Owner) {
        self.scratch.clear();
        let txn = ClientTransaction::start(
            now,
            request,
            to,
            self.config.timers,
            &self.config.user_agent,
            &mut self.scratch,
        );
        self.transmits.extend(self.scratch.drain(..));
        let key = (txn.branch().to_owned(), txn.request().method.to_string());
        self.transactions.insert(key, (txn, owner));
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline of any timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txns = self.transactions.values().filter_map(|(t, _)| t.poll_timeout());
        let regs = self.registrations.iter().filter_map(Registration::poll_timeout);
        let answers = self.servers.values().filter_map(|e| e.txn.poll_timeout());
        let calls = self.calls.values().filter_map(Call::poll_timeout);
        let pings = self.keepalives.iter().filter_map(Keepalive::poll_timeout);
        let failbacks = self
            .failed_over_at
            .iter()
            .zip(&self.trunks)
            .filter_map(|(since, trunk)| since.map(|at| at + trunk.failback));
        txns.chain(regs)
            .chain(answers)
            .chain(calls)
            .chain(pings)
            .chain(failbacks)
            .min()
    }

    /// Time until the next deadline, for drivers that sleep on durations.
    pub fn time_until_timeout(&self, now: Instant) -> Option<Duration> {
        self.poll_timeout().map(|at| at.saturating_duration_since(now))
    }
}
