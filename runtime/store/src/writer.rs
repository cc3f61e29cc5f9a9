//! The one connection every write goes through.
//!
//! SQLite has one writer at a time, so the store keeps a single write connection behind a fair
//! async mutex instead of a pool: writers queue in order, the connection's prepared statements
//! stay warm, and there is no per-use pool bookkeeping (a pool pings each connection it takes
//! back, which costs a round trip to the connection's worker thread).

use sluice_engine::StoreError;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct Writer(Mutex<Option<SqliteConnection>>, crate::commit::Queue);

impl Writer {
    pub(crate) fn new(connection: SqliteConnection) -> Self {
        Self(Mutex::new(Some(connection)), crate::commit::Queue::default())
    }

    /// Commits waiting to be written together (see `commit`).
    pub(crate) fn commits(&self) -> &crate::commit::Queue {
        &self.1
    }

    /// Waits for the connection. A transaction that a cancelled caller left open is rolled
    /// back before the next statement runs: sqlx queues the rollback when the transaction drops.
    pub(crate) async fn lock(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>, StoreError> {
        MutexGuard::try_map(self.0.lock().await, Option::as_mut)
            .map_err(|_| StoreError::Database("the store is closed".to_owned()))
    }

    /// Closes the connection after the writes queued before this call; later writes fail.
    pub(crate) async fn close(&self) {
        if let Some(connection) = self.0.lock().await.take()
            && let Err(error) = connection.close().await
        {
            tracing::warn!(%error, "closing the store's write connection");
        }
    }
}
