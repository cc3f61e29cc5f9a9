-- Places under a flow's `concurrency.limit`, shared by every node on the database: an
-- execution of a limited flow holds a row from its admission (or its queueing) until the commit
-- that records its end deletes it. The queue is in the order the executions were created
-- (then `seq`). No foreign key: a new execution takes its place before its first commit writes
-- it. Requests lock the flow (advisory lock).
CREATE TABLE flow_places (
    seq          BIGSERIAL NOT NULL PRIMARY KEY,
    execution_id BYTEA     NOT NULL UNIQUE,
    namespace    BYTEA     NOT NULL,
    flow_id      BYTEA     NOT NULL,
    queued       BOOLEAN   NOT NULL,
    -- The limit the execution asked under: a queued one is admitted while fewer run.
    place_limit  BIGINT    NOT NULL,
    -- Milliseconds by the database's clock.
    taken_at     BIGINT    NOT NULL
);
CREATE INDEX flow_places_by_flow ON flow_places (namespace, flow_id, queued, seq);

-- Raised by a commit whose lease another node holds now (see `commit.rs`): the statement fails,
-- so nothing of the batch lands. SQLSTATE SL001 tells it apart from other errors.
CREATE OR REPLACE FUNCTION sluice_lease_lost(execution_id BYTEA) RETURNS INTEGER LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sluice: execution % is driven by another node now', convert_from(execution_id, 'UTF8')
        USING ERRCODE = 'SL001';
END
$$;
