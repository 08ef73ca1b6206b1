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
//! | `/api/admin/services` (`GET`, `POST`), `/api/admin/services/{name}` (`GET`, `PUT`, `DELETE`) | Aperture's admin API for the reverse proxy's services, served when the server sets a [`ProxyCatalog`] | admin token |
//! | `POST /api/proxy` | Lightning Enable's proxy mode: `/l402/proxy/{proxyId}/...` sells for the merchant (with a [`ProxyCatalog`]) | `X-API-Key` |
//! | `GET /api/openapi.json` | the OpenAPI 3.1 document of all of the above | none |
//! | `GET /api/lnurl-auth` | l402kit's dashboard login, as LUD-04 (see [`IdentityConfig`]) | the wallet's signature |
//! | `GET /api/stats`, `GET /api/global-stats` | l402kit's stats (the merchant's own; public totals) | `X-API-Key` or session; none |
//! | `POST /api/delete-data` | l402kit's erasure, of the authenticating identity only | `X-API-Key` or session |
//! | `/api/webhooks` (`GET`, `POST`), `DELETE /api/webhooks/{id}`, `GET /api/webhooks/deliveries`, `POST /api/webhooks/test` | l402kit's SDK webhooks, signed the same way, queued and retried (see [`WebhookConfig`]) | `X-API-Key` or session |
//! | `POST /api/webhooks/in/phoenixd`, `POST /api/webhooks/in/blink` (and `/api/blink-webhook`) | payment notifications pushed by backends | the sender's signature |
//! | `POST /api/register`, `GET /api/apis.json` | l402kit's API directory, verified by a nonce (see [`DirectoryConfig`]) | none (rate limited per address) |
//!
//! Tokens are minted with the same [`l402::Minter`](::l402::Minter) and verified with the same
//! [`l402::Verifier`](::l402::Verifier) as the [`L402Layer`](l402_server::L402Layer), and are bound to
//! the merchant (`merchant=<id>`), the resource and the amount, and expire
//! after the token lifetime. Any number of instances sharing the server
//! secret (and, for idempotency, stats and current prices, one PostgreSQL)
//! verify each other's tokens.
//!
//! **Tokens are reusable until they expire** (as Aperture's and the L402
//! layer's): a verified token is not consumed. A seller that wants single use
//! keeps the `paymentHash` of what it served. Both verify endpoints answer
//! `200` for valid and invalid tokens alike (`valid:false` with an `error`).
//!
//! **Verification fails closed**: `POST /api/l402/challenges/verify` checks
//! the token against the `resource` it is presented for and a price, never
//! "any resource" or "any price". Without `resource` the answer is
//! `valid:false`, `resource_required`. Without `amountSats` (l402-express
//! 0.2.0 sends `macaroon`, `preimage` and `resource` only) the price is the
//! merchant's current one for that resource: the price of its most recent
//! challenge for exactly that resource, one indexed read of the store
//! ([`ChallengeStore::current_price`](l402_store::ChallengeStore::current_price)).
//! A token bought before the price changed is then refused (`wrong_amount`,
//! the core's [`VerifyError::code`](::l402::VerifyError::code)); with no
//! challenge for the resource on record (never issued here, or pruned) the
//! answer is `valid:false`, `amount_required`, asking for `amountSats`; if
//! the store cannot be read, 503 `store_unavailable`. With `amountSats`
//! verification reads no database. l402kit's `POST /api/verify` checks, as
//! l402kit's, only the payment, the merchant (0) and the expiry.
//!
//! Records: a challenge is stored before it is answered (a store failure
//! answers 503, never a challenge that was not recorded). Anonymous
//! challenges (the paid routes' 402s, l402kit's `POST /api/invoice`) are
//! written in batches, one transaction for all that queued up, through a
//! bounded queue: when it is full a request waits briefly, then answers 503
//! `store_busy` (see [`ProducerBuilder::record_queue`]). Challenges never
//! paid are deleted after [`ProducerBuilder::challenge_retention`] (default
//! 7 days; the stats keep counting them). The first valid verification of a
//! payment hash is stored as a payment before it is answered; verification
//! counts are kept in memory and flushed every second and by
//! [`Producer::flush`].
//!
//! Idempotency: a challenge request with the same `X-Idempotency-Key`, or
//! without one from the same client address, for the same resource and price
//! within [`IDEMPOTENCY_WINDOW`] gets the same challenge, across instances
//! sharing a database. The scope is claimed in the store (one atomic insert)
//! before the invoice is created, so concurrent requests get one invoice
//! between them. Keys follow the rule every selling surface shares
//! ([`l402_server::idempotency::check_key`]): a key that breaks it is refused
//! (400 naming the header), never truncated or ignored. As with Lightning
//! Enable, the "client" is whoever calls the API, usually the merchant's own
//! server: without a key, two buyers of the same resource within a minute get
//! the same invoice, so sellers should send a per-request
//! `X-Idempotency-Key`. Expired claims are deleted in bounded batches.
//!
//! Client addresses come from the connection: serve the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`. Without it the
//! rate-limited `POST /api/invoice` answers 500 `no_client_address` (a
//! configuration error, logged) rather than run unlimited. Behind proxies,
//! [`ProducerBuilder::trusted_proxies`] names them; `X-Forwarded-For` is
//! read only from them (the right-most hop that is not a trusted proxy).
//! IPv6 clients are limited per /64; the limit tracks at most
//! [`ProducerBuilder::max_tracked_clients`] clients and is kept per instance.
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
//! .trusted_proxies(["127.0.0.1", "10.0.0.0/8"])?
//! .build();
//! let router: axum::Router = producer.router();
//! // axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = router;
//! # Ok(()) }
//! ```

mod admin;
mod batch;
mod decode;
mod directory;
mod erasure;
mod error;
mod extract;
mod issue;
mod kit;
mod l402;
mod lnaddress;
mod lnurl_auth;
mod openapi;
mod passes;
mod proxy_admin;
mod ratelimit;
mod record;
mod splits;
mod state;
mod stats;
pub use stats::recent_payment;
mod webhooks;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::l402::{Keyring, Verifier};
use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use bytes::Bytes;
use http::StatusCode;
use ipnet::IpNet;
use l402_lightning::Receiver;
use l402_server::Issuer;
use l402_server::idempotency::Claims;
use l402_store::{ProducerStore, StoreError};
use sha2::{Digest, Sha256};
use tower_http::cors::CorsLayer;

pub use decode::MAX_BODY_BYTES;
pub use directory::{CATEGORIES, DirectoryConfig, MAX_PROOF_BYTES};
pub use extract::ActingMerchant;
pub use l402_server::IDEMPOTENCY_WINDOW;
pub use lnaddress::{MIN_SENDABLE_MSAT, valid_username};
pub use lnurl_auth::{IdentityConfig, parse_linking_key};
pub use openapi::{PROXY_PATHS, openapi};
pub use passes::PassConfig;
pub use proxy_admin::{
    CatalogFuture, MAX_PROXIES_PER_MERCHANT, MAX_STORED_SERVICES, PROXY_MOUNT, ProxyCatalog,
    ServiceOwner, ServiceRejected,
};
pub use ratelimit::DEFAULT_MAX_TRACKED_CLIENTS;
pub use splits::SplitsConfig;
pub use splits::lnurl::{LightningAddress, LnurlError, check_invoice};
pub use webhooks::{
    EventKind, InboundSecretError, MAX_ENDPOINTS_PER_MERCHANT, SVIX_TOLERANCE_SECS, Settled,
    WebhookConfig, signature_header,
};

use batch::Batcher;
use error::ApiError;
use ratelimit::{ClientAddr, RateLimiter};
pub(crate) use state::{Inner, now_ms, store_unavailable};

/// The default per-address limit of the l402kit-compatible `POST /api/invoice`.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 20;
/// The highest price a challenge may ask, in sats (1 BTC).
pub const DEFAULT_MAX_PRICE_SATS: u64 = 100_000_000;
/// How long a challenge that was never paid is kept by default.
pub const DEFAULT_CHALLENGE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The default bound on challenge records waiting to be written.
pub const DEFAULT_RECORD_QUEUE: usize = 1024;

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

/// Why a [`ProducerBuilder`] setting was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A trusted proxy is neither an IP address nor a CIDR block.
    #[error("trusted proxy {0:?} is not an IP address or a CIDR block (10.0.0.0/8)")]
    TrustedProxy(String),
}

/// Configures a [`Producer`].
#[must_use]
pub struct ProducerBuilder {
    store: Arc<dyn ProducerStore>,
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    admin_token: Option<String>,
    rate_limit_per_minute: u32,
    max_tracked_clients: usize,
    trusted_proxies: Vec<IpNet>,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    max_price_sats: u64,
    key_cache_ttl: Duration,
    flush_interval: Duration,
    challenge_retention: Duration,
    record_queue: usize,
    record_queue_timeout: Duration,
    identity: IdentityConfig,
    webhooks: WebhookConfig,
    directory: DirectoryConfig,
    splits: Option<SplitsConfig>,
    passes: PassConfig,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("trusted_proxies", &self.trusted_proxies)
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

    /// Requests per minute per client (an IPv4 address or an IPv6 /64) on
    /// `POST /api/invoice` (default 20; 0 turns the limit off).
    pub fn rate_limit_per_minute(mut self, n: u32) -> Self {
        self.rate_limit_per_minute = n;
        self
    }

    /// The most clients the rate limit tracks (default
    /// [`DEFAULT_MAX_TRACKED_CLIENTS`]); past it the least recently seen is
    /// forgotten.
    pub fn max_tracked_clients(mut self, n: usize) -> Self {
        self.max_tracked_clients = n.max(1);
        self
    }

    /// The proxies in front of this server (IP addresses or CIDR blocks):
    /// `X-Forwarded-For` is honoured only on connections from them, and the
    /// client is the right-most hop that is not one of them. Default: none
    /// (the peer address is the client).
    ///
    /// # Errors
    /// [`ConfigError::TrustedProxy`] for an entry that is neither.
    pub fn trusted_proxies<I, S>(mut self, proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.trusted_proxies = proxies
            .into_iter()
            .map(|p| parse_trusted_proxy(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(self)
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

    /// How often verification counts are written (default 1 s); expired
    /// idempotency claims and old unpaid challenges are deleted every 60
    /// of these.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long a challenge that was never paid is kept (default 7 days; at
    /// least the invoice expiry).
    pub fn challenge_retention(mut self, retention: Duration) -> Self {
        self.challenge_retention = retention;
        self
    }

    /// The most anonymous challenge records waiting to be written (default
    /// [`DEFAULT_RECORD_QUEUE`]), and how long a request waits for room
    /// before it answers 503 `store_busy` (default 2 s).
    pub fn record_queue(mut self, capacity: usize, timeout: Duration) -> Self {
        self.record_queue = capacity.max(1);
        self.record_queue_timeout = timeout;
        self
    }

    /// LNURL-auth and sessions (`GET /api/lnurl-auth`): the public URL,
    /// lifetimes and bounds (see [`IdentityConfig`]).
    pub fn identity(mut self, config: IdentityConfig) -> Self {
        self.identity = config;
        self
    }

    /// Webhooks out: retries, bounds, timeouts and which targets are
    /// allowed (see [`WebhookConfig`]).
    pub fn webhooks(mut self, config: WebhookConfig) -> Self {
        self.webhooks = config;
        self
    }

    /// Splits and payouts to owners' Lightning Addresses, paid by the
    /// config's wallet (see [`SplitsConfig`]); off by default.
    pub fn splits(mut self, config: SplitsConfig) -> Self {
        self.splits = Some(config);
        self
    }

    /// Passes: time-based access (see [`PassConfig`]).
    pub fn passes(mut self, config: PassConfig) -> Self {
        self.passes = config;
        self
    }

    /// The API directory: its rate limit, bound, fetch timeout and which
    /// hosts are allowed (see [`DirectoryConfig`]).
    pub fn directory(mut self, config: DirectoryConfig) -> Self {
        self.directory = config;
        self
    }

    /// Builds the producer. Inside a Tokio runtime this also starts the task
    /// that writes challenge records in batches and the one that flushes
    /// counters and deletes expired records; they stop when the last clone
    /// of the producer is dropped.
    pub fn build(self) -> Producer {
        let handle = tokio::runtime::Handle::try_current().ok();
        let batcher = handle.as_ref().map(|h| {
            Batcher::start(
                self.store.clone(),
                h,
                self.record_queue,
                self.record_queue_timeout,
            )
        });
        let issuer = |lifetime| {
            Issuer::builder(self.receiver.clone(), self.keys.clone())
                .token_lifetime(lifetime)
                .invoice_expiry(self.invoice_expiry)
                .build()
        };
        let inner = Arc::new(Inner {
            store: self.store.clone(),
            receiver: self.receiver.clone(),
            issuer: issuer(self.token_lifetime),
            kit_issuer: issuer(KIT_TOKEN_LIFETIME),
            claims: Claims::default(),
            verifier: Verifier::new(self.keys.clone()),
            admin_token_hash: self.admin_token.map(|t| sha256(t.as_bytes())),
            limiter: RateLimiter::new(self.rate_limit_per_minute, self.max_tracked_clients),
            clients: ClientAddr::new(self.trusted_proxies),
            max_price_sats: self.max_price_sats,
            key_cache_ttl: self.key_cache_ttl,
            challenge_retention: self.challenge_retention.max(self.invoice_expiry),
            batcher,
            keys: Mutex::new(HashMap::new()),
            counts: Mutex::new(HashMap::new()),
            paid: Mutex::new(HashSet::new()),
            flushing: tokio::sync::Mutex::new(()),
            identity: self.identity,
            webhooks: webhooks::Webhooks::new(self.webhooks, self.keys.clone()),
            directory: directory::Directory::new(self.directory, self.max_tracked_clients),
            splits: self.splits.map(splits::Splits::new),
            passes: passes::Passes {
                issuer: issuer(self.passes.duration),
                config: self.passes,
            },
            proxy_catalog: std::sync::OnceLock::new(),
        });
        if let Some(handle) = handle {
            handle.spawn(state::background(
                Arc::downgrade(&inner),
                self.flush_interval,
            ));
            // The webhook delivery worker: one per producer.
            handle.spawn(webhooks::run(
                Arc::downgrade(&inner),
                inner.webhooks.wake.clone(),
            ));
            if let Some(splits) = &inner.splits {
                // The payout queue's worker: one per producer.
                handle.spawn(splits::worker::run(
                    Arc::downgrade(&inner),
                    splits.config.poll,
                ));
            }
        }
        Producer { inner }
    }
}

/// Checks one entry of [`ProducerBuilder::trusted_proxies`] (an IP address
/// or a CIDR block, surrounding spaces ignored) by the same rule the builder
/// applies, so that a configuration can be refused before anything starts.
///
/// ```
/// assert!(l402_producer::check_trusted_proxy("10.0.0.0/8").is_ok());
/// assert!(l402_producer::check_trusted_proxy(" ::1 ").is_ok());
/// assert!(l402_producer::check_trusted_proxy("10.0.0.0/33").is_err());
/// assert!(l402_producer::check_trusted_proxy("proxy.local").is_err());
/// ```
///
/// # Errors
/// [`ConfigError::TrustedProxy`] for an entry that is neither.
pub fn check_trusted_proxy(proxy: &str) -> Result<(), ConfigError> {
    parse_trusted_proxy(proxy).map(|_| ())
}

fn parse_trusted_proxy(proxy: &str) -> Result<IpNet, ConfigError> {
    let text = proxy.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::TrustedProxy(text.to_owned()))
}

/// l402kit's tokens expire an hour after they are minted.
const KIT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
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

/// The paths [`Producer::router`] serves, from its one route table, in
/// axum's syntax (`{id}` stands for one segment).
///
/// ```
/// let paths = l402_producer::route_paths();
/// assert!(paths.contains(&"/api/l402/challenges/verify"));
/// assert!(paths.contains(&"/api/admin/merchants/{id}/keys"));
/// ```
pub fn route_paths() -> Vec<&'static str> {
    routes()
        .into_iter()
        .chain(platform_routes())
        .map(|(path, _)| path)
        .collect()
}

/// The namespaces the producer API owns, for routers it is merged with: the
/// first two segments of each of its [`route_paths`] (`/api/l402`,
/// `/api/admin`, `/api/invoice`, …), each once. A path equal to one of them,
/// or under one (`/api/l402/anything`), is the producer's.
///
/// ```
/// let reserved = l402_producer::reserved_prefixes();
/// assert!(reserved.contains(&"/api/l402"));
/// assert!(reserved.contains(&"/api/openapi.json"));
/// ```
pub fn reserved_prefixes() -> Vec<&'static str> {
    let mut prefixes: Vec<&'static str> = Vec::new();
    for path in route_paths() {
        // "/api/l402/challenges" → "/api/l402"; "/api/invoice" stays.
        let end = path
            .match_indices('/')
            .nth(2)
            .map_or(path.len(), |(i, _)| i);
        let prefix = &path[..end];
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    prefixes
}

/// Every route, by path: the OpenAPI document lists exactly these paths (a
/// unit test checks it), and an integration test exercises each documented
/// method and status and checks that the undocumented methods answer 405.
fn routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    vec![
        ("/api/l402/challenges", post(l402::create)),
        ("/api/l402/challenges/verify", post(l402::verify)),
        ("/api/l402/stats", get(l402::stats)),
        ("/api/l402/status", get(l402::status)),
        // CORS for these (KIT_PATHS) is added by `Producer::router`.
        ("/api/invoice", post(kit::invoice)),
        ("/api/verify", post(kit::verify)),
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
            "/api/admin/services",
            get(proxy_admin::list).post(proxy_admin::create),
        ),
        (
            "/api/admin/services/{name}",
            get(proxy_admin::get_one)
                .put(proxy_admin::update)
                .delete(proxy_admin::remove),
        ),
        ("/api/proxy", post(proxy_admin::create_proxy)),
        (
            "/api/openapi.json",
            get(|| async { json(StatusCode::OK, openapi()) }),
        ),
    ]
}

/// l402kit's platform routes (identity, stats, erasure): served and
/// reserved like the others, not yet in the OpenAPI document.
fn platform_routes() -> Vec<(&'static str, MethodRouter<Shared>)> {
    let mut routes = vec![
        ("/api/lnurl-auth", get(lnurl_auth::lnurl_auth)),
        ("/api/session", delete(lnurl_auth::revoke)),
        ("/api/stats", get(stats::stats)),
        ("/api/global-stats", get(stats::global)),
        ("/api/delete-data", post(erasure::delete_data)),
        ("/api/webhooks", get(webhooks::list).post(webhooks::create)),
        ("/api/webhooks/deliveries", get(webhooks::deliveries)),
        ("/api/webhooks/test", post(webhooks::test)),
        ("/api/webhooks/{id}", delete(webhooks::remove)),
        ("/api/webhooks/in/phoenixd", post(webhooks::phoenixd)),
        ("/api/webhooks/in/blink", post(webhooks::blink)),
        ("/api/blink-webhook", post(webhooks::blink)),
        ("/api/register", post(directory::register)),
        ("/api/apis.json", get(directory::list)),
        (
            "/api/admin/merchants/{id}/linking-keys",
            get(erasure::linked_keys).post(erasure::link_key),
        ),
    ];
    routes.extend(lnaddress::routes());
    routes.extend(splits::api::routes());
    routes.extend(passes::routes());
    routes
}

impl Producer {
    /// Starts a producer storing in `store`, minting invoices with `receiver`
    /// and signing tokens with `keys` (the same keyring as the L402 layer),
    /// through the one issuing path ([`l402_server::Issuer`]).
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
            max_tracked_clients: DEFAULT_MAX_TRACKED_CLIENTS,
            trusted_proxies: Vec::new(),
            token_lifetime: l402_server::issuer::DEFAULT_TOKEN_LIFETIME,
            invoice_expiry: l402_server::issuer::DEFAULT_INVOICE_EXPIRY,
            max_price_sats: DEFAULT_MAX_PRICE_SATS,
            key_cache_ttl: Duration::from_secs(5),
            flush_interval: Duration::from_secs(1),
            challenge_retention: DEFAULT_CHALLENGE_RETENTION,
            record_queue: DEFAULT_RECORD_QUEUE,
            record_queue_timeout: Duration::from_secs(2),
            identity: IdentityConfig::default(),
            webhooks: WebhookConfig::default(),
            directory: DirectoryConfig::default(),
            splits: None,
            passes: PassConfig::default(),
        }
    }

    /// The API's routes. Serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the
    /// rate limit and address-based idempotency see client addresses:
    /// without connection info, the rate-limited `POST /api/invoice`
    /// answers 500 `no_client_address` (the limit is never silently off).
    pub fn router(&self) -> Router {
        routes()
            .into_iter()
            .chain(platform_routes())
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
            merchant_id: kit::KIT_MERCHANT,
            api: "route",
        })
    }

    /// A [`SalesRecorder`](l402_server::SalesRecorder) like
    /// [`Producer::sales_recorder`] that records for `merchant_id`, API
    /// `"proxy"`: the sales of a merchant's proxy (`POST /api/proxy`) count
    /// in that merchant's stats.
    pub fn merchant_sales_recorder(&self, merchant_id: i64) -> Arc<dyn l402_server::SalesRecorder> {
        Arc::new(record::SalesLog {
            inner: self.inner.clone(),
            merchant_id,
            api: "proxy",
        })
    }

    /// Serves the proxy's services through the admin API
    /// (`/api/admin/services`) and Lightning Enable's `POST /api/proxy`;
    /// without it those answer 404 `proxy_disabled`. Set once: a later
    /// call is ignored (returns false).
    pub fn set_proxy_catalog(&self, catalog: Arc<dyn ProxyCatalog>) -> bool {
        self.inner.proxy_catalog.set(catalog).is_ok()
    }

    /// Deletes expired idempotency claims and unpaid challenges older than
    /// the retention, in bounded batches (the background task does this
    /// every minute); returns how many of each.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    pub async fn prune(&self) -> Result<(u64, u64), StoreError> {
        self.inner.prune().await
    }

    /// Challenge records refused because the record queue was full.
    pub fn records_refused(&self) -> u64 {
        self.inner.batcher.as_ref().map_or(0, Batcher::refused)
    }

    /// Works the payout queue once: looks up payouts whose outcome is
    /// unknown, then pays the due ones (the worker does this every poll
    /// interval and whenever a payout is queued).
    pub async fn run_payouts(&self) {
        self.inner.work_payouts().await;
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
        let mut routed: Vec<&str> = super::route_paths();
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

    #[test]
    fn every_route_is_under_a_reserved_prefix() {
        let reserved = super::reserved_prefixes();
        assert_eq!(
            reserved,
            [
                "/api/l402",
                "/api/invoice",
                "/api/verify",
                "/api/admin",
                "/api/proxy",
                "/api/openapi.json",
                "/api/lnurl-auth",
                "/api/session",
                "/api/stats",
                "/api/global-stats",
                "/api/delete-data",
                "/api/webhooks",
                "/api/blink-webhook",
                "/api/register",
                "/api/apis.json",
                "/.well-known/lnurlp",
                "/api/lnurlp",
                "/api/split",
                "/api/pro-check",
                "/api/dev-token",
                "/api/pass"
            ]
        );
        for path in super::route_paths() {
            assert!(
                reserved
                    .iter()
                    .any(|p| path == *p || path.starts_with(&format!("{p}/"))),
                "{path}"
            );
        }
    }
}
