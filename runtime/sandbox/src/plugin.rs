//! A loaded plugin: its digest, what it describes, its pre-linked instance template and the
//! compiled JSON Schemas of its tasks.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::bindings::PluginPre;
use crate::bindings::exports::sluice::plugin::task as wit;
use crate::bindings::sluice::plugin::types::Capability as WitCapability;
use crate::cache::CompiledFrom;
use crate::capabilities::network::OriginPattern;
use crate::error::{LoadError, RunError};
use crate::state::RunState;

/// A component's identity: `sha256:<hex>` of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::{Digest as _, Sha256};
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The hex part, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A capability a task may need (what the component declares, not what is granted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum Capability {
    /// Outbound HTTP to the origin of the URL in this config field.
    NetworkFromConfig(String),
    /// Outbound HTTP to origins matching this pattern.
    Network(String),
    /// The Docker Engine API.
    Docker,
    /// This environment variable.
    Env(String),
    /// This secret.
    Secret(String),
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::NetworkFromConfig(field) => {
                write!(f, "network to the origin in config field `{field}`")
            }
            Capability::Network(pattern) => write!(f, "network to {pattern}"),
            Capability::Docker => f.write_str("docker"),
            Capability::Env(name) => write!(f, "environment variable {name}"),
            Capability::Secret(name) => write!(f, "secret {name}"),
        }
    }
}

/// One task as the plugin describes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// Name within the plugin (`http` of `core.http`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its config.
    pub config_schema: serde_json::Value,
    /// JSON Schema of its outputs.
    pub output_schema: serde_json::Value,
    /// Capabilities it may need.
    pub capabilities: Vec<Capability>,
}

/// What a plugin describes about itself.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The plugin's name, the prefix of its task types.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One sentence about it.
    pub description: String,
    /// Its tasks.
    pub tasks: Vec<TaskInfo>,
}

impl TaskInfo {
    /// The network grants this task gets without the flow asking: for each
    /// `network-from-config` capability, the origin of the URL in that config field (when the
    /// field is set). A field that holds something other than an absolute http(s) URL is an
    /// error that names the field.
    pub fn implied_network_grants(&self, config: &serde_json::Value) -> Result<Vec<OriginPattern>, RunError> {
        let mut grants = Vec::new();
        for capability in &self.capabilities {
            let Capability::NetworkFromConfig(field) = capability else { continue };
            match config.get(field) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(url)) => grants.push(
                    OriginPattern::origin_of_url(url)
                        .map_err(|e| RunError::InvalidConfig(format!("at /{field}: {e}")))?,
                ),
                Some(other) => {
                    return Err(RunError::InvalidConfig(format!(
                        "at /{field}: expected a URL string, got {other}"
                    )));
                }
            }
        }
        Ok(grants)
    }
}

impl PluginInfo {
    /// The task of that name.
    pub fn task(&self, name: &str) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// A plugin ready to run: compiled, linked, described.
pub struct Plugin {
    pub(crate) digest: Digest,
    pub(crate) info: PluginInfo,
    pub(crate) pre: PluginPre<RunState>,
    pub(crate) schemas: BTreeMap<String, TaskSchemas>,
    pub(crate) compiled_from: CompiledFrom,
    /// Whether the component imports the `context` interface.
    pub(crate) reads_context: bool,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.digest)
            .field("name", &self.info.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// What the plugin describes about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Whether the component imports the `context` interface: a run of one that does not is
    /// never asked for its execution, so the host need not build the document.
    pub fn reads_execution_context(&self) -> bool {
        self.reads_context
    }

    /// Whether its native code was compiled now or read from the disk cache.
    pub fn compiled_from(&self) -> CompiledFrom {
        self.compiled_from
    }

    /// Checks a config against the task's schema, as the host does before every run.
    pub fn check_config(&self, task: &str, config: &serde_json::Value) -> Result<(), RunError> {
        let schemas = self.task_schemas(task)?;
        schemas.config.check(config).map_err(RunError::InvalidConfig)
    }

    pub(crate) fn task_schemas(&self, task: &str) -> Result<&TaskSchemas, RunError> {
        self.schemas.get(task).ok_or_else(|| RunError::UnknownTask {
            plugin: self.info.name.clone(),
            task: task.to_string(),
            known: self.info.tasks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// A task's compiled config and output schemas.
pub(crate) struct TaskSchemas {
    pub(crate) config: Schema,
    pub(crate) output: Schema,
}

pub(crate) struct Schema(jsonschema::Validator);

impl Schema {
    fn compile(what: &str, schema: &serde_json::Value) -> Result<Schema, LoadError> {
        jsonschema::validator_for(schema)
            .map(Schema)
            .map_err(|e| LoadError::Describe(format!("{what} is not a usable JSON Schema: {e}")))
    }

    /// Every violation, as `at <json pointer>: <message>` lines (`at /` for the root).
    pub(crate) fn check(&self, value: &serde_json::Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .0
            .iter_errors(value)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("at {}: {e}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

/// Converts what `describe` returned, rejecting unusable descriptions with a clear reason.
pub(crate) fn convert_info(
    raw: wit::PluginInfo,
) -> Result<(PluginInfo, BTreeMap<String, TaskSchemas>), LoadError> {
    let bad = |m: String| LoadError::Describe(m);
    if !is_name(&raw.name) {
        return Err(bad(format!("plugin name `{}` must be lower-case letters, digits and `-`", raw.name)));
    }
    let mut tasks = Vec::with_capacity(raw.tasks.len());
    let mut schemas = BTreeMap::new();
    for task in raw.tasks {
        if !is_name(&task.name) {
            return Err(bad(format!("task name `{}` must be lower-case letters, digits and `-`", task.name)));
        }
        let parse = |what: &str, text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| bad(format!("task `{}`: the {what} schema is not JSON: {e}", task.name)))
        };
        let config_schema = parse("config", &task.config_schema)?;
        let output_schema = parse("output", &task.output_schema)?;
        let compiled = TaskSchemas {
            config: Schema::compile(&format!("task `{}`: the config schema", task.name), &config_schema)?,
            output: Schema::compile(&format!("task `{}`: the output schema", task.name), &output_schema)?,
        };
        if schemas.insert(task.name.clone(), compiled).is_some() {
            return Err(bad(format!("task `{}` is described twice", task.name)));
        }
        tasks.push(TaskInfo {
            name: task.name,
            description: task.description,
            config_schema,
            output_schema,
            capabilities: task.capabilities.into_iter().map(convert_capability).collect(),
        });
    }
    let info = PluginInfo { name: raw.name, version: raw.version, description: raw.description, tasks };
    Ok((info, schemas))
}

fn convert_capability(c: WitCapability) -> Capability {
    match c {
        WitCapability::NetworkFromConfig(f) => Capability::NetworkFromConfig(f),
        WitCapability::Network(p) => Capability::Network(p),
        WitCapability::Docker => Capability::Docker,
        WitCapability::Env(n) => Capability::Env(n),
        WitCapability::Secret(n) => Capability::Secret(n),
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(capabilities: Vec<Capability>) -> TaskInfo {
        TaskInfo {
            name: "http".into(),
            description: String::new(),
            config_schema: json!({}),
            output_schema: json!({}),
            capabilities,
        }
    }

    #[test]
    fn network_from_config_grants_the_urls_origin() {
        let http = task(vec![Capability::NetworkFromConfig("url".into()), Capability::Docker]);
        let grants =
            http.implied_network_grants(&json!({"url": "https://api.example.com:8443/v1?x=1"})).unwrap();
        assert_eq!(grants.len(), 1);
        assert!(grants[0].allows("https", "api.example.com", 8443));
        assert!(!grants[0].allows("https", "api.example.com", 443));
        assert!(http.implied_network_grants(&json!({})).unwrap().is_empty());
        assert_eq!(
            http.implied_network_grants(&json!({"url": 5})).unwrap_err(),
            RunError::InvalidConfig("at /url: expected a URL string, got 5".into())
        );
        assert!(matches!(
            http.implied_network_grants(&json!({"url": "ftp://x"})).unwrap_err(),
            RunError::InvalidConfig(m) if m.starts_with("at /url: invalid network grant")
        ));
        assert!(task(vec![]).implied_network_grants(&json!({"url": "https://x"})).unwrap().is_empty());
    }
}
