//! Execution leases (see [`sluice_engine::Lease`]): checked and renewed by each commit (the
//! statements below run in the commit trigger), renewed in bulk by the node's keeper, and
//! claimed when they expire. Times are milliseconds by SQLite's clock (`unixepoch`), so every
//! process on the database compares against one clock.

use std::time::Duration;

use serde_json::Value;
use sluice_engine::{Lease, StoreError};

use crate::error::db_error;
use crate::writer::Writer;

/// The message of the commit trigger's `RAISE` when a batch's lease is held by another node.
pub(crate) const LOST: &str = "sluice: the lease of the execution is held by another node";

/// Now, in milliseconds since the Unix epoch, by the database's clock.
pub(crate) const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// In the commit trigger: fails the batch when a lease it carries is held by another node or
/// epoch (rows `[execution id, node, epoch, ttl ms]`).
pub(crate) fn check_json_rows() -> String {
    format!(
        "SELECT RAISE(ABORT, '{LOST}') FROM jsonb_each(NEW.leases) AS r \
         JOIN execution_leases AS l ON l.execution_id = r.value ->> 0 \
         WHERE l.node <> r.value ->> 1 OR l.epoch <> r.value ->> 2"
    )
}

/// In the commit trigger, after the check and the executions: creates or renews each lease.
pub(crate) fn upsert_json_rows() -> String {
    format!(
        "INSERT INTO execution_leases (execution_id, node, epoch, expires_at) \
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, {NOW_MS} + (r.value ->> 3) \
         FROM jsonb_each(NEW.leases) AS r WHERE true \
         ON CONFLICT (execution_id) DO UPDATE SET expires_at = excluded.expires_at"
    )
}

/// The leases as a JSON array of rows in the order the trigger reads them.
pub(crate) fn rows_json<'a>(leases: impl IntoIterator<Item = &'a Lease>) -> Result<String, StoreError> {
    let rows: Vec<_> =
        leases.into_iter().map(|l| (&l.execution_id, &l.node, l.epoch, millis(l.ttl))).collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Database(e.to_string()))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn epoch_from_db(epoch: i64) -> u64 {
    u64::try_from(epoch).unwrap_or(0)
}

pub(crate) async fn renew(writer: &Writer, leases: &[Lease]) -> Result<Vec<String>, StoreError> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let rows = rows_json(leases)?;
    let mut connection = writer.lock().await?;
    let lost: Vec<String> = sqlx::query_scalar(
        "SELECT l.execution_id FROM jsonb_each(?1) AS r \
         JOIN execution_leases AS l ON l.execution_id = r.value ->> 0 \
         WHERE l.node <> r.value ->> 1 OR l.epoch <> r.value ->> 2",
    )
    .bind(&rows)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE execution_leases AS l SET expires_at = {NOW_MS} + (r.value ->> 3) \
         FROM jsonb_each(?1) AS r \
         WHERE l.execution_id = r.value ->> 0 AND l.node = r.value ->> 1 AND l.epoch = r.value ->> 2"
    )))
    .bind(&rows)
    .execute(&mut *connection)
    .await
    .map_err(db_error)?;
    Ok(lost)
}

pub(crate) async fn claim(
    writer: &Writer,
    node: &str,
    tags: &[String],
    ttl: Duration,
    limit: u32,
    reclaim_own: bool,
) -> Result<Vec<Lease>, StoreError> {
    let terminal = terminal_states_json();
    let mut connection = writer.lock().await?;
    // One statement on the one write connection: claims from two processes on the file run
    // one after the other, and the second sees the first's epoch and expiry.
    let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO execution_leases (execution_id, node, epoch, expires_at) \
         SELECT e.id, ?1, COALESCE(l.epoch, 0) + 1, {NOW_MS} + ?2 \
         FROM executions AS e LEFT JOIN execution_leases AS l ON l.execution_id = e.id \
         WHERE e.state NOT IN (SELECT value FROM json_each(?3)) \
           AND (l.execution_id IS NULL OR l.expires_at < {NOW_MS} OR (?4 AND l.node = ?1)) \
           AND NOT EXISTS (SELECT 1 FROM execution_worker_tags AS w, json_each(w.tags) AS t \
               WHERE w.execution_id = e.id AND t.value NOT IN (SELECT value FROM json_each(?6))) \
         ORDER BY e.created_at, e.id LIMIT ?5 \
         ON CONFLICT (execution_id) DO UPDATE SET node = excluded.node, epoch = excluded.epoch, \
             expires_at = excluded.expires_at \
         RETURNING execution_id, epoch"
    )))
    .bind(node)
    .bind(millis(ttl))
    .bind(&terminal)
    .bind(reclaim_own)
    .bind(i64::from(limit))
    .bind(serde_json::to_string(tags).map_err(|e| StoreError::Database(e.to_string()))?)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    let mut leases: Vec<Lease> = rows
        .into_iter()
        .map(|(execution_id, epoch)| Lease {
            execution_id,
            node: node.to_owned(),
            epoch: epoch_from_db(epoch),
            ttl,
        })
        .collect();
    if leases.len() < 2 {
        return Ok(leases);
    }
    // RETURNING gives no order; oldest first is what the caller restores by.
    let order: Vec<String> = sqlx::query_scalar(
        "SELECT e.id FROM executions AS e JOIN jsonb_each(?1) AS r ON e.id = r.value ->> 0 \
         ORDER BY e.created_at, e.id",
    )
    .bind(rows_json(&leases)?)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    leases.sort_by_key(|lease| order.iter().position(|id| *id == lease.execution_id));
    Ok(leases)
}

pub(crate) async fn take(
    writer: &Writer,
    execution_id: &str,
    node: &str,
    ttl: Duration,
) -> Result<Lease, StoreError> {
    let mut connection = writer.lock().await?;
    let epoch: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO execution_leases (execution_id, node, epoch, expires_at) VALUES (?1, ?2, 1, {NOW_MS} + ?3) \
         ON CONFLICT (execution_id) DO UPDATE SET node = excluded.node, epoch = epoch + 1, \
             expires_at = excluded.expires_at \
         RETURNING epoch"
    )))
    .bind(execution_id)
    .bind(node)
    .bind(millis(ttl))
    .fetch_one(&mut *connection)
    .await
    .map_err(db_error)?;
    Ok(Lease {
        execution_id: execution_id.to_owned(),
        node: node.to_owned(),
        epoch: epoch_from_db(epoch),
        ttl,
    })
}

pub(crate) fn terminal_states_json() -> String {
    let terminal: Vec<&str> = sluice_engine::ALL_EXECUTION_STATES
        .into_iter()
        .filter(|state| state.is_terminal())
        .map(|s| s.as_str())
        .collect();
    serde_json::to_string(&terminal).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) async fn send_control(
    writer: &Writer,
    execution_id: &str,
    control: &Value,
) -> Result<(), StoreError> {
    let mut connection = writer.lock().await?;
    sqlx::query("INSERT INTO execution_controls (execution_id, control) VALUES (?1, ?2)")
        .bind(execution_id)
        .bind(control.to_string())
        .execute(&mut *connection)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn take_controls(
    writer: &Writer,
    execution_ids: &[String],
) -> Result<Vec<(String, Value)>, StoreError> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(execution_ids).map_err(|e| StoreError::Database(e.to_string()))?;
    let mut connection = writer.lock().await?;
    let mut rows: Vec<(i64, String, String)> = sqlx::query_as(
        "DELETE FROM execution_controls WHERE execution_id IN (SELECT value FROM json_each(?1)) \
         RETURNING id, execution_id, control",
    )
    .bind(ids)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    rows.sort_by_key(|row| row.0);
    rows.into_iter()
        .map(|(_, id, control)| {
            let control = serde_json::from_str(&control)
                .map_err(|e| StoreError::Corrupt(format!("control request for execution {id}: {e}")))?;
            Ok((id, control))
        })
        .collect()
}

/// Records the worker tags execution `execution_id` asks for (see `claim`).
pub(crate) async fn set_worker_tags(
    writer: &Writer,
    execution_id: &str,
    tags: &[String],
) -> Result<(), StoreError> {
    let tags = serde_json::to_string(tags).map_err(|e| StoreError::Database(e.to_string()))?;
    sqlx::query(
        "INSERT INTO execution_worker_tags (execution_id, tags) VALUES (?1, ?2) \
         ON CONFLICT (execution_id) DO UPDATE SET tags = excluded.tags",
    )
    .bind(execution_id)
    .bind(tags)
    .execute(&mut *writer.lock().await?)
    .await
    .map_err(db_error)?;
    Ok(())
}
