//! Opening the database: connection settings, the write connection and the reader pool,
//! migrations.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sluice_engine::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

use crate::error::db_error;
use crate::writer::Writer;
use crate::{commit, schema};

/// How long a statement waits for another process's write lock before giving up with
/// [`StoreError::Conflict`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Concurrent readers; WAL lets them read while the writer writes.
const READERS: u32 = 4;

/// The engine's [`sluice_engine::Store`] on one SQLite file.
///
/// Durability: the file is in WAL mode with `synchronous = NORMAL`. A commit that returned has
/// reached the WAL file, so it survives the process crashing or being killed (`kill -9`); it is
/// not fsynced on every commit, so a power loss or OS crash may drop the last transactions
/// (never corrupting the file). That trade buys commits without an fsync each, which the
/// engine's once-per-step commits need.
///
/// Cloning is cheap and shares the connections.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) writer: Arc<Writer>,
    /// Read-only connections, each read seeing the last committed state; None for an in-memory
    /// database, which exists only on the write connection, so reads take that one.
    pub(crate) readers: Option<SqlitePool>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path` and
    /// migrates it to the current schema. A database with a newer schema is refused.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Database(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let options =
            SqliteConnectOptions::new().filename(path).foreign_keys(true).busy_timeout(BUSY_TIMEOUT);

        let mut writer = options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .connect()
            .await
            .map_err(|e| open_error(path, e))?;
        schema::migrate(&mut writer).await?;
        let direct = open_direct(&path.to_string_lossy())
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;

        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .max_lifetime(None)
            // A local file has no network to fail; a ping before each read would be a wasted
            // round trip to the connection's worker thread.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| open_error(path, e))?;
        Ok(SqliteStore { writer: Arc::new(Writer::new(writer, direct)), readers: Some(readers) })
    }

    /// A private in-memory database, for tests. It lives as long as this store (and its clones).
    ///
    /// It is a `memdb` database with a name unique to this store, the kind that connections of
    /// one process can share: the commit connection and the sqlx connection both open it.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("/sluice-memory-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut connection = SqliteConnectOptions::new()
            .filename(&name)
            .vfs("memdb")
            .create_if_missing(true)
            .foreign_keys(true)
            .connect()
            .await
            .map_err(db_error)?;
        schema::migrate(&mut connection).await?;
        let uri = format!("file:{name}?vfs=memdb");
        let direct = open_direct(&uri).map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore { writer: Arc::new(Writer::new(connection, direct)), readers: None })
    }

    /// Waits for running statements and closes every connection (checkpointing the WAL into
    /// the main file). Calls after this fail with [`StoreError::Database`].
    pub async fn close(&self) {
        if let Some(readers) = &self.readers {
            readers.close().await;
        }
        self.writer.close().await;
    }
}

/// The commit connection (see `writer`), on a database that exists and is migrated: the same
/// settings as the sqlx connections, and the commit statement installed.
fn open_direct(name: &str) -> rusqlite::Result<rusqlite::Connection> {
    // The default flags: read-write, URI names, no SQLite mutex (the writer lock serialises).
    let connection = rusqlite::Connection::open(name)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // Per connection, not stored in the file; WAL mode is, and the sqlx connection set it.
    connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    commit::install(&connection)?;
    Ok(connection)
}

fn open_error(path: &Path, error: sqlx::Error) -> StoreError {
    match db_error(error) {
        StoreError::Database(message) => {
            StoreError::Database(format!("cannot open {}: {message}", path.display()))
        }
        other => other,
    }
}
