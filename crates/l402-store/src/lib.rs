//! # l402-store: what an L402 seller keeps
//!
//! Persistence for the producer API behind narrow traits: merchants and their
//! API keys ([`MerchantStore`]), challenges and idempotency records
//! ([`ChallengeStore`]), payments, verification counters and stats
//! ([`PaymentStore`]). [`Store`] implements all three on **SQLite** (one file,
//! WAL; the embedded default) or **PostgreSQL** (when several instances share
//! one database), with the same migrations (portable SQL, runtime
//! `sqlx::query`, no database at build time) and the same behaviour.
//!
//! Verification of tokens never reads the store (ARCHITECTURE.md decision 2):
//! the store keeps records for idempotency, receipts and stats, off the hot
//! path.
//!
//! API keys are `l402k_<id>_<secret>` with 256 random bits of secret. They are
//! returned once, at creation; only `sha256(key)` is stored, and a presented
//! key is compared with it in constant time.
//!
//! ```
//! use l402_store::{ChallengeRecord, ChallengeStore, MerchantStore, PaymentStore, Store};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::sqlite(dir.path().join("store.sqlite")).await?;
//!
//! let merchant = store.create_merchant("weather agent").await?;
//! let key = store.create_api_key(merchant.id, Some("prod")).await?;
//! let who = store.authenticate(key.key.expose()).await?.expect("a valid key");
//! assert_eq!(who.merchant.id, merchant.id);
//! assert!(store.authenticate("l402k_0000000000000000_00").await?.is_none());
//!
//! let challenge = ChallengeRecord {
//!     payment_hash: "ab".repeat(32),
//!     merchant_id: merchant.id,
//!     api: "l402".into(),
//!     resource: "/api/weather".into(),
//!     amount_sats: 50,
//!     description: None,
//!     owner_address: None,
//!     invoice: "lnbcrt500n1...".into(),
//!     macaroon: "AgEEbHNhdA...".into(),
//!     expires_at: 2_000_000_000,
//!     created_at: 1_900_000_000,
//! };
//! store.record_challenge(&challenge, None).await?;
//! assert_eq!(store.stats(Some(merchant.id)).await?.challenges, 1);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod db;
mod key;

use std::fmt;

pub use db::{Store, StoreBuilder};
pub use key::{API_KEY_PREFIX, ApiKey};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened (path, URL, connection).
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The database URL or schema name is not usable.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// Migrating the schema failed.
    #[error("migrating the database failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value is not what this version wrote.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// The thing referred to does not exist.
    #[error("{0} not found")]
    NotFound(String),
}

/// Whether a merchant may use the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantStatus {
    /// May create and verify challenges.
    Active,
    /// Keys still authenticate, but the API answers 403.
    Suspended,
}

impl MerchantStatus {
    /// The stored text.
    pub fn as_str(&self) -> &'static str {
        match self {
            MerchantStatus::Active => "active",
            MerchantStatus::Suspended => "suspended",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "active" => Ok(MerchantStatus::Active),
            "suspended" => Ok(MerchantStatus::Suspended),
            other => Err(StoreError::Corrupt(format!("merchant status {other:?}"))),
        }
    }
}

impl fmt::Display for MerchantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A merchant: who tokens are minted for (`merchant=<id>` caveat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// Its id, 1, 2, 3… (0 is reserved for the server's own sales: the
    /// l402kit-compatible API and paid routes).
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// Whether it may use the API.
    pub status: MerchantStatus,
    /// Unix seconds.
    pub created_at: u64,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// The public key id (the middle part of the key).
    pub id: String,
    /// The merchant it authenticates.
    pub merchant_id: i64,
    /// A label for people.
    pub label: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// When it was revoked (unix seconds), if it was.
    pub revoked_at: Option<u64>,
}

/// A freshly created API key: the only time the key itself is available.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key (`Debug` redacts it).
    pub key: ApiKey,
    /// What is stored about it.
    pub info: ApiKeyInfo,
}

/// Who a presented API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The merchant.
    pub merchant: Merchant,
    /// The key's id.
    pub key_id: String,
}

/// A challenge as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// The invoice's payment hash (64 hex digits).
    pub payment_hash: String,
    /// The merchant (0 for the server's own sales).
    pub merchant_id: i64,
    /// What minted it: `"l402"` (Lightning Enable style API), `"kit"`
    /// (l402kit style API) or `"route"` (a paid route of the server).
    pub api: String,
    /// The resource the token is bound to.
    pub resource: String,
    /// The price in sats.
    pub amount_sats: u64,
    /// The invoice description.
    pub description: Option<String>,
    /// The owner's Lightning address (l402kit's `ownerAddress`).
    pub owner_address: Option<String>,
    /// The BOLT11 invoice.
    pub invoice: String,
    /// The macaroon (base64).
    pub macaroon: String,
    /// When the invoice expires (unix seconds).
    pub expires_at: u64,
    /// When it was created (unix seconds).
    pub created_at: u64,
}

/// An idempotency claim made with a challenge: while a claim for `scope` is
/// younger than the window, the same challenge is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idempotency<'a> {
    /// `sha256(client key, resource, price)`, hex.
    pub scope: &'a str,
    /// Now, in unix milliseconds.
    pub now_ms: u64,
    /// How long a claim holds, in milliseconds.
    pub window_ms: u64,
}

/// What [`ChallengeStore::record_challenge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The challenge was recorded (and the idempotency scope claimed).
    Inserted,
    /// Another request (perhaps on another instance) claimed the scope first:
    /// this is its challenge, and nothing was recorded.
    Existing(ChallengeRecord),
}

/// A payment: the first successful verification of a payment hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The payment hash (64 hex digits).
    pub payment_hash: String,
    /// The merchant.
    pub merchant_id: i64,
    /// The resource the token was bound to, if it was.
    pub resource: Option<String>,
    /// The amount paid in sats.
    pub amount_sats: u64,
    /// Unix seconds.
    pub verified_at: u64,
}

/// Verification counts to add, for one merchant and UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationCount {
    /// The merchant.
    pub merchant_id: i64,
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Valid tokens.
    pub valid: u64,
    /// Invalid tokens.
    pub invalid: u64,
}

/// Totals, for one merchant or for all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Challenges answered.
    pub challenges: u64,
    /// Sats asked for in those challenges.
    pub challenged_sats: u64,
    /// Payments (distinct payment hashes verified valid).
    pub payments: u64,
    /// Sats of those payments.
    pub paid_sats: u64,
    /// Verifications that found the token valid.
    pub verifications_valid: u64,
    /// Verifications that found the token invalid.
    pub verifications_invalid: u64,
}

/// Merchants and their API keys.
#[async_trait::async_trait]
pub trait MerchantStore: Send + Sync {
    /// Creates a merchant (ids are 1, 2, 3…).
    async fn create_merchant(&self, name: &str) -> Result<Merchant, StoreError>;
    /// All merchants, by id.
    async fn merchants(&self) -> Result<Vec<Merchant>, StoreError>;
    /// One merchant.
    async fn merchant(&self, id: i64) -> Result<Option<Merchant>, StoreError>;
    /// Sets a merchant's status; [`StoreError::NotFound`] if there is no such merchant.
    async fn set_merchant_status(
        &self,
        id: i64,
        status: MerchantStatus,
    ) -> Result<Merchant, StoreError>;
    /// Creates an API key for a merchant; the key is in the result and nowhere else.
    async fn create_api_key(
        &self,
        merchant_id: i64,
        label: Option<&str>,
    ) -> Result<NewApiKey, StoreError>;
    /// A merchant's keys (revoked ones included), oldest first.
    async fn api_keys(&self, merchant_id: i64) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes a key; `None` if the merchant has no such key. Revoking twice
    /// keeps the first time.
    async fn revoke_api_key(
        &self,
        merchant_id: i64,
        key_id: &str,
    ) -> Result<Option<ApiKeyInfo>, StoreError>;
    /// The merchant a presented key authenticates, if it is a live key.
    async fn authenticate(&self, presented: &str) -> Result<Option<Authenticated>, StoreError>;
}

/// Challenges and idempotency records.
#[async_trait::async_trait]
pub trait ChallengeStore: Send + Sync {
    /// The challenge claimed for `scope` since `since_ms`, if any.
    async fn find_idempotent(
        &self,
        merchant_id: i64,
        scope: &str,
        since_ms: u64,
    ) -> Result<Option<ChallengeRecord>, StoreError>;
    /// Records a challenge, and with `idempotency` claims its scope in the
    /// same transaction; if the scope has a live claim the challenge is not
    /// recorded and the claimed one is returned.
    async fn record_challenge(
        &self,
        challenge: &ChallengeRecord,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<Recorded, StoreError>;
    /// A challenge by payment hash.
    async fn challenge(&self, payment_hash: &str) -> Result<Option<ChallengeRecord>, StoreError>;
    /// Deletes idempotency claims made before `before_ms`; returns how many.
    async fn purge_idempotency(&self, before_ms: u64) -> Result<u64, StoreError>;
}

/// Payments, verification counters and stats.
#[async_trait::async_trait]
pub trait PaymentStore: Send + Sync {
    /// Records a payment; `false` if its payment hash was already recorded.
    async fn record_payment(&self, payment: &PaymentRecord) -> Result<bool, StoreError>;
    /// Adds verification counts.
    async fn add_verifications(&self, counts: &[VerificationCount]) -> Result<(), StoreError>;
    /// Totals for one merchant, or for all with `None`.
    async fn stats(&self, merchant_id: Option<i64>) -> Result<Stats, StoreError>;
    /// Totals per merchant id (merchants with no activity are left out).
    async fn stats_by_merchant(&self) -> Result<Vec<(i64, Stats)>, StoreError>;
}

/// Everything the producer API needs, as one object.
pub trait ProducerStore: MerchantStore + ChallengeStore + PaymentStore {}

impl<T: MerchantStore + ChallengeStore + PaymentStore> ProducerStore for T {}
