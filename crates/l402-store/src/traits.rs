//! The narrow traits the producer API uses.

use crate::{
    ApiKeyInfo, Authenticated, ChallengeRecord, Claim, Claimed, Merchant, MerchantStatus,
    NewApiKey, PaymentRecord, Stats, StoreError, VerificationCount,
};

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

/// Challenges and idempotency claims.
#[async_trait::async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Records challenges, in one transaction (a payment hash recorded before
    /// is left as it was).
    async fn record_challenges(&self, challenges: &[ChallengeRecord]) -> Result<(), StoreError>;
    /// Records one challenge.
    async fn record_challenge(&self, challenge: &ChallengeRecord) -> Result<(), StoreError> {
        self.record_challenges(std::slice::from_ref(challenge))
            .await
    }
    /// Claims an idempotency scope, atomically: one insert that does nothing
    /// when a live claim holds the scope (never read-then-write), so of any
    /// number of concurrent callers, on any number of instances, one wins.
    /// An expired claim, or one left issuing for longer than `stale_ms`, is
    /// taken over.
    async fn claim(&self, claim: Claim<'_>) -> Result<Claimed, StoreError>;
    /// Records the challenge issued under a won claim and attaches it to the
    /// claim, in one transaction.
    async fn complete_claim(
        &self,
        merchant_id: i64,
        scope: &str,
        challenge: &ChallengeRecord,
    ) -> Result<(), StoreError>;
    /// Gives up a won claim whose challenge could not be issued.
    async fn release_claim(&self, merchant_id: i64, scope: &str) -> Result<(), StoreError>;
    /// A challenge by payment hash.
    async fn challenge(&self, payment_hash: &str) -> Result<Option<ChallengeRecord>, StoreError>;
    /// The merchant's current price of `resource`, in sats: the price of its
    /// most recently recorded challenge for exactly that resource (one
    /// indexed probe on merchant, resource and time). `None` when there is
    /// none on record (never issued, pruned, or recorded before this
    /// version's migration 3).
    async fn current_price(
        &self,
        merchant_id: i64,
        resource: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// Deletes at most `limit` claims that expired by `now_ms`, oldest first
    /// (an indexed range: the cost is the batch, not the table); returns how
    /// many.
    async fn purge_claims(&self, now_ms: u64, limit: u32) -> Result<u64, StoreError>;
    /// Deletes at most `limit` challenges created before `before` (unix
    /// seconds) that have no payment, oldest first, keeping their count and
    /// sats in the stats; returns how many.
    async fn prune_unpaid(&self, before: u64, limit: u32) -> Result<u64, StoreError>;
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
pub trait ProducerStore:
    MerchantStore
    + ChallengeStore
    + PaymentStore
    + crate::IdentityStore
    + crate::StatsStore
    + crate::WebhookStore
    + crate::DirectoryStore
    + crate::PayoutStore
    + crate::PassStore
    + crate::ProxyServiceStore
{
}

impl<T> ProducerStore for T where
    T: MerchantStore
        + ChallengeStore
        + PaymentStore
        + crate::IdentityStore
        + crate::StatsStore
        + crate::WebhookStore
        + crate::DirectoryStore
        + crate::PayoutStore
        + crate::PassStore
        + crate::ProxyServiceStore
{
}
