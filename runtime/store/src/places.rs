//! Places under flows' `concurrency.limit` (see migration 6 and [`sluice_engine::Store::take_place`]).
//! Each request is one `BEGIN IMMEDIATE` transaction: the write lock is the flow's lock.

use sluice_engine::{FlowPlace, PlaceAsk, PlaceOutcome, StoreError};
use sqlx::{Connection, SqliteConnection};

use crate::error::db_error;
use crate::leases::{NOW_MS, terminal_states_json};
use crate::writer::Writer;

/// How long a place counts without its execution recorded and live (a node that died between
/// the admission and the first commit, or a rerun that did not go through).
const UNRECORDED_GRACE_MS: i64 = 60_000;

/// In the commit trigger: the places of the executions the batch records as ended are free.
pub(crate) fn free_json_rows() -> String {
    format!(
        "DELETE FROM flow_places WHERE execution_id IN (SELECT r.value ->> 0 \
         FROM jsonb_each(NEW.executions) AS r WHERE r.value ->> 4 IN (SELECT value FROM json_each('{}')))",
        terminal_states_json()
    )
}

pub(crate) async fn take(
    writer: &Writer,
    place: &FlowPlace<'_>,
    ask: PlaceAsk,
) -> Result<PlaceOutcome, StoreError> {
    let mut connection = writer.lock().await?;
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    drop_lapsed(&mut tx, place.namespace, place.flow_id).await?;
    let held: Option<bool> = sqlx::query_scalar("SELECT queued FROM flow_places WHERE execution_id = ?1")
        .bind(place.execution_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
    let (running, queued) = counts(&mut tx, place.namespace, place.flow_id, place.execution_id).await?;
    let (outcome, write) = ask.decide(held, running, queued, place.limit);
    if let Some(queued) = write {
        insert(&mut tx, place, queued).await?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(outcome)
}

pub(crate) async fn promote(
    writer: &Writer,
    namespace: &str,
    flow_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut connection = writer.lock().await?;
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    drop_lapsed(&mut tx, namespace, flow_id).await?;
    let mut admitted = Vec::new();
    loop {
        let next: Option<(String, i64)> = sqlx::query_as(
            "SELECT p.execution_id, p.place_limit FROM flow_places AS p \
             LEFT JOIN executions AS e ON e.id = p.execution_id \
             WHERE p.namespace = ?1 AND p.flow_id = ?2 AND p.queued = 1 \
             ORDER BY e.created_at IS NULL, e.created_at, p.seq LIMIT 1",
        )
        .bind(namespace)
        .bind(flow_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((id, limit)) = next else { break };
        let (running, _) = counts(&mut tx, namespace, flow_id, &id).await?;
        if i64::try_from(running).unwrap_or(i64::MAX) >= limit {
            break;
        }
        sqlx::query("UPDATE flow_places SET queued = 0 WHERE execution_id = ?1")
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        admitted.push(id);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(admitted)
}

pub(crate) async fn admitted(
    db: impl sqlx::SqliteExecutor<'_>,
    execution_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(execution_ids).map_err(|e| StoreError::Database(e.to_string()))?;
    sqlx::query_scalar(
        "SELECT execution_id FROM flow_places WHERE queued = 0 \
         AND execution_id IN (SELECT value FROM json_each(?1)) ORDER BY seq",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .map_err(db_error)
}

pub(crate) async fn release(writer: &Writer, execution_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM flow_places WHERE execution_id = ?1")
        .bind(execution_id)
        .execute(&mut *writer.lock().await?)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Whether any execution of the flow waits: most ends leave no one waiting, and this read
/// spares them the write lock.
pub(crate) async fn any_queued(
    db: impl sqlx::SqliteExecutor<'_>,
    namespace: &str,
    flow_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM flow_places WHERE namespace = ?1 AND flow_id = ?2 AND queued = 1 LIMIT 1",
    )
    .bind(namespace)
    .bind(flow_id)
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    Ok(found.is_some())
}

/// Places that no longer count: older than the grace, and their execution not recorded or
/// ended (its end was written before places existed, or a rerun never committed).
async fn drop_lapsed(db: &mut SqliteConnection, namespace: &str, flow_id: &str) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM flow_places WHERE namespace = ?1 AND flow_id = ?2 AND taken_at < {NOW_MS} - ?3 \
         AND NOT EXISTS (SELECT 1 FROM executions AS e WHERE e.id = flow_places.execution_id \
         AND e.state NOT IN (SELECT value FROM json_each(?4)))"
    )))
    .bind(namespace)
    .bind(flow_id)
    .bind(UNRECORDED_GRACE_MS)
    .bind(terminal_states_json())
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// How many of the flow's executions other than `except` run (a running place, or a live state
/// without any place) and wait.
async fn counts(
    db: &mut SqliteConnection,
    namespace: &str,
    flow_id: &str,
    except: &str,
) -> Result<(u64, u64), StoreError> {
    let (running, queued): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM flow_places WHERE namespace = ?1 AND flow_id = ?2 AND queued = 0 \
              AND execution_id <> ?3) \
         + (SELECT count(*) FROM executions AS e WHERE e.state IN ('RUNNING', 'PAUSED', 'KILLING') \
              AND e.namespace = ?1 AND e.flow_id = ?2 AND e.id <> ?3 \
              AND NOT EXISTS (SELECT 1 FROM flow_places AS p WHERE p.execution_id = e.id)), \
           (SELECT count(*) FROM flow_places WHERE namespace = ?1 AND flow_id = ?2 AND queued = 1 \
              AND execution_id <> ?3)",
    )
    .bind(namespace)
    .bind(flow_id)
    .bind(except)
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok((u64::try_from(running).unwrap_or(0), u64::try_from(queued).unwrap_or(0)))
}

/// Takes (or takes again, at the back of the queue) the execution's place.
async fn insert(db: &mut SqliteConnection, place: &FlowPlace<'_>, queued: bool) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM flow_places WHERE execution_id = ?1")
        .bind(place.execution_id)
        .execute(&mut *db)
        .await
        .map_err(db_error)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO flow_places (execution_id, namespace, flow_id, queued, place_limit, taken_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, {NOW_MS})"
    )))
    .bind(place.execution_id)
    .bind(place.namespace)
    .bind(place.flow_id)
    .bind(queued)
    .bind(i64::from(place.limit))
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
