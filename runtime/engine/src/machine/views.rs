//! What templates see: the `outputs` of finished tasks, resolved relative to the run that asks,
//! and the loop variables of a run.

use serde_json::{Map, Value};

use super::Execution;
use crate::records::TaskRunKey;

/// Puts `value` at `path` in nested arrays, padding with nulls.
fn place(into: &mut Vec<Value>, path: &[u32], value: Value) {
    let Some((&first, rest)) = path.split_first() else { return };
    let at = first as usize;
    if into.len() <= at {
        into.resize(at + 1, Value::Null);
    }
    if rest.is_empty() {
        into[at] = value;
    } else {
        if !into[at].is_array() {
            into[at] = Value::Array(Vec::new());
        }
        if let Value::Array(inner) = &mut into[at] {
            place(inner, rest, value);
        }
    }
}

impl Execution {
    pub(crate) fn outputs_for(&self, viewer: &TaskRunKey) -> Value {
        let viewer_loops = self.viewer_loops(viewer);
        let mut object = Map::new();
        for (node, runs) in self.node_runs.iter().enumerate() {
            if runs.is_empty() {
                continue;
            }
            if let Some(value) = self.output_of_node(viewer, &viewer_loops, node) {
                object.insert(self.plan.nodes[node].id.clone(), value);
            }
        }
        Value::Object(object)
    }

    pub(crate) fn output_for(&self, viewer: &TaskRunKey, task: &str) -> Option<Value> {
        let node = *self.plan.by_id.get(task)?;
        self.output_of_node(viewer, &self.viewer_loops(viewer), node)
    }

    fn viewer_loops(&self, viewer: &TaskRunKey) -> Vec<usize> {
        self.plan.by_id.get(&viewer.task).map(|&node| self.plan.loops_around(node)).unwrap_or_default()
    }

    /// A task outside any loop: its outputs. Inside loops: for the loops it shares with the
    /// viewer, the viewer's iteration; for the others, a list by iteration (null where that
    /// iteration's run has no outputs).
    fn output_of_node(&self, viewer: &TaskRunKey, viewer_loops: &[usize], node: usize) -> Option<Value> {
        let target_loops = self.plan.loops_around(node);
        let shared = target_loops.iter().zip(viewer_loops).take_while(|(a, b)| a == b).count();
        let fixed = &viewer.iterations[..shared.min(viewer.iterations.len())];
        let finished = |run: usize| {
            let r = &self.runs[run];
            if r.state.is_terminal() { r.outputs.as_ref() } else { None }
        };
        if fixed.len() == target_loops.len() {
            let key = TaskRunKey { task: self.plan.nodes[node].id.clone(), iterations: fixed.to_vec() };
            return self.index.get(&key).and_then(|&run| finished(run)).cloned();
        }
        let mut list = Vec::new();
        let mut any = false;
        for &run in &self.node_runs[node] {
            let iterations = &self.runs[run].key.iterations;
            if let Some(outputs) = finished(run)
                && iterations.starts_with(fixed)
            {
                place(&mut list, &iterations[fixed.len()..], outputs.clone());
                any = true;
            }
        }
        any.then_some(Value::Array(list))
    }

    pub(crate) fn loop_context_of(&self, run: &TaskRunKey) -> Option<(Value, u32)> {
        let iteration = *run.iterations.last()?;
        let r = &self.runs[*self.index.get(run)?];
        Some((r.value.clone().unwrap_or(Value::Null), iteration))
    }
}
