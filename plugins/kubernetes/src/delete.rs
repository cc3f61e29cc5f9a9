//! `kubernetes.delete`: delete objects by name or selector, with a propagation policy, and wait
//! until they are gone.

use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sluice_plugin::{Capability, Task, TaskError, info};

use crate::api::{Api, CallError, Watching, encode, failure};
use crate::cluster::Connection;
use crate::resources::{Resource, Resources};
use crate::target::Kind;

pub struct DeleteTask;

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum Propagation {
    /// Dependents (a Deployment's ReplicaSets and Pods) go first, then the object.
    Foreground,
    /// The object goes now, its dependents after it (the server's default).
    Background,
    /// Dependents stay, without their owner.
    Orphan,
}

/// Config of `kubernetes.delete`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DeleteConfig {
    #[serde(flatten)]
    pub target: Kind,
    /// The object's name; or `labelSelector` for every match.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub label_selector: Option<String>,
    /// `Foreground`, `Background` (default) or `Orphan`.
    #[serde(default)]
    pub propagation_policy: Option<Propagation>,
    /// Wait until the objects are gone (default true).
    #[serde(default = "yes")]
    pub wait: bool,
    /// How long to wait (`2m`, the default).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Succeed when the named object does not exist.
    #[serde(default)]
    pub ignore_not_found: bool,
    #[serde(flatten)]
    pub connection: Connection,
}

fn yes() -> bool {
    true
}

/// Outputs of `kubernetes.delete`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutput {
    /// The names deleted.
    pub deleted: Vec<String>,
    pub count: usize,
}

impl Task for DeleteTask {
    const NAME: &'static str = "delete";
    const DESCRIPTION: &'static str = "Deletes an object (`kind`, `name`) or every object a \
        `labelSelector` matches, with `propagationPolicy` Foreground, Background or Orphan, and \
        by default waits until they are gone.";
    type Config = DeleteConfig;
    type Output = DeleteOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: DeleteConfig) -> Result<DeleteOutput, TaskError> {
        let api = Api::connect(&config.connection)?;
        let (resource, namespace) = config.target.resolve(&api, &Resources::default())?;
        let ns = namespace.as_deref();
        let names = match (&config.name, &config.label_selector) {
            (Some(name), None) => vec![name.clone()],
            (None, Some(selector)) => crate::get::list(&api, &resource.collection(ns), Some(selector), None)
                .map_err(|err| failure(&format!("list {}", resource.plural), &api, err))?
                .iter()
                .filter_map(|item| item["metadata"]["name"].as_str().map(str::to_string))
                .collect(),
            _ => return Err(TaskError::invalid_config("give `name` or `labelSelector` (one of them)")),
        };
        let mut body = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        if let Some(policy) = config.propagation_policy {
            body["propagationPolicy"] = json!(format!("{policy:?}"));
        }
        let mut deleted = Vec::new();
        for name in &names {
            let what = format!("delete {} {name}", resource.kind);
            let request = api
                .request("DELETE", &resource.item(ns, name))
                .header("content-type", "application/json")
                .body(body.to_string());
            match api.call(request) {
                Ok(_) => {
                    info!("{} {name} deleted", resource.kind);
                    deleted.push(name.clone());
                }
                Err(CallError::Status(status))
                    if status.code == 404 && (config.ignore_not_found || config.name.is_none()) =>
                {
                    info!("{} {name} was already gone", resource.kind);
                }
                Err(err) => return Err(failure(&what, &api, err)),
            }
        }
        if config.wait {
            let deadline = Instant::now() + crate::duration(config.timeout.as_deref(), "timeout", 120)?;
            for name in &deleted {
                wait_gone(&api, &resource, ns, name, deadline)?;
            }
        }
        Ok(DeleteOutput { count: deleted.len(), deleted })
    }
}

/// Waits until `name` no longer exists (a foreground deletion keeps it while its dependents go).
pub fn wait_gone(
    api: &Api,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    deadline: Instant,
) -> Result<(), TaskError> {
    let what = format!("wait for {} {name} to be gone", resource.kind);
    loop {
        let Some(object) = api.get(&resource.item(ns, name)).map_err(|err| failure(&what, api, err))? else {
            return Ok(());
        };
        let version = object["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        let query = format!("fieldSelector={}", encode(&format!("metadata.name={name}")));
        let gone = api.watch(&resource.collection(ns), &query, version, deadline, |event| {
            Ok(if event.kind == "DELETED" { Watching::Done } else { Watching::Continue })
        });
        match gone {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(TaskError::failed(format!("{what}: still there at the timeout"))),
            Err(CallError::Status(status)) if status.code == 410 => continue,
            Err(err) => return Err(failure(&what, api, err)),
        }
    }
}
