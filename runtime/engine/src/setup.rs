//! An engine set up the way `sluice run` and `sluice server` run one: a sandbox with its
//! compiled-component cache under the data dir, the built-in plugins and every
//! `<data-dir>/plugins/*.wasm` loaded into it, and the engine over them. Front ends choose the
//! directories and print; what gets installed, and how, is decided here.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sluice_sandbox::{DockerEndpoint, DockerEndpointError, LoadError, Plugin, Sandbox, SandboxConfig};

use crate::scheduler::{Engine, EngineConfig, EnvSecrets, Plugins};
use crate::store::Store;

/// Where an installed plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the binary (or handed over as bytes by whoever builds the engine).
    Builtin,
    /// A component file.
    File(PathBuf),
    /// Deployed to every node through the store (`POST /api/v1/plugins`).
    Deployed,
}

/// `built-in`, or the file's path: the `source` of a plugin in every listing. Padded (`{:<10}`)
/// like a string, for tables.
impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.pad("built-in"),
            Origin::File(path) => f.pad(&path.display().to_string()),
            Origin::Deployed => f.pad("deployed"),
        }
    }
}

/// Two installed plugins with one name: a task type must resolve to one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePlugin {
    pub name: String,
    /// The one installed first.
    pub first: Origin,
    /// The one refused.
    pub second: Origin,
}

impl fmt::Display for DuplicatePlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let second = match &self.second {
            Origin::Builtin => "a built-in component".to_owned(),
            Origin::File(path) => path.display().to_string(),
            Origin::Deployed => "a deployed component".to_owned(),
        };
        write!(
            f,
            "{second} is plugin `{}`, which is already installed ({}); remove one of them",
            self.name, self.first
        )
    }
}

impl std::error::Error for DuplicatePlugin {}

/// Why the engine could not be set up. Each names what was being done; the cause is its source.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("starting the sandbox")]
    Sandbox(#[source] LoadError),
    #[error("loading the built-in plugin `{name}`")]
    Builtin {
        name: &'static str,
        #[source]
        error: LoadError,
    },
    #[error("loading a built-in plugin")]
    Join(#[source] tokio::task::JoinError),
    #[error("reading {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("loading {}", .path.display())]
    Load {
        path: PathBuf,
        #[source]
        error: LoadError,
    },
    #[error(transparent)]
    Duplicate(#[from] DuplicatePlugin),
    #[error(transparent)]
    Docker(#[from] DockerEndpointError),
    #[error(
        "${var}=`{text}` is not a duration ({reason}); write one like `7d`, `12h` or `PT30M`, or `never` to keep workspaces",
        var = WORKSPACE_RETENTION_VAR
    )]
    Retention { text: String, reason: String },
    #[error(
        "the public URL `{0}` is not an absolute http(s) URL without query or fragment; give one like `https://sluice.example.com` (--public-url or ${var})",
        var = PUBLIC_URL_VAR
    )]
    PublicUrl(String),
}

/// The installed plugins loaded into their sandbox: what flows are validated against, and what
/// [`EngineBuilder::build`] makes the engine of (runs must use the sandbox they were loaded in).
pub struct EngineBuilder {
    sandbox: Arc<Sandbox>,
    plugins: Plugins,
    public_url: Option<String>,
    node: Option<String>,
    workspace_snapshots: bool,
    runs_executions: bool,
    worker_tags: Vec<String>,
    max_executions: Option<usize>,
}

impl EngineBuilder {
    /// Every installed plugin, for commands that only look at them.
    pub async fn load(data_dir: &Path) -> Result<Self, SetupError> {
        Self::load_with(data_dir, DockerEndpoint::default(), None).await
    }

    /// [`EngineBuilder::load`] for running tasks: `docker` runs reach the daemon at `docker`.
    /// `only_builtins`: load just these built-in plugins (a one-shot run of a flow that uses
    /// nothing else, see [`builtins_needed`]), None for all of them. Plugin files are always
    /// loaded.
    pub async fn load_with(
        data_dir: &Path,
        docker: DockerEndpoint,
        only_builtins: Option<&BTreeSet<String>>,
    ) -> Result<Self, SetupError> {
        let sandbox = Arc::new(sandbox(data_dir, docker)?);
        // Concurrently: each load hashes, reads and deserializes a component on its thread, and
        // a one-shot `sluice run` waits for all of them before its first task.
        let loads: Vec<_> = sluice_builtin_plugins::ALL
            .iter()
            .filter(|builtin| only_builtins.is_none_or(|only| only.contains(builtin.name)))
            .map(|builtin| {
                let sandbox = sandbox.clone();
                tokio::spawn(async move {
                    let name = builtin.name;
                    sandbox.load(builtin.wasm).await.map_err(|error| SetupError::Builtin { name, error })
                })
            })
            .collect();
        let mut installed = Vec::new();
        for load in loads {
            installed.push((load.await.map_err(SetupError::Join)??, Origin::Builtin));
        }
        for path in plugin_files(&data_dir.join("plugins"))? {
            installed.push((load_file(&sandbox, &path).await?, Origin::File(path)));
        }
        Ok(Self {
            plugins: Plugins::new(installed)?,
            sandbox,
            public_url: None,
            node: None,
            workspace_snapshots: false,
            runs_executions: true,
            worker_tags: Vec::new(),
            max_executions: None,
        })
    }

    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// The server's public URL, under which tasks are told their execution's URL (see
    /// [`EngineConfig::public_url`]).
    pub fn public_url(mut self, public_url: Option<String>) -> Self {
        self.public_url = public_url;
        self
    }

    /// The node the engine holds its leases under (see [`EngineConfig::node`]); without one,
    /// a fresh one of its own ([`crate::node::run_node`]).
    pub fn node(mut self, node: String) -> Self {
        self.node = Some(node);
        self
    }

    /// Records workspaces in the store at task boundaries, for takeovers on other machines
    /// (see [`EngineConfig::workspace_snapshots`]).
    pub fn workspace_snapshots(mut self, on: bool) -> Self {
        self.workspace_snapshots = on;
        self
    }

    /// Hands every execution to the nodes that run them instead of driving any here (a server
    /// started with `--api-only`, see [`EngineConfig::runs_executions`]).
    pub fn api_only(mut self, api_only: bool) -> Self {
        self.runs_executions = !api_only;
        self
    }

    /// The worker tags this node holds (see [`EngineConfig::worker_tags`]).
    pub fn worker_tags(mut self, mut tags: Vec<String>) -> Self {
        tags.sort();
        tags.dedup();
        self.worker_tags = tags;
        self
    }

    /// At most this many claimed executions driven at once (see
    /// [`EngineConfig::max_executions`]).
    pub fn max_executions(mut self, max: Option<usize>) -> Self {
        self.max_executions = max;
        self
    }

    /// The engine on `store`, with its workspaces under `state_dir`, secrets from the
    /// environment, and the workspace retention of [`workspace_retention`].
    pub fn build<S: Store>(self, store: Arc<S>, state_dir: &Path) -> Result<Engine<S>, SetupError> {
        let node = self.node.unwrap_or_else(crate::node::run_node);
        let config = EngineConfig {
            workspace_retention: workspace_retention()?,
            public_url: self.public_url,
            workspace_snapshots: self.workspace_snapshots,
            runs_executions: self.runs_executions,
            worker_tags: self.worker_tags,
            max_executions: self.max_executions,
            ..EngineConfig::new(state_dir.join("workspaces"), &node)
        };
        Ok(Engine::new(store, self.sandbox, self.plugins, Arc::new(EnvSecrets), config))
    }
}

/// A sandbox with the component cache under `data_dir`, and no plugins yet; its `docker` runs
/// reach the daemon at `docker`.
pub fn sandbox(data_dir: &Path, docker: DockerEndpoint) -> Result<Sandbox, SetupError> {
    let config = SandboxConfig {
        cache_dir: Some(data_dir.join("cache").join("components")),
        max_concurrent_runs: 64,
        docker,
        ..SandboxConfig::default()
    };
    Sandbox::new(config).map_err(SetupError::Sandbox)
}

/// Reads and loads one component file.
pub async fn load_file(sandbox: &Sandbox, path: &Path) -> Result<Arc<Plugin>, SetupError> {
    let bytes = std::fs::read(path).map_err(|error| SetupError::Read { path: path.to_owned(), error })?;
    sandbox.load(&bytes).await.map_err(|error| SetupError::Load { path: path.to_owned(), error })
}

/// The `*.wasm` files in `dir`, sorted; none when it does not exist.
fn plugin_files(dir: &Path) -> Result<Vec<PathBuf>, SetupError> {
    let read_error = |error| SetupError::Read { path: dir.to_owned(), error };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(read_error(err)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(read_error)?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The built-in plugins a flow needs, when that is certain: every task type names a built-in
/// plugin and no task starts a subflow (whose flow may need others). None otherwise, and for a
/// flow that does not parse, so that validation sees every plugin for its messages and hints.
pub fn builtins_needed(file_name: &str, text: &str) -> Option<BTreeSet<String>> {
    let parsed = sluice_flow::parse(file_name, text).ok()?;
    let mut needed = BTreeSet::new();
    for task in parsed.flow.all_tasks() {
        match &task.kind {
            sluice_flow::TaskKind::Plugin { task_type, .. } => {
                if !sluice_builtin_plugins::ALL.iter().any(|b| b.name == task_type.plugin) {
                    return None;
                }
                needed.insert(task_type.plugin.clone());
            }
            sluice_flow::TaskKind::Subflow { .. } => return None,
            _ => {}
        }
    }
    Some(needed)
}

/// The Docker Engine for a `--docker-host URL` flag, else `$DOCKER_HOST`, else the default
/// socket.
pub fn docker_endpoint(flag: Option<&str>) -> Result<DockerEndpoint, SetupError> {
    let from_env = std::env::var("DOCKER_HOST").ok().filter(|value| !value.is_empty());
    match flag.map(str::to_owned).or(from_env) {
        Some(text) => Ok(text.parse()?),
        None => Ok(DockerEndpoint::default()),
    }
}

/// How long the workspaces of finished executions are kept, unless
/// [`WORKSPACE_RETENTION_VAR`] says otherwise.
const WORKSPACE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The environment variable the server's public URL is read from when `--public-url` is not given.
pub const PUBLIC_URL_VAR: &str = "SLUICE_PUBLIC_URL";

/// The server's public URL from `--public-url`, else [`PUBLIC_URL_VAR`]: an absolute `http` or
/// `https` URL without query or fragment (a path prefix is kept), or None when neither is set.
pub fn public_url(flag: Option<&str>) -> Result<Option<String>, SetupError> {
    let from_env = std::env::var(PUBLIC_URL_VAR).ok().filter(|v| !v.is_empty());
    let Some(url) = flag.map(str::to_owned).or(from_env) else { return Ok(None) };
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(['?', '#', ' ']) => {
            Ok(Some(url.trim_end_matches('/').to_owned()))
        }
        _ => Err(SetupError::PublicUrl(url)),
    }
}

/// The variable that sets the workspace retention: a duration (`7d`, `12h`, `PT30M`; `0s`
/// removes a workspace at the first sweep after its execution ended) or `never`.
pub const WORKSPACE_RETENTION_VAR: &str = "SLUICE_WORKSPACE_RETENTION";

/// How often expired workspaces are looked for (by the server, and by `sluice run`s sharing a
/// data dir).
pub const WORKSPACE_SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// The workspace retention: [`WORKSPACE_RETENTION_VAR`] when set, else 7 days; None keeps
/// workspaces forever. Front ends call it before any work, to refuse a bad value up front.
pub fn workspace_retention() -> Result<Option<Duration>, SetupError> {
    let Some(text) = std::env::var_os(WORKSPACE_RETENTION_VAR) else {
        return Ok(Some(WORKSPACE_RETENTION));
    };
    let text = text.to_string_lossy();
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    sluice_flow::duration::parse_duration(&text)
        .map(Some)
        .map_err(|reason| SetupError::Retention { text: text.into_owned(), reason })
}

#[cfg(test)]
mod tests {
    use super::{DuplicatePlugin, Origin, builtins_needed, public_url};

    fn needed(tasks: &str) -> Option<Vec<String>> {
        let yaml = format!("id: f\nnamespace: t\ntasks:\n{tasks}");
        builtins_needed("f.yaml", &yaml).map(|set| set.into_iter().collect())
    }

    #[test]
    fn a_flow_of_built_in_tasks_needs_just_those_plugins() {
        let tasks = "  - id: a\n    type: core.log\n    message: hi\n  - id: b\n    type: flow.parallel\n    tasks:\n      - id: c\n        type: git.clone\n        url: http://x/r.git\n";
        assert_eq!(needed(tasks), Some(vec!["core".to_owned(), "git".to_owned()]));
        assert_eq!(needed("  - id: s\n    type: flow.sleep\n    duration: 1s\n"), Some(vec![]));
    }

    #[test]
    fn anything_uncertain_loads_every_plugin() {
        // A plugin that is not built in (a file plugin, or a typo validation should hint at).
        assert_eq!(needed("  - id: a\n    type: gti.clone\n"), None);
        // A subflow's flow may use any plugin.
        assert_eq!(needed("  - id: a\n    type: flow.subflow\n    namespace: t\n    flowId: g\n"), None);
        // A flow that does not parse gets its diagnostics with every plugin known.
        assert_eq!(builtins_needed("f.yaml", "id: [unclosed"), None);
    }

    #[test]
    fn a_duplicate_names_both_places() {
        let file = Origin::File("/data/plugins/core.wasm".into());
        let duplicate = DuplicatePlugin { name: "core".to_owned(), first: Origin::Builtin, second: file };
        assert_eq!(
            duplicate.to_string(),
            "/data/plugins/core.wasm is plugin `core`, which is already installed (built-in); remove one of them"
        );
    }

    #[test]
    fn a_public_url_is_an_absolute_http_url() {
        let ok = |flag: &str| public_url(Some(flag)).ok().flatten();
        assert_eq!(ok("https://sluice.example.com/").as_deref(), Some("https://sluice.example.com"));
        assert_eq!(ok("http://10.0.0.5:8080/ci").as_deref(), Some("http://10.0.0.5:8080/ci"));
        for bad in
            ["sluice.example.com", "ftp://x", "https://", "https:///x", "https://x/?a=1", "https://x/#top"]
        {
            let err = public_url(Some(bad)).expect_err(bad).to_string();
            assert!(
                err.starts_with(&format!("the public URL `{bad}` is not an absolute http(s) URL")),
                "{err}"
            );
        }
    }
}
