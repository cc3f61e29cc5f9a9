//! The hot path: everything one engine step changed, in one statement run in autocommit (one
//! round trip, and the commit's WAL flush).
//!
//! Its data-modifying `WITH` parts write the executions (and their labels), free the
//! `concurrency` places of those that ended (and announce their ends, see `wake`), write the
//! task runs, the log lines and the artifact attachments, and check the lease, each table's
//! rows arriving as column arrays unnested (one round trip whatever the batch's size). Only the
//! parts a batch has rows for are in its statement ([`Parts`]). The parts run on one snapshot;
//! foreign keys are checked at the end of the statement, so rows of a batch can refer to the
//! execution it creates.
//!
//! The lease parts find and lock the batch's lease where this node holds it, or create it with
//! the execution's first batch; when they find none (another node holds it now), the final
//! `SELECT` raises (`sluice_lease_lost`, migration 6) and the whole statement is undone:
//! nothing of the batch lands, and the commit fails with `LeaseLost`.
//!
//! Task runs and log lines are numbered from the rows before them (`MAX(seq) + n`), without a
//! lock: commits to one execution come from its lease holder, one after the other. Two that do
//! run at once (two stores writing one execution, or a stale holder racing the new owner)
//! compute the same numbers, and the unique keys fail the second, which is undone whole and
//! runs again on a snapshot that holds the first (optimistic, where a lock would cost every
//! commit two more round trips).
//!
//! A failing row fails the statement: nothing of the batch lands.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sluice_engine::{CommitBatch, StoreError};
use sqlx::PgPool;

use crate::error::db_error;
use crate::{artifacts, executions, leases, logs, places, task_runs, wake};

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

/// The statement for the parts a batch writes (see [`Parts`]), built once for each kind of
/// batch (sqlx prepares each once per connection). Every kind binds all parameters, so the
/// numbering stays fixed; a part left out simply does not read its own.
fn statement(parts: Parts) -> &'static str {
    static STATEMENTS: [OnceLock<String>; Parts::KINDS] = [const { OnceLock::new() }; Parts::KINDS];
    STATEMENTS[usize::from(parts.0)].get_or_init(|| parts.statement())
}

/// Which tables a batch writes. A part with no rows still costs its time in the statement (an
/// empty scan, a lock, a conflict check): a chained task's commit needs only its task runs,
/// log lines and lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts(u8);

impl Parts {
    const EXECUTIONS: u8 = 1;
    const TASK_RUNS: u8 = 2;
    const LOGS: u8 = 4;
    const LEASE: u8 = 8;
    const ARTIFACTS: u8 = 16;
    const KINDS: usize = 32;

    fn of(batch: &CommitBatch) -> Parts {
        let mut parts = 0;
        for (present, part) in [
            (!batch.executions.is_empty(), Self::EXECUTIONS),
            (!batch.task_runs.is_empty(), Self::TASK_RUNS),
            (!batch.logs.is_empty(), Self::LOGS),
            (batch.lease.is_some(), Self::LEASE),
            (!batch.artifacts.is_empty(), Self::ARTIFACTS),
        ] {
            if present {
                parts |= part;
            }
        }
        Parts(parts)
    }

    fn has(self, part: u8) -> bool {
        self.0 & part != 0
    }

    fn statement(self) -> String {
        let mut with = Vec::new();
        if self.has(Self::EXECUTIONS) {
            with.extend([executions::UPSERT.to_owned(), places::free(), wake::announce_ends()]);
        }
        if self.has(Self::TASK_RUNS) {
            with.push(task_runs::UPSERT.to_owned());
        }
        if self.has(Self::LOGS) {
            with.push(logs::APPEND.to_owned());
        }
        if self.has(Self::LEASE) {
            with.push(leases::check());
        }
        if self.has(Self::ARTIFACTS) {
            with.push(artifacts::ATTACH.to_owned());
        }
        // A `SELECT` part runs only where it is read: the ends are announced by counting them.
        let ends = if self.has(Self::EXECUTIONS) { "(SELECT count(*) FROM ends_announced)" } else { "0" };
        let result = if self.has(Self::LEASE) {
            format!("CASE WHEN {} THEN sluice_lease_lost($37::bytea) ELSE {ends} END", leases::IS_LOST)
        } else {
            ends.to_owned()
        };
        format!("WITH {} SELECT {result}", with.join(", "))
    }
}

/// Writes the batch atomically: any failing row leaves nothing of the batch.
pub(crate) async fn commit(pool: &PgPool, batch: &CommitBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut races = 0;
    loop {
        // Encoded before taking a connection, so other writers do not wait for it.
        let executions = executions::Columns::new(&batch.executions)?;
        let task_runs = task_runs::Columns::new(&batch.task_runs)?;
        let logs = logs::Columns::new(&batch.logs)?;
        let query = logs.bind(
            task_runs.bind(executions.bind(sqlx::query(sqlx::AssertSqlSafe(statement(Parts::of(batch)))))),
        );
        let query = artifacts::bind_attachments(&batch.artifacts, leases::bind(batch.lease.as_ref(), query)?);
        match query.execute(pool).await {
            Ok(_) => return Ok(()),
            // Another commit to the execution took the numbers this one computed (it was undone
            // whole): computed again, from a snapshot that holds that commit's rows.
            Err(error) if numbering_race(&error) && races < MAX_NUMBERING_RACES => {
                races += 1;
                tokio::task::yield_now().await;
            }
            Err(error) => return Err(commit_error(batch, error)),
        }
    }
}

/// How many times a commit computes its numbers again before it gives up.
const MAX_NUMBERING_RACES: u32 = 100;

/// Whether the statement failed on a task run or log number another commit took first.
fn numbering_race(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
            && matches!(db.constraint(), Some("logs_pkey" | "task_runs_by_creation")))
}

/// The failed statement's error as the engine's: a lost lease and an unknown artifact are told
/// apart.
fn commit_error(batch: &CommitBatch, error: sqlx::Error) -> StoreError {
    if let (Some(lease), sqlx::Error::Database(db)) = (&batch.lease, &error)
        && db.code().as_deref() == Some(leases::LOST_CODE)
    {
        return StoreError::LeaseLost(lease.execution_id.clone());
    }
    if artifacts::is_unknown_artifact(&error) {
        let names: Vec<&str> = batch.artifacts.iter().map(|a| a.artifact.sha256.as_str()).collect();
        return StoreError::NotFound(format!("artifact among {}", names.join(", ")));
    }
    db_error(error)
}
