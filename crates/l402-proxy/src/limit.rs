//! Rate limits per service: per token (the paid requests of one L402 token)
//! or per client network (IPv4 /24, IPv6 /48, as freebies count them).
//!
//! Each limit is a token bucket written as GCRA (one timestamp per key, the
//! "theoretical arrival time"): `requests` per `period` on average, up to
//! `burst` at once. A request over the limit gets `429` with `Retry-After`
//! (gRPC clients: `grpc-status: 8`, RESOURCE_EXHAUSTED).
//!
//! Keys are kept in memory in a bounded table (least recently seen
//! evicted first: an evicted key starts with a full bucket), or, with
//! [`SharedCounters`] set on the proxy, in a store several proxies share.
//!
//! ```
//! use std::time::Duration;
//! use l402_proxy::{LimitBy, Protocol, RateLimit, Service};
//!
//! // Each token: 10 requests a minute, 3 at once; each network: 100 a second.
//! let service = Service::builder("llm", "127.0.0.1:8080", Protocol::Http)
//!     .rate_limit(RateLimit::new(LimitBy::Token, 10, Duration::from_secs(60)).burst(3))
//!     .rate_limit(RateLimit::new(LimitBy::Network, 100, Duration::from_secs(1)))
//!     .build()?;
//! assert_eq!(service.rate_limits().len(), 2);
//! # Ok::<(), l402_proxy::ServiceError>(())
//! ```

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashlink::LruCache;
use l402::TokenId;

use crate::counters::{Rate, SharedCounters};
use crate::freebie::Network;

/// The most keys (tokens or networks) one rate limit tracks in memory.
pub const DEFAULT_MAX_TRACKED_KEYS: usize = 65_536;

/// What a [`RateLimit`] counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitBy {
    /// The L402 token of a paid request (requests without a valid token
    /// are challenged before this limit is reached).
    Token,
    /// The client's network (IPv4 /24, IPv6 /48): every request to the
    /// service, paid or not, before anything else is done.
    Network,
}

impl LimitBy {
    /// `token` or `network`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitBy::Token => "token",
            LimitBy::Network => "network",
        }
    }
}

/// A rate limit: `requests` per `period` on average, at most `burst` at
/// once (default: `requests`), per token or per client network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    by: LimitBy,
    requests: u32,
    period: Duration,
    burst: u32,
}

impl RateLimit {
    /// `requests` per `period`, per `by`; the burst is `requests`.
    pub fn new(by: LimitBy, requests: u32, period: Duration) -> Self {
        RateLimit {
            by,
            requests,
            period,
            burst: requests,
        }
    }

    /// At most `burst` requests at once (a full bucket).
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// What requests are counted by.
    pub fn by(&self) -> LimitBy {
        self.by
    }

    /// Requests per period.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Requests at once.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The setting that is zero, if one is.
    pub(crate) fn zero_setting(&self) -> Option<&'static str> {
        if self.requests == 0 {
            Some("rate_limits.requests")
        } else if self.period.is_zero() {
            Some("rate_limits.per_secs")
        } else if self.burst == 0 {
            Some("rate_limits.burst")
        } else {
            None
        }
    }

    /// GCRA's emission interval and tolerance, in milliseconds.
    pub(crate) fn rate(&self) -> Rate {
        let period_ms = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        let interval_ms = (period_ms / u64::from(self.requests.max(1))).max(1);
        Rate {
            interval_ms,
            tolerance_ms: interval_ms.saturating_mul(u64::from(self.burst)),
        }
    }
}

/// What a limit is counted by, for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LimitKey {
    Token(TokenId),
    Network(Network),
}

impl LimitKey {
    pub(crate) fn network(ip: IpAddr) -> Self {
        LimitKey::Network(Network::of(ip))
    }

    /// The key as a shared store keeps it.
    fn text(&self) -> String {
        match self {
            LimitKey::Token(id) => hex::encode(id.0),
            LimitKey::Network(network) => network.text(),
        }
    }
}

/// One rate limit of one service, in force: in memory, or shared.
pub(crate) struct Limiter {
    rate: Rate,
    /// The shared store's scope: `rate:<service>:<by>`.
    scope: String,
    epoch: Instant,
    /// Each key's theoretical arrival time, in ms since `epoch`.
    local: Mutex<LruCache<LimitKey, u64>>,
    shared: Option<Arc<dyn SharedCounters>>,
}

impl Limiter {
    pub(crate) fn new(
        service: &str,
        limit: RateLimit,
        max_keys: usize,
        shared: Option<Arc<dyn SharedCounters>>,
    ) -> Self {
        Limiter {
            rate: limit.rate(),
            scope: format!("rate:{service}:{}", limit.by.as_str()),
            epoch: Instant::now(),
            local: Mutex::new(LruCache::new(max_keys.max(1))),
            shared,
        }
    }

    /// Takes one request for `key`: `Err(retry after)` over the limit. A
    /// shared store that fails lets the request through (logged): a rate
    /// limit protects the upstream, it does not decide who paid.
    pub(crate) async fn take(&self, key: LimitKey) -> Result<(), Duration> {
        match &self.shared {
            None => self.take_local(key),
            Some(shared) => match shared.take_rate(&self.scope, &key.text(), self.rate).await {
                Ok(taken) => taken,
                Err(e) => {
                    tracing::warn!(scope = %self.scope, error = %e, "shared rate limit unavailable: request let through");
                    Ok(())
                }
            },
        }
    }

    fn take_local(&self, key: LimitKey) -> Result<(), Duration> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut tats = match self.local.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let tat = tats.get(&key).copied().unwrap_or(now).max(now);
        let next = tat.saturating_add(self.rate.interval_ms);
        let ahead = next - now;
        if ahead > self.rate.tolerance_ms {
            return Err(Duration::from_millis(ahead - self.rate.tolerance_ms));
        }
        tats.insert(key, next);
        Ok(())
    }

    /// How many keys are tracked in memory.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.local.lock().map_or(0, |t| t.len())
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> LimitKey {
        LimitKey::network(text.parse().unwrap())
    }

    #[tokio::test]
    async fn a_burst_then_one_per_interval() {
        let l = Limiter::new(
            "s",
            RateLimit::new(LimitBy::Network, 2, Duration::from_millis(200)).burst(3),
            10,
            None,
        );
        for _ in 0..3 {
            assert!(l.take(ip("192.0.2.1")).await.is_ok());
        }
        let wait = l.take(ip("192.0.2.77")).await.unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            l.take(ip("198.51.100.1")).await.is_ok(),
            "another network has its own bucket"
        );
        tokio::time::sleep(Duration::from_millis(110)).await;
        assert!(l.take(ip("192.0.2.1")).await.is_ok(), "one more per 100 ms");
        assert!(l.take(ip("192.0.2.1")).await.is_err());
    }

    #[tokio::test]
    async fn tokens_are_counted_apart() {
        let l = Limiter::new(
            "s",
            RateLimit::new(LimitBy::Token, 1, Duration::from_secs(60)),
            10,
            None,
        );
        let (a, b) = (
            LimitKey::Token(TokenId([1; 32])),
            LimitKey::Token(TokenId([2; 32])),
        );
        assert!(l.take(a).await.is_ok());
        let wait = l.take(a).await.unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 60);
        assert!(l.take(b).await.is_ok());
    }

    #[tokio::test]
    async fn tracked_keys_are_bounded() {
        let l = Limiter::new(
            "s",
            RateLimit::new(LimitBy::Network, 1, Duration::from_secs(60)),
            100,
            None,
        );
        for i in 0..1000u32 {
            let key = LimitKey::network(IpAddr::from([10, (i >> 8) as u8, i as u8, 1]));
            assert!(l.take(key).await.is_ok());
        }
        assert_eq!(l.tracked(), 100);
        // The first networks were evicted: they start over.
        assert!(l.take(ip("10.0.0.1")).await.is_ok());
        // The most recent ones are still limited.
        assert!(l.take(ip("10.3.231.1")).await.is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }

    #[test]
    fn zero_settings_are_named() {
        let by = LimitBy::Token;
        assert_eq!(
            RateLimit::new(by, 0, Duration::from_secs(1)).zero_setting(),
            Some("rate_limits.requests")
        );
        assert_eq!(
            RateLimit::new(by, 1, Duration::ZERO).zero_setting(),
            Some("rate_limits.per_secs")
        );
        assert_eq!(
            RateLimit::new(by, 1, Duration::from_secs(1))
                .burst(0)
                .zero_setting(),
            Some("rate_limits.burst")
        );
    }
}
