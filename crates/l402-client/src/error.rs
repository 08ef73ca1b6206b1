//! What went wrong, and whether money moved.

use std::fmt;

use l402::{ChallengeError, IdentifierError, InvoiceError, MacaroonError, PaymentHash};
use l402_lightning::PayError;

use crate::budget::BudgetExceeded;
use crate::fiat::{EnvelopeError, PriceError};
use crate::receipt::Receipt;
use crate::store::StoreError;

/// Whether money left the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyMoved {
    /// No: nothing was paid.
    No,
    /// Yes: the invoice was paid (the receipt has the preimage).
    Yes,
    /// Unknown: the wallet did not say; the journal keeps the payment
    /// pending and a later request recovers it.
    Unknown,
}

impl fmt::Display for MoneyMoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyMoved::No => "no money moved",
            MoneyMoved::Yes => "money moved",
            MoneyMoved::Unknown => "money may have moved",
        })
    }
}

/// Why the client refused to pay. Nothing was paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The invoice failed a check: amountless, zero, over the maximum per
    /// payment, expired, wrong network, bad signature, other payee, or a
    /// payment hash different from the macaroon's.
    #[error("invoice refused")]
    Invoice(#[from] InvoiceError),
    /// A sats budget would be exceeded.
    #[error("over budget")]
    Budget(#[from] BudgetExceeded),
    /// The fiat envelope refuses it.
    #[error("the fiat envelope refuses it")]
    Envelope(#[from] EnvelopeError),
    /// A fiat envelope is set but no price is available.
    #[error("no BTC price, so the fiat envelope cannot be checked")]
    NoPrice(#[from] PriceError),
    /// The origin was first paid to another node (payee pinning).
    #[error("{origin} was paid to node {pinned} before, and now asks to be paid to {found}")]
    PayeeChanged {
        /// The origin.
        origin: String,
        /// The node key pinned on first payment.
        pinned: String,
        /// The node key of this invoice.
        found: String,
    },
    /// No wallet is configured.
    #[error("no wallet configured")]
    NoWallet,
    /// A 402 reached through a redirect to another origin than the one
    /// requested: the client pays only the origin it was asked to fetch.
    #[error("{to} asks for payment after a redirect from {from}; not paying another origin")]
    CrossOriginRedirect {
        /// The URL requested.
        from: String,
        /// The URL that answered 402.
        to: String,
    },
    /// The caller-supplied reqwest client followed a redirect on its own, so
    /// scope, budgets and payee pinning could not follow it. Build it with
    /// `reqwest::redirect::Policy::none()`; the paying client follows
    /// redirects itself ([`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects)).
    #[error("the HTTP client followed a redirect from {requested} to {reached} on its own")]
    RedirectedByHttpClient {
        /// The URL requested.
        requested: String,
        /// The URL it reached.
        reached: String,
    },
    /// This invoice was attempted before and failed; it is not retried.
    #[error("invoice {0} was attempted before and failed; not paying it again")]
    AlreadyAttempted(PaymentHash),
    /// The server's token is not an L402 macaroon, so it cannot be checked
    /// against the invoice's payment hash, and
    /// [`ClientBuilder::require_macaroon`](crate::ClientBuilder::require_macaroon)
    /// is on.
    #[error(
        "the server's token is not an L402 macaroon, so it cannot be checked against the \
         invoice's payment hash (macaroons are required)"
    )]
    OpaqueToken,
}

impl Refusal {
    /// Whether the refusal is about a limit (amount over the maximum, a
    /// budget, the fiat envelope's cap), rather than about the invoice or
    /// policy.
    pub fn is_over_limit(&self) -> bool {
        matches!(
            self,
            Refusal::Invoice(InvoiceError::OverLimit { .. })
                | Refusal::Budget(_)
                | Refusal::Envelope(EnvelopeError::CapExceeded { .. })
        )
    }
}

/// Why the server's 402 could not be acted on. Nothing was paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeProblem {
    /// No usable L402 challenge in `WWW-Authenticate` nor in the JSON body.
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    /// The macaroon does not decode. No longer returned: a token that is
    /// not a V2 macaroon is an opaque token ([`TokenKind::Opaque`](crate::TokenKind::Opaque)).
    #[error("challenge macaroon")]
    Macaroon(#[from] MacaroonError),
    /// The macaroon identifier is not an L402 one. No longer returned: such a
    /// token is an opaque token ([`TokenKind::Opaque`](crate::TokenKind::Opaque)).
    #[error("challenge macaroon identifier")]
    Identifier(#[from] IdentifierError),
    /// The invoice does not decode (or its signature is bad).
    #[error("challenge invoice: {0}")]
    Invoice(InvoiceError),
    /// The answer is not a `402 Payment Required` (the status).
    #[error("HTTP {0} is not 402 Payment Required")]
    NotPaymentRequired(u16),
    /// The `WWW-Authenticate` challenge and the JSON body's challenge name
    /// different values (the field named): which one would be paid is
    /// unclear, so neither is.
    #[error("the JSON body's {0} differs from the WWW-Authenticate challenge's; not paying either")]
    BodyDisagrees(&'static str),
    /// The JSON body's payment hash or price is not its invoice's.
    #[error("the JSON body's {0} differs from its invoice's; not paying")]
    BodyInconsistent(&'static str),
    /// The token cannot be sent back in an `Authorization` header (why).
    #[error("the challenge token is unusable: {0}")]
    UnusableToken(&'static str),
}

/// Why a request could not be built. Nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// Not an `http(s)` URL with a host.
    #[error("invalid URL {url:?}: only http(s) URLs with a host")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it did not parse, if it did not.
        #[source]
        source: Option<<reqwest::Url as std::str::FromStr>::Err>,
    },
    /// A header name or value is invalid.
    #[error("invalid header")]
    Header(#[source] http::Error),
}

/// A request through the paying client failed.
///
/// [`FetchError::money_moved`] says whether money left the wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request could not be built (bad URL, bad header).
    #[error("invalid request")]
    InvalidRequest(#[source] InvalidRequest),
    /// The server could not be reached, or the answer not read, before any
    /// payment.
    #[error("network error before paying")]
    Network(#[source] reqwest::Error),
    /// The server answered 402 with no usable challenge.
    #[error("unusable 402 challenge")]
    BadChallenge(#[from] ChallengeProblem),
    /// The client refused to pay.
    #[error("refused to pay")]
    Refused(#[from] Refusal),
    /// The wallet tried and failed; no money moved.
    #[error("payment {payment_hash} failed ({})", MoneyMoved::No)]
    PaymentFailed {
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// What the wallet said.
        source: PayError,
    },
    /// The wallet did not say whether it paid (timeout, pending, a success
    /// without a valid preimage). The payment stays pending in the journal
    /// and is recovered, not repeated, by a later request.
    #[error(
        "payment {payment_hash} unresolved ({}): {reason}",
        MoneyMoved::Unknown
    )]
    PaymentUnknown {
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// What is known.
        reason: String,
    },
    /// Paid, but the server refused the credential (after the configured
    /// retries). Not paid again.
    #[error(
        "paid {} sats (hash {}) but the server refused the credential with HTTP {status}",
        receipt.amount_msat.div_ceil(1000), receipt.payment_hash
    )]
    ServerRefused {
        /// The server's last status.
        status: u16,
        /// The start of its body.
        body: String,
        /// The payment.
        receipt: Box<Receipt>,
    },
    /// Paid, but the routing fee was over the cap
    /// ([`ClientBuilder::max_fee_sats`](crate::ClientBuilder::max_fee_sats)).
    /// The whole fee is counted against budgets and the token is stored: the
    /// next request uses it without paying.
    #[error(
        "paid (hash {}) with a fee of {} msat, over the cap of {max_fee_msat} msat",
        receipt.payment_hash, receipt.fee_msat
    )]
    FeeOverrun {
        /// The payment, with the fee charged.
        receipt: Box<Receipt>,
        /// The cap.
        max_fee_msat: u64,
    },
    /// Paid, but the retry with the credential failed on the network. The
    /// token is stored: the next request uses it without paying.
    #[error("paid (hash {}), then a network error", receipt.payment_hash)]
    AfterPayment {
        /// The payment.
        receipt: Box<Receipt>,
        /// The network error.
        source: reqwest::Error,
    },
    /// The answer's body is larger than the client reads
    /// ([`ClientBuilder::max_body_bytes`](crate::ClientBuilder::max_body_bytes)).
    /// If it came after paying, the token is stored and the receipt given.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
        /// The payment, if one was made.
        receipt: Option<Box<Receipt>>,
    },
    /// The client's storage failed.
    #[error("client storage failed ({moved})")]
    Storage {
        /// What failed.
        source: StoreError,
        /// Whether money had moved when it failed.
        moved: MoneyMoved,
    },
}

impl FetchError {
    /// Whether money left the wallet.
    pub fn money_moved(&self) -> MoneyMoved {
        match self {
            FetchError::InvalidRequest(_)
            | FetchError::Network(_)
            | FetchError::BadChallenge(_)
            | FetchError::Refused(_)
            | FetchError::PaymentFailed { .. } => MoneyMoved::No,
            FetchError::PaymentUnknown { .. } => MoneyMoved::Unknown,
            FetchError::ServerRefused { .. }
            | FetchError::AfterPayment { .. }
            | FetchError::FeeOverrun { .. } => MoneyMoved::Yes,
            FetchError::Storage { moved, .. } => *moved,
            FetchError::BodyTooLarge { receipt, .. } => {
                if receipt.is_some() {
                    MoneyMoved::Yes
                } else {
                    MoneyMoved::No
                }
            }
        }
    }

    /// Whether the error came after a payment was made (the receipt says
    /// which): [`code`](Self::code) `network` covers both a network error
    /// before paying and one on the paid retry; this tells them apart.
    pub fn is_after_payment(&self) -> bool {
        self.receipt().is_some()
    }

    /// The receipt, when money moved.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            FetchError::ServerRefused { receipt, .. }
            | FetchError::AfterPayment { receipt, .. }
            | FetchError::FeeOverrun { receipt, .. } => Some(receipt),
            FetchError::BodyTooLarge { receipt, .. } => receipt.as_deref(),
            _ => None,
        }
    }

    /// A stable machine-readable code (`over_limit`, `refused`,
    /// `bad_challenge`, `payment_failed`, `payment_unknown`,
    /// `server_refused`, `fee_overrun`, `network`, `invalid_request`, `storage`,
    /// `body_too_large`).
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::InvalidRequest(_) => "invalid_request",
            FetchError::Network(_) | FetchError::AfterPayment { .. } => "network",
            FetchError::BadChallenge(_) => "bad_challenge",
            FetchError::Refused(r) if r.is_over_limit() => "over_limit",
            FetchError::Refused(_) => "refused",
            FetchError::PaymentFailed { .. } => "payment_failed",
            FetchError::PaymentUnknown { .. } => "payment_unknown",
            FetchError::ServerRefused { .. } => "server_refused",
            FetchError::FeeOverrun { .. } => "fee_overrun",
            FetchError::Storage { .. } => "storage",
            FetchError::BodyTooLarge { .. } => "body_too_large",
        }
    }
}

impl FetchError {
    /// The error and each of its causes, once each, joined with `": "`
    /// (what the trace records, and what a command prints): `Display`
    /// alone gives only this error's own text.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
