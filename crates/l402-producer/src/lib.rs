//! # l402-producer: the producer API
//!
//! A hosted-style seller service over HTTP, for programs in
//! any language, for many merchants, on one machine or many.
//!
//! | Endpoint | Compatible with | Auth |
//! |---|---|---|
//! | `POST /api/l402/challenges` | Lightning Enable's producer API (`l402-server`, `l402-express`, `lightning-enable-mcp`) | `X-API-Key` |
//! | `POST /api/l402/challenges/verify` | Lightning Enable | `X-API-Key` |
//! | `GET /api/l402/stats` | (this project) the merchant's own totals | `X-API-Key` |
//! | `GET /api/l402/status` | Lightning Enable's free status probe | none |
//! | `POST /api/invoice`, `POST /api/verify` | l402kit's hosted API | none (rate limited per address) |
//! | `/api/admin/...` | (this project) merchants, API keys, stats | `Authorization: Bearer <admin token>` |
//! | `GET /api/openapi.json` | the OpenAPI 3.1 document of all of the above | none |
//!
//! Tokens are minted with the same [`l402::Minter`](::l402::Minter) and verified with the same
//! [`l402::Verifier`](::l402::Verifier) as the [`L402Layer`](l402_server::L402Layer), and are bound to
//! the merchant (`merchant=<id>`), the resource and the amount, and expire
//! after the token lifetime. Verification reads no database, so any number of
//! instances sharing the server secret (and, for idempotency and stats, one
//! PostgreSQL) verify each other's tokens.
//!
//! **Tokens are reusable until they expire** (as Aperture's and the L402
//! layer's): a verified token is not consumed. A seller that wants single use
//! keeps the `paymentHash` of what it served. Both verify endpoints answer
//! `200` for valid and invalid tokens alike (`valid:false` with an `error`).
//!
//! Records: a challenge is stored before it is answered (a store failure
//! answers 503, never a challenge that was not recorded); the first valid
//! verification of a payment hash is stored as a payment before it is
//! answered; verification counts are kept in memory and flushed every second
//! and by [`Producer::flush`].
//!
//! Idempotency: a challenge request with the same `X-Idempotency-Key` (at most
//! 256 characters), or without one from the same client address, for the same
//! resource and price within 60 seconds gets the same challenge, across
//! instances sharing a database. As with Lightning Enable, the "client" is
//! whoever calls the API, usually the merchant's own server: without a key,
//! two buyers of the same resource within a minute get the same invoice, so
//! sellers should send a per-request `X-Idempotency-Key`. A longer key, or
//! one that is not text, is refused (400 naming the header), not ignored.
//! Behind a proxy, [`ProducerBuilder::trust_forwarded_for`] takes the
//! address from `X-Forwarded-For`; the `POST /api/invoice` rate limit is kept
//! per instance.
//!
//! API keys are cached for a few seconds (`key_cache_ttl`, default 5 s): a key
//! revoked on one instance stops working on the others within that time, and
//! immediately on the instance that revoked it through the admin API.
//!
//! ```
//! use std::sync::Arc;
//! use l402::Keyring;
//! use l402_lightning::dev::DevNode;
//! use l402_producer::Producer;
//! use l402_store::Store;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::sqlite(dir.path().join("store.sqlite")).await?;
//! let node = DevNode::builder().in_memory().open().await?;
//! let producer = Producer::builder(
//!     Arc::new(store),
//!     Arc::new(node.wallet("merchant").await?),
//!     Keyring::new(1, [7; 32]),
//! )
//! .admin_token("a long random admin token")
//! .rate_limit_per_minute(20)
//! .build();
//! let router: axum::Router = producer.router();
//! // axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = router;
//! # Ok(()) }
//! ```

mod admin;
mod decode;
mod error;
mod kit;
mod l402;
mod openapi;
mod ratelimit;
mod record;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ::l402::{Keyring, Minter, Verifier};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use l402_lightning::Receiver;
use l402_store::{Authenticated, MerchantStatus, ProducerStore, StoreError, VerificationCount};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::cors::CorsLayer;

pub use decode::MAX_BODY_BYTES;
pub use openapi::openapi;

use error::ApiError;
use ratelimit::RateLimiter;

/// The default per-address limit of the l402kit-compatible `POST /api/invoice`.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 20;
/// The highest price a challenge may ask, in sats (1 BTC).
pub const DEFAULT_MAX_PRICE_SATS: u64 = 100_000_000;
/// How long an idempotent challenge request returns the same challenge.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(60);
/// The longest `X-Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 256;

const MAX_CACHED_KEYS: usize = 10_000;
const MAX_REMEMBERED_PAYMENTS: usize = 100_000;

/// The producer API, ready to be served. Cheap to clone.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("backend", &self.inner.receiver.backend())
            .field("admin_api", &self.inner.admin_token_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Producer`].
#[must_use]
pub struct ProducerBuilder {
    store: Arc<dyn ProducerStore>,
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    admin_token: Option<String>,
    rate_limit_per_minute: u32,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    kit_token_lifetime: Duration,
    max_price_sats: u64,
    key_cache_ttl: Duration,
    trust_forwarded_for: bool,
    flush_interval: Duration,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// The admin token for `/api/admin/...` (no admin API without one).
    /// Only its hash is kept; presented tokens are compared in constant time.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// Requests per minute per client address on `POST /api/invoice`
    /// (default 20; 0 turns the limit off).
    pub fn rate_limit_per_minute(mut self, n: u32) -> Self {
        self.rate_limit_per_minute = n;
        self
    }

    /// How long tokens from `POST /api/l402/challenges` stay valid (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long invoices stay payable (default 10 minutes).
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    /// The highest price accepted, in sats (default 100,000,000).
    pub fn max_price_sats(mut self, sats: u64) -> Self {
        self.max_price_sats = sats.max(1);
        self
    }

    /// How long an authenticated API key is remembered (default 5 s).
    pub fn key_cache_ttl(mut self, ttl: Duration) -> Self {
        self.key_cache_ttl = ttl;
        self
    }

    /// Take the client address from the first `X-Forwarded-For` entry (only
    /// behind a proxy that sets it; default off: the peer address).
    pub fn trust_forwarded_for(mut self, on: bool) -> Self {
        self.trust_forwarded_for = on;
        self
    }

    /// How often verification counts are written (default 1 s).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Builds the producer. Inside a Tokio runtime this also starts the task
    /// that flushes counters and purges old idempotency records; it stops when
    /// the last clone of the producer is dropped.
    pub fn build(self) -> Producer {
        let inner = Arc::new(Inner {
            store: self.store,
            receiver: self.receiver,
            minter: Minter::new(self.keys.clone()),
            verifier: Verifier::new(self.keys),
            admin_token_hash: self.admin_token.map(|t| sha256(t.as_bytes())),
            limiter: RateLimiter::new(self.rate_limit_per_minute),
            token_lifetime: self.token_lifetime,
            invoice_expiry: self.invoice_expiry,
            kit_token_lifetime: self.kit_token_lifetime,
            max_price_sats: self.max_price_sats,
            key_cache_ttl: self.key_cache_ttl,
            trust_forwarded_for: self.trust_forwarded_for,
            keys: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            paid: Mutex::new(HashSet::new()),
            flushing: tokio::sync::Mutex::new(()),
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(background(Arc::downgrade(&inner), self.flush_interval));
        }
        Producer { inner }
    }
}

async fn background(inner: Weak<Inner>, interval: Duration) {
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.flush().await {
            tracing::warn!(error = %e, "producer: cannot write verification counts; will retry");
        }
        ticks += 1;
        if ticks.is_multiple_of(60) {
            let before = now_ms().saturating_sub(2 * IDEMPOTENCY_WINDOW.as_millis() as u64);
            if let Err(e) = inner.store.purge_idempotency(before).await {
                tracing::warn!(error = %e, "producer: cannot purge idempotency records");
            }
        }
    }
}

type CountKey = (i64, u64);

pub(crate) struct Inner {
    store: Arc<dyn ProducerStore>,
    receiver: Arc<dyn Receiver>,
    minter: Minter,
    verifier: Verifier,
    admin_token_hash: Option<[u8; 32]>,
    limiter: RateLimiter,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    kit_token_lifetime: Duration,
    max_price_sats: u64,
    key_cache_ttl: Duration,
    trust_forwarded_for: bool,
    /// sha256(presented key) → (when checked, who).
    keys: Mutex<HashMap<[u8; 32], (Instant, Authenticated)>>,
    /// (merchant, unix day) → (valid, invalid).
    counts: Mutex<HashMap<CountKey, (u64, u64)>>,
    /// Payment hashes already recorded by this instance.
    paid: Mutex<HashSet<[u8; 32]>>,
    flushing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn store_unavailable(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "producer: store failed");
    ApiError::unavailable(
        "store_unavailable",
        "the database is unavailable; try again shortly",
    )
}

impl Inner {
    /// The merchant an `X-API-Key` authenticates (cached), or 401/403.
    async fn merchant(&self, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
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
    fn forget_keys(&self) {
        lock(&self.keys).clear();
    }

    fn is_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
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

    fn client_addr(&self, parts: &Parts) -> Option<IpAddr> {
        if self.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }

    fn count(&self, merchant_id: i64, valid: bool) {
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
    fn seen_payment(&self, hash: &[u8; 32]) -> bool {
        lock(&self.paid).contains(hash)
    }

    fn remember_payment(&self, hash: [u8; 32]) {
        let mut paid = lock(&self.paid);
        if paid.len() >= MAX_REMEMBERED_PAYMENTS {
            paid.clear();
        }
        paid.insert(hash);
    }

    async fn flush(&self) -> Result<(), StoreError> {
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

impl ApiError {
    fn field_named(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

/// Reads the body (at most [`MAX_BODY_BYTES`]), answering 413 beyond.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )
            .field_named("(body)")
        })
}

fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    )
    .into_response()
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

type Shared = Arc<Inner>;

fn route(method: MethodRouter<Shared>) -> MethodRouter<Shared> {
    method.fallback(|| async { method_not_allowed() })
}

const KIT_PATHS: &[&str] = &["/api/invoice", "/api/verify"];

/// Every route, by path: the OpenAPI document lists exactly these paths (a
/// unit test checks it), and an integration test exercises each documented
/// method and status and checks that the undocumented methods answer 405.
fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/l402/challenges", post(l402::create)),
        ("/api/l402/challenges/verify", post(l402::verify)),
        ("/api/l402/stats", get(l402::stats)),
        ("/api/l402/status", get(l402::status)),
        // l402kit's API is called from browsers too: CORS for any origin.
        (
            "/api/invoice",
            post(kit::invoice).layer(CorsLayer::permissive()),
        ),
        (
            "/api/verify",
            post(kit::verify).layer(CorsLayer::permissive()),
        ),
        (
            "/api/admin/merchants",
            get(admin::list_merchants).post(admin::create_merchant),
        ),
        (
            "/api/admin/merchants/{id}/keys",
            get(admin::list_keys).post(admin::create_key),
        ),
        (
            "/api/admin/merchants/{id}/keys/{key_id}",
            delete(admin::revoke_key),
        ),
        ("/api/admin/merchants/{id}/status", post(admin::set_status)),
        ("/api/admin/stats", get(admin::stats)),
        (
            "/api/openapi.json",
            get(|| async { json(StatusCode::OK, openapi()) }),
        ),
    ]
}

impl Producer {
    /// Starts a producer storing in `store`, minting invoices with `receiver`
    /// and signing tokens with `keys` (the same keyring as the L402 layer).
    pub fn builder(
        store: Arc<dyn ProducerStore>,
        receiver: Arc<dyn Receiver>,
        keys: Keyring,
    ) -> ProducerBuilder {
        ProducerBuilder {
            store,
            receiver,
            keys,
            admin_token: None,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            token_lifetime: Duration::from_secs(3600),
            invoice_expiry: Duration::from_secs(600),
            kit_token_lifetime: Duration::from_secs(3600),
            max_price_sats: DEFAULT_MAX_PRICE_SATS,
            key_cache_ttl: Duration::from_secs(5),
            trust_forwarded_for: false,
            flush_interval: Duration::from_secs(1),
        }
    }

    /// The API's routes. Serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the
    /// rate limit and address-based idempotency see client addresses.
    pub fn router(&self) -> Router {
        routes()
            .into_iter()
            .fold(Router::new(), |router, (path, method)| {
                let method = route(method);
                // l402kit's API is called from browsers too: CORS for any origin.
                if KIT_PATHS.contains(&path) {
                    router.route(path, method.layer(CorsLayer::permissive()))
                } else {
                    router.route(path, method)
                }
            })
            .with_state(self.inner.clone())
    }

    /// A [`SalesRecorder`](l402_server::SalesRecorder) that keeps the sales of
    /// routes behind [`L402Layer`](l402_server::L402Layer)s in this
    /// producer's store too, as merchant 0 with API `"route"`: each 402
    /// challenge is recorded before it is sent (if the store fails, the answer
    /// is 503 instead), and each payment at the first paid request that
    /// reaches the route.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use l402::Keyring;
    /// # use l402_lightning::dev::DevNode;
    /// # use l402_producer::Producer;
    /// # use l402_server::{L402Layer, Paid};
    /// # use l402_store::Store;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Arc::new(Store::sqlite(dir.path().join("s.sqlite")).await?);
    /// # let node = DevNode::builder().in_memory().open().await?;
    /// let receiver = Arc::new(node.wallet("merchant").await?);
    /// let keys = Keyring::new(1, [7; 32]);
    /// let producer = Producer::builder(store, receiver.clone(), keys.clone()).build();
    /// let paid = L402Layer::builder(receiver, keys)
    ///     .price_sats(21)
    ///     .recorder(producer.sales_recorder())
    ///     .build();
    /// let router = axum::Router::new()
    ///     .route("/joke", axum::routing::get(|_: Paid| async { "a joke" }).layer(paid))
    ///     .merge(producer.router());
    /// # let _ = router;
    /// # Ok(()) }
    /// ```
    pub fn sales_recorder(&self) -> Arc<dyn l402_server::SalesRecorder> {
        Arc::new(record::SalesLog {
            inner: self.inner.clone(),
        })
    }

    /// Writes the verification counts held in memory.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails (the counts are kept for the next try).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn the_document_lists_exactly_the_routed_paths() {
        let mut routed: Vec<&str> = super::routes().into_iter().map(|(p, _)| p).collect();
        routed.sort_unstable();
        let doc = super::openapi();
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        assert_eq!(routed, documented);
    }
}
