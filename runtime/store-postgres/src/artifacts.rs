//! Content-addressed blobs and the executions that name them.

use sha2::{Digest, Sha256};
use sluice_engine::{ArtifactRef, StoreError, TaskRunKey};
use sluice_store::records::size_from_db;
use sqlx::PgExecutor;
use sqlx::error::ErrorKind;

use crate::codec::{lossy, optional_key_from_db, optional_text_from_db, text_from_db};
use crate::error::{RowName, db_error};

/// Stores the bytes under their sha256 unless they are there already.
pub(crate) async fn put(db: impl PgExecutor<'_>, bytes: &[u8]) -> Result<ArtifactRef, StoreError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let size = i64::try_from(bytes.len())
        .map_err(|_| StoreError::Database(format!("artifact of {} bytes is too large", bytes.len())))?;
    sqlx::query(
        "INSERT INTO artifacts (sha256, size, bytes) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&sha256)
    .bind(size)
    .bind(bytes)
    .execute(db)
    .await
    .map_err(db_error)?;
    Ok(ArtifactRef { sha256, size: bytes.len() as u64 })
}

pub(crate) async fn get(db: impl PgExecutor<'_>, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
    sqlx::query_scalar("SELECT bytes FROM artifacts WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(db)
        .await
        .map_err(db_error)
}

/// The commit statement's part for the batch's attachments, bound by [`attachment_columns`]
/// as `$41` to `$44`.
pub(crate) const ATTACH: &str = "\
    artifacts_attached AS (INSERT INTO execution_artifacts (execution_id, task_run, name, sha256) \
    SELECT * FROM unnest($41::bytea[], $42::bytea[], $43::bytea[], $44::text[]) \
    ON CONFLICT (execution_id, task_run, name) DO UPDATE SET sha256 = excluded.sha256 RETURNING 1)";

/// Binds `$41` to `$44` of [`ATTACH`].
pub(crate) fn bind_attachments<'q>(
    attachments: &[sluice_engine::Attachment],
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let ids: Vec<Vec<u8>> = attachments.iter().map(|a| a.execution_id.as_bytes().to_vec()).collect();
    // '' stands for "the execution itself", as in `attach`.
    let runs: Vec<Vec<u8>> = attachments
        .iter()
        .map(|a| a.task_run.as_ref().map(|k| k.to_string().into_bytes()).unwrap_or_default())
        .collect();
    let names: Vec<Vec<u8>> = attachments.iter().map(|a| a.name.as_bytes().to_vec()).collect();
    let digests: Vec<String> = attachments.iter().map(|a| a.artifact.sha256.clone()).collect();
    query.bind(ids).bind(runs).bind(names).bind(digests)
}

/// Whether the error is an attachment naming an artifact that was never put.
pub(crate) fn is_unknown_artifact(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.kind(), ErrorKind::ForeignKeyViolation)
            && db.table() == Some("execution_artifacts"))
}

/// Attaching the same name again (for the same task run) points it at the new artifact and
/// keeps its place. An artifact that was never put is [`StoreError::NotFound`].
pub(crate) async fn attach(
    db: impl PgExecutor<'_>,
    execution_id: &str,
    task_run: Option<&TaskRunKey>,
    name: &str,
    artifact: &ArtifactRef,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO execution_artifacts (execution_id, task_run, name, sha256) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (execution_id, task_run, name) DO UPDATE SET sha256 = excluded.sha256",
    )
    .bind(execution_id.as_bytes())
    // '' stands for "the execution itself": the column is part of the key, which cannot hold NULL.
    .bind(task_run.map(|k| k.to_string().into_bytes()).unwrap_or_default())
    .bind(name.as_bytes())
    .bind(&artifact.sha256)
    .execute(db)
    .await
    .map_err(|e| unknown_artifact(e, &artifact.sha256))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AttachedRow {
    execution_id: Vec<u8>,
    task_run: Vec<u8>,
    name: Vec<u8>,
    sha256: String,
    size: i64,
}

/// The execution's artifacts in the order they were first attached.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    execution_id: &str,
) -> Result<Vec<(Option<TaskRunKey>, String, ArtifactRef)>, StoreError> {
    let rows: Vec<AttachedRow> = sqlx::query_as(
        "SELECT x.execution_id, x.task_run, x.name, x.sha256, a.size FROM execution_artifacts AS x \
         JOIN artifacts AS a ON a.sha256 = x.sha256 WHERE x.execution_id = $1 ORDER BY x.position",
    )
    .bind(execution_id.as_bytes())
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| {
            let (execution, name) = (lossy(&row.execution_id), lossy(&row.name));
            let row_name = RowName::Artifact { execution_id: &execution, name: &name };
            let task_run = Some(row.task_run).filter(|key| !key.is_empty());
            let task_run = optional_text_from_db(row_name, "task_run", task_run)?;
            let task_run = optional_key_from_db(row_name, "task_run", task_run.as_deref())?;
            let size = size_from_db(row_name, row.size)?;
            let name = text_from_db(row_name, "name", row.name)?;
            Ok((task_run, name, ArtifactRef { sha256: row.sha256, size }))
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
