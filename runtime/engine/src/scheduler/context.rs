//! What templates see: the execution-wide part is built once per execution, the per-run part
//! (visible outputs, loop variables, attempt) from the machine at the moment of rendering.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sluice_flow::template::{Context, Reference, condition_references, references};
use sluice_sandbox::GUEST_WORKSPACE;

use crate::machine::Execution;
use crate::records::{TaskRunKey, Timestamp};

/// The parts of the template context that do not change during an execution.
#[derive(Debug, Clone)]
pub struct ExecutionScope {
    /// Typed inputs, secret inputs included (never persisted from here).
    pub inputs: Map<String, Value>,
    /// The flow's `variables`, rendered once at start.
    pub vars: Value,
    pub flow: Value,
    pub execution: Value,
    pub trigger: Value,
    /// Per task id (`""` for the flow's outputs), which task outputs its templates read, so a
    /// render builds only those instead of every finished task's (which made wide flows
    /// quadratic).
    needs: HashMap<String, OutputNeeds>,
}

/// The task outputs a set of templates reads.
#[derive(Debug, Clone)]
enum OutputNeeds {
    /// `outputs` as a whole (`outputs[name]`, `outputs | toJson`), or the templates could not
    /// be analysed.
    All,
    Only(Vec<String>),
}

impl OutputNeeds {
    fn of(analyses: impl IntoIterator<Item = Result<Vec<Reference>, String>>) -> Self {
        let mut tasks = Vec::new();
        for analysis in analyses {
            match analysis {
                Ok(refs) => {
                    for reference in refs {
                        match reference {
                            Reference::Output { task } if !tasks.contains(&task) => tasks.push(task),
                            Reference::Other { root } if root == "outputs" => return Self::All,
                            _ => {}
                        }
                    }
                }
                Err(_) => return Self::All,
            }
        }
        Self::Only(tasks)
    }
}

fn strings_of(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("{{") || s.contains("{%") => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings_of(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings_of(v, out)),
        _ => {}
    }
}

impl ExecutionScope {
    pub fn new(exec: &Execution, inputs: Map<String, Value>, started: Timestamp) -> Self {
        let record = exec.record();
        let mut needs = HashMap::new();
        for task in exec.flow().all_tasks() {
            let mut strings = Vec::new();
            strings_of(&serde_json::to_value(&task.kind).unwrap_or(Value::Null), &mut strings);
            let mut analyses: Vec<_> = strings.iter().map(|s| references(s)).collect();
            // Conditions may be bare expressions.
            analyses.extend(task.run_if.iter().map(|c| condition_references(c)));
            if let sluice_flow::TaskKind::If { condition, .. } = &task.kind {
                analyses.push(condition_references(condition));
            }
            needs.insert(task.id.clone(), OutputNeeds::of(analyses));
        }
        let mut strings = Vec::new();
        for value in exec.flow().outputs.values() {
            strings_of(value, &mut strings);
        }
        needs.insert(String::new(), OutputNeeds::of(strings.iter().map(|s| references(s))));
        Self {
            inputs,
            vars: Value::Object(Map::new()),
            flow: json!({"id": record.flow_id, "namespace": record.namespace, "revision": record.revision}),
            execution: json!({"id": record.id, "startDate": started.to_rfc3339(), "url": null}),
            trigger: record.trigger.clone().unwrap_or(Value::Null),
            needs,
        }
    }

    /// `execution.url`: the execution's page under the server's public URL (null without one).
    pub fn set_public_url(&mut self, public_url: Option<&str>) {
        if let (Some(public), Some(id)) = (public_url, self.execution["id"].as_str()) {
            self.execution["url"] = Value::String(super::execution_info::execution_url(public, id));
        }
    }

    /// `execution.startDate`, once the execution has started.
    pub fn set_start_date(&mut self, started: Timestamp) {
        self.execution["startDate"] = Value::String(started.to_rfc3339());
    }

    fn outputs(&self, exec: &Execution, viewer: &TaskRunKey) -> Value {
        match self.needs.get(&viewer.task) {
            Some(OutputNeeds::Only(tasks)) => Value::Object(
                tasks
                    .iter()
                    .filter_map(|task| exec.output_visible_to(viewer, task).map(|v| (task.clone(), v)))
                    .collect(),
            ),
            Some(OutputNeeds::All) | None => exec.outputs_visible_to(viewer),
        }
    }

    /// The context for rendering something of `run` (None: flow-level, e.g. outputs).
    pub fn context(&self, exec: &Execution, run: Option<&TaskRunKey>, now: Timestamp) -> Context {
        let (outputs, taskrun) = match run {
            Some(run) => {
                let attempt = exec.task_run(run).map_or(1, |r| r.attempts.len().max(1) as u32);
                let taskrun = match exec.loop_context(run) {
                    Some((value, iteration)) => {
                        json!({"value": value, "iteration": iteration, "attempt": attempt})
                    }
                    None => json!({"attempt": attempt}),
                };
                (self.outputs(exec, run), taskrun)
            }
            None => (self.outputs(exec, &TaskRunKey::new("")), Value::Object(Map::new())),
        };
        Context {
            inputs: Value::Object(self.inputs.clone()),
            vars: self.vars.clone(),
            outputs,
            flow: self.flow.clone(),
            execution: self.execution.clone(),
            taskrun,
            working_dir: GUEST_WORKSPACE.to_owned(),
            trigger: self.trigger.clone(),
            now,
        }
    }
}
