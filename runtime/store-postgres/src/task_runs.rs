//! Task run rows: the columns the commit path upserts (keeping creation order), the read and
//! the delete.

use sluice_engine::{StoreError, TaskRun, TaskRunKey};
use sluice_store::records::task_run_state_from_db;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres};

use crate::codec::{
    json_from_db, json_to_db, key_from_db, last_versions, lossy, optional_json_from_db, optional_json_to_db,
    optional_key_from_db, optional_text_from_db, optional_timestamp_from_db, optional_timestamp_to_db,
    timestamp_from_db, timestamp_to_db,
};
use crate::error::{RowName, corrupt, db_error};

/// The commit statement's part for task runs, bound by [`Columns::bind`] as `$19` to `$29`. A
/// new row gets a `seq` above every other of its execution (a batch's new rows in batch order);
/// an update leaves `seq` alone, so reads keep creation order. The commit holds the
/// execution's advisory lock, so no other transaction numbers its rows meanwhile.
pub(crate) const UPSERT: &str = "\
    task_runs_written AS (INSERT INTO task_runs (execution_id, key, seq, parent, state, attempts, outputs, \
        error, value, created_at, started_at, ended_at) \
    SELECT r.execution_id, r.key, \
        COALESCE((SELECT MAX(t.seq) FROM task_runs AS t WHERE t.execution_id = r.execution_id), 0) + r.n, \
        r.parent, r.state, r.attempts, r.outputs, r.error, r.value, r.created_at, r.started_at, r.ended_at \
    FROM unnest($19::bytea[], $20::bytea[], $21::bytea[], $22::text[], $23::text[], $24::text[], \
        $25::bytea[], $26::text[], $27::int8[], $28::int8[], $29::int8[]) WITH ORDINALITY \
        AS r (execution_id, key, parent, state, attempts, outputs, error, value, created_at, started_at, \
        ended_at, n) \
    ORDER BY r.n \
    ON CONFLICT (execution_id, key) DO UPDATE SET parent = excluded.parent, state = excluded.state, \
        attempts = excluded.attempts, outputs = excluded.outputs, error = excluded.error, \
        value = excluded.value, created_at = excluded.created_at, started_at = excluded.started_at, \
        ended_at = excluded.ended_at RETURNING 1)";

/// The task runs of a batch as column arrays. A run given twice is written once, as its last
/// version, in the place of its first.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub(crate) execution_ids: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    parents: Vec<Option<Vec<u8>>>,
    states: Vec<&'static str>,
    attempts: Vec<String>,
    outputs: Vec<Option<String>>,
    errors: Vec<Option<Vec<u8>>>,
    values: Vec<Option<String>>,
    created_at: Vec<i64>,
    started_at: Vec<Option<i64>>,
    ended_at: Vec<Option<i64>>,
}

impl Columns {
    pub(crate) fn new(task_runs: &[(String, TaskRun)]) -> Result<Self, StoreError> {
        let mut columns = Columns::default();
        for (execution_id, run) in last_versions(task_runs, |(id, run)| (id.as_str(), &run.key)) {
            columns.execution_ids.push(execution_id.as_bytes().to_vec());
            columns.keys.push(run.key.to_string().into_bytes());
            columns.parents.push(run.parent.as_ref().map(|p| p.to_string().into_bytes()));
            columns.states.push(run.state.as_str());
            columns.attempts.push(json_to_db(&run.attempts)?);
            columns.outputs.push(optional_json_to_db(run.outputs.as_ref())?);
            columns.errors.push(run.error.as_ref().map(|m| m.as_bytes().to_vec()));
            columns.values.push(optional_json_to_db(run.value.as_ref())?);
            columns.created_at.push(timestamp_to_db(run.created_at)?);
            columns.started_at.push(optional_timestamp_to_db(run.started_at)?);
            columns.ended_at.push(optional_timestamp_to_db(run.ended_at)?);
        }
        Ok(columns)
    }

    /// Binds `$19` to `$29` of [`UPSERT`].
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.execution_ids)
            .bind(self.keys)
            .bind(self.parents)
            .bind(self.states)
            .bind(self.attempts)
            .bind(self.outputs)
            .bind(self.errors)
            .bind(self.values)
            .bind(self.created_at)
            .bind(self.started_at)
            .bind(self.ended_at)
    }
}

#[derive(sqlx::FromRow)]
struct TaskRunRow {
    execution_id: Vec<u8>,
    key: Vec<u8>,
    parent: Option<Vec<u8>>,
    state: String,
    attempts: String,
    outputs: Option<String>,
    error: Option<Vec<u8>>,
    value: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl TaskRunRow {
    fn into_record(self) -> Result<TaskRun, StoreError> {
        let (execution_id, key) = (lossy(&self.execution_id), lossy(&self.key));
        let row = RowName::TaskRun { execution_id: &execution_id, key: &key };
        let state = task_run_state_from_db(row, &self.state)?;
        let parent = optional_text_from_db(row, "parent", self.parent)?;
        if std::str::from_utf8(&self.key).is_err() {
            return Err(corrupt(row, "key", "not UTF-8"));
        }
        Ok(TaskRun {
            key: key_from_db(row, "key", &key)?,
            parent: optional_key_from_db(row, "parent", parent.as_deref())?,
            state,
            // Attempt states are checked by serde: an unknown name fails here as corrupt.
            attempts: json_from_db(row, "attempts", &self.attempts)?,
            outputs: optional_json_from_db(row, "outputs", self.outputs.as_deref())?,
            error: optional_text_from_db(row, "error", self.error)?,
            value: optional_json_from_db(row, "value", self.value.as_deref())?,
            created_at: timestamp_from_db(self.created_at),
            started_at: optional_timestamp_from_db(self.started_at),
            ended_at: optional_timestamp_from_db(self.ended_at),
        })
    }
}

/// The execution's task runs in creation order.
pub(crate) async fn list(db: impl PgExecutor<'_>, execution_id: &str) -> Result<Vec<TaskRun>, StoreError> {
    let rows: Vec<TaskRunRow> = sqlx::query_as(
        "SELECT execution_id, key, parent, state, attempts, outputs, error, value, created_at, started_at, \
         ended_at FROM task_runs WHERE execution_id = $1 ORDER BY seq",
    )
    .bind(execution_id.as_bytes())
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(TaskRunRow::into_record).collect()
}

/// Deletes the listed runs of one execution in one statement.
pub(crate) async fn delete(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    keys: &[TaskRunKey],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_string().into_bytes()).collect();
    sqlx::query("DELETE FROM task_runs WHERE execution_id = $1 AND key = ANY($2)")
        .bind(execution_id.as_bytes())
        .bind(keys)
        .execute(db)
        .await
        .map_err(db_error)?;
    Ok(())
}
