//! What a flow author is promised, on the real path (components in the sandbox, the SQLite
//! store): every template variable at run time, native task timeouts, the task's `limits`, and
//! a plugin's outputs checked against its schema. Exact states, outputs and errors.

#![allow(clippy::unwrap_used)]

mod scheduler_support;

use std::time::Duration;

use scheduler_support::{finished, harness, run};
use serde_json::{Value, json};
use sluice_engine::{ExecutionState, Store, TaskRunState};

#[tokio::test]
async fn every_template_variable_has_its_value_at_run_time() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            r#"
id: context
namespace: team.ci
inputs:
  - id: who
    type: string
    default: you
variables:
  greeting: "hi {{ inputs.who }}"
tasks:
  - id: facts
    type: test.echo
    value:
      flow: "{{ flow.id }}/{{ flow.namespace }}/{{ flow.revision }}"
      execution: "{{ execution.id }}"
      start: "{{ execution.startDate }}"
      dir: "{{ workingDir }}"
      var: "{{ vars.greeting }}"
      json: "{{ {'a': [1, 2]} | toJson }}"
      parsed: "{{ ('{\"b\": 3}' | fromJson).b }}"
      now: "{{ now() }}"
      attempt: "{{ taskrun.attempt }}"
  - id: each
    type: flow.forEach
    values: ["x", "y"]
    tasks:
      - id: item
        type: test.echo
        value: "{{ taskrun.value }}-{{ taskrun.iteration }}"
  - id: flaky
    type: core.assert
    retry:
      type: constant
      maxAttempts: 3
      interval: 10ms
    conditions:
      - that: "{{ taskrun.attempt >= 2 }}"
        message: "attempt {{ taskrun.attempt }} is too early"
  - id: after
    type: test.echo
    value: "{{ outputs.facts.value.var }} {{ outputs.item[1].value }}"
"#,
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Success, "{record:?} {runs:#?}");
    let facts = &run(&runs, "facts").outputs.as_ref().unwrap()["value"];
    assert_eq!(facts["flow"], "context/team.ci/1");
    assert_eq!(facts["execution"], record.id.as_str());
    let start = chrono::DateTime::parse_from_rfc3339(facts["start"].as_str().unwrap()).unwrap();
    assert_eq!(start, record.started_at.unwrap(), "startDate is when it started");
    assert_eq!(facts["dir"], "/workspace");
    assert_eq!(facts["var"], "hi you");
    assert_eq!(facts["json"], r#"{"a":[1,2]}"#);
    assert_eq!(facts["parsed"], 3);
    let now = chrono::DateTime::parse_from_rfc3339(facts["now"].as_str().unwrap()).unwrap();
    assert!(now >= record.started_at.unwrap() && now <= record.ended_at.unwrap(), "{now}");
    assert_eq!(facts["attempt"], 1);
    assert_eq!(run(&runs, "item[0]").outputs, Some(json!({"value": "x-0"})));
    assert_eq!(run(&runs, "item[1]").outputs, Some(json!({"value": "y-1"})));
    let flaky = run(&runs, "flaky");
    assert_eq!(flaky.attempts.len(), 2);
    assert_eq!(
        flaky.attempts[0].error.as_deref(),
        Some("failed: 1 of 1 assertions failed:\n- attempt 1 is too early")
    );
    assert_eq!(flaky.attempts[1].state, TaskRunState::Success);
    assert_eq!(run(&runs, "after").outputs, Some(json!({"value": "hi you y-1"})));
}

#[tokio::test]
async fn a_group_past_its_timeout_stops_its_tasks_and_fails() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            r#"
id: bounded
namespace: t
tasks:
  - id: group
    type: flow.sequential
    timeout: 300ms
    tasks:
      - id: long
        type: test.sleep
        ms: 30000
      - id: never
        type: test.noop
  - id: optional
    type: flow.parallel
    timeout: 300ms
    allowFailure: true
    tasks:
      - id: nap
        type: flow.sleep
        duration: 30s
errors:
  - id: report
    type: test.noop
"#,
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    assert_eq!(record.error.as_deref(), Some("task `group` failed: timed out after 300ms"));
    let long = run(&runs, "long");
    assert_eq!((long.state, long.error.as_deref()), (TaskRunState::Killed, Some("timed out after 300ms")));
    assert_eq!(long.attempts.len(), 1, "a cut attempt is not retried");
    assert!(runs.iter().all(|r| r.key.task != "never"));
    let group = run(&runs, "group");
    assert_eq!((group.state, group.error.as_deref()), (TaskRunState::Failed, Some("timed out after 300ms")));
    assert!(runs.iter().all(|r| r.key.task != "optional"), "after a failed task");
    assert_eq!(run(&runs, "report").state, TaskRunState::Success);

    let (record, runs) = h
        .run(
            "id: relaxed\nnamespace: t\ntasks:\n  - id: optional\n    type: flow.parallel\n    timeout: 300ms\n    allowFailure: true\n    tasks:\n      - id: nap\n        type: flow.sleep\n        duration: 30s\n  - id: next\n    type: test.noop\n",
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Warning);
    assert_eq!(run(&runs, "nap").state, TaskRunState::Killed);
    let optional = run(&runs, "optional");
    assert_eq!(
        (optional.state, optional.error.as_deref()),
        (TaskRunState::Warning, Some("timed out after 300ms"))
    );
    assert_eq!(run(&runs, "next").state, TaskRunState::Success);
}

#[tokio::test]
async fn a_subflow_past_its_timeout_fails_and_its_child_is_killed() {
    let h = harness().await;
    let child = "id: child\nnamespace: t\ntasks:\n  - id: long\n    type: test.sleep\n    ms: 60000\n";
    h.engine.store().save_flow("t", "child", child).await.unwrap();
    let (record, runs) = h
        .run(
            "id: parent\nnamespace: t\ntasks:\n  - id: call\n    type: flow.subflow\n    namespace: t\n    flowId: child\n    timeout: 500ms\n",
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    let call = run(&runs, "call");
    assert_eq!((call.state, call.error.as_deref()), (TaskRunState::Failed, Some("timed out after 500ms")));
    let child_id = call.outputs.as_ref().unwrap()["executionId"].as_str().unwrap().to_owned();
    for _ in 0..400 {
        let child = h.engine.store().get_execution(&child_id).await.unwrap().unwrap();
        if child.state == ExecutionState::Killed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the child {child_id} was not killed");
}

#[tokio::test]
async fn the_limits_written_in_the_flow_reach_the_sandbox() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            r#"
id: limited
namespace: t
tasks:
  - id: hungry
    type: test.alloc
    allowFailure: true
    limits:
      memory: 16MiB
  - id: chatty
    type: test.big-output
    bytes: 5000
    allowFailure: true
    limits:
      output: 1KiB
  - id: roomy
    type: test.big-output
    bytes: 5000
    limits:
      output: 1MiB
"#,
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Warning, "{runs:#?}");
    let hungry = run(&runs, "hungry");
    assert_eq!(hungry.state, TaskRunState::Warning);
    assert_eq!(hungry.error.as_deref(), Some("memory limit of 16777216 bytes exceeded"));
    let chatty = run(&runs, "chatty");
    assert_eq!(chatty.state, TaskRunState::Warning);
    assert_eq!(chatty.error.as_deref(), Some("outputs of 5000 bytes exceed the limit of 1024 bytes"));
    assert_eq!(run(&runs, "roomy").state, TaskRunState::Success);
}

#[tokio::test]
async fn outputs_that_break_the_task_contract_fail_the_execution_with_the_reason() {
    let h = harness().await;
    let cases = [
        (json!({"count": 3}), None),
        (json!([1, 2]), Some("invalid outputs: outputs must be a JSON object")),
        (
            json!({"count": "three"}),
            Some(
                "invalid outputs: they do not match the task's output schema: at /count: \"three\" is not of type \"integer\"",
            ),
        ),
        (
            json!({"total": 3}),
            Some(
                "invalid outputs: they do not match the task's output schema: at /: \"count\" is a required property",
            ),
        ),
    ];
    for (output, expected) in cases {
        let yaml = format!(
            "id: shaped\nnamespace: t\ntasks:\n  - id: out\n    type: test.emit\n    output: {output}\n"
        );
        let handle = h.start(&yaml, &[]).await;
        let done = finished(handle).await;
        let runs = h.engine.store().task_runs(&done.record.id).await.unwrap();
        let out = run(&runs, "out");
        match expected {
            None => {
                assert_eq!(done.record.state, ExecutionState::Success);
                assert_eq!(out.outputs, Some(output));
            }
            Some(reason) => {
                assert_eq!(done.record.state, ExecutionState::Failed, "{output}");
                assert_eq!(out.error.as_deref(), Some(reason), "{output}");
                assert_eq!(done.record.error, Some(format!("task `out` failed: {reason}")));
                assert_eq!(out.outputs, None::<Value>);
            }
        }
    }
}
