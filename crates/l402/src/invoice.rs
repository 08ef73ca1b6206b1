//! BOLT11 invoice checks, on top of `lightning-invoice`: what a buyer must
//! establish before paying and a seller before trusting an invoice.
//!
//! ```
//! use l402::invoice::{Invoice, InvoiceError, InvoiceRequirements};
//! use lightning_invoice::Currency;
//!
//! // The BOLT #11 specification's "2500 microsatoshi, 60 s expiry" vector.
//! let text = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
//! let invoice: Invoice = text.parse().unwrap();
//! assert_eq!(invoice.amount_msat(), Some(250_000_000));
//! let reqs = InvoiceRequirements::new()
//!     .network(Currency::Bitcoin)
//!     .max_amount_msat(1_000_000)
//!     .at_unix_secs(1_496_314_658);
//! assert!(matches!(invoice.check(&reqs), Err(InvoiceError::OverLimit { .. })));
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
pub use lightning_invoice::Currency;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};

use crate::PaymentHash;

/// The longest invoice text accepted (BOLT11 strings are a few hundred
/// characters; bech32 caps well below this).
pub const MAX_INVOICE_LEN: usize = 7089;

/// Why an invoice was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    /// Longer than [`MAX_INVOICE_LEN`].
    #[error("invoice is {0} characters long, more than {MAX_INVOICE_LEN}")]
    TooLong(usize),
    /// Not a valid, correctly signed BOLT11 invoice.
    #[error("invalid BOLT11 invoice: {0}")]
    Invalid(String),
    /// The invoice has no amount.
    #[error("invoice has no amount")]
    Amountless,
    /// The invoice is for zero.
    #[error("invoice amount is zero")]
    ZeroAmount,
    /// The amount is above the allowed maximum.
    #[error("invoice is for {amount_msat} msat, more than the {limit_msat} msat allowed")]
    OverLimit {
        /// The invoice amount.
        amount_msat: u64,
        /// The limit.
        limit_msat: u64,
    },
    /// The invoice is for another network.
    #[error("invoice is for {found:?}, expected {expected:?}")]
    WrongNetwork {
        /// The expected currency.
        expected: Currency,
        /// The invoice's currency.
        found: Currency,
    },
    /// The invoice has expired.
    #[error("invoice expired at unix time {expired_at}")]
    Expired {
        /// When it expired, in unix seconds.
        expired_at: u64,
    },
    /// The invoice is payable to another node.
    #[error("invoice payee {found} is not the expected {expected}")]
    WrongPayee {
        /// The expected node key.
        expected: String,
        /// The invoice's node key.
        found: String,
    },
    /// The invoice's payment hash differs from the macaroon's.
    #[error("invoice payment hash {invoice} differs from the macaroon's {macaroon}")]
    PaymentHashMismatch {
        /// The invoice's payment hash.
        invoice: PaymentHash,
        /// The macaroon identifier's payment hash.
        macaroon: PaymentHash,
    },
}

/// A decoded BOLT11 invoice whose signature has been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Invoice {
    inner: Bolt11Invoice,
}

impl Invoice {
    /// The underlying `lightning-invoice` value.
    pub fn as_bolt11(&self) -> &Bolt11Invoice {
        &self.inner
    }

    /// The payment hash.
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(*AsRef::<[u8; 32]>::as_ref(self.inner.payment_hash()))
    }

    /// The amount in millisatoshis, if the invoice has one.
    pub fn amount_msat(&self) -> Option<u64> {
        self.inner.amount_milli_satoshis()
    }

    /// The amount in whole sats, rounded up, if the invoice has one.
    pub fn amount_sats(&self) -> Option<u64> {
        self.amount_msat().map(|m| m.div_ceil(1000))
    }

    /// The currency (network) of the invoice.
    pub fn currency(&self) -> Currency {
        self.inner.currency()
    }

    /// The node key the invoice is payable to.
    pub fn payee(&self) -> PublicKey {
        self.inner.get_payee_pub_key()
    }

    /// When the invoice was created, in unix seconds.
    pub fn created_at(&self) -> u64 {
        self.inner.duration_since_epoch().as_secs()
    }

    /// When the invoice expires, in unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.inner
            .expires_at()
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX)
    }

    /// The description, if it is a plain one (not a hash).
    pub fn description(&self) -> Option<String> {
        match self.inner.description() {
            Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
            Bolt11InvoiceDescriptionRef::Hash(_) => None,
        }
    }

    /// Checks the invoice against `requirements`.
    ///
    /// # Errors
    /// The first [`InvoiceError`] found.
    pub fn check(&self, requirements: &InvoiceRequirements) -> Result<(), InvoiceError> {
        if let Some(expected) = &requirements.network {
            let found = self.currency();
            if &found != expected {
                return Err(InvoiceError::WrongNetwork {
                    expected: expected.clone(),
                    found,
                });
            }
        }
        if let Some(macaroon) = requirements.payment_hash {
            let invoice = self.payment_hash();
            if invoice != macaroon {
                return Err(InvoiceError::PaymentHashMismatch { invoice, macaroon });
            }
        }
        match self.amount_msat() {
            None if !requirements.allow_amountless => return Err(InvoiceError::Amountless),
            Some(0) if !requirements.allow_zero => return Err(InvoiceError::ZeroAmount),
            Some(amount_msat) => {
                if let Some(limit_msat) = requirements
                    .max_amount_msat
                    .filter(|&limit| amount_msat > limit)
                {
                    return Err(InvoiceError::OverLimit {
                        amount_msat,
                        limit_msat,
                    });
                }
            }
            None => {}
        }
        if let Some(now) = requirements.now {
            // Expired from its expiry second on (lightning-invoice's
            // `would_expire` still accepts that second).
            if now.as_secs() >= self.expires_at() {
                return Err(InvoiceError::Expired {
                    expired_at: self.expires_at(),
                });
            }
        }
        if let Some(expected) = requirements.payee {
            let found = self.payee();
            if found != expected {
                return Err(InvoiceError::WrongPayee {
                    expected: expected.to_string(),
                    found: found.to_string(),
                });
            }
        }
        Ok(())
    }
}

impl FromStr for Invoice {
    type Err = InvoiceError;

    /// Parses and checks the signature (`lightning-invoice` refuses invoices
    /// with a bad or unrecoverable signature, unknown required features, or no
    /// payment secret). Surrounding whitespace and a `lightning:` prefix are
    /// removed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_INVOICE_LEN {
            return Err(InvoiceError::TooLong(s.len()));
        }
        let s = s.trim();
        let s = s
            .get(..10)
            .filter(|p| p.eq_ignore_ascii_case("lightning:"))
            .map_or(s, |_| &s[10..]);
        let inner = Bolt11Invoice::from_str(s).map_err(|e| InvoiceError::Invalid(e.to_string()))?;
        // from_str checks the signature; check again explicitly so the
        // guarantee does not depend on that detail.
        inner
            .check_signature()
            .map_err(|e| InvoiceError::Invalid(e.to_string()))?;
        Ok(Invoice { inner })
    }
}

impl fmt::Display for Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

impl fmt::Debug for Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invoice")
            .field("payment_hash", &self.payment_hash())
            .field("amount_msat", &self.amount_msat())
            .field("currency", &self.currency())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// What an invoice must satisfy. By default: an amount, and not zero; nothing
/// else is checked until set.
#[derive(Debug, Clone, Default)]
pub struct InvoiceRequirements {
    network: Option<Currency>,
    payment_hash: Option<PaymentHash>,
    max_amount_msat: Option<u64>,
    allow_amountless: bool,
    allow_zero: bool,
    now: Option<Duration>,
    payee: Option<PublicKey>,
}

impl InvoiceRequirements {
    /// Requires an amount above zero and nothing else.
    pub fn new() -> Self {
        InvoiceRequirements::default()
    }

    /// The invoice must be for this network.
    pub fn network(mut self, currency: Currency) -> Self {
        self.network = Some(currency);
        self
    }

    /// The invoice's payment hash must be this one (the macaroon identifier's).
    pub fn payment_hash(mut self, hash: PaymentHash) -> Self {
        self.payment_hash = Some(hash);
        self
    }

    /// The amount must be at most this many millisatoshis.
    pub fn max_amount_msat(mut self, limit: u64) -> Self {
        self.max_amount_msat = Some(limit);
        self
    }

    /// Accepts invoices without an amount (refused by default).
    pub fn allow_amountless(mut self, allow: bool) -> Self {
        self.allow_amountless = allow;
        self
    }

    /// Accepts invoices for zero (refused by default).
    pub fn allow_zero(mut self, allow: bool) -> Self {
        self.allow_zero = allow;
        self
    }

    /// The invoice must not have expired at this unix time.
    pub fn at_unix_secs(mut self, now: u64) -> Self {
        self.now = Some(Duration::from_secs(now));
        self
    }

    /// The invoice must not have expired now (system clock).
    pub fn not_expired(mut self) -> Self {
        self.now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok();
        self
    }

    /// The invoice must be payable to this node.
    pub fn payee(mut self, node: PublicKey) -> Self {
        self.payee = Some(node);
        self
    }
}
