//! Restart (re-run what failed, in place) and replay (a new execution from one task on). The
//! machine's `rerun` rewrites the records; here they are committed and a driver continues them
//! exactly as after a crash.

use serde_json::json;
use sluice_flow::{InputType, LockedFlow};

use super::admission::flow_key;
use super::dispatch::now;
use super::driver::{Begin, spawn_driver};
use super::recover::{is_live, pinned_flow, restored_scope};
use super::workspace::{copy_tree, workspace_dir};
use super::{Engine, ExecutionHandle, Shared};
use crate::machine::{Execution, rerun};
use crate::records::{ExecutionRecord, TaskRun};
use crate::store::{CommitBatch, Store, StoreError};

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
}

impl<S: Store> Engine<S> {
    /// Restarts a FAILED or KILLED execution: its failed and killed tasks run again as new
    /// attempts of the same task runs; what succeeded is kept.
    pub async fn restart(&self, execution_id: &str) -> Result<ExecutionHandle, RerunError> {
        let shared = &self.shared;
        let record = find(shared, execution_id).await?;
        if is_live(shared, execution_id) {
            return Err(RerunError::Refused(format!("execution {execution_id} is still running")));
        }
        let locked = pinned_flow(shared, &record).await?.map_err(RerunError::Refused)?;
        let runs = shared.store.task_runs(execution_id).await?;
        let restart = rerun::restart(&locked.flow, record, runs, now()).map_err(RerunError::Refused)?;
        shared.store.delete_task_runs(execution_id, &restart.dropped).await?;
        Ok(continue_with(shared, locked, restart.record, restart.runs).await?)
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
        Ok(continue_with(shared, locked, record, copied).await?)
    }
}

async fn find<S: Store>(shared: &Shared<S>, id: &str) -> Result<ExecutionRecord, RerunError> {
    shared.store.get_execution(id).await?.ok_or_else(|| RerunError::NotFound(id.to_owned()))
}

/// Commits the rewritten records, then drives the execution on from them.
async fn continue_with<S: Store>(
    shared: &std::sync::Arc<Shared<S>>,
    locked: LockedFlow,
    record: ExecutionRecord,
    runs: Vec<TaskRun>,
) -> Result<ExecutionHandle, StoreError> {
    let id = record.id.clone();
    let batch = CommitBatch {
        executions: vec![record.clone()],
        task_runs: runs.iter().map(|run| (id.clone(), run.clone())).collect(),
        ..CommitBatch::default()
    };
    shared.store.commit(batch).await?;
    let (exec, step) = Execution::restore(locked.flow.clone(), record, runs, now());
    let (scope, _) = restored_scope(shared, &locked, &exec);
    shared.admission.occupy(flow_key(exec.flow()), &id);
    let workspace = workspace_dir(&shared.config.workspaces, &id);
    Ok(spawn_driver(shared.clone(), locked, exec, scope, workspace, Vec::new(), Begin::Restored(step)))
}
