//! A [phoenixd](https://phoenix.acinq.co/server) node over its HTTP API.
//!
//! phoenixd authenticates with HTTP Basic, an **empty user** and the
//! `http-password` of `~/.phoenix/phoenix.conf` (the
//! `http-password-limited-access` password can receive but not pay), and
//! takes **form-encoded** bodies. The shapes used here are those of
//! `ACINQ/phoenixd:src/commonMain/kotlin/fr/acinq/phoenixd/Api.kt` (routes)
//! and `json/JsonSerializers.kt` (answers), cited beside each one.
//!
//! ```
//! use std::time::Duration;
//! use l402_lightning::phoenixd::PhoenixdClient;
//!
//! let node = PhoenixdClient::builder("http://127.0.0.1:9740", "s3cret-http-password")
//!     .timeout(Duration::from_secs(5))
//!     .build()?;
//! assert!(!format!("{node:?}").contains("s3cret"));
//! # Ok::<(), l402_lightning::phoenixd::PhoenixdConfigError>(())
//! ```
//!
//! # Did money move?
//!
//! `POST /payinvoice` answers only once the payment has ended: 200 with the
//! preimage (`PaymentSent`), or 200 with a `reason` (`PaymentFailed`: the
//! node gave up, nothing was paid, [`PayOutcome::Failed`](crate::PayOutcome::Failed)).
//! A timeout (the pay timeout, 60 s by default, since phoenixd holds the
//! request while it routes), a connection lost after the request was
//! written, a 5xx or an answer without a valid preimage are
//! [`PayOutcome::Unknown`](crate::PayOutcome::Unknown): look the payment up
//! with [`Wallet::lookup_payment`](crate::Wallet::lookup_payment)
//! (`GET /payments/outgoingbyhash/{hash}`). Redirects are never followed.
//!
//! # Fees
//!
//! `/payinvoice` takes no fee limit ([`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee)
//! is `false`); the fee is reported afterwards (`routingFeeSat`, in whole
//! satoshis; lookups give `fees` in millisatoshis).
//!
//! # Webhooks
//!
//! [`verify_webhook_signature`] checks the `X-Phoenix-Signature` header of
//! phoenixd's webhooks in constant time; [`verified_webhook_event`] also
//! parses the event ([`PhoenixdEvent::PaymentReceived`]), for a server that
//! learns of settlements without polling.
//!
//! # Settlement notifications
//!
//! [`PhoenixdClient`] implements [`Settlements`](crate::Settlements) over
//! phoenixd's websocket (`GET /websocket`, its `payment_received` events),
//! resuming from a cursor through `GET /payments/incoming`: see
//! [`PhoenixdSettlements`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::http::{Answer, bad, base_url, snippet, transport};
use crate::{Backend, BackendError, PaymentHash, Preimage};

mod events;
mod pay;
mod receive;
mod webhook;

pub use events::{MAX_EVENT_BYTES, MAX_REPLAY, PhoenixdSettlements, REPLAY_MARGIN_MS};
pub use webhook::{PhoenixdEvent, WebhookError, verified_webhook_event, verify_webhook_signature};

const BACKEND: Backend = Backend::Phoenixd;

/// The default timeout for every call except paying.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default timeout for `POST /payinvoice`, which phoenixd answers only
/// once the payment has succeeded or failed.
pub const DEFAULT_PAY_TIMEOUT: Duration = Duration::from_secs(60);

/// phoenixd refuses descriptions longer than this (`Api.kt`,
/// `maxDescriptionSize = 128`, counted in characters).
pub const MAX_DESCRIPTION_CHARS: usize = 128;

/// The client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhoenixdConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("phoenixd: invalid base URL {0:?}")]
    InvalidUrl(String),
    /// The password is empty.
    #[error("phoenixd: no http password configured")]
    NoPassword,
    /// The HTTP client could not be built.
    #[error("phoenixd: cannot build HTTP client: {0}")]
    Http(String),
}

/// Builds a [`PhoenixdClient`].
#[derive(Clone)]
pub struct PhoenixdClientBuilder {
    base_url: String,
    password: String,
    timeout: Duration,
    pay_timeout: Duration,
}

impl fmt::Debug for PhoenixdClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoenixdClientBuilder")
            .field("base_url", &self.base_url)
            .field("password", &"..")
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

impl PhoenixdClientBuilder {
    /// The timeout of every call but paying (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout of `POST /payinvoice` (default [`DEFAULT_PAY_TIMEOUT`]).
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`PhoenixdConfigError`] for a bad URL, an empty password, or an HTTP
    /// client failure.
    pub fn build(self) -> Result<PhoenixdClient, PhoenixdConfigError> {
        let base = base_url(&self.base_url)
            .ok_or_else(|| PhoenixdConfigError::InvalidUrl(self.base_url.clone()))?;
        if self.password.is_empty() {
            return Err(PhoenixdConfigError::NoPassword);
        }
        // Basic auth is added per request.
        let http = crate::http::client_builder(self.timeout, Default::default())
            .build()
            .map_err(|e| PhoenixdConfigError::Http(e.to_string()))?;
        Ok(PhoenixdClient {
            http,
            base,
            password: self.password,
            timeout: self.timeout,
            pay_timeout: self.pay_timeout,
        })
    }
}

/// A phoenixd node: implements [`Receiver`](crate::Receiver) and
/// [`Wallet`](crate::Wallet). Cheap to clone.
#[derive(Clone)]
pub struct PhoenixdClient {
    http: reqwest::Client,
    base: String,
    password: String,
    timeout: Duration,
    pay_timeout: Duration,
}

impl fmt::Debug for PhoenixdClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoenixdClient")
            .field("base_url", &self.base)
            .field("password", &"..")
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

impl PhoenixdClient {
    /// A builder for the phoenixd at `base_url` (e.g. `http://127.0.0.1:9740`)
    /// with its `http-password`.
    pub fn builder(
        base_url: impl Into<String>,
        password: impl Into<String>,
    ) -> PhoenixdClientBuilder {
        PhoenixdClientBuilder {
            base_url: base_url.into(),
            password: password.into(),
            timeout: DEFAULT_TIMEOUT,
            pay_timeout: DEFAULT_PAY_TIMEOUT,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One call: Basic auth with an empty user, a form body if any, the
    /// given timeout for the whole exchange. A 401 is
    /// [`BackendError::Unauthorized`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(&str, String)]>,
        timeout: Duration,
    ) -> Result<Answer, BackendError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("", Some(&self.password))
            .timeout(timeout);
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport(BACKEND, timeout, e))?;
        let status = response.status();
        let body = crate::http::read_body(BACKEND, timeout, response).await?;
        // phoenixd's errors are plain text (`StatusPages` in `Api.kt`).
        let answer = Answer {
            backend: BACKEND,
            status,
            body,
            words: snippet,
        };
        if status == StatusCode::UNAUTHORIZED {
            return Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: answer.detail(),
            });
        }
        Ok(answer)
    }

    async fn get(&self, path: &str) -> Result<Answer, BackendError> {
        self.call(Method::GET, path, None, self.timeout).await
    }
}

fn parse_hash(text: &str) -> Result<PaymentHash, BackendError> {
    PaymentHash::from_str(text).map_err(|e| bad(BACKEND, format!("paymentHash: {e}")))
}

fn parse_preimage(text: Option<&str>) -> Result<Preimage, BackendError> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(BACKEND, "no preimage in a paid payment"))?;
    Preimage::from_str(text).map_err(|e| bad(BACKEND, format!("preimage: {e}")))
}
