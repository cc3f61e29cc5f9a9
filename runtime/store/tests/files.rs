//! What is SQLite's own: the file (durability across close and reopen, a second open, what
//! a damaged or misplaced file does), the migrations, column types, the in-memory store. The
//! behaviour every backend shares is the contract suite (`contract.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::time::Duration;

use sluice_engine::{CommitBatch, ExecutionFilter, Lease, LogFilter, Store, StoreError};
use sluice_store::{SqliteStore, schema_version};

#[tokio::test]
async fn everything_is_there_after_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let flow = store.save_flow("ns", "flow", "tasks: []").await.unwrap();
    let execution = full_execution("e1");
    let runs = vec![("e1".to_owned(), full_task_run("build")), ("e1".to_owned(), task_run("test", at(4, 4)))];
    let lines = vec![log("e1", None, "INFO", "one"), log("e1", Some("build"), "WARN", "two")];
    store
        .commit(CommitBatch {
            executions: vec![execution.clone()],
            task_runs: runs.clone(),
            logs: lines.clone(),
            lease: None,
            artifacts: Vec::new(),
        })
        .await
        .unwrap();
    let artifact = store.put_artifact(b"bytes").await.unwrap();
    store.attach_artifact("e1", None, "file", &artifact).await.unwrap();
    store.close().await;
    assert!(store.get_execution("e1").await.is_err(), "a closed store refuses reads");

    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.get_flow("ns", "flow", None).await.unwrap(), Some(flow));
    assert_eq!(reopened.get_execution("e1").await.unwrap(), Some(execution.clone()));
    assert_eq!(reopened.list_executions(&ExecutionFilter::default()).await.unwrap(), vec![execution]);
    let stored_runs: Vec<_> = runs.into_iter().map(|(_, run)| run).collect();
    assert_eq!(reopened.task_runs("e1").await.unwrap(), stored_runs);
    let stored_lines = reopened.logs("e1", &LogFilter::default()).await.unwrap();
    assert_eq!(stored_lines.into_iter().map(|l| l.record).collect::<Vec<_>>(), lines);
    assert_eq!(reopened.get_artifact(&artifact.sha256).await.unwrap(), Some(b"bytes".to_vec()));
    assert_eq!(reopened.artifacts("e1").await.unwrap(), vec![(None, "file".to_owned(), artifact)]);
    // Writing goes on where it stopped.
    assert_eq!(reopened.save_flow("ns", "flow", "tasks: [x]").await.unwrap().revision, 2);
}

#[tokio::test]
async fn a_second_open_of_the_file_sees_commits_of_the_first() {
    let (dir, writer) = temp_store().await;
    let watcher = SqliteStore::open(&db_path(&dir)).await.unwrap();
    writer
        .commit(CommitBatch { executions: vec![full_execution("e1")], ..CommitBatch::default() })
        .await
        .unwrap();
    assert_eq!(watcher.get_execution("e1").await.unwrap(), Some(full_execution("e1")));
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_corrupt() {
    // SQLite columns take any type; PostgreSQL's would refuse the update.
    let (dir, store) = temp_store().await;
    let batch =
        CommitBatch { executions: vec![execution("e1", "ns", "flow", at(0, 0))], ..CommitBatch::default() };
    store.commit(batch).await.unwrap();
    let raw = raw(&db_path(&dir)).await;
    sqlx::query("UPDATE executions SET revision = 'one'").execute(&raw).await.unwrap();

    assert!(matches!(store.get_execution("e1").await, Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn the_migration_runs_on_a_fresh_file_and_not_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(!path.exists());
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(path.exists(), "the file and its parent directory are created");
    store.close().await;

    let raw_pool = raw(&path).await;
    let applied: Vec<(i64, bool, Vec<u8>, String)> = sqlx::query_as(
        "SELECT version, success, checksum, installed_on FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&raw_pool)
    .await
    .unwrap();
    assert_eq!(schema_version(), 7);
    assert_eq!(
        applied.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>(),
        vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true), (7, true)]
    );
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name")
            .fetch_all(&raw_pool)
            .await
            .unwrap();
    assert_eq!(
        tables,
        [
            "api_tokens",
            "artifacts",
            "audit_log",
            "deployed_plugins",
            "execution_artifacts",
            "execution_controls",
            "execution_labels",
            "execution_leases",
            "execution_worker_tags",
            "executions",
            "flow_places",
            "flows",
            "logs",
            "nodes",
            "schedule_triggers",
            "task_runs"
        ]
    );
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&raw_pool).await.unwrap();
    assert_eq!(journal, "wal");
    raw_pool.close().await;

    let again = SqliteStore::open(&path).await.unwrap();
    again.close().await;
    let raw_pool = raw(&path).await;
    let reapplied: Vec<(i64, bool, Vec<u8>, String)> = sqlx::query_as(
        "SELECT version, success, checksum, installed_on FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&raw_pool)
    .await
    .unwrap();
    assert_eq!(reapplied, applied, "the second open applies nothing");
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    SqliteStore::open(&path).await.unwrap().close().await;
    let raw_pool = raw(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&raw_pool)
    .await
    .unwrap();
    raw_pool.close().await;

    let error = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "database error: the database has schema version 9999, but this sluice knows versions up to 7: \
         open it with the newer sluice that wrote it"
    );
}

/// A database of schema version 2 (before leases) with an unfinished execution: opening it
/// applies migrations 3 to 7, and the execution, leased by no one, goes to the first claimer.
#[tokio::test]
async fn an_older_schema_is_upgraded_and_its_unfinished_executions_are_claimable() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let batch =
        CommitBatch { executions: vec![execution("old", "ns", "flow", at(1, 0))], ..CommitBatch::default() };
    store.commit(batch).await.unwrap();
    store.close().await;
    let raw_pool = raw(&path).await;
    sqlx::query("DROP TABLE execution_leases").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE execution_controls").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE nodes").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE execution_worker_tags").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE deployed_plugins").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE flow_places").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE api_tokens").execute(&raw_pool).await.unwrap();
    sqlx::query("DROP TABLE audit_log").execute(&raw_pool).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version >= 3").execute(&raw_pool).await.unwrap();
    raw_pool.close().await;

    let upgraded = SqliteStore::open(&path).await.unwrap();
    let claimed = upgraded.claim_leases("n1", &[], Duration::from_secs(60), 10, false).await.unwrap();
    let expected =
        Lease { execution_id: "old".into(), node: "n1".into(), epoch: 1, ttl: Duration::from_secs(60) };
    assert_eq!(claimed, vec![expected]);
    upgraded.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.db");
    std::fs::write(&path, "this is a text file, not SQLite, and it is long enough to have a header").unwrap();
    match SqliteStore::open(&path).await {
        Err(StoreError::Database(message)) => assert!(message.contains("not a database"), "{message}"),
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_parent_that_is_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), "x").unwrap();
    match SqliteStore::open(&dir.path().join("plain").join("sluice.db")).await {
        Err(StoreError::Database(message)) => {
            assert!(message.starts_with("cannot create directory"), "{message}")
        }
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_in_memory_store_works_and_forgets() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    store
        .commit(CommitBatch { executions: vec![full_execution("e1")], ..CommitBatch::default() })
        .await
        .unwrap();
    assert_eq!(store.get_execution("e1").await.unwrap(), Some(full_execution("e1")));
    assert_eq!(store.save_flow("ns", "f", "x").await.unwrap().revision, 1);

    let other = SqliteStore::open_in_memory().await.unwrap();
    assert_eq!(other.get_execution("e1").await.unwrap(), None);
}
