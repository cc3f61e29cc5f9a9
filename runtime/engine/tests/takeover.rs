//! Takeover between two engines (two nodes) on one SQLite file, each with its own workspaces
//! directory as if on its own machine, with workspace snapshots on. Node `a` "crashes" (its
//! whole runtime is dropped mid-task: only what it committed survives); node `b`'s keeper
//! claims the execution once `a`'s lease expires, rebuilds the workspace from the snapshot in
//! the store (the file input's nested directory, a written file, its executable bit) and
//! finishes it. A manifest naming a path outside the workspace is refused.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice_engine::scheduler::{Engine, EngineConfig, Keeper, Plugins, StartRequest, StaticSecrets};
use sluice_engine::{CommitBatch, ExecutionRecord, ExecutionState, Lease, Store};
use sluice_flow::inputs::RawInput;
use sluice_sandbox::{Sandbox, SandboxConfig};
use sluice_store::SqliteStore;

const FLOW: &str = "id: files
namespace: t
inputs:
  - id: doc
    type: file
tasks:
  - id: write
    type: test.write-file
    path: /workspace/note.txt
    content: before the crash
  - id: mark
    type: test.set-executable
    path: /workspace/note.txt
    executable: true
  - id: slow
    type: test.sleep
    ms: 800
  - id: read
    type: test.read-file
    path: /workspace/note.txt
  - id: check
    type: test.is-executable
    path: /workspace/note.txt
  - id: input
    type: test.read-file
    path: \"{{ inputs.doc }}\"
";

const TTL: Duration = Duration::from_millis(500);

async fn engine(dir: &Path, node: &str) -> (Engine<SqliteStore>, Plugins) {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("takeover-cache");
    let sandbox =
        Arc::new(Sandbox::new(SandboxConfig { cache_dir: Some(cache), ..SandboxConfig::default() }).unwrap());
    let test = sandbox.load(&test_programs_artifacts::test_programs_bytes()).await.unwrap();
    let plugins = Plugins::new([(test, sluice_engine::setup::Origin::Builtin)]).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.join("sluice.db")).await.unwrap());
    let config = EngineConfig {
        workspace_snapshots: true,
        lease_ttl: TTL,
        ..EngineConfig::new(dir.join(format!("workspaces-{node}")), node)
    };
    (Engine::new(store, sandbox, plugins.clone(), Arc::new(StaticSecrets::default()), config), plugins)
}

/// The entry for `path` of the workspace manifest attached to execution `id`.
async fn manifest_entry(store: &SqliteStore, id: &str, path: &str) -> serde_json::Value {
    let attached = store.artifacts(id).await.unwrap();
    let (_, _, manifest) =
        attached.iter().find(|(_, name, _)| name == "sluice/workspace-manifest.json").unwrap();
    let bytes = store.get_artifact(&manifest.sha256).await.unwrap().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let entries = manifest["entries"].as_array().unwrap();
    entries.iter().find(|e| e["path"] == path).cloned().unwrap_or_else(|| panic!("{path} in {manifest}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn the_node_that_takes_an_execution_over_rebuilds_its_workspace_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("doc.txt");
    std::fs::write(&doc, "the input file").unwrap();
    let before = runtime();
    let id = before.block_on(async {
        let (engine, plugins) = engine(dir.path(), "a").await;
        let _keeper = engine.keep_leases(Keeper::TakeOver);
        let locked = sluice_flow::load("flow.yaml", FLOW, &plugins).unwrap();
        let saved = engine.store().save_flow("t", "files", FLOW).await.unwrap();
        let inputs = BTreeMap::from([("doc".to_owned(), RawInput::Text(doc.display().to_string()))]);
        let request = StartRequest {
            flow: locked,
            revision: saved.revision,
            inputs,
            labels: BTreeMap::new(),
            trigger: None,
            parent: None,
        };
        let id = engine.start(request).await.unwrap().id;
        // Until `mark`'s end is recorded: the commit that records it attaches the workspace
        // it left, so a takeover from then on finds the executable bit.
        for tries in 0.. {
            let runs = engine.store().task_runs(&id).await.unwrap();
            if runs.iter().any(|r| r.key.task == "mark" && r.state.is_terminal()) {
                break;
            }
            assert!(tries < 2000, "mark never ended: {runs:?}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let note = manifest_entry(engine.store(), &id, "note.txt").await;
        assert_eq!(note["executable"], json!(true), "{note}");
        id
    });
    before.shutdown_background();

    let after = runtime();
    after.block_on(async {
        let (engine, _) = engine(dir.path(), "b").await;
        let _keeper = engine.keep_leases(Keeper::TakeOver);
        let store = engine.store().clone();
        let mut record = None;
        for _ in 0..300 {
            record = store.get_execution(&id).await.unwrap().filter(|r| r.state.is_terminal());
            if record.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let record = record.expect("b finished the execution");
        assert_eq!(record.state, ExecutionState::Success, "{record:?}");
        let outputs = |task: &str| {
            let store = store.clone();
            let id = id.clone();
            let task = task.to_owned();
            async move {
                let runs = store.task_runs(&id).await.unwrap();
                runs.into_iter().find(|r| r.key.task == task).unwrap().outputs.unwrap()
            }
        };
        assert_eq!(outputs("read").await, json!({"ok": true, "content": "before the crash"}));
        assert_eq!(outputs("check").await, json!({"ok": true, "executable": true}));
        assert_eq!(outputs("input").await, json!({"ok": true, "content": "the input file"}));
        let rebuilt = dir.path().join("workspaces-b").join(&id);
        assert_eq!(std::fs::read_to_string(rebuilt.join("inputs/doc/doc.txt")).unwrap(), "the input file");
        let slow = store.task_runs(&id).await.unwrap().into_iter().find(|r| r.key.task == "slow").unwrap();
        assert_eq!(slow.attempts.len(), 2, "the cut attempt, then b's: {slow:?}");
    });
}

#[test]
fn a_manifest_naming_a_path_outside_the_workspace_writes_nothing_there() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let (engine, plugins) = engine(dir.path(), "b").await;
        let store = engine.store().clone();
        let flow = "id: plain\nnamespace: t\ntasks:\n  - id: only\n    type: test.noop\n";
        sluice_flow::load("flow.yaml", flow, &plugins).unwrap();
        store.save_flow("t", "plain", flow).await.unwrap();
        // As a node that died mid-run would have left it, with a crafted manifest attached.
        let mut record = ExecutionRecord::new("crafted", "t", "plain", 1, chrono::Utc::now());
        record.state = ExecutionState::Running;
        let lease = Lease { execution_id: "crafted".into(), node: "a".into(), epoch: 1, ttl: Duration::ZERO };
        store.commit(CommitBatch { executions: vec![record], lease: Some(lease), ..CommitBatch::default() }).await.unwrap();
        let evil = store.put_artifact(b"escaped").await.unwrap();
        let manifest = json!({"entries": [{"kind": "file", "path": "../../escaped.txt", "sha256": evil.sha256, "executable": false}]});
        let manifest = store.put_artifact(manifest.to_string().as_bytes()).await.unwrap();
        store.attach_artifact("crafted", None, "sluice/workspace-manifest.json", &manifest).await.unwrap();

        let _keeper = engine.keep_leases(Keeper::TakeOver);
        for _ in 0..300 {
            let done = store.get_execution("crafted").await.unwrap().unwrap().state.is_terminal();
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let record = store.get_execution("crafted").await.unwrap().unwrap();
        assert_eq!(record.state, ExecutionState::Success, "it runs on, in an empty workspace");
        assert!(!dir.path().join("escaped.txt").exists());
        assert!(!dir.path().join("workspaces-b/escaped.txt").exists());
    });
}

/// A lease that lapses while its driver still runs here (the keeper could not renew it, as in
/// a long database outage) and that no other node claimed is renewed as it is; one this node
/// claims anew while its driver runs (here by `recover`, which takes back the node's own) is
/// adopted at the new epoch. Either way the running attempt goes on, nothing is interrupted
/// or run again.
#[test]
fn a_lapsed_or_reclaimed_lease_of_a_live_driver_keeps_the_running_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let (engine, plugins) = engine(dir.path(), "a").await;
        let flow = "id: long\nnamespace: t\ntasks:\n  - id: slow\n    type: test.sleep\n    ms: 2000\n";
        let locked = sluice_flow::load("flow.yaml", flow, &plugins).unwrap();
        let saved = engine.store().save_flow("t", "long", flow).await.unwrap();
        let request = StartRequest {
            flow: locked,
            revision: saved.revision,
            inputs: BTreeMap::new(),
            labels: BTreeMap::new(),
            trigger: None,
            parent: None,
        };
        let handle = engine.start(request).await.unwrap();
        let id = handle.id.clone();
        let held = |epoch: u64| Lease { execution_id: id.clone(), node: "a".into(), epoch, ttl: TTL };
        // No keeper yet: the lease (500 ms) lapses while `slow` runs; the keeper renews it.
        tokio::time::sleep(TTL * 2).await;
        assert_eq!(engine.store().cluster_status().await.unwrap().awaiting_takeover, 1);
        let keeper = engine.keep_leases(Keeper::TakeOver);
        tokio::time::sleep(TTL / 2).await;
        assert_eq!(engine.store().cluster_status().await.unwrap().awaiting_takeover, 0);
        assert!(engine.store().renew_leases(&[held(1)]).await.unwrap().is_empty(), "still a's, epoch 1");

        let restored = engine.recover().await.unwrap();
        assert!(restored.is_empty(), "adopted, not restored");
        assert_eq!(engine.store().renew_leases(&[held(1)]).await.unwrap(), std::slice::from_ref(&id));
        assert!(engine.store().renew_leases(&[held(2)]).await.unwrap().is_empty(), "a's, epoch 2");

        let finished = handle.finished().await.unwrap();
        drop(keeper);
        assert_eq!(finished.record.state, ExecutionState::Success);
        let slow = &finished.task_runs[0];
        assert_eq!(slow.attempts.len(), 1, "not interrupted: {slow:?}");
    });
}
