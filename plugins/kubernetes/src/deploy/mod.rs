//! `kubernetes.deploy`: a release with a strategy that keeps it safe. `rolling` updates the
//! Deployment in place and undoes it when the rollout or the analysis fails; `blueGreen` brings
//! the new version up beside the old and switches the Service only after the analysis passed;
//! `canary` shifts traffic step by step (replica ratio, or a Gateway API HTTPRoute's weights),
//! analysing as it goes, and rolls back by itself when the analysis fails.

pub mod analysis;
mod blue_green;
mod canary;
mod release;
mod rolling;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sluice_plugin::{Capability, Task, TaskError};

use crate::api::Api;
use crate::cluster::Connection;
use crate::source::Source;
use analysis::{Analysis, Verdict};
pub use release::Release;

pub struct DeployTask;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Canary,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start a release (the default).
    #[default]
    Start,
    /// Continue a canary stopped at an indefinite `pause` step.
    Promote,
    /// Roll a paused canary back.
    Abort,
}

/// Blue-green settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreen {
    /// The Service that serves the new color before the switch (default `<service>-preview`).
    #[serde(default)]
    pub preview_service: Option<String>,
    /// How long the old color keeps running after the switch, for a fast way back (default
    /// `30s`); then it is scaled to zero.
    #[serde(default)]
    pub scale_down_delay: Option<String>,
}

/// Canary settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Canary {
    /// The steps, in order: `{setWeight: 20}`, `{pause: 30s}`, `{pause: {}}` (until a
    /// `promote`), `{analysis: {...}}`.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// `replicas` (the default: the weight is the canary's share of the pods behind the
    /// Service) or `gatewayApi` (the weights of an HTTPRoute's backendRefs).
    #[serde(default)]
    pub traffic_routing: TrafficRouting,
    /// With `gatewayApi`: the HTTPRoute whose backendRefs carry the weights.
    #[serde(default)]
    pub http_route: Option<String>,
    /// With `gatewayApi`: the Service of the canary pods (default `<service>-canary`).
    #[serde(default)]
    pub canary_service: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TrafficRouting {
    #[default]
    Replicas,
    GatewayApi,
}

/// One canary step.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Step {
    /// The canary's share of the traffic, in percent.
    SetWeight(u32),
    /// Wait: a duration (`30s`), or `{}` to stop until a `promote` (or `abort`) task.
    Pause(Pause),
    /// Check the canary; a failure rolls the release back.
    Analysis(Analysis),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Pause {
    For(String),
    Indefinite {},
}

/// Config of `kubernetes.deploy`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DeployConfig {
    /// `start` (the default), or `promote` / `abort` a canary stopped at a pause.
    #[serde(default)]
    pub action: Action,
    /// `rolling`, `blueGreen` or `canary` (needed to `start`).
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// The manifests: exactly one Deployment (the release), and any objects it needs
    /// (Services, ConfigMaps, an HTTPRoute), applied first.
    #[serde(flatten)]
    pub source: Source,
    /// The Deployment's name (`promote` and `abort` need it; `start` reads it from the
    /// manifests).
    #[serde(default)]
    pub name: Option<String>,
    /// The Service that carries the release's traffic (needed by `blueGreen` and `canary`).
    #[serde(default)]
    pub service: Option<String>,
    /// `rolling`: checked after the rollout; `blueGreen`: checked against the preview before
    /// the switch.
    #[serde(default)]
    pub analysis: Analysis,
    #[serde(default)]
    pub blue_green: BlueGreen,
    #[serde(default)]
    pub canary: Canary,
    /// How long one rollout may take (`5m`, the default).
    #[serde(default)]
    pub rollout_timeout: Option<String>,
    /// The field manager of the applied objects.
    #[serde(default = "crate::apply::default_field_manager")]
    pub field_manager: String,
    #[serde(flatten)]
    pub connection: Connection,
}

/// An analysis and where in the release it ran.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub stage: String,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Outputs of `kubernetes.deploy`.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployOutput {
    /// The Deployment released (for blue-green: the new color's).
    pub name: String,
    /// `released` or `paused` (a canary waiting for `promote`); a failed release and an
    /// `abort` fail the task instead, saying what was rolled back.
    pub outcome: String,
    /// The Deployment's revision after the release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Blue-green: the color now serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_color: Option<String>,
    /// Canary: the weight when the task ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<u32>,
    /// Every analysis run, with its samples.
    pub analysis: Vec<Stage>,
    pub message: String,
}

impl Task for DeployTask {
    const NAME: &'static str = "deploy";
    const DESCRIPTION: &'static str = "Releases one Deployment with a `strategy`: `rolling` \
        (update, wait, analyse, undo on failure), `blueGreen` (a second color behind a preview \
        Service, analysed, then the Service switched; the old color scaled down after \
        `scaleDownDelay`), or `canary` (`steps` of setWeight, pause and analysis, by replica \
        ratio or a Gateway API HTTPRoute's weights). A failed rollout or analysis rolls back by \
        itself and fails the task saying which check failed, with its values, and what was \
        rolled back.";
    type Config = DeployConfig;
    type Output = DeployOutput;

    fn capabilities() -> Vec<Capability> {
        vec![Capability::network_from_config("server")]
    }

    fn run(config: DeployConfig) -> Result<DeployOutput, TaskError> {
        let api = Api::connect(&config.connection)?;
        match config.action {
            Action::Start => {
                let strategy = config.strategy.ok_or_else(|| {
                    TaskError::invalid_config(
                        "strategy: give `rolling`, `blueGreen` or `canary` to start a release",
                    )
                })?;
                let mut release = Release::prepare(&api, &config)?;
                match strategy {
                    Strategy::Rolling => rolling::run(&mut release, &config),
                    Strategy::BlueGreen => blue_green::run(&mut release, &config),
                    Strategy::Canary => canary::start(&mut release, &config),
                }
            }
            Action::Promote | Action::Abort => {
                let mut release = Release::resume(&api, &config)?;
                canary::resume(&mut release, &config, config.action == Action::Promote)
            }
        }
    }
}
