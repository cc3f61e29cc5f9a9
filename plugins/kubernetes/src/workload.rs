//! Whether a workload's rollout is done, read from its status the way `kubectl rollout status`
//! reads it, and waiting for that over a watch (no polling: the answer comes with the status
//! change that completes it).

use std::time::Instant;

use serde_json::Value;
use sluice_plugin::{TaskError, info};

use crate::api::{Api, CallError, Watching, encode, failure};
use crate::resources::Resource;

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not done: what is waited for (`2 of 3 updated replicas are available`).
    Waiting(String),
    Complete,
    /// It will not finish by itself (its progress deadline passed).
    Failed(String),
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

/// The rollout progress of a Deployment, StatefulSet or DaemonSet object.
pub fn progress(object: &Value) -> Progress {
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let status = &object["status"];
    let generation = int(&object["metadata"]["generation"]);
    if int(&status["observedGeneration"]) < generation {
        return Progress::Waiting(format!("waiting for the {kind} {name}'s spec update to be observed"));
    }
    match kind {
        "Deployment" => deployment(name, object),
        "StatefulSet" => statefulset(object),
        "DaemonSet" => daemonset(status),
        _ => Progress::Complete,
    }
}

fn deployment(name: &str, object: &Value) -> Progress {
    let status = &object["status"];
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let progressing = conditions.iter().find(|c| c["type"] == "Progressing");
    if let Some(condition) = progressing.filter(|c| c["reason"] == "ProgressDeadlineExceeded") {
        let message = condition["message"].as_str().unwrap_or_default();
        return Progress::Failed(format!(
            "deployment {name} exceeded its progress deadline{}",
            if message.is_empty() { String::new() } else { format!(": {message}") }
        ));
    }
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let updated = int(&status["updatedReplicas"]);
    let replicas = int(&status["replicas"]);
    let available = int(&status["availableReplicas"]);
    if updated < wanted {
        return Progress::Waiting(format!("{updated} of {wanted} new replicas have been updated"));
    }
    if replicas > updated {
        return Progress::Waiting(format!("{} old replicas are pending termination", replicas - updated));
    }
    if available < updated {
        return Progress::Waiting(format!("{available} of {updated} updated replicas are available"));
    }
    Progress::Complete
}

fn statefulset(object: &Value) -> Progress {
    let status = &object["status"];
    let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = int(&status["readyReplicas"]);
    if ready < wanted {
        return Progress::Waiting(format!("{ready} of {wanted} pods are ready"));
    }
    let strategy = &object["spec"]["updateStrategy"];
    if strategy["type"] == "OnDelete" {
        return Progress::Complete;
    }
    if let Some(partition) = strategy["rollingUpdate"]["partition"].as_i64().filter(|p| *p > 0) {
        let updated = int(&status["updatedReplicas"]);
        if updated < wanted - partition {
            return Progress::Waiting(format!(
                "{updated} of {} pods at the new revision (partition {partition})",
                wanted - partition
            ));
        }
        return Progress::Complete;
    }
    let current = status["currentRevision"].as_str().unwrap_or_default();
    let update = status["updateRevision"].as_str().unwrap_or_default();
    if current != update {
        let updated = int(&status["updatedReplicas"]);
        return Progress::Waiting(format!("{updated} of {wanted} pods at revision {update}"));
    }
    Progress::Complete
}

fn daemonset(status: &Value) -> Progress {
    let desired = int(&status["desiredNumberScheduled"]);
    let updated = int(&status["updatedNumberScheduled"]);
    let available = int(&status["numberAvailable"]);
    if updated < desired {
        return Progress::Waiting(format!("{updated} of {desired} updated pods have been scheduled"));
    }
    if available < desired {
        return Progress::Waiting(format!("{available} of {desired} updated pods are available"));
    }
    Progress::Complete
}

/// Waits until the rollout of `name` completes (`Ok(object)`), fails, or `deadline` passes.
/// Each new state is logged once.
pub fn wait_for_rollout(
    api: &Api,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    deadline: Instant,
) -> Result<Value, TaskError> {
    let what = format!("rollout of {} {}", resource.kind, name);
    let mut last_said = String::new();
    loop {
        let object = api
            .get(&resource.item(namespace, name))
            .map_err(|err| failure(&what, api, err))?
            .ok_or_else(|| TaskError::failed(format!("{what}: the {} does not exist", resource.kind)))?;
        let mut outcome = Ok(None);
        let mut judge = |object: &Value| match progress(object) {
            Progress::Complete => {
                outcome = Ok(Some(object.clone()));
                Watching::Done
            }
            Progress::Failed(reason) => {
                outcome = Err(TaskError::failed(format!("{what} failed: {reason}")));
                Watching::Done
            }
            Progress::Waiting(message) => {
                if message != last_said {
                    info!("{} {name}: {message}", resource.kind);
                    last_said = message;
                }
                Watching::Continue
            }
        };
        if let Watching::Done = judge(&object) {
            return outcome.map(|o| o.unwrap_or(object));
        }
        let version = object["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        let query = format!("fieldSelector={}", encode(&format!("metadata.name={name}")));
        let watched = api.watch(&resource.collection(namespace), &query, version, deadline, |event| {
            if event.kind == "DELETED" {
                return Err(TaskError::failed(format!("{what}: the {} was deleted", resource.kind)));
            }
            Ok(judge(&event.object))
        });
        match watched {
            Ok(true) => return outcome.map(|o| o.unwrap_or(object)),
            Ok(false) => {
                return Err(TaskError::failed(format!(
                    "{what}: not complete before the timeout ({})",
                    if last_said.is_empty() { "no progress seen".to_string() } else { last_said }
                )));
            }
            // The version was too old to watch from: read the object again.
            Err(CallError::Status(status)) if status.code == 410 => continue,
            Err(err) => return Err(failure(&what, api, err)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(status: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn deployment_steps() {
        let waiting = |m: &str| Progress::Waiting(m.to_string());
        assert_eq!(
            progress(&deploy(json!({"observedGeneration": 1}))),
            waiting("waiting for the Deployment web's spec update to be observed")
        );
        assert_eq!(
            progress(&deploy(json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 4}))),
            waiting("1 of 3 new replicas have been updated")
        );
        assert_eq!(
            progress(&deploy(json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4}))),
            waiting("1 old replicas are pending termination")
        );
        assert_eq!(
            progress(&deploy(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2})
            )),
            waiting("2 of 3 updated replicas are available")
        );
        assert_eq!(
            progress(&deploy(
                json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3})
            )),
            Progress::Complete
        );
        let stuck = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-5d8\" has timed out progressing."}]});
        assert_eq!(
            progress(&deploy(stuck)),
            Progress::Failed(
                "deployment web exceeded its progress deadline: ReplicaSet \"web-5d8\" has timed out progressing.".into()
            )
        );
    }

    #[test]
    fn statefulset_and_daemonset() {
        let sts = json!({"kind": "StatefulSet", "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}});
        assert_eq!(progress(&sts), Progress::Waiting("1 of 2 pods at revision db-2".into()));
        let ds = json!({"kind": "DaemonSet", "metadata": {"name": "agent", "generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}});
        assert_eq!(progress(&ds), Progress::Complete);
    }
}
