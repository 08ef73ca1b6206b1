//! [`Store`]: the traits on SQLite or PostgreSQL, with one set of portable
//! SQL statements and one set of migrations.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, SqlSafeStr};

use crate::key::{hash_presented, presented_matches};
use crate::{
    ApiKey, ApiKeyInfo, Authenticated, ChallengeRecord, ChallengeStore, Claim, Claimed, Merchant,
    MerchantStatus, MerchantStore, NewApiKey, PaymentRecord, PaymentStore, Stats, StoreError,
    VerificationCount,
};

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "producer state".into(),
            MigrationType::Simple,
            include_str!("../migrations/0001_producer.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "claims and retention".into(),
            MigrationType::Simple,
            include_str!("../migrations/0002_claims_and_retention.sql").into_sql_str(),
            false,
        ),
    ])
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite {
        reader: SqlitePool,
        writer: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool that reads.
macro_rules! reading {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            Db::Sqlite { reader: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool that writes (SQLite has one
/// writer connection, so writers queue instead of spinning on the lock).
macro_rules! writing {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            Db::Sqlite { writer: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

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
    db: Db,
}

/// Where a [`Store`] lives.
#[derive(Debug, Clone)]
enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Configures a [`Store`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StoreBuilder {
    target: Option<Target>,
    schema: Option<String>,
    max_connections: u32,
    connect_timeout: Duration,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Whether `name` is a plain schema name (`[a-z_][a-z0-9_]{0,62}`).
fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

impl StoreBuilder {
    /// A SQLite database at `path` (created if missing; WAL).
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.target = Some(Target::Sqlite(path.into()));
        self
    }

    /// A PostgreSQL database (`postgres://user@host:port/db`).
    pub fn postgres(mut self, url: impl Into<String>) -> Self {
        self.target = Some(Target::Postgres(url.into()));
        self
    }

    /// The PostgreSQL schema to use (created if missing); default `public`.
    /// Lets several deployments, or tests, share one database.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The most connections to PostgreSQL (default 16), or SQLite readers (default 4).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Opens the database and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError`] if nothing was configured, the database cannot be
    /// reached or the migrations fail.
    pub async fn open(self) -> Result<Store, StoreError> {
        match self.target.clone() {
            Some(Target::Sqlite(path)) => self.open_sqlite(&path).await,
            Some(Target::Postgres(url)) => self.open_postgres(&url).await,
            None => Err(StoreError::Config(
                "no database: call sqlite(path) or postgres(url)".into(),
            )),
        }
    }

    async fn open_sqlite(&self, path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        }
        // Processes opening a new database at once must not both migrate it.
        let lock_path = format!("{}.lock", path.display());
        let lock = tokio::task::spawn_blocking(move || -> Result<std::fs::File, StoreError> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| StoreError::Open(format!("{lock_path}: {e}")))?;
            file.lock()
                .map_err(|e| StoreError::Open(format!("locking {lock_path}: {e}")))?;
            Ok(file)
        })
        .await
        .map_err(|e| StoreError::Open(format!("lock task: {e}")))??;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a crash of the process (not of
            // the machine's power); fsync happens at checkpoints.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .disable_statement_logging();
        let open = |n: u32| {
            SqlitePoolOptions::new()
                .max_connections(n)
                .acquire_timeout(self.connect_timeout)
                .connect_with(options.clone())
        };
        let writer = open(1)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        migrator()
            .run(&writer)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        drop(lock);
        let reader = open(self.max_connections.min(8))
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        Ok(Store {
            db: Db::Sqlite { reader, writer },
        })
    }

    async fn open_postgres(&self, url: &str) -> Result<Store, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|e| {
            StoreError::Config(format!(
                "not a PostgreSQL URL (postgres://user@host/db): {e}"
            ))
        })?;
        let options = options.disable_statement_logging();
        let options = match &self.schema {
            Some(schema) => {
                if !valid_schema(schema) {
                    return Err(StoreError::Config(format!(
                        "schema {schema:?} must be lower-case letters, digits and _ (at most 63)"
                    )));
                }
                create_schema(&options, schema).await?;
                options.options([("search_path", schema.as_str())])
            }
            None => options,
        };
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open(format!("PostgreSQL: {e}")))?;
        // sqlx serializes migrations across processes with an advisory lock.
        migrator()
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(Store {
            db: Db::Postgres(pool),
        })
    }
}

async fn create_schema(options: &PgConnectOptions, schema: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| StoreError::Open(format!("PostgreSQL: {e}")))?;
    // The name was checked to be [a-z0-9_]: safe to quote into the statement.
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    let first = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut conn)
        .await;
    if first.is_err() {
        // Two processes creating it at once: one may fail; the second try sees it.
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
    }
    let _ = conn.close().await;
    Ok(())
}

type ChallengeRow = (
    String,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
);

const CHALLENGE_COLUMNS: &str = "payment_hash, merchant_id, api, resource, amount_sats, \
     description, owner_address, invoice, macaroon, expires_at, created_at";

fn challenge_of(row: ChallengeRow) -> ChallengeRecord {
    ChallengeRecord {
        payment_hash: row.0,
        merchant_id: row.1,
        api: row.2,
        resource: row.3,
        amount_sats: to_u64(row.4),
        description: row.5,
        owner_address: row.6,
        invoice: row.7,
        macaroon: row.8,
        expires_at: to_u64(row.9),
        created_at: to_u64(row.10),
    }
}

type MerchantRow = (i64, String, String, i64);

fn merchant_of(row: MerchantRow) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: row.0,
        name: row.1,
        status: MerchantStatus::parse(&row.2)?,
        created_at: to_u64(row.3),
    })
}

type KeyRow = (String, i64, Option<String>, i64, Option<i64>);

fn key_of(row: KeyRow) -> ApiKeyInfo {
    ApiKeyInfo {
        id: row.0,
        merchant_id: row.1,
        label: row.2,
        created_at: to_u64(row.3),
        revoked_at: row.4.map(to_u64),
    }
}

type StatsRow = (i64, i64, i64, i64, i64, i64);

fn stats_of(row: StatsRow) -> Stats {
    Stats {
        challenges: to_u64(row.0),
        challenged_sats: to_u64(row.1),
        payments: to_u64(row.2),
        paid_sats: to_u64(row.3),
        verifications_valid: to_u64(row.4),
        verifications_invalid: to_u64(row.5),
    }
}

const INSERT_MERCHANT: &str = "INSERT INTO merchants (id, name, status, created_at) \
     SELECT COALESCE(MAX(id), 0) + 1, $1, 'active', $2 FROM merchants \
     RETURNING id, name, status, created_at";
const SELECT_MERCHANTS: &str =
    "SELECT id, name, status, created_at FROM merchants WHERE id > 0 ORDER BY id";
const SELECT_MERCHANT: &str = "SELECT id, name, status, created_at FROM merchants WHERE id = $1";
const UPDATE_MERCHANT_STATUS: &str = "UPDATE merchants SET status = $2 WHERE id = $1 \
     RETURNING id, name, status, created_at";
const INSERT_KEY: &str = "INSERT INTO api_keys (id, merchant_id, key_hash, label, created_at) \
     VALUES ($1, $2, $3, $4, $5)";
const SELECT_KEYS: &str = "SELECT id, merchant_id, label, created_at, revoked_at FROM api_keys \
     WHERE merchant_id = $1 ORDER BY created_at, id";
const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE merchant_id = $1 AND id = $2 \
     RETURNING id, merchant_id, label, created_at, revoked_at";
const SELECT_KEY_FOR_AUTH: &str = "SELECT k.key_hash, m.id, m.name, m.status, m.created_at \
     FROM api_keys k JOIN merchants m ON m.id = k.merchant_id \
     WHERE k.id = $1 AND k.revoked_at IS NULL";
/// Takes the scope unless a live claim holds it: an expired claim, or one
/// still issuing after the stale limit, is taken over. One statement, so of
/// concurrent claimants exactly one sees a row affected.
const CLAIM_SCOPE: &str = "INSERT INTO idempotency \
     (merchant_id, scope, payment_hash, claimed_at_ms, expires_at_ms) \
     VALUES ($1, $2, NULL, $3, $4) \
     ON CONFLICT (merchant_id, scope) DO UPDATE \
     SET payment_hash = NULL, claimed_at_ms = excluded.claimed_at_ms, \
     expires_at_ms = excluded.expires_at_ms \
     WHERE idempotency.expires_at_ms <= $3 \
     OR (idempotency.payment_hash IS NULL AND idempotency.claimed_at_ms <= $5)";
const SELECT_CLAIM: &str = "SELECT i.payment_hash, c.payment_hash, c.merchant_id, c.api, \
     c.resource, c.amount_sats, c.description, c.owner_address, c.invoice, c.macaroon, \
     c.expires_at, c.created_at FROM idempotency i \
     LEFT JOIN challenges c ON c.payment_hash = i.payment_hash \
     WHERE i.merchant_id = $1 AND i.scope = $2";
const COMPLETE_CLAIM: &str = "UPDATE idempotency SET payment_hash = $3 \
     WHERE merchant_id = $1 AND scope = $2 AND payment_hash IS NULL";
const RELEASE_CLAIM: &str =
    "DELETE FROM idempotency WHERE merchant_id = $1 AND scope = $2 AND payment_hash IS NULL";
const INSERT_CHALLENGE: &str = "INSERT INTO challenges (payment_hash, merchant_id, api, resource, \
     amount_sats, description, owner_address, invoice, macaroon, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (payment_hash) DO NOTHING";
const PURGE_CLAIMS: &str = "DELETE FROM idempotency WHERE (merchant_id, scope) IN \
     (SELECT merchant_id, scope FROM idempotency WHERE expires_at_ms <= $1 \
     ORDER BY expires_at_ms LIMIT $2)";
const PRUNE_UNPAID: &str = "DELETE FROM challenges WHERE payment_hash IN \
     (SELECT c.payment_hash FROM challenges c WHERE c.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.payment_hash = c.payment_hash) \
     ORDER BY c.created_at LIMIT $2) \
     RETURNING merchant_id, amount_sats";
const ADD_PRUNED: &str = "INSERT INTO pruned_challenges (merchant_id, challenges, sats) \
     VALUES ($1, $2, $3) ON CONFLICT (merchant_id) DO UPDATE \
     SET challenges = pruned_challenges.challenges + excluded.challenges, \
     sats = pruned_challenges.sats + excluded.sats";
const INSERT_PAYMENT: &str = "INSERT INTO payments (payment_hash, merchant_id, resource, \
     amount_sats, verified_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (payment_hash) DO NOTHING";
const ADD_VERIFICATIONS: &str = "INSERT INTO verifications (merchant_id, day, valid, invalid) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, day) DO UPDATE \
     SET valid = verifications.valid + excluded.valid, \
     invalid = verifications.invalid + excluded.invalid";
const STATS: &str = "SELECT \
     (SELECT COUNT(*) FROM challenges WHERE $1 IS NULL OR merchant_id = $1) + \
     (SELECT CAST(COALESCE(SUM(challenges), 0) AS BIGINT) FROM pruned_challenges \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM challenges \
        WHERE $1 IS NULL OR merchant_id = $1) + \
     (SELECT CAST(COALESCE(SUM(sats), 0) AS BIGINT) FROM pruned_challenges \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT COUNT(*) FROM payments WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM payments \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(valid), 0) AS BIGINT) FROM verifications \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(invalid), 0) AS BIGINT) FROM verifications \
        WHERE $1 IS NULL OR merchant_id = $1)";
const STATS_CHALLENGES: &str = "SELECT merchant_id, CAST(SUM(n) AS BIGINT), \
     CAST(SUM(sats) AS BIGINT) FROM ( \
     SELECT merchant_id, COUNT(*) AS n, CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) AS sats \
     FROM challenges GROUP BY merchant_id \
     UNION ALL SELECT merchant_id, challenges, sats FROM pruned_challenges) AS t \
     GROUP BY merchant_id";
const STATS_PAYMENTS: &str = "SELECT merchant_id, COUNT(*), \
     CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM payments GROUP BY merchant_id";
const STATS_VERIFICATIONS: &str = "SELECT merchant_id, \
     CAST(COALESCE(SUM(valid), 0) AS BIGINT), CAST(COALESCE(SUM(invalid), 0) AS BIGINT) \
     FROM verifications GROUP BY merchant_id";

impl Store {
    /// Configures a store.
    pub fn builder() -> StoreBuilder {
        StoreBuilder {
            target: None,
            schema: None,
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Opens (creating and migrating) a SQLite store at `path`.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be opened or migrated.
    pub async fn sqlite(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::builder().sqlite(path).open().await
    }

    /// Opens (migrating) a PostgreSQL store.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be reached or migrated.
    pub async fn postgres(url: &str) -> Result<Self, StoreError> {
        Self::builder().postgres(url).open().await
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the pools, waiting for queries in flight.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { reader, writer } => {
                reader.close().await;
                writer.close().await;
            }
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

/// Inserts one challenge on `$executor` (a pool or a transaction, of either
/// database).
macro_rules! insert_challenge {
    ($executor:expr, $c:expr) => {{
        let c: &ChallengeRecord = $c;
        sqlx::query(INSERT_CHALLENGE)
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
            .execute($executor)
            .await?;
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
                insert_challenge!(&mut *tx, c);
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
            insert_challenge!(&mut *tx, c);
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

#[async_trait::async_trait]
impl PaymentStore for Store {
    async fn record_payment(&self, p: &PaymentRecord) -> Result<bool, StoreError> {
        let done = writing!(self, |pool| {
            sqlx::query(INSERT_PAYMENT)
                .bind(&p.payment_hash)
                .bind(p.merchant_id)
                .bind(p.resource.as_deref())
                .bind(to_i64(p.amount_sats))
                .bind(to_i64(p.verified_at))
                .execute(pool)
                .await?
                .rows_affected()
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

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names() {
        assert!(valid_schema("l402"));
        assert!(valid_schema("_t_1"));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("a\"b"));
        assert!(!valid_schema(""));
        assert!(!valid_schema(&"a".repeat(64)));
    }
}
