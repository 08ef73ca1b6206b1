//! An [LND](https://github.com/lightningnetwork/lnd) node over its REST API
//! (the grpc-gateway in front of its gRPC services: no protoc, no second
//! gRPC stack).
//!
//! Authentication is a macaroon, hex-encoded in the `Grpc-Metadata-macaroon`
//! header (`invoice.macaroon` suffices to receive; paying needs
//! `admin.macaroon` or one with `offchain:write`). LND's self-signed
//! `tls.cert` is **pinned**: exactly that certificate is accepted, nothing
//! else (see [`LndClientBuilder::tls_cert_pem`]).
//!
//! The endpoints and JSON shapes are those of `lightningnetwork/lnd`'s
//! `lnrpc/lightning.proto` + `lnrpc/lightning.yaml` and
//! `lnrpc/routerrpc/router.proto` + `router.yaml`, as LND's REST proxy
//! marshals them (proto field names, 64-bit integers as strings, `bytes` as
//! base64, enums by name), cited beside each one.
//!
//! ```
//! use l402_lightning::lnd::LndClient;
//! let pem = std::fs::read("../l402-testkit/fixtures/lnd-tls.cert")?;
//! let node = LndClient::builder("https://127.0.0.1:8080", "0201036c6e64")
//!     .tls_cert_pem(&pem)
//!     .build()?;
//! assert!(!format!("{node:?}").contains("0201036c6e64"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Did money move?
//!
//! `POST /v2/router/send` streams the payment's updates; the client reads
//! them until `SUCCEEDED` (the preimage, checked) or `FAILED` (with
//! `failure_reason`: [`PayOutcome::Failed`](crate::PayOutcome::Failed)).
//! An error answered before the stream starts (`AlreadyExists` "invoice is
//! already paid", `InvalidArgument`…) is failed, except "payment is in
//! transition" (an earlier attempt is in flight: [`PayError::Pending`](crate::PayError::Pending)).
//! A timeout, a cut connection, a stream that ends without a final status,
//! a 5xx or an unreadable line is [`PayOutcome::Unknown`](crate::PayOutcome::Unknown):
//! [`Wallet::lookup_payment`](crate::Wallet::lookup_payment) asks
//! `GET /v2/router/track/{hash}`. Redirects are never followed.
//!
//! # Settlement notifications
//!
//! [`LndClient::subscribe_settled`] streams settled invoices
//! (`GET /v1/invoices/subscribe`), resuming after a `settle_index`.
//!
//! # Fees
//!
//! LND caps the routing fee before paying (`fee_limit_msat`), so
//! [`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee) is `true`.
//! Without [`PayRequest::max_fee_msat`](crate::PayRequest::max_fee_msat) the
//! limit is [`LndClientBuilder::default_fee_limit`] (1 %, at least 10 sat):
//! LND itself would otherwise consider only zero-fee routes.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{Answer, bad, base_url, snippet, transport};
use crate::{Backend, BackendError};

mod pay;
mod receive;
mod subscribe;

pub use subscribe::{InvoiceSubscription, SettledInvoice};

const BACKEND: Backend = Backend::Lnd;

/// The default timeout for every call except paying.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time a payment may take (`timeout_seconds` of
/// `SendPaymentV2`, plus a margin for the HTTP exchange).
pub const DEFAULT_PAY_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest line of a streamed answer this client reads (a payment
/// update with many HTLC attempts is a few kB).
const MAX_LINE_BYTES: usize = 1 << 20;

/// The client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LndConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("LND: invalid base URL {0:?}")]
    InvalidUrl(String),
    /// The macaroon is empty or not hex.
    #[error("LND: the macaroon must be hex (xxd -p -c0 admin.macaroon)")]
    BadMacaroon,
    /// The TLS certificate is neither PEM nor DER.
    #[error("LND: the TLS certificate is neither a PEM nor a DER certificate")]
    BadCert,
    /// The TLS configuration or HTTP client could not be built.
    #[error("LND: cannot build HTTP client: {0}")]
    Http(String),
}

impl From<crate::tls::PinError> for LndConfigError {
    fn from(e: crate::tls::PinError) -> Self {
        match e {
            crate::tls::PinError::BadCert => LndConfigError::BadCert,
            crate::tls::PinError::Tls(e) => LndConfigError::Http(e.to_string()),
        }
    }
}

/// Builds an [`LndClient`].
#[derive(Clone)]
pub struct LndClientBuilder {
    base_url: String,
    macaroon_hex: String,
    cert: Option<Vec<u8>>,
    timeout: Duration,
    pay_timeout: Duration,
    fee_limit_ppm: u64,
    fee_limit_floor_msat: u64,
}

impl fmt::Debug for LndClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndClientBuilder")
            .field("base_url", &self.base_url)
            .field("macaroon", &"..")
            .field("tls_cert_pinned", &self.cert.is_some())
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

impl LndClientBuilder {
    /// Pins LND's `tls.cert` (PEM, or DER): only exactly this certificate
    /// is accepted. Without it the system's roots verify the server, for an
    /// LND behind a publicly trusted certificate.
    pub fn tls_cert_pem(mut self, cert: &[u8]) -> Self {
        self.cert = Some(cert.to_vec());
        self
    }

    /// The timeout of every call but paying (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a payment may take (default [`DEFAULT_PAY_TIMEOUT`]); LND is
    /// told to give up routing a little before (`timeout_seconds`).
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// The fee limit used when a [`PayRequest`](crate::PayRequest) sets
    /// none: `ppm` millionths of the amount, at least `floor_msat` (default
    /// 10 000 ppm = 1 %, at least 10 000 msat).
    pub fn default_fee_limit(mut self, ppm: u64, floor_msat: u64) -> Self {
        self.fee_limit_ppm = ppm;
        self.fee_limit_floor_msat = floor_msat;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`LndConfigError`] for a bad URL, macaroon or certificate, or an HTTP
    /// client failure.
    pub fn build(self) -> Result<LndClient, LndConfigError> {
        let base = base_url(&self.base_url)
            .ok_or_else(|| LndConfigError::InvalidUrl(self.base_url.clone()))?;
        let macaroon = self.macaroon_hex.trim();
        if macaroon.is_empty() || hex::decode(macaroon).is_err() {
            return Err(LndConfigError::BadMacaroon);
        }
        let headers = crate::http::secret_header("grpc-metadata-macaroon", macaroon)
            .ok_or(LndConfigError::BadMacaroon)?;
        let http = crate::tls::pin(
            crate::http::client_builder(self.timeout, headers),
            self.cert.as_deref(),
        )?
        .build()
        .map_err(|e| LndConfigError::Http(e.to_string()))?;
        Ok(LndClient {
            http,
            base,
            timeout: self.timeout,
            pay_timeout: self.pay_timeout,
            fee_limit_ppm: self.fee_limit_ppm,
            fee_limit_floor_msat: self.fee_limit_floor_msat,
        })
    }
}

/// An LND node: implements [`Receiver`](crate::Receiver) and
/// [`Wallet`](crate::Wallet). Cheap to clone. `Debug` shows no macaroon.
#[derive(Clone)]
pub struct LndClient {
    http: reqwest::Client,
    base: String,
    timeout: Duration,
    pay_timeout: Duration,
    fee_limit_ppm: u64,
    fee_limit_floor_msat: u64,
}

impl fmt::Debug for LndClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndClient")
            .field("base_url", &self.base)
            .field("macaroon", &"..")
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

/// An answer of LND's: refusals are worded in its gRPC status.
fn answer(status: StatusCode, body: Vec<u8>) -> Answer {
    Answer {
        backend: BACKEND,
        status,
        body,
        words: rpc_message,
    }
}

/// The message of a gRPC status body, or the start of the body.
fn rpc_message(body: &[u8]) -> String {
    RpcStatus::of(body)
        .map(|s| s.message)
        .unwrap_or_else(|| snippet(body))
}

/// A gRPC status as LND's REST proxy writes it: `{"code", "message",
/// "details"}`, or `{"error": {…}}` when a stream failed before its first
/// message (grpc-gateway's `handleForwardResponseStreamError`).
#[derive(Debug, Default, Deserialize)]
struct RpcStatus {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl RpcStatus {
    fn of(body: &[u8]) -> Option<RpcStatus> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let value = value.get("error").cloned().unwrap_or(value);
        serde_json::from_value(value).ok()
    }
}

/// LND refuses a macaroon with gRPC `Unknown` (HTTP 500) "verification
/// failed: …" or "expected 1 macaroon, got 0" (`macaroons/service.go`), or
/// `PermissionDenied` (403) "permission denied": all before the call runs.
fn unauthorized(status: StatusCode, body: &[u8]) -> Option<BackendError> {
    let rpc = RpcStatus::of(body).unwrap_or_default();
    let message = rpc.message.to_ascii_lowercase();
    let refused = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        || rpc.code == 7
        || rpc.code == 16
        || message.contains("macaroon")
        || message.starts_with("verification failed")
        || message.contains("permission denied");
    refused.then(|| BackendError::Unauthorized {
        backend: BACKEND,
        reason: if rpc.message.is_empty() {
            snippet(body)
        } else {
            rpc.message
        },
    })
}

impl LndClient {
    /// A builder for the LND REST API at `base_url` (e.g.
    /// `https://127.0.0.1:8080`) with a hex macaroon.
    pub fn builder(
        base_url: impl Into<String>,
        macaroon_hex: impl Into<String>,
    ) -> LndClientBuilder {
        LndClientBuilder {
            base_url: base_url.into(),
            macaroon_hex: macaroon_hex.into(),
            cert: None,
            timeout: DEFAULT_TIMEOUT,
            pay_timeout: DEFAULT_PAY_TIMEOUT,
            fee_limit_ppm: 10_000,
            fee_limit_floor_msat: 10_000,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Starts a call; the answer's head has arrived, the body not yet. A
    /// refused macaroon is [`BackendError::Unauthorized`] (the body is read
    /// for it only when the status is not 200).
    async fn start(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<reqwest::Response, BackendError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .map_err(|e| transport(BACKEND, timeout, e))
    }

    /// One unary call, the whole answer read.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, BackendError> {
        let response = self.start(method, path, body, self.timeout).await?;
        let status = response.status();
        let body = crate::http::read_body(BACKEND, self.timeout, response).await?;
        if !status.is_success()
            && let Some(e) = unauthorized(status, &body)
        {
            return Err(e);
        }
        Ok(answer(status, body))
    }
}

/// Reads newline-delimited JSON from a streamed answer, one line at a time,
/// each at most [`MAX_LINE_BYTES`].
struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
    timeout: Duration,
}

impl Lines {
    fn new(response: reqwest::Response, timeout: Duration) -> Self {
        Lines {
            response,
            buffer: Vec::new(),
            timeout,
        }
    }

    /// The next non-empty line, or `None` at the end of the stream.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        loop {
            if let Some(i) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=i).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.buffer.len() > MAX_LINE_BYTES {
                return Err(bad(BACKEND, "a streamed line is longer than 1 MiB"));
            }
            match self
                .response
                .chunk()
                .await
                .map_err(|e| transport(BACKEND, self.timeout, e))?
            {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None if self.buffer.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                None => return Ok(Some(std::mem::take(&mut self.buffer))),
            }
        }
    }
}
