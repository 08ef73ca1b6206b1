-- LNURL-auth (LUD-04) challenges: a k1 is issued with an expiry; the
-- wallet's verified callback sets linking_key (once: the update requires
-- it NULL); the dashboard's poll deletes the row and gets a session.
-- Bounded: issuing counts the live rows first (an index on expiry).
CREATE TABLE lnurl_challenges (
    k1 TEXT PRIMARY KEY,
    expires_at_ms BIGINT NOT NULL,
    linking_key TEXT
);
CREATE INDEX lnurl_challenges_by_expiry ON lnurl_challenges (expires_at_ms);

-- Sessions of a linking key: only sha256(token) is kept.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    linking_key TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_key ON sessions (linking_key, created_at_ms);

-- A linking key (33-byte compressed public key, hex) acts for one merchant.
CREATE TABLE linking_keys (
    linking_key TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX linking_keys_by_merchant ON linking_keys (merchant_id);

-- Payments rolled up per merchant, UTC day (verified_at / 86400) and owner
-- address ('' for none), kept with each recorded payment: the stats read
-- these few rows, never every payment.
CREATE TABLE payment_rollup (
    merchant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    owner TEXT NOT NULL,
    payments BIGINT NOT NULL,
    sats BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, day, owner)
);
INSERT INTO payment_rollup (merchant_id, day, owner, payments, sats)
SELECT p.merchant_id, p.verified_at / 86400, COALESCE(c.owner_address, ''),
       COUNT(*), CAST(SUM(p.amount_sats) AS BIGINT)
FROM payments p LEFT JOIN challenges c ON c.payment_hash = p.payment_hash
GROUP BY p.merchant_id, p.verified_at / 86400, COALESCE(c.owner_address, '');

-- The 20 most recent payments are read through payments_by_merchant
-- (merchant_id, verified_at), newest first.
