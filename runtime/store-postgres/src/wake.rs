//! Waking the nodes' lease keepers through `LISTEN`/`NOTIFY` instead of leaving them to their
//! next round: an execution handed over to the workers, or a kill or resume left for the node
//! driving an execution, is announced on one channel, and every keeper listening on the
//! database runs a round at once. The listener connects the first time a keeper waits, and
//! connects again (after a pause) when its connection is lost; a wake-up may be missed then,
//! which costs the waiting keeper one round of delay, never the work.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use sluice_engine::StoreError;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use crate::error::db_error;

/// The channel of every announcement.
const CHANNEL: &str = "sluice_work";

/// The pause before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

/// What the store's clones share: the wake-up and the listener feeding it.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
    listener: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Wake {
    /// Until an announcement arrives (or one arrived since the last wait), at most `longest`.
    pub(crate) async fn wait(self: &Arc<Self>, pool: &PgPool, longest: Duration) {
        self.listener.get_or_init(|| tokio::spawn(listen(pool.clone(), Arc::downgrade(self))));
        let _ = tokio::time::timeout(longest, self.notify.notified()).await;
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
            && listener.listen(CHANNEL).await.is_ok()
        {
            // Anything announced while not listening was missed: a round costs little.
            if !woken(&wake) {
                return;
            }
            // `Ok(None)`: the connection was lost; the next call connects and listens again.
            while let Ok(_announced) = listener.try_recv().await {
                if !woken(&wake) {
                    return;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
