//! The connections every write goes through, behind one lock.
//!
//! SQLite has one writer at a time, so the store keeps its write connections behind a fair
//! async mutex instead of a pool: writers queue in order, prepared statements stay warm, and
//! there is no per-use pool bookkeeping (a pool pings each connection it takes back, which
//! costs a round trip to the connection's worker thread).
//!
//! Two connections to the same database share the lock:
//! - an sqlx connection for the occasional writes (flows, schedules, artifacts, migrations);
//! - a rusqlite connection for the engine's commits, the hot path. sqlx runs every statement
//!   on a worker thread of its own, and the two thread wake-ups of that hand-off cost more
//!   than the statement itself (a profile of the commit bench: a third of the time in
//!   futex wake-ups and context switches). rusqlite runs it on the caller's thread.
//!
//! As only the lock holder writes, the two never wait for each other's SQLite lock.

use sluice_engine::StoreError;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct Writer {
    connections: Mutex<Option<Connections>>,
    commits: crate::commit::Queue,
}

#[derive(Debug)]
struct Connections {
    sqlx: SqliteConnection,
    direct: rusqlite::Connection,
}

impl Writer {
    pub(crate) fn new(sqlx: SqliteConnection, direct: rusqlite::Connection) -> Self {
        Self { connections: Mutex::new(Some(Connections { sqlx, direct })), commits: Default::default() }
    }

    /// Commits waiting to be written together (see `commit`).
    pub(crate) fn commits(&self) -> &crate::commit::Queue {
        &self.commits
    }

    /// Waits for the lock and hands out the sqlx connection. A transaction that a cancelled
    /// caller left open is rolled back before the next statement runs: sqlx queues the
    /// rollback when the transaction drops.
    pub(crate) async fn lock(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>, StoreError> {
        self.lock_with(|c| &mut c.sqlx).await
    }

    /// Waits for the lock and hands out the connection that runs statements on this thread.
    /// Its callers run one autocommit statement at a time and hold no transaction across an
    /// await, so a cancelled caller leaves nothing open.
    pub(crate) async fn lock_direct(&self) -> Result<MappedMutexGuard<'_, rusqlite::Connection>, StoreError> {
        self.lock_with(|c| &mut c.direct).await
    }

    async fn lock_with<T: 'static>(
        &self,
        pick: impl FnOnce(&mut Connections) -> &mut T,
    ) -> Result<MappedMutexGuard<'_, T>, StoreError> {
        MutexGuard::try_map(self.connections.lock().await, |c| c.as_mut().map(pick))
            .map_err(|_| StoreError::Database("the store is closed".to_owned()))
    }

    /// Closes the connections after the writes queued before this call; later writes fail.
    pub(crate) async fn close(&self) {
        let Some(Connections { sqlx, direct }) = self.connections.lock().await.take() else {
            return;
        };
        if let Err((_, error)) = direct.close() {
            tracing::warn!(%error, "closing the store's commit connection");
        }
        if let Err(error) = sqlx.close().await {
            tracing::warn!(%error, "closing the store's write connection");
        }
    }
}
