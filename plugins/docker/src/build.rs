//! `docker.build`: build an image from a directory of the workspace.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::dockerignore::DockerIgnore;
use crate::engine::{self, encode};
use crate::files;
use crate::image::follow_progress;
use crate::tar::TarWriter;

pub struct BuildTask;

/// Config of `docker.build`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildConfig {
    /// The build context, a directory of the workspace (default: the workspace itself).
    #[serde(default = "default_context")]
    context: String,
    /// The Dockerfile, relative to the context.
    #[serde(default = "default_dockerfile")]
    dockerfile: String,
    /// Tags for the image (`name:tag`).
    #[serde(default)]
    tags: Vec<String>,
    /// `ARG` values.
    #[serde(default)]
    build_args: BTreeMap<String, String>,
    /// Labels on the image.
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// The stage of a multi-stage Dockerfile to build.
    #[serde(default)]
    target: Option<String>,
    /// Pull newer versions of the base images.
    #[serde(default)]
    pull: bool,
}

fn default_context() -> String {
    ".".into()
}

fn default_dockerfile() -> String {
    "Dockerfile".into()
}

/// Outputs of `docker.build`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildOutput {
    /// The image id (`sha256:...`).
    image_id: String,
    /// The tags given to the image.
    tags: Vec<String>,
}

impl Task for BuildTask {
    const NAME: &'static str = "build";
    const DESCRIPTION: &'static str = "Builds an image from `context` (a workspace directory, \
        sent to the daemon as a tar archive without the files `.dockerignore` leaves out) and \
        `dockerfile`, with `buildArgs`, `labels`, `target` and `tags`. Streams the build output \
        to the task log and fails with the daemon's message when a step fails. Outputs the \
        `imageId` and `tags`. Needs `allow: {docker: true}`.";
    type Config = BuildConfig;
    type Output = BuildOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::Docker]
    }

    fn run(config: BuildConfig) -> Result<BuildOutput, TaskError> {
        let context = sluice_plugin::workspace().join(&config.context);
        if !context.is_dir() {
            return Err(TaskError::invalid_config(format!(
                "`context`: the directory `{}` does not exist in the workspace",
                config.context
            )));
        }
        let dockerfile_path = format!("{}/{}", config.context.trim_end_matches('/'), config.dockerfile);
        if !context.join(&config.dockerfile).is_file() {
            return Err(TaskError::invalid_config(format!(
                "`dockerfile`: `{dockerfile_path}` does not exist in the workspace"
            )));
        }
        let ignore = match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => DockerIgnore::parse(&text),
            Err(_) => DockerIgnore::default(),
        };
        let dockerfile = config.dockerfile.trim_start_matches("./").to_string();
        // The daemon needs the Dockerfile and .dockerignore even when they are ignored.
        let keep = |path: &str| path == dockerfile || path == ".dockerignore" || !ignore.excludes(path);
        let listing = std::time::Instant::now();
        let entries = files::collect(&context, "", &keep)?;
        let count = entries.len();
        let listed_in = listing.elapsed().as_millis();

        let mut query = format!("/build?dockerfile={}&rm=1&forcerm=1", encode(&dockerfile));
        for tag in &config.tags {
            query.push_str(&format!("&t={}", encode(tag)));
        }
        if !config.build_args.is_empty() {
            query.push_str(&format!("&buildargs={}", encode(&to_json(&config.build_args))));
        }
        if !config.labels.is_empty() {
            query.push_str(&format!("&labels={}", encode(&to_json(&config.labels))));
        }
        if let Some(target) = &config.target {
            query.push_str(&format!("&target={}", encode(target)));
        }
        if config.pull {
            query.push_str("&pull=1");
        }
        sluice_plugin::info!(
            "sending a build context of {count} entries from {} (listed in {listed_in} ms)",
            config.context
        );
        let request = engine::request("POST", &query)
            .header("content-type", "application/x-tar")
            .body_reader(TarWriter::new(entries));

        let mut image_id: Option<String> = None;
        let mut partial = String::new();
        follow_progress(request, "the build failed", |message| {
            if let Some(text) = &message.stream {
                partial.push_str(text);
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    let line = line.trim_end();
                    if let Some(id) = line.strip_prefix("Successfully built ") {
                        image_id.get_or_insert_with(|| id.trim().to_string());
                    }
                    sluice_plugin::info!("{line}");
                }
            }
            if let Some(id) = message.aux.as_ref().and_then(|aux| aux.get("ID")).and_then(|id| id.as_str()) {
                image_id = Some(id.to_string());
            }
            if let Some(line) = message.log_line() {
                sluice_plugin::info!("{line}");
            }
        })?;
        if !partial.trim().is_empty() {
            sluice_plugin::info!("{}", partial.trim_end());
        }
        let image_id =
            image_id.ok_or_else(|| TaskError::failed("the daemon did not report the built image's id"))?;
        let image_id =
            if image_id.starts_with("sha256:") { image_id } else { crate::image::inspect(&image_id)?.id };
        sluice_plugin::info!("built {image_id}");
        Ok(BuildOutput { image_id, tags: config.tags })
    }
}

fn to_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}
