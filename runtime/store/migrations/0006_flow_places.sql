-- Places under a flow's `concurrency.limit`, shared by every node on the database: an
-- execution of a limited flow holds a row from its admission (or its queueing) until the commit
-- that records its end deletes it. The queue is in the order the executions were created
-- (then `seq`). No foreign key: a new execution takes its place before its first commit writes
-- it.
CREATE TABLE flow_places (
    seq          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT    NOT NULL UNIQUE,
    namespace    TEXT    NOT NULL,
    flow_id      TEXT    NOT NULL,
    queued       INTEGER NOT NULL CHECK (queued IN (0, 1)),
    -- The limit the execution asked under: a queued one is admitted while fewer run.
    place_limit  INTEGER NOT NULL,
    -- Milliseconds by the database's clock.
    taken_at     INTEGER NOT NULL
);
CREATE INDEX flow_places_by_flow ON flow_places (namespace, flow_id, queued, seq);
