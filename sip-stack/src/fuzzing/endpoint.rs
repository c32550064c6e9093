//! The `endpoint` fuzz target: a whole [`Endpoint`] with one trunk (registering with digest
//! credentials, keep-alives on, calls taken from its proxy, from its source network, and from
//! anywhere that answers our 407), driven by a program the input spells out. Past the parser this
//! reaches transactions and their timers, ACK and CANCEL matching, dialogs, digest challenges both
//! ways, the guard and admission.
//!
//! Arbitrary datagrams alone would rarely match a transaction (branches, tags and nonces are ours
//! to draw), so besides raw datagrams the program may *answer* one of the endpoint's recent
//! messages: a response to a request of ours, or a request (ACK, BYE, CANCEL, re-INVITE, ...) in
//! the dialog of a response of ours, copying its Via, From, To, Call-ID and CSeq, and answering a
//! challenge with the right credentials. The fuzzer then varies everything else.
//!
//! Input: a sequence of operations, each an opcode byte and its operands (see [`endpoint`]).

use crate::digest::{self, Challenge, Credentials, RequestParts};
use crate::endpoint::{Endpoint, EndpointConfig, Event};
use crate::trunk::{TrunkConfig, TrunkCredentials, TrunkId};
use crate::{CallEvent, CallHandle, InviteParams, IpNet, Peer, RegistrationStatus, Transmit, Transport};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Our address.
const LOCAL: ([u8; 4], u16) = ([192, 0, 2, 10], 5060);
/// The trunk's proxy (trusted by address).
const PROXY: ([u8; 4], u16) = ([203, 0, 113, 1], 5060);
/// The password the trunk and we share (registration, and inbound calls from elsewhere).
const PASSWORD: &str = "s3cret";
/// Most recent messages of ours an operation may answer.
const RECENT: usize = 8;
/// Calls the program may command.
const MAX_HANDLES: usize = 8;

/// An SDP offer or answer for the bodies the program sends, and for our own calls.
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

/// Responses the program may give to a request of ours.
const STATUSES: [u16; 20] = [
    100, 180, 183, 200, 202, 302, 401, 403, 407, 408, 422, 481, 486, 487, 488, 491, 500, 503, 603, 699,
];
/// Requests the program may send in the dialog of a response of ours.
const METHODS: [&str; 11] = [
    "ACK", "BYE", "CANCEL", "INVITE", "INFO", "OPTIONS", "UPDATE", "REFER", "NOTIFY", "PRACK", "MESSAGE",
];

/// Where datagrams come from: the trunk's proxy, its source network, strangers over IPv4, IPv6
/// and IPv4-mapped IPv6.
fn source(index: u8) -> SocketAddr {
    match index % 8 {
        0 => PROXY.into(),
        1 => ([198, 51, 100, 7], 5060).into(),
        2 => ([192, 0, 2, 99], 5060).into(),
        3 => ([192, 0, 2, 99], 40_000).into(),
        4 => ([10, 0, 0, 5], 5060).into(),
        5 => "[2001:db8::9]:5062".parse().unwrap_or_else(|_| PROXY.into()),
        6 => "[::ffff:203.0.113.1]:5060"
            .parse()
            .unwrap_or_else(|_| PROXY.into()),
        _ => ([127, 0, 0, 1], 5070).into(),
    }
}

/// The input, read as operands.
struct Program<'a>(&'a [u8]);

impl Program<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// The world around the endpoint: its clock, what it sent lately and the calls it told us of.
struct Harness {
    endpoint: Endpoint,
    now: Instant,
    recent: VecDeque<Transmit>,
    handles: Vec<CallHandle>,
    max_server_transactions: usize,
    max_calls: usize,
    reached: Reached,
}

/// Runs the input as a program against an endpoint. Operations (`op % 8`):
/// - 0..=2: a datagram (`op >> 7` picks TCP over UDP) from source `(op >> 3) & 7`, of the
///   length in the next two bytes (little-endian);
/// - 3: an answer to recent message `sel`: a response with status `STATUSES[choice]` to a
///   request of ours, or a request `METHODS[choice]` in the dialog of a response of ours; then a
///   length byte and that many bytes of extra header lines;
/// - 4: the clock moves on `2^(b % 18)` ms (to the next deadline if `b >> 7`), timers fire;
/// - 5: a command on a call we were told of (ring, accept, reject, hang up, hold, transfer);
/// - 6: a call of ours through the trunk;
/// - 7: a transport error on the trunk's connection.
///
/// Must never panic; the transaction table stays within its cap and calls within theirs. Returns
/// what happened, so the replay test can check the seeds still reach as deep as they were written to.
pub fn endpoint(data: &[u8]) -> Reached {
    let mut program = Program(data);
    let mut h = Harness::new();
    while let Some(op) = program.byte() {
        match op % 8 {
            0..=2 => {
                let len = program.bytes(2);
                let len = usize::from(len.first().copied().unwrap_or(0))
                    | usize::from(len.get(1).copied().unwrap_or(0)) << 8;
                let bytes = program.bytes(len).to_vec();
                let transport = if op >> 7 == 1 {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                let from = Peer {
                    transport,
                    addr: source((op >> 3) & 7),
                };
                h.endpoint.handle_message(h.now, from, &bytes);
            }
            3 => {
                let sel = program.byte().unwrap_or(0);
                let choice = program.byte().unwrap_or(0);
                let n = usize::from(program.byte().unwrap_or(0));
                let extra = String::from_utf8_lossy(program.bytes(n)).into_owned();
                h.answer(sel, choice, &extra);
            }
            4 => {
                let b = program.byte().unwrap_or(0);
                let next = h.endpoint.poll_timeout().filter(|_| b >> 7 == 1);
                h.now = match next {
                    Some(at) if at > h.now => at,
                    _ => h.now + Duration::from_millis(1 << (b % 18)),
                };
                h.endpoint.handle_timeout(h.now);
            }
            5 => {
                let b = program.byte().unwrap_or(0);
                h.command(b);
            }
            6 => {
                let params = InviteParams {
                    trunk: TrunkId(0),
                    to_user: "+15550001111".to_owned(),
                    sdp_offer: SDP.as_bytes().to_vec(),
                    from_user: Some("+15550002222".to_owned()),
                    headers: vec![("X-Job".to_owned(), "fuzz".to_owned())],
                };
                if let Ok(handle) = h.endpoint.invite(h.now, params) {
                    h.remember(handle);
                }
            }
            _ => {
                let peer = Peer {
                    transport: Transport::Tcp,
                    addr: PROXY.into(),
                };
                h.endpoint.handle_transport_error(h.now, peer);
            }
        }
        h.drain();
    }
    h.reached
}

/// What a run reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    /// Messages the endpoint sent.
    pub sent: usize,
    /// Calls offered by a trunk (admitted).
    pub incoming: usize,
    /// Calls answered (ours, or a trunk's after its ACK).
    pub answered: usize,
    /// Calls ended.
    pub ended: usize,
    /// Whether the registration succeeded.
    pub registered: bool,
}

impl Harness {
    fn new() -> Self {
        #[allow(clippy::disallowed_methods)] // fuzz input has no clock: any origin will do
        let now = Instant::now();
        let mut config = EndpointConfig::new(LOCAL.into());
        config.tcp_addr = Some(LOCAL.into());
        config.seed = Some(15);
        config.max_calls = 4;
        // Small caps, so the fuzzer reaches them.
        config.max_server_transactions = 24;
        config.trunk_server_transactions = 8;
        config.guard.max_tracked = 4;
        let credentials = TrunkCredentials {
            username: "trunkuser".to_owned(),
            auth_username: None,
            password: PASSWORD.to_owned(),
        };
        let mut trunk = TrunkConfig::new("carrier", PROXY.into());
        trunk.domain = "carrier.example".to_owned();
        trunk.credentials = Some(credentials.clone());
        trunk.register = true;
        trunk.register_expires = 120;
        trunk.keepalive = Some(Duration::from_secs(30));
        trunk.inbound.sources = ["198.51.100.0/24".parse::<IpNet>()]
            .into_iter()
            .flatten()
            .collect();
        trunk.inbound.credentials = Some(credentials);
        Self {
            max_server_transactions: config.max_server_transactions,
            max_calls: config.max_calls,
            endpoint: Endpoint::new(now, config, vec![trunk]),
            now,
            recent: VecDeque::new(),
            handles: Vec::new(),
            reached: Reached::default(),
        }
    }

    fn remember(&mut self, handle: CallHandle) {
        if !self.handles.contains(&handle) {
            if self.handles.len() == MAX_HANDLES {
                self.handles.remove(0);
            }
            self.handles.push(handle);
        }
    }

    /// Takes what the endpoint sent and told, and checks the tables are within their caps.
    fn drain(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back(transmit);
            self.reached.sent += 1;
        }
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Incoming(call) => {
                    self.reached.incoming += 1;
                    self.remember(call.call);
                }
                Event::Call {
                    call,
                    event: CallEvent::Ended(_),
                } => {
                    self.reached.ended += 1;
                    self.handles.retain(|h| *h != call);
                }
                Event::Call {
                    event: CallEvent::Answered { .. },
                    ..
                } => self.reached.answered += 1,
                Event::Registration {
                    status: RegistrationStatus::Registered { .. },
                    ..
                } => self.reached.registered = true,
                _ => {}
            }
        }
        let stats = self.endpoint.stats();
        assert!(
            stats.server_transactions <= self.max_server_transactions,
            "{stats:?} over the cap"
        );
        assert!(stats.calls <= self.max_calls, "{stats:?} over the cap");
    }

    fn command(&mut self, b: u8) {
        let Some(&handle) = self.handles.get(usize::from(b >> 3) % self.handles.len().max(1)) else {
            return;
        };
        let now = self.now;
        let _ = match b % 8 {
            0 => self.endpoint.ring(now, handle),
            1 | 2 => self.endpoint.accept(now, handle, SDP.as_bytes().to_vec()),
            3 => self.endpoint.reject(now, handle, 486),
            4 => self.endpoint.hangup(now, handle),
            5 => self.endpoint.hold(now, handle, true),
            6 => self.endpoint.hold(now, handle, false),
            _ => self.endpoint.transfer(now, handle, "+15550003333"),
        };
    }

    /// Answers recent message `sel` (counted from the newest) as its peer would.
    fn answer(&mut self, sel: u8, choice: u8, extra: &str) {
        let Some(ours) = self.recent.iter().rev().nth(usize::from(sel) % RECENT) else {
            return;
        };
        let (destination, transport) = (ours.destination, ours.transport);
        let text = String::from_utf8_lossy(&ours.payload).into_owned();
        let Some((start, head)) = head_of(&text) else {
            return;
        };
        let reply = if start.starts_with("SIP/2.0 ") {
            let method = METHODS[usize::from(choice) % METHODS.len()];
            request_in_dialog(start, &head, method, extra)
        } else {
            let status = STATUSES[usize::from(choice) % STATUSES.len()];
            response_to(start, &head, status, extra)
        };
        let from = Peer {
            transport,
            addr: destination,
        };
        self.endpoint.handle_message(self.now, from, reply.as_bytes());
    }
}

/// A message's start line and header fields (name, value), unfolded.
fn head_of(text: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    let fields = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();
    Some((start, fields))
}

/// The long name of a header field, for the compact forms we might send.
fn long_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        other => other,
    }
    .to_owned()
}

fn field<'a>(head: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    head.iter().find(|(n, _)| long_name(n) == name).map(|(_, v)| *v)
}

/// A response to our request, as its peer would send it: the Via, From, To (tagged past 100),
/// Call-ID and CSeq copied, a Contact, the extra header lines, and an SDP answer on a 2xx to an
/// INVITE.
fn response_to(start: &str, head: &[(&str, &str)], status: u16, extra: &str) -> String {
    let method = start.split(' ').next().unwrap_or("");
    let mut out = format!("SIP/2.0 {status} Fuzz\r\n");
    for (name, value) in head {
        match long_name(name).as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{name}: {value}\r\n")),
            "to" if status > 100 && !value.contains(";tag=") => {
                out.push_str(&format!("{name}: {value};tag=far{status}\r\n"));
            }
            "to" => out.push_str(&format!("{name}: {value}\r\n")),
            _ => {}
        }
    }
    out.push_str("Contact: <sip:far@203.0.113.1:5060>\r\n");
    let body = if method == "INVITE" && (200..300).contains(&status) {
        SDP
    } else {
        ""
    };
    finish(out, extra, body)
}

/// A request in the dialog of our response, as the caller would send it: same Call-ID, From and
/// To; the same Via and CSeq number for ACK and CANCEL (they match the INVITE's transaction), a
/// new branch and the next number otherwise. An INVITE after a 401/407 of ours carries the right
/// credentials for the challenge (a trunk calling from elsewhere).
fn request_in_dialog(start: &str, head: &[(&str, &str)], method: &str, extra: &str) -> String {
    let status = start.split(' ').nth(1).unwrap_or("");
    let cseq = field(head, "cseq").unwrap_or("1 INVITE");
    let number: u32 = cseq
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let same_transaction = matches!(method, "ACK" | "CANCEL");
    let uri = "sip:+15550001111@192.0.2.10";
    let mut out = format!("{method} {uri} SIP/2.0\r\n");
    let via = field(head, "via").unwrap_or("SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKfz");
    if same_transaction {
        out.push_str(&format!("Via: {via}\r\n"));
    } else {
        out.push_str(&format!(
            "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKn{number}\r\n"
        ));
    }
    // A new INVITE after a refusal (a challenge answered) is outside the refused dialog.
    let refused = matches!(status.as_bytes().first(), Some(b'3'..=b'6'));
    for name in ["from", "to", "call-id"] {
        if let Some(value) = field(head, name) {
            let value = match value.find(";tag=") {
                Some(at) if name == "to" && method == "INVITE" && refused => &value[..at],
                _ => value,
            };
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let number = if same_transaction { number } else { number + 1 };
    out.push_str(&format!("CSeq: {number} {method}\r\nMax-Forwards: 70\r\n"));
    out.push_str("Contact: <sip:far@203.0.113.1:5060>\r\n");
    if method == "INVITE"
        && let Some(challenge) = field(head, "proxy-authenticate").or_else(|| field(head, "www-authenticate"))
        && let Ok(challenge) = Challenge::parse(challenge)
    {
        let creds = Credentials {
            username: "trunkuser",
            password: PASSWORD,
        };
        let parts = RequestParts { method, uri };
        let value = digest::authorization(&challenge, creds, parts, 1, "fz");
        let name = if status == "401" {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = match method {
        "INVITE" | "UPDATE" => SDP,
        "NOTIFY" => {
            out.push_str(
                "Event: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\n",
            );
            "SIP/2.0 200 OK\r\n"
        }
        _ => "",
    };
    finish(out, extra, body)
}

/// Appends the extra header lines (whatever the fuzzer made of them), Content-Length and the body.
fn finish(mut out: String, extra: &str, body: &str) -> String {
    if body == SDP {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    for line in extra.split('\n').filter(|l| !l.trim().is_empty()) {
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}
