//! The payment journal, which is also the budget ledger.
//!
//! Every payment is journaled **before** it is sent (state `pending`, with the
//! macaroon, invoice and scope), in the same atomic step that checks and
//! reserves budget; it is resolved **after** (`paid` with the preimage, or
//! `failed`, which releases the reservation). A client that crashes between
//! paying and storing its token finds the `pending` entry on its next run and
//! asks the wallet what became of the payment instead of paying again.

use std::fmt;

use l402::{PaymentHash, Preimage};

use crate::budget::{Budget, BudgetExceeded, Spent};
use crate::fiat::{EnvelopeCharge, EnvelopeError};
use crate::store::StoreError;

/// Where a journaled payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Journaled; the wallet may or may not have paid. Counts against budgets.
    Pending,
    /// Paid; the preimage is recorded.
    Paid,
    /// Not paid; the reservation is released.
    Failed,
}

impl PaymentState {
    /// The name stored in SQLite.
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Paid => "paid",
            PaymentState::Failed => "failed",
        }
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PaymentState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(PaymentState::Pending),
            "paid" => Ok(PaymentState::Paid),
            "failed" => Ok(PaymentState::Failed),
            other => Err(StoreError::Corrupt(format!("payment state {other:?}"))),
        }
    }
}

/// One journaled payment.
#[derive(Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// The invoice's (and macaroon's) payment hash: the key.
    pub payment_hash: PaymentHash,
    /// The scope the token is for.
    pub scope: String,
    /// The domain budgets count it against.
    pub domain: String,
    /// The URL that was requested.
    pub url: String,
    /// The macaroon, as sent by the server.
    pub macaroon: String,
    /// The BOLT11 invoice.
    pub bolt11: String,
    /// The invoice amount.
    pub amount_msat: u64,
    /// Routing fee reserved against budgets while pending.
    pub fee_reserve_msat: u64,
    /// Where it stands.
    pub state: PaymentState,
    /// The preimage, once paid.
    pub preimage: Option<Preimage>,
    /// The fee actually paid, once paid.
    pub fee_msat: Option<u64>,
    /// The fiat value, when a fiat envelope applies.
    pub fiat_minor: Option<u64>,
    /// The fiat currency.
    pub fiat_currency: Option<String>,
    /// The envelope charged.
    pub envelope_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was journaled (unix seconds).
    pub created_at: u64,
    /// When it was resolved.
    pub resolved_at: Option<u64>,
    /// Who is paying it (process id and a random nonce), while pending.
    pub owner: Option<String>,
    /// Until when (unix milliseconds) no one but the owner may release or
    /// take it over; the owner renews it while paying.
    pub lease_until_ms: Option<u64>,
}

impl fmt::Debug for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalEntry")
            .field("payment_hash", &self.payment_hash)
            .field("scope", &self.scope)
            .field("amount_msat", &self.amount_msat)
            .field("state", &self.state)
            .field("fee_msat", &self.fee_msat)
            .field("fiat_minor", &self.fiat_minor)
            .field("created_at", &self.created_at)
            .field("owner", &self.owner)
            .field("lease_until_ms", &self.lease_until_ms)
            .finish_non_exhaustive()
    }
}

impl JournalEntry {
    /// Whether its owner's lease is still running at `now_ms` (then only the
    /// owner may resolve it).
    pub fn lease_live(&self, now_ms: u64) -> bool {
        self.state == PaymentState::Pending && self.lease_until_ms.is_some_and(|t| t > now_ms)
    }

    /// What it counts against budgets, in msat.
    pub fn cost_msat(&self) -> u64 {
        match self.state {
            PaymentState::Pending => self.amount_msat.saturating_add(self.fee_reserve_msat),
            PaymentState::Paid => self.amount_msat.saturating_add(self.fee_msat.unwrap_or(0)),
            PaymentState::Failed => 0,
        }
    }
}

/// The outcome of [`Ledger::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Journaled as pending: go ahead and pay.
    New,
    /// This payment hash is already journaled: do **not** pay it again.
    Existing(Box<JournalEntry>),
    /// Another payment for the same scope is pending (another process is
    /// paying for it): wait for its token instead of paying too.
    InFlight(Box<JournalEntry>),
}

/// Reserving failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// A sats budget would be exceeded.
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),
    /// The fiat envelope refuses it.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The ledger failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// The journal and budget ledger.
///
/// ```
/// use l402_client::{Budget, Ledger, MemoryLedger, PaymentState};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ledger = MemoryLedger::new();
/// assert!(ledger.pending().await.unwrap().is_empty());
/// assert_eq!(ledger.spent("example.com").await.unwrap().total_msat, 0);
/// # let _ = (Budget::new(), PaymentState::Paid);
/// # }
/// ```
#[async_trait::async_trait]
pub trait Ledger: Send + Sync {
    /// Atomically: if `entry.payment_hash` is journaled already and did not
    /// fail, returns it ([`Reserved::Existing`]); if another payment for `entry.scope` is
    /// pending, returns that ([`Reserved::InFlight`]); otherwise checks `budget` (and the fiat
    /// `charge`, if any) against what is spent and journals `entry` as
    /// pending.
    ///
    /// # Errors
    /// [`LedgerError`] if a limit would be exceeded or the ledger fails.
    async fn reserve(
        &self,
        entry: &JournalEntry,
        budget: &Budget,
        charge: Option<&EnvelopeCharge>,
    ) -> Result<Reserved, LedgerError>;

    /// Records that the payment succeeded.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn settle(
        &self,
        payment_hash: &PaymentHash,
        preimage: &Preimage,
        fee_msat: u64,
    ) -> Result<(), StoreError>;

    /// Records that the payment did not happen, releasing its reservation.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn release(&self, payment_hash: &PaymentHash, reason: &str) -> Result<(), StoreError>;

    /// Extends the lease of a pending entry `owner` holds to `until_ms`
    /// (unix milliseconds); a time in the past ends it. Returns whether the
    /// entry is still pending and held by `owner`: if not, the owner must
    /// not pay. The default does nothing and returns `true` (for ledgers
    /// used by one process only).
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn renew_lease(
        &self,
        payment_hash: &PaymentHash,
        owner: &str,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let _ = (payment_hash, owner, until_ms);
        Ok(true)
    }

    /// Releases a pending entry held by someone else, atomically, only if
    /// its lease has expired at `now_ms`; the caller has looked the payment
    /// up in the wallet first. Returns whether it was released. The default
    /// reads the entry, then releases (not atomic: override it).
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn release_stale(
        &self,
        payment_hash: &PaymentHash,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        match self.entry(payment_hash).await? {
            Some(e) if e.state == PaymentState::Pending && !e.lease_live(now_ms) => {
                self.release(payment_hash, reason).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The entry for a payment hash.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn entry(&self, payment_hash: &PaymentHash) -> Result<Option<JournalEntry>, StoreError>;

    /// Every pending entry, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn pending(&self) -> Result<Vec<JournalEntry>, StoreError>;

    /// The paid entries, most recently resolved first, at most `limit`
    /// (receipts: never sent anywhere by the client). The default has none;
    /// the memory and SQLite ledgers override it.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn paid(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let _ = limit;
        Ok(Vec::new())
    }

    /// The pending entries for one scope, oldest first. The default filters
    /// [`pending`](Self::pending); stores override it with an indexed query.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn pending_for(&self, scope: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let mut pending = self.pending().await?;
        pending.retain(|e| e.scope == scope);
        Ok(pending)
    }

    /// What counts against budgets now, with `domain` for the per-domain sum.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn spent(&self, domain: &str) -> Result<Spent, StoreError>;

    /// The payee node key `origin` was first paid to, if pinned.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn pinned_payee(&self, origin: &str) -> Result<Option<String>, StoreError>;

    /// Pins `payee` for `origin` unless one is pinned already.
    ///
    /// # Errors
    /// [`StoreError`] if the ledger fails.
    async fn pin_payee(&self, origin: &str, payee: &str) -> Result<(), StoreError>;
}

/// When an envelope expires, given when it was first used.
pub(crate) fn envelope_expiry(charge: &EnvelopeCharge, first_used: u64) -> Option<u64> {
    charge
        .envelope
        .ttl
        .map(|ttl| first_used.saturating_add(ttl.as_secs()))
}

pub use crate::memory::MemoryLedger;
