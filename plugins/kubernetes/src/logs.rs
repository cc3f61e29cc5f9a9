//! `kubernetes.logs`: a pod's logs, or the logs of every pod of a workload, into the task's log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError, info};

use crate::api::{Api, CallError, failure};
use crate::cluster::Connection;
use crate::resources::{Resources, builtin_by_name};
use crate::rollout::selector_string;
use crate::target::Kind;

pub struct LogsTask;

/// Config of `kubernetes.logs`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LogsConfig {
    /// `Pod` (the default), or a workload kind (`Deployment`, `StatefulSet`, `DaemonSet`,
    /// `ReplicaSet`, `Job`) whose pods' logs are read.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The pod's or workload's name.
    pub name: String,
    /// The namespace (default: the kubeconfig context's, else `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The container (default: each container of the pod).
    #[serde(default)]
    pub container: Option<String>,
    /// Only lines newer than this (`10m`).
    #[serde(default)]
    pub since: Option<String>,
    /// Only the last N lines of each container.
    #[serde(default)]
    pub tail: Option<u64>,
    /// The previous instance of a restarted container.
    #[serde(default)]
    pub previous: bool,
    #[serde(flatten)]
    pub connection: Connection,
}

fn default_kind() -> String {
    "Pod".into()
}

/// One container's logs.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerLog {
    pub pod: String,
    pub container: String,
    /// How many lines went into the task log.
    pub lines: usize,
}

/// Outputs of `kubernetes.logs`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsOutput {
    pub containers: Vec<ContainerLog>,
}

impl Task for LogsTask {
    const NAME: &'static str = "logs";
    const DESCRIPTION: &'static str = "Copies the logs of a pod, or of every pod of a workload, \
        into the task's log, each line prefixed with `[pod/container]`; `since` and `tail` limit \
        them.";
    type Config = LogsConfig;
    type Output = LogsOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: LogsConfig) -> Result<LogsOutput, TaskError> {
        let api = Api::connect(&config.connection)?;
        let kind = Kind { kind: config.kind.clone(), api_version: None, namespace: config.namespace.clone() };
        let (resource, namespace) = kind.resolve(&api, &Resources::default())?;
        let ns = namespace.as_deref();
        let pods_kind = builtin_by_name("Pod").ok_or_else(|| TaskError::failed("no Pod kind"))?;
        let what = format!("logs of {} {}", resource.kind, config.name);
        let object = api
            .get(&resource.item(ns, &config.name))
            .map_err(|err| failure(&what, &api, err))?
            .ok_or_else(|| TaskError::failed(format!("{what}: the {} does not exist", resource.kind)))?;
        let pods = if resource.kind == "Pod" {
            vec![object]
        } else {
            let selector = selector_string(&object["spec"]["selector"]);
            if selector.is_empty() {
                return Err(TaskError::invalid_config(format!(
                    "{what}: a {} has no pod selector",
                    resource.kind
                )));
            }
            // Pods on their way out (an old revision's, after a rollout) are not the workload's.
            crate::get::list(&api, &pods_kind.collection(ns), Some(&selector), None)
                .map_err(|err| failure(&what, &api, err))?
                .into_iter()
                .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
                .collect()
        };
        let mut query = Vec::new();
        if let Some(since) = &config.since {
            query
                .push(format!("sinceSeconds={}", crate::duration(Some(since), "since", 0)?.as_secs().max(1)));
        }
        if let Some(tail) = config.tail {
            query.push(format!("tailLines={tail}"));
        }
        if config.previous {
            query.push("previous=true".into());
        }
        let mut containers = Vec::new();
        for pod in &pods {
            let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let names: Vec<String> = match &config.container {
                Some(container) => vec![container.clone()],
                None => pod["spec"]["containers"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c["name"].as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            };
            for container in names {
                let mut params = query.clone();
                params.push(format!("container={container}"));
                let url = format!("{}/log?{}", pods_kind.item(ns, pod_name), params.join("&"));
                let text = match api.call(api.request("GET", &url).header("accept", "*/*")) {
                    Ok(response) => response.text(),
                    Err(CallError::Status(status)) if status.code == 400 => {
                        info!("[{pod_name}/{container}] no logs: {}", status.message);
                        String::new()
                    }
                    Err(err) => return Err(failure(&format!("logs of pod {pod_name}"), &api, err)),
                };
                let mut lines = 0;
                for line in text.lines() {
                    info!("[{pod_name}/{container}] {line}");
                    lines += 1;
                }
                containers.push(ContainerLog { pod: pod_name.to_string(), container, lines });
            }
        }
        Ok(LogsOutput { containers })
    }
}
