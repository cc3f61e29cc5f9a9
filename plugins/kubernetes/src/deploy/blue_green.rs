//! `blueGreen`: the new version as a second Deployment (`<name>-blue` or `<name>-green`) behind
//! a preview Service; once it is ready and its analysis passed, the active Service's selector
//! switches to its color. The old color keeps running for `scaleDownDelay`, then goes to zero
//! replicas. A failure leaves the active Service as it was and removes the new color.

use serde_json::json;
use sluice_plugin::{TaskError, info, warn};

use super::release::{Release, revision, service_variant, variant};
use super::{DeployConfig, DeployOutput};

/// The pod label that tells the colors apart, and that the active Service selects.
pub const COLOR_LABEL: &str = "sluice.dev/color";

pub fn run(release: &mut Release<'_>, config: &DeployConfig) -> Result<DeployOutput, TaskError> {
    let service_name = config.service.clone().ok_or_else(|| {
        TaskError::invalid_config("service: blueGreen needs the Service that serves the release")
    })?;
    let (deployments, services) = (release.deployments.clone(), release.services.clone());
    let active = release.get(&services, &service_name)?.ok_or_else(|| {
        TaskError::failed(format!(
            "Service {}/{service_name} does not exist: include it in the manifests",
            release.namespace
        ))
    })?;
    let active_color = active["spec"]["selector"][COLOR_LABEL].as_str().map(str::to_string);
    let new_color = if active_color.as_deref() == Some("blue") { "green" } else { "blue" };
    let name = release.name.clone();
    let new_name = format!("{name}-{new_color}");
    let old_name = match &active_color {
        Some(color) => Some(format!("{name}-{color}")),
        None => {
            let plain = release.get(&deployments, &name)?.map(|_| name.clone());
            if plain.is_some() {
                warn!(
                    "Service {service_name} selects no color yet: until the switch it also sends traffic to {new_name}"
                );
            }
            plain
        }
    };
    let manifest = release.manifest.take().ok_or_else(|| TaskError::failed("no Deployment to release"))?;
    release.apply_owned(variant(&manifest.object, &new_name, (COLOR_LABEL, new_color), None))?;
    let preview =
        config.blue_green.preview_service.clone().unwrap_or_else(|| format!("{service_name}-preview"));
    release.apply_owned(service_variant(&active, &preview, (COLOR_LABEL, new_color)))?;
    let failure = match release.wait(&new_name) {
        Ok(_) => release
            .analyze(&config.analysis, "blueGreen pre-promotion")?
            .map(|why| format!("the pre-promotion analysis failed: {why}")),
        Err(err) => Some(format!("the rollout of {new_name} failed: {}", err.message())),
    };
    if let Some(why) = failure {
        warn!("{why}");
        release.delete(&deployments, &new_name)?;
        let serving =
            active_color.map_or("the previous version".to_string(), |c| format!("{c} ({name}-{c})"));
        return Err(TaskError::failed(format!(
            "{why}; rolled back: Service {service_name} still serves {serving}, and Deployment {new_name} was removed"
        )));
    }
    release.patch(&services, &service_name, &json!({"spec": {"selector": {COLOR_LABEL: new_color}}}))?;
    info!("Service {service_name} now serves {new_color} ({new_name})");
    if let Some(old) = old_name.filter(|old| *old != new_name) {
        let delay =
            crate::duration(config.blue_green.scale_down_delay.as_deref(), "blueGreen.scaleDownDelay", 30)?;
        info!("keeping {old} for {} before scaling it down", humantime::format_duration(delay));
        std::thread::sleep(delay);
        release.scale(&old, 0)?;
    }
    let released = release.get(&deployments, &new_name)?;
    let message = format!("{new_color} ({new_name}) released and serving behind Service {service_name}");
    Ok(DeployOutput {
        name: new_name,
        outcome: "released".into(),
        revision: released.as_ref().and_then(revision),
        active_color: Some(new_color.to_string()),
        analysis: std::mem::take(&mut release.stages),
        message,
        ..DeployOutput::default()
    })
}
