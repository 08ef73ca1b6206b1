-- Counters the reverse proxy shares across instances (freebies per client
-- network, rate limits per token or network), one row per scope and key.
-- value: a rate limit's theoretical arrival time (unix ms), or a quota's
-- count. A row past expires_ms (unix ms) counts as absent and is removed
-- by the pruning the proxy runs; the count of rows is capped there too.
CREATE TABLE proxy_counters (
    scope TEXT NOT NULL,
    counter_key TEXT NOT NULL,
    value BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, counter_key)
);
CREATE INDEX proxy_counters_by_expiry ON proxy_counters (expires_ms);
