//! Waking the nodes' lease keepers through `LISTEN`/`NOTIFY` instead of leaving them to their
//! next round: an execution handed over to the workers, or a kill or resume left for the node
//! driving an execution, is announced on one channel, and every keeper listening on the
//! database runs a round at once. The listener connects the first time a keeper waits, and
//! connects again (after a pause) when its connection is lost; a wake-up may be missed then,
//! which costs the waiting keeper one round of delay, never the work.
//!
//! The end of each execution is announced too, on a channel of its own, by the commit that
//! records it (so only once it is durable): a node waiting for an execution another node runs
//! (`?wait=true` on an API-only server) hears of it at once instead of on its next look.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use sluice_engine::StoreError;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};

use crate::error::db_error;

/// The channel of every announcement of work.
const CHANNEL: &str = "sluice_work";

/// The channel of executions' ends (the payload: the execution id).
pub(crate) const ENDS: &str = "sluice_ends";

/// How many ends a slow watcher may fall behind by before it is told it lagged.
const ENDS_BACKLOG: usize = 1024;

/// The pause before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

/// What the store's clones share: the wake-up, the ends heard, and the listener feeding them.
#[derive(Debug)]
pub(crate) struct Wake {
    notify: Notify,
    ends: broadcast::Sender<String>,
    listener: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Default for Wake {
    fn default() -> Self {
        Self { notify: Notify::new(), ends: broadcast::channel(ENDS_BACKLOG).0, listener: OnceLock::new() }
    }
}

impl Wake {
    /// Until an announcement arrives (or one arrived since the last wait), at most `longest`.
    pub(crate) async fn wait(self: &Arc<Self>, pool: &PgPool, longest: Duration) {
        self.listen(pool);
        let _ = tokio::time::timeout(longest, self.notify.notified()).await;
    }

    /// The ids of the executions whose end is committed from now on (while the listener is
    /// connected: one that reconnects may miss some).
    pub(crate) fn ends(self: &Arc<Self>, pool: &PgPool) -> broadcast::Receiver<String> {
        self.listen(pool);
        self.ends.subscribe()
    }

    fn listen(self: &Arc<Self>, pool: &PgPool) {
        self.listener.get_or_init(|| tokio::spawn(listen(pool.clone(), Arc::downgrade(self))));
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.get() {
            listener.abort();
        }
    }
}

/// Tells every listening keeper to run a round.
pub(crate) async fn announce(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(pool).await.map_err(db_error)?;
    Ok(())
}

/// Feeds announcements to `wake` until the pool closes or the store is dropped.
async fn listen(pool: PgPool, wake: Weak<Wake>) {
    let woken = |wake: &Weak<Wake>| wake.upgrade().map(|w| w.notify.notify_one()).is_some();
    while !pool.is_closed() {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await
            && listener.listen_all([CHANNEL, ENDS]).await.is_ok()
        {
            // Anything announced while not listening was missed: a round costs little.
            if !woken(&wake) {
                return;
            }
            // `Ok(None)`: the connection was lost; the next call connects and listens again.
            while let Ok(Some(announced)) = listener.try_recv().await {
                let Some(wake) = wake.upgrade() else { return };
                if announced.channel() == ENDS {
                    // No one watching is no error.
                    let _ = wake.ends.send(announced.payload().to_owned());
                } else {
                    wake.notify.notify_one();
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// A part of the commit statement (after the executions, bound as `$1` ids and `$5` states):
/// announces the end of each execution the batch records as ended, delivered once the commit
/// is.
pub(crate) fn announce_ends() -> String {
    let terminal = crate::executions::terminal_states().iter().map(|s| format!("'{s}'")).collect::<Vec<_>>();
    format!(
        "ends_announced AS (SELECT pg_notify('{ENDS}', convert_from(x.id, 'UTF8')) \
         FROM unnest($1::bytea[], $5::text[]) AS x (id, state) WHERE x.state IN ({}))",
        terminal.join(", ")
    )
}
