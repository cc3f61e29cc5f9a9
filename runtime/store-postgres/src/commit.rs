//! The hot path: everything one engine step changed, in one transaction of two statements.
//!
//! 1. The advisory locks of every execution the batch touches (see `locks`), in ascending key
//!    order: commits to one execution, from any server, run one after the other, so the task
//!    run and log numbers each computes from the rows before it are not computed twice.
//! 2. One statement whose data-modifying `WITH` parts write the executions (and their labels),
//!    the task runs and the log lines, each table's rows arriving as column arrays unnested
//!    (one round trip whatever the batch's size), and free the `concurrency` places of the
//!    executions that ended. The parts run on one snapshot; foreign keys
//!    are checked at the end of the statement, so rows of a batch can refer to the execution it
//!    creates.
//!
//! The lock is its own statement because a statement's snapshot is taken when it starts: the
//! writing statement, started after the locks are held, sees every commit before it.
//!
//! The statement also checks and renews the batch's lease (see `leases`): when another node
//! holds it, the transaction rolls back and the commit fails with `LeaseLost`. The batch's
//! artifact attachments, if any, follow in the same transaction.
//!
//! A failing row fails the statement and the transaction rolls back: nothing of the batch
//! lands. A caller cancelled midway drops the transaction, which sqlx rolls back before the
//! connection is used again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sluice_engine::{CommitBatch, StoreError};
use sqlx::{Acquire, PgPool, Row};

use crate::error::db_error;
use crate::locks::{self, Class};
use crate::{artifacts, executions, leases, logs, places, task_runs};

/// The longest wait between two tries of a commit the database could not take.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// How often a commit that keeps waiting says so.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// [`commit`], tried again while the database is unavailable (a restart, a failover, a cut
/// network) instead of failing: an execution's progress waits for the database rather than
/// stopping with it. Any other error is returned at once. A commit whose answer was lost with
/// its connection may have landed: tried again, it writes the same rows (upserts), but its log
/// lines a second time.
pub(crate) async fn commit_waiting(pool: &PgPool, batch: &CommitBatch) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(50);
    let mut reported: Option<Instant> = None;
    loop {
        match commit(pool, batch).await {
            Err(StoreError::Unavailable(why)) => {
                if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    tracing::warn!(
                        waited = ?started.elapsed(),
                        "the database is unavailable ({why}); the commit waits for it"
                    );
                    reported = Some(Instant::now());
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_WAIT);
            }
            Ok(()) if reported.is_some() => {
                tracing::info!(waited = ?started.elapsed(), "the database is back; the commit landed");
                return Ok(());
            }
            other => return other,
        }
    }
}

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
        .chain(batch.artifacts.iter().map(|a| a.execution_id.as_bytes()))
        .collect();
    let keys = touched.into_iter().map(|id| locks::key(&[&String::from_utf8_lossy(id)])).collect();

    // The last part creates or renews the batch's lease; it counts 0 when another node holds it.
    let statement = format!(
        "WITH {}, {}, {}, {}, {} SELECT (SELECT count(*) FROM lease)",
        executions::UPSERT,
        places::free(),
        task_runs::UPSERT,
        logs::APPEND,
        leases::upsert()
    );
    let query = logs.bind(task_runs.bind(executions.bind(sqlx::query(sqlx::AssertSqlSafe(statement)))));
    let query = leases::bind(batch.lease.as_ref(), query)?;

    let mut connection = pool.acquire().await.map_err(db_error)?;
    let mut tx = connection.begin().await.map_err(db_error)?;
    locks::lock(&mut tx, Class::Execution, keys).await?;
    let row = query.fetch_one(&mut *tx).await.map_err(db_error)?;
    let leased: i64 = row.try_get(0).map_err(db_error)?;
    if let Some(lease) = &batch.lease
        && leased == 0
    {
        // Dropped, the transaction rolls back: nothing of the batch lands.
        return Err(StoreError::LeaseLost(lease.execution_id.clone()));
    }
    // Rare (a workspace snapshot at a task's end), so a statement each rather than a part of
    // the one above.
    for a in &batch.artifacts {
        artifacts::attach(&mut *tx, &a.execution_id, a.task_run.as_ref(), &a.name, &a.artifact).await?;
    }
    tx.commit().await.map_err(db_error)
}
