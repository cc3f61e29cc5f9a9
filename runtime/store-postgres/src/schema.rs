//! The schema: the numbered migrations in `runtime/store-postgres/migrations/`, applied on
//! connect. sqlx's migrator holds an advisory lock while it runs, so servers starting together
//! on one database migrate it once.

use sluice_engine::StoreError;
use sluice_store::records::{migrate_error, newest_version, refuse_newer};
use sqlx::PgConnection;
use sqlx::migrate::Migrator;

use crate::error::db_error;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The newest schema version this build knows (the number of the last migration file).
pub fn schema_version() -> i64 {
    newest_version(&MIGRATOR)
}

/// Brings the database up to [`schema_version`]; a no-op when it is there already. A database
/// written by a newer sluice is refused rather than half-understood.
pub(crate) async fn migrate(connection: &mut PgConnection) -> Result<(), StoreError> {
    refuse_newer(applied_version(connection).await?, schema_version())?;
    // What `run` does, without its `Acquire` bound, which makes the future not `Send` (a
    // known sqlx limitation; `run_direct` is its documented-in-source way around it).
    MIGRATOR
        .run_direct(None, connection, false)
        .await
        .map_err(|e| migrate_error(e, schema_version(), db_error))
}

/// The newest migration recorded in the database, None for a fresh one.
async fn applied_version(connection: &mut PgConnection) -> Result<Option<i64>, StoreError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *connection)
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
