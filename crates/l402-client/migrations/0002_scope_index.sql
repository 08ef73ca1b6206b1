-- Pending payments are looked up per scope (single flight across processes).
CREATE INDEX payments_scope_state ON payments (scope, state);
