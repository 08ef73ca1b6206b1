-- Tokens that are not L402 macaroons (l402kit's base64 JSON, Alby's
-- base64url(JSON).hmac) are kept too: `kind` says whether the token was
-- checked against the invoice's payment hash ('macaroon') or could not be
-- ('opaque'). The column `macaroon` holds the token as sent, whatever its kind.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'macaroon'
    CHECK (kind IN ('macaroon', 'opaque'));
-- What was paid for it (excluding fees), when known, and how many requests
-- the server answered with it.
ALTER TABLE tokens ADD COLUMN amount_msat INTEGER;
ALTER TABLE tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET amount_msat =
    (SELECT p.amount_msat FROM payments p WHERE p.payment_hash = tokens.payment_hash);
-- The kind of token a request was offered or used.
ALTER TABLE traces ADD COLUMN token_kind TEXT;
