//! Log lines: appended by the commit path, read back in order with filters.

use sluice_engine::{LogFilter, LogRecord, StoreError, StoredLog};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

use crate::error::db_error;
pub use crate::records::LOG_LEVELS;
use crate::records::{
    RowName, attempt_from_db, json_to_db, levels_from, optional_key_from_db, timestamp_from_db,
    timestamp_to_db,
};

/// For the commit trigger: appends every line in `NEW.logs`, a JSON array made by
/// [`rows_json`], in array order, each numbered above every earlier line of its execution.
pub(crate) const APPEND_JSON_ROWS: &str = "\
    INSERT INTO logs (execution_id, seq, task_run, attempt, time, level, source, message) \
    SELECT r.value ->> 0, \
        (SELECT COALESCE(MAX(l.seq), 0) FROM logs AS l WHERE l.execution_id = r.value ->> 0) + 1 + r.key, \
        r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6 \
    FROM jsonb_each(NEW.logs) AS r ORDER BY r.key";

/// The lines as a JSON array of rows in column order (without `seq`).
pub(crate) fn rows_json(logs: &[LogRecord]) -> Result<String, StoreError> {
    let rows = logs
        .iter()
        .map(|log| {
            Ok((
                &log.execution_id,
                log.task_run.as_ref().map(ToString::to_string),
                log.attempt,
                timestamp_to_db(log.time)?,
                &log.level,
                &log.source,
                &log.message,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    json_to_db(&rows)
}

#[derive(sqlx::FromRow)]
struct LogRow {
    seq: i64,
    execution_id: String,
    task_run: Option<String>,
    attempt: Option<i64>,
    time: i64,
    level: String,
    source: String,
    message: String,
}

impl LogRow {
    fn into_stored(self) -> Result<StoredLog, StoreError> {
        let row = RowName::Log { execution_id: &self.execution_id, seq: self.seq };
        let attempt = attempt_from_db(row, self.attempt)?;
        Ok(StoredLog {
            seq: self.seq,
            record: LogRecord {
                task_run: optional_key_from_db(row, "task_run", self.task_run.as_deref())?,
                execution_id: self.execution_id,
                attempt,
                time: timestamp_from_db(self.time),
                level: self.level,
                source: self.source,
                message: self.message,
            },
        })
    }
}

/// Lines of one execution in the order they were appended.
pub(crate) async fn read(
    db: impl SqliteExecutor<'_>,
    execution_id: &str,
    filter: &LogFilter,
) -> Result<Vec<StoredLog>, StoreError> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT seq, execution_id, task_run, attempt, time, level, source, message FROM logs \
         WHERE execution_id = ",
    );
    query.push_bind(execution_id.to_owned());
    if let Some(task_run) = &filter.task_run {
        query.push(" AND task_run = ").push_bind(task_run.to_string());
    }
    if let Some(task) = &filter.task {
        // A run's key is the task id, then `[i]` per enclosing loop.
        query.push(" AND (task_run = ").push_bind(task.clone());
        query.push(" OR substr(task_run, 1, ").push_bind(task.len() as i64 + 1);
        query.push(") = ").push_bind(format!("{task}[")).push(")");
    }
    if let Some(min_level) = &filter.min_level {
        query.push(" AND level IN (");
        let mut levels = query.separated(", ");
        for level in levels_from(min_level)? {
            levels.push_bind(*level);
        }
        query.push(")");
    }
    if let Some(after) = filter.after_seq {
        query.push(" AND seq > ").push_bind(after);
    }
    query.push(" ORDER BY seq");
    if let Some(limit) = filter.limit {
        query.push(" LIMIT ").push_bind(i64::from(limit));
    }
    let rows = query.build_query_as::<LogRow>().fetch_all(db).await.map_err(db_error)?;
    rows.into_iter().map(LogRow::into_stored).collect()
}
