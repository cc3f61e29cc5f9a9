//! The installed plugin tasks as parts of the flow schema.

use serde_json::{Map, Value, json};

use super::parts;
use crate::validate::TaskCatalog;

pub struct PluginTask {
    /// `core.log`.
    name: String,
    description: String,
    config: Value,
}

pub fn plugin_tasks(catalog: &dyn TaskCatalog) -> Vec<PluginTask> {
    let mut out = Vec::new();
    for plugin in catalog.plugins() {
        for task in catalog.tasks_of(&plugin).unwrap_or_default() {
            if let Some(found) = catalog.task(&plugin, &task) {
                out.push(PluginTask {
                    name: format!("{plugin}.{task}"),
                    description: found.description,
                    config: found.config_schema,
                });
            }
        }
    }
    out
}

/// `type: <plugin>.<task>@sha256:<hex>` for any installed task type.
pub fn pinned_type_choice(tasks: &[PluginTask]) -> Option<Value> {
    if tasks.is_empty() {
        return None;
    }
    let names: Vec<String> = tasks.iter().map(|t| regex_escape(&t.name)).collect();
    Some(json!({
        "description": "An installed plugin task pinned to a build: `<plugin>.<task>@sha256:<64 hex digits>`.",
        "type": "string",
        "pattern": format!("^({})@sha256:[0-9a-f]{{64}}$", names.join("|"))
    }))
}

impl PluginTask {
    /// The name of the task's definition in `$defs`.
    pub fn def_name(&self) -> String {
        format!("plugin:{}", self.name)
    }

    pub fn type_choice(&self) -> Value {
        json!({ "const": self.name, "description": self.description })
    }

    /// `if type is this task (pinned or not) then its definition`.
    pub fn case(&self) -> Value {
        let pattern = format!("^{}(@sha256:[0-9a-f]{{64}})?$", regex_escape(&self.name));
        json!({
            "if": { "properties": { "type": { "pattern": pattern } }, "required": ["type"] },
            "then": { "$ref": format!("#/$defs/{}", pointer_escape(&self.def_name())) }
        })
    }

    /// The common task keys and this task's config keys, which its config schema describes. The
    /// config schema's own definitions travel along under `$defs/<def>/$defs`, with its
    /// references rewritten to point there.
    pub fn definition(&self) -> Value {
        let base = format!("#/$defs/{}", pointer_escape(&self.def_name()));
        let config = allow_templates(rebase_refs(&self.config, &base));
        let mut properties = parts::common_task_properties(true);
        if let Some(Value::Object(config_properties)) = config.get("properties") {
            for (key, schema) in config_properties {
                properties.insert(key.clone(), schema.clone());
            }
        }
        let mut required = vec![json!("id"), json!("type")];
        if let Some(Value::Array(config_required)) = config.get("required") {
            required.extend(config_required.iter().cloned());
        }
        let mut definition = Map::new();
        definition.insert("description".into(), json!(format!("`{}`: {}", self.name, self.description)));
        definition.insert("type".into(), json!("object"));
        definition.insert("required".into(), Value::Array(required));
        definition.insert("properties".into(), Value::Object(properties));
        if config.get("additionalProperties") == Some(&Value::Bool(false)) {
            definition.insert("additionalProperties".into(), json!(false));
        }
        for defs_key in ["$defs", "definitions"] {
            if let Some(defs) = config.get(defs_key) {
                definition.insert(defs_key.into(), defs.clone());
            }
        }
        Value::Object(definition)
    }
}

/// Config values may be templates, rendered to their real type at run time: every value
/// position of the schema (properties, items, definitions) also accepts a templated string.
fn allow_templates(schema: Value) -> Value {
    let Value::Object(mut map) = schema else { return schema };
    for key in ["properties", "$defs", "definitions", "patternProperties"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            for child in children.values_mut() {
                *child = template_or(std::mem::take(child));
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key).filter(|c| c.is_object()) {
            *child = template_or(std::mem::take(child));
        }
    }
    if let Some(Value::Array(children)) = map.get_mut("prefixItems") {
        for child in children {
            *child = template_or(std::mem::take(child));
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            for child in children {
                *child = allow_templates(std::mem::take(child));
            }
        }
    }
    Value::Object(map)
}

/// `schema`, or a templated string; the description and default stay on the outside, where
/// editors show them.
fn template_or(schema: Value) -> Value {
    let schema = allow_templates(schema);
    let Value::Object(mut map) = schema else { return schema };
    if accepts_any_string(&map) {
        return Value::Object(map);
    }
    let mut outer = Map::new();
    for key in ["description", "default", "title"] {
        if let Some(value) = map.remove(key) {
            outer.insert(key.to_string(), value);
        }
    }
    outer.insert("anyOf".into(), json!([Value::Object(map), { "$ref": "#/$defs/template" }]));
    Value::Object(outer)
}

fn accepts_any_string(schema: &Map<String, Value>) -> bool {
    let string_type = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => false,
    };
    let constrained = [
        "enum",
        "const",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
    ]
    .iter()
    .any(|k| schema.contains_key(*k));
    string_type && !constrained
}

/// Local references (`#/$defs/X`) of an embedded schema, made to point below `base`.
fn rebase_refs(schema: &Value, base: &str) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("$ref", Value::String(reference)) if reference.starts_with('#') => {
                            Value::String(format!("{base}{}", &reference[1..]))
                        }
                        _ => rebase_refs(value, base),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| rebase_refs(item, base)).collect()),
        other => other.clone(),
    }
}

/// Task type names hold letters, digits, `_`, `-` and one `.`; only the dot is special.
fn regex_escape(name: &str) -> String {
    name.replace('.', "\\.")
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn embedded_references_point_into_the_definition() {
        let schema =
            json!({ "properties": { "level": { "$ref": "#/$defs/Level" } }, "items": [{ "$ref": "#" }] });
        assert_eq!(
            rebase_refs(&schema, "#/$defs/plugin:core.log"),
            json!({
                "properties": { "level": { "$ref": "#/$defs/plugin:core.log/$defs/Level" } },
                "items": [{ "$ref": "#/$defs/plugin:core.log" }]
            })
        );
    }

    #[test]
    fn config_values_also_accept_templates() {
        let schema = json!({
            "properties": {
                "url": { "type": "string", "description": "u" },
                "count": { "type": "integer", "description": "c", "default": 1 },
                "tags": { "type": "array", "items": { "type": "integer" } }
            },
            "$defs": { "Level": { "enum": ["a", "b"] } }
        });
        let template = json!({ "$ref": "#/$defs/template" });
        assert_eq!(
            allow_templates(schema),
            json!({
                "properties": {
                    "url": { "type": "string", "description": "u" },
                    "count": { "description": "c", "default": 1, "anyOf": [{ "type": "integer" }, template] },
                    "tags": { "anyOf": [{ "type": "array", "items": { "anyOf": [{ "type": "integer" }, template] } }, template] }
                },
                "$defs": { "Level": { "anyOf": [{ "enum": ["a", "b"] }, template] } }
            })
        );
    }

    #[test]
    fn names_are_escaped_for_patterns() {
        assert_eq!(regex_escape("my-plugin.run"), "my-plugin\\.run");
    }
}
