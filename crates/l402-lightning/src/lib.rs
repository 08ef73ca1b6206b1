//! Lightning behind two small traits: [`Receiver`] (sellers create and look up
//! invoices) and [`Wallet`] (buyers pay invoices and get the preimage).
//!
//! Backends:
//!
//! * [`dev`]: the embedded **dev node**, a self-contained Lightning stand-in for
//!   development, demos and tests. It issues real signed regtest BOLT11
//!   invoices (`lnbcrt…`), keeps wallets, balances, invoices and payments in
//!   SQLite, settles an invoice when one of its own wallets pays it, and speaks a
//!   subset of the LNbits wallet API over HTTP. It moves no real money and is
//!   **not a real Lightning node**.
//! * [`lnbits`]: an LNbits (1.6) wallet over its HTTP API.
//!
//! Both traits are object safe, so backends are usually held as
//! `Arc<dyn Receiver>` / `Arc<dyn Wallet>`. Every [`Wallet::pay`] implementation
//! checks `sha256(preimage) == payment_hash` before returning: a backend that
//! returns a wrong preimage yields [`PayError::PreimageMismatch`], never a
//! success.
//!
//! ```
//! use std::sync::Arc;
//! use l402_lightning::{
//!     dev::DevNode, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayRequest, Receiver, Wallet,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let node = DevNode::builder().in_memory().open().await?;
//! let seller: Arc<dyn Receiver> = Arc::new(node.wallet("seller").await?);
//! let buyer = node.wallet("buyer").await?;
//! buyer.credit_sats(1_000).await?; // dev-only faucet
//! let buyer: Arc<dyn Wallet> = Arc::new(buyer);
//!
//! let invoice = seller.create_invoice(&InvoiceRequest::sats(21).memo("one request")).await?;
//! assert!(invoice.bolt11.starts_with("lnbcrt"));
//!
//! let paid = buyer.pay(&PayRequest::new(&invoice.bolt11)).await?;
//! assert!(paid.preimage.matches(&invoice.payment_hash));
//! assert_eq!(
//!     buyer.lookup_payment(&invoice.payment_hash).await?,
//!     OutgoingStatus::Succeeded(paid)
//! );
//! assert!(matches!(
//!     seller.lookup_invoice(&invoice.payment_hash).await?,
//!     InvoiceStatus::Paid { .. }
//! ));
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use l402::{PaymentHash, Preimage};

pub mod dev;
mod error;
mod invoice;
pub mod lnbits;

pub use error::{BackendError, PayError, PayOutcome, ReceiveError, TransportError};
pub use invoice::{DecodedInvoice, decode_invoice};

/// Which backend produced a result or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The embedded dev node (not a real Lightning node).
    Dev,
    /// An LNbits wallet.
    Lnbits,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Dev => "dev node",
            Backend::Lnbits => "LNbits",
        })
    }
}

/// Default invoice expiry: one hour.
pub const DEFAULT_INVOICE_EXPIRY: Duration = Duration::from_secs(3600);

/// What to put in a new invoice.
///
/// ```
/// use std::time::Duration;
/// use l402_lightning::InvoiceRequest;
/// let req = InvoiceRequest::sats(21).memo("GET /weather").expiry(Duration::from_secs(600));
/// assert_eq!(req.amount_msat, 21_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRequest {
    /// Amount in millisatoshis; must be positive.
    pub amount_msat: u64,
    /// The invoice description (BOLT11 `d` field), at most 639 bytes.
    pub memo: String,
    /// How long the invoice stays payable.
    pub expiry: Duration,
}

impl InvoiceRequest {
    /// An invoice for `amount_msat` millisatoshis, empty memo, default expiry.
    pub fn msat(amount_msat: u64) -> Self {
        InvoiceRequest {
            amount_msat,
            memo: String::new(),
            expiry: DEFAULT_INVOICE_EXPIRY,
        }
    }

    /// An invoice for `sats` satoshis (saturating), empty memo, default expiry.
    pub fn sats(sats: u64) -> Self {
        Self::msat(sats.saturating_mul(1000))
    }

    /// Sets the description.
    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = memo.into();
        self
    }

    /// Sets the expiry.
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }
}

/// An invoice a [`Receiver`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The BOLT11 payment request.
    pub bolt11: String,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// Its amount in millisatoshis.
    pub amount_msat: u64,
    /// When it expires.
    pub expires_at: SystemTime,
}

impl Invoice {
    /// The expiry as seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> u64 {
        self.expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// The state of an invoice, as its receiver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceStatus {
    /// Not paid yet and not expired.
    Pending,
    /// Paid; the preimage is the proof.
    Paid {
        /// The preimage, already checked against the payment hash.
        preimage: Preimage,
    },
    /// Expired unpaid (or cancelled); it can no longer be paid.
    Expired,
}

impl InvoiceStatus {
    /// Whether the invoice is paid.
    pub fn is_paid(&self) -> bool {
        matches!(self, InvoiceStatus::Paid { .. })
    }
}

/// A request to pay a BOLT11 invoice.
///
/// ```
/// use l402_lightning::PayRequest;
/// let req = PayRequest::new("lnbcrt...").max_fee_msat(1_000);
/// assert_eq!(req.max_fee_msat, Some(1_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    /// The BOLT11 invoice. Amountless invoices are refused.
    pub bolt11: String,
    /// The most routing fee to accept, where the backend can enforce it. The dev
    /// node and LNbits' internal payments charge no fee.
    pub max_fee_msat: Option<u64>,
}

impl PayRequest {
    /// Pay `bolt11` with no fee limit beyond the backend's own.
    pub fn new(bolt11: impl Into<String>) -> Self {
        PayRequest {
            bolt11: bolt11.into(),
            max_fee_msat: None,
        }
    }

    /// Sets the maximum routing fee.
    pub fn max_fee_msat(mut self, max_fee_msat: u64) -> Self {
        self.max_fee_msat = Some(max_fee_msat);
        self
    }
}

/// A settled outgoing payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment hash of the invoice paid.
    pub payment_hash: PaymentHash,
    /// The preimage: `sha256(preimage) == payment_hash` has been checked.
    pub preimage: Preimage,
    /// The amount paid to the payee, in millisatoshis, excluding fees.
    pub amount_msat: u64,
    /// The routing fee paid, in millisatoshis.
    pub fee_msat: u64,
}

/// What a wallet knows about one of its outgoing payments, looked up by
/// payment hash (to recover a preimage after a crash between paying and
/// storing it, or to settle a timed-out payment).
///
/// ```
/// use l402_lightning::OutgoingStatus;
/// assert!(!OutgoingStatus::Unknown.is_settled());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutgoingStatus {
    /// The wallet has no outgoing payment with this hash: it never paid it.
    Unknown,
    /// In flight: it may still succeed or fail.
    Pending,
    /// Paid; `preimage` has been checked against the hash.
    Succeeded(Payment),
    /// Failed for good: no money moved.
    Failed {
        /// What the backend said.
        reason: String,
    },
}

impl OutgoingStatus {
    /// Whether the payment succeeded.
    pub fn is_settled(&self) -> bool {
        matches!(self, OutgoingStatus::Succeeded(_))
    }
}

/// What a backend says about the node behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Which backend answered.
    pub backend: Backend,
    /// The node's alias. The dev node's says it is not a real node.
    pub alias: String,
    /// The node's public key (hex), where known.
    pub pubkey: Option<String>,
    /// The network (`bitcoin`, `regtest`, …), where known.
    pub network: Option<String>,
    /// `false` for stand-ins that move no real money (the dev node).
    pub real_lightning: bool,
}

/// Receiving payments: what a seller needs.
///
/// Object safe; hold it as `Arc<dyn Receiver>`.
///
/// ```
/// use l402_lightning::{dev::DevNode, InvoiceRequest, InvoiceStatus, Receiver};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let receiver: Box<dyn Receiver> = Box::new(node.wallet("seller").await?);
/// let invoice = receiver.create_invoice(&InvoiceRequest::sats(10)).await?;
/// assert_eq!(receiver.lookup_invoice(&invoice.payment_hash).await?, InvoiceStatus::Pending);
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait Receiver: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Creates an invoice.
    ///
    /// # Errors
    /// [`ReceiveError`] naming the backend and the cause.
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError>;

    /// Looks up an invoice this receiver created, by payment hash.
    ///
    /// # Errors
    /// [`ReceiveError::UnknownInvoice`] if the backend does not know it, or
    /// another [`ReceiveError`].
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError>;
}

/// Paying invoices: what a buyer needs.
///
/// Object safe; hold it as `Arc<dyn Wallet>`.
///
/// ```
/// use l402_lightning::{dev::DevNode, Wallet};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let wallet = node.wallet("buyer").await?;
/// wallet.credit_sats(5).await?;
/// let wallet: Box<dyn Wallet> = Box::new(wallet);
/// assert_eq!(wallet.balance_msat().await?, 5_000);
/// assert!(!wallet.node_info().await?.real_lightning);
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait Wallet: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Pays an invoice and returns the preimage, checked against the invoice's
    /// payment hash.
    ///
    /// # Errors
    /// [`PayError`] naming the backend and the cause; in particular
    /// [`PayError::PreimageMismatch`] if the backend's preimage does not hash
    /// to the payment hash.
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError>;

    /// Looks up an outgoing payment of this wallet by payment hash. A
    /// [`OutgoingStatus::Succeeded`] carries a preimage already checked
    /// against `payment_hash`.
    ///
    /// # Errors
    /// [`PayError`] if the backend cannot answer;
    /// [`BackendError::Unsupported`] (the default) for backends that cannot
    /// look payments up.
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let _ = payment_hash;
        Err(PayError::Backend(BackendError::Unsupported {
            backend: self.backend(),
            what: "looking up outgoing payments",
        }))
    }

    /// The spendable balance in millisatoshis.
    ///
    /// # Errors
    /// [`BackendError`] naming the backend and the cause.
    async fn balance_msat(&self) -> Result<u64, BackendError>;

    /// Information about the node, where the backend has it.
    ///
    /// # Errors
    /// [`BackendError::Unsupported`] by default.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        Err(BackendError::Unsupported {
            backend: self.backend(),
            what: "node info",
        })
    }
}

macro_rules! forward {
    ($($ptr:ident),*) => {$(
        #[async_trait::async_trait]
        impl<T: Receiver + ?Sized> Receiver for $ptr<T> {
            fn backend(&self) -> Backend {
                (**self).backend()
            }
            async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
                (**self).create_invoice(request).await
            }
            async fn lookup_invoice(
                &self,
                payment_hash: &PaymentHash,
            ) -> Result<InvoiceStatus, ReceiveError> {
                (**self).lookup_invoice(payment_hash).await
            }
        }

        #[async_trait::async_trait]
        impl<T: Wallet + ?Sized> Wallet for $ptr<T> {
            fn backend(&self) -> Backend {
                (**self).backend()
            }
            async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
                (**self).pay(request).await
            }
            async fn lookup_payment(
                &self,
                payment_hash: &PaymentHash,
            ) -> Result<OutgoingStatus, PayError> {
                (**self).lookup_payment(payment_hash).await
            }
            async fn balance_msat(&self) -> Result<u64, BackendError> {
                (**self).balance_msat().await
            }
            async fn node_info(&self) -> Result<NodeInfo, BackendError> {
                (**self).node_info().await
            }
        }
    )*};
}

forward!(Arc, Box);

pub(crate) use l402::time::unix_now;
