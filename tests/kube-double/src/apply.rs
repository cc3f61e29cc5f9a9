//! Server-side apply and `metadata.managedFields`: which manager owns which field, conflicts
//! when an applier would change a field another manager owns (unless forced), removal of the
//! fields an applier stopped applying when nobody else owns them, and the `Update` entries every
//! other write records.

use serde_json::{Map, Value, json};

use crate::fieldset::{self, Element, FieldSet, Path};
use crate::schema::{self, ListType};
use crate::status::{ApiError, Cause};

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: String,
    pub fields: FieldSet,
}

impl Entry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fieldset::to_fields_v1(&self.fields),
        });
        if !self.subresource.is_empty() {
            entry["subresource"] = json!(self.subresource);
        }
        entry
    }

    /// The manager as conflict messages print it: `"mgr"` for appliers, `"mgr" using apps/v1`
    /// for updaters.
    fn printed(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out = format!("{out} with subresource {:?}", self.subresource);
        }
        if self.operation == "Update" {
            out = format!("{out} using {}", self.api_version);
        }
        out
    }
}

/// The entries of an object's `metadata.managedFields`.
pub fn entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or("").to_string(),
            operation: e["operation"].as_str().unwrap_or("").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
            time: e["time"].as_str().unwrap_or("").to_string(),
            subresource: e["subresource"].as_str().unwrap_or("").to_string(),
            fields: fieldset::from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn set_entries(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(Entry::to_json).collect();
    if let Some(meta) = object["metadata"].as_object_mut() {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn names(path: &[String]) -> Vec<String> {
    path.to_vec()
}

/// Merges an apply configuration into the live object: fields of the configuration win,
/// keyed lists merge item by item, sets union, anything else is replaced.
fn merge(live: &mut Value, config: &Value, path: &mut Vec<String>) {
    match (live, config) {
        (live @ Value::Object(_), Value::Object(config)) if !schema::is_atomic_object(&names(path)) => {
            let Value::Object(map) = live else { return };
            for (key, value) in config {
                if value.is_null() {
                    continue;
                }
                path.push(key.clone());
                match map.get_mut(key) {
                    Some(existing) => merge(existing, value, path),
                    None => {
                        map.insert(key.clone(), value.clone());
                    }
                }
                path.pop();
            }
        }
        (Value::Array(live), Value::Array(config)) => match schema::list_type(path) {
            ListType::Map(keys) => {
                for item in config {
                    let key = fieldset::key_of(item, keys);
                    match live.iter_mut().find(|l| fieldset::key_of(l, keys) == key) {
                        Some(existing) => merge(existing, item, path),
                        None => live.push(item.clone()),
                    }
                }
            }
            ListType::Set => {
                for item in config {
                    if !live.contains(item) {
                        live.push(item.clone());
                    }
                }
            }
            ListType::Atomic => *live = config.clone(),
        },
        (live, config) => *live = config.clone(),
    }
}

fn conflict_error(conflicts: &[(Path, String)]) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|(path, manager)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {manager}"),
            field: fieldset::display(path),
        })
        .collect();
    let message = if let [(path, manager)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {manager}: {}", fieldset::display(path))
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(_, m)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for manager in managers {
            lines.push(format!("conflicts with {manager}:"));
            for (path, _) in conflicts.iter().filter(|(_, m)| m == manager) {
                lines.push(format!("- {}", fieldset::display(path)));
            }
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    ApiError::apply_conflict(message, causes)
}

/// What a server-side apply asks.
pub struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub api_version: &'a str,
    /// Whether the resource has a status subresource (then status is nobody's to apply here).
    pub has_status: bool,
}

/// Applies `config` to `live` (an empty object when creating). Answers the new object, with its
/// managedFields, or the conflicts.
pub fn apply(live: &Value, config: &Value, request: &ApplyRequest<'_>) -> Result<Value, ApiError> {
    let mut entries = entries(live);
    let applied = fieldset::of_object(config, request.has_status);
    let mut merged = live.clone();
    let mut config_body = config.clone();
    if request.has_status
        && let Some(map) = config_body.as_object_mut()
    {
        map.remove("status");
    }
    merge(&mut merged, &config_body, &mut Vec::new());

    let mut conflicts: Vec<(Path, usize)> = Vec::new();
    for leaf in fieldset::leaves(&applied) {
        if fieldset::value_at(live, &leaf) == fieldset::value_at(&merged, &leaf) {
            continue;
        }
        for (i, entry) in entries.iter().enumerate() {
            if entry.same_owner(request.manager, "Apply", "") {
                continue;
            }
            if entry.fields.contains(&leaf) {
                conflicts.push((leaf.clone(), i));
            }
        }
    }
    if !conflicts.is_empty() {
        if !request.force {
            let printed: Vec<(Path, String)> =
                conflicts.iter().map(|(p, i)| (p.clone(), entries[*i].printed())).collect();
            return Err(conflict_error(&printed));
        }
        for (path, i) in &conflicts {
            entries[*i].fields.remove(path);
        }
    }

    // Applied set ownership: others lose nothing else (shared ownership when values agree).
    let previous: FieldSet = entries
        .iter()
        .find(|e| e.same_owner(request.manager, "Apply", ""))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let owned_by_others = |path: &Path, entries: &[Entry]| {
        entries
            .iter()
            .filter(|e| !e.same_owner(request.manager, "Apply", ""))
            .any(|e| e.fields.iter().any(|q| q.starts_with(path)))
    };
    // Outermost first: a removed item or map takes what is under it along.
    let mut removed: Vec<&Path> = previous.difference(&applied).collect();
    removed.sort_by_key(|p| p.len());
    let mut gone: Vec<&Path> = Vec::new();
    for path in removed {
        if gone.iter().any(|g| path.starts_with(g)) {
            continue;
        }
        let under_applied = applied.iter().any(|q| q.starts_with(path));
        if !under_applied && !owned_by_others(path, &entries) {
            fieldset::remove_at(&mut merged, path);
            gone.push(path);
        }
    }

    let unchanged_fields = previous == applied;
    match entries.iter_mut().find(|e| e.same_owner(request.manager, "Apply", "")) {
        Some(entry) => {
            if !unchanged_fields || strip_managed(&merged) != strip_managed(live) {
                entry.time = now();
            }
            entry.fields = applied;
            entry.api_version = request.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: request.manager.to_string(),
            operation: "Apply".into(),
            api_version: request.api_version.to_string(),
            time: now(),
            subresource: String::new(),
            fields: applied,
        }),
    }
    set_entries(&mut merged, &entries);
    Ok(merged)
}

fn strip_managed(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy["metadata"].as_object_mut() {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    copy
}

/// Records a non-apply write (create, update, patch) by `manager`: it owns the fields it set or
/// changed, which other managers lose; fields that are gone are nobody's.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
    has_status: bool,
) {
    let mut entries = match old {
        Some(old) => entries(old),
        None => Vec::new(),
    };
    let without_status = has_status && subresource.is_empty();
    let new_set = fieldset::of_object(new, without_status);
    let empty = Value::Object(Map::new());
    let old_object = old.unwrap_or(&empty);
    let changed: Vec<Path> = fieldset::leaves(&new_set)
        .into_iter()
        .filter(|p| fieldset::value_at(old_object, p) != fieldset::value_at(new, p))
        .collect();
    for entry in entries.iter_mut() {
        entry.fields.retain(|p| {
            fieldset::value_at(new, p).is_some()
                || matches!(p.first(), Some(Element::Field(f)) if f == "status" && !has_status)
        });
        if !entry.same_owner(manager, "Update", subresource) {
            for path in &changed {
                entry.fields.remove(path);
            }
        }
    }
    if !changed.is_empty() {
        let mut owned: FieldSet = FieldSet::new();
        for path in &changed {
            // the item and map markers above a changed field come with it
            for len in 1..=path.len() {
                let prefix: Path = path[..len].to_vec();
                if new_set.contains(&prefix) {
                    owned.insert(prefix);
                }
            }
        }
        match entries.iter_mut().find(|e| e.same_owner(manager, "Update", subresource)) {
            Some(entry) => {
                entry.fields.extend(owned);
                entry.time = now();
                entry.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now(),
                subresource: subresource.to_string(),
                fields: owned,
            }),
        }
    }
    set_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(manager: &str, force: bool) -> ApplyRequest<'_> {
        ApplyRequest { manager, force, api_version: "apps/v1", has_status: true }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn a_second_applier_conflicts_and_force_takes_the_field() {
        let first = apply(&json!({}), &deployment(2, "v1"), &request("alice", false)).expect("created");
        let same = apply(&first, &deployment(2, "v1"), &request("bob", false)).expect("same values share");
        assert_eq!(entries(&same).len(), 2);
        let err = apply(&first, &deployment(3, "v1"), &request("bob", false)).expect_err("conflict");
        assert_eq!(err.code, 409);
        assert_eq!(err.message, r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#);
        assert_eq!(err.causes[0].field, ".spec.replicas");
        assert_eq!(err.causes[0].message, r#"conflict with "alice""#);
        let two = apply(&first, &deployment(3, "v2"), &request("bob", false)).expect_err("two conflicts");
        assert_eq!(
            two.message,
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );
        let forced = apply(&first, &deployment(3, "v1"), &request("bob", true)).expect("forced");
        assert_eq!(forced["spec"]["replicas"], 3);
        let alice = entries(&forced).into_iter().find(|e| e.manager == "alice").expect("alice");
        assert!(!alice.fields.iter().any(|p| fieldset::display(p) == ".spec.replicas"));
    }

    #[test]
    fn fields_dropped_from_an_apply_go_unless_someone_else_owns_them() {
        let mut config = deployment(2, "v1");
        config["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        let first = apply(&json!({}), &config, &request("alice", false)).expect("created");
        let mut bob = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"b": "2"}}});
        bob["spec"] = json!({});
        let shared = apply(&first, &bob, &request("bob", false)).expect("shared");
        let mut fewer = deployment(2, "v1");
        fewer["metadata"]["labels"] = json!({});
        fewer["spec"].as_object_mut().expect("spec").remove("replicas");
        let after = apply(&shared, &fewer, &request("alice", false)).expect("applied");
        assert_eq!(after["metadata"]["labels"], json!({"b": "2"}));
        assert!(after["spec"].get("replicas").is_none());
    }

    #[test]
    fn a_list_item_dropped_from_an_apply_goes() {
        let two = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}}}});
        let first = apply(&json!({}), &two, &request("alice", false)).expect("created");
        let mut one = two.clone();
        one["spec"]["template"]["spec"]["containers"] = json!([{"name": "a", "image": "a2"}]);
        let after = apply(&first, &one, &request("alice", false)).expect("applied");
        assert_eq!(after["spec"]["template"]["spec"]["containers"], json!([{"name": "a", "image": "a2"}]));
    }

    #[test]
    fn an_update_takes_the_fields_it_changes() {
        let first = apply(&json!({}), &deployment(2, "v1"), &request("kubectl", false)).expect("created");
        let mut scaled = first.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&first), &mut scaled, "kubectl-scale", "apps/v1", "", true);
        let all = entries(&scaled);
        let scaler = all.iter().find(|e| e.manager == "kubectl-scale").expect("scaler");
        assert_eq!(scaler.fields.iter().map(fieldset::display).collect::<Vec<_>>(), vec![".spec.replicas"]);
        let err = apply(&scaled, &deployment(2, "v1"), &request("kubectl", false)).expect_err("conflict");
        assert_eq!(
            err.message,
            r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#
        );
    }
}
