//! Connecting: the pool and the migrations.

use std::str::FromStr;
use std::time::Duration;

use sluice_engine::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::db_error;
use crate::schema;

/// Connections per store: reads and writes share them.
const CONNECTIONS: u32 = 10;

/// How long a caller waits for a free connection (or for the server to answer a connect).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The engine's [`sluice_engine::Store`] on a PostgreSQL database.
///
/// Durability is the server's: a commit that returned was committed by PostgreSQL (with its
/// `synchronous_commit` and `fsync` settings). Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) wake: std::sync::Arc<crate::wake::Wake>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or any
    /// form libpq's URIs take) and migrates it to the current schema. A database with a newer
    /// schema is refused.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// [`PostgresStore::connect`] with options built in code.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
        let target = describe(&options);
        // One connection first, which fails at once when the server cannot be reached (a pool
        // retries until its acquire timeout), and migrates.
        let mut connection =
            PgConnection::connect_with(&options).await.map_err(|e| connect_error(&target, e))?;
        schema::migrate(&mut connection).await?;
        connection.close().await.map_err(|e| connect_error(&target, e))?;
        // Generic plans: the commit's statement is one large `WITH`, whose planning for each
        // call's parameters (PostgreSQL's default for a prepared statement's first runs, and
        // kept when a custom plan looks cheaper) took as long as running it. No ping before
        // each use either: that is a round trip per call, and a connection found dead fails
        // its call as unavailable, which the callers retry (a commit at once, the keeper on its
        // next round), while the pool replaces it.
        let options = options.options([("plan_cache_mode", "force_generic_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .test_before_acquire(false)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| connect_error(&target, e))?;
        Ok(PostgresStore { pool, wake: Default::default() })
    }

    /// Waits for running statements and closes every connection. Calls after this fail with
    /// [`StoreError::Database`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `host:port/database`, for errors (never the password).
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

fn connect_error(target: &str, error: sqlx::Error) -> StoreError {
    match db_error(error) {
        StoreError::Database(message) => {
            StoreError::Database(format!("cannot connect to PostgreSQL at {target}: {message}"))
        }
        StoreError::Unavailable(message) => {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {message}"))
        }
        other => other,
    }
}
