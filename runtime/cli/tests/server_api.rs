//! `sluice server` as the real binary on 127.0.0.1:0: deploy, run, list, follow logs over SSE,
//! kill, resume, and a clean stop on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::Server;

use serde_json::{Value, json};

const SLEEPY: &str =
    "id: sleepy\nnamespace: t\ntasks:\n  - id: nap\n    type: flow.sleep\n    duration: 60s\n";
const GATE: &str = "id: gate\nnamespace: t\ntasks:\n  - id: approve\n    type: flow.pause\n    onResume:\n      - id: by\n        type: string\n  - id: after\n    type: core.log\n    message: \"approved by {{ outputs.approve.by }}\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn the_server_deploys_runs_follows_kills_resumes_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows/hello.yaml"),
    )
    .unwrap();

    let (status, saved) = server.post("/api/v1/flows", &hello).await;
    assert_eq!((status, saved), (201, json!({"namespace": "examples", "id": "hello", "revision": 1})));

    let (status, doc) = server.post("/api/v1/executions/examples/hello?wait=true", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(doc["state"], "SUCCESS");
    assert_eq!(doc["flowOutputs"], json!({"greeting": "Hello, world!", "checked": 1}));
    assert_eq!(doc["outputs"], json!({"greet": {}, "check": {"passed": 1}}));
    let id = doc["executionId"].as_str().unwrap().to_owned();

    let (_, flows) = server.get("/api/v1/flows").await;
    assert_eq!(flows.as_array().unwrap().len(), 1);
    assert_eq!(flows[0]["id"], "hello");
    let (_, flow) = server.get("/api/v1/flows/examples/hello").await;
    assert_eq!(flow["source"], json!(hello));
    let (_, listed) = server.get("/api/v1/executions?namespace=examples").await;
    assert_eq!(
        listed.as_array().unwrap().iter().map(|e| e["executionId"].clone()).collect::<Vec<_>>(),
        vec![json!(id)]
    );

    // The stream ends by itself once the execution is terminal.
    let events = server
        .http
        .get(server.url(&format!("/api/v1/executions/{id}/logs/follow")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let messages: Vec<String> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["message"].as_str().map(str::to_owned))
        .collect();
    assert!(messages.contains(&"Hello, world!".to_owned()), "{events}");
    assert!(events.contains("event: end"), "{events}");

    // Live: a follower attached to a running execution sees its end.
    server.post("/api/v1/flows", SLEEPY).await;
    let (status, started) = server.post("/api/v1/executions/t/sleepy", "").await;
    assert_eq!(status, 202);
    let sleepy = started["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&sleepy, "RUNNING").await;
    let follower = tokio::spawn({
        let http = server.http.clone();
        let url = server.url(&format!("/api/v1/executions/{sleepy}/follow"));
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    });
    let (status, _) = server.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 202);
    let killed = server.wait_for_state(&sleepy, "KILLED").await;
    assert_eq!(killed["taskRuns"][0]["state"], "KILLED");
    let states = follower.await.unwrap();
    assert!(states.contains("\"state\":\"KILLED\""), "{states}");
    let (status, _) = server.post(&format!("/api/v1/executions/{sleepy}/kill"), "").await;
    assert_eq!(status, 409);

    server.post("/api/v1/flows", GATE).await;
    let (_, started) = server.post("/api/v1/executions/t/gate", "").await;
    let gate = started["executionId"].as_str().unwrap().to_owned();
    server.wait_for_state(&gate, "PAUSED").await;
    let (status, problem) = server.post(&format!("/api/v1/executions/{gate}/resume"), "{}").await;
    assert_eq!(
        (status, problem["errors"].clone()),
        (422, json!(["input `by`: required, but not given (type string)"]))
    );
    let (status, _) = server.post(&format!("/api/v1/executions/{gate}/resume"), r#"{"by": "ana"}"#).await;
    assert_eq!(status, 202);
    server.wait_for_state(&gate, "SUCCESS").await;
    let (_, logs) = server.get(&format!("/api/v1/executions/{gate}/logs?taskRun=after")).await;
    assert_eq!(logs[0]["message"], "approved by ana");

    assert_eq!(server.terminate(), 0);
}

/// Issue 4's crash test: 20 executions of a flow with sleeps, `kill -9` of the server mid-way,
/// a restart on the same data dir; every execution reaches SUCCESS, and every task's success is
/// recorded exactly once (the attempt cut by the crash is recorded as interrupted, then redone).
#[tokio::test(flavor = "multi_thread")]
async fn executions_survive_kill_9_of_the_server() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("plugins")).unwrap();
    std::fs::copy(test_programs_artifacts::TEST_PROGRAMS, data.path().join("plugins/test.wasm")).unwrap();
    const NAPS: &str = "id: naps\nnamespace: t\ntasks:\n  - id: before\n    type: test.noop\n  - id: nap\n    type: test.sleep\n    ms: 1500\n  - id: pause\n    type: flow.sleep\n    duration: 300ms\n  - id: after\n    type: test.noop\n";
    let mut server = Server::start(data.path());
    let (status, _) = server.post("/api/v1/flows", NAPS).await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (status, doc) = server.post("/api/v1/executions/t/naps", "{}").await;
        assert_eq!(status, 202, "{doc}");
        ids.push(doc["executionId"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    let server = Server::start(data.path());
    for id in &ids {
        server.wait_for_state(id, "SUCCESS").await;
    }
    assert_eq!(server.terminate(), 0);

    let store = sluice_store::SqliteStore::open(&data.path().join("sluice.db")).await.unwrap();
    use sluice_engine::Store;
    let mut interrupted = 0;
    for id in &ids {
        let runs = store.task_runs(id).await.unwrap();
        let keys: Vec<String> = runs.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(keys, ["before", "nap", "pause", "after"], "{id}");
        for run in &runs {
            assert_eq!(run.state, sluice_engine::TaskRunState::Success, "{run:?}");
            let successes =
                run.attempts.iter().filter(|a| a.state == sluice_engine::TaskRunState::Success).count();
            if !run.attempts.is_empty() {
                assert_eq!(successes, 1, "{run:?}");
            }
        }
        let nap = &runs[1];
        interrupted +=
            nap.attempts.iter().filter(|a| a.error.as_deref() == Some("interrupted by a restart")).count();
    }
    assert_eq!(interrupted, 20, "every execution was in `nap` when the server was killed");
}
