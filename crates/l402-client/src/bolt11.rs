//! Decoding the challenge's invoice: l402's strict decoder first; for invoices
//! that carry a payment secret but no feature bits (LNbits' FakeWallet and
//! some older nodes issue these, and lightning-invoice rejects them),
//! `l402_lightning::decode_invoice`, which still checks the signature, the
//! payment hash, the payment secret and the amount. The same requirements
//! apply to both.

use std::str::FromStr;
use std::time::UNIX_EPOCH;

use l402::PaymentHash;
use l402::invoice::{Currency, Invoice, InvoiceError, InvoiceRequirements};
use l402_lightning::{DecodedInvoice, decode_invoice};

/// A fully decoded, signature-checked invoice.
pub(crate) enum Bolt11 {
    Strict(Box<Invoice>),
    NoFeatureBits(DecodedInvoice),
}

/// What the checks require.
pub(crate) struct Requirements {
    pub payment_hash: PaymentHash,
    pub max_amount_msat: u64,
    pub allow_amountless: bool,
    pub not_expired_at: u64,
    pub network: Option<Currency>,
}

impl Bolt11 {
    pub(crate) fn decode(text: &str) -> Result<Bolt11, InvoiceError> {
        match Invoice::from_str(text) {
            Ok(invoice) => Ok(Bolt11::Strict(Box::new(invoice))),
            Err(InvoiceError::TooLong(n)) => Err(InvoiceError::TooLong(n)),
            Err(strict) => decode_invoice(text)
                .map(Bolt11::NoFeatureBits)
                .map_err(|_| strict),
        }
    }

    pub(crate) fn amount_msat(&self) -> Option<u64> {
        match self {
            Bolt11::Strict(i) => i.amount_msat(),
            Bolt11::NoFeatureBits(d) => d.amount_msat,
        }
    }

    pub(crate) fn expires_at(&self) -> u64 {
        match self {
            Bolt11::Strict(i) => i.expires_at(),
            Bolt11::NoFeatureBits(d) => d
                .expires_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub(crate) fn payee(&self) -> String {
        match self {
            Bolt11::Strict(i) => i.payee().to_string(),
            Bolt11::NoFeatureBits(d) => d.payee.clone(),
        }
    }

    pub(crate) fn description(&self) -> Option<String> {
        match self {
            Bolt11::Strict(i) => i.description(),
            Bolt11::NoFeatureBits(_) => None,
        }
    }

    pub(crate) fn currency(&self) -> Currency {
        match self {
            Bolt11::Strict(i) => i.currency(),
            Bolt11::NoFeatureBits(d) => d.currency.clone(),
        }
    }

    pub(crate) fn check(&self, r: &Requirements) -> Result<(), InvoiceError> {
        match self {
            Bolt11::Strict(invoice) => {
                let mut reqs = InvoiceRequirements::new()
                    .payment_hash(r.payment_hash)
                    .max_amount_msat(r.max_amount_msat)
                    .allow_amountless(r.allow_amountless)
                    .at_unix_secs(r.not_expired_at);
                if let Some(network) = &r.network {
                    reqs = reqs.network(network.clone());
                }
                invoice.check(&reqs)
            }
            Bolt11::NoFeatureBits(d) => {
                // The same checks, in the same order, as Invoice::check.
                if let Some(expected) = &r.network
                    && d.currency != *expected
                {
                    return Err(InvoiceError::WrongNetwork {
                        expected: expected.clone(),
                        found: d.currency.clone(),
                    });
                }
                if d.payment_hash != r.payment_hash {
                    return Err(InvoiceError::PaymentHashMismatch {
                        invoice: d.payment_hash,
                        macaroon: r.payment_hash,
                    });
                }
                match d.amount_msat {
                    None if !r.allow_amountless => return Err(InvoiceError::Amountless),
                    Some(0) => return Err(InvoiceError::ZeroAmount),
                    Some(amount_msat) if amount_msat > r.max_amount_msat => {
                        return Err(InvoiceError::OverLimit {
                            amount_msat,
                            limit_msat: r.max_amount_msat,
                        });
                    }
                    _ => {}
                }
                if r.not_expired_at >= self.expires_at() {
                    return Err(InvoiceError::Expired {
                        expired_at: self.expires_at(),
                    });
                }
                Ok(())
            }
        }
    }
}
