//! Spending limits in sats: per request, per rolling hour and day, in total,
//! and per domain.

use std::collections::BTreeMap;
use std::fmt;

use crate::scope::domain_key;

/// Spending limits, in sats. Every limit is off until set.
///
/// Windows are rolling (the last 3600 s, the last 86 400 s). A payment counts
/// from the moment it is reserved (amount plus fee reserve) until it fails;
/// once settled it counts its amount plus the fee actually paid. Per-domain
/// limits count every payment to that host name, over the ledger's lifetime.
///
/// ```
/// use l402_client::{Budget, Limit, Spent};
/// let budget = Budget::new()
///     .per_request_sats(100)
///     .per_hour_sats(1_000)
///     .per_day_sats(5_000)
///     .total_sats(50_000)
///     .per_domain_sats("api.example.com", 2_000);
/// let spent = Spent { hour_msat: 950_000, ..Spent::default() };
/// let err = budget.check("api.example.com", 60_000, 0, &spent).unwrap_err();
/// assert_eq!(err.limit, Limit::PerHour);
/// assert!(budget.check("api.example.com", 50_000, 0, &spent).is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    per_request_sats: Option<u64>,
    per_hour_sats: Option<u64>,
    per_day_sats: Option<u64>,
    total_sats: Option<u64>,
    per_domain_sats: BTreeMap<String, u64>,
    default_per_domain_sats: Option<u64>,
}

/// Which limit a payment would break.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The per-request limit (also the client's maximum per payment).
    PerRequest,
    /// The rolling-hour limit.
    PerHour,
    /// The rolling-day limit.
    PerDay,
    /// The lifetime total.
    Total,
    /// The limit for one domain.
    Domain(String),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::PerRequest => f.write_str("per-request limit"),
            Limit::PerHour => f.write_str("hourly budget"),
            Limit::PerDay => f.write_str("daily budget"),
            Limit::Total => f.write_str("total budget"),
            Limit::Domain(d) => write!(f, "budget for {d}"),
        }
    }
}

/// A payment would go over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{limit} of {limit_sats} sats would be exceeded: {spent_msat} msat already counted, \
     {amount_msat} msat more asked"
)]
pub struct BudgetExceeded {
    /// The limit.
    pub limit: Limit,
    /// Its value in sats.
    pub limit_sats: u64,
    /// What already counts against it, in msat.
    pub spent_msat: u64,
    /// What this payment would add, in msat (amount plus fee reserve).
    pub amount_msat: u64,
}

/// What already counts against each limit, in msat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// In the last hour.
    pub hour_msat: u64,
    /// In the last day.
    pub day_msat: u64,
    /// Ever.
    pub total_msat: u64,
    /// Ever, to the domain asked about.
    pub domain_msat: u64,
}

impl Budget {
    /// No limits.
    pub fn new() -> Self {
        Budget::default()
    }

    /// At most this many sats for one payment (the invoice amount).
    pub fn per_request_sats(mut self, sats: u64) -> Self {
        self.per_request_sats = Some(sats);
        self
    }

    /// At most this many sats in any rolling hour.
    pub fn per_hour_sats(mut self, sats: u64) -> Self {
        self.per_hour_sats = Some(sats);
        self
    }

    /// At most this many sats in any rolling day.
    pub fn per_day_sats(mut self, sats: u64) -> Self {
        self.per_day_sats = Some(sats);
        self
    }

    /// At most this many sats in total.
    pub fn total_sats(mut self, sats: u64) -> Self {
        self.total_sats = Some(sats);
        self
    }

    /// At most this many sats to `domain` (a host name, case-insensitive).
    pub fn per_domain_sats(mut self, domain: &str, sats: u64) -> Self {
        self.per_domain_sats.insert(domain_key(domain), sats);
        self
    }

    /// At most this many sats to any domain without its own limit.
    pub fn default_per_domain_sats(mut self, sats: u64) -> Self {
        self.default_per_domain_sats = Some(sats);
        self
    }

    /// The per-request limit, if any.
    pub fn per_request_limit_sats(&self) -> Option<u64> {
        self.per_request_sats
    }

    /// The limit that applies to `domain`, if any.
    pub fn domain_limit_sats(&self, domain: &str) -> Option<u64> {
        self.per_domain_sats
            .get(&domain_key(domain))
            .copied()
            .or(self.default_per_domain_sats)
    }

    /// Whether any limit other than per request is set (so a ledger must be
    /// consulted).
    pub fn has_windows(&self) -> bool {
        self.per_hour_sats.is_some()
            || self.per_day_sats.is_some()
            || self.total_sats.is_some()
            || !self.per_domain_sats.is_empty()
            || self.default_per_domain_sats.is_some()
    }

    /// Checks that paying an invoice of `amount_msat` to `domain`, reserving
    /// `fee_reserve_msat` more for routing fees, stays within every limit
    /// given what is already `spent`. The per-request limit applies to the
    /// invoice amount; the others to amount plus fee reserve.
    ///
    /// # Errors
    /// [`BudgetExceeded`] naming the first limit broken.
    pub fn check(
        &self,
        domain: &str,
        amount_msat: u64,
        fee_reserve_msat: u64,
        spent: &Spent,
    ) -> Result<(), BudgetExceeded> {
        if let Some(limit_sats) = self.per_request_sats
            && amount_msat > limit_sats.saturating_mul(1000)
        {
            return Err(BudgetExceeded {
                limit: Limit::PerRequest,
                limit_sats,
                spent_msat: 0,
                amount_msat,
            });
        }
        let amount_msat = amount_msat.saturating_add(fee_reserve_msat);
        let over = |limit: Limit, limit_sats: Option<u64>, spent_msat: u64| match limit_sats {
            Some(limit_sats)
                if spent_msat.saturating_add(amount_msat) > limit_sats.saturating_mul(1000) =>
            {
                Err(BudgetExceeded {
                    limit,
                    limit_sats,
                    spent_msat,
                    amount_msat,
                })
            }
            _ => Ok(()),
        };
        over(Limit::PerHour, self.per_hour_sats, spent.hour_msat)?;
        over(Limit::PerDay, self.per_day_sats, spent.day_msat)?;
        over(Limit::Total, self.total_sats, spent.total_msat)?;
        over(
            Limit::Domain(domain_key(domain)),
            self.domain_limit_sats(domain),
            spent.domain_msat,
        )?;
        Ok(())
    }
}
