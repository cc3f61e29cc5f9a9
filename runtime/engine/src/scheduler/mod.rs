//! The scheduler: owns running executions and drives each one's [`Execution`] machine.
//!
//! One tokio task per execution (the driver) loops: take every event that is ready, apply them
//! to the machine, answer the pure commands (template evaluations) on the spot, commit what
//! changed in one store transaction, and only then act on the rest (dispatch attempts to the
//! sandbox, start timers and subflows, cancel). Attempts and timers answer with events on the
//! driver's channel.

mod admission;
mod context;
mod controls;
mod deployed;
mod dispatch;
mod drain;
mod driver;
mod evaluate;
mod execution_info;
mod hand_off;
mod leases;
mod plugins;
mod recover;
mod rerun;
mod secrets;
mod snapshot;
mod start;
mod subflow;
mod workspace;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use sluice_flow::LockedFlow;
use sluice_flow::inputs::{InputError, RawInput};
use sluice_flow::template::{Secrets, Templates};
use sluice_sandbox::{Limits, Sandbox};
use tokio::sync::{broadcast, mpsc, watch};

pub use deployed::DeployError;
pub use drain::Drained;
pub use execution_info::execution_url;
pub use leases::{Keeper, LeaseKeeper};
pub use plugins::Plugins;
pub use rerun::RerunError;
pub use secrets::{EnvSecrets, SECRET_ENV_PREFIX, StaticSecrets};

use crate::machine::Event;
use crate::records::{ExecutionRecord, LogRecord, TaskRun, TaskRunKey};
use crate::store::{Store, StoreError};

/// How the scheduler runs things.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where execution workspaces live (`<data dir>/workspaces`).
    pub workspaces: PathBuf,
    /// Workspaces of finished executions older than this are removed by
    /// [`Engine::sweep_workspaces`]; None keeps them.
    pub workspace_retention: Option<Duration>,
    /// Limits of a task run that sets none of its own.
    pub limits: Limits,
    /// The server's public URL (`https://sluice.example.com`): tasks are told their execution's
    /// URL under it (`<public>/executions/<id>`). None for `sluice run`.
    pub public_url: Option<String>,
    /// This process's name among the nodes that share the store: it holds the leases of the
    /// executions it drives under it. A server keeps its node across restarts (it is stored in
    /// its data dir), so a restarted server takes its own work back at once.
    pub node: String,
    /// Whether each execution's workspace is recorded in the store at every task's end, so a
    /// server on another machine that takes the execution over rebuilds it (see `snapshot`):
    /// on for servers sharing PostgreSQL, off on the embedded SQLite (one machine).
    pub workspace_snapshots: bool,
    /// How long a lease holds unrenewed: the executions of a node that died (or was cut off)
    /// are taken over by another this long after its last renewal.
    pub lease_ttl: Duration,
    /// Whether this node drives executions. False for a server started with `--api-only`: it
    /// hands every execution it creates to the workers (see `hand_off`).
    pub runs_executions: bool,
    /// The worker tags this node holds (`--tags`), sorted: it runs (and claims) only the
    /// executions whose tasks ask for none it lacks.
    pub worker_tags: Vec<String>,
    /// At most this many executions claimed to drive here at once (`--max-executions`), so
    /// that workers share the work handed to them; None claims whatever is free. Executions
    /// this node starts itself are not held back.
    pub max_executions: Option<usize>,
}

impl EngineConfig {
    /// Workspaces under `workspaces`, leases held as `node`, everything else as a single node
    /// with no public URL wants it: no retention, default limits, no snapshots, the default
    /// lease ttl, runs executions, holds no worker tags, claims whatever is free.
    pub fn new(workspaces: PathBuf, node: &str) -> EngineConfig {
        EngineConfig {
            workspaces,
            workspace_retention: None,
            limits: Limits::default(),
            public_url: None,
            node: node.to_owned(),
            workspace_snapshots: false,
            lease_ttl: DEFAULT_LEASE_TTL,
            runs_executions: true,
            worker_tags: Vec::new(),
            max_executions: None,
        }
    }
}

/// The default [`EngineConfig::lease_ttl`]: a dead node's work is taken over within about 6 s.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// A change worth showing live (progress lines, SSE). Sent after it was committed.
#[derive(Debug, Clone)]
pub enum Update {
    Execution(ExecutionRecord),
    TaskRun { execution_id: String, run: TaskRun },
    Log(LogRecord),
}

impl Update {
    /// What a committed batch shows live, logs first: a task's lines come before the line that
    /// says it ended.
    pub(crate) fn of_batch(batch: &crate::store::CommitBatch) -> Vec<Update> {
        let mut updates = Vec::with_capacity(batch.task_runs.len() + batch.logs.len() + 1);
        updates.extend(batch.logs.iter().cloned().map(Update::Log));
        let runs = batch.task_runs.iter();
        updates.extend(runs.map(|(id, run)| Update::TaskRun { execution_id: id.clone(), run: run.clone() }));
        updates.extend(batch.executions.iter().cloned().map(Update::Execution));
        updates
    }
}

/// What to start.
pub struct StartRequest {
    pub flow: LockedFlow,
    /// The stored revision of `flow` the execution pins.
    pub revision: u32,
    pub inputs: BTreeMap<String, RawInput>,
    /// Added to the flow's own labels.
    pub labels: BTreeMap<String, String>,
    /// What started it, visible to templates as `trigger`.
    pub trigger: Option<Value>,
    /// Set for subflows: the parent execution and its `flow.subflow` task run.
    pub parent: Option<(String, TaskRunKey)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The flow has `disabled: true`.
    #[error("flow {0} is disabled (`disabled: true`); enable it to run it")]
    Disabled(String),
    /// Wrong or missing inputs; nothing was created.
    #[error("invalid inputs:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Inputs(Vec<InputError>),
    #[error("cannot prepare the execution's workspace {path}: {error}")]
    Workspace { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine is draining for a shutdown; nothing was created.
    #[error("sluice is shutting down and starts no new executions; try again once it is back")]
    ShuttingDown,
    /// The execution would go to another node (this one is `--api-only`, or lacks the worker
    /// tags its tasks ask for), but it was given `secret` inputs, which are stored redacted
    /// and so cannot travel; nothing was created.
    #[error(
        "flow {flow} was given `secret` inputs ({inputs}), which cannot be handed to another node          yet (they are stored redacted): start it on a server that runs executions itself and          holds the worker tags its tasks ask for, or pass the value as a `secret('NAME')`"
    )]
    SecretInputsElsewhere { flow: String, inputs: String },
}

/// Why [`Engine::resume`] resumed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// Not live in this process: it ended, or it runs elsewhere.
    #[error("execution {0} is not running")]
    NotRunning(String),
    /// Its driver stopped before it answered.
    #[error("execution {0} ended")]
    Ended(String),
    /// The named task run is not waiting in a pause.
    #[error("task run `{0}` is not paused")]
    NotPaused(TaskRunKey),
    #[error("no task is paused")]
    NothingPaused,
    /// No task run was named and more than one is paused.
    #[error("several tasks are paused ({}); say which one", join(.0, ", "))]
    SeveralPaused(Vec<TaskRunKey>),
    /// The inputs do not match the paused task's `onResume` declarations.
    #[error("{}", join(.0, "; "))]
    Inputs(Vec<InputError>),
    /// Reading the execution, or leaving the resume for the server driving it, failed.
    #[error(transparent)]
    Store(StoreError),
}

fn join<T: std::fmt::Display>(items: &[T], separator: &str) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(separator)
}

/// A started execution.
pub struct ExecutionHandle {
    pub id: String,
    done: watch::Receiver<Option<Arc<Finished>>>,
    recorded: watch::Receiver<bool>,
}

/// How an execution ended: its final record and task runs (in creation order), as committed.
/// If the driver stopped because the store failed, the last state it knew.
#[derive(Debug)]
pub struct Finished {
    pub record: ExecutionRecord,
    pub task_runs: Vec<TaskRun>,
}

impl ExecutionHandle {
    /// Waits until the execution's record is in the store, so that whoever is given its id can
    /// read it at once (an API answer, then a `GET`). Returns at once if the driver stopped.
    pub async fn recorded(&mut self) {
        let _ = self.recorded.wait_for(|recorded| *recorded).await;
    }

    /// Waits until the execution reaches a terminal state (or its driver stops) and says how
    /// it ended; the caller needs no store read for it. None if the driver vanished.
    pub async fn finished(mut self) -> Option<Arc<Finished>> {
        if let Ok(done) = self.done.wait_for(Option::is_some).await {
            return done.clone();
        }
        self.done.borrow().clone()
    }
}

/// The scheduler. Cheap to clone.
pub struct Engine<S: Store> {
    shared: Arc<Shared<S>>,
}

impl<S: Store> Clone for Engine<S> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

pub(crate) struct Shared<S: Store> {
    pub(crate) store: Arc<S>,
    pub(crate) sandbox: Arc<Sandbox>,
    /// Swapped whole when a deployed plugin arrives (see `deployed`).
    pub(crate) plugins: std::sync::RwLock<Plugins>,
    pub(crate) templates: Templates,
    pub(crate) secrets: Arc<dyn Secrets>,
    pub(crate) config: EngineConfig,
    pub(crate) updates: broadcast::Sender<Update>,
    pub(crate) live: Mutex<HashMap<String, Live>>,
    pub(crate) admission: admission::Admission,
    pub(crate) drain: Arc<drain::Drain>,
}

impl<S: Store> Shared<S> {
    /// [`Engine::start`], for a driver that starts a subflow's child: boxed, since the child's
    /// driver runs the same code and a future's type cannot contain itself.
    pub(crate) fn start(
        self: Arc<Self>,
        request: StartRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ExecutionHandle, StartError>> + Send>> {
        Box::pin(start::start(self, request))
    }

    /// Sends a message to a live execution's driver. False when it is not live here.
    pub(crate) fn control(&self, execution_id: &str, message: driver::Control) -> bool {
        self.control_or_return(execution_id, message).is_none()
    }

    /// [`Shared::control`], giving the message back when the execution is not live here.
    pub(crate) fn control_or_return(
        &self,
        execution_id: &str,
        message: driver::Control,
    ) -> Option<driver::Control> {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get(execution_id) {
            Some(live) => live.control.send(message).err().map(|e| e.0),
            None => Some(message),
        }
    }

    pub(crate) fn plugins(&self) -> Plugins {
        self.plugins.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The lease of an execution this node creates: the first, epoch 1.
    pub(crate) fn new_lease(&self, execution_id: &str) -> crate::store::Lease {
        crate::store::Lease {
            execution_id: execution_id.to_owned(),
            node: self.config.node.clone(),
            epoch: 1,
            ttl: self.config.lease_ttl,
        }
    }

    /// Starts this node's queued executions that were admitted meanwhile, by any node.
    pub(crate) async fn start_waiting(&self) -> Result<(), StoreError> {
        let admitted = self.admission.admitted_here(&*self.store).await?;
        self.start_admitted(admitted);
        Ok(())
    }

    /// After an execution of `key` ended here (its end committed, its place freed): admits
    /// whoever waits for a place and starts those of this node.
    pub(crate) async fn admit_after_end(&self, key: &admission::FlowKey) {
        match self.admission.promote(&*self.store, key).await {
            Ok(admitted) => self.start_admitted(admitted),
            Err(error) => tracing::warn!(
                "cannot admit the executions queued behind an ended one ({error}); the keeper tries again"
            ),
        }
    }

    /// Starts queued executions that `concurrency` just admitted.
    pub(crate) fn start_admitted(&self, admitted: Vec<String>) {
        for id in admitted {
            if !self.control(&id, driver::Control::Event(Event::Start { now: dispatch::now() })) {
                tracing::warn!(execution = %id, "an admitted queued execution is not live in this process");
            }
        }
    }
}

/// A lease shared by a driver (which commits under it) and the keeper.
pub(crate) type SharedLease = Arc<Mutex<crate::store::Lease>>;

/// A running execution in this process.
pub(crate) struct Live {
    pub(crate) control: mpsc::UnboundedSender<driver::Control>,
    pub(crate) done: watch::Receiver<Option<Arc<Finished>>>,
    pub(crate) recorded: watch::Receiver<bool>,
    /// The lease its driver commits under, renewed by the keeper while it runs (which also
    /// moves it to a new epoch when this node claims back a lease that lapsed); None while a
    /// restart holds the place before its driver starts.
    pub(crate) lease: Option<SharedLease>,
}

impl<S: Store> Engine<S> {
    pub fn new(
        store: Arc<S>,
        sandbox: Arc<Sandbox>,
        plugins: Plugins,
        secrets: Arc<dyn Secrets>,
        config: EngineConfig,
    ) -> Self {
        let (updates, _) = broadcast::channel(4096);
        Self {
            shared: Arc::new(Shared {
                store,
                sandbox,
                plugins: std::sync::RwLock::new(plugins),
                templates: Templates::new(),
                secrets,
                config,
                updates,
                live: Mutex::new(HashMap::new()),
                admission: admission::Admission::default(),
                drain: Arc::default(),
            }),
        }
    }

    pub fn store(&self) -> &Arc<S> {
        &self.shared.store
    }

    /// The installed plugins now (a deploy may add or replace one later).
    pub fn plugins(&self) -> Plugins {
        self.shared.plugins()
    }

    /// The sandbox the tasks run in (for its statistics).
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.shared.sandbox
    }

    /// Executions of this node waiting in QUEUED under their flow's `concurrency`.
    pub fn queued_executions(&self) -> usize {
        self.shared.admission.queued()
    }

    /// Where `secret('NAME')` values come from (the server's webhook signatures read theirs
    /// here too).
    pub fn secrets(&self) -> &Arc<dyn Secrets> {
        &self.shared.secrets
    }

    /// Live changes of every execution, after they were committed. A slow receiver may lag and
    /// miss updates (the store has them all).
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.shared.updates.subscribe()
    }

    /// Checks the inputs, creates the execution and starts driving it.
    pub async fn start(&self, request: StartRequest) -> Result<ExecutionHandle, StartError> {
        start::start(self.shared.clone(), request).await
    }

    /// Asks a running execution to stop. False when it is not running in this process (see
    /// [`Engine::kill_anywhere`]).
    pub fn kill(&self, execution_id: &str) -> bool {
        self.shared.control(execution_id, driver::Control::Event(Event::Kill { now: dispatch::now() }))
    }

    /// Removes the workspaces of finished executions past the retention period. Returns how
    /// many were removed.
    pub async fn sweep_workspaces(&self) -> Result<usize, StoreError> {
        let Some(retention) = self.shared.config.workspace_retention else { return Ok(0) };
        let root = &self.shared.config.workspaces;
        let names = workspace::expired(root, retention)
            .await
            .map_err(|error| StoreError::Workspace { path: root.clone(), error })?;
        let mut removed = 0;
        for name in names {
            let finished = match self.shared.store.get_execution(&name).await? {
                Some(record) => record.state.is_terminal(),
                // A directory no execution owns is not ours to judge; leave it.
                None => false,
            };
            if finished && tokio::fs::remove_dir_all(root.join(&name)).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// [`Self::sweep_workspaces`], unless one ran less than `every` ago, in this process or
    /// another (a marker file in the workspaces directory records the last sweep, so a `sluice
    /// run` per CI job does not `stat` every kept workspace each time). None when skipped.
    pub async fn sweep_workspaces_every(&self, every: Duration) -> Result<Option<usize>, StoreError> {
        if self.shared.config.workspace_retention.is_none() {
            return Ok(None);
        }
        let root = &self.shared.config.workspaces;
        let marker = workspace::sweep_marker(root);
        if let Ok(modified) = tokio::fs::metadata(&marker).await.and_then(|m| m.modified())
            && modified.elapsed().is_ok_and(|since| since < every)
        {
            return Ok(None);
        }
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|error| StoreError::Workspace { path: root.clone(), error })?;
        tokio::fs::write(&marker, b"")
            .await
            .map_err(|error| StoreError::Workspace { path: marker.clone(), error })?;
        self.sweep_workspaces().await.map(Some)
    }
}
