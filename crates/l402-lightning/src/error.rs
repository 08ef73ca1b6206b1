//! Error types: one enum per concern, each naming the backend and the cause.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Backend, PaymentHash};

/// The transport's own error behind a [`BackendError`] (for LNbits, the
/// `reqwest::Error`), shared so that errors stay `Clone`.
///
/// `Display` and `source()` are the wrapped error's, so a printer that walks
/// the source chain shows each cause once. [`TransportError::get_ref`] gives
/// the error itself, for downcasting.
///
/// ```
/// use l402_lightning::TransportError;
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = TransportError::new(io);
/// assert_eq!(err.to_string(), "refused");
/// assert!(err.get_ref().is::<std::io::Error>());
/// ```
#[derive(Clone)]
pub struct TransportError(Arc<dyn StdError + Send + Sync + 'static>);

impl TransportError {
    /// Wraps the transport's error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        TransportError(Arc::new(error))
    }

    /// The transport's error, for downcasting (e.g. to `reqwest::Error`).
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Talking to a backend failed, whatever the operation.
///
/// For a payment, [`BackendError::pay_outcome`] says whether money may have
/// moved, and [`BackendError::may_have_been_sent`] whether the request could
/// have reached the backend at all.
///
/// ```
/// use std::time::Duration;
/// use l402_lightning::{Backend, BackendError, PayOutcome};
/// let err = BackendError::Timeout { backend: Backend::Lnbits, after: Duration::from_secs(10) };
/// assert_eq!(err.to_string(), "LNbits: no answer within 10s");
/// assert_eq!(err.pay_outcome(), PayOutcome::Unknown);
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No connection to the backend could be made (connection refused, DNS,
    /// TLS handshake, connect timeout): the request was **not sent**.
    #[error("{backend}: cannot connect (the request was not sent)")]
    Unreachable {
        /// Which backend.
        backend: Backend,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// The connection failed after the request may have been written (reset,
    /// closed before the whole answer arrived): the backend may have acted on
    /// it.
    #[error("{backend}: connection failed after the request may have been sent")]
    Interrupted {
        /// Which backend.
        backend: Backend,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// The backend did not answer in time (the request may have been sent).
    #[error("{backend}: no answer within {after:?}")]
    Timeout {
        /// Which backend.
        backend: Backend,
        /// The configured timeout.
        after: Duration,
    },
    /// The backend refused the credentials (missing, unknown or wrong kind of key).
    #[error("{backend}: unauthorized: {reason}")]
    Unauthorized {
        /// Which backend.
        backend: Backend,
        /// What was wrong.
        reason: String,
    },
    /// The backend answered something this client cannot understand.
    #[error("{backend}: unexpected response: {reason}")]
    BadResponse {
        /// Which backend.
        backend: Backend,
        /// What was wrong with it.
        reason: String,
    },
    /// The backend answered with an error this client has no better name for.
    #[error("{backend}: error (HTTP {status}): {detail}")]
    Rejected {
        /// Which backend.
        backend: Backend,
        /// The HTTP status (0 when not HTTP).
        status: u16,
        /// The backend's message.
        detail: String,
    },
    /// The backend's local storage failed (the dev node's SQLite database).
    #[error("{backend}: storage error: {reason}")]
    Storage {
        /// Which backend.
        backend: Backend,
        /// What failed.
        reason: String,
    },
    /// The backend cannot do this at all.
    #[error("{backend}: {what} is not supported")]
    Unsupported {
        /// Which backend.
        backend: Backend,
        /// What was asked for.
        what: &'static str,
    },
}

impl BackendError {
    /// What this error means for a payment request that met it. Conservative:
    /// only an error that proves the request was never acted on is not
    /// [`PayOutcome::Unknown`].
    ///
    /// | Error | Outcome |
    /// |---|---|
    /// | [`Unreachable`](Self::Unreachable), [`Unsupported`](Self::Unsupported) | [`PayOutcome::NotSent`] |
    /// | [`Unauthorized`](Self::Unauthorized), [`Rejected`](Self::Rejected) with a 4xx status | [`PayOutcome::Failed`] |
    /// | [`Interrupted`](Self::Interrupted), [`Timeout`](Self::Timeout), [`BadResponse`](Self::BadResponse), [`Rejected`](Self::Rejected) otherwise (a 5xx such as a proxy's 502), [`Storage`](Self::Storage) | [`PayOutcome::Unknown`] |
    ///
    /// ```
    /// use l402_lightning::{Backend, BackendError, PayOutcome};
    /// let bad_gateway = BackendError::Rejected {
    ///     backend: Backend::Lnbits,
    ///     status: 502,
    ///     detail: "Bad Gateway".into(),
    /// };
    /// assert_eq!(bad_gateway.pay_outcome(), PayOutcome::Unknown);
    /// assert!(bad_gateway.may_have_been_sent());
    /// ```
    pub fn pay_outcome(&self) -> PayOutcome {
        match self {
            BackendError::Unreachable { .. } | BackendError::Unsupported { .. } => {
                PayOutcome::NotSent
            }
            BackendError::Unauthorized { .. } => PayOutcome::Failed,
            BackendError::Rejected { status, .. } if (400..500).contains(status) => {
                PayOutcome::Failed
            }
            BackendError::Interrupted { .. }
            | BackendError::Timeout { .. }
            | BackendError::BadResponse { .. }
            | BackendError::Rejected { .. }
            | BackendError::Storage { .. } => PayOutcome::Unknown,
        }
    }

    /// Whether the request could have reached the backend. `false` only when
    /// it provably did not: no connection could be made, or the backend
    /// cannot do this at all.
    pub fn may_have_been_sent(&self) -> bool {
        !matches!(
            self,
            BackendError::Unreachable { .. } | BackendError::Unsupported { .. }
        )
    }

    /// Which backend failed.
    pub fn backend(&self) -> Backend {
        match self {
            BackendError::Unreachable { backend, .. }
            | BackendError::Interrupted { backend, .. }
            | BackendError::Timeout { backend, .. }
            | BackendError::Unauthorized { backend, .. }
            | BackendError::BadResponse { backend, .. }
            | BackendError::Rejected { backend, .. }
            | BackendError::Storage { backend, .. }
            | BackendError::Unsupported { backend, .. } => *backend,
        }
    }
}

/// Creating or looking up an invoice failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// Talking to the backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The request cannot be turned into an invoice (zero amount, memo too long…).
    #[error("{backend}: invalid invoice request: {reason}")]
    InvalidRequest {
        /// Which backend.
        backend: Backend,
        /// What was wrong.
        reason: String,
    },
    /// The backend knows no invoice with this payment hash (for this wallet).
    #[error("{backend}: unknown invoice {payment_hash}")]
    UnknownInvoice {
        /// Which backend.
        backend: Backend,
        /// The hash looked up.
        payment_hash: PaymentHash,
    },
}

impl ReceiveError {
    /// Which backend failed.
    pub fn backend(&self) -> Backend {
        match self {
            ReceiveError::Backend(e) => e.backend(),
            ReceiveError::InvalidRequest { backend, .. }
            | ReceiveError::UnknownInvoice { backend, .. } => *backend,
        }
    }
}

/// What a failed payment means for the money: the wallet's answer to "did
/// money move?", never a guess.
///
/// Only [`PayOutcome::NotSent`] and [`PayOutcome::Failed`] say that no money
/// moved. [`PayOutcome::Unknown`] means the request may have reached the
/// backend and the payment may still settle: keep the reservation and look the
/// payment up ([`crate::Wallet::lookup_payment`]) before releasing anything.
///
/// ```
/// use l402_lightning::{Backend, PayError, PayOutcome, PaymentHash};
/// let hash = PaymentHash([0; 32]);
/// let err = PayError::PreimageMismatch { backend: Backend::Lnbits, payment_hash: hash };
/// assert_eq!(err.outcome(), PayOutcome::Unknown);
/// let err = PayError::Expired { backend: Backend::Lnbits, payment_hash: hash };
/// assert!(err.outcome().no_money_moved());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayOutcome {
    /// The request provably never left: refused locally, or the connection
    /// failed before anything was written.
    NotSent,
    /// The backend answered that the payment failed; nothing was paid.
    Failed,
    /// Anything after the request may have been written (a reset, a 5xx, a
    /// timeout, a failed status poll, an answer that cannot be read): the
    /// payment may have happened. Look it up.
    Unknown,
}

impl PayOutcome {
    /// Whether this outcome proves that no money moved.
    pub fn no_money_moved(self) -> bool {
        matches!(self, PayOutcome::NotSent | PayOutcome::Failed)
    }
}

impl fmt::Display for PayOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayOutcome::NotSent => "not sent",
            PayOutcome::Failed => "failed",
            PayOutcome::Unknown => "unknown",
        })
    }
}

/// Paying an invoice failed. [`PayError::outcome`] says whether money moved.
///
/// ```
/// use l402_lightning::{Backend, PayError, PaymentHash};
/// let hash = PaymentHash([0; 32]);
/// let err = PayError::PreimageMismatch { backend: Backend::Lnbits, payment_hash: hash };
/// assert!(err.to_string().starts_with("LNbits: returned a preimage that does not hash"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    /// Talking to the backend failed. The payment may or may not have happened
    /// (for example on a timeout): look it up before retrying.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The invoice could not be decoded, is amountless, or is otherwise unusable.
    #[error("{backend}: invalid invoice: {reason}")]
    InvalidInvoice {
        /// Which backend.
        backend: Backend,
        /// What was wrong.
        reason: String,
    },
    /// The invoice has expired.
    #[error("{backend}: invoice {payment_hash} has expired")]
    Expired {
        /// Which backend.
        backend: Backend,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
    },
    /// The invoice was already paid.
    #[error("{backend}: invoice {payment_hash} is already paid")]
    AlreadyPaid {
        /// Which backend.
        backend: Backend,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
    },
    /// The backend cannot find the invoice's payee (for the dev node: it did not
    /// issue this invoice; for LNbits with FakeWallet: not an internal invoice).
    #[error("{backend}: unknown invoice {payment_hash}: {reason}")]
    UnknownInvoice {
        /// Which backend.
        backend: Backend,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// What the backend said.
        reason: String,
    },
    /// The wallet's balance does not cover the amount (plus fee reserve).
    #[error("{backend}: insufficient balance to pay {amount_msat} msat")]
    InsufficientBalance {
        /// Which backend.
        backend: Backend,
        /// The invoice amount.
        amount_msat: u64,
    },
    /// The fee needed exceeds [`crate::PayRequest::max_fee_msat`]; nothing was paid.
    #[error("{backend}: fee {fee_msat} msat exceeds the limit of {max_fee_msat} msat")]
    FeeTooHigh {
        /// Which backend.
        backend: Backend,
        /// The fee charged or required.
        fee_msat: u64,
        /// The limit asked for.
        max_fee_msat: u64,
    },
    /// The backend reported success but its preimage does not hash to the
    /// payment hash. Treat the payment as unproven.
    #[error("{backend}: returned a preimage that does not hash to the payment hash {payment_hash}")]
    PreimageMismatch {
        /// Which backend.
        backend: Backend,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
    },
    /// The backend tried and the payment failed (no route, refused…).
    #[error("{backend}: payment failed: {reason}")]
    Failed {
        /// Which backend.
        backend: Backend,
        /// What the backend said.
        reason: String,
    },
    /// The backend took the payment but did not say how it ended: it was
    /// still pending when this client stopped waiting, or checking its status
    /// failed. It may still settle: look it up
    /// ([`crate::Wallet::lookup_payment`]) before releasing anything.
    #[error("{backend}: payment {payment_hash} is still pending")]
    Pending {
        /// Which backend.
        backend: Backend,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// The last status check's error, if it failed.
        #[source]
        last_error: Option<BackendError>,
    },
}

impl PayError {
    /// Whether money may have moved: see [`PayOutcome`].
    ///
    /// | Error | Outcome |
    /// |---|---|
    /// | [`Backend`](Self::Backend) | [`BackendError::pay_outcome`] |
    /// | [`InvalidInvoice`](Self::InvalidInvoice) | [`PayOutcome::NotSent`] |
    /// | [`Expired`](Self::Expired), [`AlreadyPaid`](Self::AlreadyPaid), [`UnknownInvoice`](Self::UnknownInvoice), [`InsufficientBalance`](Self::InsufficientBalance), [`FeeTooHigh`](Self::FeeTooHigh), [`Failed`](Self::Failed) | [`PayOutcome::Failed`] |
    /// | [`PreimageMismatch`](Self::PreimageMismatch), [`Pending`](Self::Pending) | [`PayOutcome::Unknown`] |
    ///
    /// [`AlreadyPaid`](Self::AlreadyPaid) means *this* request moved nothing;
    /// an earlier one of this wallet may have paid the invoice, which
    /// [`crate::Wallet::lookup_payment`] tells.
    ///
    /// ```
    /// use l402_lightning::{Backend, PayError, PayOutcome, PaymentHash};
    /// let pending = PayError::Pending {
    ///     backend: Backend::Lnbits,
    ///     payment_hash: PaymentHash([7; 32]),
    ///     last_error: None,
    /// };
    /// assert_eq!(pending.outcome(), PayOutcome::Unknown);
    /// ```
    pub fn outcome(&self) -> PayOutcome {
        match self {
            PayError::Backend(e) => e.pay_outcome(),
            PayError::InvalidInvoice { .. } => PayOutcome::NotSent,
            PayError::Expired { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::UnknownInvoice { .. }
            | PayError::InsufficientBalance { .. }
            | PayError::FeeTooHigh { .. }
            | PayError::Failed { .. } => PayOutcome::Failed,
            // The backend says it paid but cannot prove it: money probably moved.
            PayError::PreimageMismatch { .. } | PayError::Pending { .. } => PayOutcome::Unknown,
        }
    }

    /// Which backend failed.
    pub fn backend(&self) -> Backend {
        match self {
            PayError::Backend(e) => e.backend(),
            PayError::InvalidInvoice { backend, .. }
            | PayError::Expired { backend, .. }
            | PayError::AlreadyPaid { backend, .. }
            | PayError::UnknownInvoice { backend, .. }
            | PayError::InsufficientBalance { backend, .. }
            | PayError::FeeTooHigh { backend, .. }
            | PayError::PreimageMismatch { backend, .. }
            | PayError::Failed { backend, .. }
            | PayError::Pending { backend, .. } => *backend,
        }
    }
}
