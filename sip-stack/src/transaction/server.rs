//! Server transactions (RFC 3261 17.2, with the RFC 6026 `Accepted` state): they absorb retransmitted
//! requests by repeating the last response, retransmit final INVITE responses over UDP until the ACK
//! comes (Timer G, up to Timer H), and keep the answer long enough for late retransmissions (Timers I,
//! J, L). The endpoint's request handling (the transaction user) decides what to answer.

use crate::message::{self, Method};
use crate::timer::{Timer, TimerConfig, Timers};
use crate::transaction::Transmit;
use crate::transport::Peer;
use std::time::Instant;

/// A server transaction's key: the top Via's branch (or its RFC 2543 substitute) with its sent-by,
/// and the method (RFC 3261 17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    branch_and_sent_by: String,
    method: String,
}

/// The key of the server transaction a request belongs to, for `method` (an ACK or CANCEL looks up
/// its INVITE's).
pub(crate) fn server_key(common: &message::Common, method: &Method) -> ServerKey {
    ServerKey {
        branch_and_sent_by: format!("{};{}", common.branch, common.sent_by),
        method: method.to_string(),
    }
}

/// State of a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE request received, nothing answered yet.
    Trying,
    /// A provisional response was sent (INVITE transactions start here with 100 Trying).
    Proceeding,
    /// A final response was sent (non-2xx for INVITE); retransmissions are answered with it.
    Completed,
    /// INVITE answered with a 2xx: the 2xx is retransmitted until the dialog's ACK arrives.
    Accepted,
    /// The ACK for a non-2xx final arrived; later ACKs are absorbed (Timer I).
    Confirmed,
    /// Done; the endpoint removes the transaction.
    Terminated,
}

/// What the transaction reports to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOutput {
    /// No ACK came for a final INVITE response within 64*T1 (Timer H). After a 2xx the session should
    /// be ended with a BYE (RFC 3261 13.3.1.4).
    AckTimeout {
        /// The status that was never acknowledged.
        status: u16,
    },
}

/// One server transaction.
#[derive(Debug)]
pub struct ServerTransaction {
    invite: bool,
    reliable: bool,
    destination: Peer,
    state: ServerState,
    last_response: Option<(u16, Vec<u8>)>,
    timers: Timers,
    interval: std::time::Duration,
    config: TimerConfig,
}

impl ServerTransaction {
    /// A transaction for a request just received. An INVITE transaction answers `100 Trying` at once
    /// (`trying`), so the client stops retransmitting while the user decides (17.2.1). Over TCP and
    /// TLS (`destination` is then the connection) nothing is retransmitted.
    pub fn new(
        invite: bool,
        destination: Peer,
        config: TimerConfig,
        trying: Option<Vec<u8>>,
        out: &mut Vec<Transmit>,
    ) -> Self {
        let mut txn = Self {
            invite,
            reliable: destination.transport.is_reliable(),
            destination,
            state: ServerState::Trying,
            last_response: None,
            timers: Timers::default(),
            interval: config.t1,
            config,
        };
        if invite {
            txn.state = ServerState::Proceeding;
            if let Some(trying) = trying {
                txn.send(100, trying, out);
            }
        }
        txn
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Whether a final response has been sent.
    pub fn is_answered(&self) -> bool {
        !matches!(self.state, ServerState::Trying | ServerState::Proceeding)
    }

    /// Where responses go.
    pub fn destination(&self) -> Peer {
        self.destination
    }

    fn transmit(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.destination.transport,
            destination: self.destination.addr,
            payload,
        }
    }

    fn send(&mut self, status: u16, payload: Vec<u8>, out: &mut Vec<Transmit>) {
        out.push(self.transmit(payload.clone()));
        self.last_response = Some((status, payload));
    }

    /// The transaction user sends a response. Responses after the final one are ignored.
    pub fn respond(&mut self, now: Instant, status: u16, payload: Vec<u8>, out: &mut Vec<Transmit>) {
        if self.is_answered() {
            return;
        }
        self.send(status, payload, out);
        let timeout = self.config.timeout();
        match (self.invite, status) {
            (_, 100..=199) => self.state = ServerState::Proceeding,
            (true, 200..=299) => {
                // RFC 6026: the 2xx is retransmitted (by the core, 13.3.1.4) until the ACK.
                self.state = ServerState::Accepted;
                if !self.reliable {
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers.set(Timer::H, now + timeout);
                self.timers.set(Timer::L, now + timeout);
            }
            (true, _) => {
                self.state = ServerState::Completed;
                if !self.reliable {
                    self.timers.set(Timer::G, now + self.interval);
                }
                self.timers.set(Timer::H, now + timeout);
            }
            (false, _) => {
                self.state = ServerState::Completed;
                let linger = if self.reliable { now } else { now + timeout };
                self.timers.set(Timer::J, linger);
            }
        }
    }

    /// The same request arrived again: repeat the last response, if any (17.2.1, 17.2.2). A
    /// retransmitted INVITE in `Accepted` is absorbed (RFC 6026 7.1).
    pub fn handle_retransmission(&mut self, out: &mut Vec<Transmit>) {
        if let (ServerState::Proceeding | ServerState::Completed, Some((_, payload))) =
            (self.state, &self.last_response)
        {
            out.push(self.transmit(payload.clone()));
        }
    }

    /// The ACK for our final response arrived (same branch for non-2xx; matched through the dialog
    /// for a 2xx).
    pub fn handle_ack(&mut self, now: Instant) {
        match self.state {
            ServerState::Completed if self.invite => {
                self.timers.clear(Timer::G);
                self.timers.clear(Timer::H);
                self.state = ServerState::Confirmed;
                let linger = if self.reliable { now } else { now + self.config.t4 };
                self.timers.set(Timer::I, linger);
            }
            ServerState::Accepted => {
                // The 2xx is acknowledged; keep absorbing INVITE retransmissions until Timer L.
                self.timers.clear(Timer::G);
                self.timers.clear(Timer::H);
            }
            _ => {}
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Transmit>) -> Option<ServerOutput> {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::G => {
                    if let Some((_, payload)) = &self.last_response {
                        out.push(self.transmit(payload.clone()));
                    }
                    self.interval = (self.interval * 2).min(self.config.t2);
                    self.timers.set(Timer::G, now + self.interval);
                }
                Timer::H => {
                    self.timers.clear_all();
                    self.state = ServerState::Terminated;
                    let status = self.last_response.as_ref().map_or(0, |(s, _)| *s);
                    return Some(ServerOutput::AckTimeout { status });
                }
                _ => {
                    self.timers.clear_all();
                    self.state = ServerState::Terminated;
                }
            }
        }
        None
    }

    /// The next deadline, if any timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dest() -> Peer {
        Peer::udp("127.0.0.1:5060".parse().expect("addr"))
    }

    /// Drives `txn` through virtual time until `until`, returning the offsets (ms) of every
    /// transmission and the output of the timers.
    fn drive(txn: &mut ServerTransaction, t0: Instant, until: Duration) -> (Vec<u128>, Option<ServerOutput>) {
        let mut sent = Vec::new();
        let mut output = None;
        let mut out = Vec::new();
        while let Some(at) = txn.poll_timeout() {
            if at - t0 > until {
                break;
            }
            out.clear();
            output = txn.handle_timeout(at, &mut out).or(output);
            sent.extend(out.iter().map(|_| (at - t0).as_millis()));
        }
        (sent, output)
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn invite_failure_is_retransmitted_with_timer_g_until_timer_h_when_every_ack_is_lost() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut txn = ServerTransaction::new(
            true,
            dest(),
            TimerConfig::default(),
            Some(b"100".to_vec()),
            &mut out,
        );
        assert_eq!(out.len(), 1, "100 Trying at once");
        assert_eq!(txn.state(), ServerState::Proceeding);
        txn.respond(t0, 486, b"486".to_vec(), &mut out);
        assert_eq!(out.len(), 2);
        let (sent, output) = drive(&mut txn, t0, Duration::from_secs(64));
        // T1 doubling, capped at T2 = 4 s, until Timer H at 64*T1 = 32 s.
        assert_eq!(
            sent,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(output, Some(ServerOutput::AckTimeout { status: 486 }));
        assert_eq!(txn.state(), ServerState::Terminated);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn the_ack_stops_retransmission_and_timer_i_absorbs_the_rest() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut txn = ServerTransaction::new(true, dest(), TimerConfig::default(), None, &mut out);
        assert!(out.is_empty());
        txn.respond(t0, 480, b"480".to_vec(), &mut out);
        out.clear();
        // First retransmission at 500 ms was lost too; the ACK arrives at 2 s.
        txn.handle_timeout(t0 + Duration::from_millis(500), &mut out);
        assert_eq!(out.len(), 1);
        txn.handle_ack(t0 + Duration::from_secs(2));
        assert_eq!(txn.state(), ServerState::Confirmed);
        let (sent, output) = drive(&mut txn, t0 + Duration::from_secs(2), Duration::from_secs(64));
        assert!(sent.is_empty(), "no retransmission after the ACK");
        assert_eq!(output, None);
        assert_eq!(txn.state(), ServerState::Terminated, "after Timer I (T4)");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn a_2xx_is_retransmitted_until_the_dialog_acks_it() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut txn = ServerTransaction::new(
            true,
            dest(),
            TimerConfig::default(),
            Some(b"100".to_vec()),
            &mut out,
        );
        txn.respond(t0, 200, b"200".to_vec(), &mut out);
        assert_eq!(txn.state(), ServerState::Accepted);
        out.clear();
        txn.handle_retransmission(&mut out);
        assert!(
            out.is_empty(),
            "INVITE retransmissions are absorbed once accepted"
        );
        txn.handle_timeout(t0 + Duration::from_millis(500), &mut out);
        txn.handle_timeout(t0 + Duration::from_millis(1500), &mut out);
        assert_eq!(out.len(), 2);
        txn.handle_ack(t0 + Duration::from_millis(1600));
        let (sent, output) = drive(
            &mut txn,
            t0 + Duration::from_millis(1600),
            Duration::from_secs(64),
        );
        assert!(sent.is_empty() && output.is_none());
        assert_eq!(txn.state(), ServerState::Terminated, "after Timer L");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn non_invite_answers_retransmissions_until_timer_j() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut txn = ServerTransaction::new(false, dest(), TimerConfig::default(), None, &mut out);
        assert_eq!(txn.state(), ServerState::Trying);
        txn.handle_retransmission(&mut out);
        assert!(out.is_empty(), "nothing to repeat yet");
        txn.respond(t0, 200, b"200".to_vec(), &mut out);
        txn.handle_retransmission(&mut out);
        txn.handle_retransmission(&mut out);
        assert_eq!(out.len(), 3, "the answer, then one per retransmitted request");
        let (sent, _) = drive(&mut txn, t0, Duration::from_secs(64));
        assert!(
            sent.is_empty(),
            "a final non-INVITE response is never retransmitted by itself"
        );
        assert_eq!(txn.state(), ServerState::Terminated);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn over_reliable_transports_nothing_is_retransmitted() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let tcp = Peer {
            transport: crate::transport::Transport::Tcp,
            addr: dest().addr,
        };
        let mut txn = ServerTransaction::new(true, tcp, TimerConfig::default(), None, &mut out);
        txn.respond(t0, 486, b"486".to_vec(), &mut out);
        let (sent, output) = drive(&mut txn, t0, Duration::from_secs(64));
        assert!(sent.is_empty());
        assert_eq!(output, Some(ServerOutput::AckTimeout { status: 486 }));
    }
}
