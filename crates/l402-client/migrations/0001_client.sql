-- l402-client state: tokens, the payment journal (also the budget ledger),
-- fiat envelopes and traces. Plain SQL: query it with the sqlite3 shell.

-- Paid tokens, one per scope (origin + path).
CREATE TABLE tokens (
    scope        TEXT PRIMARY KEY,
    macaroon     TEXT NOT NULL,
    payment_hash TEXT NOT NULL,
    preimage     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);

-- The journal: a row is written (pending) before a payment is sent and
-- resolved (paid / failed) after. Budgets are sums over it.
CREATE TABLE payments (
    payment_hash     TEXT PRIMARY KEY,
    scope            TEXT NOT NULL,
    domain           TEXT NOT NULL,
    url              TEXT NOT NULL,
    macaroon         TEXT NOT NULL,
    bolt11           TEXT NOT NULL,
    amount_msat      INTEGER NOT NULL CHECK (amount_msat >= 0),
    fee_reserve_msat INTEGER NOT NULL CHECK (fee_reserve_msat >= 0),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'failed')),
    preimage         TEXT,
    fee_msat         INTEGER,
    fiat_minor       INTEGER,
    fiat_currency    TEXT,
    envelope_id      TEXT,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    resolved_at      INTEGER
);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_state ON payments (state);
CREATE INDEX payments_envelope ON payments (envelope_id);

-- Fiat envelopes, from their first use.
CREATE TABLE envelopes (
    id         TEXT PRIMARY KEY,
    currency   TEXT NOT NULL,
    cap_minor  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

-- Every request, as it ended.
CREATE TABLE traces (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms           INTEGER NOT NULL,
    method          TEXT NOT NULL,
    url             TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    status          INTEGER,
    amount_msat     INTEGER,
    fee_msat        INTEGER,
    payment_hash    TEXT,
    preimage        TEXT,
    latency_ms      INTEGER NOT NULL,
    pay_latency_ms  INTEGER,
    fiat_minor      INTEGER,
    fiat_currency   TEXT,
    price_source    TEXT,
    btc_price_minor INTEGER,
    error           TEXT
);
CREATE INDEX traces_outcome ON traces (outcome);

-- Payee pinning: the node key each origin was first paid to.
CREATE TABLE payees (
    origin     TEXT PRIMARY KEY,
    payee      TEXT NOT NULL,
    first_seen INTEGER NOT NULL
);
