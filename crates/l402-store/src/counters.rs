//! Counters the reverse proxy shares across instances: rate limits (GCRA,
//! one timestamp per key) and quotas (freebies: a count per key for a
//! window). Each take is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE
//! … WHERE … RETURNING`), the same SQL on SQLite and PostgreSQL, so two
//! proxies taking the last unit at once get one yes and one no.
//!
//! The table is bounded: every [`ProxyCounters::prune_every`] takes, rows
//! past their expiry are deleted, then the soonest to expire beyond
//! [`ProxyCounters::max_rows`] (a key dropped early starts over: a full
//! bucket, a fresh quota).
//!
//! ```
//! use std::time::Duration;
//! use l402_store::{CounterRate, ProxyCounters, Store};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let counters = ProxyCounters::new(Store::sqlite(dir.path().join("s.sqlite")).await?);
//! // Freebies: 2 per network.
//! let window = Duration::from_secs(86_400);
//! assert!(counters.take_quota("freebie:api", "4:c00002", 2, window).await?);
//! assert!(counters.take_quota("freebie:api", "4:c00002", 2, window).await?);
//! assert!(!counters.take_quota("freebie:api", "4:c00002", 2, window).await?);
//! // A rate limit of one a minute: the second waits.
//! let rate = CounterRate { interval_ms: 60_000, tolerance_ms: 60_000 };
//! assert!(counters.take_rate("rate:api:token", "ab", rate).await?.is_ok());
//! assert!(counters.take_rate("rate:api:token", "ab", rate).await?.is_err());
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::StoreError;
use crate::db::{Store, now_ms, to_i64, to_u64, writing};

/// The default most rows kept.
pub const DEFAULT_MAX_COUNTER_ROWS: u64 = 1_000_000;

/// A GCRA rate: one take per `interval_ms` on average; a key may run up to
/// `tolerance_ms` ahead of now (the burst: `interval_ms` × burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRate {
    /// The time one take uses up, in ms.
    pub interval_ms: u64,
    /// How far ahead of now a key may run, in ms.
    pub tolerance_ms: u64,
}

/// Shared counters on a [`Store`]. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ProxyCounters {
    store: Store,
    max_rows: u64,
    prune_every: u64,
    takes: AtomicU64,
}

/// The later of the stored arrival time and now ($3).
const LATER: &str =
    "(CASE WHEN proxy_counters.value > $3 THEN proxy_counters.value ELSE $3 END) + $4";

impl ProxyCounters {
    /// Counters on `store`: at most [`DEFAULT_MAX_COUNTER_ROWS`] rows,
    /// pruned every 1,024 takes.
    pub fn new(store: Store) -> Self {
        ProxyCounters {
            store,
            max_rows: DEFAULT_MAX_COUNTER_ROWS,
            prune_every: 1024,
            takes: AtomicU64::new(0),
        }
    }

    /// The most rows kept (at least 1).
    #[must_use]
    pub fn max_rows(mut self, max: u64) -> Self {
        self.max_rows = max.max(1);
        self
    }

    /// Prune once every `takes` takes (at least 1).
    #[must_use]
    pub fn prune_every(mut self, takes: u64) -> Self {
        self.prune_every = takes.max(1);
        self
    }

    /// Takes one from `key`'s bucket at `rate`: `Ok(Err(wait))` when it is
    /// empty, `wait` being the time until it holds one again.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn take_rate(
        &self,
        scope: &str,
        key: &str,
        rate: CounterRate,
    ) -> Result<Result<(), Duration>, StoreError> {
        self.maybe_prune().await?;
        let now = to_i64(now_ms());
        let (interval, tolerance) = (to_i64(rate.interval_ms), to_i64(rate.tolerance_ms));
        let sql = format!(
            "INSERT INTO proxy_counters (scope, counter_key, value, expires_ms) \
             VALUES ($1, $2, $3 + $4, $3 + $4) \
             ON CONFLICT (scope, counter_key) DO UPDATE SET value = {LATER}, expires_ms = {LATER} \
             WHERE {LATER} - $3 <= $5 RETURNING value"
        );
        let taken = writing!(self.store, |pool| {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .bind(scope)
                .bind(key)
                .bind(now)
                .bind(interval)
                .bind(tolerance)
                .fetch_optional(pool)
                .await?
        });
        if taken.is_some() {
            return Ok(Ok(()));
        }
        // Empty: when does it hold one again? (Read after the refusal; only
        // the Retry-After depends on it.)
        let tat = writing!(self.store, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT value FROM proxy_counters WHERE scope = $1 AND counter_key = $2",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(pool)
            .await?
        })
        .unwrap_or(now);
        let wait = to_u64(tat.saturating_add(interval) - tolerance - now).max(1);
        Ok(Err(Duration::from_millis(wait)))
    }

    /// Takes one of `key`'s `limit` units, counted for `window` from the
    /// first take: `false` when they are used up.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn take_quota(
        &self,
        scope: &str,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<bool, StoreError> {
        if limit == 0 {
            return Ok(false);
        }
        self.maybe_prune().await?;
        let now = to_i64(now_ms());
        let window = to_i64(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
        let taken = writing!(self.store, |pool| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO proxy_counters (scope, counter_key, value, expires_ms) \
                 VALUES ($1, $2, 1, $3 + $4) \
                 ON CONFLICT (scope, counter_key) DO UPDATE SET \
                 value = CASE WHEN proxy_counters.expires_ms <= $3 THEN 1 \
                 ELSE proxy_counters.value + 1 END, \
                 expires_ms = CASE WHEN proxy_counters.expires_ms <= $3 THEN $3 + $4 \
                 ELSE proxy_counters.expires_ms END \
                 WHERE proxy_counters.expires_ms <= $3 OR proxy_counters.value < $5 \
                 RETURNING value",
            )
            .bind(scope)
            .bind(key)
            .bind(now)
            .bind(window)
            .bind(to_i64(limit))
            .fetch_optional(pool)
            .await?
        });
        Ok(taken.is_some())
    }

    /// Deletes expired rows, then the soonest to expire beyond
    /// [`max_rows`](Self::max_rows); how many were deleted.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        let now = to_i64(now_ms());
        let expired = writing!(self.store, |pool| {
            sqlx::query("DELETE FROM proxy_counters WHERE expires_ms <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        let over = self.rows().await?.saturating_sub(self.max_rows);
        if over == 0 {
            return Ok(expired);
        }
        let dropped = writing!(self.store, |pool| {
            sqlx::query(
                "DELETE FROM proxy_counters WHERE (scope, counter_key) IN \
                 (SELECT scope, counter_key FROM proxy_counters ORDER BY expires_ms LIMIT $1)",
            )
            .bind(to_i64(over))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(expired + dropped)
    }

    /// How many rows there are.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn rows(&self) -> Result<u64, StoreError> {
        let n = writing!(self.store, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM proxy_counters")
                .fetch_one(pool)
                .await?
        });
        Ok(to_u64(n))
    }

    async fn maybe_prune(&self) -> Result<(), StoreError> {
        if self
            .takes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.prune_every)
        {
            self.prune().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sqlite(dir.path().join("s.sqlite")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_rate_gives_its_burst_then_says_how_long_to_wait() {
        let (_dir, store) = sqlite().await;
        let c = ProxyCounters::new(store);
        let rate = CounterRate {
            interval_ms: 10_000,
            tolerance_ms: 30_000,
        };
        for _ in 0..3 {
            assert_eq!(c.take_rate("s", "k", rate).await.unwrap(), Ok(()));
        }
        let wait = c.take_rate("s", "k", rate).await.unwrap().unwrap_err();
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert_eq!(c.take_rate("s", "other", rate).await.unwrap(), Ok(()));
        assert_eq!(c.take_rate("t", "k", rate).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_quota_is_used_up_then_starts_over_after_its_window() {
        let (_dir, store) = sqlite().await;
        let c = ProxyCounters::new(store);
        let w = Duration::from_millis(300);
        assert!(c.take_quota("f", "n", 2, w).await.unwrap());
        assert!(c.take_quota("f", "n", 2, w).await.unwrap());
        assert!(!c.take_quota("f", "n", 2, w).await.unwrap());
        assert!(!c.take_quota("f", "n", 0, w).await.unwrap());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(c.take_quota("f", "n", 2, w).await.unwrap());
    }

    #[tokio::test]
    async fn rows_are_bounded() {
        let (_dir, store) = sqlite().await;
        let c = ProxyCounters::new(store).max_rows(50).prune_every(1);
        // Each key lives a second longer than the one before.
        let w = |i: u64| Duration::from_secs(3600 + i);
        for i in 0..300 {
            assert!(c.take_quota("f", &format!("n{i}"), 1, w(i)).await.unwrap());
        }
        // Pruned before each take: at most the bound, plus the last take.
        assert!(c.rows().await.unwrap() <= 51, "{}", c.rows().await.unwrap());
        // The newest keys are kept (still used up), the oldest dropped.
        assert!(!c.take_quota("f", "n299", 1, w(299)).await.unwrap());
        assert!(c.take_quota("f", "n0", 1, w(0)).await.unwrap());
    }
}
