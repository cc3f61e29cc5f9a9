//! The garbage collector and the namespace controller: dependents whose owners are all gone
//! are deleted (background); dependents of an owner in foreground deletion are deleted in the
//! foreground too, and the owner loses its `foregroundDeletion` finalizer (and goes) once none is
//! left; a terminating namespace is emptied, then removed.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{deleting, name_of, namespace_of, uid_of};
use crate::cluster::{Cluster, rt};
use crate::resources::{RESOURCES, ResourceType};
use crate::rest_delete::delete_object;
use crate::store::Outcome;

const FOREGROUND: &str = "foregroundDeletion";

fn owner_uids(object: &Value) -> Vec<&str> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
        .collect()
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    object["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|v| v == finalizer))
}

pub fn reconcile(cluster: &Cluster) {
    let mut everything: Vec<(&'static ResourceType, Value)> = Vec::new();
    for rt in RESOURCES.iter().filter(|r| r.namespaced) {
        let (items, _) = cluster.store.list(rt, None);
        everything.extend(items.into_iter().map(|i| (rt, i)));
    }
    let by_uid: HashMap<&str, &Value> = everything.iter().map(|(_, o)| (uid_of(o), o)).collect();
    let mut referenced: HashSet<&str> = HashSet::new();
    for (rt, object) in &everything {
        let owners = owner_uids(object);
        if owners.is_empty() {
            continue;
        }
        referenced.extend(owners.iter().copied());
        let live: Vec<&&Value> = owners.iter().filter_map(|u| by_uid.get(u)).collect();
        if deleting(object) {
            continue;
        }
        if live.is_empty() {
            let _ = delete_object(cluster, rt, namespace_of(object), name_of(object), "Background", None);
        } else if live.iter().all(|o| deleting(o) && has_finalizer(o, FOREGROUND)) {
            let _ = delete_object(cluster, rt, namespace_of(object), name_of(object), "Foreground", None);
        }
    }
    for (rt, object) in &everything {
        if deleting(object) && has_finalizer(object, FOREGROUND) && !referenced.contains(uid_of(object)) {
            let _ = cluster.store.transact(rt, namespace_of(object), name_of(object), |live| {
                let Some(live) = live else { return Ok::<_, ()>(Outcome::Keep(Value::Null)) };
                let mut next = live.clone();
                if let Some(f) = next["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|v| v != FOREGROUND);
                }
                if next["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty) {
                    Ok(Outcome::Remove)
                } else {
                    Ok(Outcome::Put(next))
                }
            });
        }
    }
    namespaces(cluster, &everything);
}

fn namespaces(cluster: &Cluster, everything: &[(&'static ResourceType, Value)]) {
    let namespaces = rt("", "namespaces");
    let (items, _) = cluster.store.list(namespaces, None);
    for ns in items.iter().filter(|n| deleting(n)) {
        let name = name_of(ns);
        let content: Vec<&(&'static ResourceType, Value)> =
            everything.iter().filter(|(_, o)| namespace_of(o) == name).collect();
        if content.is_empty() {
            cluster.store.remove(namespaces, "", name);
            continue;
        }
        for (rt, object) in content.iter().filter(|(_, o)| !deleting(o)) {
            let _ = delete_object(cluster, rt, name, name_of(object), "Background", None);
        }
    }
}
