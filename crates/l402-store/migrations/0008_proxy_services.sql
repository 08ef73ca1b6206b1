-- Services behind `l402 serve`'s reverse proxy added at runtime: by the
-- operator (the admin API, merchant_id NULL) or by a merchant (Lightning
-- Enable's POST /api/proxy). `definition` is the service as written (JSON in
-- the shape of a [[services]] entry), checked again each time it is loaded;
-- `meta` what a merchant proxy was created with (Lightning Enable's fields).
CREATE TABLE proxy_services (
    name TEXT PRIMARY KEY,
    merchant_id BIGINT,
    definition TEXT NOT NULL,
    meta TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX proxy_services_by_merchant ON proxy_services (merchant_id, created_at);
