//! `docker.tag`: give a local image more names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::engine::{self, encode, encode_path};
use crate::image::Reference;

pub struct TagTask;

/// Config of `docker.tag`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagConfig {
    /// The image to tag: a name, `name:tag` or an image id.
    image: String,
    /// The new names (`name:tag`; `latest` when no tag is given).
    tags: Vec<String>,
}

/// Outputs of `docker.tag`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagOutput {
    /// The id of the tagged image.
    image_id: String,
    /// The names given, each as `name:tag`.
    tags: Vec<String>,
}

impl Task for TagTask {
    const NAME: &'static str = "tag";
    const DESCRIPTION: &'static str = "Tags the local image `image` with each of `tags`. Outputs \
        the image id and the full tags. Needs `allow: {docker: true}`.";
    type Config = TagConfig;
    type Output = TagOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::Docker]
    }

    fn run(config: TagConfig) -> Result<TagOutput, TaskError> {
        if config.tags.is_empty() {
            return Err(TaskError::invalid_config("`tags`: give at least one tag"));
        }
        let image_id = crate::image::inspect(&config.image)?.id;
        let mut tags = Vec::new();
        for tag in &config.tags {
            let reference = Reference::parse(tag);
            if reference.digest {
                return Err(TaskError::invalid_config(format!("`tags`: `{tag}` is a digest, not a tag")));
            }
            let path = format!(
                "/images/{}/tag?repo={}&tag={}",
                encode_path(&config.image),
                encode(&reference.name),
                encode(&reference.tag)
            );
            engine::send(engine::request("POST", &path), &format!("tagging {} as {tag}", config.image))?;
            sluice_plugin::info!("tagged {} as {}", config.image, reference.full());
            tags.push(reference.full());
        }
        Ok(TagOutput { image_id, tags })
    }
}
