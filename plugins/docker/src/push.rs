//! `docker.push`: push an image to its registry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::engine::{encode, encode_path};
use crate::image::{Credentials, Reference, follow_progress};

pub struct PushTask;

/// Config of `docker.push`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Not serde's `deny_unknown_fields`, which `flatten` does not support: the schema refuses
// unknown keys, and the host checks every config against it before the run.
#[schemars(deny_unknown_fields)]
pub struct PushConfig {
    /// The image to push, `registry/name:tag` (`latest` when no tag is given).
    image: String,
    /// Registry credentials: `username`, `password`.
    #[serde(flatten)]
    credentials: Credentials,
}

/// Outputs of `docker.push`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushOutput {
    /// The digest of the pushed manifest (`sha256:...`).
    digest: String,
    /// The pushed image by digest, `name@sha256:...`.
    image: String,
}

impl Task for PushTask {
    const NAME: &'static str = "push";
    const DESCRIPTION: &'static str = "Pushes the local image `image` to its registry, with \
        `username` and `password` when given (from secrets), the progress in the task log. \
        Outputs the pushed manifest's `digest` and the image by digest. Needs \
        `allow: {docker: true}`.";
    type Config = PushConfig;
    type Output = PushOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::Docker]
    }

    fn run(config: PushConfig) -> Result<PushOutput, TaskError> {
        let reference = Reference::parse(&config.image);
        if reference.digest {
            return Err(TaskError::invalid_config(format!(
                "`image`: push a tag, not a digest (`{}`)",
                config.image
            )));
        }
        let auth = config.credentials.registry_auth(&reference.registry());
        let path = format!("/images/{}/push?tag={}", encode_path(&reference.name), encode(&reference.tag));
        let request = crate::engine::request("POST", &path).header("x-registry-auth", auth);
        let mut digest: Option<String> = None;
        follow_progress(request, &format!("pushing {}", reference.full()), |message| {
            if let Some(found) =
                message.aux.as_ref().and_then(|aux| aux.get("Digest")).and_then(|d| d.as_str())
            {
                digest = Some(found.to_string());
            }
            if let Some(line) = message.log_line() {
                sluice_plugin::info!("{line}");
            }
        })?;
        let digest =
            digest.ok_or_else(|| TaskError::failed("the daemon did not report the pushed digest"))?;
        Ok(PushOutput { image: format!("{}@{digest}", reference.name), digest })
    }
}
