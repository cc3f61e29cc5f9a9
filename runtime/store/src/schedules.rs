//! Schedule triggers' state. A claim is one conditional statement (an insert that does nothing
//! on conflict, or an update guarded by the expected `covered_until`), so it stays correct with
//! several servers on one database, as it will on PostgreSQL.

use sluice_engine::{ScheduleState, StoreError, Timestamp, TriggerKey};
use sqlx::SqliteExecutor;

use crate::error::db_error;
use crate::records::{timestamp_from_db, timestamp_to_db};
use crate::writer::Writer;

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    covered_until: i64,
    execution_id: Option<String>,
    skipped: i64,
}

pub(crate) async fn get(
    db: impl SqliteExecutor<'_>,
    key: TriggerKey<'_>,
) -> Result<Option<ScheduleState>, StoreError> {
    let row: Option<ScheduleRow> = sqlx::query_as(
        "SELECT covered_until, execution_id, skipped FROM schedule_triggers \
         WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3",
    )
    .bind(key.namespace)
    .bind(key.flow_id)
    .bind(key.trigger_id)
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    Ok(row.map(|row| ScheduleState {
        covered_until: timestamp_from_db(row.covered_until),
        execution_id: row.execution_id,
        skipped: u64::try_from(row.skipped).unwrap_or(0),
    }))
}

pub(crate) async fn claim(
    writer: &Writer,
    key: TriggerKey<'_>,
    expected: Option<Timestamp>,
    until: Timestamp,
    skipped: u64,
) -> Result<bool, StoreError> {
    let until = timestamp_to_db(until)?;
    let skipped = i64::try_from(skipped).unwrap_or(i64::MAX);
    let mut connection = writer.lock().await?;
    let done = match expected {
        None => sqlx::query(
            "INSERT INTO schedule_triggers (namespace, flow_id, trigger_id, covered_until, skipped) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )
        .bind(key.namespace)
        .bind(key.flow_id)
        .bind(key.trigger_id)
        .bind(until)
        .bind(skipped)
        .execute(&mut *connection)
        .await
        .map_err(db_error)?,
        Some(expected) => sqlx::query(
            "UPDATE schedule_triggers SET covered_until = ?4, skipped = skipped + ?5 \
             WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3 AND covered_until = ?6",
        )
        .bind(key.namespace)
        .bind(key.flow_id)
        .bind(key.trigger_id)
        .bind(until)
        .bind(skipped)
        .bind(timestamp_to_db(expected)?)
        .execute(&mut *connection)
        .await
        .map_err(db_error)?,
    };
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn set_execution(
    writer: &Writer,
    key: TriggerKey<'_>,
    execution_id: &str,
) -> Result<(), StoreError> {
    let mut connection = writer.lock().await?;
    sqlx::query(
        "UPDATE schedule_triggers SET execution_id = ?4 \
         WHERE namespace = ?1 AND flow_id = ?2 AND trigger_id = ?3",
    )
    .bind(key.namespace)
    .bind(key.flow_id)
    .bind(key.trigger_id)
    .bind(execution_id)
    .execute(&mut *connection)
    .await
    .map_err(db_error)?;
    Ok(())
}
