//! Anonymous trial keys that cannot be farmed. With `[server] trial_keys` on, `POST /call` without
//! credentials mints a key; without a bound, every request would mint a fresh key and no per-key
//! cap would ever apply. Minting is capped per client address per UTC day (IPv6 per /64, one
//! subscriber's prefix). The client address is the TCP peer, or, only when that peer is a
//! configured trusted reverse proxy, the nearest untrusted address in `X-Forwarded-For`: a header
//! anyone can write is never believed from anyone else.

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Distinct client addresses tracked per day; past it, new addresses mint nothing until the next
/// day (a flood of sources fails closed, in bounded memory).
const MAX_SOURCES: usize = 100_000;

/// How trial keys are handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialPolicy {
    /// Whether anonymous trial keys are issued at all.
    pub enabled: bool,
    /// Keys one client address may mint per UTC day.
    pub keys_per_source_per_day: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Keys minted today, per client address.
#[derive(Debug, Default)]
pub struct TrialMints {
    today: Mutex<(i64, HashMap<IpAddr, u32>)>,
}

impl TrialMints {
    /// Counts a mint for `source` on `day` (days since the epoch); `false` when the source has
    /// used up `per_day`, or when too many sources were seen today.
    pub fn try_mint(&self, source: IpAddr, day: i64, per_day: u32) -> bool {
        let mut today = self.today.lock().unwrap_or_else(|e| e.into_inner());
        if today.0 != day {
            *today = (day, HashMap::new());
        }
        let key = sip_stack::guard::source_prefix(source);
        let known = today.1.contains_key(&key);
        if !known && today.1.len() >= MAX_SOURCES {
            return false;
        }
        let count = today.1.entry(key).or_insert(0);
        if *count >= per_day {
            return false;
        }
        *count += 1;
        true
    }
}

/// The client's address: the TCP `peer`, or when the peer is a trusted proxy, the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. `None` when the peer is unknown.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn each_source_mints_its_share_per_day() {
        let mints = TrialMints::default();
        let a: IpAddr = "203.0.113.5".parse().expect("ip");
        let b: IpAddr = "203.0.113.6".parse().expect("ip");
        assert!(mints.try_mint(a, 1, 2) && mints.try_mint(a, 1, 2));
        assert!(!mints.try_mint(a, 1, 2), "a's share is used up");
        assert!(mints.try_mint(b, 1, 2), "per source");
        assert!(mints.try_mint(a, 2, 2), "a new day");
        // One /64 is one source.
        let v6a: IpAddr = "2001:db8:5:6::1".parse().expect("ip");
        let v6b: IpAddr = "2001:db8:5:6:ffff::2".parse().expect("ip");
        assert!(mints.try_mint(v6a, 2, 1));
        assert!(!mints.try_mint(v6b, 2, 1));
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.9, 203.0.113.7"),
        );
        // From the proxy: the nearest untrusted hop (the client can prepend anything).
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy]),
            Some("203.0.113.7".parse().expect("ip"))
        );
        // From anyone else: the header is ignored.
        let stranger: IpAddr = "192.0.2.50".parse().expect("ip");
        assert_eq!(client_address(Some(stranger), &headers, &[proxy]), Some(stranger));
        assert_eq!(client_address(None, &headers, &[proxy]), None);
    }
}
