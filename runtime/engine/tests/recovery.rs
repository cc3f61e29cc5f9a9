//! Crash recovery on the real path. The "crash" drops the first engine's whole tokio runtime
//! while attempts are running (no shutdown code runs, only what was committed survives, as with
//! `kill -9`); a second engine on the same SQLite file then recovers. The server's tests repeat
//! this with a real `kill -9` of the process.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::scheduler::{Engine, EngineConfig, Plugins, StartRequest, StaticSecrets};
use sluice_engine::{ExecutionState, Store, TaskRunState};
use sluice_sandbox::{Sandbox, SandboxConfig};
use sluice_store::SqliteStore;

const FLOW: &str = "id: crash
namespace: t
tasks:
  - id: first
    type: test.noop
  - id: slow
    type: test.sleep
    ms: 600
  - id: fan
    type: flow.parallel
    tasks:
      - id: left
        type: test.sleep
        ms: 200
      - id: right
        type: test.noop
  - id: last
    type: test.noop
";

async fn engine(dir: &Path) -> (Engine<SqliteStore>, Plugins) {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recovery-cache");
    let sandbox = Arc::new(
        Sandbox::new(SandboxConfig {
            cache_dir: Some(cache),
            max_concurrent_runs: 64,
            ..SandboxConfig::default()
        })
        .unwrap(),
    );
    let test = sandbox.load(&test_programs_artifacts::test_programs_bytes()).await.unwrap();
    let plugins = Plugins::new([(test, sluice_engine::setup::Origin::Builtin)]).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("sluice.db")).await.unwrap());
    let config = EngineConfig::new(dir.join("workspaces"), "test");
    (Engine::new(store, sandbox, plugins.clone(), Arc::new(StaticSecrets::default()), config), plugins)
}

/// Saves `yaml` and starts `n` executions of it; their ids.
async fn start_many(engine: &Engine<SqliteStore>, plugins: &Plugins, yaml: &str, n: usize) -> Vec<String> {
    let locked = sluice_flow::load("flow.yaml", yaml, plugins).unwrap();
    let flow = locked.flow.clone();
    let saved = engine.store().save_flow(&flow.namespace, &flow.id, yaml).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..n {
        let request = StartRequest {
            flow: locked.clone(),
            revision: saved.revision,
            inputs: BTreeMap::new(),
            labels: BTreeMap::new(),
            trigger: None,
            parent: None,
        };
        ids.push(engine.start(request).await.unwrap().id);
    }
    ids
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn executions_continue_after_a_crash_and_each_task_succeeds_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let before = runtime();
    let ids: Vec<String> = before.block_on(async {
        let (engine, plugins) = engine(dir.path()).await;
        let ids = start_many(&engine, &plugins, FLOW, 8).await;
        // Let every execution get into `slow`.
        tokio::time::sleep(Duration::from_millis(300)).await;
        ids
    });
    before.shutdown_background();

    let after = runtime();
    after.block_on(async {
        let (engine, _) = engine(dir.path()).await;
        let store = engine.store().clone();
        for id in &ids {
            let record = store.get_execution(id).await.unwrap().unwrap();
            assert!(!record.state.is_terminal(), "{id} ended before the crash: {record:?}");
        }
        let handles = engine.recover().await.unwrap();
        assert_eq!(handles.len(), ids.len());
        for handle in handles {
            let done =
                tokio::time::timeout(Duration::from_secs(30), handle.finished()).await.unwrap().unwrap();
            let record = &done.record;
            assert_eq!(record.state, ExecutionState::Success, "{record:?}");
        }
        for id in &ids {
            let runs = store.task_runs(id).await.unwrap();
            let names: Vec<String> = runs.iter().map(|r| r.key.to_string()).collect();
            assert_eq!(names, ["first", "slow", "fan", "left", "right", "last"], "each run once");
            for run in runs.iter().filter(|r| r.key.task != "fan") {
                let successes = run.attempts.iter().filter(|a| a.state == TaskRunState::Success).count();
                assert_eq!((run.state, successes), (TaskRunState::Success, 1), "{run:?}");
            }
            // `slow` was running at the crash: its attempt is recorded as interrupted, then redone.
            let slow = runs.iter().find(|r| r.key.task == "slow").unwrap();
            assert_eq!(slow.attempts.len(), 2, "{slow:?}");
            assert_eq!(slow.attempts[0].state, TaskRunState::Failed);
            assert!(
                slow.attempts[0]
                    .error
                    .as_deref()
                    .unwrap()
                    .contains("interrupted: its server stopped or lost the execution")
            );
            // `first` had finished: it was not run again.
            assert_eq!(runs[0].attempts.len(), 1);
        }
        assert!(engine.recover().await.unwrap().is_empty(), "nothing is left to recover");
    });
}

const ONE_AT_A_TIME: &str = "id: serial
namespace: t
concurrency: {limit: 1, behavior: queue}
tasks:
  - id: slow
    type: test.sleep
    ms: 400
";

/// The queue of a flow with a `concurrency` limit survives a crash: the running execution
/// keeps its place, the queued ones start after it, one at a time, in their original order.
#[test]
fn queued_executions_keep_their_turn_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let before = runtime();
    let ids: Vec<String> = before.block_on(async {
        let (engine, plugins) = engine(dir.path()).await;
        let ids = start_many(&engine, &plugins, ONE_AT_A_TIME, 4).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let store = engine.store();
        assert_eq!(store.get_execution(&ids[0]).await.unwrap().unwrap().state, ExecutionState::Running);
        for id in &ids[1..] {
            assert_eq!(store.get_execution(id).await.unwrap().unwrap().state, ExecutionState::Queued);
        }
        ids
    });
    before.shutdown_background();

    let after = runtime();
    after.block_on(async {
        let (engine, _) = engine(dir.path()).await;
        let handles = engine.recover().await.unwrap();
        assert_eq!(handles.len(), 4);
        let mut records = Vec::new();
        for handle in handles {
            records.push(
                tokio::time::timeout(Duration::from_secs(30), handle.finished())
                    .await
                    .unwrap()
                    .unwrap()
                    .record
                    .clone(),
            );
        }
        assert_eq!(records.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
        for pair in records.windows(2) {
            assert_eq!(pair[1].state, ExecutionState::Success);
            assert!(
                pair[1].started_at.unwrap() >= pair[0].ended_at.unwrap(),
                "one at a time, in order: {pair:?}"
            );
        }
    });
}
