//! `docker.pull`: pull an image from its registry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::image::{self, Reference, registry_auth};

pub struct PullTask;

/// Config of `docker.pull`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PullConfig {
    /// The image, `name[:tag]` or `name@sha256:...`.
    image: String,
    /// Registry user.
    #[serde(default)]
    username: Option<String>,
    /// Registry password or token (use a secret).
    #[serde(default)]
    password: Option<String>,
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
        let auth =
            registry_auth(config.username.as_deref(), config.password.as_deref(), &reference.registry());
        image::pull(&reference, &auth)?;
        let info = image::inspect(&reference.full())?;
        Ok(PullOutput { image_id: info.id, repo_digests: info.repo_digests.unwrap_or_default() })
    }
}
