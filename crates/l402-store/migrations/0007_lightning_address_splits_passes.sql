-- Receiving by Lightning Address (LUD-16): a username names one merchant.
CREATE TABLE lightning_addresses (
    username TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX lightning_addresses_by_merchant ON lightning_addresses (merchant_id);

-- Splits: the Lightning Address a merchant's share of each settled payment
-- goes to (its owner), set by the operator.
CREATE TABLE merchant_owner_addresses (
    merchant_id BIGINT PRIMARY KEY REFERENCES merchants (id),
    owner_address TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Each settled payment is credited once (its payment hash, or a manual
-- split's own id): what the owner gets and the operator's fee.
CREATE TABLE split_credits (
    source TEXT PRIMARY KEY,
    owner_address TEXT NOT NULL,
    owner_sats BIGINT NOT NULL,
    fee_sats BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- What an owner is owed below the minimum payout (one row per address).
CREATE TABLE split_accruals (
    owner_address TEXT PRIMARY KEY,
    sats BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The payout queue. state: pending (no invoice yet) -> fetching (claimed
-- until lease_until by claim) -> paying (the invoice's payment hash is
-- recorded BEFORE the wallet is called) -> paid, or failed after the last
-- attempt. A paying payout whose outcome is unknown is looked up, never
-- sent again; payment_hash is unique, so no invoice is recorded twice.
CREATE TABLE payouts (
    id TEXT PRIMARY KEY,
    owner_address TEXT NOT NULL,
    amount_sats BIGINT NOT NULL,
    state TEXT NOT NULL,
    claim TEXT,
    lease_until BIGINT NOT NULL,
    payment_hash TEXT,
    bolt11 TEXT,
    preimage TEXT,
    fee_msat BIGINT,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payouts_due ON payouts (state, next_attempt_at);
CREATE UNIQUE INDEX payouts_by_invoice ON payouts (payment_hash);

-- Passes: time-based access bought by a holder (an address), for a
-- merchant's scope (one route, or '*' for all its routes); one per payment.
CREATE TABLE passes (
    payment_hash TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    holder TEXT NOT NULL,
    scope TEXT NOT NULL,
    activated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passes_by_holder ON passes (merchant_id, holder, expires_at);
