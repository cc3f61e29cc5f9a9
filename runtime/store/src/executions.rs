//! Execution rows: the upsert the commit path uses, and the reads.

use std::collections::HashSet;

use sluice_engine::{ExecutionFilter, ExecutionRecord, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

use crate::error::db_error;
use crate::records::{
    RowName, execution_state_from_db, json_from_db, json_to_db, optional_json_from_db, optional_json_to_db,
    optional_timestamp_from_db, optional_timestamp_to_db, parent_from_db, timestamp_bound_to_db,
    timestamp_from_db, timestamp_to_db, u32_from_db,
};

/// `list_executions` with `limit: 0`.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

macro_rules! execution_columns {
    () => {
        "id, namespace, flow_id, revision, state, inputs, outputs, error, labels, \
         parent_execution, parent_task_run, \"trigger\", created_at, started_at, ended_at"
    };
}

/// For the commit trigger: upserts every execution in `NEW.executions`, a JSON array made by
/// [`rows_json`]. A new id is inserted whole; a known one gets every column that no index
/// covers. The labels table follows by trigger (only when the labels changed).
pub(crate) const UPSERT_JSON_ROWS: &str = concat!(
    "INSERT INTO executions (",
    execution_columns!(),
    ") SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, \
     r.value ->> 6, r.value ->> 7, r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11, \
     r.value ->> 12, r.value ->> 13, r.value ->> 14 \
     FROM jsonb_each(NEW.executions) AS r WHERE true ORDER BY r.key \
     ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, inputs = excluded.inputs, \
     outputs = excluded.outputs, error = excluded.error, labels = excluded.labels, \
     parent_execution = excluded.parent_execution, parent_task_run = excluded.parent_task_run, \
     \"trigger\" = excluded.\"trigger\", started_at = excluded.started_at, ended_at = excluded.ended_at"
);

/// For the commit trigger, after [`UPSERT_JSON_ROWS`]: the indexed columns, written only where
/// they changed. SQLite rewrites an index entry whenever its column is assigned, changed or
/// not, and every rewritten page is another WAL frame on the hot path; most steps change no
/// indexed column, or only the state.
pub(crate) const UPDATE_INDEXED_JSON_ROWS: &str = "\
    UPDATE executions SET namespace = r.value ->> 1, flow_id = r.value ->> 2, state = r.value ->> 4, \
        created_at = r.value ->> 12 \
    FROM jsonb_each(NEW.executions) AS r \
    WHERE executions.id = r.value ->> 0 AND (namespace IS NOT r.value ->> 1 OR flow_id IS NOT r.value ->> 2 \
        OR state IS NOT r.value ->> 4 OR created_at IS NOT r.value ->> 12)";

/// The executions as a JSON array of rows, one array per execution in column order: the whole
/// batch binds as one value, so the commit costs one statement however many rows it has. An
/// execution given twice is written once, as its last version (each replaces the whole row,
/// and [`UPDATE_INDEXED_JSON_ROWS`] needs one source row per execution).
pub(crate) fn rows_json(executions: &[ExecutionRecord]) -> Result<String, StoreError> {
    let mut seen = HashSet::new();
    let mut last_versions: Vec<&ExecutionRecord> =
        executions.iter().rev().filter(|e| seen.insert(e.id.as_str())).collect();
    last_versions.reverse();
    let rows = last_versions
        .into_iter()
        .map(|e| {
            let (parent_execution, parent_task_run) = match &e.parent {
                Some((id, key)) => (Some(id.as_str()), Some(key.to_string())),
                None => (None, None),
            };
            Ok((
                &e.id,
                &e.namespace,
                &e.flow_id,
                e.revision,
                e.state.as_str(),
                json_to_db(&e.inputs)?,
                optional_json_to_db(e.outputs.as_ref())?,
                e.error.as_deref(),
                json_to_db(&e.labels)?,
                parent_execution,
                parent_task_run,
                optional_json_to_db(e.trigger.as_ref())?,
                timestamp_to_db(e.created_at)?,
                optional_timestamp_to_db(e.started_at)?,
                optional_timestamp_to_db(e.ended_at)?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    json_to_db(&rows)
}

#[derive(sqlx::FromRow)]
struct ExecutionRow {
    id: String,
    namespace: String,
    flow_id: String,
    revision: i64,
    state: String,
    inputs: String,
    outputs: Option<String>,
    error: Option<String>,
    labels: String,
    parent_execution: Option<String>,
    parent_task_run: Option<String>,
    trigger: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
}

impl ExecutionRow {
    fn into_record(self) -> Result<ExecutionRecord, StoreError> {
        let row = RowName::Execution(&self.id);
        let state = execution_state_from_db(row, &self.state)?;
        let parent = parent_from_db(row, self.parent_execution, self.parent_task_run.as_deref())?;
        let record = ExecutionRecord {
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
            error: self.error,
            namespace: self.namespace,
            flow_id: self.flow_id,
            id: self.id,
        };
        Ok(record)
    }
}

fn into_records(rows: Vec<ExecutionRow>) -> Result<Vec<ExecutionRecord>, StoreError> {
    rows.into_iter().map(ExecutionRow::into_record).collect()
}

pub(crate) async fn get(
    db: impl SqliteExecutor<'_>,
    id: &str,
) -> Result<Option<ExecutionRecord>, StoreError> {
    let row: Option<ExecutionRow> =
        sqlx::query_as(concat!("SELECT ", execution_columns!(), " FROM executions WHERE id = ?1"))
            .bind(id)
            .fetch_optional(db)
            .await
            .map_err(db_error)?;
    row.map(ExecutionRow::into_record).transpose()
}

/// Newest first (ties broken by id, which is time-ordered). Both ends of the creation range
/// are exclusive. Every label pair must be present.
pub(crate) async fn list(
    db: impl SqliteExecutor<'_>,
    filter: &ExecutionFilter,
) -> Result<Vec<ExecutionRecord>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        execution_columns!(),
        " FROM executions AS e WHERE 1 = 1"
    ));
    if let Some(namespace) = &filter.namespace {
        query.push(" AND namespace = ").push_bind(namespace.clone());
    }
    if let Some(flow_id) = &filter.flow_id {
        query.push(" AND flow_id = ").push_bind(flow_id.clone());
    }
    if let Some(parent) = &filter.parent {
        query.push(" AND parent_execution = ").push_bind(parent.clone());
    }
    if !filter.states.is_empty() {
        query.push(" AND state IN (");
        let mut states = query.separated(", ");
        for state in &filter.states {
            states.push_bind(state.as_str());
        }
        query.push(")");
    }
    for (key, value) in &filter.labels {
        query
            .push(" AND EXISTS (SELECT 1 FROM execution_labels AS l WHERE l.execution_id = e.id AND l.key = ")
            .push_bind(key.clone())
            .push(" AND l.value = ")
            .push_bind(value.clone())
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

/// Every execution not in a terminal state, oldest first. A row whose state cannot be read is
/// an error rather than skipped: recovery must not lose an execution silently.
pub(crate) async fn unfinished(db: impl SqliteExecutor<'_>) -> Result<Vec<ExecutionRecord>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        execution_columns!(),
        " FROM executions WHERE state NOT IN ("
    ));
    let mut terminal = query.separated(", ");
    for state in sluice_engine::ALL_EXECUTION_STATES.into_iter().filter(|s| s.is_terminal()) {
        terminal.push_bind(state.as_str());
    }
    query.push(") ORDER BY created_at, id");
    let rows = query.build_query_as::<ExecutionRow>().fetch_all(db).await.map_err(db_error)?;
    into_records(rows)
}
