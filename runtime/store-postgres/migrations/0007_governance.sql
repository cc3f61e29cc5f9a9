-- Governance: API tokens (kept as the SHA-256 of the token, never the token) and the audit
-- log, a hash chain: each entry holds the hash of the one before (see sluice-governance). The
-- SQLite store's migration 7, in PostgreSQL's types (strings as BYTEA, as in migration 1).
CREATE TABLE api_tokens (
    hash       TEXT   NOT NULL PRIMARY KEY,
    name       BYTEA  NOT NULL,
    -- JSON: [{"role": "editor", "namespace": "acme.*"}, ...]
    grants     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
-- A name belongs to one live token at a time; revoked ones keep theirs for the record.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
    seq       BIGINT NOT NULL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     BYTEA  NOT NULL,
    action    BYTEA  NOT NULL,
    target    BYTEA  NOT NULL,
    source    BYTEA  NOT NULL,
    details   TEXT   NOT NULL,
    prev_hash TEXT   NOT NULL,
    hash      TEXT   NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target, seq);
