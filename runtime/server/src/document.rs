//! The JSON shapes of executions: the run document (the one `sluice run --json` prints) comes
//! from the engine; the listing summary is the API's own.

use serde_json::{Value, json};
use sluice_engine::ExecutionRecord;

pub(crate) use sluice_engine::document::{execution_document, task_run_document};

/// The record as listed and fetched: the run document plus inputs, labels and times.
pub fn execution_summary(record: &ExecutionRecord) -> Value {
    json!({
        "executionId": record.id,
        "namespace": record.namespace,
        "flowId": record.flow_id,
        "revision": record.revision,
        "state": record.state,
        "inputs": record.inputs,
        "labels": record.labels,
        "error": record.error,
        "flowOutputs": record.outputs,
        "parent": record.parent.as_ref().map(|(id, run)| json!({"executionId": id, "taskRun": run.to_string()})),
        "trigger": record.trigger,
        "createdAt": record.created_at,
        "startedAt": record.started_at,
        "endedAt": record.ended_at,
    })
}
