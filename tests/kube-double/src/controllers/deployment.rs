//! The deployment controller: a ReplicaSet `<name>-<pod-template-hash>` per template, with the
//! `deployment.kubernetes.io/revision` annotation (a template seen before takes its ReplicaSet
//! back with the next revision, as `kubectl rollout undo` expects), RollingUpdate within
//! maxSurge/maxUnavailable (percentages: surge rounded up, unavailable down, never both zero),
//! Recreate, `paused`, `revisionHistoryLimit`, and the status and conditions kubectl reads
//! (Available, Progressing with NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
//! NewReplicaSetAvailable, ProgressDeadlineExceeded).

use serde_json::{Value, json};

use super::{
    MANAGER, controlled_by, deleting, make_condition, name_of, namespace_of, owned, owner_ref, set_status,
    template_hash,
};
use crate::cluster::{Cluster, rt};
use crate::write;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH: &str = "pod-template-hash";

pub fn reconcile(cluster: &Cluster) {
    let deployments = rt("apps", "deployments");
    let (items, _) = cluster.store.list(deployments, None);
    for d in items.iter().filter(|d| !deleting(d)) {
        sync(cluster, d);
    }
}

fn int(v: &Value, default: i64) -> i64 {
    v.as_i64().unwrap_or(default)
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// An int-or-percent of `total`, rounded up or down.
pub fn scaled_value(value: &Value, total: i64, round_up: bool) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                let product = percent * total;
                if round_up { (product + 99) / 100 } else { product / 100 }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// (maxSurge, maxUnavailable) of a RollingUpdate deployment.
pub fn surge_and_unavailable(d: &Value) -> (i64, i64) {
    let desired = int(&d["spec"]["replicas"], 1);
    let rolling = &d["spec"]["strategy"]["rollingUpdate"];
    let surge = scaled_value(&rolling["maxSurge"], desired, true);
    let unavailable = scaled_value(&rolling["maxUnavailable"], desired, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH);
    }
    t
}

fn spec_replicas(rs: &Value) -> i64 {
    int(&rs["spec"]["replicas"], 0)
}

fn status_count(rs: &Value, field: &str) -> i64 {
    int(&rs["status"][field], 0)
}

fn scale(cluster: &Cluster, d: &Value, rs: &mut Value, replicas: i64, max_surge: i64) {
    let desired = int(&d["spec"]["replicas"], 1);
    let mut new = rs.clone();
    new["spec"]["replicas"] = json!(replicas);
    new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = json!(desired.to_string());
    new["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
        json!((desired + max_surge).to_string());
    if new != *rs
        && let Some(written) = super::update(cluster, rt("apps", "replicasets"), new, MANAGER)
    {
        *rs = written;
    }
}

fn create_replica_set(cluster: &Cluster, d: &Value, revision: i64, max_surge: i64) -> Option<Value> {
    let template = &d["spec"]["template"];
    let collisions = int(&d["status"]["collisionCount"], 0);
    let hash = template_hash(template, collisions);
    let mut template = template.clone();
    template["metadata"]["labels"][HASH] = json!(hash);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"][HASH] = json!(hash);
    let desired = int(&d["spec"]["replicas"], 1);
    let mut labels = template["metadata"]["labels"].clone();
    labels[HASH] = json!(hash);
    let rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{hash}", name_of(d)),
            "namespace": namespace_of(d),
            "labels": labels,
            "annotations": {
                REVISION: revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (desired + max_surge).to_string(),
            },
            "ownerReferences": [owner_ref(rt("apps", "deployments"), d)],
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": int(&d["spec"]["minReadySeconds"], 0),
            "selector": selector,
            "template": template,
        }
    });
    super::create(cluster, rt("apps", "replicasets"), rs, MANAGER)
}

fn sync(cluster: &Cluster, d: &Value) {
    let replica_sets = rt("apps", "replicasets");
    let mut all = owned(cluster, replica_sets, d);
    all.retain(|rs| controlled_by(rs, super::uid_of(d)) && !deleting(rs));
    let template = without_hash(&d["spec"]["template"]);
    let desired = int(&d["spec"]["replicas"], 1);
    let paused = d["spec"]["paused"] == true;
    let recreate = d["spec"]["strategy"]["type"] == "Recreate";
    let (max_surge, max_unavailable) = if recreate { (0, 0) } else { surge_and_unavailable(d) };
    let new_index = all.iter().position(|rs| without_hash(&rs["spec"]["template"]) == template);
    let mut new_rs = new_index.map(|i| all.remove(i));
    let mut old = all;
    old.sort_by_key(revision);
    let max_old_revision = old.iter().map(revision).max().unwrap_or(0);
    let mut created = false;

    if let Some(rs) = &mut new_rs
        && revision(rs) <= max_old_revision
    {
        // A template seen before (a rollback): its ReplicaSet becomes the newest revision.
        let mut next = rs.clone();
        let previous = revision(rs);
        next["metadata"]["annotations"][REVISION] = json!((max_old_revision + 1).to_string());
        let history = next["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"]
            .as_str()
            .map(str::to_string);
        let history = match history {
            Some(h) if !h.is_empty() => format!("{h},{previous}"),
            _ => previous.to_string(),
        };
        next["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = json!(history);
        if let Some(written) = super::update(cluster, replica_sets, next, MANAGER) {
            *rs = written;
        }
    }
    // Recreate waits until the old pods are gone, terminating ones too.
    let old_pods_left = old.iter().any(|rs| spec_replicas(rs) > 0)
        || (recreate && old.iter().any(|rs| !owned(cluster, rt("", "pods"), rs).is_empty()));
    if new_rs.is_none() && !paused && !(recreate && old_pods_left) {
        new_rs = create_replica_set(cluster, d, max_old_revision + 1, max_surge);
        created = new_rs.is_some();
    }

    if !paused {
        if recreate {
            for rs in old.iter_mut() {
                scale(cluster, d, rs, 0, 0);
            }
            if !old_pods_left && let Some(rs) = new_rs.as_mut() {
                scale(cluster, d, rs, desired, 0);
            }
        } else if let Some(rs) = new_rs.as_mut() {
            rolling_update(cluster, d, rs, &mut old, desired, max_surge, max_unavailable);
        }
        cleanup(cluster, d, &old);
    }

    if let Some(rs) = &new_rs {
        let rev = revision(rs).to_string();
        if d["metadata"]["annotations"][REVISION].as_str() != Some(rev.as_str()) {
            let mut next = d.clone();
            next["metadata"]["annotations"][REVISION] = json!(rev);
            super::update(cluster, rt("apps", "deployments"), next, MANAGER);
        }
    }
    let Some(d) = cluster.store.get(rt("apps", "deployments"), namespace_of(d), name_of(d)) else { return };
    let status = status_of(&d, new_rs.as_ref(), &old, created, max_unavailable);
    set_status(cluster, rt("apps", "deployments"), &d, status, MANAGER);
}

fn rolling_update(
    cluster: &Cluster,
    d: &Value,
    new_rs: &mut Value,
    old: &mut [Value],
    desired: i64,
    max_surge: i64,
    max_unavailable: i64,
) {
    let all_spec =
        |new_rs: &Value, old: &[Value]| spec_replicas(new_rs) + old.iter().map(spec_replicas).sum::<i64>();
    // Scale the new ReplicaSet up within the surge (or down to the desired count).
    let current = spec_replicas(new_rs);
    if current > desired {
        scale(cluster, d, new_rs, desired, max_surge);
    } else if current < desired {
        let total = all_spec(new_rs, old);
        let room = desired + max_surge - total;
        if room > 0 {
            scale(cluster, d, new_rs, current + room.min(desired - current), max_surge);
        } else {
            scale(cluster, d, new_rs, current, max_surge);
        }
    } else {
        scale(cluster, d, new_rs, current, max_surge);
    }
    if old.iter().all(|rs| spec_replicas(rs) == 0) {
        return;
    }
    // Scale the old ones down as far as availability allows: first their unavailable pods,
    // then available ones, oldest first.
    let min_available = desired - max_unavailable;
    let new_unavailable = spec_replicas(new_rs) - status_count(new_rs, "availableReplicas");
    let mut max_down = all_spec(new_rs, old) - min_available - new_unavailable;
    if max_down <= 0 {
        return;
    }
    for rs in old.iter_mut() {
        let unhealthy = spec_replicas(rs) - status_count(rs, "availableReplicas");
        if unhealthy > 0 && max_down > 0 {
            let down = unhealthy.min(max_down);
            let target = spec_replicas(rs) - down;
            scale(cluster, d, rs, target, max_surge);
            max_down -= down;
        }
    }
    let available: i64 = status_count(new_rs, "availableReplicas")
        + old.iter().map(|rs| status_count(rs, "availableReplicas").min(spec_replicas(rs))).sum::<i64>();
    let mut total_down = available - min_available;
    for rs in old.iter_mut() {
        if total_down <= 0 {
            break;
        }
        let down = spec_replicas(rs).min(total_down);
        if down > 0 {
            let target = spec_replicas(rs) - down;
            scale(cluster, d, rs, target, max_surge);
            total_down -= down;
        }
    }
}

/// Deletes the oldest empty ReplicaSets beyond `revisionHistoryLimit`.
fn cleanup(cluster: &Cluster, d: &Value, old: &[Value]) {
    let limit = int(&d["spec"]["revisionHistoryLimit"], 10).max(0) as usize;
    let empty: Vec<&Value> =
        old.iter().filter(|rs| spec_replicas(rs) == 0 && status_count(rs, "replicas") == 0).collect();
    if empty.len() <= limit {
        return;
    }
    for rs in &empty[..empty.len() - limit] {
        let _ = crate::rest_delete::delete_object(
            cluster,
            rt("apps", "replicasets"),
            namespace_of(rs),
            name_of(rs),
            "Background",
            None,
        );
    }
}

fn progressed(before: &Value, after: &Value) -> bool {
    let field = |s: &Value, f: &str| int(&s[f], 0);
    field(after, "updatedReplicas") > field(before, "updatedReplicas")
        || field(after, "readyReplicas") > field(before, "readyReplicas")
        || field(after, "availableReplicas") > field(before, "availableReplicas")
        || field(after, "replicas") != field(before, "replicas")
}

fn status_of(d: &Value, new_rs: Option<&Value>, old: &[Value], created: bool, max_unavailable: i64) -> Value {
    let all: Vec<&Value> = new_rs.into_iter().chain(old.iter()).collect();
    let sum = |f: &str| all.iter().map(|rs| status_count(rs, f)).sum::<i64>();
    let desired = int(&d["spec"]["replicas"], 1);
    let total_spec: i64 = all.iter().map(|rs| spec_replicas(rs)).sum();
    let available = sum("availableReplicas");
    let updated = new_rs.map(|rs| status_count(rs, "replicas")).unwrap_or(0);
    let mut status = json!({
        "observedGeneration": int(&d["metadata"]["generation"], 1),
        "replicas": sum("replicas"),
        "updatedReplicas": updated,
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": (total_spec - available).max(0),
    });
    if let Some(c) = d["status"].get("collisionCount") {
        status["collisionCount"] = c.clone();
    }
    for field in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"]
    {
        if status[field] == 0 {
            status.as_object_mut().map(|m| m.remove(field));
        }
    }
    let previous = |kind: &str| super::condition(d, kind).cloned();
    let available_condition = if available >= desired - max_unavailable {
        make_condition(
            previous("Available").as_ref(),
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            true,
        )
    } else {
        make_condition(
            previous("Available").as_ref(),
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            true,
        )
    };
    let prev = previous("Progressing");
    let rs_name = new_rs.map(name_of).unwrap_or("");
    let complete = new_rs.is_some()
        && updated == desired
        && int(&status["replicas"], 0) == desired
        && available >= desired;
    let deadline = d["spec"]["progressDeadlineSeconds"].as_i64();
    let timed_out = || {
        let last = prev
            .as_ref()
            .and_then(|p| p["lastUpdateTime"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        match (deadline, last) {
            (Some(seconds), Some(last)) => {
                chrono::Utc::now().signed_duration_since(last).num_seconds() >= seconds
            }
            _ => false,
        }
    };
    let progressing = if d["spec"]["paused"] == true {
        make_condition(
            prev.as_ref(),
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            true,
        )
    } else if complete {
        make_condition(
            prev.as_ref(),
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet {rs_name:?} has successfully progressed."),
            true,
        )
    } else if created {
        make_condition(
            prev.as_ref(),
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            &format!("Created new replica set {rs_name:?}"),
            true,
        )
    } else if prev.is_some() && progressed(&d["status"], &status) {
        let mut c = make_condition(
            prev.as_ref(),
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("ReplicaSet {rs_name:?} is progressing."),
            true,
        );
        c["lastUpdateTime"] = json!(write::now());
        c
    } else if prev.as_ref().is_some_and(|p| p["reason"] == "ProgressDeadlineExceeded") {
        prev.clone().unwrap_or_default()
    } else if prev.is_some() && timed_out() {
        make_condition(
            prev.as_ref(),
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            &format!("ReplicaSet {rs_name:?} has timed out progressing."),
            true,
        )
    } else if let Some(p) = prev.clone() {
        p
    } else {
        make_condition(
            None,
            "Progressing",
            "True",
            "FoundNewReplicaSet",
            &format!("Found new replica set {rs_name:?}"),
            true,
        )
    };
    status["conditions"] = json!([available_condition, progressing]);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        let d = json!({"spec": {"replicas": 10, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!(surge_and_unavailable(&d), (3, 2));
        let d = json!({"spec": {"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!(surge_and_unavailable(&d), (1, 0));
        let d = json!({"spec": {"replicas": 3, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}}});
        assert_eq!(surge_and_unavailable(&d), (0, 1));
    }
}
