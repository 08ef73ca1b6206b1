//! Opening a dev node: its data directory, node key and migrated ledger.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::{PublicKey, Secp256k1};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlSafeStr};

use super::keys::{load_or_create_key, random_key};
use super::{DB_FILE, Db, DevNode, DevNodeError, GroupCommit, Inner, KEY_FILE};

/// Configures and opens a [`DevNode`].
///
/// ```
/// use l402_lightning::dev::DevNode;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// assert!(node.node_info().alias.contains("NOT A REAL LIGHTNING NODE"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct DevNodeBuilder {
    data_dir: Option<PathBuf>,
    allow_non_loopback: bool,
    max_connections: Option<u32>,
}

impl DevNodeBuilder {
    /// Keep the node key and ledger in `dir` (created if missing). State
    /// survives restarts.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Keep everything in memory with a fresh node key (the default when no
    /// data directory is set). Everything is lost when the node is dropped.
    pub fn in_memory(mut self) -> Self {
        self.data_dir = None;
        self
    }

    /// Allow [`DevNode::serve`] on non-loopback addresses. Off by default:
    /// the dev node holds fake money and its API exposes preimages.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// The number of SQLite reader connections for an on-disk ledger (default
    /// 4); writes always use one dedicated connection.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n.max(1));
        self
    }

    /// Opens the node: loads or creates the node key, opens and migrates the
    /// ledger.
    ///
    /// # Errors
    /// [`DevNodeError`] if the data directory, key or database cannot be used.
    pub async fn open(self) -> Result<DevNode, DevNodeError> {
        let secp = Secp256k1::new();
        let storage_err = |e: sqlx::Error| DevNodeError::Storage(e.to_string());
        let (key, db) = match &self.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| DevNodeError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let key = load_or_create_key(&dir.join(KEY_FILE))?;
                let options = SqliteConnectOptions::new()
                    .filename(dir.join(DB_FILE))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                // All writes go through one long-lived connection: SQLite
                // serialises writers anyway, and a connection whose page cache
                // no other connection invalidates writes markedly faster.
                let mut writer = options.connect().await.map_err(storage_err)?;
                migrator()
                    .run(&mut writer)
                    .await
                    .map_err(|e| DevNodeError::Storage(e.to_string()))?;
                let readers = SqlitePoolOptions::new()
                    .max_connections(self.max_connections.unwrap_or(4))
                    .connect_with(options)
                    .await
                    .map_err(storage_err)?;
                (key, Db::new(writer, Some(readers)))
            }
            None => {
                let key = random_key()?;
                // One connection for everything: an in-memory database lives
                // exactly as long as its connection.
                let options = SqliteConnectOptions::new()
                    .in_memory(true)
                    .foreign_keys(true);
                let mut conn = options.connect().await.map_err(storage_err)?;
                migrator()
                    .run(&mut conn)
                    .await
                    .map_err(|e| DevNodeError::Storage(e.to_string()))?;
                (key, Db::new(conn, None))
            }
        };
        let db = Arc::new(db);
        let pubkey = PublicKey::from_secret_key(&secp, &key);
        let invoices = GroupCommit::new(db.clone());
        Ok(DevNode {
            inner: Arc::new(Inner {
                db,
                invoices,
                settled: super::settled::Feed::new(),
                keys: Default::default(),
                secp,
                key,
                pubkey,
                allow_non_loopback: self.allow_non_loopback,
                data_dir: self.data_dir,
            }),
        })
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "dev node ledger".into(),
            MigrationType::Simple,
            include_str!("../../migrations/dev/0001_ledger.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "dev node failure injection".into(),
            MigrationType::Simple,
            include_str!("../../migrations/dev/0002_faults.sql").into_sql_str(),
            false,
        ),
    ])
}
