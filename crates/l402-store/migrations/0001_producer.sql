-- The producer API's state. Portable SQL: the same file runs on SQLite and
-- PostgreSQL (TEXT and BIGINT only, no autoincrement, no dialect functions).
-- Times are unix seconds unless the column name ends in _ms.

CREATE TABLE merchants (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- API keys are `l402k_<id>_<secret>`; only sha256(key) is kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    key_hash TEXT NOT NULL,
    label TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id);

-- Every challenge answered, recorded before the answer is sent.
-- merchant_id 0: challenges minted through the l402kit-compatible API.
CREATE TABLE challenges (
    payment_hash TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    api TEXT NOT NULL,
    resource TEXT NOT NULL,
    amount_sats BIGINT NOT NULL,
    description TEXT,
    owner_address TEXT,
    invoice TEXT NOT NULL,
    macaroon TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX challenges_by_merchant ON challenges (merchant_id, created_at);

-- Idempotent challenge creation: scope = sha256(client key, resource, price).
CREATE TABLE idempotency (
    merchant_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    payment_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope)
);

-- A payment: the first successful verification of a payment hash.
CREATE TABLE payments (
    payment_hash TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    resource TEXT,
    amount_sats BIGINT NOT NULL,
    verified_at BIGINT NOT NULL
);
CREATE INDEX payments_by_merchant ON payments (merchant_id, verified_at);

-- Verification counters per merchant and UTC day (YYYY-MM-DD).
CREATE TABLE verifications (
    merchant_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    valid BIGINT NOT NULL,
    invalid BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, day)
);
