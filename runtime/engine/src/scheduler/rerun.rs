//! Restart (re-run what failed, in place) and replay (a new execution from one task on). The
//! machine's `rerun` rewrites the records; here they are committed and a driver continues them
//! exactly as after a crash.
//!
//! Both are refused while the engine drains, and both take a place under the flow's
//! `concurrency` like a start, but never queue: over the limit they are refused. A restart
//! holds its execution's id as live from its first check to its driver's start, so two
//! restarts of one execution cannot both drive it.

use std::sync::PoisonError;

use serde_json::json;
use sluice_flow::{InputType, LockedFlow};
use tokio::sync::{mpsc, watch};

use super::dispatch::now;
use super::driver::{Begin, Control, Hold};
use super::recover::{pinned_flow, restored_scope};
use super::start::spawn_driver;
use super::workspace::{copy_tree, workspace_dir};
use super::{Engine, ExecutionHandle, Live, Shared};
use crate::machine::{Execution, rerun};
use crate::records::{ExecutionRecord, TaskRun};
use crate::store::{CommitBatch, Lease, Store, StoreError};

/// Why a restart or replay was refused.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    #[error("no execution {0}")]
    NotFound(String),
    /// The execution's state or the request does not allow it; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error("cannot copy the workspace of execution {id}: {error}")]
    Workspace { id: String, error: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine is draining for a shutdown; nothing changed.
    #[error("sluice is shutting down and restarts or replays nothing; try again once it is back")]
    ShuttingDown,
}

impl<S: Store> Engine<S> {
    /// Restarts a FAILED or KILLED execution: its failed and killed tasks run again as new
    /// attempts of the same task runs; what succeeded is kept.
    pub async fn restart(&self, execution_id: &str) -> Result<ExecutionHandle, RerunError> {
        let shared = &self.shared;
        if shared.drain.is_draining() {
            return Err(RerunError::ShuttingDown);
        }
        runs_reruns(shared, "restart")?;
        let _reserved = Reservation::take(shared, execution_id)
            .ok_or_else(|| RerunError::Refused(format!("execution {execution_id} is still running")))?;
        // Read after the reservation: a restart that got here first has committed by now.
        let record = find(shared, execution_id).await?;
        let locked = pinned_flow(shared, &record).await?.map_err(RerunError::Refused)?;
        let runs = shared.store.task_runs(execution_id).await?;
        let restart = rerun::restart(&locked.flow, record, runs, now()).map_err(RerunError::Refused)?;
        let place = Place::take(shared, &locked, execution_id, "restart").await?;
        // Ended, it is driven nowhere: this node takes its lease to drive it again.
        let lease =
            shared.store.take_lease(execution_id, &shared.config.node, shared.config.lease_ttl).await?;
        shared.store.delete_task_runs(execution_id, &restart.dropped).await?;
        let handle = continue_with(shared, locked, restart.record, restart.runs, lease).await?;
        place.keep();
        Ok(handle)
    }

    /// Replays an ended execution as a new one: the task runs before `from_task` are copied
    /// (all of them run again without it), the workspace is copied, and the new execution's
    /// `trigger` records the original.
    pub async fn replay(
        &self,
        execution_id: &str,
        from_task: Option<&str>,
    ) -> Result<ExecutionHandle, RerunError> {
        let shared = &self.shared;
        if shared.drain.is_draining() {
            return Err(RerunError::ShuttingDown);
        }
        runs_reruns(shared, "replay")?;
        let original = find(shared, execution_id).await?;
        if !original.state.is_terminal() {
            return Err(RerunError::Refused(format!(
                "execution {execution_id} is {}: only an ended execution can be replayed",
                original.state
            )));
        }
        let locked = pinned_flow(shared, &original).await?.map_err(RerunError::Refused)?;
        let secret = locked.flow.inputs.iter().find(|i| {
            i.kind == InputType::Secret && original.inputs.get(&i.id).is_some_and(|v| !v.is_null())
        });
        if let Some(input) = secret {
            return Err(RerunError::Refused(format!(
                "execution {execution_id} has the secret input `{}`, whose value is never stored; start a new execution instead",
                input.id
            )));
        }
        let runs = shared.store.task_runs(execution_id).await?;
        let copied = rerun::replay(&locked.flow, runs, from_task).map_err(RerunError::Refused)?;

        let id = uuid::Uuid::now_v7().to_string();
        let place = Place::take(shared, &locked, &id, "replay").await?;
        let from = workspace_dir(&shared.config.workspaces, execution_id);
        let to = workspace_dir(&shared.config.workspaces, &id);
        let copy = tokio::task::spawn_blocking(move || {
            if from.exists() { copy_tree(&from, &to) } else { std::fs::create_dir_all(&to) }
        });
        let copied_files = copy.await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        copied_files.map_err(|error| RerunError::Workspace { id: execution_id.to_owned(), error })?;

        let started = now();
        let record = ExecutionRecord {
            id,
            namespace: original.namespace.clone(),
            flow_id: original.flow_id.clone(),
            revision: original.revision,
            state: crate::records::ExecutionState::Running,
            inputs: original.inputs.clone(),
            outputs: None,
            error: None,
            labels: original.labels.clone(),
            parent: None,
            trigger: Some(json!({
                "type": "replay",
                "executionId": original.id,
                "fromTask": from_task,
            })),
            created_at: started,
            started_at: Some(started),
            ended_at: None,
        };
        let lease = shared.new_lease(&record.id);
        let handle = continue_with(shared, locked, record, copied, lease).await?;
        place.keep();
        Ok(handle)
    }
}

/// An execution id held in `live` while a restart prepares it, so that a second restart (or a
/// kill, or a recovery) finds it live. The driver's own entry replaces it when it starts;
/// otherwise it is freed when dropped.
struct Reservation<'a, S: Store> {
    shared: &'a Shared<S>,
    id: String,
    control: mpsc::UnboundedSender<Control>,
}

impl<'a, S: Store> Reservation<'a, S> {
    /// None when the execution is live already (running, or being restarted).
    fn take(shared: &'a Shared<S>, id: &str) -> Option<Self> {
        let mut live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.contains_key(id) {
            return None;
        }
        // Nothing listens: a message sent to a reserved execution is refused, as to an ended one.
        let (control, _) = mpsc::unbounded_channel();
        let (_, done) = watch::channel(None);
        let (_, recorded) = watch::channel(true);
        live.insert(id.to_owned(), Live { control: control.clone(), done, recorded, lease: None });
        Some(Reservation { shared, id: id.to_owned(), control })
    }
}

impl<S: Store> Drop for Reservation<'_, S> {
    fn drop(&mut self) {
        let mut live = self.shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.get(&self.id).is_some_and(|entry| entry.control.same_channel(&self.control)) {
            live.remove(&self.id);
        }
    }
}

/// A place under the flow's `concurrency`, given back when dropped unless a driver took it
/// over (the commit recording the execution's end frees it then).
struct Place<S: Store> {
    store: std::sync::Arc<S>,
    id: String,
    /// Whether a place was taken (the flow has a limit) and is still to be given back.
    held: bool,
}

impl<S: Store> Place<S> {
    async fn take(shared: &Shared<S>, locked: &LockedFlow, id: &str, what: &str) -> Result<Self, RerunError> {
        let held = shared
            .admission
            .admit_rerun(&*shared.store, &locked.flow, id, what)
            .await?
            .map_err(RerunError::Refused)?;
        Ok(Place { store: shared.store.clone(), id: id.to_owned(), held })
    }

    fn keep(mut self) {
        self.held = false;
    }
}

impl<S: Store> Drop for Place<S> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        // Left alone, the place would lapse only after a minute (see `Store::take_place`).
        let (store, id) = (self.store.clone(), std::mem::take(&mut self.id));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.release_place(&id).await {
                    tracing::warn!(execution = %id, "cannot give back the place of a rerun that failed: {error}");
                }
            });
        }
    }
}

/// A rerun is driven by the node asked (it continues from the workspace there): an API-only
/// server, which runs nothing, refuses it.
fn runs_reruns<S: Store>(shared: &Shared<S>, what: &str) -> Result<(), RerunError> {
    if shared.config.runs_executions {
        return Ok(());
    }
    Err(RerunError::Refused(format!(
        "this server runs no executions (--api-only): ask a server that runs them for the {what}"
    )))
}

async fn find<S: Store>(shared: &Shared<S>, id: &str) -> Result<ExecutionRecord, RerunError> {
    shared.store.get_execution(id).await?.ok_or_else(|| RerunError::NotFound(id.to_owned()))
}

/// Commits the rewritten records, then drives the execution on from them (its place under the
/// flow's `concurrency` is taken already).
async fn continue_with<S: Store>(
    shared: &std::sync::Arc<Shared<S>>,
    locked: LockedFlow,
    record: ExecutionRecord,
    runs: Vec<TaskRun>,
    lease: Lease,
) -> Result<ExecutionHandle, StoreError> {
    let id = record.id.clone();
    let batch = CommitBatch {
        executions: vec![record.clone()],
        task_runs: runs.iter().map(|run| (id.clone(), run.clone())).collect(),
        lease: Some(lease.clone()),
        ..CommitBatch::default()
    };
    shared.store.commit(batch).await?;
    let (exec, step) = Execution::restore(locked.flow.clone(), record, runs, now());
    let (scope, _) = restored_scope(shared, &locked, &exec);
    let workspace = workspace_dir(&shared.config.workspaces, &id);
    let hold = Hold { workspace, lease };
    Ok(spawn_driver(shared.clone(), locked, exec, scope, hold, Vec::new(), Begin::Restored(step)))
}
