//! What operators do to executions beyond starting them: flow `concurrency` (queue, cancel,
//! fail), restart in place, and replay from a task. Real components, real SQLite store.

#![allow(clippy::unwrap_used)]

mod scheduler_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduler_support::{harness, harness_with_source, run};
use serde_json::json;
use sluice_engine::scheduler::RerunError;
use sluice_engine::{ExecutionRecord, ExecutionState, Store, TaskRunState};
use sluice_flow::template::Secrets;

async fn finished(handle: sluice_engine::scheduler::ExecutionHandle) -> ExecutionRecord {
    scheduler_support::finished(handle).await.record.clone()
}

async fn state_of(h: &scheduler_support::Harness, id: &str) -> ExecutionState {
    h.engine.store().get_execution(id).await.unwrap().unwrap().state
}

const QUEUED: &str = "id: q\nnamespace: t\nconcurrency: {limit: 1, behavior: queue}\ntasks:\n  - id: nap\n    type: test.sleep\n    ms: 300\n";

#[tokio::test]
async fn over_the_limit_executions_queue_and_start_in_order() {
    let h = harness().await;
    let first = h.start(QUEUED, &[]).await;
    let second = h.start(QUEUED, &[]).await;
    let third = h.start(QUEUED, &[]).await;
    let ids = [first.id.clone(), second.id.clone(), third.id.clone()];
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(state_of(&h, &ids[1]).await, ExecutionState::Queued);
    assert_eq!(state_of(&h, &ids[2]).await, ExecutionState::Queued);

    let records = [finished(first).await, finished(second).await, finished(third).await];
    for record in &records {
        assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    }
    // One at a time, in the order they were queued.
    for pair in records.windows(2) {
        assert!(pair[1].started_at.unwrap() >= pair[0].ended_at.unwrap(), "{pair:?}");
    }
}

#[tokio::test]
async fn a_killed_queued_execution_gives_its_turn_to_the_next() {
    let h = harness().await;
    let first = h.start(QUEUED, &[]).await;
    let second = h.start(QUEUED, &[]).await;
    let third = h.start(QUEUED, &[]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.engine.kill(&second.id));
    let killed = finished(second).await;
    assert_eq!(killed.state, ExecutionState::Killed);
    assert_eq!(killed.started_at, None, "it never started");
    assert_eq!(finished(first).await.state, ExecutionState::Success);
    assert_eq!(finished(third).await.state, ExecutionState::Success);
}

#[tokio::test]
async fn cancel_and_fail_end_the_newcomer_with_the_reason() {
    let h = harness().await;
    for (behavior, state) in [("cancel", ExecutionState::Cancelled), ("fail", ExecutionState::Failed)] {
        let yaml = format!(
            "id: {behavior}\nnamespace: t\nconcurrency: {{limit: 1, behavior: {behavior}}}\ntasks:\n  - id: nap\n    type: test.sleep\n    ms: 300\n"
        );
        let running = h.start(&yaml, &[]).await;
        let refused = finished(h.start(&yaml, &[]).await).await;
        assert_eq!(refused.state, state);
        assert_eq!(
            refused.error.as_deref(),
            Some(
                format!(
                    "{}: flow t.{behavior} already has 1 running execution(s), its `concurrency.limit` is 1",
                    if behavior == "cancel" {
                        "cancelled (`concurrency.behavior: cancel`)"
                    } else {
                        "failed (`concurrency.behavior: fail`)"
                    }
                )
                .as_str()
            )
        );
        assert!(h.engine.store().task_runs(&refused.id).await.unwrap().is_empty(), "nothing of it ran");
        assert_eq!(finished(running).await.state, ExecutionState::Success);
        // With the place free again, the next one runs.
        assert_eq!(finished(h.start(&yaml, &[]).await).await.state, ExecutionState::Success);
    }
}

/// Secrets an operator can add while the engine runs.
#[derive(Default)]
struct Vault(Mutex<HashMap<String, String>>);

impl Secrets for Vault {
    fn get(&self, name: &str) -> Option<String> {
        self.0.lock().unwrap().get(name).cloned()
    }
}

const GATED: &str = r#"
id: gated
namespace: t
tasks:
  - id: build
    type: test.noop
  - id: deploy
    type: test.echo
    allow: {secrets: [TOKEN]}
    value: "{{ secret('TOKEN') }}"
  - id: announce
    type: test.noop
errors:
  - id: alert
    type: test.noop
"#;

#[tokio::test]
async fn restart_reruns_failed_tasks_in_place() {
    let vault = Arc::new(Vault::default());
    let h = harness_with_source(vault.clone()).await;
    let (failed, runs) = h.run(GATED, &[]).await;
    assert_eq!(failed.state, ExecutionState::Failed);
    assert_eq!(run(&runs, "deploy").state, TaskRunState::Failed);
    assert_eq!(run(&runs, "alert").state, TaskRunState::Success);
    let build_before = run(&runs, "build").clone();

    vault.0.lock().unwrap().insert("TOKEN".into(), "s3cret".into());
    let record = finished(h.engine.restart(&failed.id).await.unwrap()).await;
    assert_eq!(record.id, failed.id, "the same execution");
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    assert_eq!(record.error, None);
    let runs = h.engine.store().task_runs(&record.id).await.unwrap();
    assert_eq!(run(&runs, "build"), &build_before, "what succeeded is not run again");
    let deploy = run(&runs, "deploy");
    assert_eq!(deploy.state, TaskRunState::Success);
    let attempts: Vec<_> = deploy.attempts.iter().map(|a| (a.number, a.state)).collect();
    assert_eq!(attempts, [(1, TaskRunState::Failed), (2, TaskRunState::Success)]);
    assert_eq!(deploy.outputs, Some(json!({"value": "******"})));
    assert_eq!(run(&runs, "announce").state, TaskRunState::Success);
    assert!(runs.iter().all(|r| r.key.task != "alert"), "errors did not run this time: {runs:#?}");

    match h.engine.restart(&record.id).await {
        Err(RerunError::Refused(why)) => assert_eq!(
            why,
            format!("execution {} is SUCCESS: only a FAILED or KILLED execution can be restarted", record.id)
        ),
        other => panic!("{:?}", other.map(|h| h.id)),
    }
    assert!(matches!(h.engine.restart("nope").await, Err(RerunError::NotFound(_))));
}

const PIPELINE: &str = r#"
id: pipe
namespace: t
inputs:
  - id: version
    type: string
tasks:
  - id: build
    type: test.write-file
    path: artifact.txt
    content: "build {{ inputs.version }} of {{ execution.id }}"
  - id: checks
    type: flow.parallel
    tasks:
      - id: lint
        type: test.noop
      - id: unit
        type: test.read-file
        path: artifact.txt
  - id: deploy
    type: test.read-file
    path: artifact.txt
"#;

#[tokio::test]
async fn replay_copies_what_came_before_the_task_and_runs_the_rest() {
    let h = harness().await;
    let (original, before) = h.run(PIPELINE, &[("version", "1.2")]).await;
    assert_eq!(original.state, ExecutionState::Success);
    let content = format!("build 1.2 of {}", original.id);
    assert_eq!(run(&before, "deploy").outputs, Some(json!({"ok": true, "content": content})));

    let handle = h.engine.replay(&original.id, Some("unit")).await.unwrap();
    assert_ne!(handle.id, original.id);
    let replay = finished(handle).await;
    assert_eq!(replay.state, ExecutionState::Success, "{replay:?}");
    assert_eq!(
        replay.trigger,
        Some(json!({"type": "replay", "executionId": original.id, "fromTask": "unit"}))
    );
    assert_eq!(replay.inputs, json!({"version": "1.2"}));
    let runs = h.engine.store().task_runs(&replay.id).await.unwrap();
    // Copied as they ended: the build (so the artifact in the copied workspace is the
    // original's) and the sibling of `unit` that does not wait for it.
    assert_eq!(run(&runs, "build"), run(&before, "build"));
    assert_eq!(run(&runs, "lint"), run(&before, "lint"));
    // Run again: the task, its enclosing group, and what follows.
    for again in ["unit", "checks", "deploy"] {
        let (new, old) = (run(&runs, again), run(&before, again));
        assert_eq!(new.state, TaskRunState::Success, "{again}");
        assert!(new.ended_at > old.ended_at, "{again} ran again");
    }
    assert_eq!(run(&runs, "unit").attempts.len(), 1, "a copied run would keep its attempt: this one is new");
    assert_eq!(run(&runs, "deploy").outputs, Some(json!({"ok": true, "content": content})));

    // Without a task, everything runs again; an unknown task is refused by name.
    let whole = finished(h.engine.replay(&original.id, None).await.unwrap()).await;
    assert_eq!(whole.state, ExecutionState::Success);
    let runs = h.engine.store().task_runs(&whole.id).await.unwrap();
    assert!(run(&runs, "build").ended_at > run(&before, "build").ended_at);
    match h.engine.replay(&original.id, Some("ship")).await {
        Err(RerunError::Refused(why)) => {
            assert_eq!(why, "the flow has no task `ship` (its tasks: build, checks, lint, unit, deploy)")
        }
        other => panic!("{:?}", other.map(|h| h.id)),
    }
}

#[tokio::test]
async fn killing_a_parent_kills_the_subflow_it_waits_for() {
    let h = harness().await;
    let child = "id: child\nnamespace: t\ntasks:\n  - id: long\n    type: test.sleep\n    ms: 60000\n";
    h.engine.store().save_flow("t", "child", child).await.unwrap();
    let parent = "id: parent\nnamespace: t\ntasks:\n  - id: call\n    type: flow.subflow\n    namespace: t\n    flowId: child\n    wait: true\n";
    let mut updates = h.engine.subscribe();
    let handle = h.start(parent, &[]).await;
    scheduler_support::wait_until_running(&mut updates, "long").await;
    assert!(h.engine.kill(&handle.id));
    let record = finished(handle).await;
    assert_eq!(record.state, ExecutionState::Killed);
    let runs = h.engine.store().task_runs(&record.id).await.unwrap();
    let child_id = run(&runs, "call").outputs.as_ref().unwrap()["executionId"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        if state_of(&h, &child_id).await == ExecutionState::Killed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the child {child_id} is {:?}", state_of(&h, &child_id).await);
}

/// Two restarts of one execution at once: the first holds the execution from its first check,
/// the second is refused, and the failed task runs again once, not twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_restarts_drive_the_execution_once() {
    let vault = Arc::new(Vault::default());
    let h = harness_with_source(vault.clone()).await;
    let (failed, _) = h.run(GATED, &[]).await;
    assert_eq!(failed.state, ExecutionState::Failed);
    vault.0.lock().unwrap().insert("TOKEN".into(), "s3cret".into());

    let (first, second) = tokio::join!(h.engine.restart(&failed.id), h.engine.restart(&failed.id));
    let (won, lost) = match (first, second) {
        (Ok(handle), Err(error)) | (Err(error), Ok(handle)) => (handle, error),
        (first, second) => panic!("{:?} and {:?}", first.map(|h| h.id), second.map(|h| h.id)),
    };
    match lost {
        RerunError::Refused(why) => assert_eq!(why, format!("execution {} is still running", failed.id)),
        other => panic!("{other:?}"),
    }
    assert_eq!(finished(won).await.state, ExecutionState::Success);
    let runs = h.engine.store().task_runs(&failed.id).await.unwrap();
    let attempts: Vec<_> = run(&runs, "deploy").attempts.iter().map(|a| (a.number, a.state)).collect();
    assert_eq!(attempts, [(1, TaskRunState::Failed), (2, TaskRunState::Success)]);
    assert_eq!(run(&runs, "build").attempts.len(), 1);
}

const LIMITED: &str = r#"
id: limited
namespace: t
concurrency: {limit: 1, behavior: queue}
inputs:
  - id: long
    type: bool
tasks:
  - id: wait
    type: flow.if
    condition: "{{ inputs.long }}"
    then:
      - id: nap
        type: flow.sleep
        duration: 60s
  - id: deploy
    type: test.echo
    allow: {secrets: [TOKEN]}
    value: "{{ secret('TOKEN') }}"
"#;

/// A restart and a replay take a place under the flow's `concurrency` like a start; over the
/// limit they are refused (they never queue) and change nothing.
#[tokio::test(flavor = "multi_thread")]
async fn restart_and_replay_respect_the_concurrency_limit() {
    let vault = Arc::new(Vault::default());
    let h = harness_with_source(vault.clone()).await;
    let (failed, runs_before) = h.run(LIMITED, &[("long", "false")]).await;
    assert_eq!(failed.state, ExecutionState::Failed);
    let mut updates = h.engine.subscribe();
    let long = h.start(LIMITED, &[("long", "true")]).await;
    scheduler_support::wait_until_running(&mut updates, "nap").await;

    let over = |what: &str| {
        format!(
            "flow t.limited already has 1 running execution(s), its `concurrency.limit` is 1: a {what} does not queue; try again when one ends"
        )
    };
    match h.engine.restart(&failed.id).await {
        Err(RerunError::Refused(why)) => assert_eq!(why, over("restart")),
        other => panic!("{:?}", other.map(|h| h.id)),
    }
    match h.engine.replay(&failed.id, None).await {
        Err(RerunError::Refused(why)) => assert_eq!(why, over("replay")),
        other => panic!("{:?}", other.map(|h| h.id)),
    }
    assert_eq!(h.engine.store().get_execution(&failed.id).await.unwrap().unwrap(), failed, "unchanged");
    assert_eq!(h.engine.store().task_runs(&failed.id).await.unwrap(), runs_before);
    assert_eq!(h.engine.queued_executions(), 0, "nothing queued");

    // With the place free again, the restart runs, and holds the place: a start waits for it.
    assert!(h.engine.kill(&long.id));
    assert_eq!(finished(long).await.state, ExecutionState::Killed);
    vault.0.lock().unwrap().insert("TOKEN".into(), "s3cret".into());
    let restarted = h.engine.restart(&failed.id).await.unwrap();
    let next = h.start(LIMITED, &[("long", "false")]).await;
    let restarted = finished(restarted).await;
    assert_eq!(restarted.state, ExecutionState::Success);
    let next = finished(next).await;
    assert_eq!(next.state, ExecutionState::Success);
    assert!(next.started_at.unwrap() >= restarted.ended_at.unwrap(), "one at a time");
}

#[tokio::test]
async fn restart_and_replay_are_refused_while_draining() {
    let h = harness().await;
    let (failed, _) = h.run(GATED, &[]).await;
    assert_eq!(h.engine.drain(Duration::ZERO).await.cut, 0);
    assert!(matches!(h.engine.restart(&failed.id).await, Err(RerunError::ShuttingDown)));
    assert!(matches!(h.engine.replay(&failed.id, None).await, Err(RerunError::ShuttingDown)));
    assert_eq!(h.engine.store().get_execution(&failed.id).await.unwrap().unwrap(), failed);
}
