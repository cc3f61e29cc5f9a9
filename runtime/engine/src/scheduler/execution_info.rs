//! What a task run is told about its execution through the sandbox's `context` interface (a
//! notification's default message is made of it): the flow, the state so far, how long it has
//! run, the task runs that failed with their errors, and the execution's URL when the server
//! knows its public URL. Built from the machine at dispatch; the sandbox redacts the run's
//! secrets from it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use sluice_flow::Task;

use crate::machine::Execution;
use crate::records::{ExecutionState, TaskRunKey, TaskRunState, Timestamp};

/// The execution's URL for people: the UI's page of the execution under the server's public URL.
pub fn execution_url(public_url: &str, execution_id: &str) -> String {
    format!("{}/executions/{execution_id}", public_url.trim_end_matches('/'))
}

/// The document `context.execution()` answers for `run` (see the interface in `wit/plugin.wit`).
pub(super) fn document(
    exec: &Execution,
    tasks: &HashMap<String, Arc<Task>>,
    run: &TaskRunKey,
    public_url: Option<&str>,
    now: Timestamp,
) -> Value {
    let record = exec.record();
    // A task run fails only with the execution's error recorded or a warning counted (under
    // `allowFailure`): without either there is nothing to look for, and no scan of every run
    // at each dispatch of a wide flow.
    let failures_possible = record.error.is_some() || exec.has_warnings();
    let failed: Vec<_> = if failures_possible {
        exec.task_runs().filter(|r| r.state == TaskRunState::Failed).collect()
    } else {
        Vec::new()
    };
    // A group fails because a child did: the child says why, the group only repeats it.
    let parents: HashSet<&TaskRunKey> = failed.iter().filter_map(|r| r.parent.as_ref()).collect();
    let failed_tasks: Vec<Value> = failed
        .iter()
        .filter(|r| !parents.contains(&r.key))
        .map(|r| {
            json!({
                "taskRunId": r.key.to_string(),
                "taskId": r.key.task,
                "type": tasks.get(&r.key.task).map(|t| t.type_name()),
                "state": r.state.as_str(),
                "attempts": r.attempts.len(),
                "error": r.error,
            })
        })
        .collect();
    let outcome = match record.state {
        state if state.is_terminal() => state,
        ExecutionState::Killing => ExecutionState::Killed,
        // As the machine decides the final state.
        _ if record.error.is_some() => ExecutionState::Failed,
        _ if exec.has_warnings() => ExecutionState::Warning,
        _ => ExecutionState::Success,
    };
    let duration_ms = record.started_at.map_or(0, |started| {
        let end = record.ended_at.unwrap_or(now);
        u64::try_from((end - started).num_milliseconds()).unwrap_or(0)
    });
    json!({
        "executionId": record.id,
        "flowId": record.flow_id,
        "namespace": record.namespace,
        "revision": record.revision,
        "state": record.state.as_str(),
        "outcome": outcome.as_str(),
        "error": record.error,
        "startedAt": record.started_at.map(|t| t.to_rfc3339()),
        "durationMs": duration_ms,
        "taskRunId": run.to_string(),
        "labels": record.labels,
        "failedTasks": failed_tasks,
        "url": public_url.map(|public| execution_url(public, &record.id)),
    })
}
