//! Passes: time-based access a holder bought from a merchant (l402kit's Pro
//! tier, generalised), one per payment.

use crate::StoreError;
use crate::db::{Store, pool, to_i64, to_u64};

/// A pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The payment that bought it.
    pub payment_hash: String,
    /// The merchant it is for.
    pub merchant_id: i64,
    /// Who holds it (an address).
    pub holder: String,
    /// What it opens: a route, or `*` for all of the merchant's.
    pub scope: String,
    /// Unix seconds.
    pub activated_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Passes.
#[async_trait::async_trait]
pub trait PassStore: Send + Sync {
    /// Records a pass; `false` (nothing changed) if its payment was used
    /// for one before.
    async fn activate_pass(&self, pass: &Pass) -> Result<bool, StoreError>;
    /// The pass a payment bought.
    async fn pass_by_payment(&self, payment_hash: &str) -> Result<Option<Pass>, StoreError>;
    /// The holder's pass for `scope` (or `*`) that lasts longest, if one is
    /// live at `now`.
    async fn live_pass(
        &self,
        merchant_id: i64,
        holder: &str,
        scope: &str,
        now: u64,
    ) -> Result<Option<Pass>, StoreError>;
}

type Row = (String, i64, String, String, i64, i64);

fn pass_of(r: Row) -> Pass {
    Pass {
        payment_hash: r.0,
        merchant_id: r.1,
        holder: r.2,
        scope: r.3,
        activated_at: to_u64(r.4),
        expires_at: to_u64(r.5),
    }
}

const COLUMNS: &str = "payment_hash, merchant_id, holder, scope, activated_at, expires_at";

#[async_trait::async_trait]
impl PassStore for Store {
    async fn activate_pass(&self, p: &Pass) -> Result<bool, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(
                "INSERT INTO passes (payment_hash, merchant_id, holder, scope, activated_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_hash) DO NOTHING",
            )
            .bind(&p.payment_hash)
            .bind(p.merchant_id)
            .bind(&p.holder)
            .bind(&p.scope)
            .bind(to_i64(p.activated_at))
            .bind(to_i64(p.expires_at))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    async fn pass_by_payment(&self, payment_hash: &str) -> Result<Option<Pass>, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM passes WHERE payment_hash = $1"
            )))
            .bind(payment_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(pass_of))
    }

    async fn live_pass(
        &self,
        merchant_id: i64,
        holder: &str,
        scope: &str,
        now: u64,
    ) -> Result<Option<Pass>, StoreError> {
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM passes WHERE merchant_id = $1 AND holder = $2 \
                 AND expires_at > $3 AND (scope = $4 OR scope = '*') \
                 ORDER BY expires_at DESC LIMIT 1"
            )))
            .bind(merchant_id)
            .bind(holder)
            .bind(to_i64(now))
            .bind(scope)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(pass_of))
    }
}
