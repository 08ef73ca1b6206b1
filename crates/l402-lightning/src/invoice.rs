//! Decoding BOLT11 invoices and the checks every wallet runs before paying.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::Hash as _;
use lightning_invoice::{
    Bolt11Invoice, Bolt11SemanticError, ParseOrSemanticError, SignedRawBolt11Invoice,
};

use crate::{Backend, PayError, PaymentHash, Preimage};

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
}

impl DecodedInvoice {
    /// Whether the invoice has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }
}

/// Decodes a BOLT11 invoice and checks its signature.
///
/// Strict, except for one leniency: invoices that carry a payment secret but
/// no feature bits (LNbits' FakeWallet and some older nodes issue these;
/// lightning-invoice rejects them as `InvalidFeatures`) are accepted, after
/// the signature and the payment hash are checked.
///
/// # Errors
/// lightning-invoice's error if the string is not a valid, correctly signed invoice.
pub fn decode_invoice(bolt11: &str) -> Result<DecodedInvoice, ParseOrSemanticError> {
    let bolt11 = bolt11.trim();
    match Bolt11Invoice::from_str(bolt11) {
        Ok(invoice) => Ok(from_invoice(&invoice)),
        Err(ParseOrSemanticError::SemanticError(Bolt11SemanticError::InvalidFeatures)) => {
            decode_without_features(bolt11)
        }
        Err(e) => Err(e),
    }
}

fn decode_without_features(bolt11: &str) -> Result<DecodedInvoice, ParseOrSemanticError> {
    let signed = SignedRawBolt11Invoice::from_str(bolt11)?;
    let semantic = ParseOrSemanticError::SemanticError;
    if !signed.check_signature() {
        return Err(semantic(Bolt11SemanticError::InvalidSignature));
    }
    let raw = signed.raw_invoice();
    let payment_hash = raw
        .payment_hash()
        .ok_or(semantic(Bolt11SemanticError::NoPaymentHash))?;
    if raw.payment_secret().is_none() {
        return Err(semantic(Bolt11SemanticError::NoPaymentSecret));
    }
    let amount_msat = match raw.amount_pico_btc() {
        None => None,
        Some(pico) if pico.is_multiple_of(10) => Some(pico / 10),
        Some(_) => return Err(semantic(Bolt11SemanticError::ImpreciseAmount)),
    };
    let payee = match raw.payee_pub_key() {
        Some(key) => key.0,
        None => {
            signed
                .recover_payee_pub_key()
                .map_err(|_| semantic(Bolt11SemanticError::InvalidSignature))?
                .0
        }
    };
    let created = raw.data.timestamp.as_duration_since_epoch();
    let expiry = raw
        .expiry_time()
        .map(|e| *e.as_duration())
        .unwrap_or(Duration::from_secs(lightning_invoice::DEFAULT_EXPIRY_TIME));
    Ok(DecodedInvoice {
        payment_hash: PaymentHash(payment_hash.0.to_byte_array()),
        amount_msat,
        created_at: UNIX_EPOCH + created,
        expires_at: expiry_instant(created, expiry),
        currency: raw.currency(),
        payee: payee.to_string(),
    })
}

fn expiry_instant(created: Duration, expiry: Duration) -> SystemTime {
    UNIX_EPOCH
        .checked_add(created.saturating_add(expiry))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(u32::MAX as u64))
}

pub(crate) fn from_invoice(invoice: &Bolt11Invoice) -> DecodedInvoice {
    let created = invoice.duration_since_epoch();
    DecodedInvoice {
        payment_hash: PaymentHash(invoice.payment_hash().to_byte_array()),
        amount_msat: invoice.amount_milli_satoshis(),
        created_at: UNIX_EPOCH + created,
        expires_at: expiry_instant(created, invoice.expiry_time()),
        currency: invoice.currency(),
        payee: invoice.recover_payee_pub_key().to_string(),
    }
}

/// What every wallet checks before paying: the invoice decodes, is signed, has
/// an amount and has not expired.
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
