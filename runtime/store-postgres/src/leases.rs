//! Execution leases (see [`sluice_engine::Lease`]): checked by each commit (the parts of the
//! commit statement below), renewed in bulk by the node's keeper, and claimed
//! when they expire. Times are milliseconds by the database's clock (`clock_timestamp()`), so
//! servers on machines whose clocks differ still agree on what has expired.

use std::time::Duration;

use serde_json::Value;
use sluice_engine::{Lease, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgExecutor, Postgres};

use crate::error::db_error;

/// Now, in milliseconds since the Unix epoch, by the database's clock.
pub(crate) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::int8";

/// The SQLSTATE `sluice_lease_lost` raises (migration 6): the commit's lease is held by another
/// node.
pub(crate) const LOST_CODE: &str = "SL001";

/// The commit statement's parts for the batch's lease, bound by [`bind`] as `$37` to `$40`:
/// `lease_held` finds the lease this node holds and locks it (`FOR SHARE`) until the commit, so
/// a claim by another node waits for the commit or, claimed first, leaves nothing to find;
/// `lease_created` writes it with the execution's first batch (when no node holds one yet).
/// Neither rewrites a held lease: renewing is the keeper's, once a round for all of them,
/// which spares each commit a new row version and its index entries. When both find nothing
/// (another node or epoch holds it), [`IS_LOST`] holds: the statement raises and is undone.
pub(crate) fn check() -> String {
    format!(
        "lease_held AS (SELECT 1 FROM execution_leases WHERE execution_id = $37::bytea \
         AND node = $38::bytea AND epoch = $39::int8 FOR SHARE), \
         lease_created AS (INSERT INTO execution_leases (execution_id, node, epoch, expires_at) \
         SELECT $37::bytea, $38::bytea, $39::int8, {NOW_MS} + $40::int8 \
         ON CONFLICT (execution_id) DO NOTHING RETURNING 1)"
    )
}

/// True when the commit's lease is another's (see [`check`]).
pub(crate) const IS_LOST: &str =
    "NOT EXISTS (SELECT 1 FROM lease_held) AND NOT EXISTS (SELECT 1 FROM lease_created)";

/// Binds `$37` to `$40` of [`check`].
pub(crate) fn bind<'q>(
    lease: Option<&Lease>,
    query: Query<'q, Postgres, PgArguments>,
) -> Result<Query<'q, Postgres, PgArguments>, StoreError> {
    Ok(match lease {
        Some(lease) => query
            .bind(lease.execution_id.as_bytes().to_vec())
            .bind(lease.node.as_bytes().to_vec())
            .bind(epoch_to_db(lease.epoch)?)
            .bind(millis(lease.ttl)),
        None => query.bind(None::<Vec<u8>>).bind(None::<Vec<u8>>).bind(None::<i64>).bind(None::<i64>),
    })
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn epoch_to_db(epoch: u64) -> Result<i64, StoreError> {
    i64::try_from(epoch).map_err(|_| StoreError::Database(format!("lease epoch {epoch} is out of range")))
}

fn epoch_from_db(epoch: i64) -> u64 {
    u64::try_from(epoch).unwrap_or(0)
}

struct Columns {
    ids: Vec<Vec<u8>>,
    nodes: Vec<Vec<u8>>,
    epochs: Vec<i64>,
    ttls: Vec<i64>,
}

impl Columns {
    fn new(leases: &[Lease]) -> Result<Self, StoreError> {
        Ok(Columns {
            ids: leases.iter().map(|l| l.execution_id.as_bytes().to_vec()).collect(),
            nodes: leases.iter().map(|l| l.node.as_bytes().to_vec()).collect(),
            epochs: leases.iter().map(|l| epoch_to_db(l.epoch)).collect::<Result<_, _>>()?,
            ttls: leases.iter().map(|l| millis(l.ttl)).collect(),
        })
    }
}

pub(crate) async fn renew(db: impl PgExecutor<'_>, leases: &[Lease]) -> Result<Vec<String>, StoreError> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let columns = Columns::new(leases)?;
    // One statement: the held ones are extended, and those another node holds are returned
    // (the row as the statement found it: the update's part skips them).
    let lost: Vec<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH given AS (SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::int8[]) \
             AS g (execution_id, node, epoch, ttl)), \
         renewed AS (UPDATE execution_leases AS l SET expires_at = {NOW_MS} + g.ttl FROM given AS g \
             WHERE l.execution_id = g.execution_id AND l.node = g.node AND l.epoch = g.epoch RETURNING 1) \
         SELECT l.execution_id FROM given AS g JOIN execution_leases AS l ON l.execution_id = g.execution_id \
         WHERE l.node <> g.node OR l.epoch <> g.epoch"
    )))
    .bind(columns.ids)
    .bind(columns.nodes)
    .bind(columns.epochs)
    .bind(columns.ttls)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(lost.into_iter().map(|id| String::from_utf8_lossy(&id).into_owned()).collect())
}

pub(crate) async fn claim(
    db: impl PgExecutor<'_>,
    node: &str,
    tags: &[String],
    ttl: Duration,
    limit: u32,
    reclaim_own: bool,
) -> Result<Vec<Lease>, StoreError> {
    let terminal = crate::executions::terminal_states();
    // The candidates are read on the statement's snapshot; the conflict's WHERE is checked
    // against the newest row, so a lease another node claimed or renewed meanwhile is left
    // alone and not returned: two claimers never both get one.
    let rows: Vec<(Vec<u8>, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH candidates AS ( \
             SELECT e.id, e.created_at, COALESCE(l.epoch, 0) + 1 AS epoch \
             FROM executions AS e LEFT JOIN execution_leases AS l ON l.execution_id = e.id \
             WHERE e.state <> ALL($3) \
               AND (l.execution_id IS NULL OR l.expires_at < {NOW_MS} OR ($4 AND l.node = $1)) \
               AND NOT EXISTS (SELECT 1 FROM execution_worker_tags AS w \
                   WHERE w.execution_id = e.id AND NOT w.tags <@ $6::text[]) \
             ORDER BY e.created_at, e.id LIMIT $5), \
         claimed AS ( \
             INSERT INTO execution_leases (execution_id, node, epoch, expires_at) \
             SELECT id, $1, epoch, {NOW_MS} + $2 FROM candidates \
             ON CONFLICT (execution_id) DO UPDATE SET node = excluded.node, \
                 epoch = execution_leases.epoch + 1, expires_at = excluded.expires_at \
             WHERE execution_leases.expires_at < {NOW_MS} OR ($4 AND execution_leases.node = $1) \
             RETURNING execution_id, epoch) \
         SELECT c.execution_id, c.epoch, e.created_at FROM claimed AS c \
         JOIN candidates AS e ON e.id = c.execution_id ORDER BY e.created_at, c.execution_id"
    )))
    .bind(node.as_bytes())
    .bind(millis(ttl))
    .bind(terminal)
    .bind(reclaim_own)
    .bind(i64::from(limit))
    .bind(tags)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, epoch, _)| Lease {
            execution_id: String::from_utf8_lossy(&id).into_owned(),
            node: node.to_owned(),
            epoch: epoch_from_db(epoch),
            ttl,
        })
        .collect())
}

pub(crate) async fn take(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    node: &str,
    ttl: Duration,
) -> Result<Lease, StoreError> {
    let epoch: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO execution_leases (execution_id, node, epoch, expires_at) VALUES ($1, $2, 1, {NOW_MS} + $3) \
         ON CONFLICT (execution_id) DO UPDATE SET node = excluded.node, epoch = execution_leases.epoch + 1, \
             expires_at = excluded.expires_at \
         RETURNING epoch"
    )))
    .bind(execution_id.as_bytes())
    .bind(node.as_bytes())
    .bind(millis(ttl))
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok(Lease {
        execution_id: execution_id.to_owned(),
        node: node.to_owned(),
        epoch: epoch_from_db(epoch),
        ttl,
    })
}

pub(crate) async fn send_control(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    control: &Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO execution_controls (execution_id, control) VALUES ($1, $2)")
        .bind(execution_id.as_bytes())
        .bind(control.to_string())
        .execute(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn take_controls(
    db: impl PgExecutor<'_>,
    execution_ids: &[String],
) -> Result<Vec<(String, Value)>, StoreError> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&[u8]> = execution_ids.iter().map(|id| id.as_bytes()).collect();
    let mut rows: Vec<(i64, Vec<u8>, String)> = sqlx::query_as(
        "DELETE FROM execution_controls WHERE execution_id = ANY($1) RETURNING id, execution_id, control",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.sort_by_key(|row| row.0);
    rows.into_iter()
        .map(|(_, id, control)| {
            let id = String::from_utf8_lossy(&id).into_owned();
            let control = serde_json::from_str(&control)
                .map_err(|e| StoreError::Corrupt(format!("control request for execution {id}: {e}")))?;
            Ok((id, control))
        })
        .collect()
}

/// Records the worker tags execution `execution_id` asks for (see `claim`).
pub(crate) async fn set_worker_tags(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    tags: &[String],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO execution_worker_tags (execution_id, tags) VALUES ($1, $2) \
         ON CONFLICT (execution_id) DO UPDATE SET tags = excluded.tags",
    )
    .bind(execution_id.as_bytes())
    .bind(tags)
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
