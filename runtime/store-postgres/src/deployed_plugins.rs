//! Plugins deployed to every node on the database (see migration 5).

use sluice_engine::{ArtifactRef, StoreError};
use sqlx::PgExecutor;

use crate::artifacts::unknown_artifact;
use crate::error::db_error;
use crate::leases::NOW_MS;

/// Deploys the stored component `artifact` as plugin `name`, replacing the one deployed before.
pub(crate) async fn deploy(
    db: impl PgExecutor<'_>,
    name: &str,
    artifact: &ArtifactRef,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO deployed_plugins (name, sha256, deployed_at) VALUES ($1, $2, {NOW_MS}) \
         ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, deployed_at = excluded.deployed_at"
    )))
    .bind(name.as_bytes())
    .bind(&artifact.sha256)
    .execute(db)
    .await
    .map_err(|e| unknown_artifact(e, &artifact.sha256))?;
    Ok(())
}

/// Every deployed plugin by name, sorted.
pub(crate) async fn list(db: impl PgExecutor<'_>) -> Result<Vec<(String, ArtifactRef)>, StoreError> {
    let rows: Vec<(Vec<u8>, String, i64)> = sqlx::query_as(
        "SELECT p.name, p.sha256, a.size FROM deployed_plugins AS p \
         JOIN artifacts AS a ON a.sha256 = p.sha256 ORDER BY p.name",
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(name, sha256, size)| {
            let name = String::from_utf8_lossy(&name).into_owned();
            (name, ArtifactRef { sha256, size: u64::try_from(size).unwrap_or(0) })
        })
        .collect())
}
