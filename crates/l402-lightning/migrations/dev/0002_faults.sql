-- Failure injection (dev::DevFault). Fake money only: not a real Lightning node.

-- A payment made pending by an injected fault settles at this time (unix
-- milliseconds); NULL: settled when paid.
ALTER TABLE invoices ADD COLUMN settles_at_ms INTEGER;

-- Payments that failed (an injected fault): nothing moved. One row per invoice
-- and payer, the latest attempt.
CREATE TABLE failed_payments (
    payment_hash TEXT NOT NULL REFERENCES invoices (payment_hash),
    wallet_id    TEXT NOT NULL REFERENCES wallets (id),
    reason       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (payment_hash, wallet_id)
);
