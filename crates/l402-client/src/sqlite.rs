//! One SQLite database for everything the client keeps: tokens, the payment
//! journal and budget ledger, fiat envelopes, payee pins and traces.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use l402::{PaymentHash, Preimage};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr};

use crate::budget::{Budget, Spent};
use crate::challenge::TokenKind;
use crate::fiat::{EnvelopeCharge, check_envelope};
use crate::ledger::{JournalEntry, Ledger, LedgerError, PaymentState, Reserved, envelope_expiry};
use crate::scope::domain_key;
use crate::store::{StoreError, StoredToken, TokenStore};
use crate::trace::{Outcome, Trace, TraceSink};
use crate::unix_now;

/// Tokens, journal, ledger and traces in one SQLite file (WAL mode; several
/// processes may share it).
///
/// ```
/// use l402_client::{Ledger, SqliteStore, TraceSink};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("client.sqlite")).await?;
/// assert!(store.pending().await?.is_empty());
/// assert!(store.recent(10).await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Traces are written with `synchronous = NORMAL`: durable across a
    /// process crash, not necessarily across power loss, and without an
    /// fsync on every request. The journal and tokens use `FULL`.
    traces: SqlitePool,
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "l402 client state".into(),
            MigrationType::Simple,
            include_str!("../migrations/0001_client.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "pending payments by scope".into(),
            MigrationType::Simple,
            include_str!("../migrations/0002_scope_index.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "journal leases".into(),
            MigrationType::Simple,
            include_str!("../migrations/0003_lease.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "running budget totals".into(),
            MigrationType::Simple,
            include_str!("../migrations/0004_spent_totals.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            "token kinds, amounts and uses".into(),
            MigrationType::Simple,
            include_str!("../migrations/0005_token_kind.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            6,
            "token uses counted with traces".into(),
            MigrationType::Simple,
            include_str!("../migrations/0006_token_uses_by_trace.sql").into_sql_str(),
            false,
        ),
    ])
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn opt_u64(row: &SqliteRow, column: &str) -> Result<Option<u64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(u64_of))
}

fn hash_of(text: &str) -> Result<PaymentHash, StoreError> {
    PaymentHash::from_str(text).map_err(|e| StoreError::Corrupt(format!("payment hash: {e}")))
}

fn preimage_of(text: &str) -> Result<Preimage, StoreError> {
    Preimage::from_str(text).map_err(|e| StoreError::Corrupt(format!("preimage: {e}")))
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be opened or migrated.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        if let Some(dir) = path.as_ref().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir.display(), e))?;
        }
        // Processes opening a new database at once must not both migrate it:
        // hold an exclusive lock on a side file while opening.
        let lock_path = format!("{}.lock", path.as_ref().display());
        let lock = tokio::task::spawn_blocking(move || -> Result<std::fs::File, StoreError> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| StoreError::io(&lock_path, e))?;
            file.lock()
                .map_err(|e| StoreError::io(format!("locking {lock_path}"), e))?;
            Ok(file)
        })
        .await
        .map_err(|e| StoreError::io("the lock task", std::io::Error::other(e)))??;
        let options = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        let migrated = Self::migrate(&pool).await;
        drop(lock);
        migrated?;
        let traces = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        Ok(SqliteStore { pool, traces })
    }

    /// An in-memory database (one connection), lost when dropped.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be created.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await?;
        Self::migrate(&pool).await?;
        Ok(SqliteStore {
            traces: pool.clone(),
            pool,
        })
    }

    async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
        migrator()
            .run(pool)
            .await
            .map_err(|e| StoreError::Migrate(std::sync::Arc::new(e)))
    }

    /// The connection pool, for queries of your own.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the database, waiting for connections to finish.
    pub async fn close(&self) {
        self.traces.close().await;
        self.pool.close().await;
    }

    fn entry_of(row: &SqliteRow) -> Result<JournalEntry, StoreError> {
        let state: String = row.try_get("state")?;
        Ok(JournalEntry {
            payment_hash: hash_of(&row.try_get::<String, _>("payment_hash")?)?,
            scope: row.try_get("scope")?,
            domain: row.try_get("domain")?,
            url: row.try_get("url")?,
            macaroon: row.try_get("macaroon")?,
            bolt11: row.try_get("bolt11")?,
            amount_msat: u64_of(row.try_get("amount_msat")?),
            fee_reserve_msat: u64_of(row.try_get("fee_reserve_msat")?),
            state: state.parse()?,
            preimage: row
                .try_get::<Option<String>, _>("preimage")?
                .as_deref()
                .map(preimage_of)
                .transpose()?,
            fee_msat: opt_u64(row, "fee_msat")?,
            fiat_minor: opt_u64(row, "fiat_minor")?,
            fiat_currency: row.try_get("fiat_currency")?,
            envelope_id: row.try_get("envelope_id")?,
            error: row.try_get("error")?,
            created_at: u64_of(row.try_get("created_at")?),
            resolved_at: opt_u64(row, "resolved_at")?,
            owner: row.try_get("owner")?,
            lease_until_ms: opt_u64(row, "lease_until")?,
        })
    }
}

/// The rolling windows: a range over the `created_at` index, bounded by the
/// payments of the last day.
const WINDOWS_SQL: &str = "SELECT \
    COALESCE(SUM(CASE WHEN created_at > ?1 - 3600 THEN cost END), 0) AS hour, \
    COALESCE(SUM(cost), 0) AS day \
    FROM (SELECT created_at, CASE state \
        WHEN 'pending' THEN amount_msat + fee_reserve_msat \
        WHEN 'paid' THEN amount_msat + COALESCE(fee_msat, 0) ELSE 0 END AS cost \
        FROM payments WHERE created_at > ?1 - 86400)";

/// What counts against budgets: two indexed reads of running totals (kept
/// by triggers) and a range over the last day.
async fn spent_in(
    conn: &mut sqlx::SqliteConnection,
    domain: &str,
    now: u64,
) -> Result<Spent, StoreError> {
    let windows = sqlx::query(WINDOWS_SQL)
        .bind(i64_of(now))
        .fetch_one(&mut *conn)
        .await?;
    let total: Option<i64> = sqlx::query_scalar("SELECT msat FROM spent_total WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    let domain: Option<i64> =
        sqlx::query_scalar("SELECT msat FROM spent_by_domain WHERE domain = ?1")
            .bind(domain_key(domain))
            .fetch_optional(&mut *conn)
            .await?;
    Ok(Spent {
        hour_msat: u64_of(windows.try_get("hour")?),
        day_msat: u64_of(windows.try_get("day")?),
        total_msat: total.map_or(0, u64_of),
        domain_msat: domain.map_or(0, u64_of),
    })
}

fn token_of(row: &SqliteRow) -> Result<StoredToken, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(StoredToken {
        scope: row.try_get("scope")?,
        token: row.try_get("macaroon")?,
        kind: kind
            .parse::<TokenKind>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        payment_hash: hash_of(&row.try_get::<String, _>("payment_hash")?)?,
        preimage: preimage_of(&row.try_get::<String, _>("preimage")?)?,
        amount_msat: opt_u64(row, "amount_msat")?,
        created_at: u64_of(row.try_get("created_at")?),
        expires_at: opt_u64(row, "expires_at")?,
        uses: u64_of(row.try_get("uses")?),
    })
}

#[async_trait::async_trait]
impl TokenStore for SqliteStore {
    async fn get(&self, scope: &str) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query(
            "SELECT scope, macaroon, kind, payment_hash, preimage, amount_msat, created_at, \
             expires_at, uses FROM tokens WHERE scope = ?1",
        )
        .bind(scope)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_of).transpose()
    }

    async fn put(&self, token: &StoredToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (scope, macaroon, kind, payment_hash, preimage, amount_msat, \
             created_at, expires_at, uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (scope) DO UPDATE SET macaroon = excluded.macaroon, \
             kind = excluded.kind, payment_hash = excluded.payment_hash, \
             preimage = excluded.preimage, amount_msat = excluded.amount_msat, \
             created_at = excluded.created_at, expires_at = excluded.expires_at, \
             uses = excluded.uses",
        )
        .bind(&token.scope)
        .bind(&token.token)
        .bind(token.kind.as_str())
        .bind(token.payment_hash.to_string())
        .bind(token.preimage.to_hex())
        .bind(token.amount_msat.map(i64_of))
        .bind(i64_of(token.created_at))
        .bind(token.expires_at.map(i64_of))
        .bind(i64_of(token.uses))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tokens WHERE scope = ?1 AND payment_hash = ?2")
            .bind(scope)
            .bind(payment_hash.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<StoredToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT scope, macaroon, kind, payment_hash, preimage, amount_msat, created_at, \
             expires_at, uses FROM tokens ORDER BY scope",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_of).collect()
    }

    /// Nothing to do here: the trace of each request answered with a token
    /// counts the use as it is written (a trigger), so a request costs one
    /// statement, not two. Uses are therefore counted when this store is
    /// also the trace sink ([`ClientBuilder::sqlite`](crate::ClientBuilder::sqlite)).
    async fn record_use(
        &self,
        _scope: &str,
        _payment_hash: &PaymentHash,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl Ledger for SqliteStore {
    async fn reserve(
        &self,
        entry: &JournalEntry,
        budget: &Budget,
        charge: Option<&EnvelopeCharge>,
    ) -> Result<Reserved, LedgerError> {
        let now = unix_now();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from)?;
        let existing = sqlx::query("SELECT * FROM payments WHERE payment_hash = ?1")
            .bind(entry.payment_hash.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(row) = existing {
            let entry = Self::entry_of(&row)?;
            if entry.state != PaymentState::Failed {
                return Ok(Reserved::Existing(Box::new(entry)));
            }
            // It failed before (no money moved): it may be paid now, within
            // the budget, like a new one.
            sqlx::query("DELETE FROM payments WHERE payment_hash = ?1 AND state = 'failed'")
                .bind(entry.payment_hash.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        let in_flight = sqlx::query(
            "SELECT * FROM payments WHERE scope = ?1 AND state = 'pending' \
             ORDER BY created_at LIMIT 1",
        )
        .bind(&entry.scope)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if let Some(row) = in_flight {
            return Ok(Reserved::InFlight(Box::new(Self::entry_of(&row)?)));
        }
        let domain = domain_key(&entry.domain);
        let spent = spent_in(&mut tx, &domain, now).await?;
        budget.check(&domain, entry.amount_msat, entry.fee_reserve_msat, &spent)?;
        if let Some(charge) = charge {
            let env = &charge.envelope;
            let recorded = sqlx::query("SELECT currency, expires_at FROM envelopes WHERE id = ?1")
                .bind(&env.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let (currency, expires_at) = match recorded {
                Some(row) => (
                    row.try_get::<String, _>("currency")
                        .map_err(StoreError::from)?,
                    opt_u64(&row, "expires_at")?,
                ),
                None => (env.currency.clone(), envelope_expiry(charge, now)),
            };
            let spent_minor: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(fiat_minor), 0) FROM payments \
                 WHERE envelope_id = ?1 AND state != 'failed'",
            )
            .bind(&env.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            check_envelope(charge, u64_of(spent_minor), expires_at, &currency, now)?;
            sqlx::query(
                "INSERT OR IGNORE INTO envelopes (id, currency, cap_minor, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&env.id)
            .bind(&env.currency)
            .bind(i64_of(env.cap_minor))
            .bind(i64_of(now))
            .bind(expires_at.map(i64_of))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        }
        sqlx::query(
            "INSERT INTO payments (payment_hash, scope, domain, url, macaroon, bolt11, \
             amount_msat, fee_reserve_msat, state, fiat_minor, fiat_currency, envelope_id, \
             created_at, owner, lease_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .bind(entry.payment_hash.to_string())
        .bind(&entry.scope)
        .bind(&domain)
        .bind(&entry.url)
        .bind(&entry.macaroon)
        .bind(&entry.bolt11)
        .bind(i64_of(entry.amount_msat))
        .bind(i64_of(entry.fee_reserve_msat))
        .bind(entry.fiat_minor.map(i64_of))
        .bind(&entry.fiat_currency)
        .bind(&entry.envelope_id)
        .bind(i64_of(now))
        .bind(&entry.owner)
        .bind(entry.lease_until_ms.map(i64_of))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Reserved::New)
    }

    async fn settle(
        &self,
        payment_hash: &PaymentHash,
        preimage: &Preimage,
        fee_msat: u64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE payments SET state = 'paid', preimage = ?2, fee_msat = ?3, resolved_at = ?4, \
             error = NULL WHERE payment_hash = ?1",
        )
        .bind(payment_hash.to_string())
        .bind(preimage.to_hex())
        .bind(i64_of(fee_msat))
        .bind(i64_of(unix_now()))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NoEntry(*payment_hash));
        }
        Ok(())
    }

    async fn release(&self, payment_hash: &PaymentHash, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE payments SET state = 'failed', error = ?2, resolved_at = ?3 \
             WHERE payment_hash = ?1 AND state = 'pending'",
        )
        .bind(payment_hash.to_string())
        .bind(reason)
        .bind(i64_of(unix_now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn renew_lease(
        &self,
        payment_hash: &PaymentHash,
        owner: &str,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE payments SET lease_until = ?3 \
             WHERE payment_hash = ?1 AND owner = ?2 AND state = 'pending'",
        )
        .bind(payment_hash.to_string())
        .bind(owner)
        .bind(i64_of(until_ms))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_stale(
        &self,
        payment_hash: &PaymentHash,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE payments SET state = 'failed', error = ?2, resolved_at = ?3 \
             WHERE payment_hash = ?1 AND state = 'pending' \
             AND (lease_until IS NULL OR lease_until <= ?4)",
        )
        .bind(payment_hash.to_string())
        .bind(reason)
        .bind(i64_of(unix_now()))
        .bind(i64_of(now_ms))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn entry(&self, payment_hash: &PaymentHash) -> Result<Option<JournalEntry>, StoreError> {
        let row = sqlx::query("SELECT * FROM payments WHERE payment_hash = ?1")
            .bind(payment_hash.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::entry_of).transpose()
    }

    async fn pending(&self) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE state = 'pending' ORDER BY created_at, rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::entry_of).collect()
    }

    async fn paid(&self, limit: usize) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE state = 'paid' \
             ORDER BY resolved_at DESC, rowid DESC LIMIT ?1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::entry_of).collect()
    }

    async fn pending_for(&self, scope: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM payments WHERE scope = ?1 AND state = 'pending' \
             ORDER BY created_at, rowid",
        )
        .bind(scope)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::entry_of).collect()
    }

    async fn spent(&self, domain: &str) -> Result<Spent, StoreError> {
        let mut conn = self.pool.acquire().await?;
        spent_in(&mut conn, domain, unix_now()).await
    }

    async fn pinned_payee(&self, origin: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT payee FROM payees WHERE origin = ?1")
                .bind(origin)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn pin_payee(&self, origin: &str, payee: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO payees (origin, payee, first_seen) VALUES (?1, ?2, ?3)")
            .bind(origin)
            .bind(payee)
            .bind(i64_of(unix_now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl TraceSink for SqliteStore {
    async fn record(&self, t: &Trace) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO traces (at_ms, method, url, outcome, status, amount_msat, fee_msat, \
             payment_hash, preimage, latency_ms, pay_latency_ms, fiat_minor, fiat_currency, \
             price_source, btc_price_minor, error, token_kind) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .bind(i64_of(t.at_ms))
        .bind(&t.method)
        .bind(&t.url)
        .bind(t.outcome.as_str())
        .bind(t.status.map(i64::from))
        .bind(t.amount_msat.map(i64_of))
        .bind(t.fee_msat.map(i64_of))
        .bind(&t.payment_hash)
        .bind(&t.preimage)
        .bind(i64_of(t.latency_ms))
        .bind(t.pay_latency_ms.map(i64_of))
        .bind(t.fiat_minor.map(i64_of))
        .bind(&t.fiat_currency)
        .bind(&t.price_source)
        .bind(t.btc_price_minor.map(i64_of))
        .bind(&t.error)
        .bind(t.token_kind.map(|k| k.as_str()))
        .execute(&self.traces)
        .await?;
        Ok(())
    }

    async fn recent(&self, limit: usize) -> Result<Vec<Trace>, StoreError> {
        let rows = sqlx::query("SELECT * FROM traces ORDER BY id DESC LIMIT ?1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.traces)
            .await?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                Ok(Trace {
                    id: row.try_get("id")?,
                    at_ms: u64_of(row.try_get("at_ms")?),
                    method: row.try_get("method")?,
                    url: row.try_get("url")?,
                    outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
                    status: row
                        .try_get::<Option<i64>, _>("status")?
                        .and_then(|s| u16::try_from(s).ok()),
                    amount_msat: opt_u64(row, "amount_msat")?,
                    fee_msat: opt_u64(row, "fee_msat")?,
                    payment_hash: row.try_get("payment_hash")?,
                    preimage: row.try_get("preimage")?,
                    latency_ms: u64_of(row.try_get("latency_ms")?),
                    pay_latency_ms: opt_u64(row, "pay_latency_ms")?,
                    fiat_minor: opt_u64(row, "fiat_minor")?,
                    fiat_currency: row.try_get("fiat_currency")?,
                    price_source: row.try_get("price_source")?,
                    btc_price_minor: opt_u64(row, "btc_price_minor")?,
                    error: row.try_get("error")?,
                    token_kind: row
                        .try_get::<Option<String>, _>("token_kind")?
                        .and_then(|k| k.parse().ok()),
                })
            })
            .collect()
    }
}
