//! `rolling`: update the Deployment in place, wait for its rollout, analyse; when either fails,
//! undo to the revision it had before and fail saying why.

use sluice_plugin::{TaskError, info, warn};

use super::release::{Release, revision};
use super::{DeployConfig, DeployOutput};

pub fn run(release: &mut Release<'_>, config: &DeployConfig) -> Result<DeployOutput, TaskError> {
    let name = release.name.clone();
    let deployments = release.deployments.clone();
    let previous = release.get(&deployments, &name)?.as_ref().and_then(revision);
    let manifest = release.manifest.take().ok_or_else(|| TaskError::failed("no Deployment to release"))?;
    release.apply_owned(manifest.object)?;
    let failure = match release.wait(&name) {
        Ok(_) => {
            release.analyze(&config.analysis, "rolling")?.map(|why| format!("the analysis failed: {why}"))
        }
        Err(err) => Some(format!("the rollout failed: {}", err.message())),
    };
    let current = release.get(&deployments, &name)?;
    let current_revision = current.as_ref().and_then(revision);
    let Some(why) = failure else {
        let message = format!(
            "Deployment {}/{name} released at revision {}",
            release.namespace,
            shown(&current_revision)
        );
        info!("{message}");
        return Ok(DeployOutput {
            name,
            outcome: "released".into(),
            revision: current_revision,
            analysis: std::mem::take(&mut release.stages),
            message,
            ..DeployOutput::default()
        });
    };
    warn!("{why}");
    let label = format!("Deployment {}/{name}", release.namespace);
    let (Some(previous), Some(current)) = (previous, current) else {
        return Err(TaskError::failed(format!(
            "{why}; nothing rolled back: this was the first revision of {label}"
        )));
    };
    if Some(&previous) == current_revision.as_ref() {
        return Err(TaskError::failed(format!(
            "{why}; nothing rolled back: the release left {label} at its revision {previous} (same template)"
        )));
    }
    let to = previous.parse::<u64>().ok();
    let ns = Some(release.namespace.as_str());
    crate::rollout::undo(release.api, &deployments, ns, &current, to)?;
    release.wait(&name).map_err(|err| {
        TaskError::failed(format!(
            "{why}; the rollback of {label} to revision {previous} did not complete: {}",
            err.message()
        ))
    })?;
    Err(TaskError::failed(format!(
        "{why}; rolled back {label} from revision {} to revision {previous}",
        shown(&current_revision)
    )))
}

fn shown(revision: &Option<String>) -> &str {
    revision.as_deref().unwrap_or("?")
}
