//! The schema: the numbered migrations in `runtime/store/migrations/`, applied on open.

use sluice_engine::StoreError;
use sqlx::SqliteConnection;
use sqlx::migrate::Migrator;

use crate::error::db_error;
use crate::records::{migrate_error, newest_version, refuse_newer};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The newest schema version this build knows (the number of the last migration file).
pub fn schema_version() -> i64 {
    newest_version(&MIGRATOR)
}

/// Brings the database up to [`schema_version`]; a no-op when it is there already. A database
/// written by a newer sluice is refused rather than half-understood.
pub(crate) async fn migrate(connection: &mut SqliteConnection) -> Result<(), StoreError> {
    refuse_newer(applied_version(connection).await?, schema_version())?;
    MIGRATOR.run(connection).await.map_err(|e| migrate_error(e, schema_version(), db_error))
}

/// The newest migration recorded in the file, None for a fresh file.
async fn applied_version(connection: &mut SqliteConnection) -> Result<Option<i64>, StoreError> {
    let table: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_optional(&mut *connection)
            .await
            .map_err(db_error)?;
    if table.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(connection)
        .await
        .map_err(db_error)
}
