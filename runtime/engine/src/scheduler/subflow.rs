//! The child execution of a `flow.subflow` task run: started from the newest stored revision
//! of the named flow, validated against the installed plugins, with the task's rendered
//! inputs; and followed for the parent's driver, which hears that it started and, when the
//! task waits for it, how it ended.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use sluice_flow::inputs::RawInput;
use tokio::sync::mpsc;

use super::dispatch::now;
use super::{ExecutionHandle, Shared, StartRequest};
use crate::machine::Event;
use crate::records::{ExecutionState, TaskRunKey};
use crate::store::Store;

/// The child to start for a `flow.subflow` task run.
pub(crate) struct Child {
    pub(crate) namespace: String,
    pub(crate) flow_id: String,
    /// The task's `inputs`, rendered.
    pub(crate) inputs: Value,
    /// Whether the task run lasts until the child ends (and takes its state and outputs).
    pub(crate) wait: bool,
}

/// Starts the child of `parent`'s task run on a task of its own, and sends the parent's
/// driver `SubflowStarted` (then `SubflowEnded` when it waits) or `SubflowFailed`.
pub(crate) fn spawn<S: Store>(
    shared: Arc<Shared<S>>,
    parent: (String, TaskRunKey),
    child: Child,
    events: mpsc::UnboundedSender<Event>,
) {
    let run = parent.1.clone();
    tokio::spawn(async move {
        let started = start(shared, &child.namespace, &child.flow_id, child.inputs, parent).await;
        match started {
            Ok(handle) => {
                let execution_id = handle.id.clone();
                let _ = events.send(Event::SubflowStarted { run: run.clone(), execution_id, now: now() });
                if child.wait {
                    let (state, outputs) = match handle.finished().await {
                        Some(done) => (done.record.state, done.record.outputs.clone().unwrap_or(Value::Null)),
                        None => (ExecutionState::Failed, Value::Null),
                    };
                    let _ = events.send(Event::SubflowEnded { run, now: now(), state, outputs });
                }
            }
            Err(error) => {
                let _ = events.send(Event::SubflowFailed { run, now: now(), error });
            }
        }
    });
}

async fn start<S: Store>(
    shared: Arc<Shared<S>>,
    namespace: &str,
    flow_id: &str,
    inputs: Value,
    parent: (String, TaskRunKey),
) -> Result<ExecutionHandle, String> {
    let stored = shared
        .store
        .get_flow(namespace, flow_id, None)
        .await
        .map_err(|e| format!("cannot read flow {namespace}.{flow_id}: {e}"))?
        .ok_or_else(|| {
            format!("flow {namespace}.{flow_id} does not exist; deploy it before running this subflow")
        })?;
    let file_name = format!("{namespace}.{flow_id} (revision {})", stored.revision);
    let locked = sluice_flow::load(&file_name, &stored.source, &shared.plugins()).map_err(|diagnostics| {
        format!(
            "flow {namespace}.{flow_id} is not valid:\n{}",
            sluice_flow::render(&diagnostics, &file_name, &stored.source)
        )
    })?;
    let inputs: BTreeMap<String, RawInput> = match inputs {
        Value::Object(map) => map.into_iter().map(|(k, v)| (k, RawInput::Json(v))).collect(),
        Value::Null => BTreeMap::new(),
        other => return Err(format!("subflow inputs must be a mapping, got {other}")),
    };
    let request = StartRequest {
        flow: locked,
        revision: stored.revision,
        inputs,
        labels: BTreeMap::new(),
        trigger: Some(
            serde_json::json!({"type": "subflow", "executionId": parent.0, "taskRun": parent.1.to_string()}),
        ),
        parent: Some(parent),
    };
    // Through `Shared::start`: this child's driver may start subflows in turn.
    shared.start(request).await.map_err(|e| e.to_string())
}
