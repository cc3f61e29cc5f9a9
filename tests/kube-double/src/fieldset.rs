//! Field sets: the paths of an object a manager owns, in `fieldsV1` form (`f:spec`,
//! `k:{"name":"web"}`, `v:"x"`, `.`) and as conflict messages print them
//! (`.spec.template.spec.containers[name="web"].image`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::schema::{self, ListType};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Element {
    Field(String),
    /// A list item by its key fields, as compact JSON with sorted keys.
    Key(String),
    /// A set item by its value, as JSON.
    Value(String),
}

pub type Path = Vec<Element>;

/// A set of owned paths. A path that is a prefix of others is owned itself too (`.`).
pub type FieldSet = BTreeSet<Path>;

fn names(path: &Path) -> Vec<String> {
    path.iter().filter_map(|e| if let Element::Field(f) = e { Some(f.clone()) } else { None }).collect()
}

/// The key element of `item` in a list keyed by `keys`.
pub fn key_of(item: &Value, keys: &[&str]) -> String {
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let mut parts = Vec::new();
    for key in sorted {
        let value = match item.get(key) {
            Some(v) => v.clone(),
            None => match schema::key_default(key) {
                Some(default) => Value::String(default.into()),
                None => continue,
            },
        };
        parts.push(format!("{}:{value}", Value::String(key.to_string())));
    }
    format!("{{{}}}", parts.join(","))
}

/// Fields the server sets, never owned by a manager.
fn ignored(path: &Path, with_status: bool) -> bool {
    let parts: Vec<&str> =
        path.iter().map(|e| if let Element::Field(f) = e { f.as_str() } else { "" }).collect();
    match parts.as_slice() {
        ["apiVersion"] | ["kind"] => true,
        ["status", ..] => with_status,
        ["metadata", field] => matches!(
            *field,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "selfLink"
        ),
        _ => false,
    }
}

/// Every path of `object`; `status` is left out when the resource has a status subresource.
pub fn of_object(object: &Value, without_status: bool) -> FieldSet {
    let mut set = FieldSet::new();
    collect(object, &mut Vec::new(), &mut set, without_status);
    set
}

fn collect(value: &Value, path: &mut Path, set: &mut FieldSet, without_status: bool) {
    if !path.is_empty() && ignored(path, without_status) {
        return;
    }
    let field_names = names(path);
    match value {
        Value::Object(map) if path.is_empty() || !schema::is_atomic_object(&field_names) => {
            let is_item = matches!(path.last(), Some(Element::Key(_)));
            if !path.is_empty() && (map.is_empty() || is_item || schema::is_granular_map(&field_names)) {
                set.insert(path.clone());
            }
            for (k, v) in map {
                path.push(Element::Field(k.clone()));
                collect(v, path, set, without_status);
                path.pop();
            }
        }
        Value::Array(items) => match schema::list_type(&field_names) {
            ListType::Map(keys) => {
                if items.is_empty() {
                    set.insert(path.clone());
                }
                for item in items {
                    path.push(Element::Key(key_of(item, keys)));
                    collect(item, path, set, without_status);
                    path.pop();
                }
            }
            ListType::Set => {
                set.insert(path.clone());
                for item in items {
                    let mut p = path.clone();
                    p.push(Element::Value(item.to_string()));
                    set.insert(p);
                }
            }
            ListType::Atomic => {
                set.insert(path.clone());
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
}

/// The leaves of a set: paths that no other path of the set extends (values, not containers).
pub fn leaves(set: &FieldSet) -> Vec<Path> {
    set.iter().filter(|p| !set.iter().any(|q| q.len() > p.len() && q.starts_with(p))).cloned().collect()
}

/// The value at `path`, if present.
pub fn value_at<'a>(object: &'a Value, path: &Path) -> Option<&'a Value> {
    let mut node = object;
    let mut field_names: Vec<String> = Vec::new();
    for element in path {
        node = match element {
            Element::Field(f) => {
                field_names.push(f.clone());
                node.get(f)?
            }
            Element::Key(k) => {
                let keys = match schema::list_type(&field_names) {
                    ListType::Map(keys) => keys,
                    _ => return None,
                };
                node.as_array()?.iter().find(|item| key_of(item, keys) == *k)?
            }
            Element::Value(v) => node.as_array()?.iter().find(|item| item.to_string() == *v)?,
        };
    }
    Some(node)
}

/// Removes the value at `path` (a field, a list item, a set item).
pub fn remove_at(object: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = object;
    let mut field_names: Vec<String> = Vec::new();
    for element in parents {
        let next = match element {
            Element::Field(f) => {
                field_names.push(f.clone());
                node.get_mut(f)
            }
            Element::Key(k) => {
                let ListType::Map(keys) = schema::list_type(&field_names) else { return };
                node.as_array_mut().and_then(|items| items.iter_mut().find(|item| key_of(item, keys) == *k))
            }
            Element::Value(_) => None,
        };
        let Some(next) = next else { return };
        node = next;
    }
    match last {
        Element::Field(f) => {
            if let Some(map) = node.as_object_mut() {
                map.remove(f);
            }
        }
        Element::Key(k) => {
            let ListType::Map(keys) = schema::list_type(&field_names) else { return };
            if let Some(items) = node.as_array_mut() {
                items.retain(|item| key_of(item, keys) != *k);
            }
        }
        Element::Value(v) => {
            let value: Value = serde_json::from_str(v).unwrap_or(Value::Null);
            if let Some(items) = node.as_array_mut() {
                items.retain(|item| *item != value);
            }
        }
    }
}

/// `.spec.template.spec.containers[name="web"].image`.
pub fn display(path: &Path) -> String {
    let mut out = String::new();
    for element in path {
        match element {
            Element::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Element::Key(k) => {
                let parsed: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let mut parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                parts.sort();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Element::Value(v) => out.push_str(&format!("[={v}]")),
        }
    }
    out
}

/// The `fieldsV1` tree of a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for element in path {
            let key = match element {
                Element::Field(f) => format!("f:{f}"),
                Element::Key(k) => format!("k:{k}"),
                Element::Value(v) => format!("v:{v}"),
            };
            node = match node.entry(key).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(m) => m,
                _ => unreachable!("fieldsV1 nodes are objects"),
            };
        }
        let extended = set.iter().any(|q| q.len() > path.len() && q.starts_with(path));
        if extended {
            node.insert(".".into(), Value::Object(Map::new()));
        }
    }
    Value::Object(root)
}

/// The set a `fieldsV1` tree describes.
pub fn from_fields_v1(tree: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    read_tree(tree, &mut Vec::new(), &mut set);
    set
}

fn read_tree(tree: &Value, path: &mut Path, set: &mut FieldSet) {
    let Some(map) = tree.as_object() else { return };
    if !path.is_empty() && (map.is_empty() || map.contains_key(".")) {
        set.insert(path.clone());
    }
    for (key, child) in map {
        let element = if let Some(f) = key.strip_prefix("f:") {
            Element::Field(f.to_string())
        } else if let Some(k) = key.strip_prefix("k:") {
            Element::Key(k.to_string())
        } else if let Some(v) = key.strip_prefix("v:") {
            Element::Value(v.to_string())
        } else {
            continue;
        };
        path.push(element);
        read_tree(child, path, set);
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_as_the_api_server_writes_it() {
        let set = of_object(
            &json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "web", "image": "v1", "args": ["a"]}]}}},
                "status": {"replicas": 2}
            }),
            true,
        );
        assert_eq!(
            to_fields_v1(&set),
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}}}}}
            })
        );
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
    }

    #[test]
    fn paths_print_and_resolve() {
        let object = json!({"spec": {"containers": [{"name": "web", "image": "v1", "ports": [{"containerPort": 80}]}]}});
        let path = vec![
            Element::Field("spec".into()),
            Element::Field("containers".into()),
            Element::Key(r#"{"name":"web"}"#.into()),
            Element::Field("image".into()),
        ];
        assert_eq!(display(&path), r#".spec.containers[name="web"].image"#);
        assert_eq!(value_at(&object, &path), Some(&json!("v1")));
        let port = vec![
            Element::Field("spec".into()),
            Element::Field("containers".into()),
            Element::Key(r#"{"name":"web"}"#.into()),
            Element::Field("ports".into()),
            Element::Key(r#"{"containerPort":80,"protocol":"TCP"}"#.into()),
        ];
        assert_eq!(display(&port), r#".spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]"#);
        assert!(value_at(&object, &port).is_some());
        let mut object = object;
        remove_at(&mut object, &port);
        assert_eq!(object, json!({"spec": {"containers": [{"name": "web", "image": "v1", "ports": []}]}}));
    }
}
