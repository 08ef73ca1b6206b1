//! What a server asks to be paid ([`Quote`]) and what was paid ([`Receipt`]).

use std::fmt;

use l402::{PaymentHash, Preimage, Scheme};

use crate::challenge::{ChallengeSource, TokenKind};
use crate::fiat::FiatValue;

/// What the server asks to be paid, decoded from its challenge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quote {
    /// The invoice amount, if it has one.
    pub amount_msat: Option<u64>,
    /// The invoice's payment hash (for a [`TokenKind::Macaroon`], the
    /// macaroon's too, checked before paying).
    #[serde(serialize_with = "display")]
    pub payment_hash: PaymentHash,
    /// The BOLT11 invoice.
    pub invoice: String,
    /// When the invoice expires (unix seconds).
    pub expires_at: u64,
    /// The payee node key (hex).
    pub payee: String,
    /// The invoice description.
    pub description: Option<String>,
    /// The network of the invoice (`bitcoin`, `regtest`, ...).
    pub network: String,
    /// The challenge scheme (`L402` or `LSAT`).
    #[serde(serialize_with = "display")]
    pub scheme: Scheme,
    /// The kind of token offered: whether it can be checked against the
    /// payment hash.
    pub token_kind: TokenKind,
    /// Where the challenge was read (header, JSON body, or both).
    pub source: ChallengeSource,
}

impl Quote {
    /// The amount in sats, rounded up.
    pub fn amount_sats(&self) -> Option<u64> {
        self.amount_msat.map(|m| m.div_ceil(1000))
    }
}

pub(crate) fn display<T: fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A payment made (or recovered) for a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// The payment hash.
    #[serde(serialize_with = "display")]
    pub payment_hash: PaymentHash,
    /// The preimage: the proof of payment, checked against the hash.
    #[serde(serialize_with = "display")]
    pub preimage: Preimage,
    /// The amount paid, excluding fees.
    pub amount_msat: u64,
    /// The routing fee paid.
    pub fee_msat: u64,
    /// When it was paid (unix seconds).
    pub paid_at: u64,
    /// How long the wallet took, in milliseconds.
    pub pay_latency_ms: u64,
    /// Its fiat value, when a fiat envelope applies.
    pub fiat: Option<FiatValue>,
    /// Whether it was recovered from the journal after an interruption
    /// rather than paid by this request.
    pub recovered: bool,
    /// The kind of token bought: [`TokenKind::Opaque`] means it could not be
    /// checked against the payment hash (the invoice was, fully).
    pub token_kind: TokenKind,
}
