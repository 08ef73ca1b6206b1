//! The payment journal, which is also the budget ledger.
//!
//! Every payment is journaled **before** it is sent (state `pending`, with the
//! macaroon, invoice and scope), in the same atomic step that checks and
//! reserves budget; it is resolved **after** (`paid` with the preimage, or
//! `failed`, which releases the reservation). A client that crashes between
//! paying and storing its token finds the `pending` entry on its next run and
//! asks the wallet what became of the payment instead of paying again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use l402::{PaymentHash, Preimage};

use crate::budget::{Budget, BudgetExceeded, Spent};
use crate::fiat::{EnvelopeCharge, EnvelopeError, check_envelope};
use crate::store::{StoreError, lock_poisoned};
use crate::unix_now;

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
            other => Err(StoreError(format!("unknown payment state {other:?}"))),
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
            .finish_non_exhaustive()
    }
}

impl JournalEntry {
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

pub(crate) fn spent_of<'a>(
    entries: impl Iterator<Item = &'a JournalEntry>,
    domain: &str,
    now: u64,
) -> Spent {
    let mut spent = Spent::default();
    for e in entries {
        let cost = e.cost_msat();
        if cost == 0 {
            continue;
        }
        spent.total_msat = spent.total_msat.saturating_add(cost);
        if e.created_at > now.saturating_sub(86_400) {
            spent.day_msat = spent.day_msat.saturating_add(cost);
        }
        if e.created_at > now.saturating_sub(3_600) {
            spent.hour_msat = spent.hour_msat.saturating_add(cost);
        }
        if e.domain.eq_ignore_ascii_case(domain) {
            spent.domain_msat = spent.domain_msat.saturating_add(cost);
        }
    }
    spent
}

/// When an envelope expires, given when it was first used.
pub(crate) fn envelope_expiry(charge: &EnvelopeCharge, first_used: u64) -> Option<u64> {
    charge
        .envelope
        .ttl
        .map(|ttl| first_used.saturating_add(ttl.as_secs()))
}

#[derive(Default)]
struct MemoryInner {
    entries: HashMap<PaymentHash, JournalEntry>,
    /// id -> (currency, first used, expires at)
    envelopes: HashMap<String, (String, u64, Option<u64>)>,
    payees: HashMap<String, String>,
}

/// A ledger in memory, lost when dropped (budgets then restart at zero, and
/// nothing is recovered after a crash: use [`SqliteStore`](crate::SqliteStore)
/// for that).
#[derive(Default)]
pub struct MemoryLedger {
    inner: Mutex<MemoryInner>,
}

impl fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLedger").finish_non_exhaustive()
    }
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        MemoryLedger::default()
    }
}

#[async_trait::async_trait]
impl Ledger for MemoryLedger {
    async fn reserve(
        &self,
        entry: &JournalEntry,
        budget: &Budget,
        charge: Option<&EnvelopeCharge>,
    ) -> Result<Reserved, LedgerError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        if let Some(existing) = inner.entries.get(&entry.payment_hash)
            && existing.state != PaymentState::Failed
        {
            return Ok(Reserved::Existing(Box::new(existing.clone())));
        }
        if let Some(other) = inner
            .entries
            .values()
            .find(|e| e.state == PaymentState::Pending && e.scope == entry.scope)
        {
            return Ok(Reserved::InFlight(Box::new(other.clone())));
        }
        let now = unix_now();
        let spent = spent_of(inner.entries.values(), &entry.domain, now);
        budget.check(
            &entry.domain,
            entry.amount_msat,
            entry.fee_reserve_msat,
            &spent,
        )?;
        if let Some(charge) = charge {
            let id = &charge.envelope.id;
            let (currency, _, expires_at) = inner.envelopes.get(id).cloned().unwrap_or_else(|| {
                (
                    charge.envelope.currency.clone(),
                    now,
                    envelope_expiry(charge, now),
                )
            });
            let spent_minor = inner
                .entries
                .values()
                .filter(|e| e.state != PaymentState::Failed && e.envelope_id.as_ref() == Some(id))
                .map(|e| e.fiat_minor.unwrap_or(0))
                .fold(0u64, u64::saturating_add);
            check_envelope(charge, spent_minor, expires_at, &currency, now)?;
            inner
                .envelopes
                .entry(id.clone())
                .or_insert((currency, now, expires_at));
        }
        let mut stored = entry.clone();
        stored.state = PaymentState::Pending;
        stored.created_at = now;
        inner.entries.insert(entry.payment_hash, stored);
        Ok(Reserved::New)
    }

    async fn settle(
        &self,
        payment_hash: &PaymentHash,
        preimage: &Preimage,
        fee_msat: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        let entry = inner
            .entries
            .get_mut(payment_hash)
            .ok_or_else(|| StoreError(format!("no journal entry for {payment_hash}")))?;
        entry.state = PaymentState::Paid;
        entry.preimage = Some(preimage.clone());
        entry.fee_msat = Some(fee_msat);
        entry.resolved_at = Some(unix_now());
        Ok(())
    }

    async fn release(&self, payment_hash: &PaymentHash, reason: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        if let Some(entry) = inner.entries.get_mut(payment_hash)
            && entry.state == PaymentState::Pending
        {
            entry.state = PaymentState::Failed;
            entry.error = Some(reason.to_string());
            entry.resolved_at = Some(unix_now());
        }
        Ok(())
    }

    async fn entry(&self, payment_hash: &PaymentHash) -> Result<Option<JournalEntry>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(lock_poisoned)?
            .entries
            .get(payment_hash)
            .cloned())
    }

    async fn pending(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        let mut pending: Vec<_> = inner
            .entries
            .values()
            .filter(|e| e.state == PaymentState::Pending)
            .cloned()
            .collect();
        pending.sort_by_key(|e| e.created_at);
        Ok(pending)
    }

    async fn spent(&self, domain: &str) -> Result<Spent, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        Ok(spent_of(inner.entries.values(), domain, unix_now()))
    }

    async fn pinned_payee(&self, origin: &str) -> Result<Option<String>, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        Ok(inner.payees.get(origin).cloned())
    }

    async fn pin_payee(&self, origin: &str, payee: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        inner
            .payees
            .entry(origin.to_string())
            .or_insert_with(|| payee.to_string());
        Ok(())
    }
}
