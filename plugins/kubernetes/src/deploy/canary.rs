//! `canary`: the new version as `<name>-canary` beside the stable Deployment, its share of the
//! traffic set step by step: by replica ratio behind the one Service, or by the weights of an
//! HTTPRoute's backendRefs (`gatewayApi`, the stable Service pinned to the stable pods'
//! `pod-template-hash` meanwhile). At the end the stable Deployment takes the new template and
//! the canary goes. A failed analysis sets the weight back to zero, scales the canary down,
//! leaves stable as it was and fails the task. The progress lives in an annotation on the
//! canary Deployment, so an indefinite pause ends the task and a later `promote` (or `abort`)
//! task carries on from the cluster's state.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_plugin::{TaskError, info, warn};

use super::release::{Release, revision, service_variant, variant};
use super::{Canary, DeployConfig, DeployOutput, Pause, Step, TrafficRouting};

/// The pod label of the canary's pods (its Deployment's selector has it too).
pub const TRACK_LABEL: &str = "sluice.dev/track";
/// The canary Deployment's annotation holding the release's progress.
pub const STATE_ANNOTATION: &str = "sluice.dev/canary";
const HASH_LABEL: &str = "pod-template-hash";

/// Where a canary release is, kept on the canary Deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// The next step to run.
    next: usize,
    /// The stable Deployment's replicas before the release.
    replicas: i64,
    weight: u32,
    settings: Canary,
    service: Option<String>,
    /// Rolled back (a failed analysis, or `abort`): nothing is left to promote or abort.
    #[serde(default)]
    aborted: bool,
}

pub fn start(release: &mut Release<'_>, config: &DeployConfig) -> Result<DeployOutput, TaskError> {
    let settings = config.canary.clone();
    if settings.steps.is_empty() {
        return Err(TaskError::invalid_config(
            "canary.steps: a canary needs steps (setWeight, pause, analysis)",
        ));
    }
    if let Some(bad) = settings.steps.iter().find_map(|s| match s {
        Step::SetWeight(w) if *w > 100 => Some(*w),
        _ => None,
    }) {
        return Err(TaskError::invalid_config(format!("canary.steps: setWeight {bad} is over 100")));
    }
    if settings.traffic_routing == TrafficRouting::GatewayApi
        && (config.service.is_none() || settings.http_route.is_none())
    {
        return Err(TaskError::invalid_config(
            "canary: trafficRouting gatewayApi needs `service` (the stable Service) and `canary.httpRoute`",
        ));
    }
    let name = release.name.clone();
    let deployments = release.deployments.clone();
    let manifest = release.manifest.take().ok_or_else(|| TaskError::failed("no Deployment to release"))?;
    let Some(stable) = release.get(&deployments, &name)? else {
        info!(
            "Deployment {name} does not exist yet: a first release has nothing to compare with, so it goes in whole"
        );
        release.apply_owned(manifest.object)?;
        let done = release.wait(&name)?;
        return Ok(output(
            release,
            "released",
            Some(100),
            revision(&done),
            format!("first release of {name}, in whole"),
        ));
    };
    let replicas = stable["spec"]["replicas"].as_i64().unwrap_or(1).max(1);
    let state =
        State { next: 0, replicas, weight: 0, settings, service: config.service.clone(), aborted: false };
    let mut canary = variant(&manifest.object, &canary_name(&name), (TRACK_LABEL, "canary"), Some(0));
    canary["metadata"]["annotations"][STATE_ANNOTATION] =
        json!(serde_json::to_string(&state).unwrap_or_default());
    release.apply_owned(canary)?;
    if state.settings.traffic_routing == TrafficRouting::GatewayApi {
        prepare_gateway(release, &state, &stable)?;
    }
    run_steps(release, state)
}

/// `promote` or `abort` a canary stopped at an indefinite pause.
pub fn resume(
    release: &mut Release<'_>,
    _config: &DeployConfig,
    promote: bool,
) -> Result<DeployOutput, TaskError> {
    let canary_name = canary_name(&release.name);
    let canary = release.get(&release.deployments.clone(), &canary_name)?;
    let state = canary
        .as_ref()
        .and_then(|c| c["metadata"]["annotations"][STATE_ANNOTATION].as_str())
        .and_then(|text| serde_json::from_str::<State>(text).ok())
        .ok_or_else(|| {
            TaskError::failed(format!(
                "no canary of Deployment {}/{} is under way ({canary_name} has no release state)",
                release.namespace, release.name
            ))
        })?;
    if state.aborted {
        // Its template failed (or was refused): promoting it now would release it whole,
        // without a step of the canary.
        return Err(TaskError::failed(format!(
            "the canary of Deployment {}/{} was rolled back (weight 0, {canary_name} at 0 replicas): there is nothing to {}; start a new release to try again",
            release.namespace,
            release.name,
            if promote { "promote" } else { "abort" }
        )));
    }
    if promote {
        info!("promoting the canary of {} from step {}", release.name, state.next + 1);
        run_steps(release, state)
    } else {
        Err(abort(release, &state, "the release was aborted".into())?)
    }
}

fn canary_name(name: &str) -> String {
    format!("{name}-canary")
}

fn run_steps(release: &mut Release<'_>, mut state: State) -> Result<DeployOutput, TaskError> {
    let steps = state.settings.steps.clone();
    for (index, step) in steps.iter().enumerate().skip(state.next) {
        let label = format!("step {} of {}", index + 1, steps.len());
        match step {
            Step::SetWeight(weight) => {
                set_weight(release, &state, *weight)?;
                state.weight = *weight;
            }
            Step::Pause(Pause::For(text)) => {
                let delay = crate::duration(Some(text), "canary.steps.pause", 0)?;
                info!("{label}: pausing for {}", humantime::format_duration(delay));
                std::thread::sleep(delay);
            }
            Step::Pause(Pause::Indefinite {}) => {
                state.next = index + 1;
                save(release, &state)?;
                let message = format!(
                    "{label}: paused at weight {}%; a kubernetes.deploy task with `action: promote` continues, `action: abort` rolls back",
                    state.weight
                );
                info!("{message}");
                return Ok(output(release, "paused", Some(state.weight), None, message));
            }
            Step::Analysis(analysis) => {
                if let Some(why) = release.analyze(analysis, &format!("canary {label}"))? {
                    return Err(abort(release, &state, format!("the analysis at {label} failed: {why}"))?);
                }
            }
        }
    }
    finish(release, &state)
}

/// Records the progress on the canary Deployment.
fn save(release: &Release<'_>, state: &State) -> Result<(), TaskError> {
    let text = serde_json::to_string(state).map_err(|err| TaskError::failed(err.to_string()))?;
    release.patch(
        &release.deployments,
        &canary_name(&release.name),
        &json!({"metadata": {"annotations": {STATE_ANNOTATION: text}}}),
    )?;
    Ok(())
}

/// The canary's and the stable's replicas at `weight` percent of `total`.
fn split(total: i64, weight: u32) -> (i64, i64) {
    if weight == 0 {
        return (0, total);
    }
    let canary = ((total * i64::from(weight)) + 99) / 100;
    let canary = canary.clamp(1, total);
    (canary, total - canary)
}

fn set_weight(release: &Release<'_>, state: &State, weight: u32) -> Result<(), TaskError> {
    let name = &release.name;
    let canary = canary_name(name);
    let (canary_pods, stable_pods) = split(state.replicas, weight);
    match state.settings.traffic_routing {
        TrafficRouting::Replicas => {
            // Up first, then down: the Service never has fewer ready pods than before.
            release.scale(&canary, canary_pods)?;
            release.wait(&canary)?;
            release.scale(name, stable_pods)?;
            release.wait(name)?;
            info!("weight {weight}%: {canary_pods} canary and {stable_pods} stable pods behind the Service");
        }
        TrafficRouting::GatewayApi => {
            release.scale(&canary, if weight == 0 { 0 } else { canary_pods })?;
            release.wait(&canary)?;
            route_weights(release, state, weight)?;
            info!(
                "weight {weight}%: HTTPRoute {} sends {weight}% to the canary",
                state.settings.http_route.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn stable_service(state: &State) -> &str {
    state.service.as_deref().unwrap_or_default()
}

fn canary_service(state: &State) -> String {
    state.settings.canary_service.clone().unwrap_or_else(|| format!("{}-canary", stable_service(state)))
}

/// `gatewayApi`: a Service for the canary pods, and the stable Service pinned to the stable
/// pods so that it does not send traffic to the canary's, which carry the same app labels.
fn prepare_gateway(release: &Release<'_>, state: &State, stable: &Value) -> Result<(), TaskError> {
    let services = release.services.clone();
    let service = stable_service(state);
    let stable_service = release.get(&services, service)?.ok_or_else(|| {
        TaskError::failed(format!(
            "Service {}/{service} does not exist: include it in the manifests",
            release.namespace
        ))
    })?;
    release.apply_owned(service_variant(&stable_service, &canary_service(state), (TRACK_LABEL, "canary")))?;
    pin(release, state, stable)
}

/// Pins the stable Service to the pods of the stable Deployment's newest ReplicaSet.
fn pin(release: &Release<'_>, state: &State, stable: &Value) -> Result<(), TaskError> {
    let ns = Some(release.namespace.as_str());
    let replicasets = crate::rollout::owned_replicasets(release.api, ns, stable)?;
    let hash = replicasets
        .last()
        .and_then(|(_, rs)| rs["metadata"]["labels"][HASH_LABEL].as_str().map(str::to_string))
        .ok_or_else(|| {
            TaskError::failed(format!("Deployment {} has no ReplicaSet to pin its Service to", release.name))
        })?;
    release.patch(
        &release.services,
        stable_service(state),
        &json!({"spec": {"selector": {HASH_LABEL: hash}}}),
    )?;
    Ok(())
}

fn unpin(release: &Release<'_>, state: &State) -> Result<(), TaskError> {
    release.patch(
        &release.services,
        stable_service(state),
        &json!({"spec": {"selector": {HASH_LABEL: null}}}),
    )?;
    Ok(())
}

/// Sets the HTTPRoute's backendRefs: the stable Service at `100 - weight`, the canary's at
/// `weight` (added beside the stable one where a rule lacks it).
fn route_weights(release: &Release<'_>, state: &State, weight: u32) -> Result<(), TaskError> {
    let routes = crate::resources::builtin_by_name("HTTPRoute")
        .ok_or_else(|| TaskError::failed("no HTTPRoute kind"))?;
    let route_name = state.settings.http_route.clone().unwrap_or_default();
    let route = release.get(&routes, &route_name)?.ok_or_else(|| {
        TaskError::failed(format!(
            "HTTPRoute {}/{route_name} does not exist: include it in the manifests",
            release.namespace
        ))
    })?;
    let (stable, canary) = (stable_service(state).to_string(), canary_service(state));
    let mut rules = route["spec"]["rules"].as_array().cloned().unwrap_or_default();
    let mut found = false;
    for rule in &mut rules {
        let Some(refs) = rule["backendRefs"].as_array_mut() else { continue };
        let Some(port) = refs.iter().find(|r| r["name"] == stable.as_str()).map(|r| r["port"].clone()) else {
            continue;
        };
        found = true;
        refs.retain(|r| r["name"] != canary.as_str());
        for r in refs.iter_mut() {
            if r["name"] == stable.as_str() {
                r["weight"] = json!(100 - weight);
            }
        }
        refs.push(json!({"name": canary, "port": port, "weight": weight}));
    }
    if !found {
        return Err(TaskError::failed(format!(
            "HTTPRoute {route_name} has no backendRef to the stable Service {stable}"
        )));
    }
    release.patch(&routes, &route_name, &json!({"spec": {"rules": rules}}))?;
    Ok(())
}

/// The end of a good canary: stable takes the new template, the canary goes.
fn finish(release: &mut Release<'_>, state: &State) -> Result<DeployOutput, TaskError> {
    let name = release.name.clone();
    let canary = canary_name(&name);
    let deployments = release.deployments.clone();
    let canary_object =
        release.get(&deployments, &canary)?.ok_or_else(|| TaskError::failed(format!("{canary} is gone")))?;
    let mut template = canary_object["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(TRACK_LABEL);
        labels.remove(HASH_LABEL);
    }
    let gateway = state.settings.traffic_routing == TrafficRouting::GatewayApi;
    if gateway {
        route_weights(release, state, 100)?;
    }
    release.patch(
        &deployments,
        &name,
        &json!({"spec": {"template": template, "replicas": state.replicas}}),
    )?;
    let stable = release.wait(&name)?;
    if gateway {
        pin(release, state, &stable)?;
        route_weights(release, state, 0)?;
    }
    release.delete(&deployments, &canary)?;
    if gateway {
        unpin(release, state)?;
    }
    let message = format!(
        "canary promoted: Deployment {name} runs the new template at revision {}",
        revision(&stable).unwrap_or_default()
    );
    info!("{message}");
    Ok(output(release, "released", Some(100), revision(&stable), message))
}

/// Rolls a canary back and returns the task's error saying why and what was done.
fn abort(release: &mut Release<'_>, state: &State, why: String) -> Result<TaskError, TaskError> {
    warn!("{why}: rolling the canary back");
    let name = release.name.clone();
    let canary = canary_name(&name);
    if state.settings.traffic_routing == TrafficRouting::GatewayApi {
        route_weights(release, state, 0)?;
    } else {
        release.scale(&name, state.replicas)?;
        release.wait(&name)?;
    }
    release.scale(&canary, 0)?;
    release.wait(&canary)?;
    if state.settings.traffic_routing == TrafficRouting::GatewayApi {
        unpin(release, state)?;
    }
    let mut ended = state.clone();
    ended.next = state.settings.steps.len();
    ended.weight = 0;
    ended.aborted = true;
    save(release, &ended)?;
    let stable = release.get(&release.deployments.clone(), &name)?;
    Ok(TaskError::failed(format!(
        "{why}; rolled back: weight 0, Deployment {canary} scaled to 0, Deployment {name} left at revision {} with {} replicas",
        stable.as_ref().and_then(revision).unwrap_or_default(),
        state.replicas
    )))
}

fn output(
    release: &mut Release<'_>,
    outcome: &str,
    weight: Option<u32>,
    revision: Option<String>,
    message: String,
) -> DeployOutput {
    DeployOutput {
        name: release.name.clone(),
        outcome: outcome.into(),
        revision,
        canary_weight: weight,
        analysis: std::mem::take(&mut release.stages),
        message,
        ..DeployOutput::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn weights_as_replica_counts() {
        assert_eq!(split(5, 0), (0, 5));
        assert_eq!(split(5, 20), (1, 4));
        assert_eq!(split(5, 50), (3, 2));
        assert_eq!(split(4, 1), (1, 3));
        assert_eq!(split(4, 100), (4, 0));
    }

    #[test]
    fn the_state_of_a_canary_rolled_back_says_so_and_an_older_one_reads_as_under_way() {
        let older = r#"{"next":2,"replicas":4,"weight":25,"settings":{"steps":[]},"service":null}"#;
        let state: State = serde_json::from_str(older).unwrap();
        assert!(!state.aborted);
        let mut ended = state.clone();
        ended.aborted = true;
        let text = serde_json::to_string(&ended).unwrap();
        assert!(serde_json::from_str::<State>(&text).unwrap().aborted, "{text}");
    }
}
