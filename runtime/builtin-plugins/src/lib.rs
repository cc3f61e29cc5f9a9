//! The first-party plugin components, compiled from `plugins/` at build time and embedded in the
//! `sluice` binary so that `cargo run` needs no extra step.

/// A plugin component shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// The plugin's name, the prefix of its task types.
    pub name: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

/// `core`: log, http, fail, assert.
pub const CORE: BuiltinPlugin =
    BuiltinPlugin { name: "core", wasm: include_bytes!(env!("SLUICE_PLUGIN_CORE_WASM")) };

/// `git`: clone and push over smart HTTP.
pub const GIT: BuiltinPlugin =
    BuiltinPlugin { name: "git", wasm: include_bytes!(env!("SLUICE_PLUGIN_GIT_WASM")) };

/// `docker`: build, run, tag, push and pull through a granted Docker Engine.
pub const DOCKER: BuiltinPlugin =
    BuiltinPlugin { name: "docker", wasm: include_bytes!(env!("SLUICE_PLUGIN_DOCKER_WASM")) };

/// `kubernetes`: apply, deploy (rolling, blue-green, canary), rollout, get, delete and logs.
pub const KUBERNETES: BuiltinPlugin =
    BuiltinPlugin { name: "kubernetes", wasm: include_bytes!(env!("SLUICE_PLUGIN_KUBERNETES_WASM")) };

/// `notify`: Slack, Teams, Discord, PagerDuty, signed webhooks and email.
pub const NOTIFY: BuiltinPlugin =
    BuiltinPlugin { name: "notify", wasm: include_bytes!(env!("SLUICE_PLUGIN_NOTIFY_WASM")) };

/// `jira`: create issues, transition them, comment and search (Jira Cloud REST v3).
pub const JIRA: BuiltinPlugin =
    BuiltinPlugin { name: "jira", wasm: include_bytes!(env!("SLUICE_PLUGIN_JIRA_WASM")) };

/// `servicenow`: create, update and read records through the Table API.
pub const SERVICENOW: BuiltinPlugin =
    BuiltinPlugin { name: "servicenow", wasm: include_bytes!(env!("SLUICE_PLUGIN_SERVICENOW_WASM")) };

/// `jenkins`: trigger a job, follow it to its result with its console in the log.
pub const JENKINS: BuiltinPlugin =
    BuiltinPlugin { name: "jenkins", wasm: include_bytes!(env!("SLUICE_PLUGIN_JENKINS_WASM")) };

/// `gate`: quality gates on JUnit test reports, coverage (lcov, Cobertura, JaCoCo) and SARIF.
pub const GATE: BuiltinPlugin =
    BuiltinPlugin { name: "gate", wasm: include_bytes!(env!("SLUICE_PLUGIN_GATE_WASM")) };

/// Every first-party plugin.
pub const ALL: &[BuiltinPlugin] = &[CORE, GIT, DOCKER, KUBERNETES, NOTIFY, JIRA, SERVICENOW, JENKINS, GATE];
