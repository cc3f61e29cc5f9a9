//! Recovery after a crash or restart, or of another node's work (see `leases`): an unfinished
//! execution this node claims continues from its records. The machine's `restore` decides what to do again (a running attempt is
//! dispatched anew: at-least-once; finished task runs are never run again); here the drivers are
//! rebuilt and the subflows being waited for are re-attached.
//!
//! Known limit: `secret` inputs are stored redacted, so a restored execution sees `******` for
//! them. `secret('NAME')` still resolves, from the process's secrets.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use sluice_flow::TaskKind;

use super::context::ExecutionScope;
use super::dispatch::now;
use super::driver::{Begin, Control, Hold};
use super::snapshot;
use super::start::{render_variables, spawn_driver};
use super::workspace::workspace_dir;
use super::{Engine, ExecutionHandle, Shared};
use crate::machine::{Event, Execution};
use crate::records::{ExecutionRecord, ExecutionState, TaskRunKey, TaskRunState};
use crate::store::{CommitBatch, Lease, Store, StoreError};

/// A subflow task run waiting for its child when the process stopped.
pub(crate) struct Waiting {
    parent: String,
    run: TaskRunKey,
    child: String,
}

/// How often a parent restored here looks whether its child, driven by another node, ended.
const CHILD_POLL: Duration = Duration::from_secs(1);

impl<S: Store> Engine<S> {
    /// Continues the unfinished executions this node held before it stopped, and those whose
    /// lease expired or that have none (their node is gone). Returns their handles; executions
    /// that cannot continue (their flow revision is gone or no longer valid) are ended FAILED
    /// with the reason.
    pub async fn recover(&self) -> Result<Vec<ExecutionHandle>, StoreError> {
        self.shared.take_over(true).await
    }
}

/// The flow revision an execution is pinned to, loaded against the installed plugins; the
/// inner error says why it cannot run any more.
pub(crate) async fn pinned_flow<S: Store>(
    shared: &Shared<S>,
    record: &ExecutionRecord,
) -> Result<Result<sluice_flow::LockedFlow, String>, StoreError> {
    let stored = shared.store.get_flow(&record.namespace, &record.flow_id, Some(record.revision)).await?;
    let name = format!("{}.{} (revision {})", record.namespace, record.flow_id, record.revision);
    Ok(match stored {
        None => Err(format!("flow {name} no longer exists")),
        Some(stored) => sluice_flow::load(&name, &stored.source, &shared.plugins()).map_err(|diagnostics| {
            let why = sluice_flow::render(&diagnostics, &name, &stored.source);
            format!("flow {name} is no longer valid:\n{why}")
        }),
    })
}

/// The template scope of an execution rebuilt from its record (stored inputs, start time,
/// variables rendered again), with whether the variables still render.
pub(crate) fn restored_scope<S: Store>(
    shared: &Shared<S>,
    locked: &sluice_flow::LockedFlow,
    exec: &Execution,
) -> (ExecutionScope, Result<(), String>) {
    let record = exec.record();
    let inputs = match &record.inputs {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut scope = ExecutionScope::new(exec, inputs, record.started_at.unwrap_or(record.created_at));
    scope.set_public_url(shared.config.public_url.as_deref());
    let variables = render_variables(shared, locked, exec, &mut scope);
    if let Err(error) = &variables {
        tracing::warn!(execution = %record.id, "variables no longer render: {error}");
    }
    (scope, variables)
}

fn is_live<S: Store>(shared: &Shared<S>, id: &str) -> bool {
    shared.live.lock().unwrap_or_else(PoisonError::into_inner).contains_key(id)
}

/// Drives `record` here again under `lease`, from its stored task runs.
pub(crate) async fn restore_one<S: Store>(
    shared: &Arc<Shared<S>>,
    record: ExecutionRecord,
    lease: Lease,
    waiting: &mut Vec<Waiting>,
) -> Result<Option<ExecutionHandle>, StoreError> {
    let mut pinned = pinned_flow(shared, &record).await?;
    // A plugin deployed since this node's last look: load it and try again.
    if pinned.is_err() && shared.refresh_plugins().await.unwrap_or(false) {
        pinned = pinned_flow(shared, &record).await?;
    }
    let locked = match pinned {
        Ok(locked) => locked,
        Err(why) => return fail_unrecoverable(shared, record, lease, why).await,
    };
    let runs = shared.store.task_runs(&record.id).await?;
    let (exec, step) = Execution::restore(locked.flow.clone(), record, runs, now());
    for run in exec.task_runs() {
        let Some(task) = locked.flow.find_task(&run.key.task) else { continue };
        let waits = matches!(task.kind, TaskKind::Subflow { wait: true, .. });
        let child = run.outputs.as_ref().and_then(|o| o.get("executionId")).and_then(Value::as_str);
        if waits
            && run.state == TaskRunState::Running
            && let Some(child) = child
        {
            waiting.push(Waiting {
                parent: exec.record().id.clone(),
                run: run.key.clone(),
                child: child.to_owned(),
            });
        }
    }
    let (scope, variables) = restored_scope(shared, &locked, &exec);
    // Places under the flow's `concurrency`: queued ones wait again (keeping their turn), a
    // created one asks like a new one, the others hold theirs in the store.
    let queued = exec.record().state == ExecutionState::Queued;
    let begin = match exec.record().state {
        ExecutionState::Queued => {
            shared.admission.requeue(&*shared.store, exec.flow(), &exec.record().id).await?;
            Begin::Restored(step)
        }
        ExecutionState::Created => Begin::New { variables },
        _ => Begin::Restored(step),
    };
    let workspace = workspace_dir(&shared.config.workspaces, &exec.record().id);
    // Taken over from another machine (or handed here by a node that does not run it): its
    // workspace as the last task boundary left it, if a snapshot of it was recorded.
    if !tokio::fs::try_exists(&workspace).await.unwrap_or(true) {
        match snapshot::restore(&*shared.store, &exec.record().id, &workspace).await {
            Ok(true) => {
                tracing::info!(execution = %exec.record().id, "workspace rebuilt from its last snapshot")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(execution = %exec.record().id, "cannot rebuild the workspace: {error}")
            }
        }
    }
    if let Err(error) = tokio::fs::create_dir_all(&workspace).await {
        tracing::error!(path = %workspace.display(), "cannot recreate the workspace: {error}");
    }
    tracing::info!(execution = %exec.record().id, "continuing from its records");
    let hold = Hold { workspace, lease };
    let (flow, id) = (exec.flow().clone(), exec.record().id.clone());
    let handle = spawn_driver(shared.clone(), locked, exec, scope, hold, Vec::new(), begin);
    // Waiting here once its driver is live, so that an admission never finds it absent.
    if queued {
        shared.admission.remember(&flow, &id);
    }
    Ok(Some(handle))
}

async fn fail_unrecoverable<S: Store>(
    shared: &Shared<S>,
    mut record: ExecutionRecord,
    lease: Lease,
    reason: String,
) -> Result<Option<ExecutionHandle>, StoreError> {
    tracing::error!(execution = %record.id, "cannot continue: {reason}");
    record.state = ExecutionState::Failed;
    record.error = Some(reason);
    record.ended_at = Some(now());
    let batch = CommitBatch { executions: vec![record], lease: Some(lease), ..CommitBatch::default() };
    shared.store.commit(batch).await?;
    Ok(None)
}

/// Delivers `SubflowEnded` to the parent when its child ends (or at once if it already has):
/// a child live here is awaited, one driven by another node (or waiting to be taken over) is
/// looked up in the store until it ends.
pub(crate) async fn reattach<S: Store>(shared: Arc<Shared<S>>, wait: Waiting) -> Result<(), StoreError> {
    let live = {
        let live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(&wait.child).map(|l| l.done.clone())
    };
    let (parent_id, child_id) = (wait.parent.clone(), wait.child.clone());
    let send = move |shared: &Shared<S>, state: ExecutionState, outputs: Value| {
        let live = shared.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(parent) = live.get(&wait.parent) {
            let event = Event::SubflowEnded { run: wait.run.clone(), now: now(), state, outputs };
            let _ = parent.control.send(Control::Event(event));
        }
    };
    match live {
        Some(mut done) => {
            tokio::spawn(async move {
                let ended = done.wait_for(Option::is_some).await.ok().and_then(|r| r.clone());
                let (state, outputs) = match ended {
                    Some(done) => (done.record.state, done.record.outputs.clone().unwrap_or(Value::Null)),
                    None => (ExecutionState::Failed, Value::Null),
                };
                send(&shared, state, outputs);
            });
        }
        None => {
            let child = shared.store.get_execution(&wait.child).await?;
            match child {
                Some(record) if record.state.is_terminal() => {
                    send(&shared, record.state, record.outputs.unwrap_or(Value::Null));
                }
                // Gone: the parent fails.
                None => send(&shared, ExecutionState::Failed, Value::Null),
                Some(_) => {
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(CHILD_POLL).await;
                            if !is_live(&shared, &parent_id) {
                                return;
                            }
                            match shared.store.get_execution(&child_id).await {
                                Ok(Some(record)) if record.state.is_terminal() => {
                                    let outputs = record.outputs.unwrap_or(Value::Null);
                                    return send(&shared, record.state, outputs);
                                }
                                Ok(Some(_)) => {}
                                Ok(None) => return send(&shared, ExecutionState::Failed, Value::Null),
                                Err(error) => {
                                    tracing::warn!(child = %child_id, "cannot read the subflow's state: {error}")
                                }
                            }
                        }
                    });
                }
            }
        }
    }
    Ok(())
}
