//! Dynamic prices: a [`Pricer`] asks an HTTP service what a request costs
//! before the service's layer mints (or checks) a token for it.
//!
//! The proxy `POST`s JSON to the pricer's URL:
//!
//! ```json
//! {"service": "llm", "method": "POST", "path": "/v1/chat", "query": "model=big",
//!  "headers": {"content-type": "application/json"}, "body_size": 1234}
//! ```
//!
//! `headers` leaves out credentials (`Authorization`, `Proxy-Authorization`,
//! `Cookie`, gRPC macaroon metadata); `body_size` is the request's
//! `Content-Length`, `null` when it is streamed. The pricer answers `2xx`
//! with `{"price_sats": 21}`; `0` lets the request through free. The answer
//! is read up to [`MAX_PRICER_ANSWER_BYTES`] within the pricer's timeout.
//! A pricer that fails (unreachable, slow, an error status, a bad answer)
//! makes the proxy answer 503 `pricer_unavailable` with `Retry-After`,
//! unless a fallback price is set.
//!
//! The price reaches the service's [`L402Layer`](l402_server::L402Layer)
//! through its [`Pricing`](l402_server::Pricing): tokens carry the price
//! they were bought at (`amount_sats`), so a token is good for requests the
//! pricer prices the same.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use l402_server::{PriceError, Pricing, Quote, ResponseBody};
use serde_json::{Map, Value, json};

use crate::error::ProxyError;
use crate::proxy::{ProxyFuture, RequestBody};
use crate::service::ServiceError;

/// The largest pricer answer read (4 KiB); a larger one is a failure.
pub const MAX_PRICER_ANSWER_BYTES: usize = 4 * 1024;

/// The default time a pricer has to answer (500 ms).
pub const DEFAULT_PRICER_TIMEOUT: Duration = Duration::from_millis(500);

/// The highest price a pricer may answer: every bitcoin, in sats.
pub const MAX_PRICE_SATS: u64 = 21_000_000 * 100_000_000;

/// Request headers never sent to the pricer.
const WITHHELD: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "grpc-metadata-macaroon",
    "macaroon",
];

/// Why a pricer gave no price.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricerError {
    /// No answer within the timeout.
    #[error("the pricer did not answer within {0:?}")]
    Timeout(Duration),
    /// The pricer could not be reached or broke the exchange.
    #[error("the pricer cannot be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The pricer answered with a status other than 2xx.
    #[error("the pricer answered HTTP {0}")]
    Status(u16),
    /// The answer is not `{"price_sats": <0..=MAX_PRICE_SATS>}` or too large.
    #[error("the pricer's answer is not usable: {0}")]
    BadAnswer(String),
}

/// An HTTP pricer: where it is, how long it may take, and the price used
/// when it fails (if any). Built with [`Pricer::builder`].
///
/// ```
/// use std::time::Duration;
/// use l402_proxy::{Pricer, Protocol, Service};
///
/// let pricer = Pricer::builder("http://127.0.0.1:9000/price")
///     .timeout(Duration::from_millis(300))
///     .fallback_sats(10)
///     .build()?;
/// let service = Service::builder("llm", "127.0.0.1:8080", Protocol::Http)
///     .pricer(pricer)
///     .build()?;
/// assert!(service.pricer().is_some());
/// # Ok::<(), l402_proxy::ServiceError>(())
/// ```
#[derive(Clone)]
pub struct Pricer {
    url: Uri,
    timeout: Duration,
    fallback_sats: Option<u64>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for Pricer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pricer")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("fallback_sats", &self.fallback_sats)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pricer`].
#[derive(Debug)]
#[must_use]
pub struct PricerBuilder {
    url: String,
    timeout: Duration,
    fallback_sats: Option<u64>,
}

impl PricerBuilder {
    /// How long the pricer has to answer (default
    /// [`DEFAULT_PRICER_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The price used when the pricer fails, instead of 503
    /// `pricer_unavailable`.
    pub fn fallback_sats(mut self, sats: u64) -> Self {
        self.fallback_sats = Some(sats);
        self
    }

    /// Checks the URL (`http://host:port/path`), timeout and fallback.
    ///
    /// # Errors
    /// [`ServiceError::Pricer`] naming what is wrong.
    pub fn build(self) -> Result<Pricer, ServiceError> {
        let url: Uri = self
            .url
            .parse()
            .ok()
            .filter(|u: &Uri| u.scheme_str() == Some("http") && u.host().is_some())
            .ok_or_else(|| {
                ServiceError::Pricer(format!(
                    "{:?} is not an http:// URL (the pricer runs next to the proxy)",
                    self.url
                ))
            })?;
        if self.timeout.is_zero() {
            return Err(ServiceError::Pricer(
                "timeout must be more than zero".into(),
            ));
        }
        if self.fallback_sats.is_some_and(|s| s > MAX_PRICE_SATS) {
            return Err(ServiceError::Pricer(format!(
                "fallback_sats must be at most {MAX_PRICE_SATS}"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Pricer {
            url,
            timeout: self.timeout,
            fallback_sats: self.fallback_sats,
            client,
        })
    }
}

impl Pricer {
    /// Starts a pricer at `url`.
    pub fn builder(url: impl Into<String>) -> PricerBuilder {
        PricerBuilder {
            url: url.into(),
            timeout: DEFAULT_PRICER_TIMEOUT,
            fallback_sats: None,
        }
    }

    /// The pricer's URL.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// The price used when the pricer fails, if any.
    pub fn fallback_sats(&self) -> Option<u64> {
        self.fallback_sats
    }

    /// The price of the request `parts` heads for `service`: the pricer's,
    /// else the fallback.
    ///
    /// # Errors
    /// Why the pricer gave no price, when there is no fallback.
    pub async fn quote(&self, service: &str, parts: &Parts) -> Result<u64, PricerError> {
        match self.ask(service, parts).await {
            Ok(sats) => Ok(sats),
            Err(e) => match self.fallback_sats {
                Some(sats) => {
                    tracing::warn!(%service, error = %e, fallback_sats = sats, "pricer failed: fallback price");
                    Ok(sats)
                }
                None => Err(e),
            },
        }
    }

    /// Asks the pricer once.
    async fn ask(&self, service: &str, parts: &Parts) -> Result<u64, PricerError> {
        let body = serde_json::to_vec(&question(service, parts))
            .map_err(|e| PricerError::BadAnswer(e.to_string()))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PricerError::Unreachable(Box::new(e)))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| PricerError::Unreachable(Box::new(e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(PricerError::Status(status.as_u16()));
            }
            Limited::new(response.into_body(), MAX_PRICER_ANSWER_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| {
                    PricerError::BadAnswer(format!(
                        "larger than {MAX_PRICER_ANSWER_BYTES} bytes or cut short ({e})"
                    ))
                })
        };
        let answer = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PricerError::Timeout(self.timeout))??;
        price_of(&answer)
    }
}

/// The JSON the pricer receives.
fn question(service: &str, parts: &Parts) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if WITHHELD.contains(&name.as_str()) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        match headers.get_mut(name.as_str()) {
            Some(Value::String(seen)) => {
                seen.push_str(", ");
                seen.push_str(value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::from(value));
            }
        }
    }
    let body_size = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    json!({
        "service": service,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_size": body_size,
    })
}

/// `{"price_sats": n}` read and checked.
fn price_of(answer: &[u8]) -> Result<u64, PricerError> {
    let value: Value = serde_json::from_slice(answer)
        .map_err(|e| PricerError::BadAnswer(format!("not JSON: {e}")))?;
    value
        .get("price_sats")
        .and_then(Value::as_u64)
        .filter(|p| *p <= MAX_PRICE_SATS)
        .ok_or_else(|| {
            PricerError::BadAnswer(format!("no \"price_sats\" between 0 and {MAX_PRICE_SATS}"))
        })
}

/// The price a pricer gave one request, left in its extensions for the
/// layer's [`ServicePrice`]. Only the proxy sets it: a client cannot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Priced(pub(crate) u64);

/// A service's [`Pricing`]: the pricer's price when the proxy asked one,
/// else the fixed price. No waiting, no allocation.
#[derive(Debug, Clone, Copy)]
pub struct ServicePrice(pub(crate) u64);

impl Pricing for ServicePrice {
    type Future = std::future::Ready<Result<Quote, PriceError>>;

    fn price(&self, parts: &Parts) -> Self::Future {
        let sats = parts.extensions.get::<Priced>().map_or(self.0, |p| p.0);
        std::future::ready(Ok(Quote::sats(sats)))
    }
}

/// Asks `pricer` the price of `request` to `service`, then hands the
/// request (the price in its extensions, for [`ServicePrice`]) and the
/// price to `next`; a pricer failing without a fallback is answered 503
/// `pricer_unavailable` (or a gRPC status) here.
pub(crate) fn priced(
    pricer: Arc<Pricer>,
    service: &str,
    request: Request<RequestBody>,
    grpc: bool,
    next: impl FnOnce(Request<RequestBody>, u64) -> ProxyFuture + Send + 'static,
) -> ProxyFuture {
    let service = service.to_owned();
    Box::pin(async move {
        let (mut parts, body) = request.into_parts();
        match pricer.quote(&service, &parts).await {
            Ok(sats) => {
                parts.extensions.insert(Priced(sats));
                next(Request::from_parts(parts, body), sats).await
            }
            Err(e) => {
                tracing::warn!(%service, error = %e, cause = ?std::error::Error::source(&e), "pricer failed");
                let error = ProxyError::PricerUnavailable(e);
                Ok(error.response(grpc).map(ResponseBody::full))
            }
        }
    })
}

/// `Retry-After` seconds of a 503 `pricer_unavailable`.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn credentials_are_withheld_and_the_size_is_declared() {
        let (parts, ()) = Request::builder()
            .method("POST")
            .uri("/v1/chat?model=big")
            .header("authorization", "L402 secret")
            .header("cookie", "session=secret")
            .header("content-length", "1234")
            .header("x-model", "a")
            .header("x-model", "b")
            .body(())
            .unwrap()
            .into_parts();
        let q = question("llm", &parts);
        assert_eq!(q["path"], "/v1/chat");
        assert_eq!(q["query"], "model=big");
        assert_eq!(q["body_size"], 1234);
        assert_eq!(q["headers"]["x-model"], "a, b");
        assert!(!q.to_string().contains("secret"), "{q}");
    }

    #[test]
    fn answers_are_checked() {
        assert_eq!(price_of(br#"{"price_sats": 21}"#).unwrap(), 21);
        assert_eq!(price_of(br#"{"price_sats": 0}"#).unwrap(), 0);
        assert!(price_of(br#"{"price_sats": -1}"#).is_err());
        assert!(price_of(br#"{"price_sats": 1.5}"#).is_err());
        assert!(price_of(b"21").is_err());
        assert!(
            price_of(format!(r#"{{"price_sats": {}}}"#, MAX_PRICE_SATS + 1).as_bytes()).is_err()
        );
    }

    /// A pricer on loopback answering every question with `body`.
    async fn pricer_answering(body: String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/price")
    }

    #[tokio::test]
    async fn an_answer_past_the_bound_is_refused_and_the_fallback_used() {
        let (parts, ()) = Request::builder().uri("/x").body(()).unwrap().into_parts();
        let exact = format!(
            r#"{{"price_sats": 7, "pad": "{}"}}"#,
            " ".repeat(MAX_PRICER_ANSWER_BYTES - 28)
        );
        assert_eq!(exact.len(), MAX_PRICER_ANSWER_BYTES);
        let url = pricer_answering(exact).await;
        let pricer = Pricer::builder(url).build().unwrap();
        assert_eq!(pricer.quote("s", &parts).await.unwrap(), 7);

        let over = format!(
            r#"{{"price_sats": 7, "pad": "{}"}}"#,
            " ".repeat(MAX_PRICER_ANSWER_BYTES - 27)
        );
        let url = pricer_answering(over).await;
        let pricer = Pricer::builder(&url).build().unwrap();
        let e = pricer.quote("s", &parts).await.unwrap_err();
        assert!(matches!(e, PricerError::BadAnswer(_)), "{e}");
        let with_fallback = Pricer::builder(url).fallback_sats(2).build().unwrap();
        assert_eq!(with_fallback.quote("s", &parts).await.unwrap(), 2);
    }

    #[test]
    fn urls_are_checked() {
        assert!(Pricer::builder("http://127.0.0.1:1/price").build().is_ok());
        assert!(Pricer::builder("https://x/price").build().is_err());
        assert!(Pricer::builder("/price").build().is_err());
        assert!(
            Pricer::builder("http://x/p")
                .timeout(Duration::ZERO)
                .build()
                .is_err()
        );
    }
}
