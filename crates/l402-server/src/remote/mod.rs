//! A remote producer: the layer in l402-express's model (feature `remote`).
//!
//! The app holds a merchant API key and nothing else: no Lightning node, no
//! server secret. A [`RemoteProducer`] speaks Lightning Enable's producer API
//! (ours, `l402-producer`, or any service answering in its shapes):
//!
//! - a request without a credential gets a challenge from
//!   `POST /api/l402/challenges` (`{"resource","priceSats","description"}`,
//!   with an `X-Idempotency-Key`), answered as the local layer answers: 402,
//!   the `WWW-Authenticate` challenge and l402-express's JSON body;
//! - a credential is verified by `POST /api/l402/challenges/verify`
//!   (`{"macaroon","preimage","resource","amountSats"}`); a valid one reaches
//!   the handler with a [`Paid`](crate::Paid) value, and is kept in the
//!   layer's bounded token cache, so a repeat costs no round trip. Cached
//!   tokens are checked against each request as locally (expiry, resource,
//!   price, method). A preimage that does not pay the macaroon's payment
//!   hash is refused here (401 `wrong_preimage`), without a call.
//!
//! Build the layer with [`L402Layer::remote`](crate::L402Layer::remote);
//! price, resource, description, idempotency key and rejection hook are set
//! as for the local layer. One `RemoteProducer` may be shared by any number
//! of layers (l402-express's `client` option): they share its connection
//! pool and its bound on calls in flight.
//!
//! **When the producer cannot answer** (unreachable, timed out, busy, an
//! error status, or an answer that is not its API) the layer answers **503
//! with `Retry-After`** and a stable code (`producer_unavailable`,
//! `producer_busy`, `producer_refused_key`, `producer_error`,
//! `producer_bad_answer`), never a challenge or a 401. l402-express answers
//! 502 there; 503 is what the local layer answers when no invoice can be
//! minted (ARCHITECTURE.md decision 5), so a buyer sees one rule whichever
//! way the seller is built, and `Retry-After` tells paying clients (ours
//! among them) to back off and retry without paying again, where a 502
//! says nothing about when. Credentials verified before keep working from
//! the cache until they expire.
//!
//! **Revocation**: a cached credential is served without a call for
//! [`RemoteProducerBuilder::recheck_after`] (60 s by default), then the
//! producer is asked again. If it refuses the merchant key (revoked) or the
//! token, the cached credential ends there; if it cannot be reached, the
//! credential is still served and the producer asked again a few seconds
//! later.
//!
//! **Idempotency**: with [`L402LayerBuilder::idempotency`](crate::L402LayerBuilder::idempotency)
//! the request's key is sent as `X-Idempotency-Key`, and the producer returns
//! the same challenge for a repeat. Without one, each challenge request sends
//! a fresh random key: as the local layer, every request gets its own
//! invoice (without any key, the producer would de-duplicate by the app's
//! address, handing one invoice to different buyers).
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use l402_server::{L402Layer, Paid, RemoteProducer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One client for every mount: shared connections, one bound on calls.
//! let producer = RemoteProducer::builder("l402k_merchant_api_key")
//!     .base_url("http://127.0.0.1:8402")
//!     .timeout(Duration::from_secs(5))
//!     .max_in_flight(128)
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/api/cheap", get(|paid: Paid| async move { format!("{} sats", paid.amount_sats) }))
//!     .route_layer(L402Layer::remote(producer.clone()).price_sats(10).build())
//!     .route("/api/premium", get(|| async { "premium" }))
//!     .route_layer(L402Layer::remote(producer).price_sats(500).build());
//! # let _ = app;
//! # Ok(()) }
//! ```

mod client;
mod time;
mod verdict;

pub use client::{
    DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_IN_FLIGHT, DEFAULT_QUEUE_TIMEOUT,
    DEFAULT_RECHECK_AFTER, DEFAULT_TIMEOUT, MAX_ANSWER_BYTES, RemoteProducer,
    RemoteProducerBuilder,
};
pub(crate) use verdict::judge;

/// Why a [`RemoteProducer`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteConfigError {
    /// The API key is empty, not a valid header value, or an unexpanded
    /// `${VAR}` placeholder.
    #[error("invalid API key: {0}")]
    ApiKey(&'static str),
    /// The base URL is not an `http://` or `https://` URL.
    #[error("invalid base URL {0:?}: expected http://host[:port][/path]")]
    BaseUrl(String),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(&'static str),
    /// The HTTP client could not be built (TLS roots, say).
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Why a call to the producer gave no usable answer. The layer answers
/// each with 503 and `Retry-After`, naming [`RemoteError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The producer could not be reached, or did not answer in time.
    #[error("the producer cannot be reached")]
    Unreachable(#[source] reqwest::Error),
    /// As many calls as allowed were in flight for the whole timeout.
    #[error("too many calls to the producer in flight")]
    Busy,
    /// The producer refused the API key (401) or the plan (403).
    #[error("the producer refused the API key (HTTP {0})")]
    RefusedKey(u16),
    /// The producer answered another error status.
    #[error("the producer answered HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// Its `error` or `message`, if any (at most 200 characters).
        message: String,
    },
    /// The answer is not the producer API's.
    #[error("the producer's answer is not valid: {0}")]
    BadAnswer(String),
}

impl RemoteError {
    /// The stable code: `producer_unavailable`, `producer_busy`,
    /// `producer_refused_key`, `producer_error` or `producer_bad_answer`.
    pub fn code(&self) -> &'static str {
        match self {
            RemoteError::Unreachable(_) => "producer_unavailable",
            RemoteError::Busy => "producer_busy",
            RemoteError::RefusedKey(_) => "producer_refused_key",
            RemoteError::Status { .. } => "producer_error",
            RemoteError::BadAnswer(_) => "producer_bad_answer",
        }
    }

    /// A message for an unauthenticated caller: no URL, key or detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            RemoteError::Unreachable(_) => {
                "the payment service cannot be reached right now; retry later"
            }
            RemoteError::Busy => "the payment service is busy; retry later",
            RemoteError::RefusedKey(_) => {
                "the payment service refused this seller's credentials; retry later"
            }
            RemoteError::Status { .. } | RemoteError::BadAnswer(_) => {
                "the payment service failed; retry later"
            }
        }
    }
}
