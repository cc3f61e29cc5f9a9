//! Flow revisions: every change of a flow's source is a new revision; deleting a flow hides it
//! but keeps its revisions for the executions pinned to them.

use chrono::Utc;
use sluice_engine::{FlowRevision, StoreError};
use sqlx::{Connection, SqliteExecutor};

use crate::error::db_error;
use crate::records::{RowName, timestamp_from_db, timestamp_to_db, u32_from_db};
use crate::writer::Writer;

#[derive(sqlx::FromRow)]
struct FlowRow {
    namespace: String,
    id: String,
    revision: i64,
    source: String,
    created_at: i64,
    deleted: bool,
}

impl FlowRow {
    fn into_record(self) -> Result<FlowRevision, StoreError> {
        let row = RowName::Flow { namespace: &self.namespace, id: &self.id, revision: self.revision };
        let revision = u32_from_db(row, "revision", self.revision)?;
        Ok(FlowRevision {
            namespace: self.namespace,
            id: self.id,
            revision,
            source: self.source,
            created_at: timestamp_from_db(self.created_at),
            deleted: self.deleted,
        })
    }
}

macro_rules! flow_columns {
    () => {
        "namespace, id, revision, source, created_at, deleted"
    };
}

/// Stores `source` as a new revision unless the newest (not deleted) revision has exactly this
/// source. The newest revision is read and the new one written in one `BEGIN IMMEDIATE`
/// transaction, so concurrent savers (even in other processes) get consecutive revisions.
pub(crate) async fn save(
    writer: &Writer,
    namespace: &str,
    id: &str,
    source: &str,
) -> Result<FlowRevision, StoreError> {
    let mut connection = writer.lock().await?;
    let mut tx = connection.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let newest: Option<FlowRow> = sqlx::query_as(concat!(
        "SELECT ",
        flow_columns!(),
        " FROM flows WHERE namespace = ?1 AND id = ?2 ORDER BY revision DESC LIMIT 1"
    ))
    .bind(namespace)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    let newest = newest.map(FlowRow::into_record).transpose()?;

    let (revision, was_deleted) = match newest {
        Some(flow) if !flow.deleted && flow.source == source => {
            tx.rollback().await.map_err(db_error)?;
            return Ok(flow);
        }
        Some(flow) => {
            let next = flow.revision.checked_add(1).ok_or_else(|| {
                StoreError::Database(format!("flow `{namespace}.{id}` has run out of revision numbers"))
            })?;
            (next, flow.deleted)
        }
        None => (1, false),
    };
    if was_deleted {
        // Saving a deleted flow brings it back, history included.
        sqlx::query("UPDATE flows SET deleted = 0 WHERE namespace = ?1 AND id = ?2")
            .bind(namespace)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    let created_at = Utc::now();
    sqlx::query(
        "INSERT INTO flows (namespace, id, revision, source, created_at, deleted) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0)",
    )
    .bind(namespace)
    .bind(id)
    .bind(i64::from(revision))
    .bind(source)
    .bind(timestamp_to_db(created_at)?)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(FlowRevision {
        namespace: namespace.to_owned(),
        id: id.to_owned(),
        revision,
        source: source.to_owned(),
        created_at,
        deleted: false,
    })
}

/// A pinned revision is found even when the flow is deleted; the newest only when it is not.
pub(crate) async fn get(
    db: impl SqliteExecutor<'_>,
    namespace: &str,
    id: &str,
    revision: Option<u32>,
) -> Result<Option<FlowRevision>, StoreError> {
    let row: Option<FlowRow> = match revision {
        Some(revision) => sqlx::query_as(concat!(
            "SELECT ",
            flow_columns!(),
            " FROM flows WHERE namespace = ?1 AND id = ?2 AND revision = ?3"
        ))
        .bind(namespace)
        .bind(id)
        .bind(i64::from(revision))
        .fetch_optional(db)
        .await
        .map_err(db_error)?,
        None => sqlx::query_as(concat!(
            "SELECT ",
            flow_columns!(),
            " FROM flows WHERE namespace = ?1 AND id = ?2 ORDER BY revision DESC LIMIT 1"
        ))
        .bind(namespace)
        .bind(id)
        .fetch_optional(db)
        .await
        .map_err(db_error)?
        .filter(|row: &FlowRow| !row.deleted),
    };
    row.map(FlowRow::into_record).transpose()
}

/// The newest revision of each live flow, ordered by namespace and id. A prefix `a.b` selects
/// the namespace `a.b` and those below it (`a.b.c`), not `a.bc`.
pub(crate) async fn list(
    db: impl SqliteExecutor<'_>,
    namespace_prefix: Option<&str>,
) -> Result<Vec<FlowRevision>, StoreError> {
    let rows: Vec<FlowRow> = sqlx::query_as(concat!(
        "SELECT ",
        flow_columns!(),
        " FROM flows AS f WHERE deleted = 0 \
         AND revision = (SELECT MAX(revision) FROM flows AS g WHERE g.namespace = f.namespace AND g.id = f.id) \
         AND (?1 IS NULL OR namespace = ?1 OR substr(namespace, 1, length(?1) + 1) = ?1 || '.') \
         ORDER BY namespace, id"
    ))
    .bind(namespace_prefix)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(FlowRow::into_record).collect()
}

pub(crate) async fn revisions(
    db: impl SqliteExecutor<'_>,
    namespace: &str,
    id: &str,
) -> Result<Vec<FlowRevision>, StoreError> {
    let rows: Vec<FlowRow> = sqlx::query_as(concat!(
        "SELECT ",
        flow_columns!(),
        " FROM flows WHERE namespace = ?1 AND id = ?2 ORDER BY revision"
    ))
    .bind(namespace)
    .bind(id)
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(FlowRow::into_record).collect()
}

/// True when a live flow was deleted; false when there was none (or it was deleted already).
pub(crate) async fn delete(writer: &Writer, namespace: &str, id: &str) -> Result<bool, StoreError> {
    let mut connection = writer.lock().await?;
    let done = sqlx::query("UPDATE flows SET deleted = 1 WHERE namespace = ?1 AND id = ?2 AND deleted = 0")
        .bind(namespace)
        .bind(id)
        .execute(&mut *connection)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}
