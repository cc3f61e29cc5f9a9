//! Lease keepers woken through `LISTEN`/`NOTIFY` (this binary's own cluster, restarted by the
//! test): an announcement from one store (another node) ends another's wait long before its
//! pause, so does a control sent for an execution, one made while nobody waits is kept for
//! the next wait, and the listener listens again after PostgreSQL restarts.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{cluster, open_store};
use serde_json::json;
use sluice_engine::{CommitBatch, Store};

/// Far longer than any wake-up takes: a wait this long means the announcement was not heard.
const PAUSE: Duration = Duration::from_secs(120);
const HEARD_WITHIN: Duration = Duration::from_secs(20);

/// Waits on `store` in a task, then runs `announce` once the wait has begun listening.
async fn woken_by<F: Future<Output = ()>>(store: &common::TestStore, announce: F) {
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.wait_for_work(PAUSE).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    announce.await;
    tokio::time::timeout(HEARD_WITHIN, waiting).await.expect("the wait heard the announcement").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn announcements_wake_the_waiting_keepers_also_after_a_restart() {
    let (db, keeper) = open_store().await;
    let other = db.open_again().await;
    let record = common::execution("e1", "ns", "flow", chrono::Utc::now());
    other.commit(CommitBatch { executions: vec![record], ..CommitBatch::default() }).await.unwrap();
    // The first wait starts the listener, which wakes once when it begins to listen.
    tokio::time::timeout(HEARD_WITHIN, keeper.wait_for_work(PAUSE)).await.unwrap();

    woken_by(&keeper, async { other.announce_work().await.unwrap() }).await;
    woken_by(&keeper, async { other.send_control("e1", &json!({"kill": {}})).await.unwrap() }).await;

    // Announced while nobody waits: the next wait returns at once.
    other.announce_work().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::time::timeout(HEARD_WITHIN, keeper.wait_for_work(PAUSE)).await.unwrap();

    tokio::task::spawn_blocking(|| cluster::cluster().restart(Duration::from_millis(500))).await.unwrap();
    // Listening again wakes once (something may have been missed meanwhile), then as before.
    tokio::time::timeout(HEARD_WITHIN, keeper.wait_for_work(PAUSE)).await.unwrap();
    let announced = async {
        // The other store's pool finds out about the restart on its first statement.
        while other.announce_work().await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    woken_by(&keeper, announced).await;
}
