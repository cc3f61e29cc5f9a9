//! sluice's kubernetes tasks: server-side apply, rollouts (status, undo, restart, pause,
//! resume), get, delete and logs, against any API server the flow grants, with the cluster's
//! own CA and a token or client certificate from a kubeconfig.

mod api;
mod apply;
mod cluster;
mod delete;
mod deploy;
mod diff;
mod get;
mod logs;
mod manifests;
mod resources;
mod rollout;
mod source;
mod target;
mod trust;
mod workload;

use std::time::Duration;

use sluice_plugin::TaskError;

sluice_plugin::plugin! {
    name: "kubernetes",
    version: env!("CARGO_PKG_VERSION"),
    description: "Apply manifests, follow and undo rollouts, read, delete and tail objects in a Kubernetes cluster.",
    tasks: [apply::ApplyTask, deploy::DeployTask, rollout::RolloutTask, get::GetTask, delete::DeleteTask, logs::LogsTask],
}

/// A duration from config (`30s`, `5m`, `1h 30m`), or `default_seconds`.
pub(crate) fn duration(text: Option<&str>, field: &str, default_seconds: u64) -> Result<Duration, TaskError> {
    match text {
        None => Ok(Duration::from_secs(default_seconds)),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|err| {
            TaskError::invalid_config(format!("{field}: `{text}` is not a duration like 30s or 5m ({err})"))
        }),
    }
}
