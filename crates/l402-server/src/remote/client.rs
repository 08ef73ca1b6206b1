//! The HTTP client of the producer API: one connection pool, a timeout per
//! call, a bound on calls in flight.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use l402::{Credential, Macaroon, PaymentHash};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{RemoteConfigError, RemoteError, time};
use crate::issuer::Offer;
use crate::response::IssuedChallenge;

/// Lightning Enable's hosted producer API (l402-express's default).
pub const DEFAULT_BASE_URL: &str = "https://api.lightningenable.com";
/// How long one call may take (10 s, as Lightning Enable's `l402-server`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a call waits for a slot when [`DEFAULT_MAX_IN_FLIGHT`] calls are
/// already in flight, before the layer answers 503 `producer_busy`.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long connecting may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The most calls in flight at once, across every layer sharing a client.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// How long a credential the producer verified is served from the layer's
/// cache before the producer is asked again: the longest a revoked merchant
/// key (or token) keeps working in the app.
pub const DEFAULT_RECHECK_AFTER: Duration = Duration::from_secs(60);
/// The largest answer read from the producer.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A client of a producer API (Lightning Enable's shapes), for
/// [`L402Layer::remote`](crate::L402Layer::remote). Cheap to clone: clones
/// share the connection pool and the bound on calls in flight. `Debug`
/// never shows the API key.
#[derive(Clone)]
pub struct RemoteProducer {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    challenges_url: String,
    verify_url: String,
    api_key: HeaderValue,
    timeout: Duration,
    queue_timeout: Duration,
    max_in_flight: usize,
    slots: Semaphore,
    location: String,
    recheck_after: Option<Duration>,
}

impl std::fmt::Debug for RemoteProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProducer")
            .field("base_url", &self.inner.base_url)
            .field("timeout", &self.inner.timeout)
            .field("max_in_flight", &self.inner.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RemoteProducer`].
#[must_use]
pub struct RemoteProducerBuilder {
    api_key: String,
    base_url: String,
    timeout: Duration,
    queue_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
    pool_idle_timeout: Duration,
    location: String,
    recheck_after: Option<Duration>,
}

impl std::fmt::Debug for RemoteProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteProducerBuilder")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RemoteProducer {
    /// Starts a client for the merchant API key `api_key`, at
    /// [`DEFAULT_BASE_URL`] unless [`RemoteProducerBuilder::base_url`] says
    /// otherwise.
    pub fn builder(api_key: impl Into<String>) -> RemoteProducerBuilder {
        RemoteProducerBuilder {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            pool_idle_timeout: Duration::from_secs(90),
            location: l402::mint::DEFAULT_LOCATION.to_owned(),
            recheck_after: Some(DEFAULT_RECHECK_AFTER),
        }
    }

    /// The base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The macaroon location the producer's tokens carry.
    pub(crate) fn location(&self) -> &str {
        &self.inner.location
    }

    /// How long a verified credential is served from the cache before the
    /// producer is asked again; `None`: until it expires.
    pub(crate) fn recheck_after(&self) -> Option<Duration> {
        self.inner.recheck_after
    }

    /// Asks for a challenge for `offer`, with `idempotency_key` as
    /// `X-Idempotency-Key`.
    pub(crate) async fn challenge(
        &self,
        offer: &Offer<'_>,
        idempotency_key: &str,
    ) -> Result<IssuedChallenge, RemoteError> {
        let mut body = json!({
            "resource": offer.resource,
            "priceSats": offer.price_sats,
        });
        if let Some(description) = &offer.description {
            body["description"] = json!(crate::issuer::invoice_memo(
                Some(description),
                &offer.resource
            ));
        }
        let answer = self
            .call(&self.inner.challenges_url, &body, Some(idempotency_key))
            .await?;
        challenge_from(&answer, offer)
    }

    /// Asks whether `credential` pays for `resource` at `price_sats`.
    pub(crate) async fn verify(
        &self,
        credential: &Credential,
        resource: &str,
        price_sats: u64,
    ) -> Result<Answer, RemoteError> {
        let body = json!({
            "macaroon": credential.macaroon().to_string(),
            "preimage": credential.preimage().to_hex(),
            "resource": resource,
            "amountSats": price_sats,
        });
        let answer = self.call(&self.inner.verify_url, &body, None).await?;
        let valid = answer
            .get("valid")
            .and_then(Value::as_bool)
            .ok_or_else(|| RemoteError::BadAnswer("verify: no boolean \"valid\"".to_owned()))?;
        let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Answer {
            valid,
            code: text("code"),
            error: text("error"),
            payment_hash: text("paymentHash").and_then(|h| h.parse().ok()),
        })
    }

    /// One POST: a slot, the timeout, the status, a bounded JSON body.
    async fn call(
        &self,
        url: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, RemoteError> {
        let inner = &self.inner;
        // A full client is busy: wait a little for a slot, then say so.
        let _slot = tokio::time::timeout(inner.queue_timeout, inner.slots.acquire())
            .await
            .map_err(|_| RemoteError::Busy)?
            .map_err(|_| RemoteError::Busy)?;
        let mut request = inner
            .http
            .post(url)
            .timeout(inner.timeout)
            .header("X-API-Key", inner.api_key.clone())
            .header(http::header::ACCEPT, "application/json")
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("X-Idempotency-Key", key);
        }
        let mut response = request.send().await.map_err(RemoteError::Unreachable)?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(RemoteError::Unreachable)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(RemoteError::BadAnswer(format!(
                    "answer larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RemoteError::RefusedKey(status.as_u16()));
        }
        if !status.is_success() {
            let message = json
                .as_ref()
                .and_then(|j| j.get("error").or_else(|| j.get("message")))
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            return Err(RemoteError::Status {
                status: status.as_u16(),
                message,
            });
        }
        match json {
            Some(value @ Value::Object(_)) => Ok(value),
            _ => Err(RemoteError::BadAnswer(format!(
                "HTTP {status} without a JSON object"
            ))),
        }
    }
}

/// The producer's answer to a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) valid: bool,
    /// Our producer's stable code for a refusal (Lightning Enable sends none).
    pub(crate) code: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) payment_hash: Option<PaymentHash>,
}

/// A challenge answer (`{"invoice","macaroon","paymentHash","expiresAt",...}`)
/// as the layer sends it, checked against what was asked.
fn challenge_from(answer: &Value, offer: &Offer<'_>) -> Result<IssuedChallenge, RemoteError> {
    let bad = |what: String| RemoteError::BadAnswer(format!("challenge: {what}"));
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(format!("no {name:?}")))
    };
    let invoice = text("invoice")?;
    let macaroon_text = text("macaroon")?;
    let macaroon: Macaroon = macaroon_text
        .parse()
        .map_err(|e| bad(format!("macaroon does not parse: {e}")))?;
    let payment_hash: PaymentHash = text("paymentHash")?
        .parse()
        .map_err(|_| bad("paymentHash is not 64 hex digits".to_owned()))?;
    if let Ok(identifier) = l402::Identifier::from_bytes(macaroon.identifier())
        && identifier.payment_hash != payment_hash
    {
        return Err(bad("the macaroon is for another payment hash".to_owned()));
    }
    if let Some(price) = answer.get("priceSats")
        && price.as_u64() != Some(offer.price_sats)
    {
        return Err(bad(format!(
            "priceSats {price} is not the {} asked for",
            offer.price_sats
        )));
    }
    let expires_at = time::parse_rfc3339(text("expiresAt")?)
        .ok_or_else(|| bad("expiresAt is not an RFC 3339 time".to_owned()))?;
    // The macaroon as the producer wrote it: a client compares it to the
    // invoice, and some compare it byte for byte with what they stored.
    Ok(IssuedChallenge {
        challenge: l402::Challenge::new(macaroon_text.to_owned(), invoice.to_owned()),
        amount_sats: offer.price_sats,
        payment_hash,
        expires_at,
        resource: offer.resource.clone().into_owned(),
    })
}

impl RemoteProducerBuilder {
    /// The producer's base URL (default [`DEFAULT_BASE_URL`]); trailing
    /// slashes are trimmed.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// How long one call may take, connecting and reading the answer
    /// included (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a call waits for a slot when [`max_in_flight`](Self::max_in_flight)
    /// calls are in flight (default [`DEFAULT_QUEUE_TIMEOUT`]); then the
    /// layer answers 503 `producer_busy`.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// How long connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The most calls in flight at once (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]); more wait for a slot up to the
    /// [`queue_timeout`](Self::queue_timeout), then get 503 `producer_busy`.
    /// Also the most idle connections kept for reuse.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// How long an idle connection is kept for reuse (default 90 s).
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.pool_idle_timeout = idle;
        self
    }

    /// The macaroon location of the producer's tokens (default `"lsat"`,
    /// ours and Aperture's). Tokens at another location are still verified
    /// by the producer, on every request, but never cached.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// How long a credential the producer verified is served from the
    /// layer's cache before the producer is asked about it again (default
    /// [`DEFAULT_RECHECK_AFTER`]; whole seconds, at least one; `None`: never,
    /// until the token expires). This bounds how long a merchant key
    /// revoked on the producer keeps working in the app: after it, the
    /// producer's refusal of the key ends every cached credential (503
    /// `producer_refused_key`). When the producer cannot be reached at that
    /// moment, the credential keeps being served and the producer is asked
    /// again a few seconds later.
    pub fn recheck_after(mut self, after: Option<Duration>) -> Self {
        self.recheck_after = after;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`RemoteConfigError`] for an empty, placeholder or non-header API
    /// key, a base URL that is not http(s), a zero timeout or bound.
    pub fn build(self) -> Result<RemoteProducer, RemoteConfigError> {
        let key = self.api_key.trim();
        if key.is_empty() {
            return Err(RemoteConfigError::ApiKey("it is empty"));
        }
        if key.starts_with("${") && key.ends_with('}') {
            return Err(RemoteConfigError::ApiKey(
                "it is an unexpanded ${VAR} placeholder",
            ));
        }
        let mut api_key = HeaderValue::from_str(key)
            .map_err(|_| RemoteConfigError::ApiKey("it is not a valid header value"))?;
        api_key.set_sensitive(true);
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        let host = base_url
            .strip_prefix("http://")
            .or_else(|| base_url.strip_prefix("https://"));
        if host.is_none_or(|h| h.is_empty() || h.starts_with('/') || h.contains(['?', '#', ' '])) {
            return Err(RemoteConfigError::BaseUrl(self.base_url));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(RemoteConfigError::Setting("timeouts must be positive"));
        }
        if self.max_in_flight == 0 || self.max_in_flight > Semaphore::MAX_PERMITS {
            return Err(RemoteConfigError::Setting(
                "max_in_flight must be at least 1",
            ));
        }
        if self.recheck_after.is_some_and(|d| d.as_secs() == 0) {
            return Err(RemoteConfigError::Setting(
                "recheck_after must be at least one second",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.max_in_flight)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RemoteConfigError::Client)?;
        Ok(RemoteProducer {
            inner: Arc::new(Inner {
                http,
                challenges_url: format!("{base_url}/api/l402/challenges"),
                verify_url: format!("{base_url}/api/l402/challenges/verify"),
                base_url,
                api_key,
                timeout: self.timeout,
                queue_timeout: self.queue_timeout,
                max_in_flight: self.max_in_flight,
                slots: Semaphore::new(self.max_in_flight),
                location: self.location,
                recheck_after: self.recheck_after,
            }),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builder_refuses_bad_settings() {
        let build = |key: &str, url: &str| RemoteProducer::builder(key).base_url(url).build();
        assert!(matches!(
            build("", "http://x"),
            Err(RemoteConfigError::ApiKey(_))
        ));
        assert!(matches!(
            build("${LIGHTNING_ENABLE_API_KEY}", "http://x"),
            Err(RemoteConfigError::ApiKey(_))
        ));
        assert!(matches!(
            build("a\nb", "http://x"),
            Err(RemoteConfigError::ApiKey(_))
        ));
        for url in ["ftp://x", "http://", "x.example", "http:///path"] {
            assert!(
                matches!(build("k", url), Err(RemoteConfigError::BaseUrl(_))),
                "{url}"
            );
        }
        let ok = build("k", "http://127.0.0.1:9/base//").unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:9/base");
        assert!(!format!("{ok:?}").contains("\"k\""));
        assert!(matches!(
            RemoteProducer::builder("k").max_in_flight(0).build(),
            Err(RemoteConfigError::Setting(_))
        ));
    }
}
