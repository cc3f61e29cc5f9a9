//! The DaemonSet controller on the double's one node, `kube-double`: one pod, replaced when
//! the template changes (RollingUpdate) or when deleted (OnDelete), and the status kubectl's
//! rollout status reads (desiredNumberScheduled, updatedNumberScheduled, numberAvailable...).

use serde_json::{Value, json};

use super::{
    MANAGER, deleting, name_of, namespace_of, owned, owner_ref, pod_active, pod_available, pod_from_template,
    pod_ready, set_status, template_hash,
};
use crate::cluster::{Cluster, rt};
use crate::rest_delete;

/// The double's one node.
pub const NODE: &str = "kube-double";

const REVISION_LABEL: &str = "controller-revision-hash";

pub fn reconcile(cluster: &Cluster) {
    let (items, _) = cluster.store.list(rt("apps", "daemonsets"), None);
    for ds in items.iter().filter(|d| !deleting(d)) {
        sync(cluster, ds);
    }
}

fn sync(cluster: &Cluster, ds: &Value) {
    let pods_rt = rt("", "pods");
    let hash = template_hash(&ds["spec"]["template"], 0);
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
    let pods = owned(cluster, pods_rt, ds);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let on_delete = ds["spec"]["updateStrategy"]["type"] == "OnDelete";
    if active.is_empty() && pods.iter().all(|p| !deleting(p) || pod_active(p)) {
        let mut template = ds["spec"]["template"].clone();
        template["metadata"]["labels"][REVISION_LABEL] = json!(hash);
        template["metadata"]["labels"]["pod-template-generation"] = json!(generation.to_string());
        let owner = owner_ref(rt("apps", "daemonsets"), ds);
        let mut pod =
            pod_from_template(&template, namespace_of(ds), owner, None, &format!("{}-", name_of(ds)));
        pod["spec"]["nodeName"] = json!(NODE);
        super::create(cluster, pods_rt, pod, MANAGER);
    } else if !on_delete {
        for pod in active.iter().filter(|p| p["metadata"]["labels"][REVISION_LABEL] != hash.as_str()) {
            let _ = rest_delete::delete_object(
                cluster,
                pods_rt,
                namespace_of(pod),
                name_of(pod),
                "Background",
                None,
            );
        }
    }
    let pods = owned(cluster, pods_rt, ds);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let available = active.iter().filter(|p| pod_available(p, min_ready)).count() as i64;
    let mut status = json!({
        "currentNumberScheduled": active.len(),
        "desiredNumberScheduled": 1,
        "numberMisscheduled": 0,
        "numberReady": active.iter().filter(|p| pod_ready(p)).count(),
        "numberAvailable": available,
        "numberUnavailable": 1 - available.min(1),
        "updatedNumberScheduled": active.iter().filter(|p| p["metadata"]["labels"][REVISION_LABEL] == hash.as_str()).count(),
        "observedGeneration": generation,
    });
    for field in ["numberAvailable", "numberUnavailable", "updatedNumberScheduled"] {
        if status[field] == 0 {
            status.as_object_mut().map(|m| m.remove(field));
        }
    }
    set_status(cluster, rt("apps", "daemonsets"), ds, status, MANAGER);
}
