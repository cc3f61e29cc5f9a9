//! `kubernetes.apply`: server-side apply of manifests, with image overrides, a dry run that
//! shows the diff, and a wait for the workloads' rollouts.

use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_plugin::{Capability, Task, TaskError, info};

use crate::api::{Api, CallError, Status, encode, failure};
use crate::cluster::Connection;
use crate::manifests::Manifest;
use crate::resources::{Resource, Resources};
use crate::source::Source;
use crate::workload;

pub struct ApplyTask;

/// Config of `kubernetes.apply`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ApplyConfig {
    #[serde(flatten)]
    pub source: Source,
    /// Take over fields another field manager owns instead of failing on the conflict.
    #[serde(default)]
    pub force: bool,
    /// Ask the server what the apply would do, change nothing, and output the diff.
    #[serde(default)]
    pub dry_run: bool,
    /// Wait until every Deployment, StatefulSet and DaemonSet applied has rolled out.
    #[serde(default)]
    pub wait_for_rollout: bool,
    /// How long to wait for the rollouts (`5m`, the default).
    #[serde(default)]
    pub rollout_timeout: Option<String>,
    /// The field manager named in the objects' managedFields.
    #[serde(default = "default_field_manager")]
    pub field_manager: String,
    #[serde(flatten)]
    pub connection: Connection,
}

/// `sluice`, the field manager named in managedFields unless a task says otherwise.
pub fn default_field_manager() -> String {
    "sluice".into()
}

/// One object as applied.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub kind: String,
    pub api_version: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    /// `created`, `configured` or `unchanged`.
    pub result: String,
    /// For workloads: the revision the apply made (a Deployment's
    /// `deployment.kubernetes.io/revision`, a StatefulSet's `updateRevision`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// With `dryRun`: what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Vec<String>>,
}

/// Outputs of `kubernetes.apply`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOutput {
    pub objects: Vec<Applied>,
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    /// With `dryRun`: the whole diff, one `kind/namespace/name` header per changed object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Task for ApplyTask {
    const NAME: &'static str = "apply";
    const DESCRIPTION: &'static str = "Applies manifests (`path` in the workspace and/or inline \
        `manifests`) with server-side apply as field manager `sluice`, Namespaces and config before \
        workloads; `images` pins container images by repository; `force` takes over conflicting \
        fields; `dryRun` changes nothing and outputs the diff; `waitForRollout` waits for the \
        workloads. The cluster comes from a kubeconfig or `server` + `token`; grant its origin in \
        `allow.network` (a `server` given directly is granted by being given).";
    type Config = ApplyConfig;
    type Output = ApplyOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: ApplyConfig) -> Result<ApplyOutput, TaskError> {
        let mut manifests = config.source.load()?;
        let api = Api::connect(&config.connection)?;
        let applier = Applier::new(&api, &config.source, &config.field_manager, config.force, config.dry_run);
        let mut objects = Vec::new();
        let mut workloads = Vec::new();
        for manifest in &mut manifests {
            let (applied, resource, namespace, _) = applier.apply(manifest)?;
            if matches!(resource.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet") && !config.dry_run
            {
                workloads.push((objects.len(), resource, namespace));
            }
            objects.push(applied);
        }
        let deadline =
            Instant::now() + crate::duration(config.rollout_timeout.as_deref(), "rolloutTimeout", 300)?;
        for (index, resource, namespace) in workloads {
            let applied = &mut objects[index];
            let object = if config.wait_for_rollout {
                let object = workload::wait_for_rollout(
                    &api,
                    &resource,
                    namespace.as_deref(),
                    &applied.name,
                    deadline,
                )?;
                info!("{} {} rolled out", resource.kind, applied.name);
                Some(object)
            } else {
                api.get(&resource.item(namespace.as_deref(), &applied.name))
                    .map_err(|e| failure("read back", &api, e))?
            };
            applied.revision = object.as_ref().and_then(revision);
        }
        let count = |result: &str| objects.iter().filter(|o| o.result == result).count();
        let diff = config.dry_run.then(|| {
            objects
                .iter()
                .filter(|o| o.diff.as_ref().is_some_and(|d| !d.is_empty()))
                .map(|o| {
                    format!(
                        "{}/{}/{}\n{}\n",
                        o.kind,
                        o.namespace,
                        o.name,
                        o.diff.as_deref().unwrap_or_default().join("\n")
                    )
                })
                .collect::<String>()
        });
        Ok(ApplyOutput {
            created: count("created"),
            configured: count("configured"),
            unchanged: count("unchanged"),
            objects,
            diff,
        })
    }
}

/// The namespace the object goes in (none for a cluster-scoped kind), written into it.
fn place(
    manifest: &mut Manifest,
    resource: &Resource,
    asked: Option<&str>,
    default: &str,
) -> Result<Option<String>, TaskError> {
    let origin = manifest.origin.clone();
    let name = manifest.name().to_string();
    let Some(metadata) = manifest.object["metadata"].as_object_mut() else {
        return Err(TaskError::invalid_config(format!("{origin}: metadata is not a mapping")));
    };
    if !resource.namespaced {
        metadata.remove("namespace");
        return Ok(None);
    }
    let namespace = match (metadata.get("namespace").and_then(Value::as_str), asked) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(TaskError::invalid_config(format!(
                "{origin}: the {} {name} names namespace {own}, but the task's `namespace` is {asked}: remove one of them",
                resource.kind,
            )));
        }
        (Some(own), _) => own.to_string(),
        (None, _) => default.to_string(),
    };
    metadata.insert("namespace".into(), Value::String(namespace.clone()));
    Ok(Some(namespace))
}

/// Applies manifests one by one to a cluster, server-side.
pub struct Applier<'a> {
    pub api: &'a Api,
    pub resources: Resources,
    field_manager: String,
    force: bool,
    dry_run: bool,
    /// The task's `namespace`, if it gives one.
    asked_namespace: Option<String>,
    default_namespace: String,
}

impl<'a> Applier<'a> {
    pub fn new(api: &'a Api, source: &Source, field_manager: &str, force: bool, dry_run: bool) -> Self {
        let default_namespace = source
            .namespace
            .clone()
            .or_else(|| api.cluster.namespace.clone())
            .unwrap_or_else(|| "default".into());
        Applier {
            api,
            resources: Resources::default(),
            field_manager: field_manager.to_string(),
            force,
            dry_run,
            asked_namespace: source.namespace.clone(),
            default_namespace,
        }
    }

    /// The namespace objects without one go in.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// Puts a manifest of a namespaced kind in its namespace, as [`Applier::apply`] would, and
    /// says which.
    pub fn place_namespaced(
        &self,
        manifest: &mut Manifest,
        resource: &Resource,
    ) -> Result<String, TaskError> {
        let placed = place(manifest, resource, self.asked_namespace.as_deref(), &self.default_namespace)?;
        Ok(placed.unwrap_or_else(|| self.default_namespace.clone()))
    }

    /// Applies one manifest (placing it in its namespace first): what was done, the kind's
    /// resource, the namespace, and the object as the server answered.
    pub fn apply(
        &self,
        manifest: &mut Manifest,
    ) -> Result<(Applied, Resource, Option<String>, Value), TaskError> {
        let api = self.api;
        let resource = self
            .resources
            .resolve(api, manifest.api_version(), manifest.kind())
            .map_err(|err| crate::api::prefixed(&manifest.origin, err))?;
        let namespace = place(manifest, &resource, self.asked_namespace.as_deref(), &self.default_namespace)?;
        let ns = namespace.as_deref();
        let name = manifest.name().to_string();
        let label = match ns {
            Some(ns) => format!("{} {ns}/{name}", resource.kind),
            None => format!("{} {name}", resource.kind),
        };
        let what = format!("{}: apply of {label}", manifest.origin);
        let path = resource.item(ns, &name);
        let before = api.get(&path).map_err(|err| failure(&what, api, err))?;
        let mut query = format!("fieldManager={}", encode(&self.field_manager));
        if self.force {
            query.push_str("&force=true");
        }
        if self.dry_run {
            query.push_str("&dryRun=All");
        }
        let body = serde_json::to_vec(&manifest.object).map_err(|err| TaskError::failed(err.to_string()))?;
        let request = api
            .request("PATCH", &format!("{path}?{query}"))
            .header("content-type", "application/apply-patch+yaml")
            .body(body);
        let after = match api.call_json(request) {
            Ok(after) => after,
            Err(CallError::Status(status)) if status.code == 409 => return Err(conflict(&what, &status)),
            Err(err) => return Err(failure(&what, api, err)),
        };
        let version = |v: &Value| v["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
        let diff = self.dry_run.then(|| crate::diff::diff(before.as_ref(), &after));
        let result = match (&before, &diff) {
            (None, _) => "created",
            (Some(_), Some(diff)) if diff.is_empty() => "unchanged",
            (Some(before), None) if version(before) == version(&after) => "unchanged",
            (Some(_), _) => "configured",
        };
        let suffix = if self.dry_run { " (dry run)" } else { "" };
        info!("{label} {result}{suffix}");
        let applied = Applied {
            kind: resource.kind.clone(),
            api_version: resource.api_version(),
            namespace: ns.unwrap_or_default().to_string(),
            name,
            resource_version: version(&after),
            result: result.to_string(),
            revision: None,
            diff,
        };
        Ok((applied, resource, namespace, after))
    }
}

/// An apply conflict, with each field and the manager that owns it.
fn conflict(what: &str, status: &Status) -> TaskError {
    let fields: Vec<String> = status
        .causes
        .iter()
        .map(|(field, message)| {
            let owner = message.strip_prefix("conflict with ").unwrap_or(message);
            format!("{field} (owned by {owner})")
        })
        .collect();
    let detail = if fields.is_empty() { status.message.clone() } else { fields.join(", ") };
    TaskError::failed(format!(
        "{what} conflicts with another field manager: {detail}. Set `force: true` to take these fields over, or leave them out of the manifest"
    ))
}

/// The revision a workload object is at, as its controller wrote it.
pub fn revision(object: &Value) -> Option<String> {
    match object["kind"].as_str()? {
        "Deployment" => object["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .map(str::to_string),
        "StatefulSet" => object["status"]["updateRevision"].as_str().map(str::to_string),
        "DaemonSet" => object["metadata"]["annotations"]["deprecated.daemonset.template.generation"]
            .as_str()
            .map(str::to_string),
        _ => None,
    }
}
