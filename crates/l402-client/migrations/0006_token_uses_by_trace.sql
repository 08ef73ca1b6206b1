-- A token's uses are counted as the request's trace is written (one
-- statement per request, not two): a trace of a request answered with a
-- token (paid, cached or recovered) adds one use to the stored token with
-- that payment hash.
CREATE INDEX tokens_payment_hash ON tokens (payment_hash);
CREATE TRIGGER traces_count_token_use AFTER INSERT ON traces
WHEN NEW.payment_hash IS NOT NULL AND NEW.outcome IN ('paid', 'cached', 'recovered')
BEGIN
    UPDATE tokens SET uses = uses + 1 WHERE payment_hash = NEW.payment_hash;
END;
