//! Merchant activity for dashboards (l402kit's `/api/stats` shape): totals,
//! per owner address, per UTC day, the most recent payments. Read from the
//! `payment_rollup` table (one row per merchant, day and owner, kept with
//! each recorded payment) and one index probe of the newest payments, so the
//! cost does not grow with the number of payments.

use crate::StoreError;
use crate::db::{Store, pool, to_i64, to_u64};

/// Count and sats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// The UTC day, as days since 1970-01-01.
    pub day: u64,
    /// Payments.
    pub payments: u64,
    /// Sats.
    pub sats: u64,
}

/// Totals of one owner address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerTotals {
    /// The owner's Lightning address.
    pub owner: String,
    /// Payments.
    pub payments: u64,
    /// Sats.
    pub sats: u64,
}

/// One recent payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentPayment {
    /// The payment hash.
    pub payment_hash: String,
    /// The resource (l402kit's `endpoint`).
    pub resource: Option<String>,
    /// Sats.
    pub amount_sats: u64,
    /// The owner's Lightning address, if the challenge named one.
    pub owner_address: Option<String>,
    /// Unix seconds.
    pub verified_at: u64,
}

/// A merchant's activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerchantActivity {
    /// All payments.
    pub payments: u64,
    /// All sats.
    pub sats: u64,
    /// Per owner address (at most 100, most sats first).
    pub by_owner: Vec<OwnerTotals>,
    /// Per day since `since_day`, oldest first (days without payments left out).
    pub by_day: Vec<DayTotals>,
    /// The most recent payments, newest first.
    pub recent: Vec<RecentPayment>,
}

/// Dashboard reads.
#[async_trait::async_trait]
pub trait StatsStore: Send + Sync {
    /// A merchant's activity, days from `since_day` on, `recent` newest payments.
    async fn activity(
        &self,
        merchant_id: i64,
        since_day: u64,
        recent: u32,
    ) -> Result<MerchantActivity, StoreError>;
    /// Payments and sats of all merchants.
    async fn global_totals(&self) -> Result<(u64, u64), StoreError>;
    /// Rebuilds the rollups (per day, per route, challenges per day) from the
    /// payments and challenges (after a bulk import).
    async fn rebuild_payment_rollup(&self) -> Result<(), StoreError>;
}

/// Adds one recorded payment to its rollup row ($1 hash, $2 merchant, $3 day, $4 sats).
pub(crate) const ADD_ROLLUP: &str = "INSERT INTO payment_rollup \
     (merchant_id, day, owner, payments, sats) \
     SELECT $2, $3, COALESCE((SELECT owner_address FROM challenges WHERE payment_hash = $1), ''), \
     1, $4 WHERE 1 = 1 \
     ON CONFLICT (merchant_id, day, owner) DO UPDATE \
     SET payments = payment_rollup.payments + 1, sats = payment_rollup.sats + excluded.sats";
/// Adds one recorded payment to its route's rollup row ($1 merchant, $2 day,
/// $3 resource or '', $4 sats).
pub(crate) const ADD_ROUTE_ROLLUP: &str = "INSERT INTO route_rollup \
     (merchant_id, day, resource, payments, sats) VALUES ($1, $2, $3, 1, $4) \
     ON CONFLICT (merchant_id, day, resource) DO UPDATE \
     SET payments = route_rollup.payments + 1, sats = route_rollup.sats + excluded.sats";
/// Adds one recorded challenge to its day's rollup row ($1 merchant, $2 day, $3 sats).
pub(crate) const ADD_CHALLENGE_ROLLUP: &str = "INSERT INTO challenge_rollup \
     (merchant_id, day, challenges, sats) VALUES ($1, $2, 1, $3) \
     ON CONFLICT (merchant_id, day) DO UPDATE \
     SET challenges = challenge_rollup.challenges + 1, \
     sats = challenge_rollup.sats + excluded.sats";
const TOTALS: &str = "SELECT CAST(COALESCE(SUM(payments), 0) AS BIGINT), \
     CAST(COALESCE(SUM(sats), 0) AS BIGINT) FROM payment_rollup WHERE merchant_id = $1";
const BY_OWNER: &str = "SELECT owner, CAST(SUM(payments) AS BIGINT), CAST(SUM(sats) AS BIGINT) \
     FROM payment_rollup WHERE merchant_id = $1 AND owner <> '' \
     GROUP BY owner ORDER BY 3 DESC, owner LIMIT 100";
const BY_DAY: &str = "SELECT day, CAST(SUM(payments) AS BIGINT), CAST(SUM(sats) AS BIGINT) \
     FROM payment_rollup WHERE merchant_id = $1 AND day >= $2 GROUP BY day ORDER BY day";
const RECENT: &str = "SELECT p.payment_hash, p.resource, p.amount_sats, c.owner_address, \
     p.verified_at FROM payments p LEFT JOIN challenges c ON c.payment_hash = p.payment_hash \
     WHERE p.merchant_id = $1 ORDER BY p.verified_at DESC, p.payment_hash DESC LIMIT $2";
const GLOBAL: &str = "SELECT CAST(COALESCE(SUM(payments), 0) AS BIGINT), \
     CAST(COALESCE(SUM(sats), 0) AS BIGINT) FROM payment_rollup";
const REBUILD: &str = "INSERT INTO payment_rollup (merchant_id, day, owner, payments, sats) \
     SELECT p.merchant_id, p.verified_at / 86400, COALESCE(c.owner_address, ''), \
     COUNT(*), CAST(SUM(p.amount_sats) AS BIGINT) \
     FROM payments p LEFT JOIN challenges c ON c.payment_hash = p.payment_hash \
     GROUP BY p.merchant_id, p.verified_at / 86400, COALESCE(c.owner_address, '')";

const REBUILD_ROUTES: &str = "INSERT INTO route_rollup (merchant_id, day, resource, payments, sats) \
     SELECT merchant_id, verified_at / 86400, COALESCE(resource, ''), COUNT(*), \
     CAST(SUM(amount_sats) AS BIGINT) FROM payments \
     GROUP BY merchant_id, verified_at / 86400, COALESCE(resource, '')";
const REBUILD_CHALLENGES: &str = "INSERT INTO challenge_rollup (merchant_id, day, challenges, sats) \
     SELECT merchant_id, created_at / 86400, COUNT(*), CAST(SUM(amount_sats) AS BIGINT) \
     FROM challenges GROUP BY merchant_id, created_at / 86400";

type RecentRow = (String, Option<String>, i64, Option<String>, i64);

#[async_trait::async_trait]
impl StatsStore for Store {
    async fn activity(
        &self,
        merchant_id: i64,
        since_day: u64,
        recent: u32,
    ) -> Result<MerchantActivity, StoreError> {
        let (totals, owners, days, rows) = pool!(self, false, |pool| {
            (
                sqlx::query_as::<_, (i64, i64)>(TOTALS)
                    .bind(merchant_id)
                    .fetch_one(pool)
                    .await?,
                sqlx::query_as::<_, (String, i64, i64)>(BY_OWNER)
                    .bind(merchant_id)
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as::<_, (i64, i64, i64)>(BY_DAY)
                    .bind(merchant_id)
                    .bind(to_i64(since_day))
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as::<_, RecentRow>(RECENT)
                    .bind(merchant_id)
                    .bind(i64::from(recent))
                    .fetch_all(pool)
                    .await?,
            )
        });
        Ok(MerchantActivity {
            payments: to_u64(totals.0),
            sats: to_u64(totals.1),
            by_owner: owners
                .into_iter()
                .map(|(owner, n, sats)| OwnerTotals {
                    owner,
                    payments: to_u64(n),
                    sats: to_u64(sats),
                })
                .collect(),
            by_day: days
                .into_iter()
                .map(|(day, n, sats)| DayTotals {
                    day: to_u64(day),
                    payments: to_u64(n),
                    sats: to_u64(sats),
                })
                .collect(),
            recent: rows
                .into_iter()
                .map(|r| RecentPayment {
                    payment_hash: r.0,
                    resource: r.1,
                    amount_sats: to_u64(r.2),
                    owner_address: r.3,
                    verified_at: to_u64(r.4),
                })
                .collect(),
        })
    }

    async fn global_totals(&self) -> Result<(u64, u64), StoreError> {
        let (n, sats) = pool!(self, false, |pool| {
            sqlx::query_as::<_, (i64, i64)>(GLOBAL)
                .fetch_one(pool)
                .await?
        });
        Ok((to_u64(n), to_u64(sats)))
    }

    async fn rebuild_payment_rollup(&self) -> Result<(), StoreError> {
        pool!(self, true, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM payment_rollup")
                .execute(&mut *tx)
                .await?;
            sqlx::query(REBUILD).execute(&mut *tx).await?;
            for sql in [
                "DELETE FROM route_rollup",
                REBUILD_ROUTES,
                "DELETE FROM challenge_rollup",
                REBUILD_CHALLENGES,
            ] {
                sqlx::query(sql).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
