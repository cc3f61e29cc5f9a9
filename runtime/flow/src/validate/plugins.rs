//! Plugin tasks against the installed plugins: the plugin and task exist, a pinned digest is
//! the installed one, and the config (every non-common key of the task) satisfies the task's
//! JSON Schema. Config values that are templates are only known at run time, so errors about
//! a templated string are left to the run-time check.

use std::collections::HashMap;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use super::{CatalogTask, TaskCatalog};
use crate::diagnostic::Diagnostic;
use crate::model::{Flow, Task, TaskKind, TaskType};
use crate::parse::keys;
use crate::parse::reader::{describe, is_template};
use crate::pointer;
use crate::suggest;

pub fn check(flow: &Flow, catalog: &dyn TaskCatalog, out: &mut Vec<Diagnostic>) {
    let mut validators: HashMap<String, Option<jsonschema::Validator>> = HashMap::new();
    for task in flow.all_tasks() {
        let TaskKind::Plugin { task_type, config } = &task.kind else { continue };
        let Some(found) = resolve(task, task_type, catalog, out) else { continue };
        let name = format!("{}.{}", task_type.plugin, task_type.task);
        let validator = validators.entry(name.clone()).or_insert_with(|| {
            match jsonschema::validator_for(&found.config_schema) {
                Ok(validator) => Some(validator),
                Err(err) => {
                    out.push(Diagnostic::at(
                        pointer::key(&task.pointer, "type"),
                        format!("the plugin's config schema of `{name}` is invalid: {err}"),
                    ));
                    None
                }
            }
        });
        let Some(validator) = validator else { continue };
        let instance = Value::Object(config.clone());
        for error in validator.iter_errors(&instance) {
            out.extend(config_error(task, &name, &found.config_schema, &error));
        }
    }
}

/// The catalog's task for `task_type`, after reporting a missing plugin or task, or a pin to
/// another digest.
fn resolve(
    task: &Task,
    task_type: &TaskType,
    catalog: &dyn TaskCatalog,
    out: &mut Vec<Diagnostic>,
) -> Option<CatalogTask> {
    let at = pointer::key(&task.pointer, "type");
    let plugin = &task_type.plugin;
    let Some(names) = catalog.tasks_of(plugin) else {
        let installed = catalog.plugins();
        let message = format!(
            "plugin `{plugin}` is not installed; installed: {}",
            if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
        );
        let hint = suggest::did_you_mean(plugin, installed.iter().map(String::as_str))
            .unwrap_or_else(|| "install it by putting its .wasm component in <data-dir>/plugins".to_string());
        out.push(Diagnostic::at(at, message).with_hint(hint));
        return None;
    };
    let Some(found) = catalog.task(plugin, &task_type.task) else {
        let message = format!(
            "plugin `{plugin}` has no task `{}`; its tasks are {}",
            task_type.task,
            suggest::list(names.iter().map(String::as_str))
        );
        let diagnostic = Diagnostic::at(at, message);
        out.push(match suggest::closest(&task_type.task, names.iter().map(String::as_str)) {
            Some(name) => diagnostic.with_hint(format!("did you mean `{plugin}.{name}`?")),
            None => diagnostic,
        });
        return None;
    };
    if let Some(pinned) = &task_type.digest
        && *pinned != found.digest
    {
        out.push(
            Diagnostic::at(
                at,
                format!(
                    "`{plugin}.{}` is pinned to sha256:{}…, but the installed `{plugin}` is sha256:{}…",
                    task_type.task,
                    short(pinned),
                    short(&found.digest)
                ),
            )
            .with_hint(format!(
                "install the pinned build of `{plugin}`, or pin the installed one: `@sha256:{}`",
                found.digest
            )),
        );
        return None;
    }
    Some(found)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

/// One schema violation as a diagnostic at the offending config key (`/tasks/3/url`).
fn config_error(task: &Task, name: &str, schema: &Value, error: &ValidationError<'_>) -> Vec<Diagnostic> {
    let instance = error.instance();
    if let Value::String(text) = instance.as_ref()
        && is_template(text)
    {
        return Vec::new();
    }
    let path = error.instance_path().as_str();
    let at = format!("{}{path}", task.pointer);
    let diagnostic = match error.kind() {
        ValidationErrorKind::Required { property } => {
            let key = property.as_str().map_or_else(|| property.to_string(), str::to_string);
            Diagnostic::at(at, format!("missing key `{key}`, required by `{name}`"))
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            return unexpected.iter().map(|key| unknown_key(task, name, schema, error, &at, key)).collect();
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => type_name(*single).to_string(),
                TypeKind::Multiple(set) => ALL_TYPES
                    .iter()
                    .filter(|t| set.contains(**t))
                    .filter(|t| !(**t == JsonType::Integer && set.contains(JsonType::Number)))
                    .map(|t| type_name(*t))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            Diagnostic::at(at, format!("expected {expected}, found {}", describe(instance)))
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = match options.as_ref() {
                Value::Array(items) => {
                    items.iter().map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_string)).collect()
                }
                other => vec![other.to_string()],
            };
            let shown = instance.as_str().map_or_else(|| instance.to_string(), str::to_string);
            let diagnostic = Diagnostic::at(
                at,
                format!(
                    "unknown value `{shown}`; expected one of {}",
                    suggest::list(names.iter().map(String::as_str))
                ),
            );
            match suggest::did_you_mean(&shown, names.iter().map(String::as_str)) {
                Some(hint) => diagnostic.with_hint(hint),
                None => diagnostic,
            }
        }
        ValidationErrorKind::Minimum { limit } => {
            Diagnostic::at(at, format!("expected at least {limit}, found {}", describe(instance)))
        }
        ValidationErrorKind::Maximum { limit } => {
            Diagnostic::at(at, format!("expected at most {limit}, found {}", describe(instance)))
        }
        _ => Diagnostic::at(at, error.to_string()),
    };
    vec![diagnostic]
}

/// A key the schema does not allow, with the closest allowed one. At the top of the config the
/// key may also be a misspelled common task key (`dependOn`).
fn unknown_key(
    task: &Task,
    name: &str,
    schema: &Value,
    error: &ValidationError<'_>,
    at: &str,
    key: &str,
) -> Diagnostic {
    let top_level = error.instance_path().as_str().is_empty();
    let properties = schema_properties(schema, error);
    let message = if top_level {
        format!("unknown key `{key}` in task `{}` (`{name}`)", task.id)
    } else {
        format!("unknown key `{key}` in the config of `{name}`")
    };
    let diagnostic = Diagnostic::at_key(pointer::key(at, key), message);
    let mut candidates: Vec<&str> = properties.iter().map(String::as_str).collect();
    if top_level {
        candidates.extend(keys::TASK_COMMON);
    }
    match suggest::did_you_mean(key, candidates) {
        Some(hint) => diagnostic.with_hint(hint),
        None if properties.is_empty() => diagnostic,
        None => diagnostic.with_hint(format!(
            "the config keys of `{name}` are {}",
            suggest::list(properties.iter().map(String::as_str))
        )),
    }
}

const ALL_TYPES: [JsonType; 7] = [
    JsonType::String,
    JsonType::Integer,
    JsonType::Number,
    JsonType::Boolean,
    JsonType::Array,
    JsonType::Object,
    JsonType::Null,
];

fn type_name(kind: JsonType) -> &'static str {
    match kind {
        JsonType::String => "a string",
        JsonType::Integer => "a whole number",
        JsonType::Number => "a number",
        JsonType::Boolean => "`true` or `false`",
        JsonType::Array => "a list",
        JsonType::Object => "a mapping",
        JsonType::Null => "nothing (null)",
    }
}

/// The properties of the schema object whose `additionalProperties` failed (empty when it
/// cannot be found, as behind a `$ref`).
fn schema_properties(schema: &Value, error: &ValidationError<'_>) -> Vec<String> {
    let keyword = error.schema_path().as_str();
    let holder = keyword.strip_suffix("/additionalProperties").unwrap_or(keyword);
    schema
        .pointer(holder)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}
