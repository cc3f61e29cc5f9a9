//! Content-addressed blobs and the executions that name them.

use sha2::{Digest, Sha256};
use sluice_engine::{ArtifactRef, Attachment, StoreError, TaskRunKey};
use sqlx::SqliteExecutor;
use sqlx::error::ErrorKind;

use crate::error::db_error;
use crate::records::{RowName, optional_key_from_db, size_from_db};
use crate::writer::Writer;

/// Stores the bytes under their sha256 unless they are there already.
pub(crate) async fn put(writer: &Writer, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let size = i64::try_from(bytes.len())
        .map_err(|_| StoreError::Database(format!("artifact of {} bytes is too large", bytes.len())))?;
    sqlx::query(
        "INSERT INTO artifacts (sha256, size, bytes) VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha256)
    .bind(size)
    .bind(bytes)
    .execute(&mut *writer.lock().await?)
    .await
    .map_err(db_error)?;
    Ok(ArtifactRef { sha256, size: bytes.len() as u64 })
}

pub(crate) async fn get(db: impl SqliteExecutor<'_>, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    sqlx::query_scalar("SELECT bytes FROM artifacts WHERE sha256 = ?1")
        .bind(sha256)
        .fetch_optional(db)
        .await
        .map_err(db_error)
}

/// In the commit trigger, last: attaches each of the batch's artifacts (rows `[execution id,
/// task run key or '', name, sha256]`), as [`attach`] does. A blob that was never put fails
/// the batch (the foreign key).
pub(crate) const ATTACH_JSON_ROWS: &str = "\
    INSERT INTO execution_artifacts (execution_id, task_run, name, sha256) \
    SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3 \
    FROM jsonb_each(NEW.artifacts) AS r WHERE true \
    ON CONFLICT (execution_id, task_run, name) DO UPDATE SET sha256 = excluded.sha256";

/// The batch's attachments as a JSON array of rows in the order the trigger reads them.
pub(crate) fn rows_json(attachments: &[Attachment]) -> Result<String, StoreError> {
    let rows: Vec<_> = attachments
        .iter()
        .map(|a| {
            let task_run = a.task_run.as_ref().map(ToString::to_string).unwrap_or_default();
            (&a.execution_id, task_run, &a.name, &a.artifact.sha256)
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| StoreError::Database(e.to_string()))
}

/// Attaching the same name again (for the same task run) points it at the new artifact. An
/// artifact that was never put is [`StoreError::NotFound`].
pub(crate) async fn attach(
    writer: &Writer,
    execution_id: &str,
    task_run: Option<&TaskRunKey>,
    name: &str,
    artifact: &ArtifactRef,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO execution_artifacts (execution_id, task_run, name, sha256) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (execution_id, task_run, name) DO UPDATE SET sha256 = excluded.sha256",
    )
    .bind(execution_id)
    // '' stands for "the execution itself": the column is part of the key, which cannot hold NULL.
    .bind(task_run.map(ToString::to_string).unwrap_or_default())
    .bind(name)
    .bind(&artifact.sha256)
    .execute(&mut *writer.lock().await?)
    .await
    .map_err(|e| unknown_artifact(e, &artifact.sha256))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AttachedRow {
    execution_id: String,
    task_run: String,
    name: String,
    sha256: String,
    size: i64,
}

/// The execution's artifacts in the order they were first attached.
pub(crate) async fn list(
    db: impl SqliteExecutor<'_>,
    execution_id: &str,
) -> Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError> {
    let rows: Vec<AttachedRow> = sqlx::query_as(
        "SELECT x.execution_id, x.task_run, x.name, x.sha256, a.size FROM execution_artifacts AS x \
         JOIN artifacts AS a ON a.sha256 = x.sha256 WHERE x.execution_id = ?1 ORDER BY x.rowid",
    )
    .bind(execution_id)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| {
            let name = RowName::Artifact { execution_id: &row.execution_id, name: &row.name };
            let task_run = Some(row.task_run.as_str()).filter(|key| !key.is_empty());
            let task_run = optional_key_from_db(name, "task_run", task_run)?;
            let size = size_from_db(name, row.size)?;
            Ok((task_run, row.name, ArtifactRef { sha256: row.sha256, size }))
        })
        .collect()
}

/// A write naming artifact `sha256`: the foreign key failing means it was never put.
pub(crate) fn unknown_artifact(error: sqlx::Error, sha256: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if matches!(db.kind(), ErrorKind::ForeignKeyViolation) => {
            StoreError::NotFound(format!("artifact {sha256}"))
        }
        _ => db_error(error),
    }
}
