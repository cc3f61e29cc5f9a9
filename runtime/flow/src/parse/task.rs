//! Tasks: the common keys, the native `flow.*` kinds, and plugin tasks whose other keys are
//! their config.

use std::collections::BTreeMap;

use serde_json::Value;

use super::reader::{Fields, Node, Reader, is_template};
use super::{input, keys, policy};
use crate::diagnostic::Diagnostic;
use crate::model::{Task, TaskKind, TaskType};
use crate::suggest;

/// A list of tasks (`tasks`, `then`, `errors`, ...). With `non_empty`, an empty list is an error.
pub fn list(r: &mut Reader, node: &Node<'_>, non_empty: bool) -> Vec<Task> {
    let Some(items) = r.list(node, "a list of tasks") else { return Vec::new() };
    if items.is_empty() && non_empty {
        r.report(
            Diagnostic::at(&node.pointer, "the list of tasks is empty").with_hint("add at least one task"),
        );
    }
    items.iter().filter_map(|item| task(r, item)).collect()
}

/// One task, with placeholders where it is broken (so later checks still see its id and
/// children); `None` only when it is not a mapping at all.
fn task(r: &mut Reader, node: &Node<'_>) -> Option<Task> {
    let fields = r.mapping(node, "a task (a mapping with `id` and `type`)")?;
    let id = r
        .require(&fields, "id", "this task", "every task needs an `id`, unique in the flow")
        .and_then(|n| r.id(&n, "task"));
    let context = match &id {
        Some(id) => format!("task `{id}`"),
        None => "this task".to_string(),
    };
    let type_name = r
        .require(
            &fields,
            "type",
            &context,
            "say what the task does, as in `type: core.log` or `type: flow.parallel`",
        )
        .and_then(|n| r.string(&n, "a task type like `core.log` or `flow.parallel`"));
    let kind = type_name.and_then(|type_name| kind(r, &fields, &type_name, &context));
    let is_pause = matches!(kind, Some(TaskKind::Pause { .. }));
    Some(Task {
        id: id.unwrap_or_default(),
        description: fields.get("description").and_then(|n| r.string(&n, "a description (a string)")),
        // A pause's `timeout` is how long it waits for a resume (see `TaskKind::Pause`).
        timeout: if is_pause { None } else { fields.get("timeout").and_then(|n| r.positive_duration(&n)) },
        retry: fields.get("retry").and_then(|n| policy::retry(r, &n, &format!("`retry` of {context}"))),
        allow_failure: fields.get("allowFailure").and_then(|n| r.bool(&n)).unwrap_or(false),
        run_if: fields
            .get("runIf")
            .and_then(|n| r.string(&n, "a template string like `{{ inputs.deploy }}`")),
        disabled: fields.get("disabled").and_then(|n| r.bool(&n)).unwrap_or(false),
        depends_on: fields
            .get("dependsOn")
            .and_then(|n| r.strings(&n, "a list of task ids"))
            .unwrap_or_default(),
        allow: fields.get("allow").and_then(|n| policy::allow(r, &n, &context)).unwrap_or_default(),
        limits: fields.get("limits").and_then(|n| policy::limits(r, &n, &context)).unwrap_or_default(),
        worker_tags: fields.get("workerTags").and_then(|n| worker_tags(r, &n)).unwrap_or_default(),
        kind: kind.unwrap_or(TaskKind::Sequential { tasks: Vec::new() }),
        pointer: node.pointer.clone(),
    })
}

/// `workerTags`: names as `sluice worker --tags` takes them.
fn worker_tags(r: &mut Reader, node: &Node<'_>) -> Option<Vec<String>> {
    let tags = r.strings(node, "a list of worker tags, as in `[docker, linux]`")?;
    for tag in &tags {
        if let Err(why) = crate::check_worker_tag(tag) {
            r.report(
                Diagnostic::at(&node.pointer, format!("invalid worker tag `{tag}`: {why}")).with_hint(
                    "use lowercase letters, digits, `-`, `_` and `.`, as in `docker` or `gpu-a100`",
                ),
            );
        }
    }
    Some(tags)
}

fn kind(r: &mut Reader, fields: &Fields<'_>, type_name: &str, context: &str) -> Option<TaskKind> {
    let type_pointer = fields.at("type");
    if type_name.starts_with("flow.") {
        let native_names = || keys::NATIVE.iter().map(|(name, _)| *name);
        let Some((_, extra)) = keys::NATIVE.iter().find(|(name, _)| *name == type_name) else {
            let diagnostic = Diagnostic::at(
                type_pointer,
                format!(
                    "unknown task type `{type_name}`; the `flow.` types are {}",
                    suggest::list(native_names())
                ),
            );
            r.report(match suggest::did_you_mean(type_name, native_names()) {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            });
            return None;
        };
        let context = format!("{context} (`{type_name}`)");
        r.unknown_keys(fields, &keys::joined(&keys::TASK_COMMON, extra), &context);
        for key in keys::PLUGIN_ONLY {
            if fields.map.contains_key(key) {
                r.report(
                    Diagnostic::at_key(fields.at(key), format!("`{key}` has no effect on {context}"))
                        .with_hint(format!("set `{key}` on the plugin tasks that need it")),
                );
            }
        }
        return Some(native(r, fields, type_name, &context));
    }
    let task_type = match parse_task_type(type_name) {
        Ok(task_type) => task_type,
        Err((message, hint)) => {
            r.report(Diagnostic::at(type_pointer, message).with_hint(hint));
            return None;
        }
    };
    let config = fields
        .map
        .iter()
        .filter(|(key, _)| !keys::TASK_COMMON.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Some(TaskKind::Plugin { task_type, config })
}

/// `<plugin>.<task>[@sha256:<64 hex>]`; the error is a message and a hint.
pub fn parse_task_type(text: &str) -> Result<TaskType, (String, String)> {
    let (name, pin) = match text.split_once('@') {
        Some((name, pin)) => (name, Some(pin)),
        None => (text, None),
    };
    let shape_hint = "a task type is `<plugin>.<task>` (as in `core.log`), optionally pinned with \
                      `@sha256:<digest>`, or one of the `flow.` types";
    let Some((plugin, task)) = name.split_once('.') else {
        return Err((format!("invalid task type `{text}`: it has no `.`"), shape_hint.to_string()));
    };
    let is_name = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !is_name(plugin) || !is_name(task) {
        return Err((format!("invalid task type `{text}`"), shape_hint.to_string()));
    }
    let digest = match pin {
        None => None,
        Some(pin) => {
            let hex = pin.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
                return Err((
                    format!("invalid digest pin `@{pin}` in task type `{text}`"),
                    "pin with `@sha256:` and the 64 lowercase hex digits that `sluice plugin list` shows"
                        .to_string(),
                ));
            }
            Some(hex.to_string())
        }
    };
    Ok(TaskType { plugin: plugin.to_string(), task: task.to_string(), digest })
}

fn native(r: &mut Reader, fields: &Fields<'_>, type_name: &str, context: &str) -> TaskKind {
    match type_name {
        "flow.sequential" => TaskKind::Sequential { tasks: required_tasks(r, fields, "tasks", context) },
        "flow.parallel" => TaskKind::Parallel {
            tasks: required_tasks(r, fields, "tasks", context),
            concurrency: fields.get("concurrency").and_then(|n| r.count(&n, 0)).unwrap_or(0),
        },
        "flow.if" => TaskKind::If {
            condition: required_template(
                r,
                fields,
                "condition",
                context,
                "a condition like `{{ inputs.deploy }}`",
            ),
            then: required_tasks(r, fields, "then", context),
            otherwise: fields.get("else").map(|n| list(r, &n, false)).unwrap_or_default(),
        },
        "flow.switch" => TaskKind::Switch {
            value: required_template(
                r,
                fields,
                "value",
                context,
                "a template like `{{ inputs.environment }}`",
            ),
            cases: cases(r, fields, context),
            default: fields.get("default").map(|n| list(r, &n, false)).unwrap_or_default(),
        },
        "flow.forEach" => TaskKind::ForEach {
            values: for_each_values(r, fields, context),
            concurrency: fields.get("concurrency").and_then(|n| r.count(&n, 0)).unwrap_or(1),
            tasks: required_tasks(r, fields, "tasks", context),
        },
        "flow.subflow" => TaskKind::Subflow {
            namespace: r
                .require(fields, "namespace", context, "name the namespace of the flow to start")
                .and_then(|n| r.namespace(&n))
                .unwrap_or_default(),
            flow_id: r
                .require(fields, "flowId", context, "name the flow to start")
                .and_then(|n| r.flow_id(&n))
                .unwrap_or_default(),
            inputs: fields
                .get("inputs")
                .and_then(|n| r.mapping(&n, "a mapping of the subflow's input ids to values"))
                .map(|m| m.map.clone())
                .unwrap_or_default(),
            wait: fields.get("wait").and_then(|n| r.bool(&n)).unwrap_or(true),
        },
        "flow.pause" => TaskKind::Pause {
            timeout: fields.get("timeout").and_then(|n| r.positive_duration(&n)),
            on_resume: fields.get("onResume").map(|n| input::list(r, &n)).unwrap_or_default(),
        },
        "flow.sleep" => TaskKind::Sleep { duration: sleep_duration(r, fields, context) },
        _ => TaskKind::Fail {
            message: required_template(r, fields, "message", context, "a message (a string)"),
        },
    }
}

fn required_tasks(r: &mut Reader, fields: &Fields<'_>, key: &str, context: &str) -> Vec<Task> {
    r.require(fields, key, context, &format!("list the tasks to run under `{key}:`"))
        .map(|n| list(r, &n, true))
        .unwrap_or_default()
}

fn required_template(
    r: &mut Reader,
    fields: &Fields<'_>,
    key: &str,
    context: &str,
    expected: &str,
) -> String {
    r.require(fields, key, context, "").and_then(|n| r.string(&n, expected)).unwrap_or_default()
}

fn cases(r: &mut Reader, fields: &Fields<'_>, context: &str) -> BTreeMap<String, Vec<Task>> {
    let Some(node) = r.require(fields, "cases", context, "map each value to the tasks to run for it") else {
        return BTreeMap::new();
    };
    let Some(cases) = r.mapping(&node, "a mapping of values to lists of tasks") else {
        return BTreeMap::new();
    };
    if cases.map.is_empty() {
        r.report(
            Diagnostic::at(&node.pointer, "`cases` is empty").with_hint("map at least one value to tasks"),
        );
    }
    let mut out = BTreeMap::new();
    for (key, value) in cases.map {
        let case = Node { value, pointer: cases.at(key) };
        out.insert(key.clone(), list(r, &case, true));
    }
    out
}

fn for_each_values(r: &mut Reader, fields: &Fields<'_>, context: &str) -> Value {
    let Some(node) = r.require(fields, "values", context, "give the values to iterate over") else {
        return Value::Array(Vec::new());
    };
    match node.value {
        Value::Array(_) | Value::String(_) => node.value.clone(),
        _ => {
            r.report(Diagnostic::at(
                &node.pointer,
                format!(
                    "expected a list of values, or a template that renders to one, found {}",
                    super::reader::describe(node.value)
                ),
            ));
            Value::Array(Vec::new())
        }
    }
}

fn sleep_duration(r: &mut Reader, fields: &Fields<'_>, context: &str) -> String {
    let Some(node) = r.require(fields, "duration", context, "say how long to sleep, as in `duration: 30s`")
    else {
        return String::new();
    };
    match node.value {
        Value::String(text) if is_template(text) => text.clone(),
        Value::String(text) => {
            // Checked now; kept as written because a template form is rendered at run time.
            r.duration(&node);
            text.clone()
        }
        _ => {
            r.duration(&node);
            String::new()
        }
    }
}
