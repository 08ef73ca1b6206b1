//! [`MemoryLedger`]: the journal and budget ledger in memory, with indexes
//! and running totals so that no call scans the whole journal (only
//! [`Ledger::pending`] walks the pending entries).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;

use l402::{PaymentHash, Preimage};

use crate::budget::{Budget, Spent};
use crate::fiat::{EnvelopeCharge, check_envelope};
use crate::ledger::{JournalEntry, Ledger, LedgerError, PaymentState, Reserved, envelope_expiry};
use crate::scope::domain_key;
use crate::store::{StoreError, lock_poisoned};
use crate::unix_now;

#[derive(Default)]
struct MemoryInner {
    entries: HashMap<PaymentHash, JournalEntry>,
    /// Entries that cost something, by creation time (rolling windows).
    by_time: BTreeSet<(u64, PaymentHash)>,
    /// Pending entries per scope, oldest first.
    pending_by_scope: HashMap<String, BTreeSet<(u64, PaymentHash)>>,
    /// What every entry costs, in total and per domain key.
    total_msat: u64,
    by_domain: HashMap<String, u64>,
    /// Fiat spent per envelope (entries that did not fail).
    envelope_minor: HashMap<String, u64>,
    /// id -> (currency, first used, expires at)
    envelopes: HashMap<String, (String, u64, Option<u64>)>,
    payees: HashMap<String, String>,
}

impl MemoryInner {
    /// Adds (`sign` true) or removes an entry's share of every index.
    fn account(&mut self, e: &JournalEntry, add: bool) {
        let cost = e.cost_msat();
        let key = (e.created_at, e.payment_hash);
        let apply = |v: &mut u64, by: u64| {
            *v = if add {
                v.saturating_add(by)
            } else {
                v.saturating_sub(by)
            }
        };
        if cost > 0 {
            apply(&mut self.total_msat, cost);
            apply(self.by_domain.entry(e.domain.clone()).or_default(), cost);
            if add {
                self.by_time.insert(key);
            } else {
                self.by_time.remove(&key);
            }
        }
        if e.state != PaymentState::Failed
            && let Some(id) = &e.envelope_id
        {
            apply(
                self.envelope_minor.entry(id.clone()).or_default(),
                e.fiat_minor.unwrap_or(0),
            );
        }
        if e.state == PaymentState::Pending {
            let pending = self.pending_by_scope.entry(e.scope.clone()).or_default();
            if add {
                pending.insert(key);
            } else {
                pending.remove(&key);
                if pending.is_empty() {
                    self.pending_by_scope.remove(&e.scope);
                }
            }
        }
    }

    fn insert(&mut self, entry: JournalEntry) {
        if let Some(old) = self.entries.remove(&entry.payment_hash) {
            self.account(&old, false);
        }
        self.account(&entry, true);
        self.entries.insert(entry.payment_hash, entry);
    }

    /// Changes an entry, keeping every index right; `false` if absent.
    fn update(&mut self, hash: &PaymentHash, change: impl FnOnce(&mut JournalEntry)) -> bool {
        let Some(mut entry) = self.entries.remove(hash) else {
            return false;
        };
        self.account(&entry, false);
        change(&mut entry);
        self.insert(entry);
        true
    }

    fn oldest_pending(&self, scope: &str) -> Option<&JournalEntry> {
        let (_, hash) = self.pending_by_scope.get(scope)?.first()?;
        self.entries.get(hash)
    }

    fn spent(&self, domain: &str, now: u64) -> Spent {
        let mut spent = Spent {
            total_msat: self.total_msat,
            domain_msat: self
                .by_domain
                .get(&domain_key(domain))
                .copied()
                .unwrap_or(0),
            ..Spent::default()
        };
        let day_start = (
            now.saturating_sub(86_400).saturating_add(1),
            PaymentHash([0; 32]),
        );
        for (created_at, hash) in self.by_time.range(day_start..) {
            let cost = self.entries.get(hash).map_or(0, JournalEntry::cost_msat);
            spent.day_msat = spent.day_msat.saturating_add(cost);
            if *created_at > now.saturating_sub(3_600) {
                spent.hour_msat = spent.hour_msat.saturating_add(cost);
            }
        }
        spent
    }
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
        if let Some(other) = inner.oldest_pending(&entry.scope) {
            return Ok(Reserved::InFlight(Box::new(other.clone())));
        }
        let now = unix_now();
        let domain = domain_key(&entry.domain);
        let spent = inner.spent(&domain, now);
        budget.check(&domain, entry.amount_msat, entry.fee_reserve_msat, &spent)?;
        if let Some(charge) = charge {
            let id = &charge.envelope.id;
            let (currency, _, expires_at) = inner.envelopes.get(id).cloned().unwrap_or_else(|| {
                (
                    charge.envelope.currency.clone(),
                    now,
                    envelope_expiry(charge, now),
                )
            });
            let spent_minor = inner.envelope_minor.get(id).copied().unwrap_or(0);
            check_envelope(charge, spent_minor, expires_at, &currency, now)?;
            inner
                .envelopes
                .entry(id.clone())
                .or_insert((currency, now, expires_at));
        }
        let mut stored = entry.clone();
        stored.domain = domain;
        stored.state = PaymentState::Pending;
        stored.created_at = now;
        inner.insert(stored);
        Ok(Reserved::New)
    }

    async fn settle(
        &self,
        payment_hash: &PaymentHash,
        preimage: &Preimage,
        fee_msat: u64,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        let found = inner.update(payment_hash, |entry| {
            entry.state = PaymentState::Paid;
            entry.preimage = Some(preimage.clone());
            entry.fee_msat = Some(fee_msat);
            entry.resolved_at = Some(unix_now());
        });
        if !found {
            return Err(StoreError::NoEntry(*payment_hash));
        }
        Ok(())
    }

    async fn release(&self, payment_hash: &PaymentHash, reason: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        if inner
            .entries
            .get(payment_hash)
            .is_some_and(|e| e.state == PaymentState::Pending)
        {
            inner.update(payment_hash, |entry| {
                entry.state = PaymentState::Failed;
                entry.error = Some(reason.to_string());
                entry.resolved_at = Some(unix_now());
            });
        }
        Ok(())
    }

    async fn renew_lease(
        &self,
        payment_hash: &PaymentHash,
        owner: &str,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        match inner.entries.get_mut(payment_hash) {
            Some(e) if e.state == PaymentState::Pending && e.owner.as_deref() == Some(owner) => {
                e.lease_until_ms = Some(until_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_stale(
        &self,
        payment_hash: &PaymentHash,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock().map_err(lock_poisoned)?;
        if !inner
            .entries
            .get(payment_hash)
            .is_some_and(|e| e.state == PaymentState::Pending && !e.lease_live(now_ms))
        {
            return Ok(false);
        }
        Ok(inner.update(payment_hash, |entry| {
            entry.state = PaymentState::Failed;
            entry.error = Some(reason.to_string());
            entry.resolved_at = Some(unix_now());
        }))
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
            .pending_by_scope
            .values()
            .flatten()
            .filter_map(|(_, hash)| inner.entries.get(hash).cloned())
            .collect();
        pending.sort_by_key(|e| e.created_at);
        Ok(pending)
    }

    async fn paid(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        let mut paid: Vec<_> = inner
            .entries
            .values()
            .filter(|e| e.state == PaymentState::Paid)
            .cloned()
            .collect();
        paid.sort_by_key(|e| std::cmp::Reverse((e.resolved_at, e.created_at)));
        paid.truncate(limit);
        Ok(paid)
    }

    async fn pending_for(&self, scope: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        Ok(inner
            .pending_by_scope
            .get(scope)
            .into_iter()
            .flatten()
            .filter_map(|(_, hash)| inner.entries.get(hash).cloned())
            .collect())
    }

    async fn spent(&self, domain: &str) -> Result<Spent, StoreError> {
        let inner = self.inner.lock().map_err(lock_poisoned)?;
        Ok(inner.spent(domain, unix_now()))
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
