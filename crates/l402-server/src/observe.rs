//! What a selling surface reports as it works, for metrics: an [`Observer`]
//! set on an [`L402Layer`](crate::L402Layer) (and the [`Issuer`](crate::Issuer)
//! under it) hears of every request's [`Outcome`], every credential check,
//! every challenge issued and every invoice the backend was asked for.
//!
//! Labels are bounded by construction: a route is the label configured on the
//! layer ([`L402LayerBuilder::route_label`](crate::L402LayerBuilder::route_label)),
//! else axum's matched route *pattern* (`/users/{id}`), never the raw path; a
//! verification result is `"ok"` or a [`VerifyError::code`](l402::VerifyError::code);
//! a backend is its kind ([`backend_label`]) and an invoice failure one of a
//! fixed set ([`invoice_error_reason`]). No payment hash, token id or client
//! address is ever a label; [`Observer::challenge_issued`] hands over the
//! issued challenge so that an observer can tie a later settlement to its
//! route, and must keep what it remembers bounded.
//!
//! A layer without an observer pays one branch per request for this.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use l402_lightning::dev::DevNode;
//! use l402_server::{Keyring, L402Layer};
//! use l402_server::observe::{Observer, Outcome};
//! use tower::ServiceExt;
//!
//! #[derive(Default)]
//! struct Challenged(AtomicU64);
//! impl Observer for Challenged {
//!     fn request(&self, route: &str, outcome: Outcome) {
//!         assert_eq!(route, "/joke");
//!         if outcome == Outcome::Challenged {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let receiver = Arc::new(node.wallet("merchant").await?);
//! let seen = Arc::new(Challenged::default());
//! let layer = L402Layer::builder(receiver, Keyring::new(1, [7; 32]))
//!     .price_sats(21)
//!     .observer(seen.clone())
//!     .build();
//! let app: Router = Router::new().route("/joke", get(|| async { "a joke" })).route_layer(layer);
//! app.oneshot(Request::get("/joke").body(Body::empty())?).await?;
//! assert_eq!(seen.0.load(Ordering::Relaxed), 1);
//! # Ok(()) }
//! ```

use std::time::Duration;

use http::request::Parts;
use l402_lightning::{Backend, BackendError, ReceiveError};

use crate::response::IssuedChallenge;

/// The route label of a request nobody named: no label configured on the
/// layer and no matched axum route.
pub const UNNAMED_ROUTE: &str = "unnamed";

/// What became of a request that reached a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Priced at 0 sats: passed on without a credential.
    Free,
    /// Answered 402 with a fresh challenge (no credential, or a genuine one
    /// that is stale or was bought for something else).
    Challenged,
    /// A verified credential: passed on to the service.
    Paid,
    /// Refused: a malformed, forged or unpaid credential (401), an oversized
    /// `Authorization` (431) or a bad idempotency key (400).
    Rejected,
    /// No challenge could be had, or no price, or the producer could not
    /// verify (503).
    Unavailable,
}

impl Outcome {
    /// The label: `free`, `challenged`, `paid`, `rejected` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Free => "free",
            Outcome::Challenged => "challenged",
            Outcome::Paid => "paid",
            Outcome::Rejected => "rejected",
            Outcome::Unavailable => "unavailable",
        }
    }

    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Free,
        Outcome::Challenged,
        Outcome::Paid,
        Outcome::Rejected,
        Outcome::Unavailable,
    ];
}

/// Hears what a layer and its issuer do. Every method has an empty default:
/// implement those you count. Calls happen on the request's task: keep them
/// short and never block.
pub trait Observer: Send + Sync + 'static {
    /// A request reached the layer on `route` and came to `outcome`.
    fn request(&self, route: &str, outcome: Outcome) {
        let _ = (route, outcome);
    }

    /// A credential was checked on `route`: `Ok` once per newly verified
    /// token (later uses are served from the cache and counted as
    /// [`Outcome::Paid`] only), `Err` with the
    /// [`VerifyError::code`](l402::VerifyError::code) of each refusal.
    fn verification(&self, route: &str, result: Result<(), &'static str>) {
        let _ = (route, result);
    }

    /// A new challenge was issued on `route` (idempotent repeats are not
    /// reported again). Its payment hash lets an observer attribute a later
    /// settlement to the route; what it keeps must be bounded.
    fn challenge_issued(&self, route: &str, issued: &IssuedChallenge) {
        let _ = (route, issued);
    }

    /// The backend (its kind, [`backend_label`]) was asked for an invoice
    /// and answered after `elapsed`: `Ok`, or `Err` with an
    /// [`invoice_error_reason`].
    fn invoice(&self, backend: &'static str, elapsed: Duration, result: Result<(), &'static str>) {
        let _ = (backend, elapsed, result);
    }
}

/// A backend's label: `dev`, `lnbits`, `phoenixd`, `lnd`, `cln`, `nwc`
/// (`other` for a kind this version does not know).
pub fn backend_label(backend: Backend) -> &'static str {
    match backend {
        Backend::Dev => "dev",
        Backend::Lnbits => "lnbits",
        Backend::Phoenixd => "phoenixd",
        Backend::Lnd => "lnd",
        Backend::Cln => "cln",
        Backend::Nwc => "nwc",
        _ => "other",
    }
}

/// Why a backend did not create an invoice, as a label: `unreachable`,
/// `interrupted`, `timeout`, `unauthorized`, `bad_response`, `rejected`,
/// `storage`, `unsupported`, `invalid_request`, or `other`.
///
/// ```
/// use std::time::Duration;
/// use l402_lightning::{Backend, BackendError, ReceiveError};
/// use l402_server::observe::invoice_error_reason;
/// let e = ReceiveError::Backend(BackendError::Timeout { backend: Backend::Lnd, after: Duration::from_secs(10) });
/// assert_eq!(invoice_error_reason(&e), "timeout");
/// ```
pub fn invoice_error_reason(error: &ReceiveError) -> &'static str {
    match error {
        ReceiveError::Backend(e) => match e {
            BackendError::Unreachable { .. } => "unreachable",
            BackendError::Interrupted { .. } => "interrupted",
            BackendError::Timeout { .. } => "timeout",
            BackendError::Unauthorized { .. } => "unauthorized",
            BackendError::BadResponse { .. } => "bad_response",
            BackendError::Rejected { .. } => "rejected",
            BackendError::Storage { .. } => "storage",
            BackendError::Unsupported { .. } => "unsupported",
            _ => "other",
        },
        ReceiveError::InvalidRequest { .. } => "invalid_request",
        _ => "other",
    }
}

/// The route label of a request: the layer's own, else axum's matched route
/// pattern, else [`UNNAMED_ROUTE`]. Never the raw path.
pub(crate) fn route_of<'a>(configured: Option<&'a str>, parts: &'a Parts) -> &'a str {
    if let Some(route) = configured {
        return route;
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    let _ = parts;
    UNNAMED_ROUTE
}

/// A [`Receiver`](l402_lightning::Receiver) that reports how long each
/// invoice took, and whether it came, to an observer; everything else is
/// passed through unchanged.
pub(crate) struct Timed {
    pub(crate) receiver: std::sync::Arc<dyn l402_lightning::Receiver>,
    pub(crate) observer: std::sync::Arc<dyn Observer>,
}

#[async_trait::async_trait]
impl l402_lightning::Receiver for Timed {
    fn backend(&self) -> Backend {
        self.receiver.backend()
    }

    async fn create_invoice(
        &self,
        request: &l402_lightning::InvoiceRequest,
    ) -> Result<l402_lightning::Invoice, ReceiveError> {
        let started = std::time::Instant::now();
        let result = self.receiver.create_invoice(request).await;
        let label = backend_label(self.receiver.backend());
        let outcome = result.as_ref().map(drop).map_err(invoice_error_reason);
        self.observer.invoice(label, started.elapsed(), outcome);
        result
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &l402_lightning::PaymentHash,
    ) -> Result<l402_lightning::InvoiceStatus, ReceiveError> {
        self.receiver.lookup_invoice(payment_hash).await
    }

    fn settlements(&self) -> Option<&dyn l402_lightning::Settlements> {
        self.receiver.settlements()
    }
}
