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
mod builder;
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
mod routes;
mod splits;
mod state;
mod stats;
pub use stats::recent_payment;
mod webhooks;

use std::sync::Arc;

use ::l402::Keyring;
use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use l402_lightning::Receiver;
use l402_store::{ProducerStore, StoreError};
use sha2::{Digest, Sha256};

pub use builder::{
    ConfigError, DEFAULT_CHALLENGE_RETENTION, DEFAULT_MAX_PRICE_SATS,
    DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RECORD_QUEUE, ProducerBuilder, check_trusted_proxy,
};
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
pub use routes::{reserved_prefixes, route_paths};
pub use splits::SplitsConfig;
pub use splits::lnurl::{LightningAddress, LnurlError, check_invoice};
pub use webhooks::{
    EventKind, InboundSecretError, MAX_ENDPOINTS_PER_MERCHANT, SVIX_TOLERANCE_SECS, Settled,
    WebhookConfig, signature_header,
};

use batch::Batcher;
use error::ApiError;
pub(crate) use state::{Inner, now_ms, store_unavailable};

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

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

type Shared = Arc<Inner>;

impl Producer {
    /// Starts a producer storing in `store`, minting invoices with `receiver`
    /// and signing tokens with `keys` (the same keyring as the L402 layer),
    /// through the one issuing path ([`l402_server::Issuer`]).
    pub fn builder(
        store: Arc<dyn ProducerStore>,
        receiver: Arc<dyn Receiver>,
        keys: Keyring,
    ) -> ProducerBuilder {
        ProducerBuilder::new(store, receiver, keys)
    }

    /// The API's routes. Serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the
    /// rate limit and address-based idempotency see client addresses:
    /// without connection info, the rate-limited `POST /api/invoice`
    /// answers 500 `no_client_address` (the limit is never silently off).
    pub fn router(&self) -> Router {
        routes::router(self.inner.clone())
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

    /// The client of a request from TCP peer `peer`: the peer itself, or,
    /// when the peer is one of [`ProducerBuilder::trusted_proxies`], the
    /// right-most `X-Forwarded-For` hop that is not a trusted proxy (the
    /// rule the producer's own rate limit uses). `None` without a peer.
    pub fn client_ip(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Option<std::net::IpAddr> {
        self.inner.client_addr(headers, peer)
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
