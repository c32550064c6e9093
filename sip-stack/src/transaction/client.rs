//! Client transactions (RFC 3261 17.1): retransmission of the request over UDP, absorption of response
//! retransmissions, and the timeout. Over TCP and TLS nothing is retransmitted and Timers D and K are
//! zero. The transaction user (registration, call) sees each distinct response once, or a timeout.

use crate::message::IncomingResponse;
use crate::message::Method;
use crate::outgoing::OutgoingRequest;
use crate::timer::{Timer, TimerConfig, Timers};
use crate::transport::{Peer, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport (for TCP and TLS, the connection to `destination`).
    pub transport: Transport,
    /// Destination.
    pub destination: SocketAddr,
    /// The message bytes.
    pub payload: Vec<u8>,
}

/// State of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Request sent, nothing heard (`Calling` for INVITE, `Trying` otherwise).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing retransmissions (Timer D or K).
    Completed,
    /// Done; the endpoint removes the transaction.
    Terminated,
}

/// What the transaction reports to its user.
#[derive(Debug, Clone)]
pub enum ClientOutput {
    /// A response to act upon (retransmissions of a final response are not repeated).
    Response(Box<IncomingResponse>),
    /// No final response within 64*T1 (Timer B or F).
    Timeout,
}

/// One client transaction.
#[derive(Debug)]
pub struct ClientTransaction {
    request: OutgoingRequest,
    wire: Vec<u8>,
    destination: Peer,
    state: ClientState,
    timers: Timers,
    interval: Duration,
    config: TimerConfig,
    ack: Option<Vec<u8>>,
    user_agent: String,
}

impl ClientTransaction {
    /// Starts the transaction and queues the first transmission.
    pub fn start(
        now: Instant,
        request: OutgoingRequest,
        destination: Peer,
        config: TimerConfig,
        user_agent: &str,
        out: &mut Vec<Transmit>,
    ) -> Self {
        let wire = request.to_bytes(user_agent);
        let mut timers = Timers::default();
        let invite = request.method == Method::Invite;
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !destination.transport.is_reliable() {
            timers.set(retransmit, now + config.t1);
        }
        timers.set(timeout, now + config.timeout());
        out.push(Transmit {
            transport: destination.transport,
            destination: destination.addr,
            payload: wire.clone(),
        });
        Self {
            request,
            wire,
            destination,
            state: ClientState::Trying,
            timers,
            interval: config.t1,
            config,
            ack: None,
            user_agent: user_agent.to_owned(),
        }
    }

    /// The branch that keys this transaction.
    pub fn branch(&self) -> &str {
        self.request.branch()
    }

    /// Where the request goes.
    pub fn destination(&self) -> Peer {
        self.destination
    }

    /// The request this transaction carries.
    pub fn request(&self) -> &OutgoingRequest {
        &self.request
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }

    /// Feeds a response whose top Via branch matched.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: IncomingResponse,
        out: &mut Vec<Transmit>,
    ) -> Option<ClientOutput> {
        let status = response.status;
        match self.state {
            ClientState::Terminated => None,
            ClientState::Completed => {
                // A retransmitted final response: re-send the ACK (INVITE) and swallow it.
                if let Some(ack) = &self.ack {
                    out.push(self.transmit(ack.clone()));
                }
                None
            }
            ClientState::Trying | ClientState::Proceeding if status < 200 => {
                self.state = ClientState::Proceeding;
                if self.is_invite() {
                    self.timers.clear(Timer::A);
                    self.timers.clear(Timer::B);
                } else {
                    // Non-INVITE keeps retransmitting, at T2 (17.1.2.2).
                    self.interval = self.config.t2;
                }
                Some(ClientOutput::Response(Box::new(response)))
            }
            ClientState::Trying | ClientState::Proceeding => {
                self.timers.clear_all();
                if self.is_invite() && status >= 300 {
                    let to = crate::message::header_values(&response.msg.headers, "to")
                        .into_iter()
                        .next();
                    let ack = self
                        .request
                        .ack_for_failure(to.as_deref().unwrap_or(&self.request.to));
                    let ack = ack.to_bytes(&self.user_agent);
                    out.push(self.transmit(ack.clone()));
                    self.ack = Some(ack);
                    self.state = ClientState::Completed;
                    let linger = if self.destination.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(32)
                    };
                    self.timers.set(Timer::D, now + linger);
                } else if self.is_invite() {
                    // 2xx: the dialog layer sends the ACK (17.1.1.2); the transaction ends here.
                    self.state = ClientState::Terminated;
                } else {
                    self.state = ClientState::Completed;
                    let linger = if self.destination.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        self.config.t4
                    };
                    self.timers.set(Timer::K, now + linger);
                }
                Some(ClientOutput::Response(Box::new(response)))
            }
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Transmit>) -> Option<ClientOutput> {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::A => {
                    out.push(self.transmit(self.wire.clone()));
                    self.interval *= 2;
                    self.timers.set(Timer::A, now + self.interval);
                }
                Timer::E => {
                    out.push(self.transmit(self.wire.clone()));
                    if self.state == ClientState::Trying {
                        self.interval = (self.interval * 2).min(self.config.t2);
                    }
                    self.timers.set(Timer::E, now + self.interval);
                }
                Timer::B | Timer::F => {
                    self.timers.clear_all();
                    self.state = ClientState::Terminated;
                    return Some(ClientOutput::Timeout);
                }
                Timer::D | Timer::K | Timer::J | Timer::G | Timer::H | Timer::I | Timer::L => {
                    self.timers.clear_all();
                    self.state = ClientState::Terminated;
                }
            }
        }
        None
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn transmit(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.destination.transport,
            destination: self.destination.addr,
            payload,
        }
    }
}

/// Where a [`Transmit`] goes, as a [`Peer`].
impl Transmit {
    /// The destination with its transport.
    pub fn peer(&self) -> Peer {
        Peer {
            transport: self.transport,
            addr: self.destination,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Incoming, Limits, parse};

    fn request(method: Method) -> OutgoingRequest {
        OutgoingRequest {
            custom: Vec::new(),
            method,
            uri: "sip:trunk.test".into(),
            via: "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKt1;rport".into(),
            route: vec![],
            from: "<sip:agent@trunk.test>;tag=f".into(),
            to: "<sip:agent@trunk.test>".into(),
            call_id: "c".into(),
            cseq: 1,
            extra: vec![],
            body: None,
        }
    }

    fn response(status: u16, method: &str) -> IncomingResponse {
        let text = format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKt1\r\nFrom: <sip:agent@trunk.test>;tag=f\r\n\
To: <sip:agent@trunk.test>;tag=t\r\nCall-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes(), &Limits::default()) {
            Ok(Incoming::Response(r)) => r,
            other => panic!("bad fixture: {other:?}"),
        }
    }

    /// Runs the transaction in virtual time and returns the offsets (ms) of every transmission.
    fn schedule(method: Method, until: Duration) -> (Vec<u128>, bool) {
        #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
        let t0 = Instant::now();
        let dest = Peer::udp("127.0.0.1:5060".parse::<SocketAddr>().expect("addr"));
        let mut out = Vec::new();
        let mut tx =
            ClientTransaction::start(t0, request(method), dest, TimerConfig::default(), "", &mut out);
        let mut sent = vec![0u128; out.len()];
        let mut timed_out = false;
        while let Some(at) = tx.poll_timeout() {
            if at - t0 > until {
                break;
            }
            out.clear();
            if let Some(ClientOutput::Timeout) = tx.handle_timeout(at, &mut out) {
                timed_out = true;
            }
            sent.extend(out.iter().map(|_| (at - t0).as_millis()));
        }
        (sent, timed_out)
    }

    #[test]
    fn invite_retransmits_with_timer_a_doubling_until_timer_b() {
        let (sent, timed_out) = schedule(Method::Invite, Duration::from_secs(64));
        assert_eq!(sent, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert!(timed_out, "Timer B fires at 32 s");
    }

    #[test]
    fn non_invite_retransmits_capped_at_t2_until_timer_f() {
        let (sent, timed_out) = schedule(Method::Register, Duration::from_secs(64));
        assert_eq!(
            sent,
            vec![0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert!(timed_out);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn invite_failure_is_acked_and_retransmissions_absorbed() {
        let t0 = Instant::now();
        let dest = Peer::udp("127.0.0.1:5060".parse::<SocketAddr>().expect("addr"));
        let mut out = Vec::new();
        let mut tx = ClientTransaction::start(
            t0,
            request(Method::Invite),
            dest,
            TimerConfig::default(),
            "",
            &mut out,
        );
        out.clear();
        assert!(matches!(
            tx.handle_response(t0, response(100, "INVITE"), &mut out),
            Some(ClientOutput::Response(_))
        ));
        assert_eq!(
            tx.poll_timeout(),
            None,
            "no retransmission or timeout once proceeding"
        );
        let first = tx.handle_response(t0, response(486, "INVITE"), &mut out);
        assert!(matches!(first, Some(ClientOutput::Response(r)) if r.status == 486));
        assert_eq!(out.len(), 1);
        let ack = String::from_utf8_lossy(&out[0].payload).into_owned();
        assert!(
            ack.starts_with("ACK sip:trunk.test SIP/2.0")
                && ack.contains("branch=z9hG4bKt1")
                && ack.contains("tag=t")
        );
        assert!(
            tx.handle_response(t0, response(486, "INVITE"), &mut out)
                .is_none(),
            "retransmission absorbed"
        );
        assert_eq!(out.len(), 2, "and ACKed again");
        tx.handle_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), ClientState::Terminated);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn non_invite_final_stops_retransmission() {
        let t0 = Instant::now();
        let dest = Peer::udp("127.0.0.1:5060".parse::<SocketAddr>().expect("addr"));
        let mut out = Vec::new();
        let mut tx = ClientTransaction::start(
            t0,
            request(Method::Bye),
            dest,
            TimerConfig::default(),
            "",
            &mut out,
        );
        assert!(tx.handle_response(t0, response(200, "BYE"), &mut out).is_some());
        assert!(tx.handle_response(t0, response(200, "BYE"), &mut out).is_none());
        out.clear();
        tx.handle_timeout(t0 + Duration::from_secs(6), &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.state(), ClientState::Terminated);
    }
}
