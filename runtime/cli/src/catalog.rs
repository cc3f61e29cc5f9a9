//! The installed plugins: the first-party ones embedded in the binary, then every `*.wasm` in
//! `<data-dir>/plugins/`, loaded into one sandbox.

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
        Self::load_with(data_dir, DockerEndpoint::default()).await
    }

    /// [`Catalog::load`] for commands that run tasks: `docker` runs reach the daemon at `docker`.
    pub async fn load_with(data_dir: &Path, docker: DockerEndpoint) -> anyhow::Result<Catalog> {
        let sandbox = Self::sandbox_with(data_dir, docker)?;
        let mut plugins = Vec::new();
        for builtin in sluice_builtin_plugins::ALL {
            let plugin = sandbox
                .load(builtin.wasm)
                .await
                .with_context(|| format!("loading the built-in plugin `{}`", builtin.name))?;
            plugins.push((plugin, Origin::Builtin));
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
        Ok(Catalog { sandbox: Arc::new(sandbox), plugins })
    }

    pub fn find(&self, name: &str) -> Option<&(Arc<Plugin>, Origin)> {
        self.plugins.iter().find(|(p, _)| p.info().name == name)
    }
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

/// How long the workspaces of finished executions are kept.
const WORKSPACE_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

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
            workspace_retention: Some(WORKSPACE_RETENTION),
            limits: sluice_sandbox::Limits::default(),
        },
    )
}
