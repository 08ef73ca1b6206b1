//! Identity: LNURL-auth challenges (`k1`), sessions of a linking key (only
//! `sha256(token)` stored), the link from a linking key to a merchant, and
//! erasure of what one identity owns.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{Store, now_ms, now_secs, pool, to_i64, to_u64};
use crate::sql::{MerchantRow, merchant_of};
use crate::{Merchant, StoreError};

/// Every session token starts with this.
pub const SESSION_TOKEN_PREFIX: &str = "l402s_";

/// What issuing a `k1` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K1Issued {
    /// Stored; it may be used until it expires.
    Stored,
    /// As many live challenges as allowed are pending already.
    Full,
}

/// What a verified wallet callback found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K1Accepted {
    /// The `k1` was pending and is now bound to the linking key.
    Accepted,
    /// No such `k1` (never issued, or already polled and deleted).
    Unknown,
    /// It expired.
    Expired,
    /// A wallet already used it.
    Used,
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum K1Poll {
    /// Not signed yet.
    Pending,
    /// Signed by this linking key; the challenge is now deleted (a second
    /// poll finds [`K1Poll::Unknown`]).
    Verified(String),
    /// No such live `k1`.
    Unknown,
}

/// A session a presented token authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The linking key (33-byte compressed public key, hex).
    pub linking_key: String,
    /// The merchant the key is linked to, if it is.
    pub merchant: Option<Merchant>,
    /// When the session expires (unix seconds).
    pub expires_at: u64,
}

/// A new session: the token is here and nowhere else (`Debug` redacts it).
#[derive(Clone)]
pub struct NewSession {
    /// The token, `l402s_<64 hex>`.
    pub token: String,
    /// When it expires (unix seconds).
    pub expires_at: u64,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"l402s_…")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What an erasure deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Payments.
    pub payments: u64,
    /// Challenges.
    pub challenges: u64,
    /// Sessions.
    pub sessions: u64,
    /// Links from linking keys to the merchant.
    pub linking_keys: u64,
}

/// LNURL-auth challenges, sessions, links and erasure.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync {
    /// Stores a new `k1` expiring at `expires_at_ms`, unless `max_pending`
    /// live ones are pending (expired ones are deleted first, in a bounded
    /// batch).
    async fn issue_k1(
        &self,
        k1: &str,
        expires_at_ms: u64,
        max_pending: u32,
    ) -> Result<K1Issued, StoreError>;
    /// Binds a pending, live `k1` to the linking key whose signature the
    /// caller verified; one statement, so a `k1` is accepted once.
    async fn accept_k1(&self, k1: &str, linking_key: &str) -> Result<K1Accepted, StoreError>;
    /// Takes a verified `k1` (deleting it) and returns its linking key.
    async fn poll_k1(&self, k1: &str) -> Result<K1Poll, StoreError>;
    /// Creates a session for a linking key lasting `ttl_secs`, keeping at
    /// most `max_per_key` sessions of that key (the oldest are deleted).
    async fn create_session(
        &self,
        linking_key: &str,
        ttl_secs: u64,
        max_per_key: u32,
    ) -> Result<NewSession, StoreError>;
    /// The live session a presented token authenticates.
    async fn session(&self, presented: &str) -> Result<Option<Session>, StoreError>;
    /// Revokes the session of a presented token; whether it was live.
    async fn revoke_session(&self, presented: &str) -> Result<bool, StoreError>;
    /// Links a linking key to a merchant (replacing an earlier link of that
    /// key); [`StoreError::NotFound`] without such a merchant.
    async fn link_key(&self, linking_key: &str, merchant_id: i64) -> Result<(), StoreError>;
    /// The linking keys of a merchant.
    async fn linked_keys(&self, merchant_id: i64) -> Result<Vec<String>, StoreError>;
    /// Erases what one identity owns, in one transaction: with a merchant,
    /// its payments (and their rollups), challenges, idempotency claims and
    /// counters; with a linking key, its sessions and link. Nothing of
    /// another merchant or key.
    async fn erase(
        &self,
        merchant_id: Option<i64>,
        linking_key: Option<&str>,
    ) -> Result<Erased, StoreError>;
}

fn token_hash(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}

fn is_token(presented: &str) -> bool {
    presented
        .strip_prefix(SESSION_TOKEN_PREFIX)
        .is_some_and(|s| {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

const PURGE_K1: &str = "DELETE FROM lnurl_challenges WHERE k1 IN \
     (SELECT k1 FROM lnurl_challenges WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT 1000)";
const INSERT_K1: &str = "INSERT INTO lnurl_challenges (k1, expires_at_ms, linking_key) \
     SELECT $1, $2, NULL WHERE (SELECT COUNT(*) FROM \
     (SELECT 1 FROM lnurl_challenges WHERE expires_at_ms > $3 LIMIT $4) AS live) < $4 \
     ON CONFLICT (k1) DO NOTHING";
const ACCEPT_K1: &str = "UPDATE lnurl_challenges SET linking_key = $2 \
     WHERE k1 = $1 AND linking_key IS NULL AND expires_at_ms > $3";
const SELECT_K1: &str = "SELECT expires_at_ms, linking_key FROM lnurl_challenges WHERE k1 = $1";
const TAKE_K1: &str = "DELETE FROM lnurl_challenges \
     WHERE k1 = $1 AND linking_key IS NOT NULL AND expires_at_ms > $2 RETURNING linking_key";
const INSERT_SESSION: &str = "INSERT INTO sessions \
     (token_hash, linking_key, created_at_ms, expires_at, revoked_at) VALUES ($1, $2, $3, $4, NULL)";
const TRIM_SESSIONS: &str = "DELETE FROM sessions WHERE token_hash IN \
     (SELECT token_hash FROM sessions WHERE linking_key = $1 \
     ORDER BY created_at_ms DESC, token_hash LIMIT 1000000 OFFSET $2)";
const SELECT_SESSION: &str = "SELECT s.token_hash, s.linking_key, s.expires_at, \
     m.id, m.name, m.status, m.created_at FROM sessions s \
     LEFT JOIN linking_keys l ON l.linking_key = s.linking_key \
     LEFT JOIN merchants m ON m.id = l.merchant_id \
     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2";
const REVOKE_SESSION: &str = "UPDATE sessions SET revoked_at = $2 \
     WHERE token_hash = $1 AND revoked_at IS NULL";
const LINK_KEY: &str = "INSERT INTO linking_keys (linking_key, merchant_id, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (linking_key) DO UPDATE \
     SET merchant_id = excluded.merchant_id, created_at = excluded.created_at";
const LINKED_KEYS: &str =
    "SELECT linking_key FROM linking_keys WHERE merchant_id = $1 ORDER BY linking_key";

type SessionRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

#[async_trait::async_trait]
impl IdentityStore for Store {
    async fn issue_k1(
        &self,
        k1: &str,
        expires_at_ms: u64,
        max_pending: u32,
    ) -> Result<K1Issued, StoreError> {
        let now = to_i64(now_ms());
        let stored = pool!(self, true, |pool| {
            sqlx::query(PURGE_K1).bind(now).execute(pool).await?;
            sqlx::query(INSERT_K1)
                .bind(k1)
                .bind(to_i64(expires_at_ms))
                .bind(now)
                .bind(i64::from(max_pending))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(if stored > 0 {
            K1Issued::Stored
        } else {
            K1Issued::Full
        })
    }

    async fn accept_k1(&self, k1: &str, linking_key: &str) -> Result<K1Accepted, StoreError> {
        let now = to_i64(now_ms());
        let (done, row) = pool!(self, true, |pool| {
            let done = sqlx::query(ACCEPT_K1)
                .bind(k1)
                .bind(linking_key)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            let row = if done == 0 {
                sqlx::query_as::<_, (i64, Option<String>)>(SELECT_K1)
                    .bind(k1)
                    .fetch_optional(pool)
                    .await?
            } else {
                None
            };
            (done, row)
        });
        Ok(match (done, row) {
            (1.., _) => K1Accepted::Accepted,
            (_, None) => K1Accepted::Unknown,
            (_, Some((_, Some(_)))) => K1Accepted::Used,
            (_, Some((_, None))) => K1Accepted::Expired,
        })
    }

    async fn poll_k1(&self, k1: &str) -> Result<K1Poll, StoreError> {
        let now = to_i64(now_ms());
        let taken = pool!(self, true, |pool| {
            let taken = sqlx::query_as::<_, (String,)>(TAKE_K1)
                .bind(k1)
                .bind(now)
                .fetch_optional(pool)
                .await?;
            match taken {
                Some((key,)) => Ok::<_, StoreError>(K1Poll::Verified(key)),
                None => {
                    let row = sqlx::query_as::<_, (i64, Option<String>)>(SELECT_K1)
                        .bind(k1)
                        .fetch_optional(pool)
                        .await?;
                    Ok(match row {
                        Some((expires, None)) if expires > now => K1Poll::Pending,
                        _ => K1Poll::Unknown,
                    })
                }
            }
        })?;
        Ok(taken)
    }

    async fn create_session(
        &self,
        linking_key: &str,
        ttl_secs: u64,
        max_per_key: u32,
    ) -> Result<NewSession, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        let token = format!("{SESSION_TOKEN_PREFIX}{}", hex::encode(bytes));
        bytes.fill(0);
        let expires_at = now_secs().saturating_add(ttl_secs);
        let keep = i64::from(max_per_key.max(1)) - 1;
        pool!(self, true, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(TRIM_SESSIONS)
                .bind(linking_key)
                .bind(keep)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_SESSION)
                .bind(token_hash(&token))
                .bind(linking_key)
                .bind(to_i64(now_ms()))
                .bind(to_i64(expires_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(NewSession { token, expires_at })
    }

    async fn session(&self, presented: &str) -> Result<Option<Session>, StoreError> {
        let hash = token_hash(presented);
        if !is_token(presented) {
            return Ok(None);
        }
        let row = pool!(self, false, |pool| {
            sqlx::query_as::<_, SessionRow>(SELECT_SESSION)
                .bind(&hash)
                .bind(to_i64(now_secs()))
                .fetch_optional(pool)
                .await?
        });
        let Some((stored, linking_key, expires_at, mid, name, status, created)) = row else {
            return Ok(None);
        };
        // The lookup was by hash; compare once more in constant time.
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(None);
        }
        let merchant = match (mid, name, status, created) {
            (Some(id), Some(name), Some(status), Some(created)) => {
                let row: MerchantRow = (id, name, status, created);
                Some(merchant_of(row)?)
            }
            _ => None,
        };
        Ok(Some(Session {
            linking_key,
            merchant,
            expires_at: to_u64(expires_at),
        }))
    }

    async fn revoke_session(&self, presented: &str) -> Result<bool, StoreError> {
        if !is_token(presented) {
            return Ok(false);
        }
        let done = pool!(self, true, |pool| {
            sqlx::query(REVOKE_SESSION)
                .bind(token_hash(presented))
                .bind(to_i64(now_secs()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn link_key(&self, linking_key: &str, merchant_id: i64) -> Result<(), StoreError> {
        if crate::MerchantStore::merchant(self, merchant_id)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("merchant {merchant_id}")));
        }
        pool!(self, true, |pool| {
            sqlx::query(LINK_KEY)
                .bind(linking_key)
                .bind(merchant_id)
                .bind(to_i64(now_secs()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn linked_keys(&self, merchant_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, (String,)>(LINKED_KEYS)
                .bind(merchant_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    async fn erase(
        &self,
        merchant_id: Option<i64>,
        linking_key: Option<&str>,
    ) -> Result<Erased, StoreError> {
        let mut erased = Erased::default();
        pool!(self, true, |pool| {
            let mut tx = pool.begin().await?;
            if let Some(m) = merchant_id {
                erased.payments = sqlx::query("DELETE FROM payments WHERE merchant_id = $1")
                    .bind(m)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                erased.challenges = sqlx::query("DELETE FROM challenges WHERE merchant_id = $1")
                    .bind(m)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                for sql in [
                    "DELETE FROM payment_rollup WHERE merchant_id = $1",
                    "DELETE FROM route_rollup WHERE merchant_id = $1",
                    "DELETE FROM challenge_rollup WHERE merchant_id = $1",
                    "DELETE FROM idempotency WHERE merchant_id = $1",
                    "DELETE FROM pruned_challenges WHERE merchant_id = $1",
                    "DELETE FROM verifications WHERE merchant_id = $1",
                ] {
                    sqlx::query(sql).bind(m).execute(&mut *tx).await?;
                }
            }
            if let Some(key) = linking_key {
                erased.sessions = sqlx::query("DELETE FROM sessions WHERE linking_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                erased.linking_keys =
                    sqlx::query("DELETE FROM linking_keys WHERE linking_key = $1")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                sqlx::query("DELETE FROM lnurl_challenges WHERE linking_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(erased)
    }
}
