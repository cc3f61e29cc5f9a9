-- The first schema of the embedded store.
--
-- Conventions: timestamps are INTEGER nanoseconds since the Unix epoch (UTC), so they round-trip
-- exactly and compare as numbers; JSON values are TEXT as serde_json wrote them (SQL NULL means
-- "absent", the text `null` means a JSON null); state names are the engine's `as_str` names.

CREATE TABLE flows (
    namespace  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    revision   INTEGER NOT NULL CHECK (revision >= 1),
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    -- Every revision of a flow carries the flow's deleted flag; deleting keeps the rows for the
    -- executions pinned to them.
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    PRIMARY KEY (namespace, id, revision)
);

CREATE TABLE executions (
    id               TEXT    NOT NULL PRIMARY KEY,
    namespace        TEXT    NOT NULL,
    flow_id          TEXT    NOT NULL,
    revision         INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    inputs           TEXT    NOT NULL,
    outputs          TEXT,
    error            TEXT,
    -- A JSON object of strings; mirrored into execution_labels by the triggers below.
    labels           TEXT    NOT NULL,
    parent_execution TEXT,
    parent_task_run  TEXT,
    "trigger"        TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER,
    CHECK ((parent_execution IS NULL) = (parent_task_run IS NULL))
);

CREATE INDEX executions_by_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_by_flow ON executions (namespace, flow_id, created_at DESC);
CREATE INDEX executions_by_state ON executions (state, created_at DESC);

CREATE TABLE execution_labels (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (execution_id, key)
);

CREATE INDEX execution_labels_by_pair ON execution_labels (key, value);

-- Labels are written once with the execution and rarely change, so they are kept in step inside
-- SQLite rather than rewritten by every commit.
CREATE TRIGGER execution_labels_on_insert AFTER INSERT ON executions
BEGIN
    INSERT INTO execution_labels (execution_id, key, value)
    SELECT NEW.id, j.key, j.value FROM json_each(NEW.labels) AS j;
END;

CREATE TRIGGER execution_labels_on_update AFTER UPDATE OF labels ON executions
WHEN OLD.labels IS NOT NEW.labels
BEGIN
    DELETE FROM execution_labels WHERE execution_id = OLD.id;
    INSERT INTO execution_labels (execution_id, key, value)
    SELECT NEW.id, j.key, j.value FROM json_each(NEW.labels) AS j;
END;

-- WITHOUT ROWID: the key is the table, so writing a task run touches one b-tree (two when it
-- is new), which is what the once-per-step commit pays for.
CREATE TABLE task_runs (
    execution_id TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    key          TEXT    NOT NULL,
    -- Creation order within the execution: set on insert, never touched by an update.
    seq          INTEGER NOT NULL,
    parent       TEXT,
    state        TEXT    NOT NULL,
    attempts     TEXT    NOT NULL,
    outputs      TEXT,
    error        TEXT,
    value        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    PRIMARY KEY (execution_id, key)
) WITHOUT ROWID;

CREATE UNIQUE INDEX task_runs_by_creation ON task_runs (execution_id, seq);

-- Numbered per execution: a new line gets one more than the execution's highest seq, so
-- `after_seq` follows one execution's log in order. Keyed by (execution, seq) without a rowid,
-- appending a line touches one b-tree.
CREATE TABLE logs (
    execution_id TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    task_run     TEXT,
    attempt      INTEGER,
    time         INTEGER NOT NULL,
    level        TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    PRIMARY KEY (execution_id, seq)
) WITHOUT ROWID;

CREATE TABLE artifacts (
    sha256 TEXT    NOT NULL PRIMARY KEY,
    size   INTEGER NOT NULL,
    bytes  BLOB    NOT NULL
);

-- No foreign key to executions: an artifact may be attached before its execution's first commit
-- (an uploaded `file` input, say).
CREATE TABLE execution_artifacts (
    execution_id TEXT NOT NULL,
    -- '' for execution-level artifacts (a task run key is never empty), so the key has no NULL.
    task_run     TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL,
    sha256       TEXT NOT NULL REFERENCES artifacts (sha256),
    PRIMARY KEY (execution_id, task_run, name)
);
