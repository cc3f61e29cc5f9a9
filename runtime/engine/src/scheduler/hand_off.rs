//! Executions this node creates but does not run: a server started with `--api-only` hands
//! every one to the workers (`sluice worker`) on its database, and any node hands over one
//! whose tasks ask for worker tags it lacks (`workerTags:`). The execution is committed
//! `CREATED` with no lease, its worker tags recorded first and its `file` inputs as the first
//! workspace snapshot; the first node whose keeper can claim it (holding the tags) rebuilds
//! the workspace and drives it from the start, as after a takeover. The workers' keepers are
//! woken at once on PostgreSQL (`LISTEN`/`NOTIFY`); on SQLite they find it within a round.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sluice_flow::{Flow, InputType};
use tokio::sync::{broadcast, watch};

use super::snapshot::Snapshots;
use super::{ExecutionHandle, Finished, Shared, StartError};
use crate::records::ExecutionRecord;
use crate::store::{CommitBatch, Store};

/// How often a caller waiting for a handed-off execution's end looks at the store: where the
/// store announces ends, only in case an announcement was missed.
const WAIT_POLL: Duration = Duration::from_millis(250);
const WAIT_POLL_ANNOUNCED: Duration = Duration::from_secs(2);

/// Whether this node runs the execution of a flow whose tasks ask for `wanted` worker tags.
pub(crate) fn runs_here<S: Store>(shared: &Shared<S>, wanted: &[String]) -> bool {
    shared.config.runs_executions && sluice_flow::holds_worker_tags(&shared.config.worker_tags, wanted)
}

/// Refuses to hand over an execution given `secret` inputs: the record keeps them redacted,
/// and the node taking it would see `******`.
pub(crate) fn refuse_secret_inputs(flow: &Flow, typed: &Map<String, Value>) -> Result<(), StartError> {
    let given: Vec<String> = flow
        .inputs
        .iter()
        .filter(|i| i.kind == InputType::Secret && typed.get(&i.id).is_some_and(|v| !v.is_null()))
        .map(|i| format!("`{}`", i.id))
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    let flow = format!("{}.{}", flow.namespace, flow.id);
    Err(StartError::SecretInputsElsewhere { flow, inputs: given.join(", ") })
}

/// Commits `record` for another node to run; `workspace` (the file inputs) goes into the
/// store and is removed here.
pub(crate) async fn hand_off<S: Store>(
    shared: &Arc<Shared<S>>,
    record: ExecutionRecord,
    workspace: &Path,
) -> Result<ExecutionHandle, StartError> {
    let id = record.id.clone();
    let manifest = Snapshots::default().prepare(&*shared.store, &id, workspace).await?;
    let batch = CommitBatch {
        executions: vec![record],
        artifacts: manifest.into_iter().collect(),
        ..CommitBatch::default()
    };
    shared.store.commit(batch).await?;
    if let Err(error) = shared.store.announce_work().await {
        tracing::warn!(execution = %id, "cannot wake the workers; they find it on their next round: {error}");
    }
    if let Err(error) = tokio::fs::remove_dir_all(workspace).await {
        tracing::warn!(path = %workspace.display(), "cannot remove the workspace of a handed-off execution: {error}");
    }
    tracing::info!(execution = %id, "handed to the nodes that run executions");
    Ok(watch_from_store(shared.clone(), id))
}

/// A handle on an execution another node drives: recorded already, and finished once the
/// store says it ended (looked at only while someone holds the handle).
fn watch_from_store<S: Store>(shared: Arc<Shared<S>>, id: String) -> ExecutionHandle {
    let (done_tx, done) = watch::channel(None);
    let (_, recorded) = watch::channel(true);
    let execution_id = id.clone();
    // Subscribed before the handle is returned, so no end announced after goes unheard.
    let mut ends = shared.store.ends();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = done_tx.closed() => return,
                () = announced_or_due(&mut ends, &execution_id) => {}
            }
            match ended(&*shared.store, &execution_id).await {
                Ok(Some(finished)) => {
                    let _ = done_tx.send(Some(Arc::new(finished)));
                    return;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(execution = %execution_id, "cannot read the execution: {error}"),
            }
        }
    });
    ExecutionHandle { id, done, recorded }
}

/// Until the store announces the end of `id` (or says it may have missed it), or the next look
/// is due.
async fn announced_or_due(ends: &mut Option<broadcast::Receiver<String>>, id: &str) {
    let Some(receiver) = ends else { return tokio::time::sleep(WAIT_POLL).await };
    let heard = async {
        loop {
            match receiver.recv().await {
                Ok(ended) if ended == id => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    };
    let _ = tokio::time::timeout(WAIT_POLL_ANNOUNCED, heard).await;
}

async fn ended<S: Store>(store: &S, id: &str) -> Result<Option<Finished>, crate::store::StoreError> {
    let Some(record) = store.get_execution(id).await?.filter(|r| r.state.is_terminal()) else {
        return Ok(None);
    };
    let task_runs = store.task_runs(id).await?;
    Ok(Some(Finished { record, task_runs }))
}
