//! The producer's shared state: the store, the issuers, API keys, counters.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ::l402::Verifier;
use http::{HeaderMap, StatusCode};
use l402_lightning::Receiver;
use l402_server::Issuer;
use l402_server::idempotency::Claims;
use l402_store::{
    Authenticated, ChallengeRecord, MerchantStatus, ProducerStore, StoreError, VerificationCount,
};
use subtle::ConstantTimeEq;

use crate::batch::{BatchError, Batcher};
use crate::error::ApiError;
use crate::ratelimit::{ClientAddr, RateLimiter};
use crate::sha256;

const MAX_CACHED_KEYS: usize = 10_000;
const MAX_REMEMBERED_PAYMENTS: usize = 100_000;
/// Rows deleted per statement when pruning.
const PRUNE_BATCH: u32 = 1000;
/// Statements per pruning pass.
const PRUNE_ROUNDS: usize = 100;

pub(crate) async fn background(inner: Weak<Inner>, interval: Duration) {
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.flush().await {
            tracing::warn!(error = %e, "producer: cannot write verification counts; will retry");
        }
        ticks += 1;
        if ticks.is_multiple_of(60)
            && let Err(e) = inner.prune().await
        {
            tracing::warn!(error = %e, "producer: cannot delete expired records");
        }
    }
}

type CountKey = (i64, u64);

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ProducerStore>,
    pub(crate) receiver: Arc<dyn Receiver>,
    /// Merchants' challenges (`POST /api/l402/challenges`).
    pub(crate) issuer: Issuer,
    /// l402kit's challenges (`POST /api/invoice`): tokens for an hour.
    pub(crate) kit_issuer: Issuer,
    /// In-memory idempotency in front of the store's claims.
    pub(crate) claims: Claims,
    pub(crate) verifier: Verifier,
    pub(crate) admin_token_hash: Option<[u8; 32]>,
    pub(crate) limiter: RateLimiter,
    pub(crate) clients: ClientAddr,
    pub(crate) max_price_sats: u64,
    pub(crate) key_cache_ttl: Duration,
    pub(crate) challenge_retention: Duration,
    pub(crate) batcher: Option<Batcher>,
    /// sha256(presented key) → (when checked, who).
    pub(crate) keys: Mutex<HashMap<[u8; 32], (Instant, Authenticated)>>,
    /// (merchant, unix day) → (valid, invalid).
    pub(crate) counts: Mutex<HashMap<CountKey, (u64, u64)>>,
    /// Payment hashes already recorded by this instance.
    pub(crate) paid: Mutex<HashSet<[u8; 32]>>,
    pub(crate) flushing: tokio::sync::Mutex<()>,
    /// LNURL-auth and sessions.
    pub(crate) identity: crate::IdentityConfig,
    /// Webhooks out: settings, signing, the worker's wake-up.
    pub(crate) webhooks: crate::webhooks::Webhooks,
    /// The API directory: settings, its fetcher and rate limit.
    pub(crate) directory: crate::directory::Directory,
    /// Splits and payouts, when configured.
    pub(crate) splits: Option<crate::splits::Splits>,
    /// Passes (time-based access).
    pub(crate) passes: crate::passes::Passes,
    /// The reverse proxy's services, when the server runs one
    /// ([`crate::Producer::set_proxy_catalog`]).
    pub(crate) proxy_catalog: std::sync::OnceLock<Arc<dyn crate::ProxyCatalog>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn store_unavailable(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "producer: store failed");
    ApiError::unavailable(
        "store_unavailable",
        "the database is unavailable; try again shortly",
    )
}

impl Inner {
    /// The merchant an `X-API-Key` authenticates (cached), or 401/403.
    pub(crate) async fn merchant(&self, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
        let Some(value) = headers.get("x-api-key") else {
            return Err(ApiError::unauthorized("missing X-API-Key header").field_named("X-API-Key"));
        };
        let presented = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("invalid API key").field_named("X-API-Key"))?;
        let digest = sha256(presented.as_bytes());
        let cached = lock(&self.keys)
            .get(&digest)
            .filter(|(at, _)| at.elapsed() < self.key_cache_ttl)
            .map(|(_, who)| who.clone());
        let who = match cached {
            Some(who) => who,
            None => {
                let who = self
                    .store
                    .authenticate(presented)
                    .await
                    .map_err(|e| store_unavailable(&e))?
                    .ok_or_else(|| {
                        ApiError::unauthorized("invalid API key").field_named("X-API-Key")
                    })?;
                let mut keys = lock(&self.keys);
                if keys.len() >= MAX_CACHED_KEYS {
                    keys.clear();
                }
                keys.insert(digest, (Instant::now(), who.clone()));
                who
            }
        };
        if who.merchant.status != MerchantStatus::Active {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "merchant_suspended",
                format!("merchant {} is suspended", who.merchant.id),
            ));
        }
        Ok(who)
    }

    /// Forgets cached keys (after a revocation through this instance).
    pub(crate) fn forget_keys(&self) {
        lock(&self.keys).clear();
    }

    pub(crate) fn is_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.admin_token_hash else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "admin_disabled",
                "the admin API is disabled: no admin token is configured",
            ));
        };
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-admin-token").and_then(|v| v.to_str().ok()));
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized(
                "missing admin token (Authorization: Bearer <token>)",
            )
            .field_named("Authorization"));
        };
        if bool::from(sha256(presented.trim().as_bytes()).ct_eq(expected)) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("invalid admin token").field_named("Authorization"))
        }
    }

    /// The client of a request from `peer` (see [`ClientAddr`]).
    pub(crate) fn client_addr(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        peer.map(|peer| self.clients.of(headers, peer))
    }

    /// Applies the rate limit: 429 past it; 500 when the server was not
    /// started with connection info (the limit cannot work without it, and
    /// is never silently off).
    pub(crate) fn rate_limit(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        self.limit_by(&self.limiter, headers, peer)
    }

    /// [`Inner::rate_limit`] under another limit (the directory's).
    pub(crate) fn limit_by(
        &self,
        limiter: &RateLimiter,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        if !limiter.enabled() {
            return Ok(());
        }
        let Some(client) = self.client_addr(headers, peer) else {
            tracing::error!(
                "producer: no client address; serve the router with \
                 into_make_service_with_connect_info::<SocketAddr>() (the rate limit needs it)"
            );
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no_client_address",
                "the server cannot see client addresses, so it cannot apply its rate limit",
            ));
        };
        limiter.check(client).map_err(|wait| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; try again in {wait} s"),
            )
            .with_error("Rate limit exceeded")
            .retry_after(wait)
        })
    }

    /// Records an anonymous challenge (batched; see [`crate::batch`]).
    pub(crate) async fn record(&self, record: ChallengeRecord) -> Result<(), ApiError> {
        let result = match &self.batcher {
            Some(batcher) => batcher.record(record).await,
            None => self
                .store
                .record_challenge(&record)
                .await
                .map_err(|e| BatchError::Store(Arc::new(e))),
        };
        match result {
            Ok(()) => Ok(()),
            Err(BatchError::Busy) => Err(ApiError::unavailable(
                "store_busy",
                "too many challenges are waiting to be recorded; try again shortly",
            )
            .retry_after(1)),
            Err(BatchError::Store(e)) => Err(store_unavailable(&e)),
        }
    }

    /// Deletes expired claims and old unpaid challenges, a bounded batch at a
    /// time, until none is left (or a batch limit of rounds is reached).
    pub(crate) async fn prune(&self) -> Result<(u64, u64), StoreError> {
        let (mut claims, mut challenges) = (0, 0);
        for _ in 0..PRUNE_ROUNDS {
            let n = self.store.purge_claims(now_ms(), PRUNE_BATCH).await?;
            claims += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
        }
        let before = l402_server::unix_now().saturating_sub(self.challenge_retention.as_secs());
        for _ in 0..PRUNE_ROUNDS {
            let n = self.store.prune_unpaid(before, PRUNE_BATCH).await?;
            challenges += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
        }
        Ok((claims, challenges))
    }

    pub(crate) fn count(&self, merchant_id: i64, valid: bool) {
        let day = l402_server::unix_now() / 86_400;
        let mut counts = lock(&self.counts);
        let entry = counts.entry((merchant_id, day)).or_default();
        if valid {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// Whether this instance already recorded the payment (and remembers it now).
    pub(crate) fn seen_payment(&self, hash: &[u8; 32]) -> bool {
        lock(&self.paid).contains(hash)
    }

    pub(crate) fn remember_payment(&self, hash: [u8; 32]) {
        let mut paid = lock(&self.paid);
        if paid.len() >= MAX_REMEMBERED_PAYMENTS {
            paid.clear();
        }
        paid.insert(hash);
    }

    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        let _one = self.flushing.lock().await;
        let taken: Vec<(CountKey, (u64, u64))> = lock(&self.counts).drain().collect();
        if taken.is_empty() {
            return Ok(());
        }
        let counts: Vec<VerificationCount> = taken
            .iter()
            .map(|((merchant_id, day), (valid, invalid))| VerificationCount {
                merchant_id: *merchant_id,
                day: l402_server::rfc3339(day.saturating_mul(86_400))[..10].to_owned(),
                valid: *valid,
                invalid: *invalid,
            })
            .collect();
        if let Err(e) = self.store.add_verifications(&counts).await {
            // Put them back for the next try.
            let mut current = lock(&self.counts);
            for (key, (valid, invalid)) in taken {
                let entry = current.entry(key).or_default();
                entry.0 += valid;
                entry.1 += invalid;
            }
            return Err(e);
        }
        Ok(())
    }
}
