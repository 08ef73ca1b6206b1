//! The embedded **dev node**: a self-contained Lightning stand-in for
//! development, demos and tests. **It is not a real Lightning node and moves no
//! real money.**
//!
//! * It signs real regtest BOLT11 invoices (`lnbcrt…`) with a node key kept in
//!   its data directory (`node_key`), so any BOLT11 decoder accepts them.
//! * It keeps a ledger of wallets, balances, invoices and payments in SQLite
//!   (`dev-node.sqlite` in the data directory), so state survives restarts.
//! * An invoice is settled when one of the node's own wallets pays it: the
//!   payer is debited, the payee credited, and the payer gets the real
//!   preimage. Expiry is enforced; paying twice or paying an invoice this node
//!   did not issue is refused.
//! * Wallets get balances from a dev-only faucet ([`DevWallet::credit_sats`], or
//!   `POST /dev/v1/faucet` over HTTP).
//! * [`DevNode::serve`] exposes a subset of the LNbits 1.6 wallet API
//!   (see [`http`](self#http-api)), so [`crate::lnbits::LnbitsClient`] drives it
//!   unchanged.
//!
//! In process, each [`DevWallet`] implements both [`Receiver`] and [`Wallet`]:
//!
//! ```
//! use l402_lightning::dev::DevNode;
//! use l402_lightning::{InvoiceRequest, PayError, PayRequest, Receiver, Wallet};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("l402-dev-doc-{}", std::process::id()));
//! let node = DevNode::builder().data_dir(&dir).open().await?;
//! let seller = node.wallet("seller").await?;
//! let buyer = node.wallet("buyer").await?;
//! buyer.credit_sats(100).await?;
//!
//! let invoice = seller.create_invoice(&InvoiceRequest::sats(21)).await?;
//! let payment = buyer.pay(&PayRequest::new(&invoice.bolt11)).await?;
//! assert_eq!(payment.amount_msat, 21_000);
//! assert!(matches!(
//!     buyer.pay(&PayRequest::new(&invoice.bolt11)).await,
//!     Err(PayError::AlreadyPaid { .. })
//! ));
//! assert_eq!(seller.balance_msat().await?, 21_000);
//! # drop(node); let _ = std::fs::remove_dir_all(&dir);
//! # Ok(()) }
//! ```
//!
//! # HTTP API
//!
//! [`DevNode::serve`] binds a loopback address (anything else needs
//! [`DevNodeBuilder::allow_non_loopback`]) and answers, with LNbits 1.6's JSON
//! shapes and status codes, and `X-Api-Key: <invoice or admin key>` (or
//! `?api-key=`):
//!
//! | Call | Notes |
//! |---|---|
//! | `POST /api/v1/payments {"out":false,"amount":<sats>,"memo","expiry"}` | 201; invoice or admin key |
//! | `POST /api/v1/payments {"out":true,"bolt11"}` | 201; admin key (invoice key: 403); failures 520 `{"detail","status":"failed"}` |
//! | `GET /api/v1/payments/{hash}` | `{paid,status,preimage,details}`; without a key `{paid,preimage}` |
//! | `GET /api/v1/wallet` | `{name,balance}` (msat) |
//! | `POST /api/v1/account {"name"}` | creates a wallet: `{id,name,adminkey,inkey,balance_msat}` |
//! | `POST /dev/v1/faucet {"amount":<sats>}` | dev only: credits the key's wallet |
//! | `GET /dev/v1/info` | node info, saying it is not a real node |
//!
//! Errors are `{"detail": …}`: no key 401, unknown key 404. Every response
//! carries `x-l402-dev-node: NOT A REAL LIGHTNING NODE`, and every JSON object
//! the node returns has a `"dev_node"` field saying so.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, SqlSafeStr};
use tokio::sync::oneshot;

use crate::invoice::{precheck, verify_preimage};
use crate::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, NodeInfo, OutgoingStatus,
    PayError, PayRequest, Payment, PaymentHash, Preimage, ReceiveError, Receiver, Wallet, unix_now,
};

mod db;
mod http;

use db::Db;

pub use http::DevServer;

/// The dev node's alias, everywhere it introduces itself.
pub const DEV_NODE_ALIAS: &str = "l402 dev node (NOT A REAL LIGHTNING NODE)";

/// The warning the dev node adds to every HTTP response and JSON object.
pub const NOT_A_REAL_NODE: &str = "NOT A REAL LIGHTNING NODE";

const BACKEND: Backend = Backend::Dev;
const KEY_FILE: &str = "node_key";
const DB_FILE: &str = "dev-node.sqlite";
/// BOLT11 descriptions are limited to 639 bytes.
const MAX_MEMO_BYTES: usize = 639;

/// Opening or serving the dev node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevNodeError {
    /// Reading or writing the data directory failed.
    #[error("dev node: {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stored node key is not a valid secp256k1 secret key.
    #[error("dev node: {path}: not a valid node key")]
    BadNodeKey {
        /// The key file.
        path: PathBuf,
    },
    /// The SQLite ledger could not be opened or migrated.
    #[error("dev node: storage error: {0}")]
    Storage(String),
    /// Serving on a non-loopback address was refused.
    #[error(
        "dev node: refusing to listen on non-loopback address {0}: the dev node is not a real \
         Lightning node; use DevNodeBuilder::allow_non_loopback(true) to override"
    )]
    NonLoopback(SocketAddr),
    /// Binding the listener failed.
    #[error("dev node: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A ledger operation failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The operating system's random source failed.
    #[error("dev node: random source failed: {0}")]
    Random(String),
}

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
    Migrator::with_migrations(vec![Migration::new(
        1,
        "dev node ledger".into(),
        MigrationType::Simple,
        include_str!("../../migrations/dev/0001_ledger.sql").into_sql_str(),
        false,
    )])
}

fn random_bytes() -> Result<[u8; 32], DevNodeError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| DevNodeError::Random(e.to_string()))?;
    Ok(bytes)
}

fn random_key() -> Result<SecretKey, DevNodeError> {
    loop {
        // Fails only for zero or >= the curve order: practically never.
        if let Ok(key) = SecretKey::from_slice(&random_bytes()?) {
            return Ok(key);
        }
    }
}

fn load_or_create_key(path: &Path) -> Result<SecretKey, DevNodeError> {
    let io = |source| DevNodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bad = || DevNodeError::BadNodeKey {
                path: path.to_path_buf(),
            };
            let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
            SecretKey::from_slice(&bytes).map_err(|_| bad())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_key()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            std::io::Write::write_all(&mut file, hex::encode(key.secret_bytes()).as_bytes())
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// The embedded dev node. Cheap to clone; clones share the ledger.
///
/// **Not a real Lightning node**: see the [module docs](self).
#[derive(Clone)]
pub struct DevNode {
    inner: Arc<Inner>,
}

struct Inner {
    /// The ledger: one writing connection (plus readers on disk).
    db: Arc<Db>,
    /// New invoices, inserted in batches under contention.
    invoices: GroupCommit,
    /// API key -> wallet, for the HTTP API.
    keys: std::sync::RwLock<std::collections::HashMap<String, WalletKeys>>,
    secp: Secp256k1<All>,
    key: SecretKey,
    pubkey: PublicKey,
    allow_non_loopback: bool,
    data_dir: Option<PathBuf>,
}

impl fmt::Debug for DevNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevNode")
            .field("alias", &DEV_NODE_ALIAS)
            .field("pubkey", &self.inner.pubkey.to_string())
            .field("data_dir", &self.inner.data_dir)
            .field("node_key", &"..")
            .finish()
    }
}

fn storage(e: sqlx::Error) -> BackendError {
    BackendError::Storage {
        backend: BACKEND,
        reason: e.to_string(),
    }
}

fn random32() -> Result<[u8; 32], BackendError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| BackendError::Storage {
        backend: BACKEND,
        reason: format!("random source failed: {e}"),
    })?;
    Ok(bytes)
}

/// A wallet's identity and keys, as cached for the HTTP API.
#[derive(Clone)]
struct WalletKeys {
    id: String,
    name: String,
    invoice_key: String,
    admin_key: String,
}

/// The kind of key presented to the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Invoice,
    Admin,
}

impl DevNode {
    /// A builder; with no data directory the node lives in memory.
    pub fn builder() -> DevNodeBuilder {
        DevNodeBuilder::default()
    }

    /// Closes the ledger's connections (waiting for them to finish). Other
    /// clones of this node and its wallets fail afterwards. Dropping the last
    /// clone also closes it, but without waiting.
    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    /// The node's public key.
    pub fn pubkey(&self) -> PublicKey {
        self.inner.pubkey
    }

    /// The data directory, if the node is on disk.
    pub fn data_dir(&self) -> Option<&Path> {
        self.inner.data_dir.as_deref()
    }

    /// What the node says about itself; it says it is not a real node.
    pub fn node_info(&self) -> NodeInfo {
        NodeInfo {
            backend: BACKEND,
            alias: DEV_NODE_ALIAS.to_string(),
            pubkey: Some(self.inner.pubkey.to_string()),
            network: Some("regtest".to_string()),
            real_lightning: false,
        }
    }

    /// The wallet named `name`, created (with fresh keys and zero balance) if
    /// there is none. With several of that name, the oldest.
    ///
    /// # Errors
    /// [`DevNodeError`] if the ledger fails.
    pub async fn wallet(&self, name: &str) -> Result<DevWallet, DevNodeError> {
        if let Some(wallet) = self.oldest_wallet(name).await? {
            return Ok(wallet);
        }
        let created = self.create_wallet(name).await?;
        // Two callers racing to create the same name both get the oldest.
        Ok(self.oldest_wallet(name).await?.unwrap_or(created))
    }

    async fn oldest_wallet(&self, name: &str) -> Result<Option<DevWallet>, BackendError> {
        let row = self
            .inner
            .db
            .write_optional(
                sqlx::query(
                    "SELECT id, name, invoice_key, admin_key FROM wallets WHERE name = ?1 \
             ORDER BY created_at, rowid LIMIT 1",
                )
                .bind(name),
            )
            .await?;
        row.map(|row| self.wallet_from_row(&row)).transpose()
    }

    /// Creates a new wallet with fresh keys and zero balance, even if one of
    /// that name exists.
    ///
    /// # Errors
    /// [`DevNodeError`] if the ledger fails.
    pub async fn create_wallet(&self, name: &str) -> Result<DevWallet, DevNodeError> {
        let id = hex::encode(&random_bytes()?[..16]);
        let invoice_key = hex::encode(&random_bytes()?[..16]);
        let admin_key = hex::encode(&random_bytes()?[..16]);
        self.inner.db.execute(sqlx::query(
            "INSERT INTO wallets (id, name, invoice_key, admin_key, balance_msat, created_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        )
        .bind(&id)
        .bind(name)
        .bind(&invoice_key)
        .bind(&admin_key)
        .bind(unix_now() as i64)).await?;
        Ok(DevWallet {
            node: self.clone(),
            id,
            name: name.to_string(),
            invoice_key,
            admin_key,
        })
    }

    /// The wallet whose invoice or admin key is `key`, and which key it was.
    pub(crate) async fn wallet_by_key(
        &self,
        key: &str,
    ) -> Result<Option<(DevWallet, KeyKind)>, BackendError> {
        // Keys never change and wallets are never deleted: cache hits.
        let cached = self
            .inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(wallet) = cached {
            let kind = if wallet.admin_key == key {
                KeyKind::Admin
            } else {
                KeyKind::Invoice
            };
            return Ok(Some((self.wallet_from_keys(wallet), kind)));
        }
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query(
                    "SELECT id, name, invoice_key, admin_key FROM wallets \
             WHERE invoice_key = ?1 OR admin_key = ?1",
                )
                .bind(key),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let wallet = self.wallet_from_row(&row)?;
        self.remember(&wallet);
        let kind = if wallet.admin_key == key {
            KeyKind::Admin
        } else {
            KeyKind::Invoice
        };
        Ok(Some((wallet, kind)))
    }

    fn remember(&self, wallet: &DevWallet) {
        let keys = WalletKeys {
            id: wallet.id.clone(),
            name: wallet.name.clone(),
            invoice_key: wallet.invoice_key.clone(),
            admin_key: wallet.admin_key.clone(),
        };
        let mut cache = self
            .inner
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(keys.invoice_key.clone(), keys.clone());
        cache.insert(keys.admin_key.clone(), keys);
    }

    fn wallet_from_keys(&self, keys: WalletKeys) -> DevWallet {
        DevWallet {
            node: self.clone(),
            id: keys.id,
            name: keys.name,
            invoice_key: keys.invoice_key,
            admin_key: keys.admin_key,
        }
    }

    fn wallet_from_row(&self, row: &sqlx::sqlite::SqliteRow) -> Result<DevWallet, BackendError> {
        Ok(DevWallet {
            node: self.clone(),
            id: row.try_get("id").map_err(storage)?,
            name: row.try_get("name").map_err(storage)?,
            invoice_key: row.try_get("invoice_key").map_err(storage)?,
            admin_key: row.try_get("admin_key").map_err(storage)?,
        })
    }

    /// Serves the LNbits-compatible HTTP API on `addr` (port 0 picks a free
    /// port). Refuses non-loopback addresses unless the builder allowed them.
    ///
    /// ```
    /// use l402_lightning::dev::DevNode;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let node = DevNode::builder().in_memory().open().await?;
    /// let server = node.serve("127.0.0.1:0".parse()?).await?;
    /// assert!(server.url().starts_with("http://127.0.0.1:"));
    /// assert!(node.serve("0.0.0.0:0".parse()?).await.is_err());
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`DevNodeError::NonLoopback`] or [`DevNodeError::Bind`].
    pub async fn serve(&self, addr: SocketAddr) -> Result<DevServer, DevNodeError> {
        if !addr.ip().is_loopback() && !self.inner.allow_non_loopback {
            return Err(DevNodeError::NonLoopback(addr));
        }
        http::serve(self.clone(), addr).await
    }

    async fn create_invoice_for(
        &self,
        wallet_id: &str,
        request: &InvoiceRequest,
    ) -> Result<InvoiceRecord, ReceiveError> {
        let invalid = |reason: String| ReceiveError::InvalidRequest {
            backend: BACKEND,
            reason,
        };
        if request.amount_msat == 0 {
            return Err(invalid("amount must be positive".into()));
        }
        if request.amount_msat > i64::MAX as u64 {
            return Err(invalid("amount too large".into()));
        }
        if request.memo.len() > MAX_MEMO_BYTES {
            return Err(invalid(format!(
                "memo is {} bytes; BOLT11 allows at most {MAX_MEMO_BYTES}",
                request.memo.len()
            )));
        }
        if request.expiry < Duration::from_secs(1) || request.expiry.as_secs() > u32::MAX as u64 {
            return Err(invalid(
                "expiry must be between 1 second and 136 years".into(),
            ));
        }
        let preimage = Preimage::from(random32()?);
        let payment_hash = preimage.payment_hash();
        let secret = PaymentSecret(random32()?);
        let now = std::time::SystemTime::now();
        let created = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Whole seconds, as BOLT11 timestamps are.
        let created = Duration::from_secs(created.as_secs());
        let inner = &*self.inner;
        let bolt11 = InvoiceBuilder::new(Currency::Regtest)
            .description(request.memo.clone())
            .payment_hash(sha256::Hash::from_byte_array(payment_hash.0))
            .payment_secret(secret)
            .duration_since_epoch(created)
            .min_final_cltv_expiry_delta(18)
            .amount_milli_satoshis(request.amount_msat)
            .expiry_time(request.expiry)
            .build_signed(|msg| inner.secp.sign_ecdsa_recoverable(msg, &inner.key))
            .map_err(|e| invalid(e.to_string()))?
            .to_string();
        let created_secs = created.as_secs();
        let expires_secs = created_secs.saturating_add(request.expiry.as_secs());
        // Returns only once the invoice is committed: it survives a restart.
        inner
            .invoices
            .insert(NewInvoice {
                payment_hash: payment_hash.to_string(),
                wallet_id: wallet_id.to_string(),
                bolt11: bolt11.clone(),
                preimage: preimage.to_hex(),
                amount_msat: request.amount_msat as i64,
                memo: request.memo.clone(),
                created_at: created_secs as i64,
                expires_at: expires_secs as i64,
            })
            .await?;
        Ok(InvoiceRecord {
            payment_hash,
            wallet_id: wallet_id.to_string(),
            bolt11,
            preimage,
            amount_msat: request.amount_msat,
            memo: request.memo.clone(),
            created_at: created_secs,
            expires_at: expires_secs,
            paid_at: None,
        })
    }

    /// The stored record of an invoice, optionally restricted to one wallet.
    pub(crate) async fn invoice_record(
        &self,
        payment_hash: &PaymentHash,
        wallet_id: Option<&str>,
    ) -> Result<Option<InvoiceRecord>, BackendError> {
        let row = self.inner.db.read_optional(sqlx::query(
            "SELECT wallet_id, bolt11, preimage, amount_msat, memo, created_at, expires_at, \
             paid_at FROM invoices WHERE payment_hash = ?1 AND (?2 IS NULL OR wallet_id = ?2)",
        )
        .bind(payment_hash.to_string())
        .bind(wallet_id)).await?;
        let Some(row) = row else { return Ok(None) };
        let preimage: String = row.try_get("preimage").map_err(storage)?;
        let preimage = Preimage::from_str(&preimage).map_err(|e| BackendError::Storage {
            backend: BACKEND,
            reason: format!("stored preimage: {e}"),
        })?;
        Ok(Some(InvoiceRecord {
            payment_hash: *payment_hash,
            wallet_id: row.try_get("wallet_id").map_err(storage)?,
            bolt11: row.try_get("bolt11").map_err(storage)?,
            preimage,
            amount_msat: row.try_get::<i64, _>("amount_msat").map_err(storage)? as u64,
            memo: row.try_get("memo").map_err(storage)?,
            created_at: row.try_get::<i64, _>("created_at").map_err(storage)? as u64,
            expires_at: row.try_get::<i64, _>("expires_at").map_err(storage)? as u64,
            paid_at: row
                .try_get::<Option<i64>, _>("paid_at")
                .map_err(storage)?
                .map(|t| t as u64),
        }))
    }

    /// An outgoing payment made by `wallet_id`.
    pub(crate) async fn payment_record(
        &self,
        payment_hash: &PaymentHash,
        wallet_id: Option<&str>,
    ) -> Result<Option<(String, InvoiceRecord)>, BackendError> {
        let row = self.inner.db.read_optional(sqlx::query(
            "SELECT wallet_id FROM payments WHERE payment_hash = ?1 AND (?2 IS NULL OR wallet_id = ?2)",
        )
        .bind(payment_hash.to_string())
        .bind(wallet_id)).await?;
        let Some(row) = row else { return Ok(None) };
        let payer: String = row.try_get("wallet_id").map_err(storage)?;
        Ok(self
            .invoice_record(payment_hash, None)
            .await?
            .map(|inv| (payer, inv)))
    }

    /// The fee recorded for an outgoing payment (0 if none).
    async fn payment_fee(&self, payment_hash: &PaymentHash) -> Result<u64, BackendError> {
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query("SELECT fee_msat FROM payments WHERE payment_hash = ?1")
                    .bind(payment_hash.to_string()),
            )
            .await?;
        let fee: Option<i64> = match row {
            Some(row) => Some(row.try_get("fee_msat").map_err(storage)?),
            None => None,
        };
        Ok(fee.map_or(0, |f| u64::try_from(f).unwrap_or(0)))
    }

    async fn balance_of(&self, wallet_id: &str) -> Result<u64, BackendError> {
        let row = self
            .inner
            .db
            .read_optional(
                sqlx::query("SELECT balance_msat FROM wallets WHERE id = ?1").bind(wallet_id),
            )
            .await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("balance_msat").map_err(storage)? as u64),
            None => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: "wallet not found".into(),
            }),
        }
    }

    async fn credit(&self, wallet_id: &str, amount_msat: u64) -> Result<u64, BackendError> {
        let amount = i64::try_from(amount_msat).map_err(|_| BackendError::Rejected {
            backend: BACKEND,
            status: 0,
            detail: "amount too large".into(),
        })?;
        let row = self.inner.db.write_optional(sqlx::query(
            "UPDATE wallets SET balance_msat = balance_msat + ?1 WHERE id = ?2 RETURNING balance_msat",
        )
        .bind(amount)
        .bind(wallet_id)).await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("balance_msat").map_err(storage)? as u64),
            None => Err(BackendError::Unauthorized {
                backend: BACKEND,
                reason: "wallet not found".into(),
            }),
        }
    }

    /// Pays `bolt11` from `payer_id`: the one place money moves.
    pub(crate) async fn pay_from(
        &self,
        payer_id: &str,
        request: &PayRequest,
    ) -> Result<(Payment, InvoiceRecord), PayError> {
        let decoded = precheck(BACKEND, &request.bolt11)?;
        let hash = decoded.payment_hash;
        let amount_msat = decoded.amount_msat.unwrap_or(0);
        let unknown = |reason: &str| PayError::UnknownInvoice {
            backend: BACKEND,
            payment_hash: hash,
            reason: reason.to_string(),
        };
        if decoded.payee != self.inner.pubkey.to_string() {
            return Err(unknown(
                "not issued by this dev node (it only settles its own invoices)",
            ));
        }
        let now = unix_now() as i64;
        // Everything up to the commit runs in one transaction that an error
        // rolls back: the ledger then knows that nothing was paid.
        let db = |e: sqlx::Error| PayError::Failed {
            backend: BACKEND,
            reason: format!("ledger error, nothing was paid: {e}"),
        };
        let mut conn = self.inner.db.writer().await.map_err(|e| PayError::Failed {
            backend: BACKEND,
            reason: format!("ledger unavailable, nothing was paid: {e}"),
        })?;
        let mut tx = Db::begin_immediate(&mut conn).await.map_err(db)?;
        let settled = sqlx::query(
            "UPDATE invoices SET paid_at = ?1, paid_by = ?2 \
             WHERE payment_hash = ?3 AND paid_at IS NULL AND expires_at > ?1 \
             RETURNING wallet_id, bolt11, preimage, amount_msat, memo, created_at, expires_at",
        )
        .bind(now)
        .bind(payer_id)
        .bind(hash.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = settled else {
            let why = sqlx::query("SELECT paid_at FROM invoices WHERE payment_hash = ?1")
                .bind(hash.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            tx.rollback().await.map_err(db)?;
            return Err(match why {
                None => unknown("no such invoice on this dev node"),
                Some(row) => match row.try_get::<Option<i64>, _>("paid_at").map_err(db)? {
                    Some(_) => PayError::AlreadyPaid {
                        backend: BACKEND,
                        payment_hash: hash,
                    },
                    None => PayError::Expired {
                        backend: BACKEND,
                        payment_hash: hash,
                    },
                },
            });
        };
        let payee: String = row.try_get("wallet_id").map_err(db)?;
        let stored_bolt11: String = row.try_get("bolt11").map_err(db)?;
        let stored_amount = row.try_get::<i64, _>("amount_msat").map_err(db)?;
        let preimage: String = row.try_get("preimage").map_err(db)?;
        let memo: String = row.try_get("memo").map_err(db)?;
        let created_at = row.try_get::<i64, _>("created_at").map_err(db)? as u64;
        let expires_at = row.try_get::<i64, _>("expires_at").map_err(db)? as u64;
        if !stored_bolt11.eq_ignore_ascii_case(request.bolt11.trim())
            || stored_amount as u64 != amount_msat
        {
            tx.rollback().await.map_err(db)?;
            return Err(PayError::InvalidInvoice {
                backend: BACKEND,
                reason: "does not match the invoice this node issued for that payment hash".into(),
            });
        }
        let debited = sqlx::query(
            "UPDATE wallets SET balance_msat = balance_msat - ?1 \
             WHERE id = ?2 AND balance_msat >= ?1",
        )
        .bind(stored_amount)
        .bind(payer_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if debited.rows_affected() != 1 {
            tx.rollback().await.map_err(db)?;
            return Err(PayError::InsufficientBalance {
                backend: BACKEND,
                amount_msat,
            });
        }
        sqlx::query("UPDATE wallets SET balance_msat = balance_msat + ?1 WHERE id = ?2")
            .bind(stored_amount)
            .bind(&payee)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO payments (payment_hash, wallet_id, amount_msat, fee_msat, created_at) \
             VALUES (?1, ?2, ?3, 0, ?4)",
        )
        .bind(hash.to_string())
        .bind(payer_id)
        .bind(stored_amount)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // A failed commit may or may not have reached the disk: unknown.
        tx.commit()
            .await
            .map_err(|e| PayError::Backend(storage(e)))?;

        let preimage = Preimage::from_str(&preimage).map_err(|e| {
            PayError::Backend(BackendError::Storage {
                backend: BACKEND,
                reason: format!("stored preimage: {e}"),
            })
        })?;
        verify_preimage(BACKEND, &hash, &preimage)?;
        let payment = Payment {
            payment_hash: hash,
            preimage: preimage.clone(),
            amount_msat,
            fee_msat: 0,
        };
        let record = InvoiceRecord {
            payment_hash: hash,
            wallet_id: payee,
            bolt11: stored_bolt11,
            preimage,
            amount_msat,
            memo,
            created_at,
            expires_at,
            paid_at: Some(now as u64),
        };
        Ok((payment, record))
    }
}

/// The most invoices inserted by one statement.
const MAX_BATCH: usize = 128;

/// A row for the `invoices` table.
struct NewInvoice {
    payment_hash: String,
    wallet_id: String,
    bolt11: String,
    preimage: String,
    amount_msat: i64,
    memo: String,
    created_at: i64,
    expires_at: i64,
}

type Waiter = oneshot::Sender<Result<(), BackendError>>;

/// Leader-based group commit for invoice inserts.
///
/// A creator queues its row; if no insert is in flight it becomes the leader
/// and inserts everything queued (its own row included) in one multi-row
/// `INSERT`, repeating until the queue is empty, and tells each waiter. An
/// uncontended insert thus costs one round trip to SQLite's worker thread, and
/// concurrent creators share round trips and commits.
struct GroupCommit {
    db: Arc<Db>,
    state: Arc<std::sync::Mutex<GroupState>>,
}

#[derive(Default)]
struct GroupState {
    queue: Vec<(NewInvoice, Waiter)>,
    leading: bool,
}

fn stopped() -> BackendError {
    BackendError::Storage {
        backend: BACKEND,
        reason: "the invoice insert was abandoned".into(),
    }
}

impl GroupCommit {
    fn new(db: Arc<Db>) -> Self {
        GroupCommit {
            db,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        // A panic while holding this lock leaves only a plain queue behind.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn insert(&self, row: NewInvoice) -> Result<(), BackendError> {
        let (done, stored) = oneshot::channel();
        let lead = {
            let mut state = self.lock();
            state.queue.push((row, done));
            !std::mem::replace(&mut state.leading, true)
        };
        if lead {
            let mut guard = LeaderGuard {
                group: self,
                finished: false,
            };
            loop {
                let batch: Vec<(NewInvoice, Waiter)> = {
                    let mut state = self.lock();
                    if state.queue.is_empty() {
                        state.leading = false;
                        break;
                    }
                    let n = state.queue.len().min(MAX_BATCH);
                    state.queue.drain(..n).collect()
                };
                let (rows, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match insert_invoices(&self.db, &rows).await {
                    Ok(()) => {
                        for waiter in waiters {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                    Err(_) if rows.len() > 1 => {
                        // One at a time, so one bad row does not fail the others.
                        for (row, waiter) in rows.iter().zip(waiters) {
                            let result = insert_invoices(&self.db, std::slice::from_ref(row)).await;
                            let _ = waiter.send(result);
                        }
                    }
                    Err(e) => {
                        for waiter in waiters {
                            let _ = waiter.send(Err(e.clone()));
                        }
                    }
                }
            }
            guard.finished = true;
        }
        stored.await.map_err(|_| stopped())?
    }
}

/// If a leader is cancelled mid-batch, hands the queue to a new leader task so
/// followers are not left waiting (or fails them if there is no runtime).
struct LeaderGuard<'a> {
    group: &'a GroupCommit,
    finished: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let queued = {
            let mut state = self.group.lock();
            state.leading = false;
            std::mem::take(&mut state.queue)
        };
        if queued.is_empty() {
            return;
        }
        let group = GroupCommit {
            db: self.group.db.clone(),
            state: self.group.state.clone(),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    for (row, waiter) in queued {
                        let _ = waiter.send(group.insert(row).await);
                    }
                });
            }
            // Dropping the waiters tells their creators the insert was abandoned.
            Err(_) => drop(queued),
        }
    }
}

async fn insert_invoices(db: &Db, batch: &[NewInvoice]) -> Result<(), BackendError> {
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO invoices (payment_hash, wallet_id, bolt11, preimage, amount_msat, memo, \
         created_at, expires_at) ",
    );
    query.push_values(batch, |mut row, p| {
        row.push_bind(&p.payment_hash)
            .push_bind(&p.wallet_id)
            .push_bind(&p.bolt11)
            .push_bind(&p.preimage)
            .push_bind(p.amount_msat)
            .push_bind(&p.memo)
            .push_bind(p.created_at)
            .push_bind(p.expires_at);
    });
    db.execute(query.build()).await?;
    Ok(())
}

/// An invoice as the ledger stores it.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceRecord {
    pub(crate) payment_hash: PaymentHash,
    pub(crate) wallet_id: String,
    pub(crate) bolt11: String,
    pub(crate) preimage: Preimage,
    pub(crate) amount_msat: u64,
    pub(crate) memo: String,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) paid_at: Option<u64>,
}

impl InvoiceRecord {
    pub(crate) fn status(&self, now: u64) -> InvoiceStatus {
        if self.paid_at.is_some() {
            InvoiceStatus::Paid {
                preimage: self.preimage.clone(),
            }
        } else if now >= self.expires_at {
            InvoiceStatus::Expired
        } else {
            InvoiceStatus::Pending
        }
    }
}

/// A wallet on the [`DevNode`]: receives ([`Receiver`]) and pays ([`Wallet`])
/// in process. Cheap to clone. Its keys work with the HTTP API.
#[derive(Clone)]
pub struct DevWallet {
    node: DevNode,
    id: String,
    name: String,
    invoice_key: String,
    admin_key: String,
}

impl fmt::Debug for DevWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevWallet")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("invoice_key", &"..")
            .field("admin_key", &"..")
            .finish()
    }
}

impl DevWallet {
    /// The wallet id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The wallet name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The invoice (read/receive) key, for `X-Api-Key`.
    pub fn invoice_key(&self) -> &str {
        &self.invoice_key
    }

    /// The admin (spend) key, for `X-Api-Key`.
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// The node this wallet lives on.
    pub fn node(&self) -> &DevNode {
        &self.node
    }

    /// Dev-only faucet: adds `sats` of fake money; returns the new balance in msat.
    ///
    /// # Errors
    /// [`BackendError`] if the ledger fails.
    pub async fn credit_sats(&self, sats: u64) -> Result<u64, BackendError> {
        self.credit_msat(sats.saturating_mul(1000)).await
    }

    /// Dev-only faucet, in millisatoshis; returns the new balance in msat.
    ///
    /// # Errors
    /// [`BackendError`] if the ledger fails.
    pub async fn credit_msat(&self, msat: u64) -> Result<u64, BackendError> {
        self.node.credit(&self.id, msat).await
    }
}

#[async_trait::async_trait]
impl Receiver for DevWallet {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let record = self.node.create_invoice_for(&self.id, request).await?;
        Ok(Invoice {
            bolt11: record.bolt11,
            payment_hash: record.payment_hash,
            amount_msat: record.amount_msat,
            expires_at: UNIX_EPOCH + Duration::from_secs(record.expires_at),
        })
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError> {
        match self
            .node
            .invoice_record(payment_hash, Some(&self.id))
            .await?
        {
            Some(record) => Ok(record.status(unix_now())),
            None => Err(ReceiveError::UnknownInvoice {
                backend: BACKEND,
                payment_hash: *payment_hash,
            }),
        }
    }
}

#[async_trait::async_trait]
impl Wallet for DevWallet {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        Ok(self.node.pay_from(&self.id, request).await?.0)
    }

    /// Dev-node payments settle atomically, so a payment is either
    /// [`OutgoingStatus::Succeeded`] or [`OutgoingStatus::Unknown`].
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let Some((_, record)) = self
            .node
            .payment_record(payment_hash, Some(&self.id))
            .await?
        else {
            return Ok(OutgoingStatus::Unknown);
        };
        verify_preimage(BACKEND, payment_hash, &record.preimage)?;
        let fee_msat = self.node.payment_fee(payment_hash).await?;
        Ok(OutgoingStatus::Succeeded(Payment {
            payment_hash: *payment_hash,
            preimage: record.preimage,
            amount_msat: record.amount_msat,
            fee_msat,
        }))
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        self.node.balance_of(&self.id).await
    }

    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        Ok(self.node.node_info())
    }
}
