-- Idempotency claims are taken before the invoice is created (one invoice
-- per scope, across instances): payment_hash is NULL while the claimant is
-- issuing. expires_at_ms is indexed so that expired claims are deleted in
-- bounded batches without scanning the table.
DROP TABLE idempotency;
CREATE TABLE idempotency (
    merchant_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    payment_hash TEXT,
    claimed_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, scope)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at_ms);

-- Unpaid challenges are pruned after a retention period, oldest first.
CREATE INDEX challenges_by_age ON challenges (created_at);

-- What pruning removed, per merchant, so that the stats still count it.
CREATE TABLE pruned_challenges (
    merchant_id BIGINT PRIMARY KEY,
    challenges BIGINT NOT NULL,
    sats BIGINT NOT NULL
);
