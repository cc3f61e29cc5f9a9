//! Flow revisions: every change of a flow's source is a new revision; deleting a flow hides it
//! but keeps its revisions for the executions pinned to them.

use chrono::Utc;
use sluice_engine::{FlowRevision, StoreError};
use sqlx::{Acquire, PgExecutor, PgPool};

use crate::codec::{lossy, text_from_db, timestamp_from_db, timestamp_to_db, u32_from_db};
use crate::error::{RowName, db_error};
use crate::locks::{self, Class};

#[derive(sqlx::FromRow)]
struct FlowRow {
    namespace: Vec<u8>,
    id: Vec<u8>,
    revision: i64,
    source: Vec<u8>,
    created_at: i64,
    deleted: bool,
}

impl FlowRow {
    fn into_record(self) -> Result<FlowRevision, StoreError> {
        let (namespace, id) = (lossy(&self.namespace), lossy(&self.id));
        let row = RowName::Flow { namespace: &namespace, id: &id, revision: self.revision };
        Ok(FlowRevision {
            revision: u32_from_db(row, "revision", self.revision)?,
            source: text_from_db(row, "source", self.source)?,
            created_at: timestamp_from_db(self.created_at),
            deleted: self.deleted,
            namespace: text_from_db(row, "namespace", self.namespace)?,
            id: text_from_db(row, "id", self.id)?,
        })
    }
}

macro_rules! flow_columns {
    () => {
        "namespace, id, revision, source, created_at, deleted"
    };
}

/// Stores `source` as a new revision unless the newest (not deleted) revision has exactly this
/// source. The newest revision is read and the new one written in one transaction holding the
/// flow's advisory lock, so concurrent savers (even on other servers) get consecutive revisions.
pub(crate) async fn save(
    pool: &PgPool,
    namespace: &str,
    id: &str,
    source: &str,
) -> Result<FlowRevision, StoreError> {
    let mut connection = pool.acquire().await.map_err(db_error)?;
    let mut tx = connection.begin().await.map_err(db_error)?;
    locks::lock(&mut tx, Class::Flow, vec![locks::key(&[namespace, id])]).await?;
    let newest: Option<FlowRow> = sqlx::query_as(concat!(
        "SELECT ",
        flow_columns!(),
        " FROM flows WHERE namespace = $1 AND id = $2 ORDER BY revision DESC LIMIT 1"
    ))
    .bind(namespace.as_bytes())
    .bind(id.as_bytes())
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
        sqlx::query("UPDATE flows SET deleted = FALSE WHERE namespace = $1 AND id = $2")
            .bind(namespace.as_bytes())
            .bind(id.as_bytes())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    let created_at = Utc::now();
    sqlx::query(
        "INSERT INTO flows (namespace, id, revision, source, created_at, deleted) \
         VALUES ($1, $2, $3, $4, $5, FALSE)",
    )
    .bind(namespace.as_bytes())
    .bind(id.as_bytes())
    .bind(i64::from(revision))
    .bind(source.as_bytes())
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
    db: impl PgExecutor<'_>,
    namespace: &str,
    id: &str,
    revision: Option<u32>,
) -> Result<Option<FlowRevision>, StoreError> {
    let row: Option<FlowRow> = match revision {
        Some(revision) => sqlx::query_as(concat!(
            "SELECT ",
            flow_columns!(),
            " FROM flows WHERE namespace = $1 AND id = $2 AND revision = $3"
        ))
        .bind(namespace.as_bytes())
        .bind(id.as_bytes())
        .bind(i64::from(revision))
        .fetch_optional(db)
        .await
        .map_err(db_error)?,
        None => sqlx::query_as(concat!(
            "SELECT ",
            flow_columns!(),
            " FROM flows WHERE namespace = $1 AND id = $2 ORDER BY revision DESC LIMIT 1"
        ))
        .bind(namespace.as_bytes())
        .bind(id.as_bytes())
        .fetch_optional(db)
        .await
        .map_err(db_error)?
        .filter(|row: &FlowRow| !row.deleted),
    };
    row.map(FlowRow::into_record).transpose()
}

/// The newest revision of each live flow, ordered by namespace and id (bytewise). A prefix
/// `a.b` selects the namespace `a.b` and those below it (`a.b.c`), not `a.bc`.
pub(crate) async fn list(
    db: impl PgExecutor<'_>,
    namespace_prefix: Option<&str>,
) -> Result<Vec<FlowRevision>, StoreError> {
    let below = namespace_prefix.map(|prefix| format!("{prefix}."));
    // Every revision carries the flow's deleted flag, so the newest live one is the newest one.
    let rows: Vec<FlowRow> = sqlx::query_as(concat!(
        "SELECT DISTINCT ON (namespace, id) ",
        flow_columns!(),
        " FROM flows WHERE NOT deleted \
         AND ($1::bytea IS NULL OR namespace = $1 OR substring(namespace FROM 1 FOR length($2)) = $2) \
         ORDER BY namespace, id, revision DESC"
    ))
    .bind(namespace_prefix.map(str::as_bytes))
    .bind(below.as_deref().map(str::as_bytes))
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(FlowRow::into_record).collect()
}

pub(crate) async fn revisions(
    db: impl PgExecutor<'_>,
    namespace: &str,
    id: &str,
) -> Result<Vec<FlowRevision>, StoreError> {
    let rows: Vec<FlowRow> = sqlx::query_as(concat!(
        "SELECT ",
        flow_columns!(),
        " FROM flows WHERE namespace = $1 AND id = $2 ORDER BY revision"
    ))
    .bind(namespace.as_bytes())
    .bind(id.as_bytes())
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(FlowRow::into_record).collect()
}

/// True when a live flow was deleted; false when there was none (or it was deleted already).
pub(crate) async fn delete(db: impl PgExecutor<'_>, namespace: &str, id: &str) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE flows SET deleted = TRUE WHERE namespace = $1 AND id = $2 AND NOT deleted")
            .bind(namespace.as_bytes())
            .bind(id.as_bytes())
            .execute(db)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}
