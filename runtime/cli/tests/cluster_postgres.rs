//! Several `sluice server` processes on one PostgreSQL database (a cluster this test binary
//! starts, see `runtime/store-postgres/tests/common/cluster.rs`): a schedule ticking every
//! second fires each second exactly once in the cluster, whichever server claims it; the logs
//! of an execution one server runs are followed live from another; a flow's `concurrency`
//! holds across servers (queued in order, or refused).

#![allow(clippy::unwrap_used)]

#[path = "../../store-postgres/tests/common/cluster.rs"]
mod cluster;
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::server::Server;
use serde_json::{Value, json};
use sluice_engine::{ExecutionFilter, ExecutionState, Store, TriggerKey};

const TICKS: &str = r#"id: ticks
namespace: cluster
triggers:
  - id: every-second
    type: schedule
    cron: "* * * * * *"
tasks:
  - id: log
    type: core.log
    message: "tick {{ trigger.date }}"
"#;

async fn database() -> String {
    tokio::task::spawn_blocking(|| cluster::cluster().create_database()).await.unwrap()
}

/// The fire time of each execution the schedule started, in the order of the list.
fn fire_times(executions: &Value) -> Vec<DateTime<Utc>> {
    executions
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["trigger"]["type"], "schedule", "{e}");
            e["trigger"]["date"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

/// Three servers see the same every-second schedule for 31 s or more. Each claims each fire
/// time with a conditional update: 30 seconds in a row, from the first, each ran once, and no
/// fire time was skipped.
#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_fires_each_second_once_across_three_servers() {
    let url = database().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = Server::start_with(dirs[0].path(), &["--database", &url], &[]);
    let (status, saved) = first.post("/api/v1/flows", TICKS).await;
    assert_eq!(status, 201, "{saved}");
    let servers: Vec<Server> = std::iter::once(first)
        .chain(dirs[1..].iter().map(|d| Server::start_with(d.path(), &["--database", &url], &[])))
        .collect();
    let list = "/api/v1/executions?namespace=cluster&limit=1000";
    // Until 31 fire times have run (every server sees them all from its own start on).
    let mut waited = 0;
    loop {
        let (_, listed) = servers[0].get(list).await;
        if listed.as_array().unwrap().len() >= 31 {
            break;
        }
        waited += 1;
        assert!(waited < 120, "fewer than 31 executions after 60 s: {listed}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut by_server = Vec::new();
    for server in servers {
        assert_eq!(server.terminate(), 0);
    }
    for dir in &dirs {
        // A server keeps the workspace of each execution it ran under its own data dir.
        let ran = std::fs::read_dir(dir.path().join("workspaces"))
            .map_or(0, |d| d.filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir()).count());
        by_server.push(ran);
    }

    // Read from the database itself, with every server stopped.
    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    let filter =
        ExecutionFilter { namespace: Some("cluster".into()), limit: 1000, ..ExecutionFilter::default() };
    let executions = store.list_executions(&filter).await.unwrap();
    let key = TriggerKey { namespace: "cluster", flow_id: "ticks", trigger_id: "every-second" };
    let state = store.schedule_state(key).await.unwrap().unwrap();
    store.close().await;
    assert_eq!(state.skipped, 0, "no fire time was skipped");
    assert!(executions.iter().all(|e| e.state == ExecutionState::Success), "{executions:?}");
    let listed = json!(executions.iter().map(|e| json!({"trigger": e.trigger})).collect::<Vec<_>>());
    let mut times = fire_times(&listed);
    times.sort();
    let mut counts: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for t in &times {
        *counts.entry(*t).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "fire times run more than once: {twice:?}");
    let first_30: Vec<i64> = times.iter().take(30).map(|t| (*t - times[0]).num_seconds()).collect();
    assert_eq!(
        first_30,
        (0..30).collect::<Vec<i64>>(),
        "30 seconds in a row, each once; ran by server: {by_server:?}"
    );
    assert_eq!(by_server.iter().sum::<usize>(), times.len(), "each execution ran on one server");
    eprintln!("fire times by server: {by_server:?}");
}

const TALK: &str = r#"id: talk
namespace: cluster
tasks:
  - id: one
    type: core.log
    message: one
  - id: nap
    type: flow.sleep
    duration: 1500ms
  - id: two
    type: core.log
    message: two
"#;

/// One server runs the execution; another, which runs nothing of it, follows its logs and its
/// states live (from the store, on its poll) to the end, and answers for it.
#[tokio::test(flavor = "multi_thread")]
async fn logs_and_states_of_an_execution_are_followed_from_another_server() {
    let url = database().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with(a_dir.path(), &["--database", &url], &[]);
    let b = Server::start_with(b_dir.path(), &["--database", &url], &[]);
    assert_eq!(a.post("/api/v1/flows", TALK).await.0, 201);
    let (status, started) = a.post("/api/v1/executions/cluster/talk", "{}").await;
    assert_eq!(status, 202, "{started}");
    let id = started["executionId"].as_str().unwrap().to_string();

    let mut logs = b.follow(&format!("/api/v1/executions/{id}/logs/follow"), None).await;
    let mut states = b.follow(&format!("/api/v1/executions/{id}/follow"), None).await;
    let events = logs.rest().await;
    let messages: Vec<&str> =
        events.iter().filter(|e| e.event == "log").map(|e| e.data["message"].as_str().unwrap()).collect();
    assert_eq!(messages, ["one", "two"], "{events:?}");
    assert_eq!(events.last().unwrap().event, "end");
    let states = states.rest().await;
    let last_execution = states.iter().rev().find(|e| e.event == "execution").unwrap();
    assert_eq!(last_execution.data["state"], "SUCCESS", "{states:?}");
    let (_, doc) = b.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(doc["state"], "SUCCESS");
    assert!(!b_dir.path().join("workspaces").join(&id).exists(), "b ran none of it");
    assert!(a_dir.path().join("workspaces").join(&id).exists(), "a ran it");
    for server in [a, b] {
        assert_eq!(server.terminate(), 0);
    }
}

const SLEEPY: &str =
    "id: sleepy\nnamespace: cluster\ntasks:\n  - id: nap\n    type: flow.sleep\n    duration: 60s\n";

const GATE: &str = "id: gate\nnamespace: cluster\ntasks:\n  - id: approve\n    type: flow.pause\n    onResume:\n      - id: by\n        type: string\n  - id: after\n    type: core.log\n    message: \"approved by {{ outputs.approve.by }}\"\n";

/// Behind a load balancer any server gets the request: a kill or a resume asked of a server
/// that does not drive the execution reaches the one that does (through the store), a wrong
/// resume is refused by the server asked, and a finished execution refuses both.
#[tokio::test(flavor = "multi_thread")]
async fn an_execution_is_killed_and_resumed_through_a_server_that_does_not_run_it() {
    let url = database().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Server::start_with(a_dir.path(), &["--database", &url], &[]);
    let b = Server::start_with(b_dir.path(), &["--database", &url], &[]);
    assert_eq!(a.post("/api/v1/flows", SLEEPY).await.0, 201);
    assert_eq!(a.post("/api/v1/flows", GATE).await.0, 201);

    let (_, started) = a.post("/api/v1/executions/cluster/sleepy", "{}").await;
    let sleepy = started["executionId"].as_str().unwrap().to_owned();
    a.wait_for_state(&sleepy, "RUNNING").await;
    let (status, answer) = b.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 202, "{answer}");
    let killed = b.wait_for_state(&sleepy, "KILLED").await;
    assert_eq!(killed["taskRuns"][0]["state"], "KILLED");
    let (status, _) = b.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 409, "a killed execution is not running");

    let (_, started) = a.post("/api/v1/executions/cluster/gate", "{}").await;
    let gate = started["executionId"].as_str().unwrap().to_owned();
    a.wait_for_state(&gate, "PAUSED").await;
    let resume = format!("/api/v1/executions/{gate}/resume");
    let (status, problem) = b.post(&resume, "{}").await;
    assert_eq!(
        (status, problem["errors"].clone()),
        (422, json!(["input `by`: required, but not given (type string)"])),
        "checked by the server asked"
    );
    let (status, answer) = b.post(&resume, r#"{"by": "ana"}"#).await;
    assert_eq!(status, 202, "{answer}");
    a.wait_for_state(&gate, "SUCCESS").await;
    let (_, logs) = b.get(&format!("/api/v1/executions/{gate}/logs?taskRun=after")).await;
    assert_eq!(logs[0]["message"], "approved by ana");
    assert!(a_dir.path().join("workspaces").join(&gate).exists(), "a ran it to the end");
    assert!(!b_dir.path().join("workspaces").join(&gate).exists(), "b ran none of it");
    let (status, _) = b.post(&resume, r#"{"by": "bo"}"#).await;
    assert_eq!(status, 409, "a finished execution is not paused");
    for server in [a, b] {
        assert_eq!(server.terminate(), 0);
    }
}

const ONE_AT_A_TIME: &str = "id: one-at-a-time\nnamespace: cluster\nconcurrency:\n  limit: 1\n  behavior: queue\ntasks:\n  - id: nap\n    type: flow.sleep\n    duration: 400ms\n";

const ONLY_ONE: &str = "id: only-one\nnamespace: cluster\nconcurrency:\n  limit: 1\n  behavior: cancel\ntasks:\n  - id: nap\n    type: flow.sleep\n    duration: 60s\n";

/// A flow's `concurrency.limit` holds across servers: executions started alternately on two
/// servers (each driving what it starts) run one at a time, in the order they were started,
/// the end of one on a server starting the next on the other; over the limit with `cancel`,
/// a server refuses the execution because of one running on the other.
#[tokio::test(flavor = "multi_thread")]
async fn a_flow_concurrency_limit_holds_across_servers() {
    let url = database().await;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers: Vec<Server> =
        dirs.iter().map(|d| Server::start_with(d.path(), &["--database", &url], &[])).collect();
    assert_eq!(servers[0].post("/api/v1/flows", ONE_AT_A_TIME).await.0, 201);
    assert_eq!(servers[0].post("/api/v1/flows", ONLY_ONE).await.0, 201);

    let mut ids = Vec::new();
    for n in 0..6 {
        let (status, doc) = servers[n % 2].post("/api/v1/executions/cluster/one-at-a-time", "{}").await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        servers[0].wait_for_state(id, "SUCCESS").await;
    }
    let store = sluice_store_postgres::PostgresStore::connect(&url).await.unwrap();
    let mut spans = Vec::new();
    for id in &ids {
        let record = store.get_execution(id).await.unwrap().unwrap();
        spans.push((record.started_at.unwrap(), record.ended_at.unwrap()));
    }
    for (n, pair) in spans.windows(2).enumerate() {
        assert!(pair[1].0 >= pair[0].1, "execution {} started before execution {n} ended: {spans:?}", n + 1);
    }
    for (n, id) in ids.iter().enumerate() {
        assert!(dirs[n % 2].path().join("workspaces").join(id).exists(), "run where it was started");
    }

    let (_, started) = servers[0].post("/api/v1/executions/cluster/only-one", "{}").await;
    let running = started["executionId"].as_str().unwrap().to_owned();
    servers[0].wait_for_state(&running, "RUNNING").await;
    let (status, refused) = servers[1].post("/api/v1/executions/cluster/only-one?wait=true", "{}").await;
    assert_eq!((status, &refused["state"]), (200, &json!("CANCELLED")), "{refused}");
    assert_eq!(
        refused["error"],
        "cancelled (`concurrency.behavior: cancel`): flow cluster.only-one already has 1 running execution(s), \
         its `concurrency.limit` is 1",
        "{refused}"
    );
    assert_eq!(servers[1].post(&format!("/api/v1/executions/{running}/kill"), "").await.0, 202);
    servers[0].wait_for_state(&running, "KILLED").await;
    let (status, doc) = servers[1].post("/api/v1/executions/cluster/only-one", "{}").await;
    assert_eq!(status, 202, "{doc}");
    let next = doc["executionId"].as_str().unwrap().to_owned();
    servers[1].wait_for_state(&next, "RUNNING").await;
    assert_eq!(servers[0].post(&format!("/api/v1/executions/{next}/kill"), "").await.0, 202);
    servers[1].wait_for_state(&next, "KILLED").await;
    store.close().await;
    for server in servers {
        assert_eq!(server.terminate(), 0);
    }
}
