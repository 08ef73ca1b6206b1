//! Opening a [`Store`]: SQLite (one file, WAL) or PostgreSQL (a schema),
//! with the migrations.

#[cfg(feature = "sqlite")]
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlSafeStr};

use crate::StoreError;
use crate::db::{Db, Store};

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
        Migration::new(
            3,
            "current price".into(),
            MigrationType::Simple,
            include_str!("../migrations/0003_current_price.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "identity and stats".into(),
            MigrationType::Simple,
            include_str!("../migrations/0004_identity_and_stats.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            "webhooks".into(),
            MigrationType::Simple,
            include_str!("../migrations/0005_webhooks.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            6,
            "directory".into(),
            MigrationType::Simple,
            include_str!("../migrations/0006_directory.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            7,
            "lightning address, splits, passes".into(),
            MigrationType::Simple,
            include_str!("../migrations/0007_lightning_address_splits_passes.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            8,
            "proxy services".into(),
            MigrationType::Simple,
            include_str!("../migrations/0008_proxy_services.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            9,
            "proxy counters".into(),
            MigrationType::Simple,
            include_str!("../migrations/0009_proxy_counters.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            10,
            "route and challenge rollups".into(),
            MigrationType::Simple,
            include_str!("../migrations/0010_route_and_challenge_rollups.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            11,
            "split credit payout".into(),
            MigrationType::Simple,
            include_str!("../migrations/0011_split_credit_payout.sql").into_sql_str(),
            false,
        ),
    ])
}

/// Where a [`Store`] lives.
#[derive(Debug, Clone)]
enum Target {
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
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

/// Whether `name` is a plain schema name (`[a-z_][a-z0-9_]{0,62}`).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && name.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

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
}

impl StoreBuilder {
    /// A SQLite database at `path` (created if missing; WAL).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.target = Some(Target::Sqlite(path.into()));
        self
    }

    /// A PostgreSQL database (`postgres://user@host:port/db`).
    #[cfg(feature = "postgres")]
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
            #[cfg(feature = "sqlite")]
            Some(Target::Sqlite(path)) => self.open_sqlite(&path).await,
            #[cfg(feature = "postgres")]
            Some(Target::Postgres(url)) => self.open_postgres(&url).await,
            None => Err(StoreError::Config(
                "no database: call sqlite(path) or postgres(url)".into(),
            )),
        }
    }

    #[cfg(feature = "sqlite")]
    async fn open_sqlite(&self, path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
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

    #[cfg(feature = "postgres")]
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

#[cfg(feature = "postgres")]
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
