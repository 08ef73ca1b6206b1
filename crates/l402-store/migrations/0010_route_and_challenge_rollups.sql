-- The dashboard's overview reads rollups, never every payment or challenge
-- (payment_rollup, 0004, has the per-day totals):
-- payments per merchant, UTC day and resource ('' when unknown), kept with
-- each recorded payment: revenue by route over any range;
CREATE TABLE route_rollup (
    merchant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    resource TEXT NOT NULL,
    payments BIGINT NOT NULL,
    sats BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, day, resource)
);
INSERT INTO route_rollup (merchant_id, day, resource, payments, sats)
SELECT merchant_id, verified_at / 86400, COALESCE(resource, ''), COUNT(*),
       CAST(SUM(amount_sats) AS BIGINT)
FROM payments GROUP BY merchant_id, verified_at / 86400, COALESCE(resource, '');

-- challenges issued per merchant and UTC day (created_at / 86400), kept with
-- each recorded challenge and not lowered when unpaid ones are pruned: the
-- success rate (payments over challenges) over any range.
CREATE TABLE challenge_rollup (
    merchant_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    challenges BIGINT NOT NULL,
    sats BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, day)
);
INSERT INTO challenge_rollup (merchant_id, day, challenges, sats)
SELECT merchant_id, created_at / 86400, COUNT(*), CAST(SUM(amount_sats) AS BIGINT)
FROM challenges GROUP BY merchant_id, created_at / 86400;
