//! What a request costs: the [`Pricing`] trait.

use std::future::{Future, Ready, ready};

use http::request::Parts;

/// Why a price could not be computed (a price feed or a database is down,
/// say). The layer answers 503 with code `price_unavailable`; the cause is
/// logged, never sent.
#[derive(Debug, thiserror::Error)]
#[error("price unavailable")]
pub struct PriceError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl PriceError {
    /// Wraps the cause.
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        PriceError(cause.into())
    }
}

/// The price of one request, and optionally what it buys: the resource the
/// token is bound to (default: the builder's
/// [`resource`](crate::L402LayerBuilder::resource), else the full request
/// path) and the invoice description (default: the builder's, else
/// `"<METHOD> <resource>"`).
///
/// A price of `0` lets the request through free.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct Quote {
    /// The price in sats.
    pub price_sats: u64,
    /// The resource the token will be bound to.
    pub resource: Option<String>,
    /// The invoice description.
    pub description: Option<String>,
}

impl Quote {
    /// A price with the default resource and description.
    pub fn sats(price_sats: u64) -> Self {
        Quote {
            price_sats,
            resource: None,
            description: None,
        }
    }

    /// Sets the resource.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the invoice description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl From<u64> for Quote {
    fn from(price_sats: u64) -> Self {
        Quote::sats(price_sats)
    }
}

/// Prices a request: turns its [`Parts`] into a future of a [`Quote`].
///
/// Implemented for `u64` (a fixed price, with no waiting and no
/// allocation) and for every closure `Fn(&Parts) -> impl Future<Output =
/// Result<Q, PriceError>>` where `Q` is a [`Quote`] or a `u64`. Copy what
/// the future needs out of the request before `async move`. Implement it
/// on a type of your own when the price needs state.
///
/// ```
/// use http::request::Parts;
/// use l402_server::{PriceError, Pricing, Quote};
///
/// struct PerMegabyte(u64);
/// impl Pricing for PerMegabyte {
///     type Future = std::future::Ready<Result<Quote, PriceError>>;
///     fn price(&self, parts: &Parts) -> Self::Future {
///         let mb: u64 = parts.uri.query().and_then(|q| q.strip_prefix("mb=")?.parse().ok()).unwrap_or(1);
///         std::future::ready(Ok(Quote::sats(self.0 * mb).description(format!("{mb} MB"))))
///     }
/// }
/// ```
pub trait Pricing: Send + Sync + 'static {
    /// The future of the quote.
    type Future: Future<Output = Result<Quote, PriceError>> + Send + 'static;

    /// Prices one request.
    fn price(&self, parts: &Parts) -> Self::Future;
}

impl Pricing for u64 {
    type Future = Ready<Result<Quote, PriceError>>;

    fn price(&self, _parts: &Parts) -> Self::Future {
        ready(Ok(Quote::sats(*self)))
    }
}

impl<F, Fut, Q> Pricing for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Q, PriceError>> + Send + 'static,
    Q: Into<Quote>,
{
    type Future = IntoQuote<Fut>;

    fn price(&self, parts: &Parts) -> Self::Future {
        IntoQuote {
            future: self(parts),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a closure's price, turned into a [`Quote`].
    pub struct IntoQuote<Fut> {
        #[pin]
        future: Fut,
    }
}

impl<Fut, Q> Future for IntoQuote<Fut>
where
    Fut: Future<Output = Result<Q, PriceError>>,
    Q: Into<Quote>,
{
    type Output = Result<Quote, PriceError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project()
            .future
            .poll(cx)
            .map(|result| result.map(Into::into))
    }
}
