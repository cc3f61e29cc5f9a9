//! Commits from many drivers at once are written together (group commit): each batch still
//! lands whole, each execution's rows keep the order its driver committed them in, and a
//! failing batch fails alone.

use std::sync::Arc;

use crate::common::*;
use sluice_engine::{CommitBatch, LogFilter, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_all_land_in_each_drivers_order() {
    let (_db, store) = open_store().await;
    let store = Arc::new(store);
    let mut drivers = Vec::new();
    for d in 0..40 {
        let store = store.clone();
        drivers.push(tokio::spawn(async move {
            let id = format!("e{d}");
            let first = CommitBatch {
                executions: vec![execution(&id, "ns", "flow", at(d, 0))],
                ..CommitBatch::default()
            };
            store.commit(first).await.unwrap();
            for step in 0..25 {
                let batch = CommitBatch {
                    task_runs: vec![(id.clone(), task_run(&format!("t{step}"), at(d, step + 1)))],
                    logs: vec![
                        log(&id, None, "INFO", &format!("{step}a")),
                        log(&id, None, "INFO", &format!("{step}b")),
                    ],
                    ..CommitBatch::default()
                };
                store.commit(batch).await.unwrap();
            }
        }));
    }
    for driver in drivers {
        driver.await.unwrap();
    }
    for d in 0..40 {
        let id = format!("e{d}");
        let runs: Vec<String> =
            store.task_runs(&id).await.unwrap().iter().map(|r| r.key.to_string()).collect();
        assert_eq!(runs, (0..25).map(|s| format!("t{s}")).collect::<Vec<_>>());
        let logs = store.logs(&id, &LogFilter::default()).await.unwrap();
        let messages: Vec<&str> = logs.iter().map(|l| l.record.message.as_str()).collect();
        let expected: Vec<String> = (0..25).flat_map(|s| [format!("{s}a"), format!("{s}b")]).collect();
        assert_eq!(messages, expected);
        assert!(logs.windows(2).all(|w| w[0].seq < w[1].seq), "seq grows with the order of commits");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_batch_fails_alone() {
    let (_db, store) = open_store().await;
    let store = Arc::new(store);
    let mut commits = Vec::new();
    for d in 0..20 {
        let store = store.clone();
        commits.push(tokio::spawn(async move {
            let id = format!("e{d}");
            let mut batch = CommitBatch {
                executions: vec![execution(&id, "ns", "flow", at(d, 0))],
                ..CommitBatch::default()
            };
            if d == 7 {
                // A foreign key no execution satisfies.
                batch.task_runs.push(("ghost".to_owned(), task_run("x", at(d, 1))));
            }
            (id, store.commit(batch).await.is_ok())
        }));
    }
    for commit in commits {
        let (id, ok) = commit.await.unwrap();
        let stored = store.get_execution(&id).await.unwrap();
        assert_eq!((ok, stored.is_some()), (id != "e7", id != "e7"), "{id}");
    }
}
