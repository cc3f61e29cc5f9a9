//! Execution leases: a commit carries its writer's lease and is refused whole once another
//! node holds it; renewals say which leases were lost; claims take only expired (or missing)
//! leases of unfinished executions, each to one claimer, and a restarted node may take its own
//! back at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use sluice_engine::{CommitBatch, ExecutionState, Lease, LogFilter, Store, StoreError};

const LONG: Duration = Duration::from_secs(600);

fn lease(id: &str, node: &str, epoch: u64, ttl: Duration) -> Lease {
    Lease { execution_id: id.to_owned(), node: node.to_owned(), epoch, ttl }
}

/// Creates execution `id` (created `seconds` after the test epoch) under `lease`, if any.
async fn create(store: &TestStore, id: &str, seconds: i64, lease: Option<Lease>) {
    let batch = CommitBatch {
        executions: vec![execution(id, "ns", "flow", at(seconds, 0))],
        lease,
        ..CommitBatch::default()
    };
    store.commit(batch).await.unwrap();
}

/// Lets leases written with a zero `ttl` expire by the database's millisecond clock.
async fn let_expire() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn ids(leases: &[Lease]) -> Vec<&str> {
    leases.iter().map(|l| l.execution_id.as_str()).collect()
}

#[tokio::test]
async fn a_commit_under_a_lease_taken_over_is_refused_whole_and_the_new_owner_goes_on() {
    let (_db, store) = open_store().await;
    create(&store, "e1", 1, Some(lease("e1", "a", 1, Duration::ZERO))).await;
    let_expire().await;
    let claimed = store.claim_leases("b", &[], LONG, 10, false).await.unwrap();
    assert_eq!(claimed, vec![lease("e1", "b", 2, LONG)]);

    let stale = CommitBatch {
        task_runs: vec![("e1".to_owned(), task_run("build", at(2, 0)))],
        logs: vec![log("e1", Some("build"), "INFO", "from the old owner")],
        lease: Some(lease("e1", "a", 1, LONG)),
        ..CommitBatch::default()
    };
    match store.commit(stale).await {
        Err(StoreError::LeaseLost(id)) => assert_eq!(id, "e1"),
        other => panic!("the old owner's commit must be refused, got {other:?}"),
    }
    assert!(store.task_runs("e1").await.unwrap().is_empty(), "nothing of the refused batch landed");
    assert!(store.logs("e1", &LogFilter::default()).await.unwrap().is_empty());

    let current = CommitBatch {
        task_runs: vec![("e1".to_owned(), task_run("build", at(3, 0)))],
        lease: Some(lease("e1", "b", 2, LONG)),
        ..CommitBatch::default()
    };
    store.commit(current).await.unwrap();
    assert_eq!(store.task_runs("e1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn renewals_extend_held_leases_and_name_the_lost_ones() {
    let (_db, store) = open_store().await;
    create(&store, "held", 1, Some(lease("held", "a", 1, Duration::ZERO))).await;
    create(&store, "taken", 2, Some(lease("taken", "a", 1, Duration::ZERO))).await;
    let_expire().await;
    // `held` is renewed before anyone claims; `taken` is claimed by b first.
    let renewed = store.renew_leases(&[lease("held", "a", 1, LONG)]).await.unwrap();
    assert!(renewed.is_empty());
    assert_eq!(ids(&store.claim_leases("b", &[], LONG, 10, false).await.unwrap()), ["taken"]);

    let given = [lease("held", "a", 1, LONG), lease("taken", "a", 1, LONG), lease("unwritten", "a", 1, LONG)];
    assert_eq!(store.renew_leases(&given).await.unwrap(), ["taken"], "a lease not written yet is not lost");
    assert!(store.claim_leases("c", &[], LONG, 10, false).await.unwrap().is_empty(), "both are held now");
}

#[tokio::test]
async fn claims_take_unfinished_executions_whose_lease_expired_or_is_missing_oldest_first() {
    let (_db, store) = open_store().await;
    create(&store, "live", 1, Some(lease("live", "a", 1, LONG))).await;
    create(&store, "expired", 3, Some(lease("expired", "a", 1, Duration::ZERO))).await;
    create(&store, "legacy", 2, None).await;
    let mut done = execution("done", "ns", "flow", at(0, 0));
    done.state = ExecutionState::Success;
    store
        .commit(CommitBatch {
            executions: vec![done],
            lease: Some(lease("done", "a", 1, Duration::ZERO)),
            ..CommitBatch::default()
        })
        .await
        .unwrap();
    let_expire().await;

    let claimed = store.claim_leases("b", &[], LONG, 10, false).await.unwrap();
    assert_eq!(claimed, vec![lease("legacy", "b", 1, LONG), lease("expired", "b", 2, LONG)]);
    assert!(store.claim_leases("b", &[], LONG, 10, false).await.unwrap().is_empty(), "nothing else is free");

    // A restarted node takes back its own at once, even unexpired; others' stay.
    assert!(store.claim_leases("a", &[], LONG, 10, false).await.unwrap().is_empty());
    assert_eq!(
        store.claim_leases("a", &[], LONG, 10, true).await.unwrap(),
        vec![lease("live", "a", 2, LONG)]
    );
    assert_eq!(ids(&store.claim_leases("b", &[], LONG, 10, true).await.unwrap()), ["legacy", "expired"]);
}

#[tokio::test]
async fn a_claim_takes_at_most_its_limit() {
    let (_db, store) = open_store().await;
    for n in 0..5 {
        create(&store, &format!("e{n}"), n, Some(lease(&format!("e{n}"), "a", 1, Duration::ZERO))).await;
    }
    let_expire().await;
    assert_eq!(ids(&store.claim_leases("b", &[], LONG, 2, false).await.unwrap()), ["e0", "e1"]);
    assert_eq!(ids(&store.claim_leases("b", &[], LONG, 10, false).await.unwrap()), ["e2", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_claimers_each_expired_execution_goes_to_exactly_one() {
    let (db, store) = open_store().await;
    for n in 0..40 {
        create(&store, &format!("e{n:02}"), n, Some(lease(&format!("e{n:02}"), "dead", 1, Duration::ZERO)))
            .await;
    }
    let_expire().await;
    let mut claimers = Vec::new();
    for c in 0..4 {
        // Each claimer its own store on the database, as each server has.
        let store = Arc::new(db.open_again().await);
        claimers.push(tokio::spawn(async move {
            let node = format!("node{c}");
            let mut mine = Vec::new();
            loop {
                let got = store.claim_leases(&node, &[], LONG, 3, false).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got);
            }
        }));
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    for claimer in claimers {
        for lease in claimer.await.unwrap() {
            assert_eq!(lease.epoch, 2);
            let previous = owner.insert(lease.execution_id.clone(), lease.node.clone());
            assert!(previous.is_none(), "{} was claimed twice", lease.execution_id);
        }
    }
    assert_eq!(owner.len(), 40, "every expired execution was claimed");
    drop(store);
}

#[tokio::test]
async fn taking_a_finished_executions_lease_fences_its_last_holder() {
    let (_db, store) = open_store().await;
    let mut record = execution("e1", "ns", "flow", at(1, 0));
    record.state = ExecutionState::Failed;
    store
        .commit(CommitBatch {
            executions: vec![record.clone()],
            lease: Some(lease("e1", "a", 1, LONG)),
            ..CommitBatch::default()
        })
        .await
        .unwrap();

    assert_eq!(store.take_lease("e1", "b", LONG).await.unwrap(), lease("e1", "b", 2, LONG));
    let late = CommitBatch {
        executions: vec![record],
        lease: Some(lease("e1", "a", 1, LONG)),
        ..CommitBatch::default()
    };
    assert!(matches!(store.commit(late).await, Err(StoreError::LeaseLost(_))));
    assert_eq!(store.renew_leases(&[lease("e1", "a", 1, LONG)]).await.unwrap(), ["e1"]);
}

#[tokio::test]
async fn control_requests_are_taken_once_in_order_and_only_for_the_executions_named() {
    let (_db, store) = open_store().await;
    create(&store, "e1", 1, None).await;
    create(&store, "e2", 2, None).await;
    store.send_control("e1", &serde_json::json!({"kill": {}})).await.unwrap();
    store.send_control("e2", &serde_json::json!({"resume": {"run": "gate"}})).await.unwrap();
    store.send_control("e1", &serde_json::json!({"resume": {"run": "a\u{0}b"}})).await.unwrap();

    assert!(store.take_controls(&[]).await.unwrap().is_empty());
    let taken = store.take_controls(&["e1".to_owned(), "nobody".to_owned()]).await.unwrap();
    assert_eq!(
        taken,
        vec![
            ("e1".to_owned(), serde_json::json!({"kill": {}})),
            ("e1".to_owned(), serde_json::json!({"resume": {"run": "a\u{0}b"}}))
        ]
    );
    assert!(store.take_controls(&["e1".to_owned()]).await.unwrap().is_empty(), "taken once");
    let rest = store.take_controls(&["e2".to_owned()]).await.unwrap();
    assert_eq!(rest, vec![("e2".to_owned(), serde_json::json!({"resume": {"run": "gate"}}))]);
}

#[tokio::test]
async fn the_cluster_status_counts_live_nodes_held_leases_and_executions_awaiting_takeover() {
    let (_db, store) = open_store().await;
    assert_eq!(store.cluster_status().await.unwrap(), sluice_engine::ClusterStatus::default());
    store.heartbeat("a", LONG).await.unwrap();
    store.heartbeat("b", Duration::ZERO).await.unwrap();
    create(&store, "held", 1, Some(lease("held", "a", 1, LONG))).await;
    create(&store, "expired", 2, Some(lease("expired", "b", 1, Duration::ZERO))).await;
    create(&store, "legacy", 3, None).await;
    let mut done = execution("done", "ns", "flow", at(4, 0));
    done.state = ExecutionState::Success;
    let batch = CommitBatch {
        executions: vec![done],
        lease: Some(lease("done", "a", 1, LONG)),
        ..CommitBatch::default()
    };
    store.commit(batch).await.unwrap();
    let_expire().await;
    let status = store.cluster_status().await.unwrap();
    assert_eq!(status, sluice_engine::ClusterStatus { nodes_alive: 1, leases: 1, awaiting_takeover: 2 });

    store.heartbeat("b", LONG).await.unwrap();
    store.claim_leases("b", &[], LONG, 10, false).await.unwrap();
    let status = store.cluster_status().await.unwrap();
    assert_eq!(status, sluice_engine::ClusterStatus { nodes_alive: 2, leases: 3, awaiting_takeover: 0 });
}

fn tags(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn a_claim_takes_only_the_executions_whose_worker_tags_the_node_holds() {
    let (_db, store) = open_store().await;
    // Recorded before the first commit, as a node handing an execution to workers does.
    store.set_worker_tags("docker", &tags(&["docker"])).await.unwrap();
    store.set_worker_tags("gpu", &tags(&["docker", "gpu"])).await.unwrap();
    for (n, id) in ["plain", "docker", "gpu"].into_iter().enumerate() {
        create(&store, id, n as i64, None).await;
    }
    assert_eq!(ids(&store.claim_leases("a", &[], LONG, 10, false).await.unwrap()), ["plain"]);
    let linux = tags(&["docker", "linux"]);
    assert_eq!(ids(&store.claim_leases("b", &linux, LONG, 10, false).await.unwrap()), ["docker"]);
    assert!(store.claim_leases("b", &linux, LONG, 10, false).await.unwrap().is_empty());
    // Tags written again replace the old ones.
    store.set_worker_tags("gpu", &tags(&["gpu"])).await.unwrap();
    let gpu = tags(&["gpu"]);
    assert_eq!(ids(&store.claim_leases("c", &gpu, LONG, 10, false).await.unwrap()), ["gpu"]);
}
