//! The portable SQL statements (SQLite and PostgreSQL) and row conversions.

use crate::db::to_u64;
use crate::{ApiKeyInfo, ChallengeRecord, Merchant, MerchantStatus, Stats, StoreError};

pub(crate) type ChallengeRow = (
    String,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
    i64,
);

pub(crate) const CHALLENGE_COLUMNS: &str = "payment_hash, merchant_id, api, resource, amount_sats, \
     description, owner_address, invoice, macaroon, expires_at, created_at";

pub(crate) fn challenge_of(row: ChallengeRow) -> ChallengeRecord {
    ChallengeRecord {
        payment_hash: row.0,
        merchant_id: row.1,
        api: row.2,
        resource: row.3,
        amount_sats: to_u64(row.4),
        description: row.5,
        owner_address: row.6,
        invoice: row.7,
        macaroon: row.8,
        expires_at: to_u64(row.9),
        created_at: to_u64(row.10),
    }
}

pub(crate) type MerchantRow = (i64, String, String, i64);

pub(crate) fn merchant_of(row: MerchantRow) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: row.0,
        name: row.1,
        status: MerchantStatus::parse(&row.2)?,
        created_at: to_u64(row.3),
    })
}

pub(crate) type KeyRow = (String, i64, Option<String>, i64, Option<i64>);

pub(crate) fn key_of(row: KeyRow) -> ApiKeyInfo {
    ApiKeyInfo {
        id: row.0,
        merchant_id: row.1,
        label: row.2,
        created_at: to_u64(row.3),
        revoked_at: row.4.map(to_u64),
    }
}

pub(crate) type StatsRow = (i64, i64, i64, i64, i64, i64);

pub(crate) fn stats_of(row: StatsRow) -> Stats {
    Stats {
        challenges: to_u64(row.0),
        challenged_sats: to_u64(row.1),
        payments: to_u64(row.2),
        paid_sats: to_u64(row.3),
        verifications_valid: to_u64(row.4),
        verifications_invalid: to_u64(row.5),
    }
}

pub(crate) const INSERT_MERCHANT: &str = "INSERT INTO merchants (id, name, status, created_at) \
     SELECT COALESCE(MAX(id), 0) + 1, $1, 'active', $2 FROM merchants \
     RETURNING id, name, status, created_at";
pub(crate) const SELECT_MERCHANTS: &str =
    "SELECT id, name, status, created_at FROM merchants WHERE id > 0 ORDER BY id";
pub(crate) const SELECT_MERCHANT: &str =
    "SELECT id, name, status, created_at FROM merchants WHERE id = $1";
pub(crate) const UPDATE_MERCHANT_STATUS: &str = "UPDATE merchants SET status = $2 WHERE id = $1 \
     RETURNING id, name, status, created_at";
pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys (id, merchant_id, key_hash, label, created_at) \
     VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SELECT_KEYS: &str = "SELECT id, merchant_id, label, created_at, revoked_at FROM api_keys \
     WHERE merchant_id = $1 ORDER BY created_at, id";
pub(crate) const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE merchant_id = $1 AND id = $2 \
     RETURNING id, merchant_id, label, created_at, revoked_at";
pub(crate) const SELECT_KEY_FOR_AUTH: &str = "SELECT k.key_hash, m.id, m.name, m.status, m.created_at \
     FROM api_keys k JOIN merchants m ON m.id = k.merchant_id \
     WHERE k.id = $1 AND k.revoked_at IS NULL";
/// Takes the scope unless a live claim holds it: an expired claim, or one
/// still issuing after the stale limit, is taken over. One statement, so of
/// concurrent claimants exactly one sees a row affected.
pub(crate) const CLAIM_SCOPE: &str = "INSERT INTO idempotency \
     (merchant_id, scope, payment_hash, claimed_at_ms, expires_at_ms) \
     VALUES ($1, $2, NULL, $3, $4) \
     ON CONFLICT (merchant_id, scope) DO UPDATE \
     SET payment_hash = NULL, claimed_at_ms = excluded.claimed_at_ms, \
     expires_at_ms = excluded.expires_at_ms \
     WHERE idempotency.expires_at_ms <= $3 \
     OR (idempotency.payment_hash IS NULL AND idempotency.claimed_at_ms <= $5)";
pub(crate) const SELECT_CLAIM: &str = "SELECT i.payment_hash, c.payment_hash, c.merchant_id, c.api, \
     c.resource, c.amount_sats, c.description, c.owner_address, c.invoice, c.macaroon, \
     c.expires_at, c.created_at FROM idempotency i \
     LEFT JOIN challenges c ON c.payment_hash = i.payment_hash \
     WHERE i.merchant_id = $1 AND i.scope = $2";
pub(crate) const COMPLETE_CLAIM: &str = "UPDATE idempotency SET payment_hash = $3 \
     WHERE merchant_id = $1 AND scope = $2 AND payment_hash IS NULL";
pub(crate) const RELEASE_CLAIM: &str =
    "DELETE FROM idempotency WHERE merchant_id = $1 AND scope = $2 AND payment_hash IS NULL";
pub(crate) const INSERT_CHALLENGE: &str = "INSERT INTO challenges (payment_hash, merchant_id, api, resource, \
     amount_sats, description, owner_address, invoice, macaroon, expires_at, created_at, \
     resource_key, recorded_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (payment_hash) DO NOTHING";
/// The price of the merchant's most recent challenge for a resource: one
/// probe of `challenges_by_resource` (merchant, resource key, recorded time,
/// amount), newest first; within one millisecond the higher price.
pub(crate) const CURRENT_PRICE: &str = "SELECT amount_sats FROM challenges \
     WHERE merchant_id = $1 AND resource_key = $2 AND resource = $3 \
     ORDER BY recorded_at_ms DESC, amount_sats DESC LIMIT 1";
pub(crate) const PURGE_CLAIMS: &str = "DELETE FROM idempotency WHERE (merchant_id, scope) IN \
     (SELECT merchant_id, scope FROM idempotency WHERE expires_at_ms <= $1 \
     ORDER BY expires_at_ms LIMIT $2)";
pub(crate) const PRUNE_UNPAID: &str = "DELETE FROM challenges WHERE payment_hash IN \
     (SELECT c.payment_hash FROM challenges c WHERE c.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.payment_hash = c.payment_hash) \
     ORDER BY c.created_at LIMIT $2) \
     RETURNING merchant_id, amount_sats";
pub(crate) const ADD_PRUNED: &str = "INSERT INTO pruned_challenges (merchant_id, challenges, sats) \
     VALUES ($1, $2, $3) ON CONFLICT (merchant_id) DO UPDATE \
     SET challenges = pruned_challenges.challenges + excluded.challenges, \
     sats = pruned_challenges.sats + excluded.sats";
pub(crate) const INSERT_PAYMENT: &str = "INSERT INTO payments (payment_hash, merchant_id, resource, \
     amount_sats, verified_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (payment_hash) DO NOTHING";
pub(crate) const ADD_VERIFICATIONS: &str = "INSERT INTO verifications (merchant_id, day, valid, invalid) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, day) DO UPDATE \
     SET valid = verifications.valid + excluded.valid, \
     invalid = verifications.invalid + excluded.invalid";
pub(crate) const STATS: &str = "SELECT \
     (SELECT COUNT(*) FROM challenges WHERE $1 IS NULL OR merchant_id = $1) + \
     (SELECT CAST(COALESCE(SUM(challenges), 0) AS BIGINT) FROM pruned_challenges \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM challenges \
        WHERE $1 IS NULL OR merchant_id = $1) + \
     (SELECT CAST(COALESCE(SUM(sats), 0) AS BIGINT) FROM pruned_challenges \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT COUNT(*) FROM payments WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM payments \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(valid), 0) AS BIGINT) FROM verifications \
        WHERE $1 IS NULL OR merchant_id = $1), \
     (SELECT CAST(COALESCE(SUM(invalid), 0) AS BIGINT) FROM verifications \
        WHERE $1 IS NULL OR merchant_id = $1)";
pub(crate) const STATS_CHALLENGES: &str = "SELECT merchant_id, CAST(SUM(n) AS BIGINT), \
     CAST(SUM(sats) AS BIGINT) FROM ( \
     SELECT merchant_id, COUNT(*) AS n, CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) AS sats \
     FROM challenges GROUP BY merchant_id \
     UNION ALL SELECT merchant_id, challenges, sats FROM pruned_challenges) AS t \
     GROUP BY merchant_id";
pub(crate) const STATS_PAYMENTS: &str = "SELECT merchant_id, COUNT(*), \
     CAST(COALESCE(SUM(amount_sats), 0) AS BIGINT) FROM payments GROUP BY merchant_id";
pub(crate) const STATS_VERIFICATIONS: &str = "SELECT merchant_id, \
     CAST(COALESCE(SUM(valid), 0) AS BIGINT), CAST(COALESCE(SUM(invalid), 0) AS BIGINT) \
     FROM verifications GROUP BY merchant_id";
