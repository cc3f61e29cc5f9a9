//! `sluice server` on PostgreSQL while PostgreSQL restarts (its own cluster: this test binary
//! restarts it, see `runtime/store-postgres/tests/common/cluster.rs`). Executions that commit
//! while the database is down carry on once it is back, and ended as they would have; new ones
//! start (the failure to avoid is Kestra's #8356: executions stuck after a database restart).

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::time::Duration;

use common::server::Server;
use serde_json::json;

/// Ticks for about 4 s, a step every 200 ms: each one a commit, so some fall in the outage.
const TICKER: &str = r#"id: ticker
namespace: pg
tasks:
  - id: tick
    type: flow.forEach
    values: "{{ range(20) | list }}"
    concurrency: 1
    tasks:
      - id: say
        type: core.log
        message: "tick {{ taskrun.value }}"
      - id: nap
        type: flow.sleep
        duration: 200ms
  - id: done
    type: core.log
    message: done
"#;

#[tokio::test(flavor = "multi_thread")]
async fn executions_carry_on_after_a_postgres_restart() {
    let url = tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--database", &url], &[]);
    assert_eq!(server.post("/api/v1/flows", TICKER).await.0, 201);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, started) = server.post("/api/v1/executions/pg/ticker", "{}").await;
        assert_eq!(status, 202, "{started}");
        ids.push(started["executionId"].as_str().unwrap().to_string());
    }
    for id in &ids {
        server.wait_for_state(id, "RUNNING").await;
    }
    // Down for 3 s while every execution has steps to commit.
    tokio::task::spawn_blocking(|| cluster::cluster().restart(Duration::from_secs(3))).await.unwrap();

    for id in &ids {
        let doc = server.wait_for_state(id, "SUCCESS").await;
        let runs = doc["taskRuns"].as_array().unwrap();
        let said = runs.iter().filter(|r| r["taskId"] == "say" && r["state"] == "SUCCESS").count();
        assert_eq!(said, 20, "every iteration ran once: {doc}");
        let done = runs.iter().find(|r| r["taskId"] == "done").unwrap();
        assert_eq!((&done["state"], &done["attempts"]), (&json!("SUCCESS"), &json!(1)), "{doc}");
        let (_, logs) = server.get(&format!("/api/v1/executions/{id}/logs?task=done")).await;
        assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    }
    let (status, doc) = server.post("/api/v1/executions/pg/ticker?wait=true", "{}").await;
    assert_eq!(
        (status, doc["state"].as_str()),
        (200, Some("SUCCESS")),
        "a new execution after the restart: {doc}"
    );
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(server.terminate(), 0);
}
