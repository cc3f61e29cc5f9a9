//! Every record reads back exactly as written, with optional fields set and unset; rows the
//! engine cannot understand read back as `Corrupt`, naming the row.

use crate::common::*;
use chrono::Utc;
use serde_json::json;
use sluice_engine::{
    CommitBatch, ExecutionFilter, ExecutionRecord, LogFilter, Store, StoreError, TaskRunState,
};

async fn commit_execution(store: &impl Store, execution: &ExecutionRecord) {
    store
        .commit(CommitBatch { executions: vec![execution.clone()], ..CommitBatch::default() })
        .await
        .unwrap();
}

#[tokio::test]
async fn execution_with_every_field_set_round_trips() {
    let (_db, store) = open_store().await;
    let execution = full_execution("e-full");
    commit_execution(&store, &execution).await;

    assert_eq!(store.get_execution("e-full").await.unwrap(), Some(execution.clone()));
    assert_eq!(store.list_executions(&ExecutionFilter::default()).await.unwrap(), vec![execution]);
}

#[tokio::test]
async fn execution_with_every_optional_field_unset_round_trips() {
    let (_db, store) = open_store().await;
    let execution = execution("e-bare", "ns", "flow", at(0, 1));
    commit_execution(&store, &execution).await;

    assert_eq!(store.get_execution("e-bare").await.unwrap(), Some(execution));
    assert_eq!(store.get_execution("missing").await.unwrap(), None);
}

#[tokio::test]
async fn json_null_is_kept_apart_from_absent() {
    let (_db, store) = open_store().await;
    let mut execution = execution("e-null", "ns", "flow", at(0, 0));
    execution.outputs = Some(serde_json::Value::Null);
    execution.trigger = Some(serde_json::Value::Null);
    execution.inputs = serde_json::Value::Null;
    commit_execution(&store, &execution).await;

    let read = store.get_execution("e-null").await.unwrap().unwrap();
    assert_eq!(read.outputs, Some(serde_json::Value::Null));
    assert_eq!(read.trigger, Some(serde_json::Value::Null));
    assert_eq!(read, execution);
}

#[tokio::test]
async fn timestamps_from_the_clock_round_trip_to_the_nanosecond() {
    let (_db, store) = open_store().await;
    let mut execution = execution("e-now", "ns", "flow", Utc::now());
    execution.started_at = Some(Utc::now());
    commit_execution(&store, &execution).await;

    assert_eq!(store.get_execution("e-now").await.unwrap(), Some(execution));
}

#[tokio::test]
async fn task_runs_with_fields_set_and_unset_round_trip() {
    let (_db, store) = open_store().await;
    let full = full_task_run("build[1][0]");
    let bare = task_run("notify", at(9, 9));
    let mut null_value = task_run("each", at(10, 0));
    null_value.value = Some(serde_json::Value::Null);
    null_value.outputs = Some(json!([]));
    store
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "flow", at(0, 0))],
            task_runs: vec![
                ("e1".to_owned(), full.clone()),
                ("e1".to_owned(), bare.clone()),
                ("e1".to_owned(), null_value.clone()),
            ],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    assert_eq!(store.task_runs("e1").await.unwrap(), vec![full, bare, null_value]);
    assert_eq!(store.task_runs("other").await.unwrap(), vec![]);
}

#[tokio::test]
async fn log_lines_with_and_without_task_run_round_trip() {
    let (_db, store) = open_store().await;
    let engine_line = log("e1", None, "INFO", "execution started");
    let mut plugin_line = log("e1", Some("test[3]"), "ERROR", "assertion failed: ✗ 2 ≠ 3\nsecond line");
    plugin_line.attempt = Some(4);
    plugin_line.time = at(11, 987_654_321);
    store
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "flow", at(0, 0))],
            task_runs: Vec::new(),
            logs: vec![engine_line.clone(), plugin_line.clone()],
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    let read = store.logs("e1", &LogFilter::default()).await.unwrap();
    let records: Vec<_> = read.iter().map(|line| line.record.clone()).collect();
    assert_eq!(records, vec![engine_line, plugin_line]);
    assert!(read[0].seq < read[1].seq);
}

#[tokio::test]
async fn flow_revisions_round_trip() {
    let (_db, store) = open_store().await;
    let saved = store.save_flow("company.team", "deploy", "id: deploy\ntasks: []\n").await.unwrap();
    assert_eq!(saved.revision, 1);
    assert!(!saved.deleted);

    assert_eq!(store.get_flow("company.team", "deploy", None).await.unwrap(), Some(saved.clone()));
    assert_eq!(store.get_flow("company.team", "deploy", Some(1)).await.unwrap(), Some(saved.clone()));
    assert_eq!(store.flow_revisions("company.team", "deploy").await.unwrap(), vec![saved.clone()]);
    assert_eq!(store.list_flows(None).await.unwrap(), vec![saved]);
}

#[tokio::test]
async fn unknown_execution_state_is_corrupt_and_names_the_row() {
    let (db, store) = open_store().await;
    commit_execution(&store, &execution("e-bad", "ns", "flow", at(0, 0))).await;
    db.execute("UPDATE executions SET state = 'EXPLODED' WHERE id = 'e-bad'").await;

    let error = store.get_execution("e-bad").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "stored data is invalid: execution `e-bad`, column `state`: unknown execution state `EXPLODED`"
    );
    // Recovery must see it, not skip it.
    assert!(matches!(store.unfinished_executions().await, Err(StoreError::Corrupt(_))));
    assert!(matches!(store.list_executions(&ExecutionFilter::default()).await, Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn unknown_task_run_states_are_corrupt_and_name_the_row() {
    let (db, store) = open_store().await;
    let mut run = full_task_run("build");
    run.state = TaskRunState::Running;
    store
        .commit(CommitBatch {
            executions: vec![execution("e1", "ns", "flow", at(0, 0))],
            task_runs: vec![("e1".to_owned(), run)],
            logs: Vec::new(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    db.execute("UPDATE task_runs SET state = 'HALF_DONE'").await;
    let error = store.task_runs("e1").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "stored data is invalid: task run `build` of execution `e1`, column `state`: \
         unknown task run state `HALF_DONE`"
    );

    // An attempt's state lives in the attempts JSON.
    db.execute("UPDATE task_runs SET state = 'RUNNING', attempts = replace(attempts, 'FAILED', 'MELTED')")
        .await;
    match store.task_runs("e1").await.unwrap_err() {
        StoreError::Corrupt(message) => {
            assert!(
                message.starts_with("task run `build` of execution `e1`, column `attempts`: invalid JSON: "),
                "{message}"
            );
            assert!(message.contains("MELTED"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn awkward_text_round_trips() {
    let (_db, store) = open_store().await;
    let awkward =
        "nul:\0 quote:\" backslash:\\ escape:\\u0041 newline:\n tab:\t emoji:🦀 separator:\u{2028} end";
    let mut execution = execution("e-\"odd\" \0 id", "ns", "flow", at(0, 0));
    execution.error = Some(awkward.to_owned());
    execution.labels.insert(awkward.to_owned(), awkward.to_owned());
    execution.inputs = json!({ awkward: awkward });
    let mut run = task_run("build", at(0, 1));
    run.error = Some(awkward.to_owned());
    let mut line = log(&execution.id, Some("build"), "INFO", awkward);
    line.source = awkward.to_owned();
    store
        .commit(CommitBatch {
            executions: vec![execution.clone()],
            task_runs: vec![(execution.id.clone(), run.clone())],
            logs: vec![line.clone()],
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();

    assert_eq!(store.get_execution(&execution.id).await.unwrap(), Some(execution.clone()));
    assert_eq!(store.task_runs(&execution.id).await.unwrap(), vec![run]);
    let read = store.logs(&execution.id, &LogFilter::default()).await.unwrap();
    assert_eq!(read.into_iter().map(|l| l.record).collect::<Vec<_>>(), vec![line]);
    let by_label = ExecutionFilter {
        labels: vec![(awkward.to_owned(), awkward.to_owned())],
        ..ExecutionFilter::default()
    };
    assert_eq!(store.list_executions(&by_label).await.unwrap(), vec![execution]);
}
