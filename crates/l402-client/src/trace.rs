//! Receipts and traces: every attempt, recorded.
//!
//! With [`SqliteStore`](crate::SqliteStore) traces live in the `traces` table
//! and can be queried with plain SQL:
//!
//! ```sql
//! SELECT url, amount_msat / 1000 AS sats, fee_msat, payment_hash, preimage,
//!        latency_ms, outcome, fiat_minor, fiat_currency, price_source, token_kind
//!   FROM traces WHERE outcome = 'paid' ORDER BY id DESC;
//! ```
//!
//! `token_kind = 'opaque'` marks a token that could not be checked against
//! the payment hash (l402kit, Alby); the invoice was checked in full.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use crate::challenge::TokenKind;
use crate::fiat::FiatValue;
use crate::receipt::Receipt;
use crate::response::RefusedToken;
use crate::store::{StoreError, StoredToken, lock_poisoned};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Answered without payment being asked for.
    Free,
    /// Answered with a stored token; nothing paid.
    Cached,
    /// Paid, and the server accepted the credential.
    Paid,
    /// Answered with a token recovered from an earlier, interrupted payment.
    Recovered,
    /// A price was shown; auto-pay is off.
    Quoted,
    /// Every check passed; the payment was not made (dry run).
    DryRun,
    /// Refused before paying (limits, invoice checks, policy).
    Refused,
    /// The server's challenge could not be used.
    BadChallenge,
    /// The wallet failed to pay; no money moved.
    PaymentFailed,
    /// The payment's fate is unknown; money may have moved.
    PaymentUnknown,
    /// Paid, but the server still refused the credential.
    ServerRefused,
    /// Paid, with a routing fee over the cap.
    FeeOverrun,
    /// A network error.
    NetworkError,
    /// Another error (storage, bad request).
    Error,
}

impl Outcome {
    /// The name stored in SQLite.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Free => "free",
            Outcome::Cached => "cached",
            Outcome::Paid => "paid",
            Outcome::Recovered => "recovered",
            Outcome::Quoted => "quoted",
            Outcome::DryRun => "dry_run",
            Outcome::Refused => "refused",
            Outcome::BadChallenge => "bad_challenge",
            Outcome::PaymentFailed => "payment_failed",
            Outcome::PaymentUnknown => "payment_unknown",
            Outcome::ServerRefused => "server_refused",
            Outcome::FeeOverrun => "fee_overrun",
            Outcome::NetworkError => "network_error",
            Outcome::Error => "error",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "free" => Outcome::Free,
            "cached" => Outcome::Cached,
            "paid" => Outcome::Paid,
            "recovered" => Outcome::Recovered,
            "quoted" => Outcome::Quoted,
            "dry_run" => Outcome::DryRun,
            "refused" => Outcome::Refused,
            "bad_challenge" => Outcome::BadChallenge,
            "payment_failed" => Outcome::PaymentFailed,
            "payment_unknown" => Outcome::PaymentUnknown,
            "server_refused" => Outcome::ServerRefused,
            "fee_overrun" => Outcome::FeeOverrun,
            "network_error" => Outcome::NetworkError,
            "error" => Outcome::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request, as recorded. Its `Debug` does not print the preimage (the
/// proof of payment): it shows whether there is one.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trace {
    /// Row id (0 until stored).
    pub id: i64,
    /// When the request started, unix milliseconds.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The final HTTP status, if there was one.
    pub status: Option<u16>,
    /// The invoice amount, when a challenge was seen.
    pub amount_msat: Option<u64>,
    /// The fee paid.
    pub fee_msat: Option<u64>,
    /// The payment hash, when a challenge was seen.
    pub payment_hash: Option<String>,
    /// The preimage, once paid (hex).
    pub preimage: Option<String>,
    /// Time for the whole request, in milliseconds.
    pub latency_ms: u64,
    /// Time the wallet took to pay, in milliseconds.
    pub pay_latency_ms: Option<u64>,
    /// The fiat value, when priced.
    pub fiat_minor: Option<u64>,
    /// The fiat currency.
    pub fiat_currency: Option<String>,
    /// Where the price came from.
    pub price_source: Option<String>,
    /// The rate: minor units per BTC.
    pub btc_price_minor: Option<u64>,
    /// The error, if any (and notes: a stored token the server refused and
    /// that was dropped, say).
    pub error: Option<String>,
    /// The kind of token offered or used, when a challenge or token was
    /// seen: `opaque` means it could not be checked against the payment
    /// hash.
    pub token_kind: Option<TokenKind>,
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("id", &self.id)
            .field("at_ms", &self.at_ms)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("outcome", &self.outcome)
            .field("status", &self.status)
            .field("amount_msat", &self.amount_msat)
            .field("fee_msat", &self.fee_msat)
            .field("payment_hash", &self.payment_hash)
            .field("preimage", &self.preimage.as_ref().map(|_| ".."))
            .field("latency_ms", &self.latency_ms)
            .field("pay_latency_ms", &self.pay_latency_ms)
            .field("fiat_minor", &self.fiat_minor)
            .field("fiat_currency", &self.fiat_currency)
            .field("price_source", &self.price_source)
            .field("btc_price_minor", &self.btc_price_minor)
            .field("error", &self.error)
            .field("token_kind", &self.token_kind)
            .finish()
    }
}

/// Where traces go.
///
/// ```
/// use l402_client::{MemoryTraceSink, TraceSink};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = MemoryTraceSink::new(100);
/// assert!(sink.recent(10).await.unwrap().is_empty());
/// # }
/// ```
#[async_trait::async_trait]
pub trait TraceSink: Send + Sync {
    /// Records a trace.
    ///
    /// # Errors
    /// [`StoreError`] if the sink fails.
    async fn record(&self, trace: &Trace) -> Result<(), StoreError>;

    /// The most recent traces, newest first.
    ///
    /// # Errors
    /// [`StoreError`] if the sink fails.
    async fn recent(&self, limit: usize) -> Result<Vec<Trace>, StoreError>;
}

/// The last `capacity` traces, in memory.
#[derive(Debug)]
pub struct MemoryTraceSink {
    capacity: usize,
    traces: Mutex<(i64, VecDeque<Trace>)>,
}

impl MemoryTraceSink {
    /// Keeps at most `capacity` traces.
    pub fn new(capacity: usize) -> Self {
        MemoryTraceSink {
            capacity,
            traces: Mutex::new((0, VecDeque::new())),
        }
    }
}

impl Default for MemoryTraceSink {
    fn default() -> Self {
        MemoryTraceSink::new(1000)
    }
}

#[async_trait::async_trait]
impl TraceSink for MemoryTraceSink {
    async fn record(&self, trace: &Trace) -> Result<(), StoreError> {
        let mut guard = self.traces.lock().map_err(lock_poisoned)?;
        let (next, traces) = &mut *guard;
        *next += 1;
        let mut trace = trace.clone();
        trace.id = *next;
        traces.push_front(trace);
        traces.truncate(self.capacity);
        Ok(())
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Trace>, StoreError> {
        let guard = self.traces.lock().map_err(lock_poisoned)?;
        Ok(guard.1.iter().take(limit).cloned().collect())
    }
}

/// What the trace of a request records, filled in along the way.
#[derive(Default)]
pub(crate) struct Draft {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) status: Option<u16>,
    pub(crate) amount_msat: Option<u64>,
    pub(crate) fee_msat: Option<u64>,
    pub(crate) payment_hash: Option<String>,
    pub(crate) preimage: Option<String>,
    pub(crate) pay_latency_ms: Option<u64>,
    pub(crate) fiat: Option<FiatValue>,
    pub(crate) token_kind: Option<TokenKind>,
    pub(crate) refused_token: Option<RefusedToken>,
    pub(crate) notes: Vec<String>,
}

impl Draft {
    /// Records a stored token the server refused (it was dropped).
    pub(crate) fn refused(&mut self, token: &StoredToken, status: u16) {
        self.notes.push(format!(
            "the stored {} token {} was refused with HTTP {status} and dropped",
            token.kind, token.payment_hash
        ));
        self.refused_token = Some(RefusedToken {
            status,
            payment_hash: token.payment_hash,
            kind: token.kind,
        });
    }

    /// Records a payment made or recovered.
    pub(crate) fn receipt(&mut self, receipt: &Receipt) {
        self.payment_hash = Some(receipt.payment_hash.to_string());
        self.preimage = Some(receipt.preimage.to_hex());
        self.amount_msat = Some(receipt.amount_msat);
        self.fee_msat = Some(receipt.fee_msat);
        self.token_kind = Some(receipt.token_kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_debug_does_not_print_the_preimage() {
        let preimage = "ab".repeat(32);
        let trace = Trace {
            id: 1,
            at_ms: 2,
            method: "GET".into(),
            url: "http://127.0.0.1/x".into(),
            outcome: Outcome::Paid,
            status: Some(200),
            amount_msat: Some(1000),
            fee_msat: Some(0),
            payment_hash: Some("cd".repeat(32)),
            preimage: Some(preimage.clone()),
            latency_ms: 3,
            pay_latency_ms: Some(1),
            fiat_minor: None,
            fiat_currency: None,
            price_source: None,
            btc_price_minor: None,
            error: None,
            token_kind: None,
        };
        let debug = format!("{trace:?} {trace:#?}");
        assert!(!debug.contains(&preimage), "{debug}");
        assert!(debug.contains(&"cd".repeat(32)));
        assert!(debug.contains("preimage: Some(\"..\")"), "{debug}");
    }
}
