//! Execution rows: the columns the commit path upserts, and the reads.

use sluice_engine::{ExecutionFilter, ExecutionRecord, StoreError};
use sluice_store::records::{execution_state_from_db, parent_from_db};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres, QueryBuilder};

use crate::codec::{
    json_from_db, json_to_db, last_versions, lossy, optional_json_from_db, optional_json_to_db,
    optional_text_from_db, optional_timestamp_from_db, optional_timestamp_to_db, text_from_db,
    timestamp_bound_to_db, timestamp_from_db, timestamp_to_db, u32_from_db,
};
use crate::error::{RowName, db_error};

/// `list_executions` with `limit: 0`.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

macro_rules! execution_columns {
    () => {
        "id, namespace, flow_id, revision, state, inputs, outputs, error, labels, \
         parent_execution, parent_task_run, \"trigger\", created_at, started_at, ended_at"
    };
}

/// The commit statement's part for executions, bound by [`Columns::bind`] as `$1` to `$18`: an
/// upsert replacing the whole row, and the labels table brought in step (stale keys deleted,
/// new or changed pairs upserted; the two touch different rows).
pub(crate) const UPSERT: &str = concat!(
    "executions_written AS (INSERT INTO executions (",
    execution_columns!(),
    ") SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[], $5::text[], $6::text[], \
     $7::text[], $8::bytea[], $9::text[], $10::bytea[], $11::bytea[], $12::text[], $13::int8[], \
     $14::int8[], $15::int8[]) \
     ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, flow_id = excluded.flow_id, \
     revision = excluded.revision, state = excluded.state, inputs = excluded.inputs, \
     outputs = excluded.outputs, error = excluded.error, labels = excluded.labels, \
     parent_execution = excluded.parent_execution, parent_task_run = excluded.parent_task_run, \
     \"trigger\" = excluded.\"trigger\", created_at = excluded.created_at, \
     started_at = excluded.started_at, ended_at = excluded.ended_at RETURNING 1), \
     stale_labels AS (DELETE FROM execution_labels AS l WHERE l.execution_id = ANY($1::bytea[]) \
     AND NOT EXISTS (SELECT 1 FROM unnest($16::bytea[], $17::bytea[]) AS n (execution_id, key) \
     WHERE n.execution_id = l.execution_id AND n.key = l.key) RETURNING 1), \
     labels_written AS (INSERT INTO execution_labels (execution_id, key, value) \
     SELECT * FROM unnest($16::bytea[], $17::bytea[], $18::bytea[]) \
     ON CONFLICT (execution_id, key) DO UPDATE SET value = excluded.value \
     WHERE execution_labels.value <> excluded.value RETURNING 1)"
);

/// The executions of a batch as column arrays. An execution given twice is written once, as
/// its last version (each replaces the whole row).
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub(crate) ids: Vec<Vec<u8>>,
    namespaces: Vec<Vec<u8>>,
    flow_ids: Vec<Vec<u8>>,
    revisions: Vec<i64>,
    states: Vec<&'static str>,
    inputs: Vec<String>,
    outputs: Vec<Option<String>>,
    errors: Vec<Option<Vec<u8>>>,
    labels: Vec<String>,
    parent_executions: Vec<Option<Vec<u8>>>,
    parent_task_runs: Vec<Option<Vec<u8>>>,
    triggers: Vec<Option<String>>,
    created_at: Vec<i64>,
    started_at: Vec<Option<i64>>,
    ended_at: Vec<Option<i64>>,
    label_executions: Vec<Vec<u8>>,
    label_keys: Vec<Vec<u8>>,
    label_values: Vec<Vec<u8>>,
}

impl Columns {
    pub(crate) fn new(executions: &[ExecutionRecord]) -> Result<Self, StoreError> {
        let mut columns = Columns::default();
        let mut executions = last_versions(executions, |e| e.id.as_str());
        // In id order, so two commits upserting the same executions lock their rows alike.
        executions.sort_by(|a, b| a.id.as_bytes().cmp(b.id.as_bytes()));
        for e in executions {
            let (parent_execution, parent_task_run) = match &e.parent {
                Some((id, key)) => (Some(id.as_bytes().to_vec()), Some(key.to_string().into_bytes())),
                None => (None, None),
            };
            columns.ids.push(e.id.as_bytes().to_vec());
            columns.namespaces.push(e.namespace.as_bytes().to_vec());
            columns.flow_ids.push(e.flow_id.as_bytes().to_vec());
            columns.revisions.push(i64::from(e.revision));
            columns.states.push(e.state.as_str());
            columns.inputs.push(json_to_db(&e.inputs)?);
            columns.outputs.push(optional_json_to_db(e.outputs.as_ref())?);
            columns.errors.push(e.error.as_ref().map(|m| m.as_bytes().to_vec()));
            columns.labels.push(json_to_db(&e.labels)?);
            columns.parent_executions.push(parent_execution);
            columns.parent_task_runs.push(parent_task_run);
            columns.triggers.push(optional_json_to_db(e.trigger.as_ref())?);
            columns.created_at.push(timestamp_to_db(e.created_at)?);
            columns.started_at.push(optional_timestamp_to_db(e.started_at)?);
            columns.ended_at.push(optional_timestamp_to_db(e.ended_at)?);
            for (key, value) in &e.labels {
                columns.label_executions.push(e.id.as_bytes().to_vec());
                columns.label_keys.push(key.as_bytes().to_vec());
                columns.label_values.push(value.as_bytes().to_vec());
            }
        }
        Ok(columns)
    }

    /// Binds `$1` to `$18` of [`UPSERT`].
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.ids)
            .bind(self.namespaces)
            .bind(self.flow_ids)
            .bind(self.revisions)
            .bind(self.states)
            .bind(self.inputs)
            .bind(self.outputs)
            .bind(self.errors)
            .bind(self.labels)
            .bind(self.parent_executions)
            .bind(self.parent_task_runs)
            .bind(self.triggers)
            .bind(self.created_at)
            .bind(self.started_at)
            .bind(self.ended_at)
            .bind(self.label_executions)
            .bind(self.label_keys)
            .bind(self.label_values)
    }
}

#[derive(sqlx::FromRow)]
struct ExecutionRow {
    id: Vec<u8>,
    namespace: Vec<u8>,
    flow_id: Vec<u8>,
    revision: i64,
    state: String,
    inputs: String,
    outputs: Option<String>,
    error: Option<Vec<u8>>,
    labels: String,
    parent_execution: Option<Vec<u8>>,
    parent_task_run: Option<Vec<u8>>,
    trigger: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl ExecutionRow {
    fn into_record(self) -> Result<ExecutionRecord, StoreError> {
        let name = lossy(&self.id);
        let row = RowName::Execution(&name);
        let state = execution_state_from_db(row, &self.state)?;
        let parent_execution = optional_text_from_db(row, "parent_execution", self.parent_execution)?;
        let parent_task_run = optional_text_from_db(row, "parent_task_run", self.parent_task_run)?;
        let parent = parent_from_db(row, parent_execution, parent_task_run.as_deref())?;
        Ok(ExecutionRecord {
            revision: u32_from_db(row, "revision", self.revision)?,
            state,
            inputs: json_from_db(row, "inputs", &self.inputs)?,
            outputs: optional_json_from_db(row, "outputs", self.outputs.as_deref())?,
            labels: json_from_db(row, "labels", &self.labels)?,
            parent,
            trigger: optional_json_from_db(row, "trigger", self.trigger.as_deref())?,
            created_at: timestamp_from_db(self.created_at),
            started_at: optional_timestamp_from_db(self.started_at),
            ended_at: optional_timestamp_from_db(self.ended_at),
            error: optional_text_from_db(row, "error", self.error)?,
            namespace: text_from_db(row, "namespace", self.namespace)?,
            flow_id: text_from_db(row, "flow_id", self.flow_id)?,
            id: text_from_db(row, "id", self.id)?,
        })
    }
}

fn into_records(rows: Vec<ExecutionRow>) -> Result<Vec<ExecutionRecord>, StoreError> {
    rows.into_iter().map(ExecutionRow::into_record).collect()
}

pub(crate) async fn get(db: impl PgExecutor<'_>, id: &str) -> Result<Option<ExecutionRecord>, StoreError> {
    let row: Option<ExecutionRow> =
        sqlx::query_as(concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = $1"))
            .bind(id.as_bytes())
            .fetch_optional(db)
            .await
            .map_err(db_error)?;
    row.map(ExecutionRow::into_record).transpose()
}

/// Newest first (ties broken by id, which is time-ordered). Both ends of the creation range
/// are exclusive. Every label pair must be present.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    filter: &ExecutionFilter,
) -> Result<Vec<ExecutionRecord>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        execution_columns!(),
        " FROM executions AS e WHERE TRUE"
    ));
    if let Some(namespace) = &filter.namespace {
        query.push(" AND namespace = ").push_bind(namespace.as_bytes().to_vec());
    }
    if let Some(flow_id) = &filter.flow_id {
        query.push(" AND flow_id = ").push_bind(flow_id.as_bytes().to_vec());
    }
    if let Some(parent) = &filter.parent {
        query.push(" AND parent_execution = ").push_bind(parent.as_bytes().to_vec());
    }
    if !filter.states.is_empty() {
        let states: Vec<&'static str> = filter.states.iter().map(|s| s.as_str()).collect();
        query.push(" AND state = ANY(").push_bind(states).push(")");
    }
    for (key, value) in &filter.labels {
        query
            .push(" AND EXISTS (SELECT 1 FROM execution_labels AS l WHERE l.execution_id = e.id AND l.key = ")
            .push_bind(key.as_bytes().to_vec())
            .push(" AND l.value = ")
            .push_bind(value.as_bytes().to_vec())
            .push(")");
    }
    if let Some(after) = filter.created_after {
        query.push(" AND created_at > ").push_bind(timestamp_bound_to_db(after));
    }
    if let Some(before) = filter.created_before {
        query.push(" AND created_at < ").push_bind(timestamp_bound_to_db(before));
    }
    let limit = if filter.limit == 0 { DEFAULT_LIST_LIMIT } else { filter.limit };
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit))
        .push(" OFFSET ")
        .push_bind(i64::from(filter.offset));
    let rows = query.build_query_as::<ExecutionRow>().fetch_all(db).await.map_err(db_error)?;
    into_records(rows)
}

/// The names of the terminal states, for `state <> ALL($n)`.
pub(crate) fn terminal_states() -> Vec<&'static str> {
    sluice_engine::ALL_EXECUTION_STATES.into_iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect()
}

/// Every execution not in a terminal state, oldest first. A row whose state cannot be read is
/// an error rather than skipped: recovery must not lose an execution silently.
pub(crate) async fn unfinished(db: impl PgExecutor<'_>) -> Result<Vec<ExecutionRecord>, StoreError> {
    let terminal = terminal_states();
    let rows: Vec<ExecutionRow> = sqlx::query_as(concat!(
        "SELECT ",
        execution_columns!(),
        " FROM executions WHERE state <> ALL($1) ORDER BY created_at, id"
    ))
    .bind(terminal)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    into_records(rows)
}
