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
//! no or an unparseable credential, or a genuine one that expired or was
//! bought for another resource or price; 401 with no `WWW-Authenticate` for a
//! forged or unpaid one; 503 with `Retry-After` when no invoice can be minted;
//! 431 for an oversized `Authorization`. Every error is JSON with a stable
//! `code`.
//!
//! Tokens bind the resource, the price and an expiry: a token bought for one
//! is refused for another.

mod body;
pub mod idempotency;
pub mod issuer;
pub mod keys;
pub mod layer;
mod paid;
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
pub use response::{ErrorBody, IssuedChallenge, Rejection};
pub use token_cache::DEFAULT_TOKEN_CACHE_BYTES;

// The README's examples are compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
