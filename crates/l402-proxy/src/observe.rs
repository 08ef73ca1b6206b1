//! What the proxy reports as it works, for metrics: an [`Observer`] set on
//! the [`ProxyBuilder`](crate::ProxyBuilder) hears how long each upstream
//! call took and which requests a rate limit refused. l402-proxy knows no
//! metrics crate: `l402 serve` implements this trait for its registry.
//!
//! Labels are bounded by construction: a service is its configured name,
//! never a path, a token or a client address.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use l402_lightning::dev::DevNode;
//! use l402_proxy::observe::Observer;
//! use l402_proxy::Proxy;
//! use l402_server::{Keyring, L402Layer};
//!
//! #[derive(Default)]
//! struct Calls(AtomicU64);
//! impl Observer for Calls {
//!     fn upstream(&self, _service: &str, _elapsed: Duration, _status: Option<u16>) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let receiver = Arc::new(node.wallet("merchant").await?);
//! let keys = Keyring::new(1, [7; 32]);
//! let proxy = Proxy::builder(move || L402Layer::builder(receiver.clone(), keys.clone()))
//!     .observer(Arc::new(Calls::default()))
//!     .build();
//! assert!(proxy.observer().is_some());
//! # Ok(()) }
//! ```

use std::time::Duration;

/// Hears what the proxy does. Every method has an empty default: implement
/// those you count. Calls happen on the request's task: keep them short and
/// never block.
pub trait Observer: Send + Sync + 'static {
    /// A request was sent to `service`'s upstream and its response head came
    /// back after `elapsed` with `status` (`None`: no response, the upstream
    /// was unreachable, failed or timed out). Requests refused before the
    /// upstream (unpaid, too large) are not reported.
    fn upstream(&self, service: &str, elapsed: Duration, status: Option<u16>) {
        let _ = (service, elapsed, status);
    }

    /// A request to `service` was refused by a rate limit (429).
    fn rate_limited(&self, service: &str) {
        let _ = service;
    }
}

/// Carries trace context to the upstream: set on the
/// [`ProxyBuilder`](crate::ProxyBuilder) (`propagate`), it writes the
/// upstream call's span (its `upstream` client span) into the request's
/// headers just before it is sent (W3C `traceparent`, say). l402-proxy
/// knows no tracing exporter: `l402 serve` implements it when it exports
/// spans; without one, nothing is added.
pub trait Propagate: Send + Sync + 'static {
    /// Writes `span`'s context into `headers`, the upstream request's.
    fn inject(&self, span: &tracing::Span, headers: &mut http::HeaderMap);
}
