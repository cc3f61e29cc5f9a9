//! What a dry-run apply would change: the fields of the live object against the server's
//! dry-run answer, leaf by leaf, without the fields the server keeps for itself.

use std::collections::BTreeMap;

use serde_json::Value;

/// Fields the server sets on every write; a diff of them says nothing about the change.
const SERVER_FIELDS: &[&str] = &[
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/metadata/uid",
    "/status",
];

/// One line per changed leaf: `+ /path: value`, `- /path: value`, `~ /path: old -> new`.
pub fn diff(before: Option<&Value>, after: &Value) -> Vec<String> {
    let mut old = BTreeMap::new();
    if let Some(before) = before {
        leaves(before, String::new(), &mut old);
    }
    let mut new = BTreeMap::new();
    leaves(after, String::new(), &mut new);
    let mut lines = Vec::new();
    for (path, value) in &new {
        match old.get(path) {
            None => lines.push(format!("+ {path}: {value}")),
            Some(previous) if previous != value => lines.push(format!("~ {path}: {previous} -> {value}")),
            Some(_) => {}
        }
    }
    for (path, value) in &old {
        if !new.contains_key(path) {
            lines.push(format!("- {path}: {value}"));
        }
    }
    lines.sort_by(|a, b| a[2..].cmp(&b[2..]));
    lines
}

fn leaves(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    if SERVER_FIELDS.contains(&path.as_str()) {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                leaves(value, format!("{path}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, value) in items.iter().enumerate() {
                leaves(value, format!("{path}/{index}"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_added_and_removed_leaves() {
        let before = json!({"metadata": {"name": "web", "resourceVersion": "1", "labels": {"app": "web", "old": "x"}},
            "spec": {"replicas": 2}, "status": {"replicas": 2}});
        let after = json!({"metadata": {"name": "web", "resourceVersion": "2", "labels": {"app": "web", "tier/x": "front"}},
            "spec": {"replicas": 3}, "status": {}});
        assert_eq!(
            diff(Some(&before), &after),
            [
                "- /metadata/labels/old: \"x\"",
                "+ /metadata/labels/tier~1x: \"front\"",
                "~ /spec/replicas: 2 -> 3",
            ]
        );
        assert_eq!(diff(None, &json!({"data": {"a": "1"}})), ["+ /data/a: \"1\""]);
    }
}
