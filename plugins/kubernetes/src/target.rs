//! The object a task acts on: `kind` (`Deployment`, `deploy`, `deployments`, or a CRD's kind
//! with `apiVersion`), `name`, `namespace`.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::TaskError;

use crate::api::Api;
use crate::resources::{Resource, Resources, builtin_by_name};

/// Which kind of object, where.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kind {
    /// The kind: `Deployment` (or `deploy`, `deployments`), `Pod`, `Service`, ...
    pub kind: String,
    /// The kind's API version, needed only for kinds other than the built-in ones
    /// (`example.com/v1`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The namespace (default: the kubeconfig context's, else `default`).
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Kind {
    /// The kind's resource and the namespace to use (none for cluster-scoped kinds).
    pub fn resolve(&self, api: &Api, resources: &Resources) -> Result<(Resource, Option<String>), TaskError> {
        let resource = match &self.api_version {
            Some(api_version) => resources.resolve(api, api_version, &self.kind)?,
            None => builtin_by_name(&self.kind).ok_or_else(|| {
                TaskError::invalid_config(format!(
                    "kind `{}` is not a built-in kind: give its `apiVersion` too (e.g. example.com/v1)",
                    self.kind
                ))
            })?,
        };
        let namespace = resource.namespaced.then(|| {
            self.namespace
                .clone()
                .or_else(|| api.cluster.namespace.clone())
                .unwrap_or_else(|| "default".into())
        });
        Ok((resource, namespace))
    }
}
