//! # l402-server: selling over L402
//!
//! [`L402Layer`] is a tower layer that charges per request: a request without
//! a credential gets `402 Payment Required` with an Aperture-form
//! `WWW-Authenticate` challenge (a macaroon and a BOLT11 invoice) and
//! l402-express's JSON body; the paid retry (`Authorization: L402
//! <macaroon>:<preimage>`) is verified without a database and reaches the
//! inner service with a [`Paid`] value, which axum handlers take as an
//! extractor.
//!
//! Status codes (ARCHITECTURE.md decision 5): 402 with a fresh challenge for
//! no credential (or another scheme), or a genuine one that expired or was
//! bought for another resource or price; 401 with no `WWW-Authenticate` (and
//! no invoice minted) for an `L402`/`LSAT` credential that does not parse
//! (`malformed_credential`) or a forged or unpaid one; 503 with `Retry-After`
//! when no invoice can be minted; 431 for an oversized `Authorization`.
//! Every error is JSON with a stable `code` ([`ErrorBody`]).
//!
//! Tokens bind the resource, the price and an expiry: a token bought for one
//! is refused for another. Every selling surface issues through one
//! [`Issuer`]. See the [`layer`] module for examples, and the README for a
//! complete axum server.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use l402_lightning::dev::DevNode;
//! use l402_server::{Keyring, L402Layer, Paid};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let receiver = Arc::new(node.wallet("merchant").await?);
//! let app: Router = Router::new()
//!     .route("/joke", get(|paid: Paid| async move { format!("paid {} sats", paid.amount_sats) }))
//!     .route_layer(L402Layer::builder(receiver, Keyring::new(1, [7; 32])).price_sats(21).build());
//! # Ok(()) }
//! ```
//!
//! | Feature | Default | Gives |
//! |---|---|---|
//! | `axum` | yes | the [`Paid`] extractor; the full request path as the default resource under nested axum routers |
//! | `remote` | no | [`L402Layer::remote`]: challenges and verification from a remote producer API (l402-express's model), over reqwest |

mod body;
pub mod discovery;
pub mod idempotency;
pub mod issuer;
pub mod keys;
pub mod layer;
pub mod observe;
pub mod page;
mod paid;
#[cfg(feature = "remote")]
pub mod remote;
mod response;
mod token_cache;

pub use body::ResponseBody;
pub use idempotency::{IDEMPOTENCY_WINDOW, IdempotencyKey};
pub use issuer::{BoxFuture, IssueError, Issuer, IssuerBuilder, Offer, RecordError, SalesRecorder};
pub use l402::Keyring;
pub use l402::time::{rfc3339, unix_now};
pub use layer::{
    DEFAULT_MAX_AUTHORIZATION_BYTES, L402Layer, L402LayerBuilder, L402Service, PriceError, Pricing,
    Quote, ResponseFuture,
};
pub use paid::Paid;
#[cfg(feature = "axum")]
pub use paid::PaidMissing;
#[cfg(feature = "remote")]
pub use remote::{RemoteConfigError, RemoteError, RemoteProducer, RemoteProducerBuilder};
pub use response::{ErrorBody, IssuedChallenge, Rejection};
pub use token_cache::DEFAULT_TOKEN_CACHE_BYTES;

// The README's examples are compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
