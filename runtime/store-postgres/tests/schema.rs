//! What is PostgreSQL's own: the migrations (once per database, a newer schema refused),
//! several stores connecting to a fresh database at once, and the errors of a bad URL or an
//! unreachable server.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use sluice_engine::{Store, StoreError};
use sluice_store_postgres::{PostgresStore, schema_version};
use sqlx::{Connection, PgConnection};

async fn applied(url: &str) -> Vec<(i64, bool)> {
    let mut connection = PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    rows
}

#[tokio::test]
async fn the_migrations_run_on_a_fresh_database_and_not_again() {
    let url = new_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(schema_version(), 7);
    assert_eq!(
        applied(&url).await,
        vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true), (7, true)]
    );
    store.save_flow("ns", "flow", "tasks: []").await.unwrap();
    store.close().await;

    let again = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(
        applied(&url).await,
        vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true), (7, true)],
        "the second connect applies nothing"
    );
    assert_eq!(again.get_flow("ns", "flow", None).await.unwrap().unwrap().revision, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_starting_together_migrate_once() {
    let url = new_database().await;
    let connects: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    for connect in connects {
        connect.await.unwrap().unwrap();
    }
    assert_eq!(
        applied(&url).await,
        vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true), (7, true)]
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let url = new_database().await;
    PostgresStore::connect(&url).await.unwrap().close().await;
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, '\\x00'::bytea, 0)",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();

    let error = PostgresStore::connect(&url).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "database error: the database has schema version 99, but this sluice knows versions up to 7: \
         open it with the newer sluice that wrote it"
    );
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    match PostgresStore::connect("postgres://[nope").await {
        Err(StoreError::Database(message)) => {
            assert!(message.starts_with("invalid PostgreSQL URL: "), "{message}")
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    // A port nothing listens on (bound, then let go).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/sluice");
    // Unavailable: a server that may come up later, unlike a bad URL.
    match PostgresStore::connect(&url).await {
        Err(StoreError::Unavailable(message)) => assert!(
            message.starts_with(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/sluice: ")),
            "{message}"
        ),
        other => panic!("expected the database to be unavailable, got {other:?}"),
    }
}

/// A database of schema version 2 (before leases) with an unfinished execution: connecting
/// applies migrations 3 to 7, and the execution, leased by no one, goes to the first claimer.
#[tokio::test]
async fn an_older_schema_is_upgraded_and_its_unfinished_executions_are_claimable() {
    let url = new_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let record = sluice_engine::ExecutionRecord::new("old", "ns", "flow", 1, chrono::Utc::now());
    store
        .commit(sluice_engine::CommitBatch { executions: vec![record], ..Default::default() })
        .await
        .unwrap();
    store.close().await;
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "DROP TABLE execution_leases, execution_controls, nodes, execution_worker_tags, deployed_plugins, flow_places, api_tokens, audit_log",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version >= 3").execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();

    let upgraded = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(
        applied(&url).await,
        vec![(1, true), (2, true), (3, true), (4, true), (5, true), (6, true), (7, true)]
    );
    let ttl = std::time::Duration::from_secs(60);
    let claimed = upgraded.claim_leases("n1", &[], ttl, 10, false).await.unwrap();
    let expected = sluice_engine::Lease { execution_id: "old".into(), node: "n1".into(), epoch: 1, ttl };
    assert_eq!(claimed, vec![expected]);
    upgraded.close().await;
}
