-- The merchant's current price of a resource is the price of its most
-- recent challenge for it (verification without amountSats, as
-- l402-express 0.2.0 sends it). resource_key is sha256(resource) in hex, so
-- that the index entry stays small however long the resource is
-- (PostgreSQL refuses B-tree entries over about 2.7 kB); recorded_at_ms
-- orders challenges recorded within the same second. Rows recorded before
-- this migration have no key and are not found (verification then asks for
-- amountSats).
ALTER TABLE challenges ADD COLUMN resource_key TEXT;
ALTER TABLE challenges ADD COLUMN recorded_at_ms BIGINT;
CREATE INDEX challenges_by_resource
    ON challenges (merchant_id, resource_key, recorded_at_ms, amount_sats);
