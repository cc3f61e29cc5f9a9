//! What a task run is told about its execution (the `context` interface): the flow, the state
//! so far, the failed task runs with their errors, the URL under the server's public URL, and
//! secrets redacted. Read back through the `test.context` guest, which outputs what it got.

#![allow(clippy::unwrap_used)]

mod scheduler_support;

use std::collections::HashMap;

use scheduler_support::{PUBLIC_URL, harness, harness_with_secrets, run};
use serde_json::{Value, json};
use sluice_engine::ExecutionState;

#[tokio::test]
async fn an_errors_handler_is_told_which_task_failed_and_why() {
    let secrets = HashMap::from([("TOKEN".to_string(), "hunter2-token".to_string())]);
    let h = harness_with_secrets(secrets).await;
    let yaml = r#"
id: deploy
namespace: shop
labels:
  team: web
tasks:
  - id: ok
    type: test.noop
  - id: build
    type: test.fail
    kind: failed
    message: "compiler exited 2 (sent hunter2-token to the registry)"
errors:
  - id: tell
    type: test.context
    timeout: 90s
    token: "{{ secret('TOKEN') }}"
    allow:
      secrets: [TOKEN]
"#;
    let (record, runs) = h.run(yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Failed, "{record:?}");
    let told = run(&runs, "tell").outputs.clone().unwrap()["execution"].clone();
    let started = record.started_at.unwrap().to_rfc3339();
    let duration = told["durationMs"].as_u64().unwrap();
    let ended = record.ended_at.unwrap() - record.started_at.unwrap();
    assert!(duration <= ended.num_milliseconds() as u64, "{duration} ms so far, {ended} in all");
    assert_eq!(
        told,
        json!({
            "executionId": record.id,
            "flowId": "deploy",
            "namespace": "shop",
            "revision": 1,
            "state": "RUNNING",
            "outcome": "FAILED",
            "error": "task `build` failed: failed: compiler exited 2 (sent ****** to the registry)",
            "startedAt": started,
            "durationMs": duration,
            "taskRunId": "tell",
            "timeoutMs": 90_000,
            "labels": {"team": "web"},
            "failedTasks": [{
                "taskRunId": "build",
                "taskId": "build",
                "type": "test.fail",
                "state": "FAILED",
                "attempts": 1,
                "error": "failed: compiler exited 2 (sent ****** to the registry)",
            }],
            "url": format!("{}executions/{}", PUBLIC_URL, record.id),
        }),
        "the secret of the asking run is redacted from what it is told"
    );
}

#[tokio::test]
async fn a_task_of_a_succeeding_flow_is_told_it_succeeds_so_far() {
    let h = harness().await;
    let yaml = "id: ship\nnamespace: t\ntasks:\n  - id: first\n    type: test.noop\n  - id: tell\n    type: test.context\n";
    let (record, runs) = h.run(yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    let told = &run(&runs, "tell").outputs.as_ref().unwrap()["execution"];
    assert_eq!(told["state"], "RUNNING");
    assert_eq!(told["outcome"], "SUCCESS");
    assert_eq!(told["error"], Value::Null);
    assert_eq!(told["failedTasks"], json!([]));
    assert_eq!(told["taskRunId"], "tell");
}

#[test]
fn the_url_is_the_executions_page_under_the_public_url() {
    use sluice_engine::scheduler::execution_url;
    assert_eq!(
        execution_url("https://sluice.example.com/", "e1"),
        "https://sluice.example.com/executions/e1"
    );
    assert_eq!(execution_url("https://x.example/ci", "e1"), "https://x.example/ci/executions/e1");
}

#[tokio::test]
async fn templates_see_the_executions_url() {
    let h = harness().await;
    let yaml = "id: link\nnamespace: t\ntasks:\n  - id: say\n    type: test.say\n    message: \"see {{ execution.url }}\"\n";
    let (record, runs) = h.run(yaml, &[]).await;
    let url = format!("{}executions/{}", PUBLIC_URL, record.id);
    assert_eq!(run(&runs, "say").outputs, Some(json!({"message": format!("see {url}")})));
}

#[tokio::test]
async fn a_failure_under_allow_failure_is_a_warning_with_its_task_listed() {
    let h = harness().await;
    let yaml = r#"
id: lenient
namespace: t
tasks:
  - id: optional
    type: flow.sequential
    allowFailure: true
    tasks:
      - id: lint
        type: test.fail
        kind: failed
        message: "3 warnings"
  - id: tell
    type: test.context
"#;
    let (record, runs) = h.run(yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Warning, "{record:?}");
    let told = &run(&runs, "tell").outputs.as_ref().unwrap()["execution"];
    assert_eq!(told["outcome"], "WARNING");
    let failed: Vec<&str> =
        told["failedTasks"].as_array().unwrap().iter().map(|f| f["taskRunId"].as_str().unwrap()).collect();
    assert_eq!(failed, ["lint"], "{told:#}");
}
