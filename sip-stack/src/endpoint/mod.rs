//! The sans-IO user agent: owns the registrations, the calls and their client transactions, answers
//! in-dialog and stray requests, and turns everything into datagrams to send, events to report and one
//! next deadline. Call order, as in quinn: feed `handle_datagram` / `handle_timeout` and the commands,
//! then drain `poll_transmit` and `poll_event`, then sleep until `poll_timeout`.

use crate::call::{CallAction, CallContext, CallEvent, CallHandle, InviteParams, OutboundCall};
use crate::message::verdict;
use crate::message::{self, IncomingRequest, IncomingResponse, Limits, Message, Method, ParseError, Request};
use crate::outgoing::response_to;
use crate::registration::{RegisterContext, Registration, RegistrationAction, RegistrationStatus};
use crate::server::{ServerOutput, ServerState, ServerTransaction};
use crate::timer::TimerConfig;
use crate::transaction::{ClientOutput, ClientState, ClientTransaction, Transmit};
use crate::trunk::{TrunkConfig, TrunkId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod uas;

/// Errors from commands given to the endpoint.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No trunk with this id.
    #[error("unknown {0}")]
    UnknownTrunk(TrunkId),
    /// No call with this handle.
    #[error("unknown {0}")]
    UnknownCall(CallHandle),
}

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The address our UDP socket is bound to.
    pub local_addr: SocketAddr,
    /// Address to advertise in Via and Contact when behind NAT; `local_addr` otherwise.
    pub public_addr: Option<SocketAddr>,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// RFC 3261 timer values.
    pub timers: TimerConfig,
    /// Message limits.
    pub limits: Limits,
    /// Seed for tags, branches and Call-IDs; `None` seeds from the OS. Tests fix it.
    pub seed: Option<u64>,
}

impl EndpointConfig {
    /// Defaults for a socket bound at `local_addr`.
    pub fn new(local_addr: SocketAddr) -> Self {
        Self {
            local_addr,
            public_addr: None,
            user_agent: concat!("Ringback/", env!("CARGO_PKG_VERSION")).to_owned(),
            timers: TimerConfig::default(),
            limits: Limits::default(),
            seed: None,
        }
    }
}

/// What the endpoint reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A trunk's registration changed.
    Registration {
        /// The trunk.
        trunk: TrunkId,
        /// Its new status.
        status: RegistrationStatus,
    },
    /// Something happened to a call.
    Call {
        /// The call.
        call: CallHandle,
        /// What happened.
        event: CallEvent,
    },
    /// A datagram was dropped as malformed (counted, never fatal).
    Malformed {
        /// Who sent it.
        from: SocketAddr,
    },
}

/// Who a client transaction works for.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Registration(TrunkId),
    Call(CallHandle),
}

/// A server transaction with what the endpoint needs to match ACKs and CANCELs to it.
#[derive(Debug)]
struct ServerEntry {
    txn: ServerTransaction,
    call_id: String,
    cseq: u32,
    /// The INVITE itself, kept while it may still be answered (a CANCEL needs it for the 487).
    invite: Option<Request>,
}

/// The user agent core.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    contact_host: String,
    trunks: Vec<TrunkConfig>,
    registrations: Vec<Registration>,
    calls: HashMap<CallHandle, OutboundCall>,
    transactions: HashMap<(String, String), (ClientTransaction, Owner)>,
    servers: HashMap<(String, String), ServerEntry>,
    next_call: u64,
    rng: StdRng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    scratch: Vec<Transmit>,
}

impl Endpoint {
    /// An endpoint with the given trunks; those configured to register start doing so at `now`.
    pub fn new(now: Instant, config: EndpointConfig, trunks: Vec<TrunkConfig>) -> Self {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let contact_host = config.public_addr.unwrap_or(config.local_addr).to_string();
        let mut endpoint = Self {
            config,
            contact_host,
            trunks: Vec::new(),
            registrations: Vec::new(),
            calls: HashMap::new(),
            transactions: HashMap::new(),
            servers: HashMap::new(),
            next_call: 1,
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
        };
        for (i, trunk) in trunks.into_iter().enumerate() {
            if trunk.register && trunk.credentials.is_some() {
                let call_id = endpoint.token(16);
                let tag = endpoint.token(10);
                endpoint
                    .registrations
                    .push(Registration::new(now, TrunkId(i), trunk.clone(), call_id, tag));
            }
            endpoint.trunks.push(trunk);
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

    /// The configured trunks.
    pub fn trunks(&self) -> &[TrunkConfig] {
        &self.trunks
    }

    /// Places a call; progress arrives as [`Event::Call`].
    pub fn invite(&mut self, now: Instant, params: InviteParams) -> Result<CallHandle, EndpointError> {
        let trunk = self
            .trunks
            .get(params.trunk.0)
            .cloned()
            .ok_or(EndpointError::UnknownTrunk(params.trunk))?;
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let call_id = format!("{}@ringback", self.token(20));
        let tag = self.token(10);
        let (branch, cnonce) = (self.branch(), self.token(12));
        let ctx = CallContext {
            contact_host: &self.contact_host,
            branch: &branch,
            cnonce: &cnonce,
        };
        let (call, invite) = OutboundCall::start(handle, trunk.clone(), params, call_id, tag, &ctx);
        self.calls.insert(handle, call);
        self.start_transaction(now, invite, trunk.proxy, Owner::Call(handle));
        Ok(handle)
    }

    /// Hangs up: CANCEL before answer, BYE after.
    pub fn hangup(&mut self, now: Instant, handle: CallHandle) -> Result<(), EndpointError> {
        let (branch, cnonce) = (self.branch(), self.token(12));
        let call = self
            .calls
            .get_mut(&handle)
            .ok_or(EndpointError::UnknownCall(handle))?;
        let ctx = CallContext {
            contact_host: &self.contact_host,
            branch: &branch,
            cnonce: &cnonce,
        };
        let actions = call.hangup(&ctx);
        self.apply_call_actions(now, handle, actions);
        Ok(())
    }

    /// Unregisters every registered trunk (on shutdown).
    pub fn unregister_all(&mut self, now: Instant) {
        for i in 0..self.registrations.len() {
            let (branch, cnonce) = (self.branch(), self.token(12));
            let ctx = RegisterContext {
                contact_host: &self.contact_host,
                branch: &branch,
                cnonce: &cnonce,
            };
            if let Some(action) = self.registrations[i].unregister(&ctx) {
                let trunk = self.registrations[i].trunk();
                self.apply_registration_actions(now, trunk, vec![action]);
            }
        }
    }

    /// Whether any call or REGISTER is still in progress (for a graceful shutdown).
    pub fn is_busy(&self) -> bool {
        !self.calls.is_empty() || self.registrations.iter().any(|r| r.pending_branch().is_some())
    }

    /// Feeds one received datagram.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        // Keep-alive CRLFs (RFC 5626) carry nothing.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let framed = match message::frame(bytes, &self.config.limits) {
            Ok(framed) => framed,
            Err(err) => {
                tracing::debug!(%from, %err, "dropping unreadable SIP datagram");
                self.events.push_back(Event::Malformed { from });
                return;
            }
        };
        let message::Framed { message, error } = framed;
        if let Some(err) = error {
            if let Message::Request(request) = &message {
                self.refuse_malformed(from, request, &err);
            }
            tracing::debug!(%from, %err, "malformed SIP message");
            self.events.push_back(Event::Malformed { from });
            return;
        }
        match message {
            Message::Request(msg) => match message::common_fields(&msg.headers) {
                Ok(common) => self.on_request(now, from, IncomingRequest { msg, common }),
                Err(err) => {
                    self.refuse_malformed(from, &msg, &err);
                    self.events.push_back(Event::Malformed { from });
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
                Err(_) => self.events.push_back(Event::Malformed { from }),
            },
        }
    }

    /// Answers a malformed request (never an ACK) with 400 or 505 at its source address: its Via
    /// cannot be trusted, but the header fields a response copies are known.
    fn refuse_malformed(&mut self, from: SocketAddr, request: &Request, err: &ParseError) {
        if request.method == Method::Ack {
            return;
        }
        let status = err.response_status();
        let reason = verdict::reason_phrase(status);
        let tag = self.token(10);
        let payload = response_to(request, status, reason, Some(&tag), &[], &self.config.user_agent);
        self.transmits.push_back(Transmit {
            destination: from,
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
        if response.common.cseq_method == Method::Invite && (200..300).contains(&response.status) {
            let call = self
                .calls
                .values()
                .find(|c| c.call_id() == response.common.call_id)
                .map(|c| c.handle());
            if let Some(handle) = call {
                self.deliver_to_call(now, handle, &response);
            }
        }
    }

    fn deliver(&mut self, now: Instant, owner: Owner, response: &IncomingResponse) {
        match owner {
            Owner::Registration(trunk) => {
                let (branch, cnonce) = (self.branch(), self.token(12));
                let ctx = RegisterContext {
                    contact_host: &self.contact_host,
                    branch: &branch,
                    cnonce: &cnonce,
                };
                let Some(reg) = self.registrations.iter_mut().find(|r| r.trunk() == trunk) else {
                    return;
                };
                let actions = reg.handle_response(now, response, &ctx);
                self.apply_registration_actions(now, trunk, actions);
            }
            Owner::Call(handle) => self.deliver_to_call(now, handle, response),
        }
    }

    fn deliver_to_call(&mut self, now: Instant, handle: CallHandle, response: &IncomingResponse) {
        let (branch, cnonce) = (self.branch(), self.token(12));
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let ctx = CallContext {
            contact_host: &self.contact_host,
            branch: &branch,
            cnonce: &cnonce,
        };
        let actions = call.handle_response(response, &ctx);
        self.apply_call_actions(now, handle, actions);
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
            let ctx = RegisterContext {
                contact_host: &self.contact_host,
                branch: &branch,
                cnonce: &cnonce,
            };
            if let Some(action) = self.registrations[i].handle_timeout(now, &ctx) {
                let trunk = self.registrations[i].trunk();
                self.apply_registration_actions(now, trunk, vec![action]);
            }
        }
        self.scratch.clear();
        for entry in self.servers.values_mut() {
            if entry.txn.poll_timeout().is_some_and(|at| at <= now) {
                // An unacknowledged final response is given up on; the dialog layer hears of a lost
                // 2xx ACK through its own timer.
                if let Some(ServerOutput::AckTimeout { status }) =
                    entry.txn.handle_timeout(now, &mut self.scratch)
                {
                    tracing::debug!(status, call_id = %entry.call_id, "no ACK for our final response");
                }
            }
        }
        self.transmits.extend(self.scratch.drain(..));
        self.servers
            .retain(|_, e| e.txn.state() != ServerState::Terminated);
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
                let Some(call) = self.calls.get_mut(&handle) else {
                    return;
                };
                let actions = call.handle_transaction_timeout(method);
                self.apply_call_actions(now, handle, actions);
            }
        }
    }

    fn apply_registration_actions(&mut self, now: Instant, trunk: TrunkId, actions: Vec<RegistrationAction>) {
        for action in actions {
            match action {
                RegistrationAction::Send(request) => {
                    let proxy = self.trunks[trunk.0].proxy;
                    self.start_transaction(now, *request, proxy, Owner::Registration(trunk));
                }
                RegistrationAction::Status(status) => {
                    tracing::info!(%trunk, ?status, "registration");
                    self.events.push_back(Event::Registration { trunk, status });
                }
            }
        }
    }

    fn apply_call_actions(&mut self, now: Instant, handle: CallHandle, actions: Vec<CallAction>) {
        let Some(proxy) = self.calls.get(&handle).map(|_| self.call_proxy(handle)) else {
            return;
        };
        for action in actions {
            match action {
                CallAction::Send(request) => self.start_transaction(now, request, proxy, Owner::Call(handle)),
                CallAction::SendStateless(request) => {
                    let payload = request.to_bytes(&self.config.user_agent);
                    self.transmits.push_back(Transmit {
                        destination: proxy,
                        payload,
                    });
                }
                CallAction::Event(event) => {
                    if let CallEvent::Ended(cause) = &event {
                        tracing::info!(call = %handle, status = ?cause.status, reason = %cause.reason, by = cause.by.as_str(), "call ended");
                    }
                    self.events.push_back(Event::Call { call: handle, event });
                }
            }
        }
        if self.calls.get(&handle).is_some_and(OutboundCall::is_ended) {
            self.calls.remove(&handle);
        }
    }

    /// Every request of a call goes to its trunk's proxy: the trunk is our outbound proxy, and a
    /// record-routing trunk would be reached through the route set anyway.
    fn call_proxy(&self, handle: CallHandle) -> SocketAddr {
        self.calls
            .get(&handle)
            .and_then(|c| self.trunks.get(c.trunk().0))
            .map_or(self.config.local_addr, |t| t.proxy)
    }

    fn start_transaction(
        &mut self,
        now: Instant,
        request: crate::outgoing::OutgoingRequest,
        to: SocketAddr,
        owner: Owner,
    ) {
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

    /// The next datagram to send.
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
        txns.chain(regs).chain(answers).min()
    }

    /// Time until the next deadline, for drivers that sleep on durations.
    pub fn time_until_timeout(&self, now: Instant) -> Option<Duration> {
        self.poll_timeout().map(|at| at.saturating_duration_since(now))
    }
}
