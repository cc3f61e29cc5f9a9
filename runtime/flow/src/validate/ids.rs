//! Ids that must be unique: task ids across the whole flow (so `outputs.<id>` names one task),
//! input ids, and trigger ids.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::model::{Flow, Input, TaskKind};
use crate::pointer;
use crate::source_map::SourceMap;

pub fn check(flow: &Flow, source: &SourceMap, out: &mut Vec<Diagnostic>) {
    let tasks = flow.all_tasks();
    unique(tasks.iter().map(|t| (t.id.as_str(), t.pointer.as_str())), "task", source, out);
    inputs(&flow.inputs, source, out);
    for task in &tasks {
        if let TaskKind::Pause { on_resume, .. } = &task.kind {
            inputs(on_resume, source, out);
        }
    }
    unique(flow.triggers.iter().map(|t| (t.id.as_str(), t.pointer.as_str())), "trigger", source, out);
}

fn inputs(inputs: &[Input], source: &SourceMap, out: &mut Vec<Diagnostic>) {
    unique(inputs.iter().map(|i| (i.id.as_str(), i.pointer.as_str())), "input", source, out);
}

/// Reports each repeat of an id at its `id`, naming where the first one is.
fn unique<'a>(
    items: impl Iterator<Item = (&'a str, &'a str)>,
    what: &str,
    source: &SourceMap,
    out: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<&str, &str> = HashMap::new();
    for (id, at) in items {
        // A missing id was reported by the parse.
        if id.is_empty() {
            continue;
        }
        let Some(first_at) = first.get(id) else {
            first.insert(id, at);
            continue;
        };
        let first_id = pointer::key(first_at, "id");
        let place = match source.position(&first_id) {
            Some((line, _)) => format!("on line {line}"),
            None => format!("at {first_id}"),
        };
        let hint = if what == "task" {
            "task ids are unique across the whole flow, `errors` and `finally` included; rename one"
        } else {
            "rename one"
        };
        out.push(
            Diagnostic::at(
                pointer::key(at, "id"),
                format!("duplicate {what} id `{id}`, already used {place}"),
            )
            .with_hint(hint),
        );
    }
}
