//! A [Core Lightning](https://github.com/ElementsProject/lightning) node, over
//! **clnrest** (CLN ≥ 23.08; the `rest-plugin` since 24.11) for a node that
//! is not on this machine ([`ClnClient::builder`]), or over its local
//! JSON-RPC socket `lightning-rpc` ([`ClnClient::socket`], unix only; the
//! same methods, as hand-rolled JSON-RPC 2.0 of a few dozen lines rather
//! than the `cln-rpc` crate and its dependencies). Both faces share the
//! error mapping below; only connecting proves nothing was sent.
//!
//! Every call is `POST /v1/<method>` with the JSON-RPC method's named
//! parameters as a JSON body and the `Rune` header. The answers are those of
//! `ElementsProject/lightning:plugins/rest-plugin/src/shared.rs` and
//! `handlers.rs`: **201** with the method's result; an RPC error as **500**
//! with `{"code", "message", "data"?}` (so the error `code` decides, not the
//! HTTP status); a missing rune 403 (`code` 1501), an invalid one 401
//! (`code` 1502); an unknown method 404 (`-32601`). Result shapes are the
//! methods' JSON schemas (`doc/schemas/lightning-*.json`), cited beside each.
//!
//! ```
//! use l402_lightning::cln::ClnClient;
//! let node = ClnClient::builder("https://127.0.0.1:3010", "rune-secret-value")
//!     .tls_cert_pem(&std::fs::read("../l402-testkit/fixtures/lnd-tls.cert")?)
//!     .build()?;
//! assert!(!format!("{node:?}").contains("rune-secret-value"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Did money move?
//!
//! `pay` answers when the payment has ended. Its result's `status` is
//! `complete` (the preimage, checked), or `pending` ([`PayError::Pending`](crate::PayError::Pending)).
//! Its errors (`common/jsonrpc_errors.h`) that say the payment failed are
//! [`PayOutcome::Failed`](crate::PayOutcome::Failed): 201 (already paid),
//! 203 (destination refused), 205 (no route), 206 (too expensive for
//! `maxfee`: [`PayError::FeeTooHigh`](crate::PayError::FeeTooHigh)), 207
//! (expired), 210 (gave up retrying), and -32602 (invalid parameters, refused
//! before paying). 200 ("payment already in progress") is
//! [`PayError::Pending`](crate::PayError::Pending); every other code (209
//! "unspecified", plugin errors), a 500 without an RPC error, a timeout or a
//! cut connection is [`PayOutcome::Unknown`](crate::PayOutcome::Unknown):
//! [`Wallet::lookup_payment`](crate::Wallet::lookup_payment) asks `listpays`.
//!
//! # Fees
//!
//! `pay` takes `maxfee` (msat), so the fee is capped before paying
//! ([`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee) is `true`);
//! without [`PayRequest::max_fee_msat`](crate::PayRequest::max_fee_msat), CLN's
//! own default applies (`maxfeepercent` 0.5 %, `exemptfee` 5 sat).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::http::{bad, base_url, snippet, transport};
use crate::{Backend, BackendError};

mod pay;
mod receive;
#[cfg(unix)]
mod socket;

#[cfg(unix)]
pub use socket::ClnSocketBuilder;

const BACKEND: Backend = Backend::Cln;

/// The default timeout for every call except paying.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time a payment may take (`retry_for` of `pay`, plus a margin).
pub const DEFAULT_PAY_TIMEOUT: Duration = Duration::from_secs(60);

/// The client could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClnConfigError {
    /// The base URL is not an absolute http(s) URL.
    #[error("CLN: invalid base URL {0:?}")]
    InvalidUrl(String),
    /// The rune is empty or not a header value.
    #[error("CLN: the rune must be a non-empty printable string")]
    BadRune,
    /// The TLS certificate is neither PEM nor DER.
    #[error("CLN: the TLS certificate is neither a PEM nor a DER certificate")]
    BadCert,
    /// The TLS configuration or HTTP client could not be built.
    #[error("CLN: cannot build HTTP client: {0}")]
    Http(String),
}

impl From<crate::tls::PinError> for ClnConfigError {
    fn from(e: crate::tls::PinError) -> Self {
        match e {
            crate::tls::PinError::BadCert => ClnConfigError::BadCert,
            crate::tls::PinError::Tls(e) => ClnConfigError::Http(e.to_string()),
        }
    }
}

/// Builds a [`ClnRestClient`].
#[derive(Clone)]
pub struct ClnRestClientBuilder {
    base_url: String,
    rune: String,
    cert: Option<Vec<u8>>,
    timeout: Duration,
    pay_timeout: Duration,
}

impl fmt::Debug for ClnRestClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnRestClientBuilder")
            .field("base_url", &self.base_url)
            .field("rune", &"..")
            .field("tls_cert_pinned", &self.cert.is_some())
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

impl ClnRestClientBuilder {
    /// Pins the certificate clnrest presents (its `server.pem`, PEM or DER):
    /// exactly this certificate is accepted. Without it the system's roots
    /// verify the server.
    pub fn tls_cert_pem(mut self, cert: &[u8]) -> Self {
        self.cert = Some(cert.to_vec());
        self
    }

    /// The timeout of every call but paying (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a payment may take (default [`DEFAULT_PAY_TIMEOUT`]); CLN
    /// is told to stop retrying a little before (`retry_for`).
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`ClnConfigError`] for a bad URL, rune or certificate, or an HTTP
    /// client failure.
    pub fn build(self) -> Result<ClnClient, ClnConfigError> {
        let base = base_url(&self.base_url)
            .ok_or_else(|| ClnConfigError::InvalidUrl(self.base_url.clone()))?;
        let rune = self.rune.trim();
        if rune.is_empty() {
            return Err(ClnConfigError::BadRune);
        }
        let headers = crate::http::secret_header("rune", rune).ok_or(ClnConfigError::BadRune)?;
        let http = crate::tls::pin(
            crate::http::client_builder(self.timeout, headers),
            self.cert.as_deref(),
        )?
        .build()
        .map_err(|e| ClnConfigError::Http(e.to_string()))?;
        Ok(ClnClient {
            transport: Transport::Rest {
                http,
                base: base.clone(),
            },
            endpoint: base,
            timeout: self.timeout,
            pay_timeout: self.pay_timeout,
            labels: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// A Core Lightning node, over clnrest ([`ClnClient::builder`]) or its
/// local JSON-RPC socket ([`ClnClient::socket`]): implements
/// [`Receiver`](crate::Receiver) and [`Wallet`](crate::Wallet). Cheap to
/// clone. `Debug` shows no rune.
#[derive(Clone)]
pub struct ClnClient {
    transport: Transport,
    /// The base URL or the socket path.
    endpoint: String,
    timeout: Duration,
    pay_timeout: Duration,
    /// Makes invoice labels unique within this process.
    labels: Arc<AtomicU64>,
}

/// The former name of [`ClnClient`], for clnrest.
pub type ClnRestClient = ClnClient;

/// How calls reach the node.
#[derive(Clone)]
enum Transport {
    /// clnrest: `POST /v1/<method>`.
    Rest { http: reqwest::Client, base: String },
    /// The `lightning-rpc` unix socket.
    #[cfg(unix)]
    Socket { path: std::path::PathBuf },
}

impl fmt::Debug for ClnClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnClient")
            .field("endpoint", &self.endpoint)
            .field("rune", &"..")
            .field("timeout", &self.timeout)
            .field("pay_timeout", &self.pay_timeout)
            .finish()
    }
}

/// A JSON-RPC error as clnrest relays it.
#[derive(Debug, Clone)]
struct RpcError {
    code: i64,
    message: String,
}

/// How a call ended, short of a transport failure.
enum Reply {
    /// 201 (or any 2xx): the method's result.
    Ok(Value),
    /// The node's JSON-RPC error (clnrest: 500, or 404 for an unknown method).
    Rpc(RpcError),
}

impl ClnClient {
    /// A builder for clnrest at `base_url` (e.g. `https://127.0.0.1:3010`)
    /// with a rune (`lightning-cli createrune`).
    pub fn builder(base_url: impl Into<String>, rune: impl Into<String>) -> ClnRestClientBuilder {
        ClnRestClientBuilder {
            base_url: base_url.into(),
            rune: rune.into(),
            cert: None,
            timeout: DEFAULT_TIMEOUT,
            pay_timeout: DEFAULT_PAY_TIMEOUT,
        }
    }

    /// A client of the node's local JSON-RPC socket (`lightning-rpc` in
    /// its network directory, e.g. `~/.lightning/bitcoin/lightning-rpc`).
    /// Unix only. The socket's file permissions are the authorization.
    #[cfg(unix)]
    pub fn socket(path: impl Into<std::path::PathBuf>) -> ClnSocketBuilder {
        ClnSocketBuilder {
            path: path.into(),
            timeout: DEFAULT_TIMEOUT,
            pay_timeout: DEFAULT_PAY_TIMEOUT,
        }
    }

    /// The base URL, or the socket path.
    pub fn base_url(&self) -> &str {
        &self.endpoint
    }

    /// A label no other invoice of this node has (CLN requires one).
    fn next_label(&self) -> String {
        let n = self.labels.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("l402-{nanos}-{}-{n}", std::process::id())
    }

    /// Calls `method` with named `params` over the configured transport.
    async fn call(
        &self,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Reply, BackendError> {
        match &self.transport {
            Transport::Rest { http, base } => rest_call(http, base, method, params, timeout).await,
            #[cfg(unix)]
            Transport::Socket { path } => socket::call(path, method, params, timeout).await,
        }
    }
}

/// `POST /v1/<method>` with `params`. A refused rune (401/403) is
/// [`BackendError::Unauthorized`]; a 5xx that is not an RPC error is
/// [`BackendError::Rejected`].
async fn rest_call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    params: &Value,
    timeout: Duration,
) -> Result<Reply, BackendError> {
    {
        let response = http
            .post(format!("{base}/v1/{method}"))
            .json(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| transport(BACKEND, timeout, e))?;
        let status = response.status();
        let body = crate::http::read_body(BACKEND, timeout, response).await?;
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return value.map(Reply::Ok).ok_or_else(|| {
                bad(
                    BACKEND,
                    format!("{method}: answer is not JSON: {:?}", snippet(&body)),
                )
            });
        }
        let rpc = value.as_ref().and_then(|v| {
            Some(RpcError {
                code: v.get("code")?.as_i64()?,
                message: v
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
        });
        match (status.as_u16(), rpc) {
            (401 | 403, rpc) => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: rpc.map_or_else(|| snippet(&body), |r| r.message),
            }),
            (404 | 500, Some(rpc)) => Ok(Reply::Rpc(rpc)),
            _ => Err(BackendError::Rejected {
                backend: BACKEND,
                status: status.as_u16(),
                detail: snippet(&body),
            }),
        }
    }
}

/// An msat amount: a number (CLN ≥ 23.05) or the older `"123msat"` string.
fn msat(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim_end_matches("msat").parse().ok(),
        _ => None,
    }
}

fn rejected(rpc: &RpcError) -> BackendError {
    BackendError::Rejected {
        backend: BACKEND,
        status: 500,
        detail: format!("CLN error {}: {}", rpc.code, rpc.message),
    }
}
