-- Which node drives each execution, so that many servers can share one database (see
-- `leases.rs`). A lease holds until `expires_at` (milliseconds since the Unix epoch, by the
-- database's clock) and is renewed by the holder's commits and its keeper; `epoch` grows by
-- one with every takeover, and a commit carrying another node or an older epoch is refused.
-- Unfinished executions from before this migration have no row: the first node to claim
-- takes them.
CREATE TABLE execution_leases (
    execution_id TEXT    NOT NULL PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    node         TEXT    NOT NULL,
    epoch        INTEGER NOT NULL CHECK (epoch >= 1),
    expires_at   INTEGER NOT NULL
);

CREATE INDEX execution_leases_by_expiry ON execution_leases (expires_at);

-- Kills and resumes asked of a server that does not drive the execution: the node holding its
-- lease takes them (deleting them) on its keeper's next round and applies them. `control` is
-- the engine's JSON encoding of the request.
CREATE TABLE execution_controls (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    control      TEXT    NOT NULL
);

CREATE INDEX execution_controls_by_execution ON execution_controls (execution_id);

-- The servers sharing the database, as their lease keepers last reported (times in milliseconds
-- by the database's clock): a node is alive while `seen_at + ttl` is not past.
CREATE TABLE nodes (
    node       TEXT    NOT NULL PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    ttl        INTEGER NOT NULL
);
