//! The JSON Schema (draft 2020-12) of the flow format, for editors: YAML language servers
//! complete and check flows with it. Installed plugin tasks are part of it: one alternative per
//! task type, with that task's config keys beside the common ones.

mod parts;
mod plugins;

use serde_json::{Map, Value, json};

use crate::validate::TaskCatalog;

/// The schema of a flow file, knowing the plugins of `catalog`.
pub fn flow_json_schema(catalog: &dyn TaskCatalog) -> Value {
    let mut defs = parts::definitions();
    let mut type_choices = parts::native_type_choices();
    let mut task_cases = parts::native_task_cases();
    let installed = plugins::plugin_tasks(catalog);
    for task in &installed {
        defs.insert(task.def_name(), task.definition());
        type_choices.push(task.type_choice());
        task_cases.push(task.case());
    }
    if let Some(pinned) = plugins::pinned_type_choice(&installed) {
        type_choices.push(pinned);
    }
    defs.insert(
        "task".to_string(),
        json!({
            "description": "One task: `id`, `type`, and the keys of that type.",
            "type": "object",
            "required": ["id", "type"],
            "properties": {
                "type": { "description": "What the task does.", "anyOf": type_choices }
            },
            "allOf": task_cases
        }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:sluice:flow",
        "title": "sluice flow",
        "description": "A sluice flow: typed inputs, tasks (plugin components and native control flow), \
                        error handlers and triggers.",
        "type": "object",
        "required": ["id", "namespace", "tasks"],
        "additionalProperties": false,
        "properties": parts::flow_properties(),
        "$defs": Value::Object(defs)
    })
}

fn object(entries: Vec<(&str, Value)>) -> Map<String, Value> {
    entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
