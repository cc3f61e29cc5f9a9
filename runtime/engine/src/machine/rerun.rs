//! Running an ended execution's tasks again, as records for [`Execution::restore`] to continue
//! from: **restart** re-runs what failed in place (same execution, new attempts), **replay**
//! copies what came before one task into a new execution and runs the rest.
//!
//! Both only rewrite records; the machine's restore does the scheduling, so a restarted or
//! replayed execution behaves exactly like one recovered after a crash.
//!
//! [`Execution::restore`]: super::Execution::restore

use std::collections::HashSet;

use sluice_flow::{Flow, Task, TaskKind};

use crate::records::{ExecutionRecord, ExecutionState, TaskRun, TaskRunKey, TaskRunState};

/// What a restart writes: the execution back to RUNNING, the runs to continue from, and the
/// runs of `errors` and `finally` that are dropped (they run again if the execution still
/// fails or ends).
#[derive(Debug)]
pub struct Restart {
    pub record: ExecutionRecord,
    pub runs: Vec<TaskRun>,
    pub dropped: Vec<TaskRunKey>,
}

/// Restart: every main task run that ended FAILED or KILLED (and the control-flow runs around
/// it) runs again; plugin runs keep their attempts and get a new one, so the history stays in
/// place. What succeeded, warned or was skipped is not run again.
pub fn restart(
    flow: &Flow,
    mut record: ExecutionRecord,
    runs: Vec<TaskRun>,
    now: crate::records::Timestamp,
) -> Result<Restart, String> {
    if !matches!(record.state, ExecutionState::Failed | ExecutionState::Killed) {
        return Err(format!(
            "execution {} is {}: only a FAILED or KILLED execution can be restarted",
            record.id, record.state
        ));
    }
    let handlers: HashSet<&str> =
        flow.errors.iter().chain(&flow.finally).flat_map(subtree).map(|t| t.id.as_str()).collect();
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for mut run in runs {
        if handlers.contains(run.key.task.as_str()) {
            dropped.push(run.key);
            continue;
        }
        if matches!(run.state, TaskRunState::Failed | TaskRunState::Killed) {
            let Some(task) = flow.find_task(&run.key.task) else { continue };
            reset(&mut run, task);
        }
        kept.push(run);
    }
    record.state = ExecutionState::Running;
    record.error = None;
    record.outputs = None;
    record.ended_at = None;
    // The flow's `timeout` counts from this start.
    record.started_at = Some(now);
    Ok(Restart { record, runs: kept, dropped })
}

/// Replay from `from_task`: the runs to copy into the new execution. `from_task`, everything
/// that comes after it (its successors at its level and at every enclosing level, with their
/// children) and the `errors`/`finally` runs are left out, so they run again; the control-flow
/// runs enclosing `from_task` are copied as RUNNING; every other run is copied as it ended.
/// Without `from_task`, nothing is copied: the whole flow runs again.
pub fn replay(flow: &Flow, runs: Vec<TaskRun>, from_task: Option<&str>) -> Result<Vec<TaskRun>, String> {
    let Some(from) = from_task else { return Ok(Vec::new()) };
    let Some(path) = path_to(&flow.tasks, true, from) else {
        let known: Vec<&str> = flow.all_tasks().iter().map(|t| t.id.as_str()).collect();
        return Err(if flow.find_task(from).is_some() {
            format!("task `{from}` is in `errors` or `finally`; replay from a task of `tasks`")
        } else {
            format!("the flow has no task `{from}` (its tasks: {})", known.join(", "))
        });
    };
    // Walk from the innermost level out: at each, the task on the path and what follows it.
    let mut again: HashSet<&str> = HashSet::new();
    let mut enclosing: HashSet<&str> = HashSet::new();
    for (level, step) in path.iter().enumerate().rev() {
        let innermost = level + 1 == path.len();
        for index in after(step.list, step.sequential, step.index) {
            // An enclosing task continues with its other children; what follows it runs again.
            if index == step.index && !innermost {
                enclosing.insert(step.list[index].id.as_str());
                continue;
            }
            again.extend(subtree(&step.list[index]).map(|t| t.id.as_str()));
        }
    }
    let mut copied = Vec::new();
    for mut run in runs {
        let id = run.key.task.as_str();
        if again.contains(id) || flow.find_task(id).is_none() || !in_main(flow, id) {
            continue;
        }
        if enclosing.contains(id)
            && let Some(task) = flow.find_task(&run.key.task)
        {
            reset(&mut run, task);
        }
        copied.push(run);
    }
    Ok(copied)
}

/// Makes an ended run ready to continue: containers wait for their children again (a loop keeps
/// its values), plugin runs get a new attempt, other tasks start over.
fn reset(run: &mut TaskRun, task: &Task) {
    run.error = None;
    run.ended_at = None;
    match task.kind {
        TaskKind::Plugin { .. } => run.state = TaskRunState::Running,
        TaskKind::Sequential { .. }
        | TaskKind::Parallel { .. }
        | TaskKind::If { .. }
        | TaskKind::Switch { .. } => {
            run.state = TaskRunState::Running;
            run.outputs = None;
        }
        TaskKind::ForEach { .. } => run.state = TaskRunState::Running,
        TaskKind::Subflow { .. }
        | TaskKind::Pause { .. }
        | TaskKind::Sleep { .. }
        | TaskKind::Fail { .. } => {
            run.state = TaskRunState::Created;
            run.outputs = None;
            run.started_at = None;
        }
    }
}

/// One level of the way down to a task: the list, whether it runs in order, the position.
struct Step<'a> {
    list: &'a [Task],
    sequential: bool,
    index: usize,
}

/// The lists from the top level down to `id`, or None when `id` is not under `tasks`.
fn path_to<'a>(list: &'a [Task], sequential: bool, id: &str) -> Option<Vec<Step<'a>>> {
    for (index, task) in list.iter().enumerate() {
        let here = Step { list, sequential, index };
        if task.id == id {
            return Some(vec![here]);
        }
        let inner_sequential = !matches!(task.kind, TaskKind::Parallel { .. });
        for children in task.children() {
            if let Some(mut rest) = path_to(children, inner_sequential, id) {
                rest.insert(0, here);
                return Some(rest);
            }
        }
    }
    None
}

/// `list[start]` and every sibling that waits for it, directly or through others: a task
/// waits for its `dependsOn`, or without them for the task before it in a sequential list.
fn after(list: &[Task], sequential: bool, start: usize) -> Vec<usize> {
    let mut chosen = vec![start];
    let mut marked = vec![false; list.len()];
    marked[start] = true;
    let mut i = 0;
    while i < chosen.len() {
        let current = chosen[i];
        for (next, task) in list.iter().enumerate() {
            if marked[next] {
                continue;
            }
            let waits = if task.depends_on.is_empty() {
                sequential && next == current + 1
            } else {
                task.depends_on.iter().any(|d| *d == list[current].id)
            };
            if waits {
                marked[next] = true;
                chosen.push(next);
            }
        }
        i += 1;
    }
    chosen
}

/// A task and everything inside it.
fn subtree(task: &Task) -> impl Iterator<Item = &Task> {
    let mut out = vec![task];
    let mut i = 0;
    while i < out.len() {
        let children: Vec<&Task> = out[i].children().into_iter().flatten().collect();
        out.extend(children);
        i += 1;
    }
    out.into_iter()
}

fn in_main(flow: &Flow, id: &str) -> bool {
    flow.tasks.iter().flat_map(subtree).any(|t| t.id == id)
}
