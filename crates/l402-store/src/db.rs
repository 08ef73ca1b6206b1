//! [`Store`]: the traits on SQLite or PostgreSQL, with one set of portable
//! SQL statements and one set of migrations.

#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "postgres")]
use sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqlitePool;

use crate::key::{hash_presented, presented_matches};
use crate::sql::*;
use crate::{
    ApiKey, ApiKeyInfo, Authenticated, ChallengeRecord, ChallengeStore, Claim, Claimed, Merchant,
    MerchantStatus, MerchantStore, NewApiKey, PaymentRecord, PaymentStore, Stats, StoreError,
    VerificationCount,
};

#[derive(Debug, Clone)]
pub(crate) enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
    },
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool that reads.
macro_rules! reading {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite { reader: $pool, .. } => $body,
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool that writes (SQLite has one
/// writer connection, so writers queue instead of spinning on the lock).
macro_rules! writing {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite { writer: $pool, .. } => $body,
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool that writes when `$write`
/// is true, else to the pool that reads (one pool on PostgreSQL).
macro_rules! pool {
    ($store:expr, $write:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            #[cfg(feature = "sqlite")]
            $crate::db::Db::Sqlite { reader, writer } => {
                let $pool = if $write { writer } else { reader };
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

pub(crate) use {pool, reading, writing};

/// The store on SQLite or PostgreSQL. Cheap to clone (pools are shared).
///
/// ```
/// use l402_store::{MerchantStore, Store};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// // SQLite: one file, WAL.
/// let store = Store::builder().sqlite(dir.path().join("store.sqlite")).open().await?;
/// assert_eq!(store.backend(), "sqlite");
/// store.create_merchant("m").await?;
/// // PostgreSQL: Store::builder().postgres("postgres://…").schema("l402").open()
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The indexed key of a resource: `sha256(resource)`, hex (a fixed 64
/// characters, however long the resource).
pub(crate) fn resource_key(resource: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(resource.as_bytes()))
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Opens (creating and migrating) a SQLite store at `path`.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be opened or migrated.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder().sqlite(path).open().await
    }

    /// Opens (migrating) a PostgreSQL store.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be reached or migrated.
    #[cfg(feature = "postgres")]
    pub async fn postgres(url: &str) -> Result<Self, StoreError> {
        Self::builder().postgres(url).open().await
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite { .. } => "sqlite",
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the pools, waiting for queries in flight.
    pub async fn close(&self) {
        match &self.db {
            #[cfg(feature = "sqlite")]
            Db::Sqlite { reader, writer } => {
                reader.close().await;
                writer.close().await;
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

#[async_trait::async_trait]
impl MerchantStore for Store {
    async fn create_merchant(&self, name: &str) -> Result<Merchant, StoreError> {
        let now = to_i64(now_secs());
        // Ids are MAX(id) + 1; two instances creating at once collide on the
        // primary key, and the loser tries again.
        let mut last = None;
        for _ in 0..8 {
            let result = writing!(self, |pool| {
                sqlx::query_as::<_, MerchantRow>(INSERT_MERCHANT)
                    .bind(name)
                    .bind(now)
                    .fetch_one(pool)
                    .await
            });
            match result {
                Ok(row) => return merchant_of(row),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    last = Some(sqlx::Error::Database(e));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(
            || StoreError::Corrupt("merchant id allocation failed".into()),
            StoreError::from,
        ))
    }

    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        let rows = reading!(self, |pool| {
            sqlx::query_as::<_, MerchantRow>(SELECT_MERCHANTS)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(merchant_of).collect()
    }

    async fn merchant(&self, id: i64) -> Result<Option<Merchant>, StoreError> {
        let row = reading!(self, |pool| {
            sqlx::query_as::<_, MerchantRow>(SELECT_MERCHANT)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(merchant_of).transpose()
    }

    async fn set_merchant_status(
        &self,
        id: i64,
        status: MerchantStatus,
    ) -> Result<Merchant, StoreError> {
        let row = writing!(self, |pool| {
            sqlx::query_as::<_, MerchantRow>(UPDATE_MERCHANT_STATUS)
                .bind(id)
                .bind(status.as_str())
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => merchant_of(row),
            None => Err(StoreError::NotFound(format!("merchant {id}"))),
        }
    }

    async fn create_api_key(
        &self,
        merchant_id: i64,
        label: Option<&str>,
    ) -> Result<NewApiKey, StoreError> {
        if self.merchant(merchant_id).await?.is_none() {
            return Err(StoreError::NotFound(format!("merchant {merchant_id}")));
        }
        let key = ApiKey::generate()?;
        let info = ApiKeyInfo {
            id: key.id().to_owned(),
            merchant_id,
            label: label.map(str::to_owned),
            created_at: now_secs(),
            revoked_at: None,
        };
        writing!(self, |pool| {
            sqlx::query(INSERT_KEY)
                .bind(&info.id)
                .bind(merchant_id)
                .bind(key.hash())
                .bind(info.label.as_deref())
                .bind(to_i64(info.created_at))
                .execute(pool)
                .await?;
        });
        Ok(NewApiKey { key, info })
    }

    async fn api_keys(&self, merchant_id: i64) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let rows = reading!(self, |pool| {
            sqlx::query_as::<_, KeyRow>(SELECT_KEYS)
                .bind(merchant_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(key_of).collect())
    }

    async fn revoke_api_key(
        &self,
        merchant_id: i64,
        key_id: &str,
    ) -> Result<Option<ApiKeyInfo>, StoreError> {
        let row = writing!(self, |pool| {
            sqlx::query_as::<_, KeyRow>(REVOKE_KEY)
                .bind(merchant_id)
                .bind(key_id)
                .bind(to_i64(now_secs()))
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(key_of))
    }

    async fn authenticate(&self, presented: &str) -> Result<Option<Authenticated>, StoreError> {
        let Some(id) = ApiKey::id_of(presented) else {
            // Not the shape of a key: still spend the hash, so timing says nothing.
            let _ = hash_presented(presented);
            return Ok(None);
        };
        let row = reading!(self, |pool| {
            sqlx::query_as::<_, (String, i64, String, String, i64)>(SELECT_KEY_FOR_AUTH)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let Some((hash, mid, name, status, created_at)) = row else {
            let _ = hash_presented(presented);
            return Ok(None);
        };
        if !presented_matches(presented, &hash) {
            return Ok(None);
        }
        Ok(Some(Authenticated {
            merchant: merchant_of((mid, name, status, created_at))?,
            key_id: id.to_owned(),
        }))
    }
}

type ClaimRow = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn claim_of(row: ClaimRow) -> Claimed {
    match row {
        (
            Some(_),
            Some(hash),
            Some(merchant_id),
            Some(api),
            Some(resource),
            Some(amount),
            description,
            owner_address,
            Some(invoice),
            Some(macaroon),
            Some(expires_at),
            Some(created_at),
        ) => Claimed::Issued(challenge_of((
            hash,
            merchant_id,
            api,
            resource,
            amount,
            description,
            owner_address,
            invoice,
            macaroon,
            expires_at,
            created_at,
        ))),
        _ => Claimed::Pending,
    }
}

/// Inserts one challenge and counts it in its day's `challenge_rollup` on
/// `$executor` (a transaction, of either database).
macro_rules! insert_challenge {
    ($executor:expr, $c:expr) => {{
        let c: &ChallengeRecord = $c;
        let inserted = sqlx::query(INSERT_CHALLENGE)
            .bind(&c.payment_hash)
            .bind(c.merchant_id)
            .bind(&c.api)
            .bind(&c.resource)
            .bind(to_i64(c.amount_sats))
            .bind(c.description.as_deref())
            .bind(c.owner_address.as_deref())
            .bind(&c.invoice)
            .bind(&c.macaroon)
            .bind(to_i64(c.expires_at))
            .bind(to_i64(c.created_at))
            .bind(resource_key(&c.resource))
            .bind(to_i64(now_ms()))
            .execute(&mut *$executor)
            .await?
            .rows_affected();
        if inserted > 0 {
            sqlx::query(crate::stats::ADD_CHALLENGE_ROLLUP)
                .bind(c.merchant_id)
                .bind(to_i64(c.created_at / 86_400))
                .bind(to_i64(c.amount_sats))
                .execute(&mut *$executor)
                .await?;
        }
    }};
}

#[async_trait::async_trait]
impl ChallengeStore for Store {
    async fn record_challenges(&self, challenges: &[ChallengeRecord]) -> Result<(), StoreError> {
        if challenges.is_empty() {
            return Ok(());
        }
        writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            for c in challenges {
                insert_challenge!(tx, c);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn claim(&self, claim: Claim<'_>) -> Result<Claimed, StoreError> {
        let won = writing!(self, |pool| {
            sqlx::query(CLAIM_SCOPE)
                .bind(claim.merchant_id)
                .bind(claim.scope)
                .bind(to_i64(claim.now_ms))
                .bind(to_i64(claim.now_ms.saturating_add(claim.window_ms)))
                .bind(to_i64(claim.now_ms.saturating_sub(claim.stale_ms)))
                .execute(pool)
                .await?
                .rows_affected()
                > 0
        });
        if won {
            return Ok(Claimed::Won);
        }
        // Read through the writer on SQLite: the winner's commit is visible.
        let row = writing!(self, |pool| {
            sqlx::query_as::<_, ClaimRow>(SELECT_CLAIM)
                .bind(claim.merchant_id)
                .bind(claim.scope)
                .fetch_optional(pool)
                .await?
        });
        // The claim may have expired and been purged in between: ask again.
        Ok(row.map_or(Claimed::Pending, claim_of))
    }

    async fn complete_claim(
        &self,
        merchant_id: i64,
        scope: &str,
        c: &ChallengeRecord,
    ) -> Result<(), StoreError> {
        writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_challenge!(tx, c);
            sqlx::query(COMPLETE_CLAIM)
                .bind(merchant_id)
                .bind(scope)
                .bind(&c.payment_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn release_claim(&self, merchant_id: i64, scope: &str) -> Result<(), StoreError> {
        writing!(self, |pool| {
            sqlx::query(RELEASE_CLAIM)
                .bind(merchant_id)
                .bind(scope)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn challenge(&self, payment_hash: &str) -> Result<Option<ChallengeRecord>, StoreError> {
        const SQL: &str = "SELECT payment_hash, merchant_id, api, resource, amount_sats, \
             description, owner_address, invoice, macaroon, expires_at, created_at \
             FROM challenges WHERE payment_hash = $1";
        debug_assert!(SQL.contains(CHALLENGE_COLUMNS));
        let row = reading!(self, |pool| {
            sqlx::query_as::<_, ChallengeRow>(SQL)
                .bind(payment_hash)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(challenge_of))
    }

    async fn current_price(
        &self,
        merchant_id: i64,
        resource: &str,
    ) -> Result<Option<u64>, StoreError> {
        let row = reading!(self, |pool| {
            sqlx::query_as::<_, (i64,)>(CURRENT_PRICE)
                .bind(merchant_id)
                .bind(resource_key(resource))
                .bind(resource)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(sats,)| to_u64(sats)))
    }

    async fn purge_claims(&self, now_ms: u64, limit: u32) -> Result<u64, StoreError> {
        let done = writing!(self, |pool| {
            sqlx::query(PURGE_CLAIMS)
                .bind(to_i64(now_ms))
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    async fn prune_unpaid(&self, before: u64, limit: u32) -> Result<u64, StoreError> {
        let deleted = writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query_as::<_, (i64, i64)>(PRUNE_UNPAID)
                .bind(to_i64(before))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            let mut by: std::collections::BTreeMap<i64, (i64, i64)> =
                std::collections::BTreeMap::new();
            for (merchant_id, sats) in &rows {
                let entry = by.entry(*merchant_id).or_default();
                entry.0 += 1;
                entry.1 = entry.1.saturating_add(*sats);
            }
            for (merchant_id, (n, sats)) in by {
                sqlx::query(ADD_PRUNED)
                    .bind(merchant_id)
                    .bind(n)
                    .bind(sats)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            rows.len() as u64
        });
        Ok(deleted)
    }
}

/// Inserts a payment and adds it to its day's rollups, on `$tx` (a
/// transaction of either database); evaluates to the rows inserted (0 when
/// it was recorded before). `record_payment` and
/// `PayoutStore::record_split_payment` (with its split credit) use it.
macro_rules! insert_payment {
    ($tx:expr, $p:expr) => {{
        let p: &crate::PaymentRecord = $p;
        let done = sqlx::query(crate::sql::INSERT_PAYMENT)
            .bind(&p.payment_hash)
            .bind(p.merchant_id)
            .bind(p.resource.as_deref())
            .bind(crate::db::to_i64(p.amount_sats))
            .bind(crate::db::to_i64(p.verified_at))
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        if done > 0 {
            sqlx::query(crate::stats::ADD_ROLLUP)
                .bind(&p.payment_hash)
                .bind(p.merchant_id)
                .bind(crate::db::to_i64(p.verified_at / 86_400))
                .bind(crate::db::to_i64(p.amount_sats))
                .execute(&mut *$tx)
                .await?;
            sqlx::query(crate::stats::ADD_ROUTE_ROLLUP)
                .bind(p.merchant_id)
                .bind(crate::db::to_i64(p.verified_at / 86_400))
                .bind(p.resource.as_deref().unwrap_or(""))
                .bind(crate::db::to_i64(p.amount_sats))
                .execute(&mut *$tx)
                .await?;
        }
        done
    }};
}
pub(crate) use insert_payment;

#[async_trait::async_trait]
impl PaymentStore for Store {
    async fn record_payment(&self, p: &PaymentRecord) -> Result<bool, StoreError> {
        let done = writing!(self, |pool| {
            // The payment and its day's rollup (the stats read), together.
            let mut tx = pool.begin().await?;
            let done = insert_payment!(tx, p);
            tx.commit().await?;
            done
        });
        Ok(done > 0)
    }

    async fn add_verifications(&self, counts: &[VerificationCount]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            for c in counts {
                sqlx::query(ADD_VERIFICATIONS)
                    .bind(c.merchant_id)
                    .bind(&c.day)
                    .bind(to_i64(c.valid))
                    .bind(to_i64(c.invalid))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn stats(&self, merchant_id: Option<i64>) -> Result<Stats, StoreError> {
        let row = reading!(self, |pool| {
            sqlx::query_as::<_, StatsRow>(STATS)
                .bind(merchant_id)
                .fetch_one(pool)
                .await?
        });
        Ok(stats_of(row))
    }

    async fn stats_by_merchant(&self) -> Result<Vec<(i64, Stats)>, StoreError> {
        let (challenges, payments, verifications) = reading!(self, |pool| {
            (
                sqlx::query_as::<_, (i64, i64, i64)>(STATS_CHALLENGES)
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as::<_, (i64, i64, i64)>(STATS_PAYMENTS)
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as::<_, (i64, i64, i64)>(STATS_VERIFICATIONS)
                    .fetch_all(pool)
                    .await?,
            )
        });
        let mut by: std::collections::BTreeMap<i64, Stats> = std::collections::BTreeMap::new();
        for (m, n, sats) in challenges {
            let s = by.entry(m).or_default();
            s.challenges = to_u64(n);
            s.challenged_sats = to_u64(sats);
        }
        for (m, n, sats) in payments {
            let s = by.entry(m).or_default();
            s.payments = to_u64(n);
            s.paid_sats = to_u64(sats);
        }
        for (m, valid, invalid) in verifications {
            let s = by.entry(m).or_default();
            s.verifications_valid = to_u64(valid);
            s.verifications_invalid = to_u64(invalid);
        }
        Ok(by.into_iter().collect())
    }
}
