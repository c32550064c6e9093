//! The guard against abuse from sources that are not our trunks: a per-address rate limit (GCRA),
//! temporary bans for scanners (known scanner user agents, OPTIONS sweeps), for repeated authentication
//! failures and for floods of junk. Trunk addresses never pass through here.
//!
//! Memory is bounded under a flood of distinct sources: at most `max_tracked` entries, the oldest
//! forgotten first in O(1), and IPv6 sources are tracked per /64 (one subscriber's prefix), so an
//! attacker cannot mint fresh identities from one allocation.
//!
//! Written by hand rather than with `governor`: that crate reads its own clock, while this core takes
//! time as an argument like every other core of the stack, so bans and limits are tested in virtual
//! time.

use crate::message::{IncomingRequest, Method};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Limits for sources that are not trunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Whether the guard runs at all.
    pub enabled: bool,
    /// Sustained messages per second from one address.
    pub rate: u32,
    /// Messages one address may send in a burst above the rate.
    pub burst: u32,
    /// OPTIONS requests per minute from one address before it counts as a sweep and is banned.
    pub max_options_per_minute: u32,
    /// Failed authentications (or INVITEs refused as not from a trunk) per minute before a ban.
    pub max_auth_failures: u32,
    /// Strikes (messages over the rate, malformed messages) per minute before a ban.
    pub max_strikes: u32,
    /// How long a ban lasts.
    pub ban: Duration,
    /// User-Agent substrings (case-insensitive) of scanners, banned on sight.
    pub scanner_agents: Vec<String>,
    /// Most addresses tracked at once; past it, the quietest are forgotten.
    pub max_tracked: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rate: 20,
            burst: 40,
            max_options_per_minute: 30,
            max_auth_failures: 5,
            max_strikes: 20,
            ban: Duration::from_secs(600),
            scanner_agents: [
                "friendly-scanner",
                "sipvicious",
                "sipcli",
                "sip-scan",
                "sipsak-scan",
                "vaxsipuseragent",
                "sundayddr",
                "iwar",
                "pplsip",
                "sipbomber",
                "smap",
            ]
            .map(str::to_owned)
            .to_vec(),
            max_tracked: 100_000,
        }
    }
}

/// A count over a fixed one-minute window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    const LENGTH: Duration = Duration::from_secs(60);

    fn new(now: Instant) -> Self {
        Self { start: now, count: 0 }
    }

    /// Counts one more at `now`; returns the count in the current window.
    fn bump(&mut self, now: Instant) -> u32 {
        if now.saturating_duration_since(self.start) >= Self::LENGTH {
            *self = Self::new(now);
        }
        self.count += 1;
        self.count
    }
}

/// What we know about one address.
#[derive(Debug, Clone, Copy)]
struct Source {
    /// GCRA theoretical arrival time.
    tat: Instant,
    last_seen: Instant,
    options: Window,
    auth_failures: Window,
    strikes: Window,
    banned_until: Option<Instant>,
}

/// The guard.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    sources: HashMap<IpAddr, Source>,
    /// Keys of `sources` in the order they were added (entries already forgotten are skipped):
    /// the eviction order when the table is full.
    order: VecDeque<IpAddr>,
    bans: VecDeque<(IpAddr, &'static str)>,
    last_sweep: Option<Instant>,
}

/// The key a source is tracked under: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber's prefix, so one allocation is one source). Shared with the API's trial-key limits.
pub fn source_prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Guard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        Self {
            config,
            sources: HashMap::new(),
            order: VecDeque::new(),
            bans: VecDeque::new(),
            last_sweep: None,
        }
    }

    fn source(&mut self, now: Instant, ip: IpAddr) -> &mut Source {
        let ip = source_prefix(ip);
        if !self.sources.contains_key(&ip) {
            if self.sources.len() >= self.config.max_tracked {
                self.expire(now);
            }
            // Still full: forget the oldest entry, banned or not (a forgotten scanner is banned
            // again by its next offence), rather than grow without bound.
            while self.sources.len() >= self.config.max_tracked.max(1) {
                match self.order.pop_front() {
                    Some(old) => {
                        self.sources.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(ip);
            // Forgotten entries leave stale keys behind: compact now and then (amortized O(1)).
            if self.order.len() > 2 * self.config.max_tracked.max(16) {
                let sources = &self.sources;
                self.order.retain(|k| sources.contains_key(k));
            }
        }
        let source = self.sources.entry(ip).or_insert(Source {
            tat: now,
            last_seen: now,
            options: Window::new(now),
            auth_failures: Window::new(now),
            strikes: Window::new(now),
            banned_until: None,
        });
        source.last_seen = now;
        source
    }

    /// Whether a message from `ip` may be processed: not banned, and within the rate.
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        if !self.config.enabled {
            return true;
        }
        let rate = self.config.rate.max(1);
        let burst = self.config.burst;
        let source = self.source(now, ip);
        if source.banned_until.is_some_and(|until| until > now) {
            return false;
        }
        source.banned_until = None;
        // GCRA: each message advances the theoretical arrival time by 1/rate; a message may arrive
        // up to `burst` intervals early.
        let interval = Duration::from_secs(1) / rate;
        let tolerance = interval * burst;
        let tat = source.tat.max(now);
        if tat.saturating_duration_since(now) > tolerance {
            self.strike(now, ip, "message flood");
            return false;
        }
        if let Some(source) = self.sources.get_mut(&source_prefix(ip)) {
            source.tat = tat + interval;
        }
        true
    }

    /// Looks at a request from `ip`; `true` when it got the source banned (drop it unanswered).
    pub fn inspect(&mut self, now: Instant, ip: IpAddr, request: &IncomingRequest) -> bool {
        if !self.config.enabled {
            return false;
        }
        let agent = request
            .msg
            .headers
            .get("user-agent")
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if !agent.is_empty()
            && self
                .config
                .scanner_agents
                .iter()
                .any(|s| agent.contains(&s.to_ascii_lowercase()))
        {
            self.ban(now, ip, "scanner user agent");
            return true;
        }
        if request.msg.method == Method::Options {
            let max = self.config.max_options_per_minute;
            if self.source(now, ip).options.bump(now) > max {
                self.ban(now, ip, "OPTIONS sweep");
                return true;
            }
        }
        if request.msg.method == Method::Register {
            // We are no registrar: REGISTERs from strangers are scanners looking for accounts.
            self.strike(now, ip, "REGISTER probing");
        }
        self.is_banned(now, ip)
    }

    /// A failed authentication (or an INVITE refused as not from a trunk) from `ip`.
    pub fn auth_failure(&mut self, now: Instant, ip: IpAddr) {
        if !self.config.enabled {
            return;
        }
        let max = self.config.max_auth_failures;
        if self.source(now, ip).auth_failures.bump(now) >= max {
            self.ban(now, ip, "repeated authentication failures");
        }
    }

    /// Counts a strike against `ip` (a message over the rate, a malformed message).
    pub fn strike(&mut self, now: Instant, ip: IpAddr, reason: &'static str) {
        if !self.config.enabled {
            return;
        }
        let max = self.config.max_strikes;
        if self.source(now, ip).strikes.bump(now) >= max {
            self.ban(now, ip, reason);
        }
    }

    fn ban(&mut self, now: Instant, ip: IpAddr, reason: &'static str) {
        let until = now + self.config.ban;
        let source = self.source(now, ip);
        let newly = source.banned_until.is_none_or(|u| u <= now);
        source.banned_until = Some(until);
        if newly {
            self.bans.push_back((ip, reason));
        }
    }

    /// Whether `ip` is banned at `now`.
    pub fn is_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.sources
            .get(&source_prefix(ip))
            .and_then(|s| s.banned_until)
            .is_some_and(|until| until > now)
    }

    /// The next new ban, for the log and the application.
    pub fn poll_ban(&mut self) -> Option<(IpAddr, &'static str)> {
        self.bans.pop_front()
    }

    /// Forgets quiet addresses whose bans are over (at most every 30 s).
    pub fn expire(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(30))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.sources.retain(|_, s| {
            s.banned_until.is_some_and(|until| until > now)
                || now.saturating_duration_since(s.last_seen) < Duration::from_secs(120)
        });
    }

    /// How many addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Incoming, Limits, parse};

    fn request(method: &str, agent: &str) -> IncomingRequest {
        let text = format!(
            "{method} sip:100@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKg\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:100@10.0.0.1>\r\nCall-ID: g\r\nCSeq: 1 {method}\r\nUser-Agent: {agent}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes(), &Limits::default()) {
            Ok(Incoming::Request(r)) => r,
            other => panic!("fixture: {other:?}"),
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn rate_limit_admits_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut guard = Guard::new(GuardConfig {
            rate: 10,
            burst: 5,
            max_strikes: 1000,
            ..GuardConfig::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let admitted = (0..20).filter(|_| guard.admit(t0, ip)).count();
        assert_eq!(admitted, 6, "the first, then a burst of 5");
        // At 10 per second, one more every 100 ms.
        assert!(guard.admit(t0 + Duration::from_millis(150), ip));
        assert!(!guard.admit(t0 + Duration::from_millis(150), ip));
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(guard.admit(t0, other), "limits are per address");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn scanners_sweeps_and_auth_failures_are_banned_for_a_while() {
        let t0 = Instant::now();
        let mut guard = Guard::new(GuardConfig {
            max_options_per_minute: 3,
            max_auth_failures: 2,
            ban: Duration::from_secs(60),
            ..GuardConfig::default()
        });
        let scanner: IpAddr = "198.51.100.1".parse().expect("ip");
        assert!(guard.inspect(t0, scanner, &request("OPTIONS", "friendly-scanner")));
        assert_eq!(guard.poll_ban(), Some((scanner, "scanner user agent")));
        assert!(!guard.admit(t0 + Duration::from_secs(59), scanner));
        assert!(guard.admit(t0 + Duration::from_secs(61), scanner), "bans end");

        let sweeper: IpAddr = "198.51.100.2".parse().expect("ip");
        let verdicts: Vec<bool> = (0..4)
            .map(|_| guard.inspect(t0, sweeper, &request("OPTIONS", "Linphone")))
            .collect();
        assert_eq!(verdicts, vec![false, false, false, true]);
        assert_eq!(guard.poll_ban(), Some((sweeper, "OPTIONS sweep")));

        let guesser: IpAddr = "198.51.100.3".parse().expect("ip");
        guard.auth_failure(t0, guesser);
        assert!(!guard.is_banned(t0, guesser));
        guard.auth_failure(t0, guesser);
        assert!(guard.is_banned(t0, guesser));
        assert_eq!(
            guard.poll_ban(),
            Some((guesser, "repeated authentication failures"))
        );
        assert_eq!(guard.poll_ban(), None);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn tracking_is_bounded() {
        let t0 = Instant::now();
        let mut guard = Guard::new(GuardConfig {
            max_tracked: 100,
            ..GuardConfig::default()
        });
        for i in 0..1000u32 {
            guard.admit(t0, IpAddr::from(i.to_be_bytes()));
        }
        assert!(guard.tracked() <= 100);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn a_flood_of_banned_sources_stays_within_the_bound() {
        let t0 = Instant::now();
        let mut guard = Guard::new(GuardConfig {
            max_tracked: 100,
            max_auth_failures: 1,
            ..GuardConfig::default()
        });
        // Every source gets banned at once: the table used to keep every ban past its bound.
        for i in 0..10_000u32 {
            let v4 = IpAddr::from((0x0a00_0000 | i).to_be_bytes());
            guard.auth_failure(t0, v4);
            let v6 = IpAddr::V6(std::net::Ipv6Addr::from(
                (0x2001_0db8_0000_0000_u128 + u128::from(i)) << 64,
            ));
            guard.auth_failure(t0, v6);
        }
        assert!(guard.tracked() <= 100, "{} tracked", guard.tracked());
        assert!(
            guard.order.len() <= 2 * 100,
            "{} keys in the eviction order",
            guard.order.len()
        );
        // The newest bans hold; the oldest were forgotten.
        assert!(guard.is_banned(t0, IpAddr::from((0x0a00_0000u32 | 9_999).to_be_bytes())));
        assert!(!guard.is_banned(t0, IpAddr::from(0x0a00_0000u32.to_be_bytes())));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // any origin will do for virtual time
    fn ipv6_sources_are_one_per_64() {
        let t0 = Instant::now();
        let mut guard = Guard::new(GuardConfig {
            max_auth_failures: 2,
            ..GuardConfig::default()
        });
        // Fresh addresses from one /64 are the same source: the second failure bans the prefix.
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        guard.auth_failure(t0, a);
        guard.auth_failure(t0, b);
        assert!(guard.is_banned(t0, "2001:db8:1:2:abcd::1".parse().expect("ip")));
        assert!(!guard.is_banned(t0, "2001:db8:1:3::1".parse().expect("ip")));
        assert_eq!(guard.tracked(), 1);
    }
}
