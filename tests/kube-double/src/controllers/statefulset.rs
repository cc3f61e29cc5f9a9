//! The StatefulSet controller, simple but honest: pods `<name>-0..<n-1>` created in order (the
//! next once the previous is ready), removed from the highest ordinal, a rolling update that
//! replaces the highest out-of-date pod once all are ready (down to `partition`), and the status
//! kubectl's rollout status reads (readyReplicas, currentRevision, updateRevision...).

use serde_json::{Value, json};

use super::{
    MANAGER, deleting, name_of, namespace_of, owned, owner_ref, pod_active, pod_available, pod_from_template,
    pod_ready, set_status, template_hash,
};
use crate::cluster::{Cluster, rt};
use crate::rest_delete;

const REVISION_LABEL: &str = "controller-revision-hash";

pub fn reconcile(cluster: &Cluster) {
    let (items, _) = cluster.store.list(rt("apps", "statefulsets"), None);
    for sts in items.iter().filter(|s| !deleting(s)) {
        sync(cluster, sts);
    }
}

fn ordinal(name: &str, set: &str) -> Option<i64> {
    name.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

fn revision_of(pod: &Value) -> &str {
    pod["metadata"]["labels"][REVISION_LABEL].as_str().unwrap_or("")
}

fn sync(cluster: &Cluster, sts: &Value) {
    let pods_rt = rt("", "pods");
    let name = name_of(sts);
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1);
    let update_revision = format!("{name}-{}", template_hash(&sts["spec"]["template"], 0));
    let pods = owned(cluster, pods_rt, sts);
    let by_ordinal = |i: i64| pods.iter().find(|p| ordinal(name_of(p), name) == Some(i));
    let mut busy = false;
    for i in 0..replicas {
        match by_ordinal(i) {
            None => {
                let mut template = sts["spec"]["template"].clone();
                template["metadata"]["labels"][REVISION_LABEL] = json!(update_revision);
                template["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] =
                    json!(format!("{name}-{i}"));
                template["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = json!(i.to_string());
                let owner = owner_ref(rt("apps", "statefulsets"), sts);
                let mut pod =
                    pod_from_template(&template, namespace_of(sts), owner, Some(format!("{name}-{i}")), "");
                pod["spec"]["hostname"] = json!(format!("{name}-{i}"));
                super::create(cluster, pods_rt, pod, MANAGER);
                busy = true;
                break;
            }
            Some(p) if !pod_ready(p) || deleting(p) => {
                busy = true;
                break;
            }
            Some(_) => {}
        }
    }
    if !busy {
        // Scale down from the highest ordinal, one at a time.
        let mut surplus: Vec<&Value> = pods
            .iter()
            .filter(|p| ordinal(name_of(p), name).is_some_and(|o| o >= replicas) && pod_active(p))
            .collect();
        surplus.sort_by_key(|p| std::cmp::Reverse(ordinal(name_of(p), name)));
        if let Some(pod) = surplus.first() {
            let _ = rest_delete::delete_object(
                cluster,
                pods_rt,
                namespace_of(pod),
                name_of(pod),
                "Background",
                None,
            );
            busy = true;
        }
    }
    let partition = sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"].as_i64().unwrap_or(0);
    if !busy && sts["spec"]["updateStrategy"]["type"] != "OnDelete" {
        let stale =
            (partition..replicas).rev().filter_map(by_ordinal).find(|p| revision_of(p) != update_revision);
        if let Some(pod) = stale {
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
    let pods = owned(cluster, pods_rt, sts);
    let active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
    let updated = active.iter().filter(|p| revision_of(p) == update_revision).count() as i64;
    let previous_current = sts["status"]["currentRevision"].as_str().unwrap_or("").to_string();
    let current_revision = if updated == replicas || previous_current.is_empty() {
        update_revision.clone()
    } else {
        previous_current
    };
    let current = active.iter().filter(|p| revision_of(p) == current_revision).count();
    let min_ready = sts["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let mut status = json!({
        "observedGeneration": sts["metadata"]["generation"].as_i64().unwrap_or(1),
        "replicas": active.len(),
        "readyReplicas": active.iter().filter(|p| pod_ready(p)).count(),
        "availableReplicas": active.iter().filter(|p| pod_available(p, min_ready)).count(),
        "currentReplicas": current,
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": update_revision,
        "collisionCount": 0,
    });
    for field in ["readyReplicas", "currentReplicas", "updatedReplicas"] {
        if status[field] == 0 {
            status.as_object_mut().map(|m| m.remove(field));
        }
    }
    set_status(cluster, rt("apps", "statefulsets"), sts, status, MANAGER);
}
