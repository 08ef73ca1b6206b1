//! The paying HTTP client: sends, and on a 402 asks the payment
//! [`Engine`] for a credential.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l402::PaymentHash;
use reqwest::{Method, StatusCode};

use crate::builder::ClientBuilder;
use crate::challenge::parse_challenge;
use crate::engine::{Engine, Purchase, storage};
use crate::error::{FetchError, MoneyMoved, Refusal};
use crate::event::Event;
use crate::into_url::IntoUrl;
use crate::ledger::Ledger;
use crate::redirect::{self, same_origin};
use crate::request::{Parts, RequestBuilder};
use crate::response::{Response, TokenUse};
use crate::scope::Scope;
use crate::store::{StoreError, StoredToken, TokenStore};
use crate::trace::{Draft, Outcome, Trace, TraceSink};
use crate::transport::{self, HttpError, Sent, is_refusal};
use crate::unix_ms;

/// How many times one request asks the engine for a credential: a stored or
/// recovered token the server refuses is dropped and the engine asked again.
const MAX_ROUNDS: usize = 3;

/// The paying HTTP client. Cheap to clone; clones share everything.
///
/// Per request, at most one payment: a stored token for the scope is tried
/// first; on a 402 the challenge is decoded and checked, the payment is
/// journaled and reserved against budgets, paid, checked
/// (`sha256(preimage) == payment_hash`), stored, and the request re-sent once
/// with the credential (re-sent again only after the configured backoff, never
/// paid again). Concurrent requests to one scope share one payment.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) engine: Engine,
    traces: Arc<dyn TraceSink>,
    auto_pay: bool,
    pub(crate) backoff: Vec<Duration>,
    max_body_bytes: usize,
    max_redirects: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("auto_pay", &self.inner.auto_pay)
            .field("dry_run", &self.inner.engine.dry_run)
            .field("max_payment_msat", &self.inner.engine.max_payment_msat)
            .field("budget", &self.inner.engine.budget)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: auto-pay on, at most 1,000 sats per
    /// payment, amountless invoices refused, no budgets, memory stores.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn from_parts(
        http: reqwest::Client,
        engine: Engine,
        traces: Arc<dyn TraceSink>,
        auto_pay: bool,
        backoff: Vec<Duration>,
        max_body_bytes: usize,
        max_redirects: usize,
    ) -> Client {
        Client {
            inner: Arc::new(Inner {
                http,
                engine,
                traces,
                auto_pay,
                backoff,
                max_body_bytes,
                max_redirects,
            }),
        }
    }

    /// A GET request.
    pub fn get<U: IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A request with any method.
    pub fn request<U: IntoUrl>(&self, method: Method, url: U) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.into_url())
    }

    /// The most recent traces, newest first.
    ///
    /// # Errors
    /// [`StoreError`] if the sink fails.
    pub async fn traces(&self, limit: usize) -> Result<Vec<Trace>, StoreError> {
        self.inner.traces.recent(limit).await
    }

    /// The journal and budget ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.inner.engine.ledger
    }

    /// The token store.
    pub fn token_store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.engine.tokens
    }

    /// Resolves every pending journal entry with the wallet: a payment that
    /// went through gets its token stored; one that did not is released; one
    /// the wallet cannot tell about stays pending (and counted). Requests do
    /// this for their own scope on their own; this is for a clean start.
    /// Returns the entries resolved as paid.
    ///
    /// # Errors
    /// [`FetchError::Storage`] if the journal fails.
    pub async fn recover(&self) -> Result<Vec<PaymentHash>, FetchError> {
        self.inner.engine.recover().await
    }

    pub(crate) async fn execute(&self, req: Parts) -> Result<Response, FetchError> {
        let started = Instant::now();
        let at_ms = unix_ms();
        let mut draft = Draft::default();
        let result = self.follow(&req, &mut draft).await.map(|mut response| {
            response.refused_token = draft.refused_token.clone();
            response
        });
        let outcome = match &result {
            Ok(_) => draft.outcome.unwrap_or(Outcome::Free),
            Err(e) => match e {
                FetchError::InvalidRequest(_)
                | FetchError::Storage { .. }
                | FetchError::BodyTooLarge { .. } => Outcome::Error,
                FetchError::Network(_) | FetchError::AfterPayment { .. } => Outcome::NetworkError,
                FetchError::BadChallenge(_) => Outcome::BadChallenge,
                FetchError::Refused(_) => Outcome::Refused,
                FetchError::PaymentFailed { .. } => Outcome::PaymentFailed,
                FetchError::PaymentUnknown { .. } => Outcome::PaymentUnknown,
                FetchError::ServerRefused { .. } => Outcome::ServerRefused,
                FetchError::FeeOverrun { .. } => Outcome::FeeOverrun,
            },
        };
        let mut error = result.as_ref().err().map(FetchError::chain);
        if !draft.notes.is_empty() {
            let notes = draft.notes.join("; ");
            error = Some(match error {
                Some(e) => format!("{e}; {notes}"),
                None => notes,
            });
        }
        let status = match &result {
            Ok(r) => Some(r.status.as_u16()),
            Err(FetchError::ServerRefused { status, .. }) => Some(*status),
            Err(_) => draft.status,
        };
        let trace = Trace {
            id: 0,
            at_ms,
            method: req.method.to_string(),
            url: req.url.to_string(),
            outcome,
            status,
            amount_msat: draft.amount_msat,
            fee_msat: draft.fee_msat,
            payment_hash: draft.payment_hash,
            preimage: draft.preimage,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            pay_latency_ms: draft.pay_latency_ms,
            fiat_minor: draft.fiat.as_ref().map(|f| f.minor),
            fiat_currency: draft.fiat.as_ref().map(|f| f.currency.clone()),
            price_source: draft.fiat.as_ref().map(|f| f.source.clone()),
            btc_price_minor: draft.fiat.as_ref().map(|f| f.minor_per_btc),
            error,
            token_kind: draft.token_kind,
        };
        // A trace that cannot be written must not fail a request that
        // otherwise succeeded (or hide its real error).
        let _ = self.inner.traces.record(&trace).await;
        result
    }

    pub(crate) async fn send(
        &self,
        req: &Parts,
        authorization: Option<&str>,
    ) -> Result<Sent, HttpError> {
        transport::send(
            &self.inner.http,
            req,
            authorization,
            self.inner.max_body_bytes,
        )
        .await
    }

    /// Sends a stored token: the answer, or the refusal (the token is then
    /// dropped).
    async fn send_token(
        &self,
        req: &Parts,
        scope: &Scope,
        token: &StoredToken,
        draft: &mut Draft,
    ) -> Result<Result<Response, Sent>, FetchError> {
        let auth = token.authorization().map_err(storage(MoneyMoved::No))?;
        let sent = self
            .send(req, Some(&auth))
            .await
            .map_err(HttpError::before_payment)?
            .reached(&req.url)?;
        if is_refusal(sent.status) {
            self.inner.engine.emit(Event::TokenRefused {
                status: sent.status.as_u16(),
            });
            self.inner
                .engine
                .drop_token(scope, &token.payment_hash)
                .await
                .map_err(storage(MoneyMoved::No))?;
            draft.refused(token, sent.status.as_u16());
            return Ok(Err(sent));
        }
        // Counting is best effort: the answer is what matters.
        let _ = self
            .inner
            .engine
            .tokens
            .record_use(scope.as_str(), &token.payment_hash)
            .await;
        draft.outcome = Some(Outcome::Cached);
        draft.payment_hash = Some(token.payment_hash.to_string());
        draft.token_kind = Some(token.kind);
        Ok(Ok(sent.into_response(&req.url, TokenUse::Cached)))
    }

    /// Fetches `first`, following redirects (at most the configured number
    /// of hops, none after a payment). Each hop is a request of its own:
    /// scope, budgets and payee pinning follow it; a 402 from another origin
    /// than the first is refused before paying.
    async fn follow(&self, first: &Parts, draft: &mut Draft) -> Result<Response, FetchError> {
        let mut hop: Option<Parts> = None;
        let mut hops = 0;
        loop {
            let req = hop.as_ref().unwrap_or(first);
            let crossed = (!same_origin(&first.url, &req.url)).then_some(&first.url);
            let response = self.fetch(req, crossed, draft).await?;
            if hops >= self.inner.max_redirects
                || matches!(response.token, TokenUse::Paid | TokenUse::Recovered)
            {
                return Ok(response);
            }
            let Some(next) = redirect::next_hop(req, response.status, &response.headers) else {
                return Ok(response);
            };
            hops += 1;
            hop = Some(next);
        }
    }

    async fn fetch(
        &self,
        req: &Parts,
        redirected_from: Option<&reqwest::Url>,
        draft: &mut Draft,
    ) -> Result<Response, FetchError> {
        let engine = &self.inner.engine;
        let scope = Scope::of(&req.url);
        let mut challenged = None;
        if let Some(token) = engine
            .usable_token(&scope)
            .await
            .map_err(storage(MoneyMoved::No))?
        {
            match self.send_token(req, &scope, &token, draft).await? {
                Ok(response) => return Ok(response),
                Err(sent) if sent.status == StatusCode::PAYMENT_REQUIRED => {
                    challenged = Some(sent);
                }
                Err(_) => {}
            }
        }
        let challenged = match challenged {
            Some(sent) => sent,
            None => {
                let sent = self
                    .send(req, None)
                    .await
                    .map_err(HttpError::before_payment)?
                    .reached(&req.url)?;
                if sent.status != StatusCode::PAYMENT_REQUIRED {
                    draft.outcome = Some(Outcome::Free);
                    return Ok(sent.into_response(&req.url, TokenUse::None));
                }
                sent
            }
        };
        draft.status = Some(402);
        let offer = parse_challenge(challenged.status, &challenged.headers, &challenged.body)?;
        draft.amount_msat = offer.quote.amount_msat;
        draft.payment_hash = Some(offer.quote.payment_hash.to_string());
        draft.token_kind = Some(offer.quote.token_kind);
        engine.emit(Event::Challenged(&offer.quote));
        if !self.inner.auto_pay {
            draft.outcome = Some(Outcome::Quoted);
            let mut response = challenged.into_response(&req.url, TokenUse::None);
            response.quote = Some(offer.quote);
            return Ok(response);
        }
        if let Some(from) = redirected_from {
            return Err(Refusal::CrossOriginRedirect {
                from: from.to_string(),
                to: req.url.to_string(),
            }
            .into());
        }
        engine.can_buy()?;
        let mut last = challenged;
        for _ in 0..MAX_ROUNDS {
            match engine.buy(&scope, &req.url, &offer, draft).await? {
                Purchase::Stored(token) => match self.send_token(req, &scope, &token, draft).await?
                {
                    Ok(response) => return Ok(response),
                    Err(sent) => last = sent,
                },
                Purchase::Recovered { receipt, token } => {
                    let auth = StoredToken::sending(&scope, token, &receipt)
                        .authorization()
                        .map_err(storage(MoneyMoved::No))?;
                    let sent = self
                        .send(req, Some(&auth))
                        .await
                        .map_err(HttpError::before_payment)?
                        .reached(&req.url)?;
                    if is_refusal(sent.status) {
                        // Bought earlier but no longer accepted: drop it and
                        // pay the new challenge.
                        let _ = engine.drop_token(&scope, &receipt.payment_hash).await;
                        last = sent;
                        continue;
                    }
                    draft.outcome = Some(Outcome::Recovered);
                    draft.receipt(&receipt);
                    let mut response = sent.into_response(&req.url, TokenUse::Recovered);
                    response.receipt = Some(receipt);
                    return Ok(response);
                }
                Purchase::Paid { receipt, token } => {
                    return self.send_paid(req, &scope, token, receipt, draft).await;
                }
                Purchase::WouldPay => {
                    draft.outcome = Some(Outcome::DryRun);
                    let mut response = last.into_response(&req.url, TokenUse::None);
                    response.quote = Some(offer.quote);
                    response.would_pay = true;
                    return Ok(response);
                }
            }
        }
        // Tokens kept appearing and being refused: give the last answer.
        draft.outcome = Some(Outcome::Cached);
        Ok(last.into_response(&req.url, TokenUse::Cached))
    }
}
