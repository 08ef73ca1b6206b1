//! # l402-proxy: any HTTP or gRPC service behind L402
//!
//! A reverse proxy in the shape of Aperture's: [`Service`]s (host and path
//! patterns, matched in order; an upstream; a price) each sold through
//! l402-server's [`L402Layer`](l402_server::L402Layer) (the one issuing and
//! verifying path) in front of a [`Forward`]ing service on hyper 1.
//!
//! | What | How |
//! |---|---|
//! | protocols out | HTTP/1.1 ([`Protocol::Http`], websocket upgrades joined after the `101`), h2c ([`Protocol::H2c`], gRPC with trailers), TLS ([`Protocol::Https`]: HTTP/1.1 or h2 by ALPN, the certificate checked against the system's roots, a CA or a pin: [`UpstreamTrust`]; refused: 502 `upstream_tls`) |
//! | dynamic prices | [`Pricer`]: an HTTP pricer asked before minting (method, path, headers without credentials, body size), bounded; failing: 503 `pricer_unavailable` + `Retry-After`, or a fallback price |
//! | bodies | streamed both ways, never buffered: an SSE event reaches the client when the upstream sends it |
//! | headers | hop-by-hop removed, `X-Forwarded-For/-Proto/-Host` added, the client's L402 `Authorization` removed unless [`ServiceBuilder::forward_authorization`], the service's headers set (values never logged) |
//! | tokens | good for the whole service (`services=<name>:0`, `resource=<name>`), as Aperture's; capabilities as `<name>_capabilities=` caveats |
//! | unpaid gRPC | `200` + `grpc-status: 13`, `grpc-message: payment required` (Aperture's answer) |
//! | errors | JSON [`ErrorBody`](l402_server::ErrorBody): 400 `bad_path` (a `.`/`..` segment under a mount or rewrite prefix), 404 `no_service`, 413 `body_too_large`, 502 `upstream_unreachable` / `upstream_failed`, 504 `upstream_timeout`, 401 `credential_required`; gRPC clients get a `grpc-status` |
//! | free access | [`Auth::Off`], free paths, [`Auth::Freebie`] per client network (bounded) |
//! | rate limits | [`RateLimit`] per token or per client network: `429` + `Retry-After` (gRPC `8`); in memory (bounded) or [`counters::SharedCounters`] across proxies |
//! | realms | [`ServiceBuilder::realm`]: one token accepted by every service of the realm |
//! | shadow mode | [`ServiceBuilder::shadow`]: priced and minted as usual, always forwarded, `x-l402-shadow` says what would have happened |
//!
//! See [`Proxy`] for an example.

pub mod counters;
mod error;
mod forward;
mod freebie;
mod gate;
mod h1;
mod headers;
mod limit;
mod live;
pub mod observe;
mod path;
mod pricer;
mod proxy;
mod service;
mod shadow;
mod tls;
mod upgrade;

pub use error::ProxyError;
pub use forward::{BoxError, Forward, ProxyBody};
pub use freebie::{DEFAULT_MAX_TRACKED_NETWORKS, SHARED_FREEBIE_WINDOW};
pub use limit::{DEFAULT_MAX_TRACKED_KEYS, LimitBy, RateLimit};
pub use live::{LiveProxy, ProxySet};
pub use pricer::{
    DEFAULT_PRICER_TIMEOUT, MAX_PRICE_SATS, MAX_PRICER_ANSWER_BYTES, Pricer, PricerBuilder,
    PricerError, ServicePrice,
};
pub use proxy::{LayerFactory, Proxy, ProxyBuilder, ProxyFuture, ProxyResponse, RequestBody};
pub use service::{
    Auth, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT, Protocol, Service, ServiceBuilder, ServiceError,
};
pub use tls::UpstreamTrust;
