//! Log lines: appended by the commit path, read back in order with filters.

use sluice_engine::{LogFilter, LogRecord, StoreError, StoredLog};
pub use sluice_store::records::LOG_LEVELS;
use sluice_store::records::{attempt_from_db, levels_from};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres, QueryBuilder};

use crate::codec::{
    lossy, optional_key_from_db, optional_text_from_db, text_from_db, timestamp_from_db, timestamp_to_db,
};
use crate::error::{RowName, db_error};

/// The commit statement's part for log lines, bound by [`Columns::bind`] as `$30` to `$36`:
/// every line appended in batch order, each numbered above every earlier line of its execution
/// (under the execution's advisory lock, like task runs).
pub(crate) const APPEND: &str = "\
    logs_written AS (INSERT INTO logs (execution_id, seq, task_run, attempt, time, level, source, message) \
    SELECT r.execution_id, \
        COALESCE((SELECT MAX(l.seq) FROM logs AS l WHERE l.execution_id = r.execution_id), 0) + r.n, \
        r.task_run, r.attempt, r.time, r.level, r.source, r.message \
    FROM unnest($30::bytea[], $31::bytea[], $32::int8[], $33::int8[], $34::bytea[], $35::bytea[], \
        $36::bytea[]) WITH ORDINALITY AS r (execution_id, task_run, attempt, time, level, source, message, n) \
    ORDER BY r.n RETURNING 1)";

/// The lines of a batch as column arrays.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub(crate) execution_ids: Vec<Vec<u8>>,
    task_runs: Vec<Option<Vec<u8>>>,
    attempts: Vec<Option<i64>>,
    times: Vec<i64>,
    levels: Vec<Vec<u8>>,
    sources: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
}

impl Columns {
    pub(crate) fn new(logs: &[LogRecord]) -> Result<Self, StoreError> {
        let mut columns = Columns::default();
        for log in logs {
            columns.execution_ids.push(log.execution_id.as_bytes().to_vec());
            columns.task_runs.push(log.task_run.as_ref().map(|k| k.to_string().into_bytes()));
            columns.attempts.push(log.attempt.map(i64::from));
            columns.times.push(timestamp_to_db(log.time)?);
            columns.levels.push(log.level.as_bytes().to_vec());
            columns.sources.push(log.source.as_bytes().to_vec());
            columns.messages.push(log.message.as_bytes().to_vec());
        }
        Ok(columns)
    }

    /// Binds `$30` to `$36` of [`APPEND`].
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.execution_ids)
            .bind(self.task_runs)
            .bind(self.attempts)
            .bind(self.times)
            .bind(self.levels)
            .bind(self.sources)
            .bind(self.messages)
    }
}

#[derive(sqlx::FromRow)]
struct LogRow {
    seq: i64,
    execution_id: Vec<u8>,
    task_run: Option<Vec<u8>>,
    attempt: Option<i64>,
    time: i64,
    level: Vec<u8>,
    source: Vec<u8>,
    message: Vec<u8>,
}

impl LogRow {
    fn into_stored(self) -> Result<StoredLog, StoreError> {
        let execution_id = lossy(&self.execution_id);
        let row = RowName::Log { execution_id: &execution_id, seq: self.seq };
        let attempt = attempt_from_db(row, self.attempt)?;
        let task_run = optional_text_from_db(row, "task_run", self.task_run)?;
        Ok(StoredLog {
            seq: self.seq,
            record: LogRecord {
                task_run: optional_key_from_db(row, "task_run", task_run.as_deref())?,
                attempt,
                time: timestamp_from_db(self.time),
                level: text_from_db(row, "level", self.level)?,
                source: text_from_db(row, "source", self.source)?,
                message: text_from_db(row, "message", self.message)?,
                execution_id: text_from_db(row, "execution_id", self.execution_id)?,
            },
        })
    }
}

/// Lines of one execution in the order they were appended.
pub(crate) async fn read(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    filter: &LogFilter,
) -> Result<Vec<StoredLog>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT seq, execution_id, task_run, attempt, time, level, source, message FROM logs \
         WHERE execution_id = ",
    );
    query.push_bind(execution_id.as_bytes().to_vec());
    if let Some(task_run) = &filter.task_run {
        query.push(" AND task_run = ").push_bind(task_run.to_string().into_bytes());
    }
    if let Some(task) = &filter.task {
        // A run's key is the task id, then `[i]` per enclosing loop.
        let prefix = format!("{task}[").into_bytes();
        query.push(" AND (task_run = ").push_bind(task.as_bytes().to_vec());
        query.push(" OR substring(task_run FROM 1 FOR ").push_bind(prefix.len() as i32);
        query.push(") = ").push_bind(prefix).push(")");
    }
    if let Some(min_level) = &filter.min_level {
        let levels: Vec<Vec<u8>> = levels_from(min_level)?.iter().map(|l| l.as_bytes().to_vec()).collect();
        query.push(" AND level = ANY(").push_bind(levels).push(")");
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
