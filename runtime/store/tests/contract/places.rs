//! Places under a flow's `concurrency.limit`: taken while there is room and no one waits,
//! queued in order, freed by the commit recording an execution's end, admitted oldest first
//! under the limit each was queued with; executions recorded live without a place count too;
//! two stores on one database never hand out more places than the limit.

use std::sync::Arc;

use crate::common::*;
use sluice_engine::{CommitBatch, ExecutionState, FlowPlace, PlaceAsk, PlaceOutcome, Store};

fn place(id: &str, limit: u32) -> FlowPlace<'_> {
    FlowPlace { namespace: "ns", flow_id: "f", execution_id: id, limit }
}

/// Records execution `id` of flow `ns.f` in `state`.
async fn record(store: &TestStore, id: &str, state: ExecutionState) {
    let mut record = execution(id, "ns", "f", at(1, 0));
    record.state = state;
    store.commit(CommitBatch { executions: vec![record], ..CommitBatch::default() }).await.unwrap();
}

#[tokio::test]
async fn places_queue_in_order_and_the_end_of_a_running_one_admits_the_oldest_waiting() {
    let (_db, store) = open_store().await;
    for id in ["e1", "e2"] {
        assert_eq!(
            store.take_place(&place(id, 2), PlaceAsk::StartOrQueue).await.unwrap(),
            PlaceOutcome::Running
        );
        record(&store, id, ExecutionState::Running).await;
    }
    for id in ["e3", "e4"] {
        assert_eq!(
            store.take_place(&place(id, 2), PlaceAsk::StartOrQueue).await.unwrap(),
            PlaceOutcome::Queued
        );
        record(&store, id, ExecutionState::Queued).await;
    }
    assert_eq!(
        store.take_place(&place("e5", 5), PlaceAsk::Start).await.unwrap(),
        PlaceOutcome::Over { running: 2, queued: 2 },
        "a newcomer does not overtake those waiting, even under a higher limit"
    );
    assert_eq!(
        store.admitted_places(&["e5".to_owned()]).await.unwrap(),
        Vec::<String>::new(),
        "nothing written"
    );
    assert!(store.promote_places("ns", "f").await.unwrap().is_empty(), "no room yet");

    record(&store, "e1", ExecutionState::Success).await;
    assert_eq!(store.promote_places("ns", "f").await.unwrap(), ["e3"]);
    assert!(store.promote_places("ns", "f").await.unwrap().is_empty(), "e2 and e3 run");
    let asked = ["e3".to_owned(), "e4".to_owned(), "e1".to_owned()];
    assert_eq!(store.admitted_places(&asked).await.unwrap(), ["e3"]);

    // A queued one killed frees its turn; one ending leaves no one to admit.
    record(&store, "e4", ExecutionState::Killed).await;
    record(&store, "e2", ExecutionState::Failed).await;
    assert!(store.promote_places("ns", "f").await.unwrap().is_empty());
    assert_eq!(store.take_place(&place("e6", 2), PlaceAsk::Start).await.unwrap(), PlaceOutcome::Running);
    assert_eq!(
        store.take_place(&place("e7", 2), PlaceAsk::Start).await.unwrap(),
        PlaceOutcome::Over { running: 2, queued: 0 },
        "e3 and e6 run"
    );
}

#[tokio::test]
async fn executions_running_without_a_place_count_and_other_flows_do_not() {
    let (_db, store) = open_store().await;
    // Started under a revision without a limit: recorded live, no place.
    record(&store, "old1", ExecutionState::Running).await;
    record(&store, "old2", ExecutionState::Paused).await;
    record(&store, "done", ExecutionState::Success).await;
    let mut other = execution("other", "ns", "g", at(1, 0));
    other.state = ExecutionState::Running;
    store.commit(CommitBatch { executions: vec![other], ..CommitBatch::default() }).await.unwrap();

    assert_eq!(store.take_place(&place("new1", 3), PlaceAsk::Start).await.unwrap(), PlaceOutcome::Running);
    assert_eq!(
        store.take_place(&place("new2", 3), PlaceAsk::Start).await.unwrap(),
        PlaceOutcome::Over { running: 3, queued: 0 }
    );
    // Asking again for one holding a place does not count it against itself.
    assert_eq!(store.take_place(&place("new1", 3), PlaceAsk::Start).await.unwrap(), PlaceOutcome::Running);
    record(&store, "old1", ExecutionState::Success).await;
    assert_eq!(store.take_place(&place("new2", 3), PlaceAsk::Start).await.unwrap(), PlaceOutcome::Running);
}

#[tokio::test]
async fn a_requeue_keeps_the_turn_and_a_released_or_lapsed_place_no_longer_counts() {
    let (db, store) = open_store().await;
    assert_eq!(
        store.take_place(&place("run", 1), PlaceAsk::StartOrQueue).await.unwrap(),
        PlaceOutcome::Running
    );
    assert_eq!(
        store.take_place(&place("q1", 1), PlaceAsk::StartOrQueue).await.unwrap(),
        PlaceOutcome::Queued
    );
    assert_eq!(store.take_place(&place("q2", 1), PlaceAsk::Requeue).await.unwrap(), PlaceOutcome::Queued);
    // Recovered again: q1 keeps its turn ahead of q2, and a running place stays running.
    assert_eq!(store.take_place(&place("q1", 1), PlaceAsk::Requeue).await.unwrap(), PlaceOutcome::Queued);
    assert_eq!(store.take_place(&place("run", 1), PlaceAsk::Requeue).await.unwrap(), PlaceOutcome::Running);
    assert_eq!(db.count("flow_places").await, 3);

    store.release_place("run").await.unwrap();
    assert_eq!(store.promote_places("ns", "f").await.unwrap(), ["q1"]);

    // q1's execution was never recorded (its node died before its first commit): its place
    // counts for a minute, then lapses.
    assert!(store.promote_places("ns", "f").await.unwrap().is_empty());
    db.execute("UPDATE flow_places SET taken_at = taken_at - 120000 WHERE execution_id = 'q1'").await;
    assert_eq!(store.promote_places("ns", "f").await.unwrap(), ["q2"]);
    assert_eq!(db.count("flow_places").await, 1, "the lapsed place is gone");
}

#[tokio::test]
async fn two_stores_taking_places_at_once_never_exceed_the_limit() {
    let (db, first) = open_store().await;
    let stores = [Arc::new(first), Arc::new(db.open_again().await)];
    let mut takers = Vec::new();
    for n in 0..12 {
        let store = stores[n % 2].clone();
        takers.push(tokio::spawn(async move {
            let id = format!("x{n}");
            store.take_place(&place(&id, 3), PlaceAsk::Start).await.unwrap()
        }));
    }
    let mut running = 0;
    for taker in takers {
        match taker.await.unwrap() {
            PlaceOutcome::Running => running += 1,
            PlaceOutcome::Over { running: 3, queued: 0 } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(running, 3);
}
