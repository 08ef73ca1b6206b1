//! A per-client fixed-window rate limit (l402kit: 20 requests a minute per
//! IP), and who the client is.
//!
//! - **The client address** is the peer's, from axum's `ConnectInfo`.
//!   `X-Forwarded-For` is honoured only when the peer is a configured trusted
//!   proxy; then the client is the right-most hop that is not itself a
//!   trusted proxy (hops to the left of it were written by the client and
//!   prove nothing).
//! - **IPv6 clients are limited per /64**: one host usually holds a whole
//!   /64, so per-address limits would not limit it.
//! - **Bounded**: at most `max_clients` windows are tracked, in a
//!   least-recently-used map; past the bound the least recently seen client
//!   is forgotten, in O(1).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use http::HeaderMap;
use ipnet::IpNet;

const WINDOW: Duration = Duration::from_secs(60);

/// The default bound on clients tracked by the rate limit.
pub const DEFAULT_MAX_TRACKED_CLIENTS: usize = 100_000;

/// The key a client is limited under: its IPv4 address or its IPv6 /64.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Who sent a request: the peer, or, behind trusted proxies, the right-most
/// untrusted `X-Forwarded-For` hop.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientAddr {
    trusted: Vec<IpNet>,
}

impl ClientAddr {
    pub(crate) fn new(trusted: Vec<IpNet>) -> Self {
        ClientAddr { trusted }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request whose peer is `peer`.
    pub(crate) fn of(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        // Right to left: each hop was appended by the one after it.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // Garbage where an address should be: stop at the last good hop.
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    window: Duration,
    windows: Mutex<LruCache<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32, max_clients: usize) -> Self {
        Self::per_window(per_minute, WINDOW, max_clients)
    }

    /// `n` requests per `window` (the directory's registrations: per hour).
    pub(crate) fn per_window(n: u32, window: Duration, max_clients: usize) -> Self {
        RateLimiter {
            per_minute: n,
            window,
            windows: Mutex::new(LruCache::new(max_clients.max(1))),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.per_minute > 0
    }

    /// How many clients are tracked.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// `Ok` if the client may make another request now, else the seconds
    /// until its window ends.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = limit_key(client);
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = match windows.get_mut(&key) {
            Some(entry) => entry,
            None => {
                // Past the bound, the least recently seen client goes (O(1)).
                windows.insert(key, (now, 0));
                windows.get_mut(&key).ok_or(1u64)?
            }
        };
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address() {
        let limiter = RateLimiter::new(2, 10);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(limiter.check(b).is_ok());
        assert!(RateLimiter::new(0, 10).check(a).is_ok());
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let limiter = RateLimiter::new(2, 10);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(b).is_ok());
        assert!(limiter.check(a).is_err(), "same /64");
        assert!(limiter.check(other).is_ok(), "another /64");
    }

    #[test]
    fn tracked_clients_are_bounded_and_the_least_recent_goes() {
        let limiter = RateLimiter::new(1, 100);
        let first: IpAddr = [10, 0, 0, 0].into();
        assert!(limiter.check(first).is_ok());
        assert!(limiter.check(first).is_err());
        for i in 1..=1000u32 {
            let ip: IpAddr = std::net::Ipv4Addr::from(0x0b00_0000 + i).into();
            assert!(limiter.check(ip).is_ok());
            assert!(limiter.tracked() <= 100);
        }
        assert_eq!(limiter.tracked(), 100);
        // The first client was forgotten: a fresh window.
        assert!(limiter.check(first).is_ok());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies_right_most_untrusted_hop() {
        let clients = ClientAddr::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.7, 10.0.0.2".parse().unwrap(),
        );
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let stranger: IpAddr = [198, 51, 100, 1].into();
        // From a trusted proxy: the right-most hop that is not a proxy.
        assert_eq!(
            clients.of(&headers, proxy),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // From anyone else: the header is the client's own claim, ignored.
        assert_eq!(clients.of(&headers, stranger), stranger);
        // Trusted by default: nothing.
        assert_eq!(ClientAddr::default().of(&headers, proxy), proxy);
        // All hops trusted: the left-most.
        headers.insert("x-forwarded-for", "10.1.1.1, 10.0.0.2".parse().unwrap());
        assert_eq!(
            clients.of(&headers, proxy),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        // A garbage hop stops the walk at the last good one.
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, junk, 10.0.0.2".parse().unwrap(),
        );
        assert_eq!(
            clients.of(&headers, proxy),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        // IPv6 loopback proxy.
        headers.insert("x-forwarded-for", "2001:db8::5".parse().unwrap());
        assert_eq!(
            clients.of(&headers, "::1".parse().unwrap()),
            "2001:db8::5".parse::<IpAddr>().unwrap()
        );
    }
}
