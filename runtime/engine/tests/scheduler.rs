//! The scheduler on the real path: the test-programs and core components in the sandbox, the
//! SQLite store in a temp dir. Exact states, outputs, attempts and logs, read back from the store.

#![allow(clippy::unwrap_used)]

mod scheduler_support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use scheduler_support::{finished, harness, harness_with_secrets, run, wait_until_running};
use serde_json::json;
use sluice_engine::scheduler::ResumeError;
use sluice_engine::{ExecutionState, LogFilter, Store, StoreError, TaskRunState};
use sluice_flow::inputs::RawInput;

#[tokio::test]
async fn tasks_share_the_workspace_and_logs_are_stored_by_task_run() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            r#"
id: share
namespace: t
tasks:
  - id: write
    type: test.write-file
    path: /workspace/note.txt
    content: "from {{ flow.id }}"
  - id: read
    type: test.read-file
    path: note.txt
  - id: say
    type: test.say
    message: "read {{ outputs.read.content }}"
"#,
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Success, "{record:?} {runs:#?}");
    assert_eq!(run(&runs, "read").outputs, Some(json!({"ok": true, "content": "from share"})));
    let logs = h.engine.store().logs(&record.id, &LogFilter::default()).await.unwrap();
    let said: Vec<(String, String, String)> = logs
        .iter()
        .filter(|l| l.record.source == "plugin")
        .map(|l| {
            (
                l.record.task_run.as_ref().unwrap().to_string(),
                l.record.level.clone(),
                l.record.message.clone(),
            )
        })
        .collect();
    assert_eq!(said, [("say".to_string(), "INFO".to_string(), "read from share".to_string())]);
}

#[tokio::test]
async fn kill_stops_a_running_task() {
    let h = harness().await;
    let mut updates = h.engine.subscribe();
    let handle = h
        .start(
            "id: k\nnamespace: t\ntasks:\n  - id: long\n    type: test.sleep\n    ms: 60000\n  - id: never\n    type: test.noop\n",
            &[],
        )
        .await;
    wait_until_running(&mut updates, "long").await;
    assert!(h.engine.kill(&handle.id));
    let id = handle.id.clone();
    let record = finished(handle).await.record.clone();
    assert_eq!(record.state, ExecutionState::Killed);
    let runs = h.engine.store().task_runs(&id).await.unwrap();
    assert_eq!(run(&runs, "long").state, TaskRunState::Killed);
    assert!(runs.iter().all(|r| r.key.task != "never"));
    assert!(!h.engine.kill(&id), "a finished execution is not running any more");
}

#[tokio::test]
async fn pause_resumes_with_typed_inputs() {
    let h = harness().await;
    let mut updates = h.engine.subscribe();
    let handle = h
        .start(
            r#"
id: p
namespace: t
tasks:
  - id: approve
    type: flow.pause
    onResume:
      - id: approved
        type: bool
      - id: by
        type: string
  - id: after
    type: test.echo
    value: "{{ outputs.approve.approved }} by {{ outputs.approve.by }}"
"#,
            &[],
        )
        .await;
    wait_until_running(&mut updates, "approve").await;
    let id = handle.id.clone();
    let wrong = BTreeMap::from([("approved".to_string(), RawInput::Json(json!("yes please")))]);
    let error = h.engine.resume(&id, None, wrong).await.unwrap_err();
    assert!(matches!(&error, ResumeError::Inputs(errors) if errors.len() == 2), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("input `approved`: expected true or false, got a string"), "{error}");
    assert!(error.contains("input `by`: required"), "{error}");
    let right = BTreeMap::from([
        ("approved".to_string(), RawInput::Json(json!(true))),
        ("by".to_string(), RawInput::Text("ana".into())),
    ]);
    h.engine.resume(&id, None, right).await.unwrap();
    let record = finished(handle).await.record.clone();
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    let runs = h.engine.store().task_runs(&id).await.unwrap();
    assert_eq!(run(&runs, "approve").outputs, Some(json!({"approved": true, "by": "ana"})));
    assert_eq!(run(&runs, "after").outputs, Some(json!({"value": "true by ana"})));
}

#[tokio::test]
async fn flow_timeout_kills_running_tasks_then_runs_finally() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            "id: slow\nnamespace: t\ntimeout: 300ms\ntasks:\n  - id: long\n    type: test.sleep\n    ms: 30000\nfinally:\n  - id: cleanup\n    type: test.noop\n",
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    assert!(record.error.as_deref().unwrap().contains("timeout"), "{record:?}");
    assert_eq!(run(&runs, "long").state, TaskRunState::Killed);
    assert_eq!(run(&runs, "cleanup").state, TaskRunState::Success);
}

#[tokio::test]
async fn task_timeout_and_retries_are_recorded_per_attempt() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            r#"
id: r
namespace: t
tasks:
  - id: slow
    type: test.sleep
    ms: 30000
    timeout: 100ms
    allowFailure: true
  - id: flaky
    type: test.fail
    kind: failed
    message: boom
    retry:
      type: constant
      maxAttempts: 3
      interval: 10ms
  - id: never
    type: test.noop
"#,
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    let slow = run(&runs, "slow");
    assert_eq!(slow.state, TaskRunState::Warning);
    assert!(slow.error.as_deref().unwrap().contains("timed out"), "{slow:?}");
    let flaky = run(&runs, "flaky");
    assert_eq!(flaky.state, TaskRunState::Failed);
    assert_eq!(flaky.attempts.len(), 3);
    assert!(flaky.attempts.iter().all(|a| a.state == TaskRunState::Failed && a.ended_at.is_some()));
    assert_eq!(flaky.attempts.iter().map(|a| a.number).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(flaky.error.as_deref().unwrap().contains("boom"));
    assert!(record.error.as_deref().unwrap().contains("flaky"), "{record:?}");
    assert!(runs.iter().all(|r| r.key.task != "never"));
}

#[tokio::test]
async fn a_refused_config_is_not_retried() {
    let h = harness().await;
    let (record, runs) = h
        .run(
            "id: c\nnamespace: t\ntasks:\n  - id: bad\n    type: test.fail\n    kind: invalid-config\n    message: no\n    retry:\n      type: constant\n      maxAttempts: 5\n      interval: 10ms\n",
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    assert_eq!(run(&runs, "bad").attempts.len(), 1);
}

#[tokio::test]
async fn a_long_chain_is_stored_exactly_once_per_task() {
    let h = harness().await;
    let mut yaml = String::from("id: chain\nnamespace: t\ntasks:\n");
    for i in 0..200 {
        yaml.push_str(&format!("  - id: t{i}\n    type: test.noop\n"));
    }
    let (record, runs) = h.run(&yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Success);
    assert_eq!(runs.len(), 200);
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.key.task, format!("t{i}"), "creation order");
        assert_eq!((r.state, r.attempts.len()), (TaskRunState::Success, 1));
    }
    for pair in runs.windows(2) {
        assert!(pair[1].started_at.unwrap() >= pair[0].ended_at.unwrap(), "sequential");
    }
}

#[tokio::test]
async fn secrets_are_redacted_from_stored_logs_and_outputs() {
    let h = harness_with_secrets(HashMap::from([("K".to_string(), "hunter2-secret".to_string())])).await;
    let (record, runs) = h
        .run(
            "id: s\nnamespace: t\ntasks:\n  - id: say\n    type: test.say\n    message: \"key={{ secret('K') }}\"\n    allow:\n      secrets: [K]\n",
            &[],
        )
        .await;
    assert_eq!(record.state, ExecutionState::Success);
    assert_eq!(run(&runs, "say").outputs, Some(json!({"message": "key=******"})));
    let logs = h.engine.store().logs(&record.id, &LogFilter::default()).await.unwrap();
    assert!(logs.iter().any(|l| l.record.message == "key=******"), "{logs:?}");
    assert!(logs.iter().all(|l| !l.record.message.contains("hunter2")));
}

#[tokio::test]
async fn a_secret_used_as_an_output_key_is_redacted_too() {
    let h = harness_with_secrets(HashMap::from([("K".to_string(), "hunter2-secret".to_string())])).await;
    let yaml = "id: s\nnamespace: t\ntasks:\n  - id: keyed\n    type: test.key-by\n    key: \"user-{{ secret('K') }}\"\n    allow:\n      secrets: [K]\noutputs:\n  map: \"{{ outputs.keyed.byKey }}\"\n";
    let (record, runs) = h.run(yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    assert_eq!(run(&runs, "keyed").outputs, Some(json!({"byKey": {"user-******": true}})));
    let stored = serde_json::to_string(&record).unwrap();
    assert!(!stored.contains("hunter2"), "{stored}");
}

#[tokio::test]
async fn limits_disk_reaches_the_sandbox() {
    let h = harness().await;
    let yaml = "id: d\nnamespace: t\ntasks:\n  - id: fill\n    type: test.fill-disk\n    bytes: 3145728\n    how: write\n    limits:\n      disk: 1MiB\n";
    let (record, runs) = h.run(yaml, &[]).await;
    assert_eq!(record.state, ExecutionState::Failed);
    let error = run(&runs, "fill").error.clone().unwrap();
    assert!(error.contains("past its limit of 1048576 bytes (raise `limits.disk`"), "{error}");
}

#[tokio::test]
async fn file_inputs_are_copied_into_the_workspace_and_kept_as_artifacts() {
    let h = harness().await;
    let source = h.dir.path().join("report.txt");
    std::fs::write(&source, "42 passed").unwrap();
    let yaml = "id: f\nnamespace: t\ninputs:\n  - id: report\n    type: file\ntasks:\n  - id: read\n    type: test.read-file\n    path: \"{{ inputs.report }}\"\n";
    let (record, runs) = h.run(yaml, &[("report", source.to_str().unwrap())]).await;
    assert_eq!(record.state, ExecutionState::Success, "{record:?}");
    assert_eq!(run(&runs, "read").outputs, Some(json!({"ok": true, "content": "42 passed"})));
    assert_eq!(record.inputs, json!({"report": "/workspace/inputs/report/report.txt"}));
    let artifacts = h.engine.store().artifacts(&record.id).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].1, "inputs/report/report.txt");
    let bytes = h.engine.store().get_artifact(&artifacts[0].2.sha256).await.unwrap().unwrap();
    assert_eq!(bytes, b"42 passed");
}

#[tokio::test]
async fn a_missing_subflow_fails_the_task_by_name() {
    let h = harness().await;
    let (record, runs) = h
        .run("id: s\nnamespace: t\ntasks:\n  - id: child\n    type: flow.subflow\n    namespace: t\n    flowId: ghost\n", &[])
        .await;
    assert_eq!(record.state, ExecutionState::Failed);
    let error = run(&runs, "child").error.clone().unwrap();
    assert!(error.contains("flow t.ghost does not exist"), "{error}");
}

#[tokio::test]
async fn workspaces_of_finished_executions_are_swept() {
    let h = harness().await;
    let (record, _) = h.run("id: w\nnamespace: t\ntasks:\n  - id: n\n    type: test.noop\n", &[]).await;
    let workspace = h.dir.path().join("workspaces").join(&record.id);
    assert!(workspace.is_dir());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(h.engine.sweep_workspaces().await.unwrap(), 1);
    assert!(!workspace.exists());
}

#[tokio::test]
async fn a_sweep_waits_for_its_interval() {
    let h = harness().await;
    let (first, _) = h.run("id: w\nnamespace: t\ntasks:\n  - id: n\n    type: test.noop\n", &[]).await;
    std::thread::sleep(Duration::from_millis(20));
    let hour = Duration::from_secs(3600);
    assert_eq!(h.engine.sweep_workspaces_every(hour).await.unwrap(), Some(1));
    let marker = h.dir.path().join("workspaces.last-sweep");
    assert!(marker.is_file(), "the sweep leaves its marker");
    // Within the hour: skipped, even though another workspace has expired by now.
    let (second, _) = h.run("id: w\nnamespace: t\ntasks:\n  - id: n\n    type: test.noop\n", &[]).await;
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(h.engine.sweep_workspaces_every(hour).await.unwrap(), None);
    assert!(h.dir.path().join("workspaces").join(&second.id).is_dir());
    // A shorter interval has passed: it sweeps.
    assert_eq!(h.engine.sweep_workspaces_every(Duration::from_millis(10)).await.unwrap(), Some(1));
    assert!(!h.dir.path().join("workspaces").join(&second.id).exists());
    assert!(!h.dir.path().join("workspaces").join(&first.id).exists());
    // The workspaces directory holds workspaces only.
    assert_eq!(std::fs::read_dir(h.dir.path().join("workspaces")).unwrap().count(), 0);
}

/// A sweep that cannot read the workspaces directory says which path, as its own error (not as
/// a database error).
#[tokio::test]
async fn a_sweep_that_cannot_read_the_workspaces_reports_the_path() {
    let h = harness().await;
    let root = h.dir.path().join("workspaces");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::write(&root, b"not a directory").unwrap();
    for error in [
        h.engine.sweep_workspaces().await.unwrap_err(),
        h.engine.sweep_workspaces_every(Duration::ZERO).await.unwrap_err(),
    ] {
        let StoreError::Workspace { path, .. } = &error else { panic!("not a workspace error: {error:?}") };
        assert_eq!(path, &root, "{error}");
        assert!(error.to_string().contains(root.to_str().unwrap()), "{error}");
    }
}

/// The parser refuses `allow.env` of a secret's variable; a flow built in code (not parsed)
/// is refused the same by the engine, before the plugin runs.
#[tokio::test]
async fn a_secret_variable_granted_as_env_in_code_is_refused_at_dispatch() {
    let h = harness().await;
    let yaml = "id: e\nnamespace: t\ntasks:\n  - id: env\n    type: test.noop\n";
    let mut locked = h.load(yaml);
    std::sync::Arc::make_mut(&mut locked.flow).tasks[0].allow.env = vec!["SLUICE_SECRET_TOKEN".into()];
    let done = finished(h.start_locked(locked, yaml, &[]).await).await;
    assert_eq!(done.record.state, ExecutionState::Failed);
    let runs = h.engine.store().task_runs(&done.record.id).await.unwrap();
    assert_eq!(
        run(&runs, "env").error.as_deref(),
        Some(
            "allow.env grants `SLUICE_SECRET_TOKEN`, which holds a secret: grant it in allow.secrets instead"
        )
    );
}

/// An API answers a start with the execution's id; `recorded` is what lets it promise that a
/// read with that id finds it. It returns while the execution runs (here: paused until killed),
/// not when it ends.
#[tokio::test]
async fn a_started_execution_is_in_the_store_once_recorded() {
    let h = harness().await;
    for _ in 0..10 {
        let mut handle =
            h.start("id: r\nnamespace: t\ntasks:\n  - id: gate\n    type: flow.pause\n", &[]).await;
        tokio::time::timeout(Duration::from_secs(60), handle.recorded())
            .await
            .expect("recorded before the end");
        let stored = h.engine.store().get_execution(&handle.id).await.unwrap().unwrap();
        assert!(!stored.state.is_terminal(), "{stored:?}");
        assert!(h.engine.kill(&handle.id));
    }
}
