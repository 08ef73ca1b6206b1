//! The tower layer that charges per request.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use l402::{
    Caveat, ChallengeStyle, Credential, Keyring, RequestContext, Verified, Verifier, VerifyError,
    check_caveats,
};
use l402_lightning::Receiver;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::idempotency::IdempotencyKey;
use crate::issuer::{BoxFuture, Issuer, Offer, SalesRecorder};
use crate::paid::Paid;
use crate::response::{ErrorBody, Rejection, error_response};

/// Why an asynchronous price could not be computed. The layer answers 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("price unavailable: {0}")]
pub struct PriceError(pub String);

type SyncPriceFn = dyn Fn(&Parts) -> u64 + Send + Sync;
type AsyncPriceFn = dyn Fn(&Parts) -> BoxFuture<Result<u64, PriceError>> + Send + Sync;
type TextFn = dyn Fn(&Parts) -> String + Send + Sync;
type RejectionFn = dyn Fn(&Rejection) -> Option<Response<Bytes>> + Send + Sync;

#[derive(Clone)]
enum Price {
    Static(u64),
    Sync(Arc<SyncPriceFn>),
    Async(Arc<AsyncPriceFn>),
}

#[derive(Clone)]
enum Text {
    Default,
    Static(String),
    Function(Arc<TextFn>),
}

impl Text {
    fn get(&self, parts: &Parts, default: impl FnOnce() -> String) -> String {
        match self {
            Text::Default => default(),
            Text::Static(s) => s.clone(),
            Text::Function(f) => f(parts),
        }
    }
}

/// The largest `Authorization` value looked at; larger ones get 431.
pub const DEFAULT_MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

struct Shared {
    issuer: Issuer,
    verifier: Verifier,
    price: Price,
    resource: Text,
    description: Text,
    on_rejection: Option<Arc<RejectionFn>>,
    idempotency: Option<IdempotencyKey>,
    tokens: TokenCache,
    style: ChallengeStyle,
    max_authorization_bytes: usize,
    retry_after_secs: u64,
}

/// A tower [`Layer`] that puts routes behind L402.
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use axum::{Router, routing::get};
/// use l402::Keyring;
/// use l402_lightning::dev::DevNode;
/// use l402_server::{L402Layer, Paid};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let receiver = Arc::new(node.wallet("merchant").await?);
/// let layer = L402Layer::builder(receiver, Keyring::new(1, [7; 32]))
///     .price_sats(21)
///     .description("one weather report")
///     .build();
///
/// async fn weather(paid: Paid) -> String {
///     format!("sunny (paid {} sats)", paid.amount_sats)
/// }
/// let app: Router = Router::new()
///     .route("/weather", get(weather).layer(layer))
///     .route("/free", get(|| async { "free" }));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct L402Layer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for L402Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L402Layer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl L402Layer {
    /// Starts a layer that mints invoices with `receiver` and signs tokens
    /// with `keys`. The default price is 1 sat; set one.
    pub fn builder(receiver: Arc<dyn Receiver>, keys: Keyring) -> L402LayerBuilder {
        L402LayerBuilder {
            receiver,
            keys,
            price: Price::Static(1),
            resource: Text::Default,
            description: Text::Default,
            token_lifetime: Duration::from_secs(3600),
            invoice_expiry: Duration::from_secs(600),
            caveats: Vec::new(),
            service: None,
            on_rejection: None,
            recorder: None,
            idempotency: None,
            style: ChallengeStyle::default(),
            location: None,
            max_authorization_bytes: DEFAULT_MAX_AUTHORIZATION_BYTES,
            retry_after_secs: 5,
        }
    }
}

/// Configures an [`L402Layer`].
#[must_use]
pub struct L402LayerBuilder {
    receiver: Arc<dyn Receiver>,
    keys: Keyring,
    price: Price,
    resource: Text,
    description: Text,
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
}

impl L402LayerBuilder {
    /// A fixed price in sats. `0` makes the routes free.
    pub fn price_sats(mut self, sats: u64) -> Self {
        self.price = Price::Static(sats);
        self
    }

    /// A price computed from the request. `0` lets that request through free.
    pub fn price_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> u64 + Send + Sync + 'static,
    {
        self.price = Price::Sync(Arc::new(f));
        self
    }

    /// A price computed asynchronously (a database or a price feed, say).
    /// Copy what the future needs out of the request before `async move`.
    /// An error answers 503 with code `price_unavailable`.
    ///
    /// ```
    /// # use std::sync::{Arc, RwLock};
    /// # fn demo(b: l402_server::L402LayerBuilder) -> l402_server::L402LayerBuilder {
    /// b.price_async(|parts| {
    ///     let big = parts.uri.query().is_some_and(|q| q.contains("size=large"));
    ///     async move { Ok(if big { 50 } else { 10 }) }
    /// })
    /// # }
    /// ```
    pub fn price_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, PriceError>> + Send + 'static,
    {
        self.price = Price::Async(Arc::new(move |parts| Box::pin(f(parts))));
        self
    }

    /// A fixed resource name for every request (default: the request path,
    /// relative to where the router nests it).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Text::Static(resource.into());
        self
    }

    /// The resource computed from the request.
    pub fn resource_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> String + Send + Sync + 'static,
    {
        self.resource = Text::Function(Arc::new(f));
        self
    }

    /// A fixed invoice description (default: `"<METHOD> <resource>"`).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Text::Static(description.into());
        self
    }

    /// The invoice description computed from the request.
    pub fn description_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> String + Send + Sync + 'static,
    {
        self.description = Text::Function(Arc::new(f));
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
    /// price within 60 s gets the same challenge.
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

    /// Builds the layer.
    pub fn build(self) -> L402Layer {
        let mut issuer = Issuer::builder(self.receiver, self.keys.clone())
            .token_lifetime(self.token_lifetime)
            .invoice_expiry(self.invoice_expiry);
        for caveat in self.caveats {
            issuer = issuer.caveat(caveat);
        }
        if let Some(service) = self.service {
            issuer = issuer.service(service);
        }
        if let Some(recorder) = self.recorder {
            issuer = issuer.recorder(recorder);
        }
        if let Some(location) = self.location {
            issuer = issuer.location(location);
        }
        let issuer = issuer.build();
        let verifier = Verifier::new(self.keys).location(issuer.location());
        L402Layer {
            shared: Arc::new(Shared {
                issuer,
                verifier,
                price: self.price,
                resource: self.resource,
                description: self.description,
                on_rejection: self.on_rejection,
                idempotency: self.idempotency,
                tokens: TokenCache::default(),
                style: self.style,
                max_authorization_bytes: self.max_authorization_bytes,
                retry_after_secs: self.retry_after_secs,
            }),
        }
    }
}

impl<S> Layer<S> for L402Layer {
    type Service = L402Service<S>;

    fn layer(&self, inner: S) -> Self::Service {
        L402Service {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service the [`L402Layer`] wraps around an inner service.
#[derive(Clone)]
pub struct L402Service<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for L402Service<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L402Service")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`L402Service`]: the inner service's own future
    /// on the paid path (nothing boxed, nothing awaited first), a ready answer
    /// for refusals, or a boxed future when something must be awaited (an
    /// asynchronous price, a new invoice, a sale to record).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner {
            #[pin]
            future: F,
        },
        Ready {
            response: Option<Response<ResponseBody<B>>>,
        },
        Boxed {
            future: BoxFuture<Result<Response<ResponseBody<B>>, E>>,
        },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn ready(response: Response<Bytes>) -> Self {
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(full(response)),
            },
        }
    }

    fn boxed(
        future: impl Future<Output = Result<Response<ResponseBody<B>>, E>> + Send + 'static,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Boxed {
                future: Box::pin(future),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending, // polled after completion
            },
            KindProj::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for L402Service<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The inner service was driven to readiness; take it and leave a
        // clone (the usual tower pattern for services used in a future).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let (mut parts, body) = request.into_parts();

        if let Some(response) = shared.oversized_authorization(&parts) {
            return ResponseFuture::ready(response);
        }
        let price = match &shared.price {
            Price::Static(p) => *p,
            Price::Sync(f) => f(&parts),
            Price::Async(f) => {
                let price = f(&parts);
                return ResponseFuture::boxed(async move {
                    match price.await {
                        Ok(price) => {
                            let decision = shared.decide(&mut parts, price);
                            shared.finish(inner, parts, body, decision).await
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "L402 price unavailable");
                            Ok(full(
                                shared.unavailable("price_unavailable", &e.to_string()),
                            ))
                        }
                    }
                });
            }
        };
        match shared.decide(&mut parts, price) {
            Decision::Forward { record: None } => ResponseFuture {
                kind: Kind::Inner {
                    future: inner.call(Request::from_parts(parts, body)),
                },
            },
            Decision::Respond(response) => ResponseFuture::ready(response),
            decision => {
                ResponseFuture::boxed(
                    async move { shared.finish(inner, parts, body, decision).await },
                )
            }
        }
    }
}

fn full<B>(response: Response<Bytes>) -> Response<ResponseBody<B>> {
    response.map(ResponseBody::full)
}

/// What the layer does with a request, once its price is known.
enum Decision {
    /// Pass it on (paid, with the [`Paid`] extension, or free), after
    /// recording the sale if there is one to record.
    Forward { record: Option<BoxFuture<()>> },
    /// Answer without the inner service.
    Respond(Response<Bytes>),
    /// Answer with a fresh challenge.
    Challenge { resource: String, price: u64 },
}

impl Shared {
    /// Everything that needs no waiting: resource, credential, verification.
    fn decide(&self, parts: &mut Parts, price: u64) -> Decision {
        if price == 0 {
            return Decision::Forward { record: None };
        }
        let resource = self.resource.get(parts, || parts.uri.path().to_owned());
        let mut ctx = RequestContext::now()
            .resource(resource.as_str())
            .amount_sats(price)
            .method(parts.method.as_str());
        if let Some(service) = self.issuer.service() {
            ctx = ctx.service(service);
        }
        let outcome = self.authenticate(parts, &ctx, |token| paid(token, &resource, price));
        match outcome {
            None => Decision::Challenge { resource, price },
            Some(Ok(paid)) => {
                let record = self.issuer.recorder().and_then(|r| r.paid_request(&paid));
                parts.extensions.insert(paid);
                Decision::Forward { record }
            }
            Some(Err(reason)) => {
                let rejection = Rejection {
                    reason,
                    resource,
                    price_sats: price,
                };
                tracing::debug!(reason = %rejection.reason, "L402 credential rejected");
                if let Some(response) = self.on_rejection.as_ref().and_then(|f| f(&rejection)) {
                    return Decision::Respond(response);
                }
                if rejection.status() == StatusCode::UNAUTHORIZED {
                    return Decision::Respond(error_response(
                        StatusCode::UNAUTHORIZED,
                        rejection.code(),
                        &rejection.reason.to_string(),
                    ));
                }
                // Genuine but stale or for something else: a fresh challenge.
                Decision::Challenge {
                    resource: rejection.resource,
                    price,
                }
            }
        }
    }

    /// Carries out a decision that may need waiting.
    async fn finish<S, ReqBody, ResBody>(
        &self,
        mut inner: S,
        parts: Parts,
        body: ReqBody,
        decision: Decision,
    ) -> Result<Response<ResponseBody<ResBody>>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        match decision {
            Decision::Forward { record } => {
                if let Some(record) = record {
                    record.await;
                }
                let response = inner.call(Request::from_parts(parts, body)).await?;
                Ok(response.map(ResponseBody::inner))
            }
            Decision::Respond(response) => Ok(full(response)),
            Decision::Challenge { resource, price } => {
                Ok(full(self.challenge(&parts, resource, price).await))
            }
        }
    }

    fn oversized_authorization(&self, parts: &Parts) -> Option<Response<Bytes>> {
        let too_big = parts
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .any(|v| v.len() > self.max_authorization_bytes);
        too_big.then(|| {
            error_response(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "header_too_large",
                &format!(
                    "the Authorization header is larger than {} bytes",
                    self.max_authorization_bytes
                ),
            )
        })
    }

    /// Verifies the first usable L402 credential (an `Authorization` value,
    /// else Aperture's header-less gRPC metadata form); `None` if there is none.
    ///
    /// A credential that verified before is found in the token cache by its
    /// exact `Authorization` text: its signature and preimage were checked
    /// then, so only its caveats are checked again against this request.
    fn authenticate<R>(
        &self,
        parts: &Parts,
        ctx: &RequestContext<'_>,
        accept: impl Fn(&Token) -> R,
    ) -> Option<Result<R, VerifyError>> {
        for value in parts.headers.get_all(header::AUTHORIZATION) {
            let key = value.as_bytes();
            let hit = self.tokens.with(key, |token| {
                check_caveats(token.caveats.iter(), ctx).map(|()| accept(token))
            });
            match hit {
                Some(Ok(accepted)) => return Some(Ok(accepted)),
                Some(Err(e)) => {
                    self.tokens.remove(key);
                    return Some(Err(VerifyError::Caveat(e)));
                }
                None => {}
            }
            let Ok(text) = value.to_str() else { continue };
            let Ok(credential) = text.parse::<Credential>() else {
                continue;
            };
            return Some(self.verifier.verify(&credential, ctx).map(|verified| {
                let token = Token::from(verified);
                let accepted = accept(&token);
                self.tokens.insert(key, token);
                accepted
            }));
        }
        let credential = ["grpc-metadata-macaroon", "macaroon"]
            .iter()
            .filter_map(|name| parts.headers.get(*name))
            .filter(|v| v.len() <= self.max_authorization_bytes)
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| Credential::from_grpc_metadata(v).ok())?;
        Some(
            self.verifier
                .verify(&credential, ctx)
                .map(|verified| accept(&Token::from(verified))),
        )
    }

    fn unavailable(&self, code: &'static str, message: &str) -> Response<Bytes> {
        let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, code, message);
        response.headers_mut().insert(
            header::RETRY_AFTER,
            http::HeaderValue::from(self.retry_after_secs),
        );
        response
    }

    async fn challenge(&self, parts: &Parts, resource: String, price: u64) -> Response<Bytes> {
        let grpc = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
        let key = match self.idempotency.as_ref().map(|k| k.key(parts)) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(key))) => Some(key),
            Some(Err(e)) => {
                let mut body = ErrorBody::new(StatusCode::BAD_REQUEST, e.code(), e.to_string());
                if let Some(name) = self.idempotency.as_ref().and_then(IdempotencyKey::header) {
                    body = body.field(name.as_str());
                }
                return body.response();
            }
        };
        let description = self
            .description
            .get(parts, || format!("{} {}", parts.method, resource));
        let offer = Offer::new(resource.as_str(), price).description(description);
        let issued = match key {
            Some(key) => {
                let scope = crate::idempotency::scope(&key, &resource, price);
                self.issuer.issue_idempotent(scope, &offer).await
            }
            None => self.issuer.issue(&offer).await.map(Arc::new),
        };
        match issued {
            Ok(issued) => issued.response(&self.style, grpc),
            Err(e) => {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "L402: no challenge");
                self.unavailable(e.code(), e.public_message())
            }
        }
    }
}

/// A verified token, with what each paid request hands the service computed
/// once.
struct Token {
    payment_hash: l402::PaymentHash,
    token_id: l402::TokenId,
    caveats: Arc<[Caveat]>,
    valid_until: Option<u64>,
}

impl Token {
    /// A copy that shares nothing with this one (its own caveats), for a
    /// thread's private cache.
    fn private_copy(&self) -> Token {
        Token {
            payment_hash: self.payment_hash,
            token_id: self.token_id,
            caveats: self.caveats.iter().cloned().collect(),
            valid_until: self.valid_until,
        }
    }
}

impl From<Verified> for Token {
    fn from(verified: Verified) -> Self {
        Token {
            payment_hash: verified.payment_hash(),
            token_id: verified.token_id(),
            valid_until: verified.caveat("valid_until").and_then(|v| v.parse().ok()),
            caveats: verified.caveats.into(),
        }
    }
}

fn paid(token: &Token, resource: &str, amount_sats: u64) -> Paid {
    Paid {
        resource: resource.to_owned(),
        amount_sats,
        payment_hash: token.payment_hash,
        token_id: token.token_id,
        caveats: token.caveats.clone(),
        valid_until: token.valid_until,
    }
}

/// Credentials that verified, by their exact `Authorization` bytes. Only
/// genuine, paid tokens get in, so it cannot be filled without paying; it is
/// bounded all the same.
///
/// Two levels: the layer's shared map, and a private copy per worker thread
/// in front of it, so that a hit touches no state another core writes to (a
/// shared lock word or reference count bounced between cores cost more than
/// the rest of the paid path).
struct TokenCache {
    id: u64,
    entries: RwLock<HashMap<Box<[u8]>, Token, TailState>>,
}

/// The most verified credentials remembered per layer (and per thread).
const TOKEN_CACHE_CAPACITY: usize = 16_384;
/// The most layers a thread keeps private copies for.
const LOCAL_LAYERS: usize = 64;

type LocalTokens = HashMap<u64, HashMap<Box<[u8]>, Token, TailState>>;

thread_local! {
    static LOCAL_TOKENS: std::cell::RefCell<LocalTokens> = std::cell::RefCell::new(HashMap::new());
}

impl Default for TokenCache {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        TokenCache {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            entries: RwLock::default(),
        }
    }
}

impl TokenCache {
    /// Runs `f` on the cached token for these bytes: this thread's copy, else
    /// the shared one (copied for this thread on the way).
    fn with<R>(&self, key: &[u8], f: impl FnOnce(&Token) -> R) -> Option<R> {
        let mut f = Some(f);
        let local = LOCAL_TOKENS.with(|local| {
            let local = local.try_borrow().ok()?;
            let token = local.get(&self.id)?.get(key)?;
            f.take().map(|f| f(token))
        });
        if local.is_some() {
            return local;
        }
        let token = self.entries.read().ok()?.get(key)?.private_copy();
        let result = f.take().map(|f| f(&token));
        self.keep_locally(key, token);
        result
    }

    fn keep_locally(&self, key: &[u8], token: Token) {
        LOCAL_TOKENS.with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            if local.len() >= LOCAL_LAYERS && !local.contains_key(&self.id) {
                local.clear();
            }
            let tokens = local.entry(self.id).or_default();
            if tokens.len() >= TOKEN_CACHE_CAPACITY {
                tokens.clear();
            }
            tokens.insert(key.into(), token);
        });
    }

    fn insert(&self, key: &[u8], verified: Token) {
        self.keep_locally(key, verified.private_copy());
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= TOKEN_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(key.into(), verified);
        }
    }

    fn remove(&self, key: &[u8]) {
        LOCAL_TOKENS.with(|local| {
            if let Ok(mut local) = local.try_borrow_mut()
                && let Some(tokens) = local.get_mut(&self.id)
            {
                tokens.remove(key);
            }
        });
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }
}

/// Hashes a credential by its length and last 16 bytes, mixed with a
/// per-process random seed. A credential ends with its preimage, 64 random hex
/// digits, so that is where it differs; hashing the ~300 bytes before it was
/// a measurable part of the paid path. Entries are only ever paid tokens, so
/// the weaker hash gives an attacker nothing to collide cheaply.
#[derive(Clone)]
struct TailState {
    seed: u64,
}

impl Default for TailState {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        // A failing random source leaves a fixed seed: still correct, only
        // predictable.
        let _ = getrandom::getrandom(&mut seed);
        TailState {
            seed: u64::from_le_bytes(seed),
        }
    }
}

impl std::hash::BuildHasher for TailState {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher { state: self.seed }
    }
}

struct TailHasher {
    state: u64,
}

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(16)..];
        for chunk in tail.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.state = (self.state ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
        self.state ^= bytes.len() as u64;
    }

    fn finish(&self) -> u64 {
        self.state.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (self.state >> 33)
    }
}
