-- Who is paying a pending entry, and until when (unix milliseconds) no other
-- process may release or take it over: the owner renews the lease while it
-- pays; another process may resolve the entry only once the lease expired,
-- and only after looking the payment up in the wallet.
ALTER TABLE payments ADD COLUMN owner TEXT;
ALTER TABLE payments ADD COLUMN lease_until INTEGER;
