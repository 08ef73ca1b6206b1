//! The layer and its builder.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderName;
use http::Response;
use l402::{Caveat, ChallengeStyle, Keyring, Verifier};
use l402_lightning::Receiver;
use tower_layer::Layer;

use super::pricing::Pricing;
use super::seller::Seller;
use super::service::{Core, L402Service, RejectionFn};
use crate::idempotency::IdempotencyKey;
use crate::issuer::{DEFAULT_INVOICE_EXPIRY, DEFAULT_TOKEN_LIFETIME, Issuer, SalesRecorder};
use crate::observe::{Observer, Timed};
use crate::response::Rejection;
use crate::token_cache::{DEFAULT_TOKEN_CACHE_BYTES, TokenCache};

/// The largest `Authorization` value looked at; larger ones get 431.
pub const DEFAULT_MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// A tower [`Layer`] that puts routes behind L402 (see the
/// [module docs](crate::layer)). `P` is the [`Pricing`]: a fixed `u64` by
/// default.
pub struct L402Layer<P = u64> {
    pub(super) core: Arc<Core>,
    pub(super) pricing: Arc<P>,
}

impl<P> Clone for L402Layer<P> {
    fn clone(&self) -> Self {
        L402Layer {
            core: self.core.clone(),
            pricing: self.pricing.clone(),
        }
    }
}

impl<P> std::fmt::Debug for L402Layer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L402Layer")
            .field("seller", &self.core.seller)
            .finish_non_exhaustive()
    }
}

impl L402Layer {
    /// Starts a layer that mints invoices with `receiver` and signs tokens
    /// with `keys`. The default price is 1 sat; set one.
    pub fn builder(receiver: Arc<dyn Receiver>, keys: Keyring) -> L402LayerBuilder {
        Self::with_source(Source::Local { receiver, keys })
    }

    /// Starts a layer whose challenges and verification come from a remote
    /// producer API (l402-express's model: the app holds an API key, the
    /// producer the node and the secret; see the [`remote`](crate::remote)
    /// module). Token lifetime, invoice expiry, extra caveats, service,
    /// location and recorder are the producer's, and ignored here; the
    /// price, resource, description, idempotency key, rejection hook and
    /// token cache work as for a local layer.
    #[cfg(feature = "remote")]
    pub fn remote(producer: crate::remote::RemoteProducer) -> L402LayerBuilder {
        Self::with_source(Source::Remote(producer))
    }

    fn with_source(source: Source) -> L402LayerBuilder {
        L402LayerBuilder {
            source,
            pricing: 1,
            resource: None,
            description: None,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            invoice_expiry: DEFAULT_INVOICE_EXPIRY,
            caveats: Vec::new(),
            service: None,
            on_rejection: None,
            recorder: None,
            idempotency: None,
            style: ChallengeStyle::default(),
            location: None,
            max_authorization_bytes: DEFAULT_MAX_AUTHORIZATION_BYTES,
            retry_after_secs: 5,
            token_cache_bytes: DEFAULT_TOKEN_CACHE_BYTES,
            observer: None,
            route_label: None,
            browser_page: true,
        }
    }
}

impl<S, P> Layer<S> for L402Layer<P> {
    type Service = L402Service<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        L402Service {
            inner,
            core: self.core.clone(),
            pricing: self.pricing.clone(),
        }
    }
}

/// Where a layer's challenges and verification come from.
enum Source {
    Local {
        receiver: Arc<dyn Receiver>,
        keys: Keyring,
    },
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteProducer),
}

/// Configures an [`L402Layer`].
#[must_use]
pub struct L402LayerBuilder<P = u64> {
    source: Source,
    pricing: P,
    resource: Option<String>,
    description: Option<String>,
    token_lifetime: Duration,
    invoice_expiry: Duration,
    caveats: Vec<Caveat>,
    service: Option<String>,
    on_rejection: Option<Arc<RejectionFn>>,
    recorder: Option<Arc<dyn SalesRecorder>>,
    idempotency: Option<IdempotencyKey>,
    style: ChallengeStyle,
    location: Option<String>,
    max_authorization_bytes: usize,
    retry_after_secs: u64,
    token_cache_bytes: usize,
    observer: Option<Arc<dyn Observer>>,
    route_label: Option<String>,
    browser_page: bool,
}

impl<P> L402LayerBuilder<P> {
    /// A fixed price in sats. `0` makes the routes free.
    pub fn price_sats(self, sats: u64) -> L402LayerBuilder<u64> {
        self.pricing(sats)
    }

    /// Prices each request with a [`Pricing`]: a closure, or a type of your
    /// own (see the [module docs](crate::layer) for an example).
    pub fn pricing<Q: Pricing>(self, pricing: Q) -> L402LayerBuilder<Q> {
        L402LayerBuilder {
            source: self.source,
            pricing,
            resource: self.resource,
            description: self.description,
            token_lifetime: self.token_lifetime,
            invoice_expiry: self.invoice_expiry,
            caveats: self.caveats,
            service: self.service,
            on_rejection: self.on_rejection,
            recorder: self.recorder,
            idempotency: self.idempotency,
            style: self.style,
            location: self.location,
            max_authorization_bytes: self.max_authorization_bytes,
            retry_after_secs: self.retry_after_secs,
            token_cache_bytes: self.token_cache_bytes,
            observer: self.observer,
            route_label: self.route_label,
            browser_page: self.browser_page,
        }
    }

    /// A fixed resource name for every request (default: the full request
    /// path, also under nested axum routers). A [`Quote`](super::Quote)
    /// naming a resource overrides it.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A fixed invoice description (default: `"<METHOD> <resource>"`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// How long a paid token stays valid after it is minted (default 1 hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How long an invoice stays payable (default 10 minutes).
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    /// An extra caveat on every token (capabilities, say).
    pub fn caveat(mut self, caveat: Caveat) -> Self {
        self.caveats.push(caveat);
        self
    }

    /// Names the service (Aperture's `services=<name>:0` caveat); tokens for
    /// other services are refused here.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// Decides the response to a rejected credential. Return `None` to keep
    /// the default (402 with a fresh challenge, or 401).
    pub fn on_rejection<F>(mut self, f: F) -> Self
    where
        F: Fn(&Rejection) -> Option<Response<Bytes>> + Send + Sync + 'static,
    {
        self.on_rejection = Some(Arc::new(f));
        self
    }

    /// Records what this layer sells (see [`SalesRecorder`]).
    pub fn recorder(mut self, recorder: Arc<dyn SalesRecorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Opt-in idempotency: a repeated request with the same key, resource and
    /// price within [`IDEMPOTENCY_WINDOW`](crate::IDEMPOTENCY_WINDOW) gets
    /// the same challenge; concurrent ones share one invoice. A key that
    /// breaks [`check_key`](crate::idempotency::check_key) is answered 400.
    pub fn idempotency(mut self, key: IdempotencyKey) -> Self {
        self.idempotency = Some(key);
        self
    }

    /// Shorthand for [`IdempotencyKey::Header`].
    pub fn idempotency_header(self, name: HeaderName) -> Self {
        self.idempotency(IdempotencyKey::Header(name))
    }

    /// Which optional extras the challenge carries.
    pub fn challenge_style(mut self, style: ChallengeStyle) -> Self {
        self.style = style;
        self
    }

    /// The macaroon location (default `"lsat"`, as Aperture).
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The largest `Authorization` value accepted (default 8 KiB); larger
    /// ones are answered 431.
    pub fn max_authorization_bytes(mut self, max: usize) -> Self {
        self.max_authorization_bytes = max;
        self
    }

    /// The `Retry-After` seconds sent with 503 when no invoice can be minted.
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// The most memory the cache of verified tokens may use (default 64 MiB,
    /// about 120,000 tokens; see the layer docs for the cost per token).
    pub fn token_cache_bytes(mut self, bytes: usize) -> Self {
        self.token_cache_bytes = bytes;
        self
    }

    /// Reports what the layer does to `observer` (metrics: see the
    /// [`observe`](crate::observe) module): each request's outcome, each
    /// credential check, each challenge and each invoice's latency. Without
    /// one, the layer pays a branch per request for it.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The route label the observer hears (the configured route pattern,
    /// say `/api/report`). Default: axum's matched route pattern, else
    /// [`UNNAMED_ROUTE`](crate::observe::UNNAMED_ROUTE); never the raw path.
    pub fn route_label(mut self, label: impl Into<String>) -> Self {
        self.route_label = Some(label.into());
        self
    }

    /// Whether a browser (`Accept: text/html`, no L402 credential) gets the
    /// 402 as an HTML page with the invoice as a QR code (default on; API
    /// clients get JSON either way).
    pub fn browser_page(mut self, on: bool) -> Self {
        self.browser_page = on;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> L402Layer<P> {
        let seller = match self.source {
            Source::Local { receiver, keys } => {
                let receiver: Arc<dyn Receiver> = match &self.observer {
                    Some(observer) => Arc::new(Timed {
                        receiver,
                        observer: observer.clone(),
                    }),
                    None => receiver,
                };
                let mut issuer = Issuer::builder(receiver, keys.clone())
                    .token_lifetime(self.token_lifetime)
                    .invoice_expiry(self.invoice_expiry);
                if let Some(service) = self.service {
                    issuer = issuer.service(service);
                }
                for caveat in self.caveats {
                    issuer = issuer.caveat(caveat);
                }
                if let Some(recorder) = self.recorder {
                    issuer = issuer.recorder(recorder);
                }
                if let Some(location) = self.location {
                    issuer = issuer.location(location);
                }
                let issuer = issuer.build();
                let verifier = Verifier::new(keys).location(issuer.location());
                Seller::Local { issuer, verifier }
            }
            #[cfg(feature = "remote")]
            Source::Remote(producer) => Seller::Remote(producer),
        };
        L402Layer {
            core: Arc::new(Core {
                seller,
                resource: self.resource,
                description: self.description,
                on_rejection: self.on_rejection,
                idempotency: self.idempotency,
                tokens: TokenCache::new(self.token_cache_bytes),
                style: self.style,
                max_authorization_bytes: self.max_authorization_bytes,
                retry_after_secs: self.retry_after_secs,
                observer: self.observer,
                route_label: self.route_label,
                browser_page: self.browser_page,
            }),
            pricing: Arc::new(self.pricing),
        }
    }
}
