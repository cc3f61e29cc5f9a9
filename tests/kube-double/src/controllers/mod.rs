//! The controllers, event-driven: one loop that runs every controller's pass whenever the
//! store changes (and on a short tick, for deadlines and probes' effects), each pass writing only
//! what differs, so the loop settles when the cluster has converged.
//!
//! - `deployment`: Deployment → ReplicaSets (revisions, rolling update, recreate, conditions).
//! - `replicaset`: ReplicaSet → Pods.
//! - `statefulset`, `daemonset`: their pods and rollout status.
//! - `kubelet`: each Pod through the runtime (or simulated), probes, deletion.
//! - `network`: Service and HTTPRoute proxies, Endpoints.
//! - `gc`: ownerReferences (background and foreground deletion) and namespace termination.

mod container;
pub mod daemonset;
pub mod deployment;
pub mod gc;
pub mod kubelet;
pub mod network;
pub mod replicaset;
pub mod statefulset;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::selectors::LabelSelector;
use crate::status::ApiError;
use crate::write::{self, WriteContext};

/// The controller manager's field manager, as the real one records it.
pub const MANAGER: &str = "kube-controller-manager";

/// Runs every controller until the task is aborted.
pub async fn run(cluster: Arc<Cluster>) {
    let mut changes = cluster.store.changes();
    loop {
        changes.mark_unchanged();
        gc::reconcile(&cluster);
        deployment::reconcile(&cluster);
        replicaset::reconcile(&cluster);
        statefulset::reconcile(&cluster);
        daemonset::reconcile(&cluster);
        kubelet::reconcile(&cluster);
        network::reconcile(&cluster).await;
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

pub fn namespace_of(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or("")
}

pub fn uid_of(object: &Value) -> &str {
    object["metadata"]["uid"].as_str().unwrap_or("")
}

pub fn deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

/// The owner reference a controller puts on what it creates.
pub fn owner_ref(rt: &ResourceType, owner: &Value) -> Value {
    json!({
        "apiVersion": rt.group_version(),
        "kind": rt.kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `owner_uid` is the controller of `object`.
pub fn controlled_by(object: &Value, owner_uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid && r["controller"] == true))
}

/// The objects of `rt` in `namespace` that `owner` controls.
pub fn owned(cluster: &Cluster, rt: &ResourceType, owner: &Value) -> Vec<Value> {
    let (items, _) = cluster.store.list(rt, Some(namespace_of(owner)));
    items.into_iter().filter(|i| controlled_by(i, uid_of(owner))).collect()
}

/// The workload's selector (an unparsable one selects nothing).
pub fn selector_of(workload: &Value) -> Option<LabelSelector> {
    LabelSelector::from_object(&workload["spec"]["selector"]).ok()
}

/// Writes `status` if it differs from the object's.
pub fn set_status(cluster: &Cluster, rt: &ResourceType, object: &Value, status: Value, manager: &str) {
    if object["status"] == status {
        return;
    }
    let mut new = object.clone();
    new["status"] = status;
    report(write::commit(&cluster.store, rt, new, &WriteContext::status(manager)));
}

/// Writes a controller's change to an object (not its status).
/// Updates an object as a controller. Like a real controller's, the update carries the
/// resourceVersion it read: if the object changed since (a user scaled it, say), it is refused
/// and the controller works from the new object on its next pass, instead of writing back what
/// it read over the user's change.
pub fn update(cluster: &Cluster, rt: &ResourceType, new: Value, manager: &str) -> Option<Value> {
    let precondition =
        new["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty()).map(str::to_string);
    let ctx = WriteContext { precondition, ..WriteContext::controller(manager) };
    report(write::commit(&cluster.store, rt, new, &ctx))
}

/// Creates an object as a controller.
pub fn create(cluster: &Cluster, rt: &ResourceType, new: Value, manager: &str) -> Option<Value> {
    let ctx = WriteContext { create: true, ..WriteContext::controller(manager) };
    report(write::commit(&cluster.store, rt, new, &ctx))
}

/// A controller's failed write is retried on its next pass, as a real controller requeues.
fn report(result: Result<Value, ApiError>) -> Option<Value> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!(reason = e.reason, "controller write: {}", e.message);
            None
        }
    }
}

pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind)
}

/// Whether the pod's Ready condition is True.
pub fn pod_ready(pod: &Value) -> bool {
    condition(pod, "Ready").is_some_and(|c| c["status"] == "True")
}

/// Whether the pod has been ready for `min_ready` seconds.
pub fn pod_available(pod: &Value, min_ready: i64) -> bool {
    if !pod_ready(pod) {
        return false;
    }
    if min_ready <= 0 {
        return true;
    }
    let since = condition(pod, "Ready")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    since.is_some_and(|t| chrono::Utc::now().signed_duration_since(t).num_seconds() >= min_ready)
}

/// A pod counts for its controller until it is marked for deletion or has finished.
pub fn pod_active(pod: &Value) -> bool {
    !deleting(pod) && !matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// A hash of a pod template (FNV-1a over its JSON, with the collision count), spelt with the
/// alphabet Kubernetes spells names with.
pub fn template_hash(template: &Value, collisions: i64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let text = format!("{template}{collisions}");
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

/// A condition, keeping `lastTransitionTime` when the status did not change.
pub fn make_condition(
    previous: Option<&Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    with_update_time: bool,
) -> Value {
    let now = write::now();
    let same_status = previous.is_some_and(|p| p["status"] == status);
    let transition = if same_status {
        previous.map(|p| p["lastTransitionTime"].clone()).unwrap_or(json!(now))
    } else {
        json!(now)
    };
    let mut c = json!({"type": kind, "status": status, "lastTransitionTime": transition, "reason": reason, "message": message});
    if with_update_time {
        let unchanged = previous
            .is_some_and(|p| p["status"] == status && p["reason"] == reason && p["message"] == message);
        c["lastUpdateTime"] = if unchanged {
            previous.map(|p| p["lastUpdateTime"].clone()).unwrap_or(json!(now))
        } else {
            json!(now)
        };
    }
    c
}

/// A pod of `template` for a controller: labels, annotations and spec of the template.
pub fn pod_from_template(
    template: &Value,
    namespace: &str,
    owner: Value,
    name: Option<String>,
    generate: &str,
) -> Value {
    let mut metadata = json!({
        "namespace": namespace,
        "labels": template["metadata"]["labels"].clone(),
        "ownerReferences": [owner],
    });
    if let Some(annotations) = template["metadata"].get("annotations") {
        metadata["annotations"] = annotations.clone();
    }
    match name {
        Some(name) => metadata["name"] = json!(name),
        None => metadata["generateName"] = json!(generate),
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"].clone()})
}
