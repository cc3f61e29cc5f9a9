-- Governance: API tokens (kept as the SHA-256 of the token, never the token) and the audit
-- log, a hash chain: each entry holds the hash of the one before (see sluice-governance).
CREATE TABLE api_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    -- JSON: [{"role": "editor", "namespace": "acme.*"}, ...]
    grants     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
-- A name belongs to one live token at a time; revoked ones keep theirs for the record.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
    seq       INTEGER NOT NULL PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    details   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target, seq);
