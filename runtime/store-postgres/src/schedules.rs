//! Schedule triggers' state. A claim is one conditional statement (an insert that does nothing
//! on conflict, or an update guarded by the expected `covered_until`), so two servers on one
//! database never both win one fire time.

use sluice_engine::{ScheduleState, StoreError, Timestamp, TriggerKey};
use sqlx::PgExecutor;

use crate::codec::{optional_text_from_db, timestamp_from_db, timestamp_to_db};
use crate::error::{RowName, db_error};

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    covered_until: i64,
    execution_id: Option<Vec<u8>>,
    skipped: i64,
}

pub(crate) async fn get(
    db: impl PgExecutor<'_>,
    key: TriggerKey<'_>,
) -> Result<Option<ScheduleState>, StoreError> {
    let row: Option<ScheduleRow> = sqlx::query_as(
        "SELECT covered_until, execution_id, skipped FROM schedule_triggers \
         WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3",
    )
    .bind(key.namespace.as_bytes())
    .bind(key.flow_id.as_bytes())
    .bind(key.trigger_id.as_bytes())
    .fetch_optional(db)
    .await
    .map_err(db_error)?;
    let name =
        RowName::Schedule { namespace: key.namespace, flow_id: key.flow_id, trigger_id: key.trigger_id };
    row.map(|row| {
        Ok(ScheduleState {
            covered_until: timestamp_from_db(row.covered_until),
            execution_id: optional_text_from_db(name, "execution_id", row.execution_id)?,
            skipped: u64::try_from(row.skipped).unwrap_or(0),
        })
    })
    .transpose()
}

pub(crate) async fn claim(
    db: impl PgExecutor<'_>,
    key: TriggerKey<'_>,
    expected: Option<Timestamp>,
    until: Timestamp,
    skipped: u64,
) -> Result<bool, StoreError> {
    let until = timestamp_to_db(until)?;
    let skipped = i64::try_from(skipped).unwrap_or(i64::MAX);
    let done = match expected {
        None => sqlx::query(
            "INSERT INTO schedule_triggers (namespace, flow_id, trigger_id, covered_until, skipped) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(key.namespace.as_bytes())
        .bind(key.flow_id.as_bytes())
        .bind(key.trigger_id.as_bytes())
        .bind(until)
        .bind(skipped)
        .execute(db)
        .await
        .map_err(db_error)?,
        // Under READ COMMITTED a concurrent claimer waits for the row and re-checks the
        // condition against the committed value, so only one of them matches.
        Some(expected) => sqlx::query(
            "UPDATE schedule_triggers SET covered_until = $4, skipped = skipped + $5 \
             WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3 AND covered_until = $6",
        )
        .bind(key.namespace.as_bytes())
        .bind(key.flow_id.as_bytes())
        .bind(key.trigger_id.as_bytes())
        .bind(until)
        .bind(skipped)
        .bind(timestamp_to_db(expected)?)
        .execute(db)
        .await
        .map_err(db_error)?,
    };
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn set_execution(
    db: impl PgExecutor<'_>,
    key: TriggerKey<'_>,
    execution_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE schedule_triggers SET execution_id = $4 \
         WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3",
    )
    .bind(key.namespace.as_bytes())
    .bind(key.flow_id.as_bytes())
    .bind(key.trigger_id.as_bytes())
    .bind(execution_id.as_bytes())
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
