//! The values that cross the [`Receiver`](crate::Receiver) and
//! [`Wallet`](crate::Wallet) traits.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{PaymentHash, Preimage};

/// Which backend produced a result or an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// The embedded dev node (not a real Lightning node).
    Dev,
    /// An LNbits wallet.
    Lnbits,
    /// A phoenixd node.
    Phoenixd,
    /// An LND node (REST API).
    Lnd,
    /// A Core Lightning node.
    Cln,
    /// A Nostr Wallet Connect (NIP-47) wallet service.
    Nwc,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Dev => "dev node",
            Backend::Lnbits => "LNbits",
            Backend::Phoenixd => "phoenixd",
            Backend::Lnd => "LND",
            Backend::Cln => "Core Lightning",
            Backend::Nwc => "NWC",
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
    /// When set, the invoice commits to this hash (BOLT11 `h`) instead of
    /// carrying `memo` (`d`): LNURL-pay (LUD-06) invoices carry
    /// `sha256(metadata)`. Every backend checks that the invoice its node
    /// answered commits to it; one that cannot make such an invoice refuses
    /// the request
    /// ([`ReceiveError::InvalidRequest`](crate::ReceiveError::InvalidRequest));
    /// none ignores it.
    pub description_hash: Option<[u8; 32]>,
    /// The text `description_hash` is the SHA-256 of, when known (set with
    /// [`InvoiceRequest::hashed_description`]). Core Lightning needs it: its
    /// `invoice` takes the text and hashes it itself (`deschashonly`).
    pub hashed_description: Option<String>,
}

impl InvoiceRequest {
    /// An invoice for `amount_msat` millisatoshis, empty memo, default expiry.
    pub fn msat(amount_msat: u64) -> Self {
        InvoiceRequest {
            amount_msat,
            memo: String::new(),
            expiry: DEFAULT_INVOICE_EXPIRY,
            description_hash: None,
            hashed_description: None,
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

    /// Commits the invoice to `hash` instead of the memo (see
    /// [`InvoiceRequest::description_hash`]).
    pub fn description_hash(mut self, hash: [u8; 32]) -> Self {
        self.description_hash = Some(hash);
        self.hashed_description = None;
        self
    }

    /// Commits the invoice to `sha256(text)` instead of the memo, keeping
    /// `text` for the backends that hash it themselves (Core Lightning).
    /// Prefer this to [`InvoiceRequest::description_hash`] when the text is
    /// known (LNURL-pay: the metadata).
    ///
    /// ```
    /// use l402_lightning::InvoiceRequest;
    /// let req = InvoiceRequest::sats(1).hashed_description("[[\"text/plain\",\"hi\"]]");
    /// assert!(req.description_hash.is_some());
    /// assert_eq!(req.hashed_description.as_deref(), Some("[[\"text/plain\",\"hi\"]]"));
    /// ```
    pub fn hashed_description(mut self, text: impl Into<String>) -> Self {
        use sha2::Digest as _;
        let text = text.into();
        self.description_hash = Some(sha2::Sha256::digest(text.as_bytes()).into());
        self.hashed_description = Some(text);
        self
    }
}

/// An invoice a [`Receiver`](crate::Receiver) created.
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
    /// The most routing fee to accept. Only backends whose
    /// [`Wallet::enforces_max_fee`](crate::Wallet::enforces_max_fee) is `true`
    /// hold a payment to it before paying; with the others (LNbits) the fee
    /// is known only afterwards, in [`Payment::fee_msat`]. See the
    /// [crate docs](crate#fee-caps).
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
    /// The fee paid on top of `amount_msat`, in millisatoshis, as the
    /// backend reports it (LNbits: the `fee` of its payment record; the dev
    /// node: always 0).
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
