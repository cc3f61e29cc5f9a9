//! The ReplicaSet controller: as many active pods as `spec.replicas` (created from the template
//! with an owner reference and the template's labels, `pod-template-hash` among them; surplus
//! pods deleted not-ready and newest first), and the status counts.

use serde_json::{Value, json};

use super::{
    MANAGER, deleting, name_of, namespace_of, owned, owner_ref, pod_active, pod_available, pod_from_template,
    pod_ready, selector_of, set_status,
};
use crate::cluster::{Cluster, rt};
use crate::rest_delete;

pub fn reconcile(cluster: &Cluster) {
    let replica_sets = rt("apps", "replicasets");
    let (items, _) = cluster.store.list(replica_sets, None);
    for rs in &items {
        sync(cluster, rs);
    }
}

fn sync(cluster: &Cluster, rs: &Value) {
    let pods_rt = rt("", "pods");
    let pods = owned(cluster, pods_rt, rs);
    let mut active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let desired = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    if !deleting(rs) {
        let have = active.len() as i64;
        if have < desired {
            let owner = owner_ref(rt("apps", "replicasets"), rs);
            for _ in have..desired {
                let pod = pod_from_template(
                    &rs["spec"]["template"],
                    namespace_of(rs),
                    owner.clone(),
                    None,
                    &format!("{}-", name_of(rs)),
                );
                super::create(cluster, pods_rt, pod, MANAGER);
            }
        } else if have > desired {
            // Not-ready before ready, then the newest first.
            active.sort_by(|a, b| {
                pod_ready(a)
                    .cmp(&pod_ready(b))
                    .then_with(|| {
                        b["metadata"]["creationTimestamp"]
                            .as_str()
                            .cmp(&a["metadata"]["creationTimestamp"].as_str())
                    })
                    .then_with(|| name_of(b).cmp(name_of(a)))
            });
            for pod in active.iter().take((have - desired) as usize) {
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
    }
    let pods = owned(cluster, pods_rt, rs);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let min_ready = rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let labelled = selector_of(rs).map(|s| active.iter().filter(|p| s.matches(p)).count()).unwrap_or(0);
    let mut status = json!({
        "replicas": active.len(),
        "fullyLabeledReplicas": labelled,
        "readyReplicas": active.iter().filter(|p| pod_ready(p)).count(),
        "availableReplicas": active.iter().filter(|p| pod_available(p, min_ready)).count(),
        "observedGeneration": rs["metadata"]["generation"].as_i64().unwrap_or(1),
    });
    for field in ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"] {
        if status[field] == 0 {
            status.as_object_mut().map(|m| m.remove(field));
        }
    }
    set_status(cluster, rt("apps", "replicasets"), rs, status, MANAGER);
}
