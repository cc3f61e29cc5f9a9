//! PostgreSQL stopping under a commit (this binary's own cluster, stopped and started by the
//! test): a commit caught in flight waits for the database and lands once it is back, instead
//! of failing and stopping the execution it belongs to; a read meanwhile says the database is
//! unavailable.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{cluster, execution, full_execution, open_store};
use sluice_engine::{CommitBatch, ExecutionState, Store, StoreError};
use sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_in_flight_when_postgres_stops_lands_once_it_is_back() {
    let (db, store) = open_store().await;
    let first = execution("e1", "t", "f", chrono::Utc::now());
    store.commit(CommitBatch { executions: vec![first], ..CommitBatch::default() }).await.unwrap();
    // A prepared transaction holds the executions table against writes (reads pass), and keeps
    // holding it across the restart: the commit below is in flight when the server stops, and
    // waits again after it starts, until the transaction is rolled back.
    let mut holder = PgConnection::connect(db.url()).await.unwrap();
    for sql in ["BEGIN", "LOCK TABLE executions IN SHARE MODE", "PREPARE TRANSACTION 'hold'"] {
        sqlx::query(sql).execute(&mut holder).await.unwrap();
    }
    holder.close().await.unwrap();
    let mut running = full_execution("e1");
    running.state = ExecutionState::Running;
    let commit = tokio::spawn({
        let (store, running) = (store.clone(), running.clone());
        async move { store.commit(CommitBatch { executions: vec![running], ..CommitBatch::default() }).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!commit.is_finished(), "the commit waits on the lock");

    tokio::task::spawn_blocking(|| cluster::cluster().stop()).await.unwrap();
    match store.get_execution("e1").await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("a read while the database is down: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    if commit.is_finished() {
        panic!("the cut commit did not wait for the database: {:?}", commit.await.unwrap());
    }
    tokio::task::spawn_blocking(|| cluster::cluster().start_again()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!commit.is_finished(), "tried again, it waits on the lock, still held");
    db.execute("ROLLBACK PREPARED 'hold'").await;
    commit.await.unwrap().expect("the commit lands once the database is back");
    assert_eq!(store.get_execution("e1").await.unwrap().unwrap(), running);
}
