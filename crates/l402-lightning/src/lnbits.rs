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
//! Caveats of LNbits itself: its FakeWallet funding source settles only
//! invoices the same LNbits minted; internal payments ignore invoice expiry
//! (this client refuses expired invoices before paying); LNbits has no fee
//! limit per payment, so [`PayRequest::max_fee_msat`] is not enforced: the fee
//! is bounded only by LNbits' own fee reserve, and reported in
//! [`Payment::fee_msat`].

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::invoice::{decode_invoice, precheck, verify_preimage};
use crate::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError,
    PayRequest, Payment, PaymentHash, Preimage, ReceiveError, Receiver, TransportError, Wallet,
};

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

/// An LNbits wallet: implements [`Receiver`] (invoice key) and [`Wallet`]
/// (admin key). Cheap to clone.
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

#[async_trait::async_trait]
impl Receiver for LnbitsClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let invalid = |reason: &str| ReceiveError::InvalidRequest {
            backend: BACKEND,
            reason: reason.to_string(),
        };
        if request.amount_msat == 0 {
            return Err(invalid("amount must be positive"));
        }
        if !request.amount_msat.is_multiple_of(1000) {
            return Err(invalid("LNbits invoices are in whole satoshis"));
        }
        if request.expiry.as_secs() == 0 {
            return Err(invalid("expiry must be at least one second"));
        }
        let key = self.receive_key()?;
        let body = json!({
            "out": false,
            "amount": request.amount_msat / 1000,
            "unit": "sat",
            "memo": request.memo,
            "expiry": request.expiry.as_secs(),
        });
        let answer = self
            .call(Method::POST, "/api/v1/payments", key, Some(body))
            .await?;
        if !answer.status.is_success() {
            return Err(match answer.status.as_u16() {
                400 | 422 | 520 => ReceiveError::InvalidRequest {
                    backend: BACKEND,
                    reason: answer.detail(),
                },
                _ => Self::rejected(&answer).into(),
            });
        }
        let created: CreatedInvoice = serde_json::from_value(answer.body)
            .map_err(|e| bad(format!("created invoice: {e}")))?;
        let bolt11 = created
            .bolt11
            .or(created.payment_request)
            .ok_or_else(|| bad("created invoice has no bolt11"))?;
        let decoded = decode_invoice(&bolt11).map_err(|e| bad(format!("created invoice: {e}")))?;
        let hash = PaymentHash::from_str(&created.payment_hash)
            .map_err(|e| bad(format!("payment_hash: {e}")))?;
        if decoded.payment_hash != hash {
            return Err(bad("payment_hash does not match the invoice's").into());
        }
        if decoded.amount_msat != Some(request.amount_msat) {
            return Err(bad("invoice amount differs from the amount asked for").into());
        }
        Ok(Invoice {
            bolt11,
            payment_hash: hash,
            amount_msat: request.amount_msat,
            expires_at: decoded.expires_at,
        })
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        let key = self.receive_key()?;
        let Some(state) = self.payment_state(key, payment_hash).await? else {
            return Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            });
        };
        if state.paid {
            let preimage = parse_preimage(state.preimage.as_deref())?;
            if !preimage.matches(payment_hash) {
                return Err(bad("preimage does not hash to the payment hash").into());
            }
            return Ok(InvoiceStatus::Paid { preimage });
        }
        Ok(match state.status.as_deref() {
            Some("failed") => InvoiceStatus::Expired,
            _ => InvoiceStatus::Pending,
        })
    }
}

/// What a non-success answer to a payment means.
enum PayFailure {
    /// LNbits said how the payment ended, or refused it before starting.
    Final(PayError),
    /// LNbits says the payment is (or may be) still in flight.
    Pending,
}

/// Classifies LNbits' answer to a payment that did not succeed. Only what
/// LNbits itself calls failed is a failure: its `PaymentError` answers 520
/// with `{"detail", "status"}`, where `status` is how the payment ended
/// (`failed`, `pending` (also its default) or `success`); 400 and 422 are
/// request validation, before any payment. A 520 without a `status` is not
/// LNbits' (Cloudflare uses 520 too), and like every other status says
/// nothing about the payment.
fn pay_failure(answer: &Answer, payment_hash: PaymentHash, amount_msat: u64) -> PayFailure {
    let detail = answer.detail();
    let lower = detail.to_ascii_lowercase();
    let failed = || {
        if lower.contains("already paid") {
            PayError::AlreadyPaid {
                backend: BACKEND,
                payment_hash,
            }
        } else if lower.contains("insufficient balance") {
            PayError::InsufficientBalance {
                backend: BACKEND,
                amount_msat,
            }
        } else if lower.contains("only internal invoices") || lower.contains("not found") {
            PayError::UnknownInvoice {
                backend: BACKEND,
                payment_hash,
                reason: detail.clone(),
            }
        } else if lower.contains("expired") {
            PayError::Expired {
                backend: BACKEND,
                payment_hash,
            }
        } else if lower.contains("bolt11") || lower.contains("amountless") {
            PayError::InvalidInvoice {
                backend: BACKEND,
                reason: detail.clone(),
            }
        } else {
            PayError::Failed {
                backend: BACKEND,
                reason: detail.clone(),
            }
        }
    };
    let status = answer.body.get("status").and_then(Value::as_str);
    match answer.status.as_u16() {
        400 | 422 => PayFailure::Final(failed()),
        520 => match status {
            Some("failed") => PayFailure::Final(failed()),
            // "Payment already paid.": this wallet paid it before.
            Some("success") => PayFailure::Final(PayError::AlreadyPaid {
                backend: BACKEND,
                payment_hash,
            }),
            Some("pending") => PayFailure::Pending,
            _ => PayFailure::Final(PayError::Backend(LnbitsClient::rejected(answer))),
        },
        _ => PayFailure::Final(PayError::Backend(LnbitsClient::rejected(answer))),
    }
}

fn fee_of(details: Option<&Value>) -> u64 {
    details
        .and_then(|d| d.get("fee"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .unsigned_abs()
}

impl LnbitsClient {
    /// Polls a payment LNbits took but has not settled, until it settles,
    /// fails, or the client's timeout (counted from `started`) runs out.
    /// Anything short of LNbits' own answer is [`PayError::Pending`].
    async fn await_settlement(
        &self,
        key: &str,
        payment_hash: PaymentHash,
        amount_msat: u64,
        started: Instant,
    ) -> Result<Payment, PayError> {
        let mut last_error = None;
        while started.elapsed() < self.timeout {
            tokio::time::sleep(POLL_INTERVAL).await;
            match self.payment_state(key, &payment_hash).await {
                Ok(Some(state)) if state.paid => {
                    let preimage = match parse_preimage(state.preimage.as_deref()) {
                        Ok(preimage) => preimage,
                        Err(e) => {
                            last_error = Some(e);
                            continue;
                        }
                    };
                    verify_preimage(BACKEND, &payment_hash, &preimage)?;
                    return Ok(Payment {
                        payment_hash,
                        preimage,
                        amount_msat,
                        fee_msat: fee_of(state.details.as_ref()),
                    });
                }
                Ok(Some(state)) if state.status.as_deref() == Some("failed") => {
                    return Err(PayError::Failed {
                        backend: BACKEND,
                        reason: "LNbits reported the payment as failed".into(),
                    });
                }
                Ok(_) => last_error = None,
                Err(e) => last_error = Some(e),
            }
        }
        Err(PayError::Pending {
            backend: BACKEND,
            payment_hash,
            last_error,
        })
    }
}

/// How often a pending payment is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[async_trait::async_trait]
impl Wallet for LnbitsClient {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let key = self.admin_key()?;
        let started = Instant::now();
        let answer = self
            .call(
                Method::POST,
                "/api/v1/payments",
                key,
                Some(json!({ "out": true, "bolt11": request.bolt11.trim() })),
            )
            .await?;
        if !answer.status.is_success() {
            return match pay_failure(&answer, hash, amount_msat) {
                PayFailure::Final(e) => Err(e),
                PayFailure::Pending => self.await_settlement(key, hash, amount_msat, started).await,
            };
        }
        let paid: PaidInvoice = serde_json::from_value(answer.body)
            .map_err(|e| PayError::Backend(bad(format!("payment: {e}"))))?;
        match paid.status.as_deref() {
            Some("success") | None => {
                let preimage = parse_preimage(paid.preimage.as_deref())?;
                // The proof of payment: never report success without it.
                verify_preimage(BACKEND, &hash, &preimage)?;
                Ok(Payment {
                    payment_hash: hash,
                    preimage,
                    amount_msat,
                    fee_msat: paid.fee.unwrap_or(0).unsigned_abs(),
                })
            }
            Some("failed") => Err(PayError::Failed {
                backend: BACKEND,
                reason: "LNbits reported the payment as failed".into(),
            }),
            // Pending (a real funding source) or a state this client does
            // not know: poll until it settles or the timeout runs out.
            Some(_) => self.await_settlement(key, hash, amount_msat, started).await,
        }
    }

    /// `GET /api/v1/payments/{hash}` with the admin key: LNbits answers about
    /// this wallet's own payment with that hash. An incoming invoice of the
    /// same wallet (positive amount) is not an outgoing payment and counts as
    /// [`OutgoingStatus::Unknown`].
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let key = self.admin_key()?;
        let Some(state) = self.payment_state(key, payment_hash).await? else {
            return Ok(OutgoingStatus::Unknown);
        };
        let amount = state
            .details
            .as_ref()
            .and_then(|d| d.get("amount"))
            .and_then(Value::as_i64);
        if amount.is_some_and(|a| a > 0) {
            return Ok(OutgoingStatus::Unknown);
        }
        if state.paid {
            let preimage = parse_preimage(state.preimage.as_deref())?;
            verify_preimage(BACKEND, payment_hash, &preimage)?;
            return Ok(OutgoingStatus::Succeeded(Payment {
                payment_hash: *payment_hash,
                preimage,
                amount_msat: amount.unwrap_or(0).unsigned_abs(),
                fee_msat: fee_of(state.details.as_ref()),
            }));
        }
        Ok(match state.status.as_deref() {
            Some("failed") => OutgoingStatus::Failed {
                reason: "LNbits reports the payment as failed".into(),
            },
            _ => OutgoingStatus::Pending,
        })
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        let key = self.receive_key()?;
        let answer = self.call(Method::GET, "/api/v1/wallet", key, None).await?;
        if !answer.status.is_success() {
            return Err(Self::rejected(&answer));
        }
        let wallet: WalletBalance =
            serde_json::from_value(answer.body).map_err(|e| bad(format!("wallet: {e}")))?;
        u64::try_from(wallet.balance).map_err(|_| bad("negative balance"))
    }
}
