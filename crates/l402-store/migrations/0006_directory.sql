-- The API directory (l402kit's POST /api/register, GET /api/apis.json):
-- one listing per URL. A listing is verified when its host serves the
-- listing's nonce at /.well-known/l402.txt; the nonce changes with the
-- payout address, so a changed address must be proven again.
CREATE TABLE directory_listings (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    price_sats BIGINT NOT NULL,
    category TEXT NOT NULL,
    lightning_address TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verified BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX directory_by_time ON directory_listings (created_at);
CREATE INDEX directory_by_category ON directory_listings (category, created_at);
