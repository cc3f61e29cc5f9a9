//! The patch formats besides apply: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
//! strategic merge patch (lists merged by their patch merge key, `$patch`, `$retainKeys`,
//! `$deleteFromPrimitiveList`, `$setElementOrder` directives).

use serde_json::{Map, Value};

use crate::schema;

/// RFC 7386: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| format!("invalid JSON pointer {pointer:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(root: &'a mut Value, tokens: &[String], pointer: &str) -> Result<&'a mut Value, String> {
    let mut node = root;
    for token in tokens {
        node = match node {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("doc is missing path: \"{pointer}\": missing value"))?;
    }
    Ok(node)
}

fn get(root: &Value, pointer: &str) -> Result<Value, String> {
    root.pointer(pointer).cloned().ok_or_else(|| format!("doc is missing path: \"{pointer}\": missing value"))
}

fn remove(root: &mut Value, pointer: &str) -> Result<Value, String> {
    let tokens = tokens(pointer)?;
    let (last, parents) = tokens.split_last().ok_or("cannot remove the whole document")?;
    match parent_mut(root, parents, pointer)? {
        Value::Object(map) => map.remove(last),
        Value::Array(items) => {
            last.parse::<usize>().ok().filter(|i| *i < items.len()).map(|i| items.remove(i))
        }
        _ => None,
    }
    .ok_or_else(|| format!("unable to remove nonexistent key: {last}: missing value"))
}

fn add(root: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let tokens = tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *root = value;
        return Ok(());
    };
    match parent_mut(root, parents, pointer)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse().map_err(|_| format!("invalid index {last:?}"))?
            };
            if index > items.len() {
                return Err(format!("add operation does not apply: doc is missing path: \"{pointer}\""));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("add operation does not apply: doc is missing path: \"{pointer}\"")),
    }
}

/// RFC 6902, applied in order; the first failing operation fails the whole patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let ops = patch.as_array().ok_or("a JSON patch must be an array of operations")?;
    let mut doc = target.clone();
    for op in ops {
        let path = op["path"].as_str().ok_or("an operation needs a path")?;
        match op["op"].as_str().unwrap_or("") {
            "add" => add(&mut doc, path, op["value"].clone())?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                let tokens = tokens(path)?;
                let node = parent_mut(&mut doc, &tokens, path)?;
                *node = op["value"].clone();
            }
            "move" => {
                let from = op["from"].as_str().ok_or("move needs from")?;
                let value = remove(&mut doc, from)?;
                add(&mut doc, path, value)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("copy needs from")?;
                let value = get(&doc, from)?;
                add(&mut doc, path, value)?;
            }
            "test" => {
                if get(&doc, path)? != op["value"] {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    *target = doc;
    Ok(())
}

fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

fn item_key<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.get(key)
}

fn merge_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    path: &mut Vec<String>,
    key: &str,
) -> Result<(), String> {
    for item in patch {
        let directive = item.get("$patch").and_then(Value::as_str);
        if directive == Some("replace") {
            *target = patch.iter().filter(|i| i.get("$patch").is_none()).map(strip_directives).collect();
            return Ok(());
        }
        let Some(wanted) = item_key(item, key) else {
            return Err(format!("map: {item} does not contain declared merge key: {key}"));
        };
        let position = target.iter().position(|t| item_key(t, key) == Some(wanted));
        match (directive, position) {
            (Some("delete"), Some(i)) => {
                target.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => strategic_merge(&mut target[i], item, path)?,
            (_, None) => target.push(strip_directives(item)),
        }
    }
    Ok(())
}

/// Strategic merge patch: a merge patch whose lists with a merge key merge item by item.
pub fn strategic_merge(target: &mut Value, patch: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    for (key, value) in patch_map {
        if key == "$retainKeys" || key == "$patch" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let doomed: Vec<Value> = value.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|i| !doomed.contains(i));
            }
            continue;
        }
        let Value::Object(map) = target else { break };
        if value.is_null() {
            map.remove(key);
            continue;
        }
        path.push(key.clone());
        let result = match (map.get_mut(key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => strategic_merge(existing, value, path),
            (Some(Value::Array(existing)), Value::Array(items)) => match schema::merge_key(path) {
                Some(merge_key) => merge_list(existing, items, path, merge_key),
                None if schema::list_type(path) == schema::ListType::Set => {
                    for item in items {
                        if !existing.contains(item) {
                            existing.push(item.clone());
                        }
                    }
                    Ok(())
                }
                None => {
                    if let Value::Array(items) = strip_directives(value) {
                        *existing = items;
                    }
                    Ok(())
                }
            },
            _ => {
                map.insert(key.clone(), strip_directives(value));
                Ok(())
            }
        };
        path.pop();
        result?;
    }
    if let (Some(Value::Array(retain)), Value::Object(map)) = (patch_map.get("$retainKeys"), &mut *target) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        map.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_and_deletes() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"spec": {"template": {"x": 1}, "list": [1, 2]}, "metadata": {}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/spec/template", "value": {"y": 2}},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "1"}},
                {"op": "test", "path": "/metadata/annotations/a~0b~1c", "value": "1"},
                {"op": "remove", "path": "/spec/list/0"},
                {"op": "copy", "from": "/spec/list", "path": "/copy"},
                {"op": "move", "from": "/copy", "path": "/moved"}
            ]),
        )
        .expect("applies");
        assert_eq!(
            doc,
            json!({"spec": {"template": {"y": 2}, "list": [2, 3]}, "metadata": {"annotations": {"a~b/c": "1"}}, "moved": [2, 3]})
        );
    }

    #[test]
    fn a_failing_json_patch_changes_nothing() {
        let mut doc = json!({"a": 1});
        let err = json_patch(
            &mut doc,
            &json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/zz"}]),
        );
        assert!(err.is_err());
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn strategic_merge_by_name_and_directives() {
        let mut doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "v1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "side", "image": "s1"}
        ]}}}, "metadata": {"finalizers": ["a"]}});
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
            "containers": [
                {"name": "web", "image": "v2", "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]},
                {"name": "new", "image": "n1"}
            ]}}}, "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}});
        strategic_merge(&mut doc, &patch, &mut Vec::new()).expect("applies");
        assert_eq!(
            doc,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "v2", "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
                {"name": "side", "image": "s1"},
                {"name": "new", "image": "n1"}
            ]}}}, "metadata": {"finalizers": ["b"]}})
        );
    }

    #[test]
    fn strategic_merge_replaces_lists_without_a_key_and_retains_keys() {
        let mut doc = json!({"spec": {"args": ["a", "b"], "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch =
            json!({"spec": {"args": ["c"], "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        strategic_merge(&mut doc, &patch, &mut Vec::new()).expect("applies");
        assert_eq!(doc, json!({"spec": {"args": ["c"], "strategy": {"type": "Recreate"}}}));
    }
}
