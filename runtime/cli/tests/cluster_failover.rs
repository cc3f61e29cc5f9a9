//! Two `sluice server` processes on one PostgreSQL database (a cluster this test binary starts,
//! see `runtime/store-postgres/tests/common/cluster.rs`), each execution driven by the server
//! holding its lease: when that server is killed (`kill -9`) mid-task, the other takes its
//! executions over once the lease expires, records the cut attempt and runs it again; when it
//! stalls (SIGSTOP) past its lease and then comes back, it writes nothing over the new owner's
//! work and stops driving what it lost.

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::naps::{INTERRUPTED, naps, succeeded_once, wait_in_nap};
use common::server::Server;
use sluice_engine::TaskRunState;

async fn database() -> String {
    tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap()
}

/// A server on the database whose data dir has the test plugin installed.
fn server(dir: &Path, url: &str) -> Server {
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, dir.join("plugins/test.wasm")).unwrap();
    Server::start_with(dir, &["--database", url], &[])
}

/// Starts `count` executions of `naps` on `server` and waits until each is in its `nap`.
async fn start_napping(server: &Server, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let (status, doc) = server.post("/api/v1/executions/cluster/naps", "{}").await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_in_nap(server, id).await;
    }
    ids
}

/// The `sluice_cluster_*` gauges of a server's `/metrics`, by name.
async fn cluster_gauges(server: &Server) -> Vec<(&'static str, u64)> {
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    ["nodes_alive", "leases", "awaiting_takeover"]
        .into_iter()
        .map(|name| {
            let prefix = format!("sluice_cluster_{name} ");
            let line =
                text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{prefix}in {text}"));
            (name, line[prefix.len()..].parse().unwrap())
        })
        .collect()
}

/// Issue 17's failover: `kill -9` of the server driving 10 executions mid-task. The other
/// server takes each over once its lease expires (about 5 s), records the cut attempt as
/// interrupted, runs `nap` again, and finishes every one; each success is recorded once.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_servers_executions_are_taken_over_by_another() {
    let url = database().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server(a_dir.path(), &url);
    let b = server(b_dir.path(), &url);
    assert_eq!(a.post("/api/v1/flows", &naps(5000)).await.0, 201);
    let ids = start_napping(&a, 10).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // a keeper round of each
    let gauges = cluster_gauges(&b).await;
    assert_eq!(gauges, [("nodes_alive", 2), ("leases", 10), ("awaiting_takeover", 0)], "before the kill");
    a.kill_hard();
    let killed = Instant::now();

    for id in &ids {
        b.wait_for_state(id, "SUCCESS").await;
    }
    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    let mut takeover = Duration::ZERO;
    for id in &ids {
        let attempts = succeeded_once(&store, id).await;
        assert_eq!(attempts.len(), 2, "the cut attempt and the one run again: {attempts:?}");
        assert_eq!(attempts[0].state, TaskRunState::Failed);
        assert_eq!(attempts[0].error.as_deref(), Some(INTERRUPTED));
        assert_eq!(attempts[1].state, TaskRunState::Success);
        assert!(b_dir.path().join("workspaces").join(id).is_dir(), "b continued {id} in its own workspace");
        // When b's attempt started, by the machine's one clock (both servers run here).
        let since = (chrono::Utc::now() - attempts[1].started_at).to_std().unwrap_or_default();
        takeover = takeover.max(killed.elapsed().saturating_sub(since));
    }
    store.close().await;
    eprintln!("the last execution was taken over {takeover:?} after the kill");
    let gauges = cluster_gauges(&b).await;
    assert_eq!(gauges, [("nodes_alive", 1), ("leases", 0), ("awaiting_takeover", 0)], "after");
    assert!(takeover < Duration::from_secs(10), "taken over {takeover:?} after the kill");
    assert_eq!(b.terminate(), 0);
}

/// A server frozen (SIGSTOP) mid-task past its lease loses its execution to the other; thawed,
/// its attempt ends and its commit is refused (fenced by the lease's epoch): the execution keeps
/// the new owner's one success, and the thawed server stops driving it and serves on.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_server_that_comes_back_writes_nothing_over_the_new_owner() {
    let url = database().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server(a_dir.path(), &url);
    let b = server(b_dir.path(), &url);
    assert_eq!(a.post("/api/v1/flows", &naps(2000)).await.0, 201);
    let ids = start_napping(&a, 3).await;
    a.signal("STOP");
    for id in &ids {
        b.wait_for_state(id, "SUCCESS").await;
    }
    a.signal("CONT");
    // Long enough for a's frozen attempts to end and its keeper to run.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    for id in &ids {
        let attempts = succeeded_once(&store, id).await;
        let states: Vec<TaskRunState> = attempts.iter().map(|a| a.state).collect();
        assert_eq!(states, [TaskRunState::Failed, TaskRunState::Success], "{attempts:?}");
        assert_eq!(attempts[0].error.as_deref(), Some(INTERRUPTED));
    }
    store.close().await;
    // a answers, and sees the executions as b finished them.
    let (status, doc) = a.get(&format!("/api/v1/executions/{}", ids[0])).await;
    assert_eq!((status, doc["state"].as_str()), (200, Some("SUCCESS")));
    assert_eq!(a.terminate(), 0);
    assert_eq!(b.terminate(), 0);
}

/// A flow whose last task reads what the first wrote, with a long task between.
const FILES: &str = r#"id: files
namespace: cluster
tasks:
  - id: write
    type: test.write-file
    path: /workspace/note.txt
    content: written before the takeover
  - id: mark
    type: test.set-executable
    path: /workspace/note.txt
    executable: true
  - id: nap
    type: test.sleep
    ms: 3000
  - id: read
    type: test.read-file
    path: /workspace/note.txt
  - id: check
    type: test.is-executable
    path: /workspace/note.txt
"#;

/// The workspace follows the execution: the server that takes it over (its data dir on
/// another disk) rebuilds it from the snapshot the first server recorded at the last task's
/// end, so the tasks after the takeover read the files the tasks before it wrote.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_over_execution_finds_the_files_its_earlier_tasks_wrote() {
    let url = database().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server(a_dir.path(), &url);
    let b = server(b_dir.path(), &url);
    assert_eq!(a.post("/api/v1/flows", FILES).await.0, 201);
    let (_, started) = a.post("/api/v1/executions/cluster/files", "{}").await;
    let id = started["executionId"].as_str().unwrap().to_owned();
    wait_in_nap(&a, &id).await;
    a.kill_hard();
    let doc = b.wait_for_state(&id, "SUCCESS").await;
    assert_eq!(
        doc["outputs"]["read"],
        serde_json::json!({"ok": true, "content": "written before the takeover"})
    );
    assert_eq!(doc["outputs"]["check"], serde_json::json!({"ok": true, "executable": true}));
    let rebuilt = b_dir.path().join("workspaces").join(&id).join("note.txt");
    assert_eq!(std::fs::read_to_string(rebuilt).unwrap(), "written before the takeover");
    assert_eq!(b.terminate(), 0);
}
