//! The engine on the real path for the scheduler's tests: the test-programs and core
//! components in the sandbox, the SQLite store in a temp dir.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sluice_engine::scheduler::{
    Engine, EngineConfig, ExecutionHandle, Finished, Plugins, StartRequest, StaticSecrets, Update,
};
use sluice_engine::{ExecutionRecord, Store, TaskRun, TaskRunKey, TaskRunState};
use sluice_flow::inputs::RawInput;
use sluice_flow::template::Secrets;
use sluice_sandbox::{Sandbox, SandboxConfig};
use sluice_store::SqliteStore;

/// The public URL the harness's engine is configured with.
pub const PUBLIC_URL: &str = "https://sluice.example.com/";

pub struct Harness {
    pub engine: Engine<SqliteStore>,
    pub plugins: Plugins,
    pub dir: tempfile::TempDir,
}

pub async fn harness() -> Harness {
    harness_with_secrets(HashMap::new()).await
}

pub async fn harness_with_secrets(secrets: HashMap<String, String>) -> Harness {
    harness_with_source(Arc::new(StaticSecrets(secrets))).await
}

/// A harness whose secrets come from `secrets` (which a test may change while it runs).
pub async fn harness_with_source(secrets: Arc<dyn Secrets>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scheduler-cache");
    let sandbox =
        Arc::new(Sandbox::new(SandboxConfig { cache_dir: Some(cache), ..SandboxConfig::default() }).unwrap());
    let test = sandbox.load(&test_programs_artifacts::test_programs_bytes()).await.unwrap();
    let core = sandbox.load(sluice_builtin_plugins::CORE.wasm).await.unwrap();
    let plugins = Plugins::new([test, core].map(|p| (p, sluice_engine::setup::Origin::Builtin))).unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("sluice.db")).await.unwrap());
    let engine = Engine::new(
        store,
        sandbox,
        plugins.clone(),
        secrets,
        EngineConfig {
            workspace_retention: Some(Duration::ZERO),
            public_url: Some(PUBLIC_URL.to_owned()),
            ..EngineConfig::new(dir.path().join("workspaces"), "test")
        },
    );
    Harness { engine, plugins, dir }
}

impl Harness {
    pub async fn start(
        &self,
        yaml: &str,
        inputs: &[(&str, &str)],
    ) -> sluice_engine::scheduler::ExecutionHandle {
        self.start_locked(self.load(yaml), yaml, inputs).await
    }

    /// The flow parsed and validated, as the engine takes it (a test may change it after).
    pub fn load(&self, yaml: &str) -> sluice_flow::LockedFlow {
        sluice_flow::load("test.yaml", yaml, &self.plugins)
            .unwrap_or_else(|d| panic!("{}", sluice_flow::render(&d, "test.yaml", yaml)))
    }

    /// Starts `locked`, saved under the text `yaml`.
    pub async fn start_locked(
        &self,
        locked: sluice_flow::LockedFlow,
        yaml: &str,
        inputs: &[(&str, &str)],
    ) -> sluice_engine::scheduler::ExecutionHandle {
        let flow = locked.flow.clone();
        let saved = self.engine.store().save_flow(&flow.namespace, &flow.id, yaml).await.unwrap();
        let inputs = inputs.iter().map(|(k, v)| (k.to_string(), RawInput::Text(v.to_string()))).collect();
        self.engine
            .start(StartRequest {
                flow: locked,
                revision: saved.revision,
                inputs,
                labels: BTreeMap::new(),
                trigger: None,
                parent: None,
            })
            .await
            .unwrap()
    }

    pub async fn run(&self, yaml: &str, inputs: &[(&str, &str)]) -> (ExecutionRecord, Vec<TaskRun>) {
        let handle = self.start(yaml, inputs).await;
        let id = handle.id.clone();
        let done = finished(handle).await;
        let stored = self.engine.store().get_execution(&id).await.unwrap().unwrap();
        assert_eq!(stored, done.record, "the store holds the final record");
        let runs = self.engine.store().task_runs(&id).await.unwrap();
        assert_eq!(runs, done.task_runs, "the handle's task runs are the stored ones, in order");
        (done.record.clone(), runs)
    }
}

/// How the execution ended (within a minute).
pub async fn finished(handle: ExecutionHandle) -> Arc<Finished> {
    tokio::time::timeout(Duration::from_secs(60), handle.finished()).await.unwrap().unwrap()
}

pub fn run<'a>(runs: &'a [TaskRun], key: &str) -> &'a TaskRun {
    let key: TaskRunKey = key.parse().unwrap();
    runs.iter().find(|r| r.key == key).unwrap_or_else(|| panic!("no run {key}"))
}

pub async fn wait_until_running(updates: &mut tokio::sync::broadcast::Receiver<Update>, task: &str) {
    loop {
        if let Update::TaskRun { run, .. } = updates.recv().await.unwrap()
            && run.key.task == task
            && run.state == TaskRunState::Running
        {
            return;
        }
    }
}
