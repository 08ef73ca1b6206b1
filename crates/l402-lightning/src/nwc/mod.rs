//! Nostr Wallet Connect (NIP-47): a wallet service reached through a Nostr
//! relay, as both [`Receiver`](crate::Receiver) (`make_invoice`,
//! `lookup_invoice`) and [`Wallet`](crate::Wallet) (`pay_invoice`,
//! `lookup_invoice` for outgoing payments, `get_balance`, `get_info`).
//!
//! Configured with the connection string the wallet hands out
//! ([`NwcUri`], `nostr+walletconnect://…`). Requests are encrypted with
//! NIP-44 v2 when the wallet's info event (kind 13194) offers it, NIP-04
//! otherwise (or as [`NwcClientBuilder::encryption`] forces).
//!
//! Tested against the real thing: the wallet service of Alby's JS SDK
//! (`@getalby/sdk` 7.0.0, `NWCWalletService`) over a real relay (PyPI
//! `nostr-relay` 1.14), both encryptions (`tests/nwc.rs`, `scripts/nwc.sh`).
//!
//! # Did money move?
//!
//! | What happened | Error | Outcome |
//! |---|---|---|
//! | no relay could be reached, or it failed before the request event was written | [`BackendError::Unreachable`] | not sent |
//! | the wallet answered `INSUFFICIENT_BALANCE`, `QUOTA_EXCEEDED`, `RATE_LIMITED`, `RESTRICTED`, `UNAUTHORIZED`, `NOT_IMPLEMENTED`, `UNSUPPORTED_ENCRYPTION` (it refused before paying) | [`PayError::InsufficientBalance`], [`PayError::Failed`], [`BackendError::Unauthorized`] | failed |
//! | the wallet answered `PAYMENT_FAILED` and its `lookup_invoice` confirms the payment failed (or never existed) | [`PayError::Failed`] | failed |
//! | `PAYMENT_FAILED` but the lookup says pending, or cannot answer | [`PayError::Pending`] | unknown |
//! | the connection was lost after the request was written | [`BackendError::Interrupted`] | unknown |
//! | no answer within the pay timeout (default 120 s: a slow route is not a failure) | [`BackendError::Timeout`] | unknown |
//! | the relay refused the request event, or any other wallet error (`INTERNAL`, `OTHER`, …) | [`BackendError::Rejected`] | unknown |
//! | an answer without a preimage, or unreadable | [`BackendError::BadResponse`] | unknown |
//! | a preimage that does not hash to the payment hash | [`PayError::PreimageMismatch`] | unknown |
//!
//! Every unknown is resolved with [`Wallet::lookup_payment`](crate::Wallet::lookup_payment)
//! (NIP-47 `lookup_invoice` by payment hash: an `outgoing` transaction's
//! `state`).
//!
//! NIP-47's `pay_invoice` takes no fee limit:
//! [`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee) is `false`
//! and the fee is the answer's `fees_paid`.
//!
//! ```no_run
//! use l402_lightning::nwc::NwcClient;
//! use l402_lightning::{InvoiceRequest, Receiver};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let uri = std::env::var("NWC_CONNECTION_STRING")?.parse()?;
//! let client = NwcClient::builder(uri).build();
//! let invoice = client.create_invoice(&InvoiceRequest::sats(21).memo("one request")).await?;
//! println!("{}", invoice.bolt11);
//! # Ok(()) }
//! ```

mod crypto;
mod notify;
mod pay;
mod receive;
mod relay;
mod rpc;
mod uri;

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use crypto::Encryption;
pub use uri::{NwcUri, NwcUriError};

use crate::{Backend, BackendError, PaymentHash, Preimage};
use rpc::{CallError, Rpc};

const BACKEND: Backend = Backend::Nwc;

/// A NIP-47 client: one wallet connection.
///
/// `Debug` never shows the connection secret.
#[derive(Debug)]
pub struct NwcClient {
    rpc: Rpc,
    timeout: Duration,
    pay_timeout: Duration,
}

/// Builds an [`NwcClient`].
///
/// ```
/// use std::time::Duration;
/// use l402_lightning::nwc::{Encryption, NwcClient, NwcUri};
/// let uri: NwcUri = "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4\
///     ?relay=ws://127.0.0.1:7000&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
///     .parse()?;
/// let client = NwcClient::builder(uri)
///     .timeout(Duration::from_secs(20))
///     .pay_timeout(Duration::from_secs(300))
///     .encryption(Encryption::Nip04)
///     .build();
/// assert!(!format!("{client:?}").contains("71a8c14c"));
/// # Ok::<(), l402_lightning::nwc::NwcUriError>(())
/// ```
#[derive(Debug)]
pub struct NwcClientBuilder {
    uri: NwcUri,
    timeout: Duration,
    pay_timeout: Duration,
    connect_timeout: Duration,
    encryption: Option<Encryption>,
}

impl NwcClient {
    /// A builder for the wallet of `uri`. Defaults: 30 s per call (relays
    /// are slower than a node's HTTP API), 120 s for a payment, 10 s to
    /// connect to the relay, the encryption the wallet's info event offers.
    pub fn builder(uri: NwcUri) -> NwcClientBuilder {
        NwcClientBuilder {
            uri,
            timeout: Duration::from_secs(30),
            pay_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            encryption: None,
        }
    }

    /// The connection this client uses (its `Display` hides the secret).
    pub fn uri(&self) -> &NwcUri {
        &self.rpc.uri
    }

    /// The encryption in use: forced by the builder, or chosen from the
    /// wallet's info event (`None` until the first call read it).
    pub fn encryption(&self) -> Option<Encryption> {
        self.rpc.forced.or_else(|| self.rpc.chosen.get().copied())
    }

    /// Sends one NIP-47 request and returns its `result`, with the call
    /// timeout.
    async fn call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.rpc.call(method, params, self.timeout).await
    }

    /// `get_info`'s `methods` and `notifications` lists and the info event's
    /// encryption, as the wallet announces them.
    async fn info(&self) -> Result<Info, BackendError> {
        let result = self
            .call("get_info", Value::Object(Default::default()))
            .await
            .map_err(CallError::into_backend)?;
        parse(result, "get_info")
    }
}

impl NwcClientBuilder {
    /// How long a call other than paying may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long to wait for the answer to `pay_invoice`. Past it the
    /// payment is *unknown* (it may still settle), never failed.
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// How long connecting to the relay may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Uses this encryption whatever the wallet's info event offers (for a
    /// wallet known to speak it; by default the info event decides).
    pub fn encryption(mut self, encryption: Encryption) -> Self {
        self.encryption = Some(encryption);
        self
    }

    /// The client. Nothing is connected until the first call.
    pub fn build(self) -> NwcClient {
        NwcClient {
            rpc: Rpc {
                uri: self.uri,
                forced: self.encryption,
                chosen: OnceLock::new(),
                connect_timeout: self.connect_timeout,
            },
            timeout: self.timeout,
            pay_timeout: self.pay_timeout,
        }
    }
}

/// NIP-47 `get_info`'s result.
#[derive(Debug, Deserialize)]
struct Info {
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    pubkey: Option<String>,
    #[serde(default)]
    network: Option<String>,
}

/// A NIP-47 transaction (`make_invoice`, `lookup_invoice`, notifications):
/// the fields this client reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Transaction {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    #[serde(default)]
    pub(crate) invoice: Option<String>,
    #[serde(default)]
    pub(crate) preimage: Option<String>,
    #[serde(default)]
    pub(crate) payment_hash: Option<String>,
    #[serde(default)]
    pub(crate) amount: Option<u64>,
    #[serde(default)]
    pub(crate) fees_paid: Option<u64>,
    #[serde(default)]
    pub(crate) expires_at: Option<u64>,
    #[serde(default)]
    pub(crate) settled_at: Option<u64>,
}

impl Transaction {
    /// The preimage, if the wallet gave a non-empty one.
    pub(crate) fn preimage(&self) -> Result<Option<Preimage>, BackendError> {
        match self.preimage.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(hex) => hex
                .parse()
                .map(Some)
                .map_err(|_| bad("the preimage is not 32 bytes of hex")),
        }
    }

    /// The payment hash, which must be `expected` when given.
    pub(crate) fn check_hash(&self, expected: &PaymentHash) -> Result<(), BackendError> {
        match self.payment_hash.as_deref().map(str::parse::<PaymentHash>) {
            None => Ok(()),
            Some(Ok(hash)) if hash == *expected => Ok(()),
            Some(_) => Err(bad("payment_hash differs from the one asked for")),
        }
    }
}

/// [`BackendError::BadResponse`] for NWC.
pub(crate) fn bad(reason: impl Into<String>) -> BackendError {
    BackendError::BadResponse {
        backend: BACKEND,
        reason: reason.into(),
    }
}

/// Reads a `result` as `T`.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    result: Value,
    what: &str,
) -> Result<T, BackendError> {
    serde_json::from_value(result).map_err(|e| bad(format!("{what} result: {e}")))
}
