//! Places under flows' `concurrency.limit` (see migration 6 and [`sluice_engine::Store::take_place`]).
//! Each request is one transaction under the flow's advisory lock, so two nodes admitting at
//! once never both take the last place.

use sluice_engine::{FlowPlace, PlaceAsk, PlaceOutcome, StoreError};
use sqlx::{Acquire, PgConnection, PgExecutor, PgPool};

use crate::error::db_error;
use crate::executions::terminal_states;
use crate::leases::NOW_MS;
use crate::locks::{self, Class};

/// How long a place counts without its execution recorded and live (a node that died between
/// the admission and the first commit, or a rerun that did not go through).
const UNRECORDED_GRACE_MS: i64 = 60_000;

/// A part of the commit statement (after the executions, bound as `$1` ids and `$5` states):
/// the places of the executions the batch records as ended are free.
pub(crate) fn free() -> String {
    let terminal = terminal_states().iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    format!(
        "places_freed AS (DELETE FROM flow_places WHERE execution_id IN (SELECT x.id \
         FROM unnest($1::bytea[], $5::text[]) AS x (id, state) WHERE x.state IN ({terminal})) RETURNING 1)"
    )
}

pub(crate) async fn take(
    pool: &PgPool,
    place: &FlowPlace<'_>,
    ask: PlaceAsk,
) -> Result<PlaceOutcome, StoreError> {
    let mut connection = pool.acquire().await.map_err(db_error)?;
    let mut tx = connection.begin().await.map_err(db_error)?;
    lock(&mut tx, place.namespace, place.flow_id).await?;
    let held: Option<bool> = sqlx::query_scalar("SELECT queued FROM flow_places WHERE execution_id = $1")
        .bind(place.execution_id.as_bytes())
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
    pool: &PgPool,
    namespace: &str,
    flow_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut connection = pool.acquire().await.map_err(db_error)?;
    // A read first: most ends leave no one waiting, and need no transaction.
    let waiting: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM flow_places WHERE namespace = $1 AND flow_id = $2 AND queued LIMIT 1",
    )
    .bind(namespace.as_bytes())
    .bind(flow_id.as_bytes())
    .fetch_optional(&mut *connection)
    .await
    .map_err(db_error)?;
    if waiting.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = connection.begin().await.map_err(db_error)?;
    lock(&mut tx, namespace, flow_id).await?;
    let mut admitted = Vec::new();
    loop {
        let next: Option<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT p.execution_id, p.place_limit FROM flow_places AS p \
             LEFT JOIN executions AS e ON e.id = p.execution_id \
             WHERE p.namespace = $1 AND p.flow_id = $2 AND p.queued \
             ORDER BY e.created_at NULLS LAST, p.seq LIMIT 1",
        )
        .bind(namespace.as_bytes())
        .bind(flow_id.as_bytes())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some((id, limit)) = next else { break };
        let id = String::from_utf8_lossy(&id).into_owned();
        let (running, _) = counts(&mut tx, namespace, flow_id, &id).await?;
        if i64::try_from(running).unwrap_or(i64::MAX) >= limit {
            break;
        }
        sqlx::query("UPDATE flow_places SET queued = false WHERE execution_id = $1")
            .bind(id.as_bytes())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        admitted.push(id);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(admitted)
}

pub(crate) async fn admitted(
    db: impl PgExecutor<'_>,
    execution_ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if execution_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&[u8]> = execution_ids.iter().map(|id| id.as_bytes()).collect();
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT execution_id FROM flow_places WHERE NOT queued AND execution_id = ANY($1::bytea[]) ORDER BY seq",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows.into_iter().map(|id| String::from_utf8_lossy(&id).into_owned()).collect())
}

pub(crate) async fn release(db: impl PgExecutor<'_>, execution_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM flow_places WHERE execution_id = $1")
        .bind(execution_id.as_bytes())
        .execute(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Locks the flow's places until the transaction ends, then drops the places that no longer
/// count: older than the grace, and their execution not recorded or ended (a rerun that never
/// committed).
async fn lock(tx: &mut PgConnection, namespace: &str, flow_id: &str) -> Result<(), StoreError> {
    locks::lock(tx, Class::Places, vec![locks::key(&[namespace, flow_id])]).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM flow_places WHERE namespace = $1 AND flow_id = $2 AND taken_at < {NOW_MS} - $3 \
         AND NOT EXISTS (SELECT 1 FROM executions AS e WHERE e.id = flow_places.execution_id \
         AND e.state <> ALL($4::text[]))"
    )))
    .bind(namespace.as_bytes())
    .bind(flow_id.as_bytes())
    .bind(UNRECORDED_GRACE_MS)
    .bind(terminal_states())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// How many of the flow's executions other than `except` run (a running place, or a live state
/// without any place) and wait.
async fn counts(
    db: &mut PgConnection,
    namespace: &str,
    flow_id: &str,
    except: &str,
) -> Result<(u64, u64), StoreError> {
    let (running, queued): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT count(*) FROM flow_places WHERE namespace = $1 AND flow_id = $2 AND NOT queued \
              AND execution_id <> $3) \
         + (SELECT count(*) FROM executions AS e WHERE e.state IN ('RUNNING', 'PAUSED', 'KILLING') \
              AND e.namespace = $1 AND e.flow_id = $2 AND e.id <> $3 \
              AND NOT EXISTS (SELECT 1 FROM flow_places AS p WHERE p.execution_id = e.id)), \
           (SELECT count(*) FROM flow_places WHERE namespace = $1 AND flow_id = $2 AND queued \
              AND execution_id <> $3)",
    )
    .bind(namespace.as_bytes())
    .bind(flow_id.as_bytes())
    .bind(except.as_bytes())
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok((u64::try_from(running).unwrap_or(0), u64::try_from(queued).unwrap_or(0)))
}

/// Takes (or takes again, at the back of the queue) the execution's place.
async fn insert(db: &mut PgConnection, place: &FlowPlace<'_>, queued: bool) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM flow_places WHERE execution_id = $1")
        .bind(place.execution_id.as_bytes())
        .execute(&mut *db)
        .await
        .map_err(db_error)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO flow_places (execution_id, namespace, flow_id, queued, place_limit, taken_at) \
         VALUES ($1, $2, $3, $4, $5, {NOW_MS})"
    )))
    .bind(place.execution_id.as_bytes())
    .bind(place.namespace.as_bytes())
    .bind(place.flow_id.as_bytes())
    .bind(queued)
    .bind(i64::from(place.limit))
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
