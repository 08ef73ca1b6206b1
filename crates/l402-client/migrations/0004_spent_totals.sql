-- Running totals of what counts against budgets, kept by triggers, so that
-- checking a budget reads a row instead of summing the whole journal. The
-- cost of an entry: pending = amount + fee reserve; paid = amount + fee
-- actually paid; failed = 0.
-- Domains are stored as one key: ASCII lower case, no trailing dot (the
-- client's domain_key; SQLite's lower() is ASCII-only too).
UPDATE payments SET domain = rtrim(lower(domain), '.');

CREATE TABLE spent_total (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    msat INTEGER NOT NULL
);
CREATE TABLE spent_by_domain (
    domain TEXT PRIMARY KEY,
    msat   INTEGER NOT NULL
);

INSERT INTO spent_total (id, msat)
    SELECT 1, COALESCE(SUM(CASE state
        WHEN 'pending' THEN amount_msat + fee_reserve_msat
        WHEN 'paid' THEN amount_msat + COALESCE(fee_msat, 0) ELSE 0 END), 0)
    FROM payments;
INSERT INTO spent_by_domain (domain, msat)
    SELECT domain, SUM(CASE state
        WHEN 'pending' THEN amount_msat + fee_reserve_msat
        WHEN 'paid' THEN amount_msat + COALESCE(fee_msat, 0) ELSE 0 END)
    FROM payments GROUP BY domain;

CREATE TRIGGER payments_spent_insert AFTER INSERT ON payments BEGIN
    INSERT INTO spent_by_domain (domain, msat) VALUES (NEW.domain, 0)
        ON CONFLICT (domain) DO NOTHING;
    UPDATE spent_total SET msat = msat + (CASE NEW.state
        WHEN 'pending' THEN NEW.amount_msat + NEW.fee_reserve_msat
        WHEN 'paid' THEN NEW.amount_msat + COALESCE(NEW.fee_msat, 0) ELSE 0 END);
    UPDATE spent_by_domain SET msat = msat + (CASE NEW.state
        WHEN 'pending' THEN NEW.amount_msat + NEW.fee_reserve_msat
        WHEN 'paid' THEN NEW.amount_msat + COALESCE(NEW.fee_msat, 0) ELSE 0 END)
        WHERE domain = NEW.domain;
END;

CREATE TRIGGER payments_spent_delete AFTER DELETE ON payments BEGIN
    UPDATE spent_total SET msat = msat - (CASE OLD.state
        WHEN 'pending' THEN OLD.amount_msat + OLD.fee_reserve_msat
        WHEN 'paid' THEN OLD.amount_msat + COALESCE(OLD.fee_msat, 0) ELSE 0 END);
    UPDATE spent_by_domain SET msat = msat - (CASE OLD.state
        WHEN 'pending' THEN OLD.amount_msat + OLD.fee_reserve_msat
        WHEN 'paid' THEN OLD.amount_msat + COALESCE(OLD.fee_msat, 0) ELSE 0 END)
        WHERE domain = OLD.domain;
END;

CREATE TRIGGER payments_spent_update
AFTER UPDATE OF state, amount_msat, fee_reserve_msat, fee_msat, domain ON payments BEGIN
    UPDATE spent_total SET msat = msat
        - (CASE OLD.state
            WHEN 'pending' THEN OLD.amount_msat + OLD.fee_reserve_msat
            WHEN 'paid' THEN OLD.amount_msat + COALESCE(OLD.fee_msat, 0) ELSE 0 END)
        + (CASE NEW.state
            WHEN 'pending' THEN NEW.amount_msat + NEW.fee_reserve_msat
            WHEN 'paid' THEN NEW.amount_msat + COALESCE(NEW.fee_msat, 0) ELSE 0 END);
    UPDATE spent_by_domain SET msat = msat - (CASE OLD.state
        WHEN 'pending' THEN OLD.amount_msat + OLD.fee_reserve_msat
        WHEN 'paid' THEN OLD.amount_msat + COALESCE(OLD.fee_msat, 0) ELSE 0 END)
        WHERE domain = OLD.domain;
    INSERT INTO spent_by_domain (domain, msat) VALUES (NEW.domain, 0)
        ON CONFLICT (domain) DO NOTHING;
    UPDATE spent_by_domain SET msat = msat + (CASE NEW.state
        WHEN 'pending' THEN NEW.amount_msat + NEW.fee_reserve_msat
        WHEN 'paid' THEN NEW.amount_msat + COALESCE(NEW.fee_msat, 0) ELSE 0 END)
        WHERE domain = NEW.domain;
END;
