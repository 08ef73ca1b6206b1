-- Which payout paid each split credit: set on every credit of an owner
-- address when its accrual is queued as a payout, so a paid payout's
-- `split.paid` event goes to the merchants whose payments it paid.
ALTER TABLE split_credits ADD COLUMN payout_id TEXT;
CREATE INDEX split_credits_payout ON split_credits (payout_id);
