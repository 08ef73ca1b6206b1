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
//! * Failure injection, per invoice: an invoice whose description is a
//!   [`DevFault`] memo (JSON, as in Cashu CDK's fake wallet) stays pending
//!   for a while, fails, pays without a preimage or with a wrong one, or
//!   answers slowly, in process and over HTTP alike.
//! * [`DevNode::serve`] exposes a subset of the LNbits 1.6 wallet API
//!   (see [`http`](self#http-api)), so [`crate::lnbits::LnbitsClient`] drives it
//!   unchanged.
//!
//! In process, each [`DevWallet`] implements both [`Receiver`](crate::Receiver)
//! and [`Wallet`](crate::Wallet):
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
use std::sync::Arc;

use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};

use crate::{Backend, BackendError, NodeInfo};

mod builder;
mod db;
mod fault;
#[cfg(feature = "dev-http")]
mod http;
mod invoices;
mod keys;
mod ledger;
mod settled;
mod wallet;

use db::Db;
use invoices::{GroupCommit, InvoiceRecord};
#[cfg(feature = "dev-http")]
use wallet::KeyKind;
use wallet::WalletKeys;

pub use builder::DevNodeBuilder;
pub use fault::{DevFault, FAULT_KEY};
#[cfg(feature = "dev-http")]
pub use http::DevServer;
pub use settled::FEED_CAPACITY;
pub use wallet::DevWallet;

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

/// The embedded dev node. Cheap to clone; clones share the ledger.
///
/// **Not a real Lightning node**: see the [module docs](self).
#[derive(Clone)]
pub struct DevNode {
    inner: Arc<Inner>,
}

// Without the HTTP API, the key cache and the loopback setting go unused.
#[cfg_attr(not(feature = "dev-http"), allow(dead_code))]
struct Inner {
    /// The ledger: one writing connection (plus readers on disk).
    db: Arc<Db>,
    /// New invoices, inserted in batches under contention.
    invoices: GroupCommit,
    /// Settlement notifications, for [`Settlements`](crate::Settlements).
    settled: settled::Feed,
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
    #[cfg(feature = "dev-http")]
    pub async fn serve(&self, addr: SocketAddr) -> Result<DevServer, DevNodeError> {
        if !addr.ip().is_loopback() && !self.inner.allow_non_loopback {
            return Err(DevNodeError::NonLoopback(addr));
        }
        http::serve(self.clone(), addr).await
    }
}
