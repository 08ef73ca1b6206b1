//! The service, and what it decides for each request.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body::Body;
use l402::{
    ChallengeStyle, Credential, CredentialError, RequestContext, TokenIdentity, VerifyError,
};
use tower_service::Service;

use super::future::ResponseFuture;
use super::pricing::{Pricing, Quote};
use super::seller::Seller;
use crate::body::ResponseBody;
use crate::idempotency::IdempotencyKey;
use crate::issuer::{BoxFuture, Offer};
use crate::observe::{Observer, Outcome, route_of};
use crate::paid::Paid;
use crate::response::{ErrorBody, Rejection, error_response};
use crate::token_cache::{Token, TokenCache, TokenKey};

pub(super) type RejectionFn = dyn Fn(&Rejection) -> Option<Response<Bytes>> + Send + Sync;

/// The service the [`L402Layer`](super::L402Layer) wraps around an inner
/// service.
pub struct L402Service<S, P = u64> {
    pub(super) inner: S,
    pub(super) core: Arc<Core>,
    pub(super) pricing: Arc<P>,
}

impl<S: Clone, P> Clone for L402Service<S, P> {
    fn clone(&self) -> Self {
        L402Service {
            inner: self.inner.clone(),
            core: self.core.clone(),
            pricing: self.pricing.clone(),
        }
    }
}

impl<S: std::fmt::Debug, P> std::fmt::Debug for L402Service<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L402Service")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, P> L402Service<S, P> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes this service, returning the inner one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for L402Service<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    P: Pricing,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, P::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The inner service was driven to readiness; take it and leave a
        // clone (the usual tower pattern for services used in a future).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        if let Some(response) = self.core.oversized_authorization(&parts) {
            self.core.observe(&parts, Outcome::Rejected);
            return ResponseFuture::ready(response);
        }
        let pricing = self.pricing.price(&parts);
        ResponseFuture::pricing(pricing, inner, parts, body, self.core.clone())
    }
}

/// After a producer that could not answer a due re-check, how long a token
/// verified before is served before the producer is asked again (seconds).
#[cfg(feature = "remote")]
const RECHECK_RETRY_SECS: u64 = 5;

/// What the layer does with a request, once its price is known.
pub(super) enum Decision {
    /// Pass it on (paid, with the [`Paid`] extension, or free), after
    /// recording the sale if there is one to record.
    Forward { record: Option<BoxFuture<()>> },
    /// Answer without the inner service.
    Respond(Response<Bytes>),
    /// Answer with a fresh challenge.
    Challenge { resource: String, quote: Quote },
    /// Ask the remote producer about a credential the cache does not hold.
    #[cfg(feature = "remote")]
    Verify {
        credential: Credential,
        resource: String,
        quote: Quote,
        /// The cached token when the cache holds it but the producer is due
        /// to be asked again: served if the producer cannot answer.
        stale: Option<Box<(TokenKey, Token)>>,
    },
}

/// What a request presents as a credential.
enum Presented {
    None,
    /// An `L402`/`LSAT` credential (or gRPC metadata) that does not parse.
    Malformed(CredentialError),
    Credential(Credential),
}

/// Everything about a layer but its pricing.
pub(crate) struct Core {
    pub(super) seller: Seller,
    pub(super) resource: Option<String>,
    pub(super) description: Option<String>,
    pub(super) on_rejection: Option<Arc<RejectionFn>>,
    pub(super) idempotency: Option<IdempotencyKey>,
    pub(super) tokens: TokenCache,
    pub(super) style: ChallengeStyle,
    pub(super) max_authorization_bytes: usize,
    pub(super) retry_after_secs: u64,
    pub(super) observer: Option<Arc<dyn Observer>>,
    pub(super) route_label: Option<String>,
    pub(super) browser_page: bool,
}

/// Whether an `Authorization` value uses the `L402` or `LSAT` scheme (any
/// case), whatever follows.
/// The first `Authorization` value of the `L402` or `LSAT` scheme.
fn l402_authorization(parts: &Parts) -> Option<&http::HeaderValue> {
    parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .find(|value| is_l402_scheme(value.as_bytes()))
}

fn is_l402_scheme(value: &[u8]) -> bool {
    let value = value.trim_ascii_start();
    let scheme = value
        .split(|b| *b == b' ' || *b == b'\t')
        .next()
        .unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"L402") || scheme.eq_ignore_ascii_case(b"LSAT")
}

/// The request path as the client sent it: under a nested axum router the
/// URI seen here lost its prefix, and axum keeps the original.
fn full_path(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return original.0.path();
    }
    parts.uri.path()
}

impl Core {
    /// Tells the observer, if any, what became of a request, and records
    /// it as `l402.outcome` on the current tracing span (a server's request
    /// span that declares the field; see `l402 serve`'s `[telemetry]`).
    pub(super) fn observe(&self, parts: &Parts, outcome: Outcome) {
        tracing::Span::current().record("l402.outcome", outcome.as_str());
        if let Some(observer) = &self.observer {
            observer.request(route_of(self.route_label.as_deref(), parts), outcome);
        }
    }

    /// Tells the observer, if any, how a credential check ended.
    fn observe_verification(&self, parts: &Parts, result: Result<(), &'static str>) {
        if let Some(observer) = &self.observer {
            observer.verification(route_of(self.route_label.as_deref(), parts), result);
        }
    }

    pub(super) fn unavailable(&self, code: &'static str, message: &str) -> Response<Bytes> {
        ErrorBody::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            .retry_after(self.retry_after_secs)
            .response()
    }

    pub(super) fn oversized_authorization(&self, parts: &Parts) -> Option<Response<Bytes>> {
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

    /// Everything that needs no waiting: resource, credential, verification.
    pub(super) fn decide(&self, parts: &mut Parts, mut quote: Quote) -> Decision {
        if quote.price_sats == 0 {
            self.observe(parts, Outcome::Free);
            return Decision::Forward { record: None };
        }
        let price = quote.price_sats;
        // Borrowed until a Paid value or a challenge needs it owned.
        let resource: Cow<'_, str> = match quote.resource.take() {
            Some(resource) => Cow::Owned(resource),
            None => match &self.resource {
                Some(resource) => Cow::Borrowed(resource.as_str()),
                None => Cow::Borrowed(full_path(parts)),
            },
        };
        let ctx = self.context(&resource, price, parts.method.as_str());
        // A token that verified before, found without parsing the credential
        // (a spelling this thread accepted before) or by reading only its
        // identity, allocation-free. Anything but success goes the full way
        // below, which also answers every error.
        let spelling = l402_authorization(parts).map(|value| value.as_bytes());
        if let Some(raw) = spelling {
            let remembered = self.tokens.key_for_spelling(raw);
            let key = remembered.or_else(|| {
                let text = std::str::from_utf8(raw).ok()?;
                TokenIdentity::read(text, self.seller.location()).map(|id| TokenKey::from(&id))
            });
            if let Some(key) = key
                && let Some(Ok(paid)) = self.tokens.with(&key, |token| {
                    if token.recheck_due(ctx.now_unix_secs()) {
                        // The producer is asked again: the full path below.
                        return Err(());
                    }
                    l402::check_caveats(token.caveats.iter(), &ctx)
                        .map(|()| paid(token, &resource, price))
                        .map_err(drop)
                })
            {
                if remembered.is_none() {
                    self.tokens.remember_spelling(raw, key);
                }
                return self.forward(parts, paid);
            }
        }
        let credential = match self.presented(parts) {
            Presented::None => {
                return Decision::Challenge {
                    resource: resource.into_owned(),
                    quote,
                };
            }
            Presented::Malformed(e) => {
                tracing::debug!(error = %e, "L402 credential malformed");
                self.observe_verification(parts, Err("malformed_credential"));
                self.observe(parts, Outcome::Rejected);
                return Decision::Respond(error_response(
                    StatusCode::UNAUTHORIZED,
                    "malformed_credential",
                    &format!("the L402 credential cannot be parsed: {e}"),
                ));
            }
            Presented::Credential(credential) => credential,
        };
        let verified = match &self.seller {
            Seller::Local { verifier, .. } => {
                self.verify(verifier, &credential, &ctx, parts, |token| {
                    paid(token, &resource, price)
                })
            }
            #[cfg(feature = "remote")]
            Seller::Remote(_) => {
                let now = ctx.now_unix_secs();
                let hit = self.cached(&credential, &ctx, |t| {
                    if t.recheck_due(now) {
                        Err(t.clone())
                    } else {
                        Ok(paid(t, &resource, price))
                    }
                });
                match hit {
                    Some(Ok(Ok(paid))) => Ok(paid),
                    Some(Err(reason)) => Err(reason),
                    Some(Ok(Err(due))) => {
                        return Decision::Verify {
                            stale: TokenKey::of(&credential).map(|key| Box::new((key, due))),
                            credential,
                            resource: resource.into_owned(),
                            quote,
                        };
                    }
                    None => {
                        return Decision::Verify {
                            credential,
                            resource: resource.into_owned(),
                            quote,
                            stale: None,
                        };
                    }
                }
            }
        };
        drop(ctx);
        match verified {
            Ok(paid) => {
                drop(resource);
                // `presented` took the credential from this header value.
                if let Some(raw) = spelling
                    && let Some(key) = TokenKey::of(&credential)
                {
                    self.tokens.remember_spelling(raw, key);
                }
                self.forward(parts, paid)
            }
            Err(reason) => {
                let resource = resource.into_owned();
                self.reject(parts, reason, resource, quote)
            }
        }
    }

    /// What a request is checked against: resource, price, method, and the
    /// service when tokens are bound to one. A remote producer checked the
    /// token's `merchant=` caveat against its API key; it is not checked
    /// again here.
    fn context<'a>(&'a self, resource: &'a str, price: u64, method: &'a str) -> RequestContext<'a> {
        let mut ctx = RequestContext::now()
            .resource(resource)
            .amount_sats(price)
            .method(method);
        if let Some(service) = self.seller.service() {
            ctx = ctx.service(service);
        }
        if self.seller.is_remote() {
            ctx = ctx.ignore(l402::caveat::Ignorable::Merchant);
        }
        ctx
    }

    /// The answer to a credential that was not accepted: the hook's, else
    /// 401 (forged or unpaid: no challenge) or a fresh challenge (genuine
    /// but stale or for something else).
    fn reject(
        &self,
        parts: &Parts,
        reason: VerifyError,
        resource: String,
        quote: Quote,
    ) -> Decision {
        let rejection = Rejection {
            reason,
            resource,
            price_sats: quote.price_sats,
        };
        tracing::debug!(reason = %rejection.reason, "L402 credential rejected");
        self.observe_verification(parts, Err(rejection.code()));
        if let Some(response) = self.on_rejection.as_ref().and_then(|f| f(&rejection)) {
            let outcome = match response.status() {
                StatusCode::PAYMENT_REQUIRED => Outcome::Challenged,
                s if s.is_success() => Outcome::Paid,
                _ => Outcome::Rejected,
            };
            self.observe(parts, outcome);
            return Decision::Respond(response);
        }
        if rejection.status() == StatusCode::UNAUTHORIZED {
            self.observe(parts, Outcome::Rejected);
            return Decision::Respond(error_response(
                StatusCode::UNAUTHORIZED,
                rejection.code(),
                &rejection.reason.to_string(),
            ));
        }
        // Genuine but stale or for something else: a fresh challenge.
        Decision::Challenge {
            resource: rejection.resource,
            quote,
        }
    }

    /// Asks the remote producer about a credential, then decides as for a
    /// local verification (the verdict is cached when it can be).
    #[cfg(feature = "remote")]
    pub(super) async fn verify_remote(
        &self,
        parts: &mut Parts,
        credential: Credential,
        resource: String,
        quote: Quote,
        stale: Option<Box<(TokenKey, Token)>>,
    ) -> Decision {
        let Seller::Remote(producer) = &self.seller else {
            self.observe(parts, Outcome::Unavailable);
            return Decision::Respond(self.unavailable("mint_failed", "no producer"));
        };
        let price = quote.price_sats;
        if credential.macaroons().len() != 1 {
            let reason = VerifyError::MultipleMacaroons(credential.macaroons().len());
            return self.reject(parts, reason, resource, quote);
        }
        // The proof of payment first, as locally: a preimage that does not
        // pay the macaroon's hash costs the producer nothing.
        if let Ok(identifier) = l402::Identifier::from_bytes(credential.macaroon().identifier())
            && !credential.preimage().matches(&identifier.payment_hash)
        {
            let reason = VerifyError::WrongPreimage(identifier.payment_hash);
            return self.reject(parts, reason, resource, quote);
        }
        let answer = match producer.verify(&credential, &resource, price).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "L402: the producer cannot verify");
                if let Some(stale) = stale {
                    let (key, mut token) = *stale;
                    if matches!(e, crate::remote::RemoteError::RefusedKey(_)) {
                        // The seller's key was revoked: nothing it sold is
                        // served any more.
                        self.tokens.remove(&key);
                    } else {
                        // Verified before and the producer cannot say
                        // otherwise now: served until it expires, asked
                        // again a little later.
                        token.recheck_at = Some(l402::time::unix_now() + RECHECK_RETRY_SECS);
                        let paid = paid(&token, &resource, price);
                        self.tokens.insert(key, token);
                        return self.forward(parts, paid);
                    }
                }
                self.observe(parts, Outcome::Unavailable);
                return Decision::Respond(self.unavailable(e.code(), e.public_message()));
            }
        };
        let ctx = self.context(&resource, price, parts.method.as_str());
        let verdict = crate::remote::judge(&answer, &credential, &ctx, producer.location());
        drop(ctx);
        if let Some(stale) = &stale {
            self.tokens.remove(&stale.0);
        }
        match verdict {
            Ok(mut verdict) => {
                self.observe_verification(parts, Ok(()));
                let paid = paid(&verdict.token, &resource, price);
                if verdict.cacheable
                    && let Some(key) = TokenKey::of(&credential)
                {
                    verdict.token.recheck_at = producer
                        .recheck_after()
                        .map(|after| l402::time::unix_now().saturating_add(after.as_secs()));
                    self.tokens.insert(key, verdict.token);
                    if let Some(raw) = l402_authorization(parts) {
                        self.tokens.remember_spelling(raw.as_bytes(), key);
                    }
                }
                self.forward(parts, paid)
            }
            Err(reason) => self.reject(parts, reason, resource, quote),
        }
    }

    /// A paid request goes on to the inner service with its `Paid` value.
    fn forward(&self, parts: &mut Parts, paid: Paid) -> Decision {
        self.observe(parts, Outcome::Paid);
        let record = self.seller.recorder().and_then(|r| r.paid_request(&paid));
        parts.extensions.insert(paid);
        Decision::Forward { record }
    }

    /// The credential a request presents: the first `Authorization` value
    /// of the `L402` or `LSAT` scheme (other schemes are not ours), else
    /// Aperture's header-less gRPC metadata form.
    fn presented(&self, parts: &Parts) -> Presented {
        if let Some(value) = l402_authorization(parts) {
            let parsed = value
                .to_str()
                .map_err(|_| CredentialError::NotL402)
                .and_then(str::parse::<Credential>);
            return match parsed {
                Ok(credential) => Presented::Credential(credential),
                Err(e) => Presented::Malformed(e),
            };
        }
        for name in ["grpc-metadata-macaroon", "macaroon"] {
            let Some(value) = parts.headers.get(name) else {
                continue;
            };
            if value.len() > self.max_authorization_bytes {
                return Presented::Malformed(CredentialError::MetadataNotHex);
            }
            let parsed = value
                .to_str()
                .map_err(|_| CredentialError::MetadataNotHex)
                .and_then(Credential::from_grpc_metadata);
            match parsed {
                Ok(credential) => return Presented::Credential(credential),
                // A macaroon for something else (LND's, say): not a credential.
                Err(CredentialError::MetadataMissingPreimage) => {}
                Err(e) => return Presented::Malformed(e),
            }
        }
        Presented::None
    }

    /// A credential that verified before, found in the token cache by its
    /// canonical identity (token id, signature, preimage): its signature and
    /// preimage were checked then, so only its location and caveats are
    /// checked again against this request. `None` when not cached.
    fn cached<R>(
        &self,
        credential: &Credential,
        ctx: &RequestContext<'_>,
        accept: impl Fn(&Token) -> R,
    ) -> Option<Result<R, VerifyError>> {
        let key = TokenKey::of(credential)?;
        if credential.macaroon().location() != self.seller.location() {
            return None;
        }
        let hit = self.tokens.with(&key, |token| {
            l402::check_caveats(token.caveats.iter(), ctx).map(|()| accept(token))
        })?;
        Some(hit.map_err(|e| {
            if matches!(e, l402::CaveatError::Expired { .. }) {
                self.tokens.remove(&key);
            }
            VerifyError::Caveat(e)
        }))
    }

    /// Verifies a credential in process: from the cache, else in full (and
    /// then cached).
    fn verify<R>(
        &self,
        verifier: &l402::Verifier,
        credential: &Credential,
        ctx: &RequestContext<'_>,
        parts: &Parts,
        accept: impl Fn(&Token) -> R,
    ) -> Result<R, VerifyError> {
        if let Some(result) = self.cached(credential, ctx, &accept) {
            return result;
        }
        let verified = verifier.verify(credential, ctx)?;
        self.observe_verification(parts, Ok(()));
        let token = Token::from(verified);
        let accepted = accept(&token);
        if let Some(key) = TokenKey::of(credential) {
            self.tokens.insert(key, token);
        }
        Ok(accepted)
    }

    /// A fresh challenge (or an idempotent repeat), or the error that
    /// stopped it.
    pub(super) async fn challenge(
        &self,
        parts: &Parts,
        resource: String,
        quote: Quote,
    ) -> Response<Bytes> {
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
                self.observe(parts, Outcome::Rejected);
                return body.response();
            }
        };
        let price = quote.price_sats;
        let description = quote
            .description
            .or_else(|| self.description.clone())
            .unwrap_or_else(|| format!("{} {}", parts.method, resource));
        let offer = Offer::new(resource.as_str(), price).description(description.as_str());
        match self.seller.challenge(&offer, key).await {
            Ok(issued) => {
                tracing::Span::current().record("l402.outcome", Outcome::Challenged.as_str());
                if let Some(observer) = &self.observer {
                    let route = route_of(self.route_label.as_deref(), parts);
                    observer.challenge_issued(route, &issued);
                    observer.request(route, Outcome::Challenged);
                }
                if self.browser_page
                    && !grpc
                    && crate::page::wants_html(parts)
                    && l402_authorization(parts).is_none()
                {
                    return crate::page::response(&issued, &description, &self.style);
                }
                issued.response(&self.style, grpc)
            }
            Err(e) => {
                self.observe(parts, Outcome::Unavailable);
                self.unavailable(e.code, e.message)
            }
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
