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

use std::sync::LazyLock;

use bitcoin::hashes::Hash as _;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, VerifyOnly};
pub use lightning_invoice::Currency;
use lightning_invoice::{
    Bolt11Invoice, Bolt11InvoiceDescriptionRef, Bolt11InvoiceSignature, Bolt11SemanticError,
    DEFAULT_EXPIRY_TIME, ParseOrSemanticError, RawBolt11Invoice, SignedRawBolt11Invoice,
    TaggedField,
};

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

/// One verification context for every invoice: lightning-invoice builds a new
/// one for each signature recovery, which dominated decoding time.
static SECP: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

/// The payee: the `n` field if present, else the key recovered from the
/// signature.
fn payee_of(
    raw: &RawBolt11Invoice,
    signature: &Bolt11InvoiceSignature,
) -> Result<PublicKey, InvoiceError> {
    if let Some(key) = raw.payee_pub_key() {
        return Ok(key.0);
    }
    let hash = Message::from_digest(raw.signable_hash());
    SECP.recover_ecdsa(&hash, &signature.0)
        .map_err(|_| InvoiceError::Invalid(Bolt11SemanticError::InvalidSignature.to_string()))
}

/// A decoded BOLT11 invoice whose signature has been checked.
///
/// Decoding is `lightning-invoice`'s, strict, with one leniency: an invoice
/// that carries a payment secret but no feature field at all is accepted
/// (LNbits' FakeWallet and some older nodes issue these; `lightning-invoice`
/// refuses them). Its signature, its single payment hash, payment secret and
/// description, and its amount are still checked; an invoice with feature
/// bits that are invalid (an unknown required feature, say) is refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Invoice {
    signed: SignedRawBolt11Invoice,
    payment_hash: PaymentHash,
    amount_msat: Option<u64>,
    created_at: u64,
    expiry_secs: u64,
    payee: PublicKey,
    currency: Currency,
    description: Option<String>,
    description_hash: Option<[u8; 32]>,
    missing_feature_bits: bool,
}

impl Invoice {
    fn from_checked(invoice: Bolt11Invoice) -> Result<Self, InvoiceError> {
        let (description, description_hash) = match invoice.description() {
            Bolt11InvoiceDescriptionRef::Direct(d) => (Some(d.to_string()), None),
            Bolt11InvoiceDescriptionRef::Hash(h) => (None, Some(h.0.to_byte_array())),
        };
        let payment_hash = PaymentHash(*AsRef::<[u8; 32]>::as_ref(invoice.payment_hash()));
        let amount_msat = invoice.amount_milli_satoshis();
        let created_at = invoice.duration_since_epoch().as_secs();
        let expiry_secs = invoice.expiry_time().as_secs();
        let currency = invoice.currency();
        let signed = invoice.into_signed_raw();
        Ok(Invoice {
            payment_hash,
            amount_msat,
            created_at,
            expiry_secs,
            payee: payee_of(signed.raw_invoice(), signed.signature())?,
            currency,
            description,
            description_hash,
            missing_feature_bits: false,
            signed,
        })
    }

    /// The lenient path: no feature field at all, everything else checked.
    fn without_feature_bits(text: &str) -> Result<Self, InvoiceError> {
        let invalid = |e: Bolt11SemanticError| InvoiceError::Invalid(e.to_string());
        let signed = SignedRawBolt11Invoice::from_str(text)
            .map_err(|e| InvoiceError::Invalid(e.to_string()))?;
        let raw = signed.raw_invoice();
        if raw.features().is_some() {
            return Err(invalid(Bolt11SemanticError::InvalidFeatures));
        }
        if !signed.check_signature() {
            return Err(invalid(Bolt11SemanticError::InvalidSignature));
        }
        let (mut hashes, mut secrets, mut descriptions) = (0, 0, 0);
        for field in raw.known_tagged_fields() {
            match field {
                TaggedField::PaymentHash(_) => hashes += 1,
                TaggedField::PaymentSecret(_) => secrets += 1,
                TaggedField::Description(_) | TaggedField::DescriptionHash(_) => descriptions += 1,
                _ => {}
            }
        }
        match (hashes, secrets, descriptions) {
            (0, _, _) => return Err(invalid(Bolt11SemanticError::NoPaymentHash)),
            (2.., _, _) => return Err(invalid(Bolt11SemanticError::MultiplePaymentHashes)),
            (_, 0, _) => return Err(invalid(Bolt11SemanticError::NoPaymentSecret)),
            (_, 2.., _) => return Err(invalid(Bolt11SemanticError::MultiplePaymentSecrets)),
            (_, _, 0) => return Err(invalid(Bolt11SemanticError::NoDescription)),
            (_, _, 2..) => return Err(invalid(Bolt11SemanticError::MultipleDescriptions)),
            _ => {}
        }
        let amount_msat = match raw.amount_pico_btc() {
            None => None,
            Some(pico) if pico % 10 == 0 => Some(pico / 10),
            Some(_) => return Err(invalid(Bolt11SemanticError::ImpreciseAmount)),
        };
        let payee = payee_of(raw, signed.signature())?;
        let payment_hash = raw
            .payment_hash()
            .map(|h| PaymentHash(*AsRef::<[u8; 32]>::as_ref(&h.0)))
            .ok_or_else(|| invalid(Bolt11SemanticError::NoPaymentHash))?;
        Ok(Invoice {
            payment_hash,
            amount_msat,
            created_at: raw.data.timestamp.as_unix_timestamp(),
            expiry_secs: raw
                .expiry_time()
                .map_or(DEFAULT_EXPIRY_TIME, |e| e.as_seconds()),
            payee,
            currency: raw.currency(),
            description: raw.description().map(|d| d.to_string()),
            description_hash: raw.description_hash().map(|h| h.0.to_byte_array()),
            missing_feature_bits: true,
            signed: signed.clone(),
        })
    }

    /// The payment hash.
    pub fn payment_hash(&self) -> PaymentHash {
        self.payment_hash
    }

    /// The amount in millisatoshis, if the invoice has one.
    pub fn amount_msat(&self) -> Option<u64> {
        self.amount_msat
    }

    /// The amount in whole sats, rounded up, if the invoice has one.
    pub fn amount_sats(&self) -> Option<u64> {
        self.amount_msat.map(|m| m.div_ceil(1000))
    }

    /// The currency (network) of the invoice.
    pub fn currency(&self) -> Currency {
        self.currency.clone()
    }

    /// The node key the invoice is payable to.
    pub fn payee(&self) -> PublicKey {
        self.payee
    }

    /// When the invoice was created, in unix seconds.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// When the invoice expires, in unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.created_at.saturating_add(self.expiry_secs)
    }

    /// The description, if it is a plain one (not a hash).
    pub fn description(&self) -> Option<String> {
        self.description.clone()
    }

    /// The description hash (BOLT11 `h`), if the invoice commits to its
    /// description by hash (LNURL-pay invoices: `sha256(metadata)`).
    pub fn description_hash(&self) -> Option<[u8; 32]> {
        self.description_hash
    }

    /// Whether the invoice was accepted without a feature field (see the
    /// type's documentation).
    pub fn missing_feature_bits(&self) -> bool {
        self.missing_feature_bits
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

    /// Parses and checks the signature (refusing invoices with a bad or
    /// unrecoverable signature, unknown required features, or no payment
    /// secret). Surrounding whitespace and a `lightning:` prefix are removed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_INVOICE_LEN {
            return Err(InvoiceError::TooLong(s.len()));
        }
        let s = s.trim();
        let s = s
            .get(..10)
            .filter(|p| p.eq_ignore_ascii_case("lightning:"))
            .map_or(s, |_| &s[10..]);
        match Bolt11Invoice::from_str(s) {
            // `from_str` has checked the signature (`Bolt11Invoice::from_signed`).
            Ok(invoice) => Invoice::from_checked(invoice),
            Err(ParseOrSemanticError::SemanticError(Bolt11SemanticError::InvalidFeatures)) => {
                Invoice::without_feature_bits(s)
            }
            Err(e) => Err(InvoiceError::Invalid(e.to_string())),
        }
    }
}

impl fmt::Display for Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.signed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{Hash, sha256};
    use bitcoin::secp256k1::{Secp256k1, SecretKey};
    use lightning_invoice::{InvoiceBuilder, PaymentSecret, RawTaggedField};

    /// An invoice as LNbits' FakeWallet writes it: a payment secret and no
    /// feature field. `keep` filters the tagged fields; `signer` signs.
    fn fakewallet_invoice(
        keep: impl Fn(&TaggedField) -> bool,
        signer: [u8; 32],
        payee: Option<[u8; 32]>,
    ) -> String {
        let secp = Secp256k1::new();
        let mut builder = InvoiceBuilder::new(Currency::Regtest)
            .description("fake".into())
            .payment_hash(sha256::Hash::from_byte_array([3; 32]))
            .payment_secret(PaymentSecret([4; 32]))
            .amount_milli_satoshis(21_000)
            .timestamp(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
            .min_final_cltv_expiry_delta(18);
        if let Some(p) = payee {
            let key = SecretKey::from_slice(&p).unwrap();
            builder = builder.payee_pub_key(PublicKey::from_secret_key(&secp, &key));
        }
        let mut raw = builder.build_raw().unwrap();
        raw.data.tagged_fields.retain(|f| match f {
            RawTaggedField::KnownSemantics(TaggedField::Features(_)) => false,
            RawTaggedField::KnownSemantics(t) => keep(t),
            RawTaggedField::UnknownSemantics(_) => true,
        });
        let key = SecretKey::from_slice(&signer).unwrap();
        raw.sign::<_, ()>(|m| Ok(secp.sign_ecdsa_recoverable(m, &key)))
            .unwrap()
            .to_string()
    }

    #[test]
    fn invoices_without_feature_bits_are_accepted_with_everything_else_checked() {
        let text = fakewallet_invoice(|_| true, [1; 32], None);
        assert!(
            Bolt11Invoice::from_str(&text).is_err(),
            "lightning-invoice alone refuses it"
        );
        let invoice: Invoice = text.parse().unwrap();
        assert!(invoice.missing_feature_bits());
        assert_eq!(invoice.payment_hash(), PaymentHash([3; 32]));
        assert_eq!(invoice.amount_msat(), Some(21_000));
        assert_eq!(invoice.created_at(), 1_800_000_000);
        assert_eq!(invoice.expires_at(), 1_800_000_000 + DEFAULT_EXPIRY_TIME);
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[1; 32]).unwrap();
        assert_eq!(invoice.payee(), PublicKey::from_secret_key(&secp, &key));
        assert_eq!(invoice.to_string(), text);
        assert_eq!(invoice.description().as_deref(), Some("fake"));
    }

    #[test]
    fn a_description_hash_is_read_and_a_plain_description_has_none() {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[1; 32]).unwrap();
        let text = InvoiceBuilder::new(Currency::Regtest)
            .description_hash(sha256::Hash::from_byte_array([9; 32]))
            .payment_hash(sha256::Hash::from_byte_array([3; 32]))
            .payment_secret(PaymentSecret([4; 32]))
            .amount_milli_satoshis(21_000)
            .current_timestamp()
            .min_final_cltv_expiry_delta(18)
            .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
            .unwrap()
            .to_string();
        let invoice: Invoice = text.parse().unwrap();
        assert_eq!(invoice.description_hash(), Some([9; 32]));
        assert_eq!(invoice.description(), None);
        let plain: Invoice = fakewallet_invoice(|_| true, [1; 32], None).parse().unwrap();
        assert_eq!(plain.description_hash(), None);
    }

    #[test]
    fn the_leniency_still_refuses_bad_signatures_and_missing_fields() {
        // Signed by another key than the payee it names.
        let forged = fakewallet_invoice(|_| true, [1; 32], Some([2; 32]));
        assert!(matches!(
            forged.parse::<Invoice>(),
            Err(InvoiceError::Invalid(_))
        ));
        let no_secret = fakewallet_invoice(
            |f| !matches!(f, TaggedField::PaymentSecret(_)),
            [1; 32],
            None,
        );
        assert!(
            matches!(no_secret.parse::<Invoice>(), Err(InvoiceError::Invalid(r)) if r.contains("payment secret"))
        );
        let no_hash =
            fakewallet_invoice(|f| !matches!(f, TaggedField::PaymentHash(_)), [1; 32], None);
        assert!(no_hash.parse::<Invoice>().is_err());
    }
}
