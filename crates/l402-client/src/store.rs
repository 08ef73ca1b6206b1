//! Tokens kept for reuse: per [`Scope`](crate::Scope), until they expire or
//! the server refuses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use l402::{PaymentHash, Preimage};

use crate::challenge::TokenKind;
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

/// A paid token: the token as the server sent it (a macaroon, or an opaque
/// token) and the preimage.
///
/// ```
/// use l402_client::{StoredToken, TokenKind};
/// use l402::Preimage;
///
/// let preimage = Preimage::from([7u8; 32]);
/// let token = StoredToken {
///     scope: "https://api.example/data".into(),
///     token: "eyJoYXNoIjoiLi4uIn0=".into(), // l402kit's base64 JSON
///     kind: TokenKind::Opaque,
///     payment_hash: preimage.payment_hash(),
///     preimage,
///     amount_msat: Some(10_000),
///     created_at: 1_700_000_000,
///     expires_at: None,
///     uses: 0,
/// };
/// assert!(token.authorization().unwrap().starts_with("L402 eyJoYXNoIjoiLi4uIn0=:0707"));
/// assert!(!format!("{token:?}").contains("0707")); // Debug hides the preimage
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The scope it was bought for (`origin + path`).
    pub scope: String,
    /// The token, exactly as sent in the challenge (base64 macaroon, or an
    /// opaque token).
    pub token: String,
    /// What kind of token it is: [`TokenKind::Opaque`] ones were not checked
    /// against the payment hash.
    pub kind: TokenKind,
    /// The payment hash (the invoice's).
    pub payment_hash: PaymentHash,
    /// The preimage, checked against the payment hash.
    pub preimage: Preimage,
    /// What was paid for it (excluding fees), when known.
    pub amount_msat: Option<u64>,
    /// When it was stored (unix seconds).
    pub created_at: u64,
    /// When it stops being used (unix seconds), from the token's expiry
    /// (macaroon caveats, an opaque token's `exp`) or the client's token
    /// lifetime; `None` for no expiry.
    pub expires_at: Option<u64>,
    /// How many requests the server answered with it (the paid one
    /// included).
    pub uses: u64,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("scope", &self.scope)
            .field("kind", &self.kind)
            .field("payment_hash", &self.payment_hash)
            .field("amount_msat", &self.amount_msat)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("uses", &self.uses)
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

    /// The `Authorization` header value: `L402 <token>:<preimage>`, the
    /// token exactly as the server sent it (macaroon or opaque).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the stored token is empty or holds
    /// characters a header credential cannot carry.
    pub fn authorization(&self) -> Result<String, StoreError> {
        if !crate::challenge::sendable(&self.token) {
            return Err(StoreError::Corrupt(format!(
                "stored token for {} cannot be sent in a header",
                self.scope
            )));
        }
        Ok(format!("L402 {}:{}", self.token, self.preimage.to_hex()))
    }

    /// The token of a payment just made or recovered, to send it.
    pub(crate) fn sending(
        scope: &crate::scope::Scope,
        token: String,
        receipt: &crate::receipt::Receipt,
    ) -> StoredToken {
        StoredToken {
            scope: scope.as_str().to_string(),
            token,
            kind: receipt.token_kind,
            payment_hash: receipt.payment_hash,
            preimage: receipt.preimage.clone(),
            amount_msat: Some(receipt.amount_msat),
            created_at: receipt.paid_at,
            expires_at: None,
            uses: 0,
        }
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
    /// (a newer one stored meanwhile is kept). To remove whatever token a
    /// scope has, [`get`](Self::get) it and remove that one.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn remove(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError>;

    /// Every stored token (expired ones included), ordered by scope.
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn list(&self) -> Result<Vec<StoredToken>, StoreError>;

    /// Counts one more request the server answered with the token for
    /// `scope` with `payment_hash` ([`StoredToken::uses`]). Nothing happens
    /// if another token is stored for the scope meanwhile. (The
    /// [`SqliteStore`](crate::SqliteStore) counts uses as traces are written
    /// instead, and does nothing here.)
    ///
    /// # Errors
    /// [`StoreError`] if the store fails.
    async fn record_use(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError>;
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

    async fn list(&self) -> Result<Vec<StoredToken>, StoreError> {
        let mut all: Vec<StoredToken> = self
            .tokens
            .lock()
            .map_err(lock_poisoned)?
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.scope.cmp(&b.scope));
        Ok(all)
    }

    async fn record_use(&self, scope: &str, payment_hash: &PaymentHash) -> Result<(), StoreError> {
        let mut tokens = self.tokens.lock().map_err(lock_poisoned)?;
        if let Some(token) = tokens
            .get_mut(scope)
            .filter(|t| &t.payment_hash == payment_hash)
        {
            token.uses = token.uses.saturating_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

    fn token(scope: &str, seed: u8, kind: TokenKind) -> StoredToken {
        let preimage = Preimage::from([seed; 32]);
        StoredToken {
            scope: scope.into(),
            token: format!("tok{seed}"),
            kind,
            payment_hash: preimage.payment_hash(),
            preimage,
            amount_msat: Some(u64::from(seed) * 1000),
            created_at: 1,
            expires_at: Some(2),
            uses: 0,
        }
    }

    /// Both stores list every token by scope, count uses of the token
    /// stored (not of one replaced meanwhile) and keep kind and amount. The
    /// memory store counts through `record_use`, SQLite as traces of
    /// requests answered with the token are written.
    #[tokio::test]
    async fn stores_list_count_uses_and_remove_by_hash() {
        use crate::trace::{Outcome, Trace, TraceSink};
        let sqlite = SqliteStore::in_memory().await.unwrap();
        let memory = MemoryTokenStore::new();
        let stores: [(&dyn TokenStore, Option<&dyn TraceSink>); 2] =
            [(&memory, None), (&sqlite, Some(&sqlite))];
        for (store, traces) in stores {
            let b = token("http://h/b", 2, TokenKind::Opaque);
            let a = token("http://h/a", 1, TokenKind::Macaroon);
            store.put(&b).await.unwrap();
            store.put(&a).await.unwrap();
            let trace = |hash: &PaymentHash, outcome| Trace {
                id: 0,
                at_ms: 1,
                method: "GET".into(),
                url: "http://h/b".into(),
                outcome,
                status: Some(200),
                amount_msat: None,
                fee_msat: None,
                payment_hash: Some(hash.to_string()),
                preimage: None,
                latency_ms: 1,
                pay_latency_ms: None,
                fiat_minor: None,
                fiat_currency: None,
                price_source: None,
                btc_price_minor: None,
                error: None,
                token_kind: None,
            };
            for outcome in [Outcome::Paid, Outcome::Cached, Outcome::ServerRefused] {
                match traces {
                    Some(sink) => sink.record(&trace(&b.payment_hash, outcome)).await.unwrap(),
                    // A refused credential is not a use.
                    None if outcome == Outcome::ServerRefused => {}
                    None => store
                        .record_use("http://h/b", &b.payment_hash)
                        .await
                        .unwrap(),
                }
            }
            // Another token's hash for the scope: not counted.
            store
                .record_use("http://h/b", &a.payment_hash)
                .await
                .unwrap();
            let all = store.list().await.unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(all[0], a);
            assert_eq!(all[1].uses, 2);
            assert_eq!(all[1].kind, TokenKind::Opaque);
            assert_eq!(all[1].amount_msat, Some(2000));
            assert_eq!(all[1].token, "tok2");
            // Replaced, then removed only by its own hash.
            let newer = token("http://h/b", 3, TokenKind::Macaroon);
            store.put(&newer).await.unwrap();
            store.remove("http://h/b", &b.payment_hash).await.unwrap();
            assert_eq!(store.get("http://h/b").await.unwrap(), Some(newer.clone()));
            store
                .remove("http://h/b", &newer.payment_hash)
                .await
                .unwrap();
            assert_eq!(store.list().await.unwrap(), vec![a]);
        }
    }

    #[test]
    fn authorization_echoes_the_token_and_refuses_unsendable_ones() {
        let t = token("http://h/a", 1, TokenKind::Opaque);
        assert_eq!(
            t.authorization().unwrap(),
            format!("L402 tok1:{}", "01".repeat(32))
        );
        for bad in ["", "a:b", "a b"] {
            let t = StoredToken {
                token: bad.into(),
                ..t.clone()
            };
            assert!(
                matches!(t.authorization(), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }
}
