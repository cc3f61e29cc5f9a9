//! The commit path (atomicity, upserts, creation order, two stores side by side) and the execution
//! queries.

use std::collections::BTreeMap;

use crate::common::*;
use sluice_engine::{
    CommitBatch, ExecutionFilter, ExecutionRecord, ExecutionState, LogFilter, Store, StoreError, TaskRunState,
};

fn ids(executions: &[ExecutionRecord]) -> Vec<&str> {
    executions.iter().map(|e| e.id.as_str()).collect()
}

fn keys(runs: &[sluice_engine::TaskRun]) -> Vec<String> {
    runs.iter().map(|r| r.key.to_string()).collect()
}

#[tokio::test]
async fn a_failing_row_leaves_nothing_of_its_batch() {
    let (_db, store) = open_store().await;
    let mut running = execution("e-old", "ns", "flow", at(0, 0));
    running.state = ExecutionState::Running;
    store.commit(CommitBatch { executions: vec![running.clone()], ..CommitBatch::default() }).await.unwrap();

    let mut finished = running.clone();
    finished.state = ExecutionState::Success;
    let batch = CommitBatch {
        executions: vec![finished, execution("e-new", "ns", "flow", at(1, 0))],
        task_runs: vec![
            ("e-new".to_owned(), task_run("a", at(1, 1))),
            ("e-old".to_owned(), task_run("b", at(1, 2))),
            // The last row breaks a foreign key: no such execution.
            ("ghost".to_owned(), task_run("c", at(1, 3))),
        ],
        logs: vec![log("e-new", None, "INFO", "started")],
        lease: None,
        artifacts: Vec::new(),
    };
    let error = store.commit(batch.clone()).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Database(m) if m.to_lowercase().contains("foreign key")),
        "{error:?}"
    );

    assert_eq!(store.get_execution("e-old").await.unwrap(), Some(running));
    assert_eq!(store.get_execution("e-new").await.unwrap(), None);
    assert_eq!(store.task_runs("e-new").await.unwrap(), vec![]);
    assert_eq!(store.task_runs("e-old").await.unwrap(), vec![]);
    assert_eq!(store.logs("e-new", &LogFilter::default()).await.unwrap(), vec![]);

    // The writer is usable after the rollback, and the same batch without the bad row lands.
    let mut good = batch;
    good.task_runs.pop();
    store.commit(good).await.unwrap();
    assert_eq!(store.get_execution("e-old").await.unwrap().unwrap().state, ExecutionState::Success);
    assert_eq!(keys(&store.task_runs("e-new").await.unwrap()), vec!["a"]);
    assert_eq!(store.logs("e-new", &LogFilter::default()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_log_line_rolls_back_the_task_runs_before_it() {
    let (_db, store) = open_store().await;
    let batch = CommitBatch {
        executions: vec![execution("e1", "ns", "flow", at(0, 0))],
        task_runs: vec![("e1".to_owned(), task_run("a", at(0, 1)))],
        logs: vec![log("e1", None, "INFO", "fine"), log("nobody", None, "INFO", "orphan")],
        lease: None,
        artifacts: Vec::new(),
    };
    assert!(store.commit(batch).await.is_err());
    assert_eq!(store.get_execution("e1").await.unwrap(), None);
    assert_eq!(store.task_runs("e1").await.unwrap(), vec![]);
}

#[tokio::test]
async fn an_empty_batch_is_a_no_op() {
    let (_db, store) = open_store().await;
    store.commit(CommitBatch::default()).await.unwrap();
    assert_eq!(store.list_executions(&ExecutionFilter::default()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn upserts_replace_rows_whole_and_keep_creation_order() {
    let (_db, store) = open_store().await;
    let runs = ["a", "b", "c"].map(|k| ("e1".to_owned(), task_run(k, at(1, 0))));
    store
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "flow", at(0, 0))],
            task_runs: runs.to_vec(),
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    let mut b = full_task_run("b");
    b.state = TaskRunState::Success;
    let mut a = task_run("a", at(1, 0));
    a.state = TaskRunState::Running;
    a.started_at = Some(at(2, 0));
    let d = task_run("d", at(3, 0));
    store
        .commit(CommitBatch {
            executions: Vec::new(),
            // New rows and updates mixed, in another order than creation.
            task_runs: vec![
                ("e1".to_owned(), d.clone()),
                ("e1".to_owned(), b.clone()),
                ("e1".to_owned(), a.clone()),
            ],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    let read = store.task_runs("e1").await.unwrap();
    assert_eq!(keys(&read), vec!["a", "b", "c", "d"]);
    assert_eq!(read[0], a);
    assert_eq!(read[1], b);
    assert_eq!(read[3], d);

    // Replaced whole: fields set before and unset now read back unset.
    let bare_b = task_run("b", at(1, 0));
    store
        .commit(CommitBatch { task_runs: vec![("e1".to_owned(), bare_b.clone())], ..CommitBatch::default() })
        .await
        .unwrap();
    let read = store.task_runs("e1").await.unwrap();
    assert_eq!(keys(&read), vec!["a", "b", "c", "d"]);
    assert_eq!(read[1], bare_b);

    // The same key in another execution is another task run.
    store
        .commit(CommitBatch {
            executions: vec![execution("e2", "ns", "flow", at(0, 0))],
            task_runs: vec![
                ("e2".to_owned(), task_run("b", at(5, 0))),
                ("e2".to_owned(), task_run("a", at(5, 0))),
            ],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(keys(&store.task_runs("e2").await.unwrap()), vec!["b", "a"]);
    assert_eq!(keys(&store.task_runs("e1").await.unwrap()), vec!["a", "b", "c", "d"]);
}

#[tokio::test]
async fn executions_are_replaced_whole() {
    let (_db, store) = open_store().await;
    let full = full_execution("e1");
    store.commit(CommitBatch { executions: vec![full.clone()], ..CommitBatch::default() }).await.unwrap();

    let mut bare = execution("e1", "other.ns", "other", at(3, 3));
    bare.state = ExecutionState::Running;
    store.commit(CommitBatch { executions: vec![bare.clone()], ..CommitBatch::default() }).await.unwrap();
    assert_eq!(store.get_execution("e1").await.unwrap(), Some(bare.clone()));

    // The indexes follow: the old values no longer select it, the new ones do.
    let by = |namespace: &str, flow: &str, state| ExecutionFilter {
        namespace: Some(namespace.to_owned()),
        flow_id: Some(flow.to_owned()),
        states: vec![state],
        created_after: Some(at(3, 2)),
        ..ExecutionFilter::default()
    };
    assert_eq!(
        list(&store, by("company.team", "deploy", ExecutionState::Warning)).await,
        Vec::<String>::new()
    );
    assert_eq!(list(&store, by("other.ns", "other", ExecutionState::Running)).await, ["e1"]);
    assert_eq!(
        list(&store, ExecutionFilter { labels: labels(&[("team", "infra")]), ..ExecutionFilter::default() })
            .await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_row_given_twice_in_a_batch_ends_as_its_last_version() {
    let (_db, store) = open_store().await;
    let first = execution("e1", "ns", "flow", at(0, 0));
    let mut last = full_execution("e1");
    last.state = ExecutionState::Failed;
    let mut a_then = task_run("a", at(1, 0));
    a_then.state = TaskRunState::Running;
    let a_now = full_task_run("a");
    store
        .commit(CommitBatch {
            executions: vec![first, last.clone()],
            task_runs: vec![
                ("e1".to_owned(), a_then),
                ("e1".to_owned(), task_run("b", at(1, 1))),
                ("e1".to_owned(), a_now.clone()),
            ],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    assert_eq!(store.get_execution("e1").await.unwrap(), Some(last));
    let runs = store.task_runs("e1").await.unwrap();
    assert_eq!(keys(&runs), ["a", "b"]);
    assert_eq!(runs[0], a_now);
    let failed = ExecutionFilter { states: vec![ExecutionState::Failed], ..ExecutionFilter::default() };
    assert_eq!(list(&store, failed).await, ["e1"]);
}

/// Six executions over two namespaces and flows, states, labels and creation times.
async fn seeded() -> (TestDb, TestStore) {
    let (db, store) = open_store().await;
    let make = |id: &str, namespace: &str, flow: &str, second: i64, state, labels: &[(&str, &str)]| {
        let mut e = execution(id, namespace, flow, at(second, 0));
        e.state = state;
        e.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        e
    };
    use ExecutionState::*;
    let executions = vec![
        make("e1", "prod", "deploy", 1, Success, &[("env", "prod"), ("team", "infra")]),
        make("e2", "prod", "deploy", 2, Failed, &[("env", "prod")]),
        make("e3", "prod", "backup", 3, Running, &[("team", "infra")]),
        make("e4", "dev", "deploy", 4, Running, &[("env", "dev"), ("team", "infra")]),
        make("e5", "dev", "test", 5, Queued, &[]),
        // Same creation time as e5: the id breaks the tie.
        make("e6", "dev", "test", 5, Paused, &[("env", "prod"), ("team", "web")]),
    ];
    let mut executions = executions;
    // e5 and e6 were started by subflow tasks of e4.
    executions[4].parent = Some(("e4".into(), "tests[0]".parse().unwrap()));
    executions[5].parent = Some(("e4".into(), "tests[1]".parse().unwrap()));
    store.commit(CommitBatch { executions, ..CommitBatch::default() }).await.unwrap();
    (db, store)
}

async fn list(store: &TestStore, filter: ExecutionFilter) -> Vec<String> {
    ids(&store.list_executions(&filter).await.unwrap()).into_iter().map(str::to_owned).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn list_executions_filters_and_orders_newest_first() {
    let (_db, store) = seeded().await;
    let all = ExecutionFilter::default();
    assert_eq!(list(&store, all.clone()).await, ["e6", "e5", "e4", "e3", "e2", "e1"]);

    let prod = ExecutionFilter { namespace: Some("prod".into()), ..all.clone() };
    assert_eq!(list(&store, prod.clone()).await, ["e3", "e2", "e1"]);
    let deploy = ExecutionFilter { flow_id: Some("deploy".into()), ..all.clone() };
    assert_eq!(list(&store, deploy).await, ["e4", "e2", "e1"]);
    let prod_deploy = ExecutionFilter { flow_id: Some("deploy".into()), ..prod };
    assert_eq!(list(&store, prod_deploy).await, ["e2", "e1"]);

    let active =
        ExecutionFilter { states: vec![ExecutionState::Running, ExecutionState::Queued], ..all.clone() };
    assert_eq!(list(&store, active).await, ["e5", "e4", "e3"]);
    let killed = ExecutionFilter { states: vec![ExecutionState::Killed], ..all.clone() };
    assert_eq!(list(&store, killed).await, Vec::<String>::new());

    let children = ExecutionFilter { parent: Some("e4".into()), ..all.clone() };
    assert_eq!(list(&store, children).await, ["e6", "e5"]);
    let none = ExecutionFilter { parent: Some("e5".into()), ..all.clone() };
    assert_eq!(list(&store, none).await, Vec::<String>::new());
}

#[tokio::test]
async fn list_executions_by_labels_needs_every_pair() {
    let (_db, store) = seeded().await;
    let by = |pairs: &[(&str, &str)]| ExecutionFilter { labels: labels(pairs), ..ExecutionFilter::default() };
    assert_eq!(list(&store, by(&[("env", "prod")])).await, ["e6", "e2", "e1"]);
    assert_eq!(list(&store, by(&[("team", "infra")])).await, ["e4", "e3", "e1"]);
    assert_eq!(list(&store, by(&[("env", "prod"), ("team", "infra")])).await, ["e1"]);
    assert_eq!(list(&store, by(&[("env", "dev"), ("team", "web")])).await, Vec::<String>::new());
    assert_eq!(list(&store, by(&[("env", "staging")])).await, Vec::<String>::new());
    let with_state = ExecutionFilter { states: vec![ExecutionState::Paused], ..by(&[("env", "prod")]) };
    assert_eq!(list(&store, with_state).await, ["e6"]);
}

#[tokio::test]
async fn changed_labels_are_what_filters_see() {
    let (_db, store) = seeded().await;
    let mut e2 = store.get_execution("e2").await.unwrap().unwrap();
    e2.labels = BTreeMap::from([("env".to_owned(), "staging".to_owned())]);
    e2.state = ExecutionState::Running;
    store.commit(CommitBatch { executions: vec![e2.clone()], ..CommitBatch::default() }).await.unwrap();

    let by = |k: &str, v: &str| ExecutionFilter { labels: labels(&[(k, v)]), ..ExecutionFilter::default() };
    assert_eq!(list(&store, by("env", "prod")).await, ["e6", "e1"]);
    assert_eq!(list(&store, by("env", "staging")).await, ["e2"]);
    assert_eq!(store.get_execution("e2").await.unwrap(), Some(e2));
}

#[tokio::test]
async fn list_executions_by_creation_range_excludes_both_ends() {
    let (_db, store) = seeded().await;
    let range = |after, before| ExecutionFilter {
        created_after: after,
        created_before: before,
        ..ExecutionFilter::default()
    };
    assert_eq!(list(&store, range(Some(at(2, 0)), None)).await, ["e6", "e5", "e4", "e3"]);
    assert_eq!(list(&store, range(None, Some(at(2, 0)))).await, ["e1"]);
    assert_eq!(list(&store, range(Some(at(1, 0)), Some(at(4, 1)))).await, ["e4", "e3", "e2"]);
    assert_eq!(list(&store, range(Some(at(1, 999_999_999)), Some(at(2, 1)))).await, ["e2"]);
    // Bounds beyond what the store can hold still select correctly.
    let far_past = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    let far_future = chrono::DateTime::<chrono::Utc>::MAX_UTC;
    assert_eq!(list(&store, range(Some(far_past), Some(far_future))).await.len(), 6);
    assert_eq!(list(&store, range(Some(far_future), None)).await, Vec::<String>::new());
}

#[tokio::test]
async fn list_executions_pages_with_offset_and_limit() {
    let (_db, store) = seeded().await;
    let page = |offset, limit| ExecutionFilter { offset, limit, ..ExecutionFilter::default() };
    assert_eq!(list(&store, page(0, 2)).await, ["e6", "e5"]);
    assert_eq!(list(&store, page(2, 2)).await, ["e4", "e3"]);
    assert_eq!(list(&store, page(4, 2)).await, ["e2", "e1"]);
    assert_eq!(list(&store, page(6, 2)).await, Vec::<String>::new());
    assert_eq!(list(&store, page(5, 0)).await, ["e1"]);
    let prod_page = ExecutionFilter { namespace: Some("prod".into()), ..page(1, 1) };
    assert_eq!(list(&store, prod_page).await, ["e2"]);
}

#[tokio::test]
async fn list_executions_defaults_to_a_hundred() {
    let (_db, store) = open_store().await;
    let executions: Vec<_> = (0..105).map(|n| execution(&format!("e{n:03}"), "ns", "f", at(n, 0))).collect();
    store.commit(CommitBatch { executions, ..CommitBatch::default() }).await.unwrap();

    let listed = store.list_executions(&ExecutionFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!((listed[0].id.as_str(), listed[99].id.as_str()), ("e104", "e005"));
    let more = ExecutionFilter { limit: 200, ..ExecutionFilter::default() };
    assert_eq!(store.list_executions(&more).await.unwrap().len(), 105);
}

#[tokio::test]
async fn unfinished_executions_are_the_non_terminal_ones_oldest_first() {
    let (_db, store) = seeded().await;
    let mut killing = execution("e7", "dev", "test", at(0, 0));
    killing.state = ExecutionState::Killing;
    let mut created = execution("e8", "dev", "test", at(9, 0));
    created.state = ExecutionState::Created;
    let mut cancelled = execution("e9", "dev", "test", at(9, 1));
    cancelled.state = ExecutionState::Cancelled;
    store
        .commit(CommitBatch { executions: vec![killing, created, cancelled], ..CommitBatch::default() })
        .await
        .unwrap();

    let unfinished = store.unfinished_executions().await.unwrap();
    assert_eq!(ids(&unfinished), ["e7", "e3", "e4", "e5", "e6", "e8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_commit_lands_whole_or_not_at_all() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let (_db, store) = open_store().await;
    for round in 0..20 {
        let id = format!("cancelled-{round}");
        let batch = CommitBatch {
            executions: vec![execution(&id, "ns", "flow", at(round, 0))],
            task_runs: (0..50).map(|n| (id.clone(), task_run(&format!("t{n}"), at(round, 1)))).collect(),
            logs: vec![log(&id, None, "INFO", "started")],
            lease: None,
            artifacts: Vec::new(),
        };
        // Poll once, so the statements reach the connection, then drop the caller.
        {
            let mut commit = std::pin::pin!(store.commit(batch));
            if let Poll::Ready(result) = commit.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                result.unwrap();
            }
        }
        // The next commit finds the connection usable (a half-open transaction was rolled back).
        let next = format!("next-{round}");
        store
            .commit(CommitBatch {
                executions: vec![execution(&next, "ns", "flow", at(round, 2))],
                ..CommitBatch::default()
            })
            .await
            .unwrap();
        assert!(store.get_execution(&next).await.unwrap().is_some());

        // The cancelled batch may still land a moment later (its statements had left), and
        // three reads are no snapshot: read the execution first (once it is there, the rest
        // of its batch is too), and look a few times before taking "not landed" for settled.
        for look in 0..3 {
            let landed = store.get_execution(&id).await.unwrap().is_some();
            let runs = store.task_runs(&id).await.unwrap().len();
            let lines = store.logs(&id, &LogFilter::default()).await.unwrap().len();
            if landed {
                assert_eq!((runs, lines), (50, 1), "round {round}: a landed batch is whole");
                break;
            }
            if (runs, lines) == (0, 0) {
                if look == 2 {
                    break; // did not land, and left nothing
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // Otherwise it landed between the reads: look again.
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_commit_side_by_side() {
    // Two stores on one database stand for two processes (or servers): their commits to one
    // execution wait for each other.
    let (db, first) = open_store().await;
    let second = db.open_again().await;
    first
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "f", at(0, 0))],
            ..CommitBatch::default()
        })
        .await
        .unwrap();
    let mut writers = Vec::new();
    for n in 0..8 {
        let store = if n % 2 == 0 { first.clone() } else { second.clone() };
        writers.push(tokio::spawn(async move {
            for step in 0..25 {
                let run = task_run(&format!("w{n}s{step}"), at(1, 0));
                let logs = vec![log("e1", None, "INFO", &format!("{n}/{step}"))];
                store
                    .commit(CommitBatch {
                        task_runs: vec![("e1".to_owned(), run)],
                        logs,
                        ..CommitBatch::default()
                    })
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let runs = first.task_runs("e1").await.unwrap();
    assert_eq!(runs.len(), 200);
    // Each writer's runs are in its own order.
    for n in 0..8 {
        let mine: Vec<_> = keys(&runs).into_iter().filter(|k| k.starts_with(&format!("w{n}s"))).collect();
        assert_eq!(mine, (0..25).map(|s| format!("w{n}s{s}")).collect::<Vec<_>>());
    }
    let lines = second.logs("e1", &LogFilter::default()).await.unwrap();
    assert_eq!(lines.len(), 200);
    assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq));
}
