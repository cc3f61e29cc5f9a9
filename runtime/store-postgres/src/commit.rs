//! The hot path: everything one engine step changed, in one transaction of two statements.
//!
//! 1. The advisory locks of every execution the batch touches (see `locks`), in ascending key
//!    order: commits to one execution, from any server, run one after the other, so the task
//!    run and log numbers each computes from the rows before it are not computed twice.
//! 2. One statement whose data-modifying `WITH` parts write the executions (and their labels),
//!    the task runs and the log lines, each table's rows arriving as column arrays unnested
//!    (one round trip whatever the batch's size). The parts run on one snapshot; foreign keys
//!    are checked at the end of the statement, so rows of a batch can refer to the execution it
//!    creates.
//!
//! The lock is its own statement because a statement's snapshot is taken when it starts: the
//! writing statement, started after the locks are held, sees every commit before it.
//!
//! A failing row fails the statement and the transaction rolls back: nothing of the batch
//! lands. A caller cancelled midway drops the transaction, which sqlx rolls back before the
//! connection is used again.

use std::collections::HashSet;

use sluice_engine::{CommitBatch, StoreError};
use sqlx::{Acquire, PgPool};

use crate::error::db_error;
use crate::locks::{self, Class};
use crate::{executions, logs, task_runs};

/// Writes the batch atomically: any failing row leaves nothing of the batch.
pub(crate) async fn commit(pool: &PgPool, batch: &CommitBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    // Encoded before taking a connection, so other writers do not wait for it.
    let executions = executions::Columns::new(&batch.executions)?;
    let task_runs = task_runs::Columns::new(&batch.task_runs)?;
    let logs = logs::Columns::new(&batch.logs)?;
    let touched: HashSet<&[u8]> = (executions.ids.iter())
        .chain(&task_runs.execution_ids)
        .chain(&logs.execution_ids)
        .map(Vec::as_slice)
        .collect();
    let keys = touched.into_iter().map(|id| locks::key(&[&String::from_utf8_lossy(id)])).collect();

    let statement = format!("WITH {}, {}, {} SELECT 1", executions::UPSERT, task_runs::UPSERT, logs::APPEND);
    let query = logs.bind(task_runs.bind(executions.bind(sqlx::query(sqlx::AssertSqlSafe(statement)))));

    let mut connection = pool.acquire().await.map_err(db_error)?;
    let mut tx = connection.begin().await.map_err(db_error)?;
    locks::lock(&mut tx, Class::Execution, keys).await?;
    query.execute(&mut *tx).await.map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}
