//! The `naps` flow the cluster tests run (`before`, a sandboxed `nap`, `after`) and the checks
//! they share: waiting for a nap, and that an execution ended with each success recorded once.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use sluice_engine::{Attempt, ExecutionState, Store, TaskRunState};

use super::server::Server;

/// Three tasks in namespace `cluster`; the middle one is a sandboxed attempt that lasts `ms`.
pub fn naps(ms: u32) -> String {
    format!(
        "id: naps\nnamespace: cluster\ntasks:\n  - id: before\n    type: test.noop\n  - id: nap\n    type: test.sleep\n    ms: {ms}\n  - id: after\n    type: test.noop\n"
    )
}

/// What an attempt cut by its node's loss is recorded as.
pub const INTERRUPTED: &str = "interrupted: its server stopped or lost the execution";

/// Waits until the execution's `nap` task runs, as `server` reads it.
pub async fn wait_in_nap(server: &Server, id: &str) {
    for tries in 0.. {
        let (_, doc) = server.get(&format!("/api/v1/executions/{id}")).await;
        let runs = doc["taskRuns"].as_array().cloned().unwrap_or_default();
        if runs.iter().any(|r| r["taskId"] == "nap" && r["state"] == "RUNNING") {
            return;
        }
        assert!(tries < 300, "{id} never reached its nap: {doc}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The execution ended SUCCESS, each task run with one successful attempt, and every attempt
/// before it cut as [`INTERRUPTED`]; returns the attempts of `nap`.
pub async fn succeeded_once(store: &impl Store, id: &str) -> Vec<Attempt> {
    let record = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    let runs = store.task_runs(id).await.unwrap();
    let keys: Vec<String> = runs.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(keys, ["before", "nap", "after"], "{id}");
    for run in &runs {
        assert_eq!(run.state, TaskRunState::Success, "{run:?}");
        let successes = run.attempts.iter().filter(|a| a.state == TaskRunState::Success).count();
        assert_eq!(successes, 1, "one success recorded for {}: {run:?}", run.key);
        let (_, cut) = run.attempts.split_last().unwrap();
        assert!(cut.iter().all(|a| a.error.as_deref() == Some(INTERRUPTED)), "{run:?}");
    }
    runs[1].attempts.clone()
}
