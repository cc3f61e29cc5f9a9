//! The nodes sharing the database (heartbeats from their lease keepers) and the cluster's
//! lease counts, for `/metrics`. Milliseconds by SQLite's clock, as the leases.

use std::time::Duration;

use sluice_engine::{ClusterStatus, StoreError};

use crate::error::db_error;
use crate::leases::NOW_MS;
use crate::writer::Writer;

pub(crate) async fn heartbeat(writer: &Writer, node: &str, ttl: Duration) -> Result<(), StoreError> {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let mut connection = writer.lock().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO nodes (node, started_at, seen_at, ttl) VALUES (?1, {NOW_MS}, {NOW_MS}, ?2) \
         ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at, ttl = excluded.ttl"
    )))
    .bind(node)
    .bind(ttl)
    .execute(&mut *connection)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(crate) async fn status(
    db: impl sqlx::SqliteExecutor<'_>,
    terminal: &str,
) -> Result<ClusterStatus, StoreError> {
    let (nodes, leases, awaiting): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT COUNT(*) FROM nodes WHERE seen_at + ttl >= {NOW_MS}), \
         (SELECT COUNT(*) FROM execution_leases AS l JOIN executions AS e ON e.id = l.execution_id \
             WHERE l.expires_at >= {NOW_MS} AND e.state NOT IN (SELECT value FROM json_each(?1))), \
         (SELECT COUNT(*) FROM executions AS e LEFT JOIN execution_leases AS l ON l.execution_id = e.id \
             WHERE e.state NOT IN (SELECT value FROM json_each(?1)) \
             AND (l.execution_id IS NULL OR l.expires_at < {NOW_MS}))"
    )))
    .bind(terminal)
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(ClusterStatus { nodes_alive: count(nodes), leases: count(leases), awaiting_takeover: count(awaiting) })
}
