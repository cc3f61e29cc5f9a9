//! Lease keepers woken through `LISTEN`/`NOTIFY` (this binary's own cluster, restarted by the
//! test): an announcement from one store (another node) ends another's wait long before its
//! pause, so does a control sent for an execution, one made while nobody waits is kept for
//! the next wait, and the listener listens again after PostgreSQL restarts. The end of an
//! execution is announced once the commit recording it is committed.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{cluster, open_store};
use serde_json::json;
use sluice_engine::{CommitBatch, ExecutionState, Lease, Store, StoreError};

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

    // Ends are announced by the commit that records them, once it is committed: not a commit
    // of a running execution, nor one refused for its lease.
    let mut ends = keeper.ends().expect("PostgreSQL announces ends");
    let lease = |node: &str, epoch| Lease {
        execution_id: "e3".to_owned(),
        node: node.to_owned(),
        epoch,
        ttl: Duration::from_secs(600),
    };
    let at = |id: &str, state| {
        let mut record = common::execution(id, "ns", "flow", chrono::Utc::now());
        record.state = state;
        record
    };
    let batch = |record, lease| CommitBatch { executions: vec![record], lease, ..CommitBatch::default() };
    other.commit(batch(at("e2", ExecutionState::Running), None)).await.unwrap();
    other.commit(batch(at("e3", ExecutionState::Running), Some(lease("a", 1)))).await.unwrap();
    other.take_lease("e3", "b", Duration::from_secs(600)).await.unwrap();
    let refused = other.commit(batch(at("e3", ExecutionState::Success), Some(lease("a", 1)))).await;
    assert!(matches!(refused, Err(StoreError::LeaseLost(_))), "{refused:?}");
    other.commit(batch(at("e2", ExecutionState::Success), None)).await.unwrap();
    let heard = tokio::time::timeout(HEARD_WITHIN, ends.recv()).await.expect("the end was announced");
    assert_eq!(heard.unwrap(), "e2", "the first end announced is e2's");
    other.commit(batch(at("e3", ExecutionState::Failed), Some(lease("b", 2)))).await.unwrap();
    assert_eq!(tokio::time::timeout(HEARD_WITHIN, ends.recv()).await.unwrap().unwrap(), "e3");

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
