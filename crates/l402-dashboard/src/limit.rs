//! The sign-in limit: at most [`DEFAULT_MAX_FAILURES`] refused sign-ins
//! (a wrong API key or admin token) per client network (IPv4 /24, IPv6 /48)
//! in a window of [`DEFAULT_WINDOW`]; past it, `POST /dashboard/login`
//! answers 429 with `Retry-After` without checking the secret. A successful
//! sign-in does not count. The table is bounded ([`DEFAULT_MAX_NETWORKS`]):
//! past the bound, expired windows go first, then the oldest.
//!
//! The client is the TCP peer (`l402 serve` passes it as axum's
//! `ConnectInfo`) or, when the peer is one of the producer's trusted
//! proxies, the client it forwarded for
//! ([`Producer::client_ip`](l402_producer::Producer::client_ip), the rule
//! of the producer's own rate limit): behind a trusted reverse proxy each
//! client network has its own limit.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

/// Refused sign-ins allowed per network and window by default.
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// The window by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
/// Networks tracked at most by default.
pub const DEFAULT_MAX_NETWORKS: usize = 10_000;

/// The network a client is limited under.
pub(crate) fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
    }
}

/// The TCP peer of a request, when the server passed it.
pub(crate) struct Peer(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

struct Window {
    started: Instant,
    failures: u32,
}

/// The bounded table of refused sign-ins per network.
pub(crate) struct LoginLimit {
    max_failures: u32,
    window: Duration,
    max_networks: usize,
    table: Mutex<HashMap<IpAddr, Window>>,
}

impl LoginLimit {
    pub(crate) fn new(max_failures: u32, window: Duration, max_networks: usize) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_networks: max_networks.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(seconds to wait)` when `ip`'s network used up its failures.
    pub(crate) fn check(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        let table = self.lock();
        match table.get(&network(ip)) {
            Some(w) if w.failures >= self.max_failures => {
                let left = self.window.saturating_sub(w.started.elapsed());
                if left.is_zero() {
                    Ok(())
                } else {
                    Err(left.as_secs().max(1))
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a refused sign-in of `ip`.
    pub(crate) fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let key = network(ip);
        let now = Instant::now();
        let mut table = self.lock();
        if !table.contains_key(&key) && table.len() >= self.max_networks {
            let window = self.window;
            table.retain(|_, w| now.duration_since(w.started) < window);
            if table.len() >= self.max_networks
                && let Some(oldest) = table.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| *k)
            {
                table.remove(&oldest);
            }
        }
        let w = table.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(w.started) >= self.window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// Networks tracked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_network_is_refused_past_its_failures_and_others_are_not() {
        let limit = LoginLimit::new(3, DEFAULT_WINDOW, 100);
        for _ in 0..3 {
            assert!(limit.check(ip("10.1.2.3")).is_ok());
            limit.failed(ip("10.1.2.3"));
        }
        // The same /24, another address: refused too.
        let wait = limit.check(ip("10.1.2.99")).unwrap_err();
        assert!((1..=600).contains(&wait));
        assert!(limit.check(ip("10.1.3.1")).is_ok());
        // IPv6 per /48.
        for _ in 0..3 {
            limit.failed(ip("2001:db8:1:2::1"));
        }
        assert!(limit.check(ip("2001:db8:1:ffff::9")).is_err());
        assert!(limit.check(ip("2001:db8:2::1")).is_ok());
    }

    #[test]
    fn windows_end() {
        let limit = LoginLimit::new(1, Duration::from_millis(5), 100);
        limit.failed(ip("192.0.2.1"));
        assert!(limit.check(ip("192.0.2.1")).is_err());
        std::thread::sleep(Duration::from_millis(10));
        assert!(limit.check(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let limit = LoginLimit::new(1, DEFAULT_WINDOW, 50);
        for i in 0..200u32 {
            let [a, b, c, _] = (i << 8).to_be_bytes();
            limit.failed(Some(IpAddr::V4(Ipv4Addr::new(a, b, c, 1))));
            assert!(limit.len() <= 50);
        }
        assert_eq!(limit.len(), 50);
        // The newest is kept.
        let [a, b, c, _] = (199u32 << 8).to_be_bytes();
        assert!(
            limit
                .check(Some(IpAddr::V4(Ipv4Addr::new(a, b, c, 7))))
                .is_err()
        );
    }
}
