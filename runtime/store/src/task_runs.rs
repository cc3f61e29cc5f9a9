//! Task run rows: the upsert the commit path uses (keeping creation order), and the read.

use sluice_engine::{StoreError, TaskRun};
use sqlx::SqliteExecutor;

use crate::error::db_error;
use crate::records::{
    RowName, json_from_db, json_to_db, key_from_db, optional_json_from_db, optional_json_to_db,
    optional_key_from_db, optional_timestamp_from_db, optional_timestamp_to_db, task_run_state_from_db,
    timestamp_from_db, timestamp_to_db,
};

/// For the commit trigger: upserts every task run in `NEW.task_runs`, a JSON array made by
/// [`rows_json`]. A new row gets a `seq` above every other of its execution (a batch's new
/// rows in array order); an update leaves `seq` alone, so reads keep creation order.
pub(crate) const UPSERT_JSON_ROWS: &str = "\
    INSERT INTO task_runs (execution_id, key, seq, parent, state, attempts, outputs, error, value, \
        created_at, started_at, ended_at) \
    SELECT r.value ->> 0, r.value ->> 1, \
        (SELECT COALESCE(MAX(t.seq), 0) FROM task_runs AS t WHERE t.execution_id = r.value ->> 0) + 1 + r.key, \
        r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6, r.value ->> 7, \
        r.value ->> 8, r.value ->> 9, r.value ->> 10 \
    FROM jsonb_each(NEW.task_runs) AS r WHERE true ORDER BY r.key \
    ON CONFLICT (execution_id, key) DO UPDATE SET parent = excluded.parent, state = excluded.state, \
        attempts = excluded.attempts, outputs = excluded.outputs, error = excluded.error, \
        value = excluded.value, created_at = excluded.created_at, started_at = excluded.started_at, \
        ended_at = excluded.ended_at";

/// The task runs as a JSON array of rows in column order (without `seq`).
pub(crate) fn rows_json(task_runs: &[(String, TaskRun)]) -> Result<String, StoreError> {
    let rows = task_runs
        .iter()
        .map(|(execution_id, run)| {
            Ok((
                execution_id,
                run.key.to_string(),
                run.parent.as_ref().map(ToString::to_string),
                run.state.as_str(),
                json_to_db(&run.attempts)?,
                optional_json_to_db(run.outputs.as_ref())?,
                run.error.as_deref(),
                optional_json_to_db(run.value.as_ref())?,
                timestamp_to_db(run.created_at)?,
                optional_timestamp_to_db(run.started_at)?,
                optional_timestamp_to_db(run.ended_at)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    json_to_db(&rows)
}

#[derive(sqlx::FromRow)]
struct TaskRunRow {
    execution_id: String,
    key: String,
    parent: Option<String>,
    state: String,
    attempts: String,
    outputs: Option<String>,
    error: Option<String>,
    value: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl TaskRunRow {
    fn into_record(self) -> Result<TaskRun, StoreError> {
        let row = RowName::TaskRun { execution_id: &self.execution_id, key: &self.key };
        let state = task_run_state_from_db(row, &self.state)?;
        Ok(TaskRun {
            key: key_from_db(row, "key", &self.key)?,
            parent: optional_key_from_db(row, "parent", self.parent.as_deref())?,
            state,
            // Attempt states are checked by serde: an unknown name fails here as corrupt.
            attempts: json_from_db(row, "attempts", &self.attempts)?,
            outputs: optional_json_from_db(row, "outputs", self.outputs.as_deref())?,
            error: self.error,
            value: optional_json_from_db(row, "value", self.value.as_deref())?,
            created_at: timestamp_from_db(self.created_at),
            started_at: optional_timestamp_from_db(self.started_at),
            ended_at: optional_timestamp_from_db(self.ended_at),
        })
    }
}

/// The execution's task runs in creation order.
pub(crate) async fn list(
    db: impl SqliteExecutor<'_>,
    execution_id: &str,
) -> Result<Vec<TaskRun>, StoreError> {
    let rows: Vec<TaskRunRow> = sqlx::query_as(
        "SELECT execution_id, key, parent, state, attempts, outputs, error, value, created_at, started_at, \
         ended_at FROM task_runs WHERE execution_id = ?1 ORDER BY seq",
    )
    .bind(execution_id)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(TaskRunRow::into_record).collect()
}

/// Deletes the listed runs of one execution in one statement.
pub(crate) async fn delete(
    writer: &crate::writer::Writer,
    execution_id: &str,
    keys: &[sluice_engine::TaskRunKey],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    let keys = serde_json::to_string(&keys).map_err(|e| StoreError::Database(e.to_string()))?;
    sqlx::query("DELETE FROM task_runs WHERE execution_id = ?1 AND key IN (SELECT value FROM json_each(?2))")
        .bind(execution_id)
        .bind(keys)
        .execute(&mut *writer.lock().await?)
        .await
        .map_err(crate::error::db_error)?;
    Ok(())
}
