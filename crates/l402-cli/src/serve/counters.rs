//! Freebies and rate limits shared by every `l402 serve` on one PostgreSQL
//! store: l402-proxy's [`SharedCounters`] on l402-store's
//! [`ProxyCounters`]. With SQLite (one process) the proxy counts in memory.
//!
//! The counters are made once, at start ([`shared`]), and handed to every
//! proxy built afterwards (the file's, SIGHUP's, the admin API's) through
//! [`super::proxy::Seller`]: a rebuilt proxy keeps the counts.

use std::sync::Arc;
use std::time::Duration;

use l402_proxy::counters::{CounterError, Quota, Rate, SharedCounters};
use l402_store::{CounterRate, ProxyCounters, Store};

use crate::config::{Config, StoreTarget};

/// The store's counters, for the proxy.
struct StoreCounters(ProxyCounters);

#[async_trait::async_trait]
impl SharedCounters for StoreCounters {
    async fn take_rate(
        &self,
        scope: &str,
        key: &str,
        rate: Rate,
    ) -> Result<Result<(), Duration>, CounterError> {
        let rate = CounterRate {
            interval_ms: rate.interval_ms,
            tolerance_ms: rate.tolerance_ms,
        };
        self.0
            .take_rate(scope, key, rate)
            .await
            .map_err(|e| CounterError(Box::new(e)))
    }

    async fn take_quota(&self, scope: &str, key: &str, quota: Quota) -> Result<bool, CounterError> {
        self.0
            .take_quota(scope, key, quota.limit, quota.window)
            .await
            .map_err(|e| CounterError(Box::new(e)))
    }
}

/// Whether `config`'s services count anything (freebies or rate limits).
fn counts(config: &Config) -> bool {
    config
        .services
        .iter()
        .any(|s| matches!(s.auth, l402_proxy::Auth::Freebie(_)) || !s.limits.rate_limits.is_empty())
}

/// Shared counters when the store is PostgreSQL and a service may count:
/// one of the file's does, or services can be added at runtime (`store`,
/// the producer's, is open). `store` is used if open, else the store is
/// opened here.
///
/// # Errors
/// The store cannot be opened.
pub(super) async fn shared(
    data_dir: &std::path::Path,
    config: &Config,
    store: Option<&Store>,
) -> anyhow::Result<Option<Arc<dyn SharedCounters>>> {
    if !(counts(config) || store.is_some())
        || !matches!(config.store.target, StoreTarget::Postgres { .. })
    {
        return Ok(None);
    }
    let store = match store {
        Some(store) => store.clone(),
        None => crate::state::open_store(data_dir, &config.store).await?,
    };
    Ok(Some(Arc::new(StoreCounters(ProxyCounters::new(store)))))
}
