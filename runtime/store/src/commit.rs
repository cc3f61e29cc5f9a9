//! The hot path: everything one engine step changed, written by one SQL statement.
//!
//! The write connection gets a temporary view, `commit_batch`, whose INSTEAD OF INSERT
//! trigger writes a batch: it checks the batch's lease (failing it whole when another node
//! holds it), then writes executions (freeing the `concurrency` places of those that ended),
//! their leases, task runs, logs, then artifact attachments
//! (so rows of a batch can refer to the execution it creates), each table's rows arriving as
//! one JSON array. A commit
//! is then a single prepared `INSERT INTO commit_batch` in autocommit mode:
//! - atomic: a statement that fails undoes everything it (and its triggers) did;
//! - run on the caller's thread (the writer's direct connection), with no transaction left
//!   open when the caller is cancelled (the statement runs to its end or not at all);
//! - a write statement takes SQLite's write lock when it starts, waiting on another process's
//!   lock through the busy timeout, like `BEGIN IMMEDIATE`.
//!
//! The view and trigger are `TEMP` objects of the write connection, not schema: they change
//! with this code, without a migration. (`jsonb_each` needs SQLite 3.45; sqlx bundles newer.)

use std::sync::{Mutex, PoisonError};

use sluice_engine::{CommitBatch, StoreError};
use tokio::sync::oneshot;

use crate::writer::Writer;
use crate::{artifacts, executions, leases, logs, places, task_runs};

/// The statement every commit runs.
const INSERT: &str =
    "INSERT INTO commit_batch (executions, task_runs, logs, leases, artifacts) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Above this many bytes of rows, a commit on a multi-threaded runtime tells the runtime that
/// it blocks its thread (a 1,000-task `forEach` writes for milliseconds), so other tasks move
/// to another thread; a step's commit of a few KiB takes tens of microseconds and runs inline.
const LARGE_COMMIT: usize = 64 * 1024;

/// Creates the temporary view and trigger on the commit connection.
pub(crate) fn install(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    let script = format!(
        "CREATE TEMP VIEW commit_batch (executions, task_runs, logs, leases, artifacts) \
             AS SELECT NULL, NULL, NULL, NULL, NULL WHERE false;\n\
         CREATE TEMP TRIGGER commit_batch_insert INSTEAD OF INSERT ON commit_batch BEGIN\n\
         {};\n{};\n{};\n{};\n{};\n{};\n{};\n{};\nEND",
        leases::check_json_rows(),
        executions::UPSERT_JSON_ROWS,
        executions::UPDATE_INDEXED_JSON_ROWS,
        places::free_json_rows(),
        leases::upsert_json_rows(),
        task_runs::UPSERT_JSON_ROWS,
        logs::APPEND_JSON_ROWS,
        artifacts::ATTACH_JSON_ROWS
    );
    connection.execute_batch(&script)?;
    connection.prepare_cached(INSERT).map(drop)
}

/// Commits encoded and waiting for the write connection. Whoever gets the connection writes
/// every commit queued by then in one statement (group commit): under load many drivers
/// commit at once, and one round trip to SQLite's thread serves them all. Each driver waits
/// for its commit before its next, so an execution's batches keep their order.
#[derive(Debug, Default)]
pub(crate) struct Queue(Mutex<Vec<Queued>>);

#[derive(Debug)]
struct Queued {
    rows: Rows,
    done: oneshot::Sender<Result<(), String>>,
}

/// One batch's rows, each table's as a JSON array.
#[derive(Debug)]
struct Rows {
    executions: String,
    task_runs: String,
    logs: String,
    leases: String,
    artifacts: String,
}

/// Writes the batch atomically: any failing row leaves nothing of the batch. When a group
/// fails, its batches are written again one by one, so only the bad one fails.
pub(crate) async fn commit(writer: &Writer, batch: &CommitBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    // Encoded before taking the lock, so other writers do not wait for it.
    let rows = Rows {
        executions: executions::rows_json(&batch.executions)?,
        task_runs: task_runs::rows_json(&batch.task_runs)?,
        logs: logs::rows_json(&batch.logs)?,
        leases: leases::rows_json(&batch.lease)?,
        artifacts: artifacts::rows_json(&batch.artifacts)?,
    };
    let (done, mut written) = oneshot::channel();
    writer.commits().push(Queued { rows, done });
    let connection = writer.lock_direct().await?;
    // An earlier holder of the connection may have written this batch with its own.
    if let Ok(result) = written.try_recv() {
        return result.map_err(|e| store_error(batch, e));
    }
    let group = writer.commits().take();
    let merged = Rows {
        executions: concat(group.iter().map(|q| q.rows.executions.as_str())),
        task_runs: concat(group.iter().map(|q| q.rows.task_runs.as_str())),
        logs: concat(group.iter().map(|q| q.rows.logs.as_str())),
        leases: concat(group.iter().map(|q| q.rows.leases.as_str())),
        artifacts: concat(group.iter().map(|q| q.rows.artifacts.as_str())),
    };
    let large = merged.len() > LARGE_COMMIT;
    blocking(large, || {
        let result = write(&connection, &merged);
        if result.is_err() && group.len() > 1 {
            // One bad batch must not fail the others: write each alone, each with its own answer.
            for queued in group {
                let result = write(&connection, &queued.rows);
                let _ = queued.done.send(result);
            }
        } else {
            for queued in group {
                let _ = queued.done.send(result.clone());
            }
        }
    });
    drop(connection);
    match written.await {
        Ok(result) => result.map_err(|e| store_error(batch, e)),
        Err(_) => Err(StoreError::Database("the commit was abandoned".to_owned())),
    }
}

/// The failed statement's message as the engine's error: a lost lease is told apart.
fn store_error(batch: &CommitBatch, message: String) -> StoreError {
    match &batch.lease {
        Some(lease) if message.contains(leases::LOST) => StoreError::LeaseLost(lease.execution_id.clone()),
        _ => StoreError::Database(message),
    }
}

/// One statement: the trigger writes executions, then task runs, logs and attachments.
fn write(connection: &rusqlite::Connection, rows: &Rows) -> Result<(), String> {
    let mut statement = connection.prepare_cached(INSERT).map_err(|e| e.to_string())?;
    statement
        .execute((&rows.executions, &rows.task_runs, &rows.logs, &rows.leases, &rows.artifacts))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Runs `write`, on a multi-threaded runtime as a blocking section when it is `large`.
fn blocking(large: bool, write: impl FnOnce()) {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if large && multi_threaded {
        tokio::task::block_in_place(write);
    } else {
        write();
    }
}

impl Rows {
    fn len(&self) -> usize {
        self.executions.len()
            + self.task_runs.len()
            + self.logs.len()
            + self.leases.len()
            + self.artifacts.len()
    }
}

impl Queue {
    fn push(&self, queued: Queued) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(queued);
    }

    fn take(&self) -> Vec<Queued> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Joins JSON arrays into one: `[a,b]` + `[]` + `[c]` = `[a,b,c]`.
fn concat<'a>(arrays: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for array in arrays {
        let array = array.trim();
        let inner = array.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(array).trim();
        if inner.is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(inner);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrays_concatenate() {
        let arrays = ["[1,[2]]", "[]", "[\"]\"]", "[ ]", "[{\"a\":[]}]"];
        assert_eq!(super::concat(arrays.into_iter()), "[1,[2],\"]\",{\"a\":[]}]");
        assert_eq!(super::concat(["[]"].into_iter()), "[]");
    }
}
