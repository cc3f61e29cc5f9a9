//! Where a task's manifests come from and what is done to them before they are applied:
//! a workspace path and/or inline text, image overrides, the default namespace.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_plugin::{TaskError, warn};

use crate::manifests::{self, Manifest};

/// The manifests of `kubernetes.apply` and `kubernetes.deploy`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// A manifest file or directory in the workspace (`deploy/k8s`): its `.yaml`, `.yml` and
    /// `.json` files, multi-document YAML allowed.
    #[serde(default)]
    pub path: Option<String>,
    /// Also the files of `path`'s subdirectories.
    #[serde(default)]
    pub recursive: bool,
    /// Manifests as YAML text (instead of `path`, or beside it).
    #[serde(default)]
    pub manifests: Option<String>,
    /// The namespace of namespaced objects that name none (default: the kubeconfig context's,
    /// else `default`). An object naming another namespace is refused, as kubectl does.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Image overrides: `repository: reference` replaces the image of every container whose
    /// image repository is `repository` (`reg/app: reg/app@sha256:...`).
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}

impl Source {
    /// The manifests, images overridden, sorted for applying.
    pub fn load(&self) -> Result<Vec<Manifest>, TaskError> {
        let mut manifests = Vec::new();
        if let Some(path) = &self.path {
            manifests.extend(manifests::from_path(path, self.recursive)?);
        }
        if let Some(text) = &self.manifests {
            manifests.extend(manifests::parse(text, "manifests")?);
        }
        if self.path.is_none() && self.manifests.is_none() {
            return Err(TaskError::invalid_config(
                "give `path` (manifests in the workspace) or `manifests` (YAML text)",
            ));
        }
        if manifests.is_empty() {
            return Err(TaskError::invalid_config("the manifests hold no object"));
        }
        for (repository, reference) in &self.images {
            let one = BTreeMap::from([(repository.clone(), reference.clone())]);
            let changed: usize =
                manifests.iter_mut().map(|m| manifests::override_images(&mut m.object, &one)).sum();
            if changed == 0 {
                warn!("images: no container of these manifests uses the repository {repository}");
            }
        }
        manifests::sort(&mut manifests);
        Ok(manifests)
    }
}
