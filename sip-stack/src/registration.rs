//! The registration client (RFC 3261 10.2): REGISTER with digest auth on 401/407, refresh at 85% of
//! the granted expiry, back off after failures, and unregister on shutdown. Pure state: the endpoint
//! starts the transactions this module asks for.

use crate::digest::{self, Challenge, Credentials, RequestParts};
use crate::message::Method;
use crate::message::{IncomingResponse, header_values};
use crate::outgoing::{Local, OutgoingRequest};
use crate::transport::Transport;
use crate::trunk::{TrunkConfig, TrunkId};
use std::time::{Duration, Instant};

/// Where a registration stands, as reported to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// Not registered yet (or not configured to register).
    Pending,
    /// Registered; the binding lasts this many seconds from `since`.
    Registered {
        /// Expiry granted by the registrar, in seconds.
        expires: u32,
    },
    /// The last attempt failed; another follows after a back-off.
    Failed {
        /// SIP status, or `None` when nothing answered.
        status: Option<u16>,
        /// Reason phrase or a description of the failure.
        reason: String,
    },
    /// Unregistered on shutdown.
    Unregistered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle {
        at: Instant,
    },
    Sending {
        branch: String,
        credentials: Sent,
        unregister: bool,
    },
    Registered {
        refresh_at: Instant,
    },
    Failed {
        retry_at: Instant,
    },
    Stopped,
}

/// What a REGISTER in flight carries for authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Nothing: no challenge seen yet.
    Nothing,
    /// The answer to the challenge of the response just before: a refusal means the password is wrong.
    Fresh,
    /// An answer to a challenge kept from an earlier exchange (a refresh, a retry): the registrar may
    /// have forgotten its nonce (it restarted), so a refusal with a new challenge earns one more try.
    Cached,
}

/// Which header carried the challenge, so the answer goes into the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChallengeKind {
    Www,
    Proxy,
}

/// What the registration wants next.
#[derive(Debug)]
pub enum RegistrationAction {
    /// Send this REGISTER in a new client transaction.
    Send(Box<OutgoingRequest>),
    /// Report a new status.
    Status(RegistrationStatus),
}

/// One trunk's registration.
#[derive(Debug)]
pub struct Registration {
    trunk: TrunkId,
    config: TrunkConfig,
    call_id: String,
    from_tag: String,
    cseq: u32,
    state: State,
    challenge: Option<(Challenge, ChallengeKind)>,
    nonce_count: u32,
    failures: u32,
    /// A Contact we advertised before the registrar told us our address behind NAT: the next
    /// REGISTER removes its binding (`expires=0`) until one succeeds.
    stale_contact: Option<String>,
}

/// Longest back-off between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The longest registration interval we agree to ask for after a 423.
const MAX_EXPIRES: u32 = 86_400;

impl Registration {
    /// A registration that sends its first REGISTER at `now`.
    pub fn new(now: Instant, trunk: TrunkId, config: TrunkConfig, call_id: String, from_tag: String) -> Self {
        Self {
            trunk,
            config,
            call_id,
            from_tag,
            cseq: 0,
            state: State::Idle { at: now },
            challenge: None,
            nonce_count: 0,
            failures: 0,
            stale_contact: None,
        }
    }

    /// The trunk this registration belongs to.
    pub fn trunk(&self) -> TrunkId {
        self.trunk
    }

    /// The transport to the registrar.
    pub fn transport(&self) -> Transport {
        self.config.transport
    }

    /// Sends later REGISTERs' domain from the trunk's new address (when its domain is the address).
    pub fn set_proxy(&mut self, proxy: std::net::SocketAddr) {
        self.config.proxy = proxy;
    }

    /// Registers at once (the trunk came back after an outage), unless a REGISTER is in flight or we
    /// have stopped.
    pub fn retry_now(&mut self, now: Instant) {
        if matches!(
            self.state,
            State::Registered { .. } | State::Failed { .. } | State::Idle { .. }
        ) {
            self.state = State::Idle { at: now };
        }
    }

    /// Registers again at once with the address we now advertise, removing the binding of
    /// `old_contact` (the registrar reported that we are reached elsewhere, behind NAT).
    pub fn rebind(&mut self, now: Instant, old_contact: String) {
        if matches!(self.state, State::Registered { .. }) {
            self.stale_contact = Some(old_contact);
            self.retry_now(now);
        }
    }

    /// The branch of the REGISTER in flight, if any.
    pub fn pending_branch(&self) -> Option<&str> {
        match &self.state {
            State::Sending { branch, .. } => Some(branch),
            _ => None,
        }
    }

    /// When the registration next wants to act.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Idle { at } | State::Registered { refresh_at: at } | State::Failed { retry_at: at } => {
                Some(at)
            }
            State::Sending { .. } | State::Stopped => None,
        }
    }

    /// Sends a REGISTER if one is due.
    pub fn handle_timeout(&mut self, now: Instant, ctx: &RegisterContext<'_>) -> Option<RegistrationAction> {
        let due = self.poll_timeout().is_some_and(|at| at <= now);
        due.then(|| RegistrationAction::Send(Box::new(self.build(ctx, false))))
    }

    /// Sends the unregistration (Expires: 0) if registered.
    pub fn unregister(&mut self, ctx: &RegisterContext<'_>) -> Option<RegistrationAction> {
        match self.state {
            State::Registered { .. } => Some(RegistrationAction::Send(Box::new(self.build(ctx, true)))),
            _ => {
                self.state = State::Stopped;
                None
            }
        }
    }

    fn build(&mut self, ctx: &RegisterContext<'_>, unregister: bool) -> OutgoingRequest {
        self.build_with(ctx, unregister, false)
    }

    /// Builds a REGISTER; `fresh` when the challenge it answers came in the response just received.
    fn build_with(&mut self, ctx: &RegisterContext<'_>, unregister: bool, fresh: bool) -> OutgoingRequest {
        self.cseq += 1;
        let domain = self.config.domain();
        let user = self.config.local_user().to_owned();
        let uri = format!("sip:{domain}");
        let aor = format!("<sip:{user}@{domain}>");
        let expires = if unregister {
            0
        } else {
            self.config.register_expires
        };
        let mut request = OutgoingRequest {
            custom: Vec::new(),
            method: Method::Register,
            uri: uri.clone(),
            via: ctx.local.via(ctx.branch),
            route: Vec::new(),
            from: format!("{aor};tag={}", self.from_tag),
            to: aor,
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            extra: vec![
                ("Contact", ctx.local.contact(&user)),
                ("Expires", expires.to_string()),
            ],
            body: None,
        };
        if let Some(old) = &self.stale_contact
            && !unregister
        {
            request.extra.insert(1, ("Contact", format!("{old};expires=0")));
        }
        let credentials = match (self.authorize(&mut request, ctx.cnonce), fresh) {
            (false, _) => Sent::Nothing,
            (true, true) => Sent::Fresh,
            (true, false) => Sent::Cached,
        };
        self.state = State::Sending {
            branch: request.branch().to_owned(),
            credentials,
            unregister,
        };
        request
    }

    /// Adds credentials for the last challenge, if we hold one. Returns whether it did.
    fn authorize(&mut self, request: &mut OutgoingRequest, cnonce: &str) -> bool {
        let (Some((challenge, kind)), Some(creds)) = (&self.challenge, &self.config.credentials) else {
            return false;
        };
        self.nonce_count += 1;
        let value = digest::authorization(
            challenge,
            Credentials {
                username: creds.auth_user(),
                password: &creds.password,
            },
            RequestParts {
                method: "REGISTER",
                uri: &request.uri,
            },
            self.nonce_count,
            cnonce,
        );
        let name = match kind {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        };
        request.set_extra(name, value);
        true
    }

    /// Feeds the response to our REGISTER.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: &IncomingResponse,
        ctx: &RegisterContext<'_>,
    ) -> Vec<RegistrationAction> {
        let State::Sending {
            credentials,
            unregister,
            ..
        } = self.state.clone()
        else {
            return Vec::new();
        };
        match response.status {
            100..=199 => Vec::new(),
            200..=299 if unregister => {
                self.state = State::Stopped;
                vec![RegistrationAction::Status(RegistrationStatus::Unregistered)]
            }
            200..=299 => {
                self.failures = 0;
                self.stale_contact = None;
                let expires = granted_expiry(response, self.config.register_expires);
                // Refresh at 85% of the grant, so a slow registrar never sees the binding lapse.
                let refresh = Duration::from_millis(u64::from(expires) * 850);
                self.state = State::Registered {
                    refresh_at: now + refresh,
                };
                vec![RegistrationAction::Status(RegistrationStatus::Registered {
                    expires,
                })]
            }
            401 | 407 => {
                let (header, kind) = if response.status == 401 {
                    ("www-authenticate", ChallengeKind::Www)
                } else {
                    ("proxy-authenticate", ChallengeKind::Proxy)
                };
                let challenge = header_values(&response.msg.headers, header)
                    .iter()
                    .find_map(|v| Challenge::parse(v).ok());
                match challenge {
                    // Retry with credentials, unless these same credentials were just refused for a
                    // fresh nonce: then the password is wrong, and retrying would only lock us out.
                    // A refused answer to a kept nonce gets one retry (the registrar restarted and
                    // forgot it, without saying stale).
                    Some(ch)
                        if self.config.credentials.is_some() && (credentials != Sent::Fresh || ch.stale) =>
                    {
                        if self
                            .challenge
                            .as_ref()
                            .is_none_or(|(old, _)| old.nonce != ch.nonce)
                        {
                            self.nonce_count = 0;
                        }
                        self.challenge = Some((ch, kind));
                        vec![RegistrationAction::Send(Box::new(
                            self.build_with(ctx, unregister, true),
                        ))]
                    }
                    _ => self.fail(now, Some(response.status), response.reason.clone()),
                }
            }
            // Interval Too Brief: ask again for at least what the registrar wants (RFC 3261 10.3).
            423 if !unregister => {
                let min = header_values(&response.msg.headers, "min-expires")
                    .first()
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .filter(|m| *m > self.config.register_expires && *m <= MAX_EXPIRES);
                match min {
                    Some(min) => {
                        self.config.register_expires = min;
                        vec![RegistrationAction::Send(Box::new(self.build(ctx, false)))]
                    }
                    None => self.fail(now, Some(423), response.reason.clone()),
                }
            }
            status => {
                let actions = self.fail(now, Some(status), response.reason.clone());
                // A registrar that says when to come back (503 with Retry-After) is believed.
                let retry_after = header_values(&response.msg.headers, "retry-after")
                    .first()
                    .and_then(|v| v.split([';', ' ', '(']).next()?.trim().parse::<u64>().ok());
                if let (Some(secs), State::Failed { retry_at }) = (retry_after, &mut self.state) {
                    *retry_at = now + Duration::from_secs(secs.clamp(1, MAX_BACKOFF.as_secs()));
                }
                actions
            }
        }
    }

    /// The REGISTER got no final response in time.
    pub fn handle_transaction_timeout(&mut self, now: Instant) -> Vec<RegistrationAction> {
        self.fail(now, None, "no response from registrar".to_owned())
    }

    fn fail(&mut self, now: Instant, status: Option<u16>, reason: String) -> Vec<RegistrationAction> {
        self.failures += 1;
        let backoff = Duration::from_secs(15u64 << self.failures.min(5)).min(MAX_BACKOFF);
        self.state = State::Failed {
            retry_at: now + backoff,
        };
        vec![RegistrationAction::Status(RegistrationStatus::Failed {
            status,
            reason,
        })]
    }
}

/// What a registration needs from the endpoint to build a request.
#[derive(Debug)]
pub struct RegisterContext<'a> {
    /// How we name ourselves on the registrar's transport.
    pub local: &'a Local,
    /// A fresh branch for the next request.
    pub branch: &'a str,
    /// A fresh client nonce.
    pub cnonce: &'a str,
}

/// The expiry the registrar granted: the `expires` parameter of our Contact, else the Expires header,
/// else what we asked for.
fn granted_expiry(response: &IncomingResponse, requested: u32) -> u32 {
    let from_contact = header_values(&response.msg.headers, "contact")
        .iter()
        .find_map(|v| {
            v.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix("expires=")
                    .and_then(|e| e.trim().parse().ok())
            })
        });
    let from_header = || {
        header_values(&response.msg.headers, "expires")
            .first()
            .and_then(|e| e.trim().parse().ok())
    };
    from_contact.or_else(from_header).unwrap_or(requested).max(1)
}
