//! The hot path: everything one engine step changed, written by one SQL statement.
//!
//! The write connection gets a temporary view, `commit_batch`, whose INSTEAD OF INSERT
//! trigger writes a batch: executions first, then task runs, then logs (so rows of a batch can
//! refer to the execution it creates), each table's rows arriving as one JSON array. A commit
//! is then a single prepared `INSERT INTO commit_batch` in autocommit mode:
//! - atomic: a statement that fails undoes everything it (and its triggers) did;
//! - one round trip to the connection's worker thread, and no transaction left open when the
//!   caller is cancelled (the statement runs to its end or not at all);
//! - a write statement takes SQLite's write lock when it starts, waiting on another process's
//!   lock through the busy timeout, like `BEGIN IMMEDIATE`.
//!
//! The view and trigger are `TEMP` objects of the write connection, not schema: they change
//! with this code, without a migration. (`jsonb_each` needs SQLite 3.45; sqlx bundles newer.)

use sluice_engine::{CommitBatch, StoreError};
use sqlx::SqliteConnection;

use crate::error::db_error;
use crate::writer::Writer;
use crate::{executions, logs, task_runs};

/// Creates the temporary view and trigger on the write connection.
pub(crate) async fn install(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    let script = format!(
        "CREATE TEMP VIEW commit_batch (executions, task_runs, logs) AS SELECT NULL, NULL, NULL WHERE false;\n\
         CREATE TEMP TRIGGER commit_batch_insert INSTEAD OF INSERT ON commit_batch BEGIN\n{};\n{};\n{};\n{};\nEND",
        executions::UPSERT_JSON_ROWS,
        executions::UPDATE_INDEXED_JSON_ROWS,
        task_runs::UPSERT_JSON_ROWS,
        logs::APPEND_JSON_ROWS
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(connection).await.map_err(db_error)?;
    Ok(())
}

/// Writes the batch atomically: any failing row leaves nothing of the batch.
pub(crate) async fn commit(writer: &Writer, batch: &CommitBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    // Encoded before taking the lock, so other writers do not wait for it.
    let executions = executions::rows_json(&batch.executions)?;
    let task_runs = task_runs::rows_json(&batch.task_runs)?;
    let logs = logs::rows_json(&batch.logs)?;
    let mut connection = writer.lock().await?;
    sqlx::query("INSERT INTO commit_batch (executions, task_runs, logs) VALUES (?1, ?2, ?3)")
        .bind(executions)
        .bind(task_runs)
        .bind(logs)
        .execute(&mut *connection)
        .await
        .map_err(db_error)?;
    Ok(())
}
