-- The dev node's ledger. Fake money only: this is not a real Lightning node.
CREATE TABLE wallets (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    invoice_key  TEXT NOT NULL UNIQUE,
    admin_key    TEXT NOT NULL UNIQUE,
    balance_msat INTEGER NOT NULL DEFAULT 0 CHECK (balance_msat >= 0),
    created_at   INTEGER NOT NULL
);
CREATE INDEX wallets_name ON wallets (name);

-- Invoices issued by the node's wallets; paid_at is set exactly once.
CREATE TABLE invoices (
    payment_hash TEXT PRIMARY KEY,
    wallet_id    TEXT NOT NULL REFERENCES wallets (id),
    bolt11       TEXT NOT NULL,
    preimage     TEXT NOT NULL,
    amount_msat  INTEGER NOT NULL CHECK (amount_msat > 0),
    memo         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    paid_at      INTEGER,
    paid_by      TEXT REFERENCES wallets (id)
);

-- Outgoing payments made by the node's wallets (one per invoice).
CREATE TABLE payments (
    payment_hash TEXT PRIMARY KEY REFERENCES invoices (payment_hash),
    wallet_id    TEXT NOT NULL REFERENCES wallets (id),
    amount_msat  INTEGER NOT NULL,
    fee_msat     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX payments_wallet ON payments (wallet_id);
