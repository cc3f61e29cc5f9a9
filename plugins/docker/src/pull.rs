//! `docker.pull`: pull an image from its registry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::image::{self, Credentials, Reference};

pub struct PullTask;

/// Config of `docker.pull`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct PullConfig {
    /// The image, `name[:tag]` or `name@sha256:...`.
    image: String,
    /// Registry credentials: `username`, `password`.
    #[serde(flatten)]
    credentials: Credentials,
}

/// Outputs of `docker.pull`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PullOutput {
    /// The local image id (`sha256:...`).
    image_id: String,
    /// The repository digests of the image (`name@sha256:...`).
    repo_digests: Vec<String>,
}

impl Task for PullTask {
    const NAME: &'static str = "pull";
    const DESCRIPTION: &'static str = "Pulls `image` (by tag or digest) from its registry, with \
        `username` and `password` when given, the progress in the task log. Outputs the local \
        `imageId` and `repoDigests`. Needs `allow: {docker: true}`.";
    type Config = PullConfig;
    type Output = PullOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::Docker]
    }

    fn run(config: PullConfig) -> Result<PullOutput, TaskError> {
        let reference = Reference::parse(&config.image);
        let auth = config.credentials.registry_auth(&reference.registry());
        image::pull(&reference, &auth)?;
        let info = image::inspect(&reference.full())?;
        Ok(PullOutput { image_id: info.id, repo_digests: info.repo_digests.unwrap_or_default() })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The credentials are flattened into the config: its schema lists them and, as the host
    /// checks it before every run, still refuses keys it does not know.
    #[test]
    fn the_config_schema_has_the_credentials_and_refuses_unknown_keys() {
        let generator = schemars::generate::SchemaSettings::draft2020_12().for_deserialize().into_generator();
        let schema = serde_json::to_value(generator.into_root_schema_for::<PullConfig>()).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{schema:#}");
        let mut keys: Vec<&str> =
            schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["image", "password", "username"]);
        let config: PullConfig =
            serde_json::from_value(serde_json::json!({"image": "a", "username": "u", "password": "p"}))
                .unwrap();
        assert_ne!(config.credentials.registry_auth("r"), Credentials::default().registry_auth("r"));
    }
}
