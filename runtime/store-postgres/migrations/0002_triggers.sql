-- Schedule triggers: how far each one's fire times have been handled, so that a restart can
-- apply `recoverMissed` and no two servers fire the same tick (claims are conditional updates
-- on `covered_until`; see `schedules.rs`).

CREATE TABLE schedule_triggers (
    namespace     BYTEA  NOT NULL,
    flow_id       BYTEA  NOT NULL,
    trigger_id    BYTEA  NOT NULL,
    -- Nanoseconds since the Unix epoch: every fire time up to this one was handled.
    covered_until BIGINT NOT NULL,
    -- The execution started by the last fire, to refuse overlapping runs.
    execution_id  BYTEA,
    skipped       BIGINT NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    PRIMARY KEY (namespace, flow_id, trigger_id)
);
