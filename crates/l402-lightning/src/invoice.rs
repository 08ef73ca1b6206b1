//! Decoding BOLT11 invoices and the checks every wallet runs before paying.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::PaymentHash;
#[cfg(any(
    feature = "dev",
    feature = "lnbits",
    feature = "phoenixd",
    feature = "lnd",
    feature = "cln",
    feature = "nwc"
))]
use crate::{Backend, PayError, Preimage};

/// The parts of a BOLT11 invoice a wallet needs, after its signature was checked.
///
/// ```
/// let err = l402_lightning::decode_invoice("lnbc1garbage").unwrap_err();
/// assert!(!err.to_string().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedInvoice {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The amount in millisatoshis, if the invoice has one.
    pub amount_msat: Option<u64>,
    /// When the invoice was created.
    pub created_at: SystemTime,
    /// When it expires.
    pub expires_at: SystemTime,
    /// The network, as lightning-invoice names it (`Bitcoin`, `Regtest`, …).
    pub currency: lightning_invoice::Currency,
    /// The payee's node public key (hex), recovered from the signature.
    pub payee: String,
    /// The description hash (BOLT11 `h`), if the invoice commits to one.
    pub description_hash: Option<[u8; 32]>,
}

impl DecodedInvoice {
    /// Whether the invoice has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }
}

/// Decodes a BOLT11 invoice and checks its signature, with the protocol
/// core's decoder ([`l402::Invoice`]: strict, except that it accepts invoices
/// with a payment secret and no feature field, as LNbits' FakeWallet issues).
///
/// # Errors
/// [`l402::InvoiceError`] if the string is not a valid, correctly signed invoice.
pub fn decode_invoice(bolt11: &str) -> Result<DecodedInvoice, l402::InvoiceError> {
    let invoice = l402::Invoice::from_str(bolt11)?;
    let at = |secs: u64| {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX)))
    };
    Ok(DecodedInvoice {
        payment_hash: invoice.payment_hash(),
        amount_msat: invoice.amount_msat(),
        created_at: at(invoice.created_at()),
        expires_at: at(invoice.expires_at()),
        currency: invoice.currency(),
        payee: invoice.payee().to_string(),
        description_hash: invoice.description_hash(),
    })
}

/// What every wallet checks before paying: the invoice decodes, is signed, has
/// an amount and has not expired.
#[cfg(any(
    feature = "dev",
    feature = "lnbits",
    feature = "phoenixd",
    feature = "lnd",
    feature = "cln",
    feature = "nwc"
))]
pub(crate) fn precheck(backend: Backend, bolt11: &str) -> Result<DecodedInvoice, PayError> {
    let decoded = decode_invoice(bolt11).map_err(|e| PayError::InvalidInvoice {
        backend,
        reason: e.to_string(),
    })?;
    match decoded.amount_msat {
        None | Some(0) => {
            return Err(PayError::InvalidInvoice {
                backend,
                reason: "amountless invoices are not supported".into(),
            });
        }
        Some(_) => {}
    }
    if decoded.is_expired_at(SystemTime::now()) {
        return Err(PayError::Expired {
            backend,
            payment_hash: decoded.payment_hash,
        });
    }
    Ok(decoded)
}

/// The check after every payment: the preimage must hash to the invoice's hash.
#[cfg(any(
    feature = "dev",
    feature = "lnbits",
    feature = "phoenixd",
    feature = "lnd",
    feature = "cln",
    feature = "nwc"
))]
pub(crate) fn verify_preimage(
    backend: Backend,
    payment_hash: &PaymentHash,
    preimage: &Preimage,
) -> Result<(), PayError> {
    if preimage.matches(payment_hash) {
        Ok(())
    } else {
        Err(PayError::PreimageMismatch {
            backend,
            payment_hash: *payment_hash,
        })
    }
}
