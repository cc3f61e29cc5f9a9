//! Log lines: the filters (task run, task, level), following with `after_seq`, and each
//! execution's own numbering.

use sluice_engine::{CommitBatch, LogFilter, Store, StoreError};

use crate::common::*;

/// Ten lines: engine lines and two task runs', at every level.
async fn with_logs() -> (TestDb, TestStore) {
    let (db, store) = open_store().await;
    let lines = vec![
        log("e1", None, "INFO", "0 started"),
        log("e1", Some("build"), "DEBUG", "1 resolving"),
        log("e1", Some("build"), "INFO", "2 compiling"),
        log("e1", Some("test[0]"), "TRACE", "3 env"),
        log("e1", Some("build"), "WARN", "4 deprecated"),
        log("e1", Some("test[0]"), "ERROR", "5 failed"),
        log("e1", Some("test[1]"), "INFO", "6 ok"),
        log("e1", None, "WARN", "7 retrying"),
        log("e1", Some("build"), "ERROR", "8 broke"),
        log("e1", None, "INFO", "9 finished"),
    ];
    store
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "f", at(0, 0)), execution("e2", "ns", "f", at(0, 0))],
            task_runs: Vec::new(),
            logs: vec![log("e2", Some("build"), "ERROR", "other execution")],
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    // Several commits, as the engine makes them.
    for chunk in lines.chunks(3) {
        store.commit(CommitBatch { logs: chunk.to_vec(), ..CommitBatch::default() }).await.unwrap();
    }
    (db, store)
}

async fn messages(store: &TestStore, filter: LogFilter) -> Vec<String> {
    let lines = store.logs("e1", &filter).await.unwrap();
    lines.into_iter().map(|l| l.record.message).collect()
}

#[tokio::test]
async fn logs_filter_by_task_run_and_level() {
    let (_db, store) = with_logs().await;
    let all = LogFilter::default();
    assert_eq!(messages(&store, all.clone()).await.len(), 10);

    let build = LogFilter { task_run: Some(key("build")), ..all.clone() };
    assert_eq!(
        messages(&store, build.clone()).await,
        ["1 resolving", "2 compiling", "4 deprecated", "8 broke"]
    );
    let test0 = LogFilter { task_run: Some(key("test[0]")), ..all.clone() };
    assert_eq!(messages(&store, test0).await, ["3 env", "5 failed"]);
    let every_test = LogFilter { task: Some("test".into()), ..all.clone() };
    assert_eq!(messages(&store, every_test).await, ["3 env", "5 failed", "6 ok"]);
    let whole_id = LogFilter { task: Some("build".into()), ..all.clone() };
    assert_eq!(messages(&store, whole_id).await, ["1 resolving", "2 compiling", "4 deprecated", "8 broke"]);
    for prefix in ["tes", "test[", "buil"] {
        let partial = LogFilter { task: Some(prefix.into()), ..all.clone() };
        assert_eq!(messages(&store, partial).await, Vec::<String>::new(), "{prefix}");
    }

    let warn = LogFilter { min_level: Some("WARN".into()), ..all.clone() };
    assert_eq!(messages(&store, warn).await, ["4 deprecated", "5 failed", "7 retrying", "8 broke"]);
    let info = LogFilter { min_level: Some("info".into()), ..all.clone() };
    assert_eq!(messages(&store, info).await.len(), 8);
    let trace = LogFilter { min_level: Some("TRACE".into()), ..all.clone() };
    assert_eq!(messages(&store, trace).await.len(), 10);
    let build_errors = LogFilter { min_level: Some("ERROR".into()), ..build };
    assert_eq!(messages(&store, build_errors).await, ["8 broke"]);

    let unknown = LogFilter { min_level: Some("LOUD".into()), ..all };
    assert!(matches!(store.logs("e1", &unknown).await, Err(StoreError::Database(m)) if m.contains("LOUD")));
    assert_eq!(store.logs("nobody", &LogFilter::default()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn logs_can_be_followed_with_after_seq() {
    let (_db, store) = with_logs().await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .logs("e1", &LogFilter { after_seq: after, limit: Some(4), ..LogFilter::default() })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = Some(page.last().unwrap().seq);
        seen.extend(page);
    }
    let messages: Vec<_> = seen.iter().map(|l| l.record.message.clone()).collect();
    assert_eq!(messages.len(), 10);
    assert!(messages.iter().enumerate().all(|(n, m)| m.starts_with(&format!("{n} "))), "{messages:?}");
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));

    // A line committed later is picked up after the last seen one.
    store
        .commit(CommitBatch { logs: vec![log("e1", None, "INFO", "10 late")], ..CommitBatch::default() })
        .await
        .unwrap();
    let next = store.logs("e1", &LogFilter { after_seq: after, ..LogFilter::default() }).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].record.message, "10 late");

    // after_seq combines with the other filters.
    let third = seen[2].seq;
    let errors_after =
        LogFilter { after_seq: Some(third), min_level: Some("ERROR".into()), ..LogFilter::default() };
    assert_eq!(messages_of(store.logs("e1", &errors_after).await.unwrap()), ["5 failed", "8 broke"]);
    let limit_zero = LogFilter { limit: Some(0), ..LogFilter::default() };
    assert_eq!(store.logs("e1", &limit_zero).await.unwrap(), vec![]);
}

#[tokio::test]
async fn each_execution_numbers_its_own_lines_in_order() {
    let (_db, store) = open_store().await;
    let executions = vec![execution("e1", "ns", "f", at(0, 0)), execution("e2", "ns", "f", at(0, 0))];
    let interleaved = |round: usize| -> Vec<_> {
        (0..6)
            .map(|n| log(if n % 2 == 0 { "e1" } else { "e2" }, None, "INFO", &format!("{round}.{n}")))
            .collect()
    };
    store
        .commit(CommitBatch {
            executions,
            task_runs: Vec::new(),
            logs: interleaved(0),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    store.commit(CommitBatch { logs: interleaved(1), ..CommitBatch::default() }).await.unwrap();

    for (id, expected) in [
        ("e1", ["0.0", "0.2", "0.4", "1.0", "1.2", "1.4"]),
        ("e2", ["0.1", "0.3", "0.5", "1.1", "1.3", "1.5"]),
    ] {
        let lines = store.logs(id, &LogFilter::default()).await.unwrap();
        assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq), "{lines:?}");
        assert_eq!(messages_of(lines), expected);
    }
}

fn messages_of(lines: Vec<sluice_engine::StoredLog>) -> Vec<String> {
    lines.into_iter().map(|l| l.record.message).collect()
}
