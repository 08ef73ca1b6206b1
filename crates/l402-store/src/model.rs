//! What the store keeps: merchants, keys, challenges, payments, stats.

use std::fmt;

use crate::StoreError;
use crate::key::ApiKey;

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

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
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

/// An idempotency claim: taken (atomically, across instances) before the
/// invoice is created, so that one scope gets one invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// The merchant.
    pub merchant_id: i64,
    /// `sha256(client key, resource, price)`, hex.
    pub scope: &'a str,
    /// Now, in unix milliseconds.
    pub now_ms: u64,
    /// How long a claim holds, in milliseconds.
    pub window_ms: u64,
    /// A claim still being issued after this long (its claimant died) may be
    /// taken over, in milliseconds.
    pub stale_ms: u64,
}

/// What [`ChallengeStore::claim`](crate::ChallengeStore::claim) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The scope is this caller's: issue, then
    /// [`complete_claim`](crate::ChallengeStore::complete_claim) (or
    /// [`release_claim`](crate::ChallengeStore::release_claim) on failure).
    Won,
    /// Another request issued in this scope within the window: its challenge.
    Issued(ChallengeRecord),
    /// Another request is issuing in this scope right now: ask again shortly.
    Pending,
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
