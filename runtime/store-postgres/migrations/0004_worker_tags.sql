-- The worker tags an execution's tasks ask for (`workerTags:`): only a node holding every one
-- of them claims its lease (`sluice worker --tags`). Executions that ask for none have no row.
-- Written before the execution's first commit, so no foreign key: a claimer never sees the
-- execution without its tags.
CREATE TABLE execution_worker_tags (
    execution_id BYTEA  NOT NULL PRIMARY KEY,
    tags         TEXT[] NOT NULL
);
