//! An [LNbits](https://lnbits.com) wallet (1.6) over its HTTP API.
//!
//! Receiving uses the wallet's **invoice key** (the admin key also works);
//! paying needs the **admin key**. Every call has a timeout (10 s by default).
//! Keys are never logged: `Debug` redacts them.
//!
//! ```
//! use std::time::Duration;
//! use l402_lightning::lnbits::LnbitsClient;
//!
//! let client = LnbitsClient::builder("http://127.0.0.1:5000")
//!     .invoice_key("0123456789abcdef")
//!     .admin_key("fedcba9876543210")
//!     .timeout(Duration::from_secs(5))
//!     .build()?;
//! assert!(!format!("{client:?}").contains("fedcba9876543210"));
//! # Ok::<(), l402_lightning::lnbits::LnbitsConfigError>(())
//! ```
//!
//! The same client drives the [dev node](crate::dev)'s HTTP API, which speaks
//! the subset of LNbits used here.
//!
//! # Did money move?
//!
//! A failed [`Wallet::pay`](crate::Wallet::pay) says so in
//! [`PayError::outcome`](crate::PayError::outcome):
//!
//! * no connection could be made: [`BackendError::Unreachable`], not sent;
//! * LNbits answered that the payment failed (its 520 with
//!   `"status": "failed"`, or a 400/422 validation error): failed;
//! * anything else is unknown: a connection lost after the request was
//!   written ([`BackendError::Interrupted`]), a timeout, a 5xx of a proxy, an
//!   answer that cannot be read. A payment LNbits reports as pending (a 201
//!   or 520 with `"status": "pending"`) is polled until it settles or the
//!   client's timeout runs out, then reported as
//!   [`PayError::Pending`](crate::PayError::Pending), also when the status
//!   checks themselves failed.
//!
//! The client follows no redirects: a redirected payment would be ambiguous,
//! and the `X-Api-Key` header would go wherever the redirect points.
//!
//! # Fees
//!
//! LNbits has no fee limit per payment, so [`PayRequest::max_fee_msat`](crate::PayRequest::max_fee_msat) is
//! **not** enforced before paying ([`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee)
//! is `false`): the fee is bounded only by the LNbits server's own fee
//! reserve. The fee LNbits records is reported in [`Payment::fee_msat`](crate::Payment::fee_msat);
//! check it after paying.
//!
//! # Caveats of LNbits itself
//!
//! Its FakeWallet funding source settles only invoices the same LNbits
//! minted; internal payments ignore invoice expiry (this client refuses
//! expired invoices before paying).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::{Backend, BackendError, PaymentHash, Preimage, TransportError};

mod pay;
mod receive;

const BACKEND: Backend = Backend::Lnbits;

/// The default timeout for every call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LnbitsConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("LNbits: invalid base URL {0:?}")]
    InvalidUrl(String),
    /// Neither an invoice key nor an admin key was given.
    #[error(
        "LNbits: no API key configured (need the invoice key to receive, the admin key to pay)"
    )]
    NoKey,
    /// The HTTP client could not be built.
    #[error("LNbits: cannot build HTTP client: {0}")]
    Http(String),
}

/// Builds an [`LnbitsClient`].
#[derive(Clone)]
pub struct LnbitsClientBuilder {
    base_url: String,
    invoice_key: Option<String>,
    admin_key: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for LnbitsClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LnbitsClientBuilder")
            .field("base_url", &self.base_url)
            .field("invoice_key", &self.invoice_key.as_ref().map(|_| ".."))
            .field("admin_key", &self.admin_key.as_ref().map(|_| ".."))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LnbitsClientBuilder {
    /// The wallet's invoice key, used to create and look up invoices.
    pub fn invoice_key(mut self, key: impl Into<String>) -> Self {
        self.invoice_key = Some(key.into());
        self
    }

    /// The wallet's admin key, needed to pay (also works for receiving).
    pub fn admin_key(mut self, key: impl Into<String>) -> Self {
        self.admin_key = Some(key.into());
        self
    }

    /// The timeout for each call (default [`DEFAULT_TIMEOUT`]); a payment
    /// that LNbits reports as pending is polled for at most this long too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`LnbitsConfigError`] for a bad URL, no key, or an HTTP client failure.
    pub fn build(self) -> Result<LnbitsClient, LnbitsConfigError> {
        let base = self.base_url.trim().trim_end_matches('/').to_string();
        let valid = reqwest::Url::parse(&base)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !valid {
            return Err(LnbitsConfigError::InvalidUrl(self.base_url));
        }
        let nonempty = |k: Option<String>| k.filter(|k| !k.trim().is_empty());
        let invoice_key = nonempty(self.invoice_key);
        let admin_key = nonempty(self.admin_key);
        if invoice_key.is_none() && admin_key.is_none() {
            return Err(LnbitsConfigError::NoKey);
        }
        // No redirects: a redirected payment request would be ambiguous, and
        // reqwest would send the `X-Api-Key` header to wherever it points.
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LnbitsConfigError::Http(e.to_string()))?;
        Ok(LnbitsClient {
            http,
            base,
            invoice_key,
            admin_key,
            timeout: self.timeout,
        })
    }
}

/// An LNbits wallet: implements [`Receiver`](crate::Receiver) (invoice key)
/// and [`Wallet`](crate::Wallet) (admin key). Cheap to clone.
#[derive(Clone)]
pub struct LnbitsClient {
    http: reqwest::Client,
    base: String,
    invoice_key: Option<String>,
    admin_key: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for LnbitsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LnbitsClient")
            .field("base_url", &self.base)
            .field("invoice_key", &self.invoice_key.as_ref().map(|_| ".."))
            .field("admin_key", &self.admin_key.as_ref().map(|_| ".."))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An HTTP answer: status and body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn detail(&self) -> String {
        match self.body.get("detail") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => self.body.to_string(),
        }
    }
}

fn bad(reason: impl Into<String>) -> BackendError {
    BackendError::BadResponse {
        backend: BACKEND,
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
struct CreatedInvoice {
    payment_hash: String,
    #[serde(default)]
    bolt11: Option<String>,
    #[serde(default)]
    payment_request: Option<String>,
}

#[derive(Deserialize)]
struct PaidInvoice {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    preimage: Option<String>,
    #[serde(default)]
    fee: Option<i64>,
}

#[derive(Deserialize)]
struct PaymentState {
    paid: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    preimage: Option<String>,
    #[serde(default)]
    details: Option<Value>,
}

#[derive(Deserialize)]
struct WalletBalance {
    balance: i64,
}

impl LnbitsClient {
    /// A builder for a client of the LNbits at `base_url` (e.g.
    /// `https://lnbits.example.com`).
    pub fn builder(base_url: impl Into<String>) -> LnbitsClientBuilder {
        LnbitsClientBuilder {
            base_url: base_url.into(),
            invoice_key: None,
            admin_key: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn receive_key(&self) -> Result<&str, BackendError> {
        self.invoice_key
            .as_deref()
            .or(self.admin_key.as_deref())
            .ok_or_else(|| BackendError::Unauthorized {
                backend: BACKEND,
                reason: "no invoice key configured".into(),
            })
    }

    fn admin_key(&self) -> Result<&str, BackendError> {
        self.admin_key
            .as_deref()
            .ok_or_else(|| BackendError::Unauthorized {
                backend: BACKEND,
                reason: "paying needs the admin key, and none is configured".into(),
            })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Result<Answer, BackendError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", key)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(body) => body,
                // An error page (a proxy's 502, say): keep its start as the detail.
                Err(_) if !status.is_success() => Value::String(
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                ),
                Err(e) => {
                    return Err(bad(format!(
                        "HTTP {status}: body is not JSON ({e}): {:?}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    )));
                }
            }
        };
        let answer = Answer { status, body };
        match status {
            StatusCode::UNAUTHORIZED => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: answer.detail(),
            }),
            StatusCode::FORBIDDEN => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: format!("{} (paying needs the admin key)", answer.detail()),
            }),
            StatusCode::NOT_FOUND if answer.detail().contains("Wallet not found") => {
                Err(BackendError::Unauthorized {
                    backend: BACKEND,
                    reason: "unknown API key (Wallet not found.)".into(),
                })
            }
            _ => Ok(answer),
        }
    }

    /// Classifies a transport failure by whether the request may have been
    /// sent: only a failure to connect proves it was not (hyper reports a
    /// connect error only from the connector, before a byte is written; a
    /// pooled connection found closed is retried by hyper only when nothing
    /// was written). Everything else (a reset, a connection closed before
    /// the whole answer, a timeout) may follow a request LNbits acted on.
    fn transport(&self, e: reqwest::Error) -> BackendError {
        if e.is_connect() {
            BackendError::Unreachable {
                backend: BACKEND,
                source: TransportError::new(e),
            }
        } else if e.is_timeout() {
            BackendError::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }
        } else {
            BackendError::Interrupted {
                backend: BACKEND,
                source: TransportError::new(e),
            }
        }
    }

    fn rejected(answer: &Answer) -> BackendError {
        BackendError::Rejected {
            backend: BACKEND,
            status: answer.status.as_u16(),
            detail: answer.detail(),
        }
    }

    async fn payment_state(
        &self,
        key: &str,
        payment_hash: &PaymentHash,
    ) -> Result<Option<PaymentState>, BackendError> {
        let answer = self
            .call(
                Method::GET,
                &format!("/api/v1/payments/{payment_hash}"),
                key,
                None,
            )
            .await?;
        match answer.status {
            s if s.is_success() => serde_json::from_value(answer.body)
                .map(Some)
                .map_err(|e| bad(format!("payment status: {e}"))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::rejected(&answer)),
        }
    }
}

fn parse_preimage(text: Option<&str>) -> Result<Preimage, BackendError> {
    let text = text.ok_or_else(|| bad("no preimage in a paid payment"))?;
    Preimage::from_str(text).map_err(|e| bad(format!("preimage: {e}")))
}
