//! `kubernetes.rollout`: wait for a rollout (`status`), go back to an earlier revision (`undo`,
//! as `kubectl rollout undo` does it: the ReplicaSet of that revision gives its pod template
//! back to the Deployment), `restart`, `pause`, `resume`.

use std::time::{Instant, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::{Capability, Task, TaskError, info};

use crate::api::{Api, failure};
use crate::cluster::Connection;
use crate::resources::{Resource, Resources, builtin_by_name};
use crate::target::Kind;
use crate::workload;

pub struct RolloutTask;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Status,
    Undo,
    Restart,
    Pause,
    Resume,
}

/// Config of `kubernetes.rollout`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RolloutConfig {
    /// `status`, `undo`, `restart`, `pause` or `resume`.
    pub action: Action,
    /// The workload's name.
    pub name: String,
    /// `Deployment` (the default), `StatefulSet` or `DaemonSet`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The namespace (default: the kubeconfig context's, else `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `undo`: the revision to go back to (default: the one before the current).
    #[serde(default)]
    pub to_revision: Option<u64>,
    /// `undo` and `restart`: wait for the rollout they start (default true).
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait for the rollout (`5m`, the default).
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(flatten)]
    pub connection: Connection,
}

fn default_kind() -> String {
    "Deployment".into()
}

fn yes() -> bool {
    true
}

/// Outputs of `kubernetes.rollout`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutOutput {
    pub action: Action,
    pub kind: String,
    pub name: String,
    /// The workload's revision after the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `undo`: the revision rolled back from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_revision: Option<String>,
    /// What was done, in words.
    pub message: String,
}

impl Task for RolloutTask {
    const NAME: &'static str = "rollout";
    const DESCRIPTION: &'static str = "Acts on a workload's rollout: `status` waits until it is \
        complete (a passed progress deadline fails it), `undo` goes back to the previous revision \
        or `toRevision`, `restart` rolls every pod, `pause` and `resume` stop and continue a \
        Deployment's rollout. Logs what is waited for.";
    type Config = RolloutConfig;
    type Output = RolloutOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: RolloutConfig) -> Result<RolloutOutput, TaskError> {
        let api = Api::connect(&config.connection)?;
        let kind = Kind { kind: config.kind.clone(), api_version: None, namespace: config.namespace.clone() };
        let (resource, namespace) = kind.resolve(&api, &Resources::default())?;
        if !matches!(resource.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet") {
            return Err(TaskError::invalid_config(format!(
                "kind: rollouts are for Deployments, StatefulSets and DaemonSets, not {}",
                resource.kind
            )));
        }
        let ns = namespace.as_deref();
        let deadline = Instant::now() + crate::duration(config.timeout.as_deref(), "timeout", 300)?;
        let label = format!("{} {}/{}", resource.kind, ns.unwrap_or_default(), config.name);
        let current = api
            .get(&resource.item(ns, &config.name))
            .map_err(|err| failure(&format!("read {label}"), &api, err))?
            .ok_or_else(|| TaskError::failed(format!("{label} does not exist")))?;
        let paused = current["spec"]["paused"].as_bool().unwrap_or(false);
        let mut from_revision = None;
        let message = match config.action {
            Action::Status => {
                let done = workload::wait_for_rollout(&api, &resource, ns, &config.name, deadline)?;
                return Ok(output(
                    &config,
                    &resource,
                    &done,
                    None,
                    format!("{label} successfully rolled out"),
                ));
            }
            Action::Pause | Action::Resume => {
                if resource.kind != "Deployment" {
                    return Err(TaskError::invalid_config(format!(
                        "{:?} is for Deployments only",
                        config.action
                    )));
                }
                let pause = config.action == Action::Pause;
                if paused == pause {
                    format!("{label} is already {}", if pause { "paused" } else { "resumed" })
                } else {
                    merge_patch(&api, &resource, ns, &config.name, &json!({"spec": {"paused": pause}}))?;
                    format!("{label} {}", if pause { "paused" } else { "resumed" })
                }
            }
            Action::Restart => {
                if paused {
                    return Err(TaskError::failed(format!(
                        "cannot restart {label}: it is paused (resume it first)"
                    )));
                }
                let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
                let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
                merge_patch(&api, &resource, ns, &config.name, &patch)?;
                format!("{label} restarted")
            }
            Action::Undo => {
                if resource.kind != "Deployment" {
                    return Err(TaskError::invalid_config(format!(
                        "undo is supported for Deployments; a {} keeps its history in ControllerRevisions",
                        resource.kind
                    )));
                }
                if paused {
                    return Err(TaskError::failed(format!(
                        "cannot undo {label}: it is paused (resume it first)"
                    )));
                }
                let (from, to) = undo(&api, &resource, ns, &current, config.to_revision)?;
                from_revision = Some(from.clone());
                match to {
                    Some(to) => format!("{label} rolled back from revision {from} to revision {to}"),
                    None => {
                        format!("{label}: skipped rollback (the current template is already that revision's)")
                    }
                }
            }
        };
        info!("{message}");
        let waits = matches!(config.action, Action::Undo | Action::Restart) && config.wait;
        let object = if waits {
            workload::wait_for_rollout(&api, &resource, ns, &config.name, deadline)?
        } else {
            api.get(&resource.item(ns, &config.name))
                .map_err(|e| failure("read back", &api, e))?
                .unwrap_or(current)
        };
        Ok(output(&config, &resource, &object, from_revision, message))
    }
}

fn output(
    config: &RolloutConfig,
    resource: &Resource,
    object: &Value,
    from: Option<String>,
    message: String,
) -> RolloutOutput {
    let revision = match resource.kind.as_str() {
        "Deployment" => object["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str(),
        "StatefulSet" => object["status"]["updateRevision"].as_str(),
        _ => None,
    };
    RolloutOutput {
        action: config.action,
        kind: resource.kind.clone(),
        name: config.name.clone(),
        revision: revision.map(str::to_string),
        from_revision: from,
        message,
    }
}

fn merge_patch(
    api: &Api,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    patch: &Value,
) -> Result<(), TaskError> {
    let request = api
        .request("PATCH", &resource.item(ns, name))
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string());
    api.call(request).map(drop).map_err(|err| failure(&format!("patch {} {name}", resource.kind), api, err))
}

/// Annotations of a ReplicaSet that describe the ReplicaSet, not the template: they stay the
/// Deployment's own through a rollback.
const KEPT_ANNOTATIONS: &[&str] = &[
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// Rolls `deployment` back to `to_revision` or the one before the current. Returns the
/// current revision and the one gone back to (`None` when the template already is it).
pub(crate) fn undo(
    api: &Api,
    resource: &Resource,
    ns: Option<&str>,
    deployment: &Value,
    to_revision: Option<u64>,
) -> Result<(String, Option<String>), TaskError> {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let owned = owned_replicasets(api, ns, deployment)?;
    let current = deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .and_then(|r| r.parse::<u64>().ok())
        .or_else(|| owned.last().map(|(rev, _)| *rev))
        .unwrap_or(0);
    let target = match to_revision {
        Some(wanted) => owned.iter().find(|(rev, _)| *rev == wanted).ok_or_else(|| {
            let known: Vec<String> = owned.iter().map(|(rev, _)| rev.to_string()).collect();
            TaskError::failed(format!(
                "Deployment {name} has no revision {wanted} (its history: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            ))
        })?,
        None => owned.iter().rev().find(|(rev, _)| *rev < current).ok_or_else(|| {
            TaskError::failed(format!("Deployment {name} has no revision before {current} to go back to"))
        })?,
    };
    let (to, rs) = target;
    let mut template = rs["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    if template == deployment["spec"]["template"] {
        return Ok((current.to_string(), None));
    }
    let mut annotations = serde_json::Map::new();
    if let Some(own) = deployment["metadata"]["annotations"].as_object() {
        for (key, value) in own.iter().filter(|(k, _)| KEPT_ANNOTATIONS.contains(&k.as_str())) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    if let Some(theirs) = rs["metadata"]["annotations"].as_object() {
        for (key, value) in theirs.iter().filter(|(k, _)| !KEPT_ANNOTATIONS.contains(&k.as_str())) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    let request = api
        .request("PATCH", &resource.item(ns, name))
        .header("content-type", "application/json-patch+json")
        .body(patch.to_string());
    api.call(request).map_err(|err| failure(&format!("roll back Deployment {name}"), api, err))?;
    Ok((current.to_string(), Some(to.to_string())))
}

/// The ReplicaSets a Deployment owns, with their revisions, oldest first.
pub(crate) fn owned_replicasets(
    api: &Api,
    ns: Option<&str>,
    deployment: &Value,
) -> Result<Vec<(u64, Value)>, TaskError> {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let uid = deployment["metadata"]["uid"].as_str().unwrap_or_default();
    let selector = selector_string(&deployment["spec"]["selector"]);
    let replicasets = builtin_by_name("ReplicaSet").ok_or_else(|| TaskError::failed("no ReplicaSet kind"))?;
    let items = crate::get::list(api, &replicasets.collection(ns), Some(&selector), None)
        .map_err(|err| failure(&format!("list the ReplicaSets of Deployment {name}"), api, err))?;
    let revision_of = |rs: &Value| {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
    };
    let mut owned: Vec<(u64, Value)> = items
        .into_iter()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .filter_map(|rs| revision_of(&rs).map(|rev| (rev, rs)))
        .collect();
    owned.sort_by_key(|(rev, _)| *rev);
    Ok(owned)
}

/// A label selector object (`matchLabels`, `matchExpressions`) as the query string form.
pub fn selector_string(selector: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            parts.push(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
    }
    for expression in selector["matchExpressions"].as_array().cloned().unwrap_or_default() {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match expression["operator"].as_str().unwrap_or_default() {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_as_query_text() {
        let selector = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"}]});
        assert_eq!(selector_string(&selector), "app=web,tier in (a,b),!canary");
    }
}
