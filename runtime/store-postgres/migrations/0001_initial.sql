-- The first schema of the PostgreSQL store: the SQLite store's (runtime/store/migrations), in
-- PostgreSQL's types.
--
-- Conventions: timestamps are BIGINT nanoseconds since the Unix epoch (UTC), so they round-trip
-- exactly and compare as numbers; JSON values are TEXT as serde_json wrote them (SQL NULL means
-- "absent", the text `null` means a JSON null; not JSONB, which rewrites the text and refuses
-- `\u0000`); state names are the engine's `as_str` names. Every other string the engine hands
-- over (ids, names, messages) is BYTEA holding its UTF-8: PostgreSQL's TEXT cannot hold a NUL
-- character, which those strings may contain, and bytes compare and sort the same under any
-- database collation, as SQLite's BINARY collation does.

CREATE TABLE flows (
    namespace  BYTEA   NOT NULL,
    id         BYTEA   NOT NULL,
    revision   BIGINT  NOT NULL CHECK (revision >= 1),
    source     BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL,
    -- Every revision of a flow carries the flow's deleted flag; deleting keeps the rows for the
    -- executions pinned to them.
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (namespace, id, revision)
);

CREATE TABLE executions (
    id               BYTEA  NOT NULL PRIMARY KEY,
    namespace        BYTEA  NOT NULL,
    flow_id          BYTEA  NOT NULL,
    revision         BIGINT NOT NULL,
    state            TEXT   NOT NULL,
    inputs           TEXT   NOT NULL,
    outputs          TEXT,
    error            BYTEA,
    -- A JSON object of strings; mirrored into execution_labels by every commit.
    labels           TEXT   NOT NULL,
    parent_execution BYTEA,
    parent_task_run  BYTEA,
    "trigger"        TEXT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    ended_at         BIGINT,
    CHECK ((parent_execution IS NULL) = (parent_task_run IS NULL))
);

CREATE INDEX executions_by_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_by_flow ON executions (namespace, flow_id, created_at DESC);
CREATE INDEX executions_by_state ON executions (state, created_at DESC);

CREATE TABLE execution_labels (
    execution_id BYTEA NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key          BYTEA NOT NULL,
    value        BYTEA NOT NULL,
    PRIMARY KEY (execution_id, key)
);

CREATE INDEX execution_labels_by_pair ON execution_labels (key, value);

CREATE TABLE task_runs (
    execution_id BYTEA  NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key          BYTEA  NOT NULL,
    -- Creation order within the execution: set on insert, never touched by an update.
    seq          BIGINT NOT NULL,
    parent       BYTEA,
    state        TEXT   NOT NULL,
    attempts     TEXT   NOT NULL,
    outputs      TEXT,
    error        BYTEA,
    value        TEXT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    ended_at     BIGINT,
    PRIMARY KEY (execution_id, key)
);

CREATE UNIQUE INDEX task_runs_by_creation ON task_runs (execution_id, seq);

-- Numbered per execution: a new line gets one more than the execution's highest seq, so
-- `after_seq` follows one execution's log in order (commits to one execution are serialised by
-- an advisory lock, see `commit.rs`).
CREATE TABLE logs (
    execution_id BYTEA  NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    task_run     BYTEA,
    attempt      BIGINT,
    time         BIGINT NOT NULL,
    level        BYTEA  NOT NULL,
    source       BYTEA  NOT NULL,
    message      BYTEA  NOT NULL,
    PRIMARY KEY (execution_id, seq)
);

CREATE TABLE artifacts (
    sha256 TEXT   NOT NULL PRIMARY KEY,
    size   BIGINT NOT NULL,
    bytes  BYTEA  NOT NULL
);

-- No foreign key to executions: an artifact may be attached before its execution's first commit
-- (an uploaded `file` input, say).
CREATE TABLE execution_artifacts (
    -- Attach order (SQLite's rowid): kept when a name is attached again.
    position     BIGINT NOT NULL GENERATED ALWAYS AS IDENTITY,
    execution_id BYTEA  NOT NULL,
    -- '' for execution-level artifacts (a task run key is never empty), so the key has no NULL.
    task_run     BYTEA  NOT NULL DEFAULT ''::bytea,
    name         BYTEA  NOT NULL,
    sha256       TEXT   NOT NULL REFERENCES artifacts (sha256),
    PRIMARY KEY (execution_id, task_run, name)
);
