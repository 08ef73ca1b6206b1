-- Webhooks out: endpoints a merchant registers, the events it is sent and
-- one delivery per (event, endpoint), a durable queue and its log.
-- Portable SQL (TEXT and BIGINT only); times ending in _ms are unix ms.

-- An endpoint. Its signing secret is not stored: it is derived from the
-- server secret and secret_nonce (see l402-producer's webhooks module).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret_nonce TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id);

-- An event, once per (merchant, type, subject): a payment hash settles once,
-- however many paths learn of it.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (merchant_id, kind, subject)
);
CREATE INDEX webhook_events_by_time ON webhook_events (created_at_ms);

-- A delivery: state 'pending' (queued or retrying), 'delivered', 'failed'
-- (gave up after the last attempt) or 'dropped' (the merchant's queue was
-- full). A worker claims a pending one by setting lease_owner and
-- lease_until_ms in one guarded UPDATE.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    merchant_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until_ms BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_merchant ON webhook_deliveries (merchant_id, created_at_ms);
CREATE INDEX webhook_deliveries_by_state ON webhook_deliveries (merchant_id, state);
