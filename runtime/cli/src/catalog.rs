//! The installed plugins: the first-party ones embedded in the binary, then every `*.wasm` in
//! `<data-dir>/plugins/`, loaded into one sandbox.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sluice_sandbox::{DockerEndpoint, Plugin, Sandbox, SandboxConfig};

/// Where a plugin came from.
#[derive(Debug, Clone)]
pub enum Origin {
    Builtin,
    File(PathBuf),
}

pub struct Catalog {
    /// The sandbox the plugins were loaded into; runs must use this one.
    pub sandbox: Arc<Sandbox>,
    pub plugins: Vec<(Arc<Plugin>, Origin)>,
}

impl Catalog {
    /// A sandbox with the component cache under `data_dir`, and no plugins yet.
    pub fn sandbox(data_dir: &Path) -> anyhow::Result<Sandbox> {
        Self::sandbox_with(data_dir, DockerEndpoint::default())
    }

    /// [`Catalog::sandbox`] whose `docker` runs reach the daemon at `docker`.
    fn sandbox_with(data_dir: &Path, docker: DockerEndpoint) -> anyhow::Result<Sandbox> {
        let config = SandboxConfig {
            cache_dir: Some(data_dir.join("cache").join("components")),
            max_concurrent_runs: 64,
            docker,
            ..SandboxConfig::default()
        };
        Sandbox::new(config).context("starting the sandbox")
    }

    /// Loads every installed plugin. Two plugins of the same name are an error: task types
    /// must resolve to one component.
    pub async fn load(data_dir: &Path) -> anyhow::Result<Catalog> {
        Self::load_with(data_dir, DockerEndpoint::default(), None).await
    }

    /// [`Catalog::load`] for commands that run tasks: `docker` runs reach the daemon at `docker`.
    /// `only_builtins`: load just these built-in plugins (a one-shot run of a flow that uses
    /// nothing else), None for all of them. Plugin files are always loaded.
    pub async fn load_with(
        data_dir: &Path,
        docker: DockerEndpoint,
        only_builtins: Option<&BTreeSet<String>>,
    ) -> anyhow::Result<Catalog> {
        let sandbox = Arc::new(Self::sandbox_with(data_dir, docker)?);
        // Concurrently: each load hashes, reads and deserializes a component on its thread, and
        // a one-shot `sluice run` waits for all of them before its first task.
        let loads: Vec<_> = sluice_builtin_plugins::ALL
            .iter()
            .filter(|builtin| only_builtins.is_none_or(|only| only.contains(builtin.name)))
            .map(|builtin| {
                let sandbox = sandbox.clone();
                tokio::spawn(async move {
                    sandbox
                        .load(builtin.wasm)
                        .await
                        .with_context(|| format!("loading the built-in plugin `{}`", builtin.name))
                })
            })
            .collect();
        let mut plugins = Vec::new();
        for load in loads {
            plugins.push((load.await.context("loading a built-in plugin")??, Origin::Builtin));
        }
        for path in plugin_files(&data_dir.join("plugins"))? {
            let plugin = load_file(&sandbox, &path).await?;
            if let Some((_, other)) = plugins.iter().find(|(p, _)| p.info().name == plugin.info().name) {
                anyhow::bail!(
                    "{} is plugin `{}`, which is already installed ({}); remove one of them",
                    path.display(),
                    plugin.info().name,
                    describe_origin(other)
                );
            }
            plugins.push((plugin, Origin::File(path)));
        }
        Ok(Catalog { sandbox, plugins })
    }

    pub fn find(&self, name: &str) -> Option<&(Arc<Plugin>, Origin)> {
        self.plugins.iter().find(|(p, _)| p.info().name == name)
    }
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

/// The Docker Engine for `--docker-host URL`, else `$DOCKER_HOST`, else the default socket.
pub fn docker_endpoint(flag: Option<&str>) -> anyhow::Result<DockerEndpoint> {
    let from_env = std::env::var("DOCKER_HOST").ok().filter(|value| !value.is_empty());
    match flag.map(str::to_string).or(from_env) {
        Some(text) => text.parse().map_err(anyhow::Error::from),
        None => Ok(DockerEndpoint::default()),
    }
}

pub fn describe_origin(origin: &Origin) -> String {
    match origin {
        Origin::Builtin => "built in".to_string(),
        Origin::File(path) => path.display().to_string(),
    }
}

/// Reads and loads one component file.
pub async fn load_file(sandbox: &Sandbox, path: &Path) -> anyhow::Result<Arc<Plugin>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    sandbox.load(&bytes).await.with_context(|| format!("loading {}", path.display()))
}

fn plugin_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// What flow validation needs to know about the installed plugins.
impl sluice_flow::TaskCatalog for Catalog {
    fn plugins(&self) -> Vec<String> {
        self.plugins.iter().map(|(p, _)| p.info().name.clone()).collect()
    }

    fn tasks_of(&self, plugin: &str) -> Option<Vec<String>> {
        let (plugin, _) = self.find(plugin)?;
        Some(plugin.info().tasks.iter().map(|t| t.name.clone()).collect())
    }

    fn task(&self, plugin: &str, task: &str) -> Option<sluice_flow::CatalogTask> {
        let (plugin, _) = self.find(plugin)?;
        let info = plugin.info().task(task)?;
        Some(sluice_flow::CatalogTask {
            digest: plugin.digest().hex().to_string(),
            description: info.description.clone(),
            config_schema: info.config_schema.clone(),
            output_schema: info.output_schema.clone(),
        })
    }
}

/// How long the workspaces of finished executions are kept, unless
/// `$SLUICE_WORKSPACE_RETENTION` says otherwise.
const WORKSPACE_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The variable that sets the workspace retention: a duration (`7d`, `12h`, `PT30M`; `0s`
/// removes a workspace at the first sweep after its execution ended) or `never`.
pub const WORKSPACE_RETENTION_VAR: &str = "SLUICE_WORKSPACE_RETENTION";

/// The workspace retention: [`WORKSPACE_RETENTION_VAR`] when set, else 7 days; None keeps
/// workspaces forever. The error names the variable and what it accepts.
pub fn workspace_retention() -> anyhow::Result<Option<std::time::Duration>> {
    let Some(text) = std::env::var_os(WORKSPACE_RETENTION_VAR) else {
        return Ok(Some(WORKSPACE_RETENTION));
    };
    let text = text.to_string_lossy();
    if text.trim().eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    sluice_flow::duration::parse_duration(&text).map(Some).map_err(|reason| {
        anyhow::anyhow!(
            "${WORKSPACE_RETENTION_VAR}=`{text}` is not a duration ({reason}); \
             write one like `7d`, `12h` or `PT30M`, or `never` to keep workspaces"
        )
    })
}

/// How often expired workspaces are looked for (by the server, and by `sluice run`s sharing a
/// data dir).
pub const WORKSPACE_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The engine over the loaded plugins' sandbox, with its store and workspaces under
/// `state_dir`. One place for `sluice run` and `sluice server`.
pub fn engine(
    catalog: &Catalog,
    plugins: sluice_engine::scheduler::Plugins,
    store: Arc<sluice_store::SqliteStore>,
    state_dir: &Path,
) -> sluice_engine::scheduler::Engine<sluice_store::SqliteStore> {
    sluice_engine::scheduler::Engine::new(
        store,
        catalog.sandbox.clone(),
        plugins,
        Arc::new(sluice_engine::scheduler::EnvSecrets),
        sluice_engine::scheduler::EngineConfig {
            workspaces: state_dir.join("workspaces"),
            // Checked when the command started (`main`), so only a valid value gets here.
            workspace_retention: workspace_retention().unwrap_or(Some(WORKSPACE_RETENTION)),
            limits: sluice_sandbox::Limits::default(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::builtins_needed;

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
}
