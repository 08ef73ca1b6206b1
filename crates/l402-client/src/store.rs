//! Tokens kept for reuse: per [`Scope`](crate::Scope), until they expire or
//! the server refuses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use l402::{Credential, PaymentHash, Preimage};

use crate::unix_now;

/// Reading or writing persistent state failed. The cause is kept as the
/// [`source`](std::error::Error::source) (shared, so the error stays `Clone`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("client database error")]
    Database(#[source] Arc<sqlx::Error>),
    /// Migrating the client database failed.
    #[error("migrating the client database failed")]
    Migrate(#[source] Arc<sqlx::migrate::MigrateError>),
    /// A file next to the database (its directory, its lock) failed.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: String,
        /// What failed.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Stored data does not read back (a hash, a preimage, a state, a
    /// macaroon): says what.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// No journal entry for this payment hash.
    #[error("no journal entry for {0}")]
    NoEntry(PaymentHash),
    /// Another process took the journal entry over (this one stalled past
    /// its lease): it was not paid by this one.
    #[error("the journal entry for {0} was taken over by another process; not paid")]
    TakenOver(PaymentHash),
    /// An in-memory store's lock was poisoned by a panic.
    #[error("memory store lock poisoned")]
    Poisoned,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

impl StoreError {
    pub(crate) fn io(path: impl std::fmt::Display, e: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_string(),
            source: Arc::new(e),
        }
    }
}

/// A paid token: the macaroon as the server sent it and the preimage.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The scope it was bought for (`origin + path`).
    pub scope: String,
    /// The macaroon, base64, as sent in the challenge.
    pub macaroon: String,
    /// The payment hash (the macaroon's).
    pub payment_hash: PaymentHash,
    /// The preimage, checked against the payment hash.
    pub preimage: Preimage,
    /// When it was stored (unix seconds).
    pub created_at: u64,
    /// When it stops being used (unix seconds), from the macaroon's expiry
    /// caveats or the client's token lifetime; `None` for no expiry.
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("scope", &self.scope)
            .field("payment_hash", &self.payment_hash)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl StoredToken {
    /// Whether it has expired at `now` (unix seconds).
    pub fn is_expired_at(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Whether it has expired now.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(unix_now())
    }

    /// The `Authorization` header value: `L402 <macaroon>:<preimage>`.
    ///
    /// # Errors
    /// [`StoreError`] if the stored macaroon no longer decodes.
    pub fn authorization(&self) -> Result<String, StoreError> {
        let macaroon = self
            .macaroon
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("stored macaroon for {}: {e}", self.scope)))?;
        Ok(Credential::new(macaroon, self.preimage.clone()).to_string())
    }
}

/// Where paid tokens are kept.
///
/// ```
/// use l402_client::{MemoryTokenStore, TokenStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryTokenStore::new();
/// assert!(store.get("https://a.example/x").await.unwrap().is_none());
/// # }
/// ```
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The token for `scope`, if any (expired ones included: the client
    /// checks).
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn get(&self, scope: &str) -> Result<Option<StoredToken>, StoreError>;

    /// Stores `token` for its scope, replacing any other.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn put(&self, token: &StoredToken) -> Result<(), StoreError>;

    /// Removes the token for `scope` if it is the one with `payment_hash`
    /// (a newer one stored meanwhile is kept).
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn remove(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError>;
}

/// Tokens in memory, lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }
}

pub(crate) fn lock_poisoned<T>(_: T) -> StoreError {
    StoreError::Poisoned
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, scope: &str) -> Result<Option<StoredToken>, StoreError> {
        Ok(self
            .tokens
            .lock()
            .map_err(lock_poisoned)?
            .get(scope)
            .cloned())
    }

    async fn put(&self, token: &StoredToken) -> Result<(), StoreError> {
        self.tokens
            .lock()
            .map_err(lock_poisoned)?
            .insert(token.scope.clone(), token.clone());
        Ok(())
    }

    async fn remove(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError> {
        let mut tokens = self.tokens.lock().map_err(lock_poisoned)?;
        if tokens
            .get(scope)
            .is_some_and(|t| &t.payment_hash == payment_hash)
        {
            tokens.remove(scope);
        }
        Ok(())
    }
}
