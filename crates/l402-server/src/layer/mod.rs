//! The tower layer that charges per request.
//!
//! [`L402Layer`] answers a request that carries no credential with `402
//! Payment Required`, an Aperture-form `WWW-Authenticate` challenge (a
//! macaroon and a BOLT11 invoice, minted by an [`Issuer`](crate::Issuer)) and
//! a JSON body. The paid retry (`Authorization: L402 <macaroon>:<preimage>`)
//! is verified without a database and reaches the inner service with a
//! [`Paid`](crate::Paid) value in its extensions.
//!
//! | The request carries | Answer |
//! |---|---|
//! | no credential, or another scheme (`Bearer …`) | 402 + a fresh challenge |
//! | a genuine token, expired or bought for another resource or price | 402 + a fresh challenge |
//! | an `L402`/`LSAT` credential that does not parse | 401 `malformed_credential`, no challenge |
//! | a forged token or a wrong preimage | 401 with the [`VerifyError::code`](l402::VerifyError::code), no challenge |
//! | an `Authorization` value over the limit | 431 `header_too_large` |
//! | a request no invoice can be minted for | 503 + `Retry-After` |
//!
//! A malformed credential mints nothing: garbage cannot make the backend
//! create invoices, and a client that sent a credential never sees a
//! challenge it might pay again.
//!
//! The token is bound to a resource (by default the full request path, also
//! under [`Router::nest`](axum::Router::nest)), its price, and an expiry.
//! Verified tokens are cached by their canonical identity (token id,
//! signature, preimage), bounded in bytes and evicted gradually (see
//! [`L402LayerBuilder::token_cache_bytes`]): each costs about 560 bytes.
//!
//! Put the layer on routes with `MethodRouter::layer` or
//! `Router::route_layer`, never `Router::layer`: a middleware that answers
//! by itself must not run for requests that match no route, or every 404
//! would get an invoice.
//!
//! A fixed price:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use l402_lightning::dev::DevNode;
//! use l402_server::{Keyring, L402Layer, Paid};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let receiver = Arc::new(node.wallet("merchant").await?);
//! let layer = L402Layer::builder(receiver, Keyring::new(1, [7; 32]))
//!     .price_sats(21)
//!     .description("one weather report")
//!     .build();
//!
//! async fn weather(paid: Paid) -> String {
//!     format!("sunny (paid {} sats)", paid.amount_sats)
//! }
//! let app: Router = Router::new()
//!     .route("/weather", get(weather))
//!     .route_layer(layer)
//!     .route("/free", get(|| async { "free" }));
//!
//! let response = app.clone().oneshot(Request::get("/weather").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
//! assert!(response.headers()["www-authenticate"].to_str()?.starts_with("L402 macaroon="));
//!
//! let response = app.oneshot(Request::get("/free").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! A price computed from the request by a closure (a database or a price
//! feed could be awaited in the future it returns). A [`Pricing`] type of
//! your own works the same way.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode, request::Parts};
//! use l402_lightning::dev::DevNode;
//! use l402_server::{Keyring, L402Layer, PriceError, Quote};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let receiver = Arc::new(node.wallet("merchant").await?);
//! let layer = L402Layer::builder(receiver, Keyring::new(1, [7; 32]))
//!     .pricing(|parts: &Parts| {
//!         let large = parts.uri.query().is_some_and(|q| q.contains("size=large"));
//!         async move {
//!             let quote = Quote::sats(if large { 50 } else { 10 });
//!             Ok::<_, PriceError>(quote.description("an image"))
//!         }
//!     })
//!     .build();
//! let app: Router = Router::new()
//!     .route("/image", get(|| async { "an image" }))
//!     .route_layer(layer);
//!
//! let response = app.oneshot(Request::get("/image?size=large").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
//! let body = axum::body::to_bytes(response.into_body(), 1 << 16).await?;
//! let body: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(body["l402"]["amount_sats"], 50);
//! # Ok(()) }
//! ```

mod builder;
mod future;
mod pricing;
mod seller;
mod service;

pub use builder::{DEFAULT_MAX_AUTHORIZATION_BYTES, L402Layer, L402LayerBuilder};
pub use future::ResponseFuture;
pub use pricing::{IntoQuote, PriceError, Pricing, Quote};
pub use service::L402Service;

#[cfg(test)]
mod tests;
