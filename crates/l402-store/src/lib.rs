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
//! Verification of tokens reads the store only to price a token presented
//! without a price (the producer API's verify without `amountSats`:
//! [`ChallengeStore::current_price`], one probe of an index on merchant,
//! resource and time); otherwise the store keeps records for idempotency,
//! receipts and stats, off the hot path.
//!
//! | Feature | Default | What it gives |
//! |---|---|---|
//! | `sqlite` | yes | [`StoreBuilder::sqlite`], [`Store::sqlite`]: one file, WAL |
//! | `postgres` | no | [`StoreBuilder::postgres`], [`Store::postgres`]: many instances, one database |
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
//! store.record_challenge(&challenge).await?;
//! assert_eq!(store.stats(Some(merchant.id)).await?.challenges, 1);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("l402-store needs the `sqlite` feature, the `postgres` feature, or both");

mod counters;
mod db;
mod directory;
mod error;
mod identity;
mod key;
mod model;
mod open;
mod passes;
mod payments_query;
mod payouts;
mod proxy_services;
mod sql;
mod stats;
mod traits;
mod webhooks;

pub use counters::{CounterRate, DEFAULT_MAX_COUNTER_ROWS, ProxyCounters};
pub use db::Store;
pub use directory::{DirectoryStore, Listing, Upserted};
pub use error::StoreError;
pub use identity::{
    Erased, IdentityStore, K1Accepted, K1Issued, K1Poll, NewSession, SESSION_TOKEN_PREFIX, Session,
};
pub use key::{API_KEY_PREFIX, ApiKey};
pub use model::{
    ApiKeyInfo, Authenticated, ChallengeRecord, Claim, Claimed, Merchant, MerchantStatus,
    NewApiKey, PaymentRecord, Stats, VerificationCount,
};
pub use open::StoreBuilder;
pub use passes::{Pass, PassStore};
pub use payments_query::{
    MAX_PAYMENT_ROWS, PaymentFilter, PaymentRow, PaymentState, PaymentsQuery, RouteRevenue,
};
pub use payouts::{Credited, Payout, PayoutState, PayoutStore, Release, SplitCredit};
pub use proxy_services::{ProxyService, ProxyServiceStore, ServiceInserted, ServiceLimits};
pub use stats::{DayTotals, MerchantActivity, OwnerTotals, RecentPayment, StatsStore};
pub use traits::{ChallengeStore, MerchantStore, PaymentStore, ProducerStore};
pub use webhooks::{
    Attempt, DeliveryInfo, DueDelivery, Enqueued, NewEvent, WebhookEndpoint, WebhookStore,
};
