//! The JSON documents that the CLI prints and the API answers alike, built in one place so the
//! two cannot drift: an execution with its task runs (`sluice run --json`,
//! `GET /executions/{id}`), and an installed plugin (`sluice plugin list|describe --json`,
//! `GET /plugins[/{name}]`).

use serde_json::{Map, Value, json};
use sluice_sandbox::Plugin;

use crate::records::{ExecutionRecord, TaskRun};
use crate::setup::Origin;

/// `{executionId, state, outputs: {<task>: ...}, flowOutputs, error, taskRuns: [...]}`.
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
        // Created (ready to run) until started is time spent waiting, drawn apart from running.
        "createdAt": run.created_at,
        "startedAt": run.started_at,
        "endedAt": run.ended_at,
        "durationMs": duration_ms,
        "value": run.value,
        "error": run.error,
    })
}

/// A plugin as listed: the digest as OCI writes it (`sha256:<hex>`), where it came from
/// (`built-in` or the file), and its task types (`core.log`).
pub fn plugin_summary(plugin: &Plugin, origin: &Origin) -> Value {
    let info = plugin.info();
    json!({
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "digest": plugin.digest().to_string(),
        "source": origin.to_string(),
        "tasks": info.tasks.iter().map(|t| format!("{}.{}", info.name, t.name)).collect::<Vec<_>>(),
    })
}

/// A plugin as described: its summary with every task in full (description, capabilities,
/// config and output schemas) in place of the task types.
pub fn plugin_document(plugin: &Plugin, origin: &Origin) -> Value {
    let mut doc = plugin_summary(plugin, origin);
    doc["tasks"] = json!(plugin.info().tasks);
    doc
}
