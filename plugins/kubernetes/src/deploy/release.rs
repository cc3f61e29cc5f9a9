//! What every strategy does to the cluster: apply the release's objects, patch, scale, wait for
//! a rollout, analyse, delete. One [`Release`] per task run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_plugin::{TaskError, info};

use super::analysis::{self, Analysis};
use super::{DeployConfig, Stage};
use crate::api::{Api, encode, failure};
use crate::apply::Applier;
use crate::manifests::Manifest;
use crate::resources::{Resource, builtin_by_name};
use crate::workload;

/// The field manager of the changes a release makes beside the manifests (selectors, replica
/// counts, weights): a manager of its own, so the next apply of the manifests neither removes
/// nor conflicts with them.
pub const RELEASE_MANAGER: &str = "sluice-release";

pub struct Release<'a> {
    pub api: &'a Api,
    pub applier: Applier<'a>,
    /// The release's Deployment as written (namespace placed), when starting.
    pub manifest: Option<Manifest>,
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
    pub deployments: Resource,
    pub services: Resource,
    rollout_timeout: Duration,
    field_manager: String,
    pub stages: Vec<Stage>,
}

fn builtin(kind: &str) -> Result<Resource, TaskError> {
    builtin_by_name(kind).ok_or_else(|| TaskError::failed(format!("no built-in kind {kind}")))
}

impl<'a> Release<'a> {
    fn new(
        api: &'a Api,
        config: &DeployConfig,
        name: String,
        manifest: Option<Manifest>,
    ) -> Result<Self, TaskError> {
        let applier = Applier::new(api, &config.source, &config.field_manager, false, false);
        Ok(Release {
            namespace: applier.default_namespace().to_string(),
            api,
            applier,
            manifest,
            name,
            deployments: builtin("Deployment")?,
            services: builtin("Service")?,
            rollout_timeout: crate::duration(config.rollout_timeout.as_deref(), "rolloutTimeout", 300)?,
            field_manager: config.field_manager.clone(),
            stages: Vec::new(),
        })
    }

    /// Loads the manifests, applies everything but the one Deployment, and holds that.
    pub fn prepare(api: &'a Api, config: &DeployConfig) -> Result<Self, TaskError> {
        let manifests = config.source.load()?;
        let (mut deployments, mut others): (Vec<Manifest>, Vec<Manifest>) =
            manifests.into_iter().partition(|m| m.kind() == "Deployment" && m.api_version() == "apps/v1");
        if deployments.len() != 1 {
            let names: Vec<&str> = deployments.iter().map(Manifest::name).collect();
            return Err(TaskError::invalid_config(format!(
                "kubernetes.deploy releases exactly one Deployment; the manifests have {}{}",
                deployments.len(),
                if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) }
            )));
        }
        let mut manifest = deployments.remove(0);
        if let Some(name) = config.name.as_deref().filter(|n| *n != manifest.name()) {
            return Err(TaskError::invalid_config(format!(
                "name: `{name}` is not the manifests' Deployment ({})",
                manifest.name()
            )));
        }
        let mut release = Release::new(api, config, manifest.name().to_string(), None)?;
        for other in &mut others {
            release.applier.apply(other)?;
        }
        // Placed like the others, so its namespace is the one everything else went to.
        release.namespace = release.applier.place_namespaced(&mut manifest, &release.deployments)?;
        release.manifest = Some(manifest);
        Ok(release)
    }

    /// A release already under way (a paused canary), by the Deployment's name.
    pub fn resume(api: &'a Api, config: &DeployConfig) -> Result<Self, TaskError> {
        let name = config.name.clone().ok_or_else(|| {
            TaskError::invalid_config("name: `promote` and `abort` need the Deployment's name")
        })?;
        Release::new(api, config, name, None)
    }

    fn ns(&self) -> Option<&str> {
        Some(self.namespace.as_str())
    }

    /// An object of `resource` by name, if it exists.
    pub fn get(&self, resource: &Resource, name: &str) -> Result<Option<Value>, TaskError> {
        self.api
            .get(&resource.item(self.ns(), name))
            .map_err(|err| failure(&format!("read {} {name}", resource.kind), self.api, err))
    }

    /// Applies a whole object the release owns (a color's or the canary's Deployment, a
    /// preview Service), taking over fields the release's own patches changed.
    pub fn apply_owned(&self, object: Value) -> Result<Value, TaskError> {
        let mut manifest = Manifest { object, origin: "kubernetes.deploy".into() };
        let kind = manifest.kind().to_string();
        let name = manifest.name().to_string();
        let resource = builtin(&kind)?;
        let path = format!(
            "{}?fieldManager={}&force=true",
            resource.item(self.ns(), &name),
            encode(&self.field_manager)
        );
        manifest.object["metadata"]["namespace"] = json!(self.namespace);
        let request = self
            .api
            .request("PATCH", &path)
            .header("content-type", "application/apply-patch+yaml")
            .body(manifest.object.to_string());
        let applied = self
            .api
            .call_json(request)
            .map_err(|err| failure(&format!("apply {kind} {name}"), self.api, err))?;
        info!("{kind} {}/{name} applied", self.namespace);
        Ok(applied)
    }

    /// A JSON merge patch by the release's own field manager.
    pub fn patch(&self, resource: &Resource, name: &str, patch: &Value) -> Result<Value, TaskError> {
        let path = format!("{}?fieldManager={RELEASE_MANAGER}", resource.item(self.ns(), name));
        let request = self
            .api
            .request("PATCH", &path)
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string());
        self.api
            .call_json(request)
            .map_err(|err| failure(&format!("patch {} {name}", resource.kind), self.api, err))
    }

    /// Sets a Deployment's replica count.
    pub fn scale(&self, name: &str, replicas: i64) -> Result<(), TaskError> {
        self.patch(&self.deployments, name, &json!({"spec": {"replicas": replicas}}))?;
        info!("Deployment {name} scaled to {replicas}");
        Ok(())
    }

    /// Waits for a Deployment's rollout, within the rollout timeout.
    pub fn wait(&self, name: &str) -> Result<Value, TaskError> {
        let deadline = Instant::now() + self.rollout_timeout;
        workload::wait_for_rollout(self.api, &self.deployments, self.ns(), name, deadline)
    }

    /// Runs an analysis and records it; `Ok(None)` when it passed, else why it failed.
    pub fn analyze(&mut self, analysis: &Analysis, stage: &str) -> Result<Option<String>, TaskError> {
        if analysis.is_empty() {
            return Ok(None);
        }
        let verdict = analysis::run(analysis, stage)?;
        let failed = (!verdict.passed).then(|| verdict.failure());
        self.stages.push(Stage { stage: stage.to_string(), verdict });
        Ok(failed)
    }

    /// Deletes an object and waits until it and its dependents are gone.
    pub fn delete(&self, resource: &Resource, name: &str) -> Result<(), TaskError> {
        let request = self
            .api
            .request("DELETE", &resource.item(self.ns(), name))
            .header("content-type", "application/json")
            .body(
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
                    .to_string(),
            );
        match self.api.call(request) {
            Ok(_) => {}
            Err(crate::api::CallError::Status(status)) if status.code == 404 => return Ok(()),
            Err(err) => return Err(failure(&format!("delete {} {name}", resource.kind), self.api, err)),
        }
        let deadline = Instant::now() + self.rollout_timeout;
        crate::delete::wait_gone(self.api, resource, self.ns(), name, deadline)?;
        info!("{} {}/{name} deleted", resource.kind, self.namespace);
        Ok(())
    }
}

/// A Deployment's revision annotation.
pub fn revision(deployment: &Value) -> Option<String> {
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().map(str::to_string)
}

/// The release's Deployment renamed to `name`, its selector and pod labels given `label`:
/// a color's or the canary's own Deployment, whose pods the Service selector still matches.
pub fn variant(deployment: &Value, name: &str, label: (&str, &str), replicas: Option<i64>) -> Value {
    let mut object = deployment.clone();
    object["metadata"]["name"] = json!(name);
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for server_field in ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"] {
            metadata.remove(server_field);
        }
    }
    if let Some(status) = object.as_object_mut() {
        status.remove("status");
    }
    object["spec"]["selector"]["matchLabels"][label.0] = json!(label.1);
    object["spec"]["template"]["metadata"]["labels"][label.0] = json!(label.1);
    if let Some(replicas) = replicas {
        object["spec"]["replicas"] = json!(replicas);
    }
    object
}

/// A Service like `service` (its ports and labels) named `name`, selecting its pods and also
/// `label`.
pub fn service_variant(service: &Value, name: &str, label: (&str, &str)) -> Value {
    let ports: Vec<Value> = service["spec"]["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut port| {
            if let Some(port) = port.as_object_mut() {
                port.remove("nodePort");
            }
            port
        })
        .collect();
    let mut selector = service["spec"]["selector"].clone();
    if !selector.is_object() {
        selector = json!({});
    }
    selector[label.0] = json!(label.1);
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": service["metadata"]["labels"].clone()},
        "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
    })
}
