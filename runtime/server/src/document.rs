//! The JSON shape of a finished (or running) execution, the same document `sluice run --json`
//! prints: `{executionId, state, outputs: {<task>: ...}, flowOutputs, error, taskRuns: [...]}`.

use serde_json::{Map, Value, json};
use sluice_engine::{ExecutionRecord, TaskRun};

pub fn execution_document(record: &ExecutionRecord, runs: &[TaskRun]) -> Value {
    let mut outputs = Map::new();
    for run in runs {
        if let Some(out) = &run.outputs {
            // forEach bodies have one entry per iteration, keyed like the run (`step[2]`).
            outputs.insert(run.key.to_string(), out.clone());
        }
    }
    json!({
        "executionId": record.id,
        "namespace": record.namespace,
        "flowId": record.flow_id,
        "revision": record.revision,
        "state": record.state,
        "error": record.error,
        "outputs": outputs,
        "flowOutputs": record.outputs,
        "startedAt": record.started_at,
        "endedAt": record.ended_at,
        "taskRuns": runs.iter().map(task_run_document).collect::<Vec<_>>(),
    })
}

pub fn task_run_document(run: &TaskRun) -> Value {
    let duration_ms = match (run.started_at, run.ended_at) {
        (Some(start), Some(end)) => Some((end - start).num_milliseconds()),
        _ => None,
    };
    json!({
        "id": run.key.to_string(),
        "taskId": run.key.task,
        "parent": run.parent.as_ref().map(ToString::to_string),
        "state": run.state,
        "attempts": run.attempts.len(),
        "attemptHistory": run.attempts.iter().map(|a| json!({
            "number": a.number,
            "state": a.state,
            "startedAt": a.started_at,
            "endedAt": a.ended_at,
            "error": a.error,
        })).collect::<Vec<_>>(),
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "durationMs": duration_ms,
        "value": run.value,
        "error": run.error,
    })
}

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
