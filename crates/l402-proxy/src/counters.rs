//! Counters several proxies share: freebies and rate limits counted across
//! every instance in front of one database. l402-proxy knows no database:
//! `l402 serve` implements [`SharedCounters`] on its store (SQLite or
//! PostgreSQL, one atomic upsert per request); without one, each proxy
//! counts in memory.

use std::time::Duration;

/// A GCRA rate, in milliseconds: one request per `interval_ms` on average,
/// a key's arrival time at most `tolerance_ms` ahead of now (the burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The time one request uses up.
    pub interval_ms: u64,
    /// How far ahead of now a key may run (`interval_ms` × burst).
    pub tolerance_ms: u64,
}

/// A quota: `limit` takes per key, counted for `window` from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The most takes.
    pub limit: u64,
    /// How long a key's count lives (then it starts over).
    pub window: Duration,
}

/// Why a shared counter could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("shared counter: {0}")]
pub struct CounterError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Counters shared by several proxies. Each call is one atomic operation:
/// two proxies taking the last unit at once get one `true` and one
/// `false`. Implementations bound what they keep (expired keys are
/// removed, and the count of keys is capped).
///
/// Scopes are `rate:<service>:<token|network>` and `freebie:<service>`;
/// keys are a token id or a client network, in hex.
#[async_trait::async_trait]
pub trait SharedCounters: Send + Sync + 'static {
    /// Takes one request from `key`'s bucket at `rate`: `Ok(Err(wait))`
    /// when it is empty, with the time until it holds one again.
    ///
    /// # Errors
    /// [`CounterError`] when the store cannot be reached.
    async fn take_rate(
        &self,
        scope: &str,
        key: &str,
        rate: Rate,
    ) -> Result<Result<(), Duration>, CounterError>;

    /// Takes one unit of `key`'s quota: `false` when it is used up.
    ///
    /// # Errors
    /// [`CounterError`] when the store cannot be reached.
    async fn take_quota(&self, scope: &str, key: &str, quota: Quota) -> Result<bool, CounterError>;
}
