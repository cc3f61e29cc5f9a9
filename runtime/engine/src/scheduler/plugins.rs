//! The installed plugins by name, as the scheduler dispatches to them.

use std::sync::Arc;

use sluice_sandbox::Plugin;

use crate::setup::{DuplicatePlugin, Origin};

/// Installed plugins, one per name, in the order they were installed (built-in ones first):
/// the order every listing shows them in.
#[derive(Clone, Default)]
pub struct Plugins {
    installed: Vec<(Arc<Plugin>, Origin)>,
    /// Deployed components replaced by a newer deploy of their name, kept so that executions
    /// whose flow pinned them (validated before the deploy) go on with them.
    retired: Vec<Arc<Plugin>>,
    /// One more with every change of the set, so that what was validated against an older
    /// set is validated again.
    generation: u64,
}

impl Plugins {
    /// Fails with both origins when two plugins share a name: a task type must resolve to one
    /// component.
    pub fn new(plugins: impl IntoIterator<Item = (Arc<Plugin>, Origin)>) -> Result<Self, DuplicatePlugin> {
        let mut installed: Vec<(Arc<Plugin>, Origin)> = Vec::new();
        for (plugin, origin) in plugins {
            if let Some((_, first)) = installed.iter().find(|(p, _)| p.info().name == plugin.info().name) {
                return Err(DuplicatePlugin {
                    name: plugin.info().name.clone(),
                    first: first.clone(),
                    second: origin,
                });
            }
            installed.push((plugin, origin));
        }
        Ok(Self { installed, retired: Vec::new(), generation: 0 })
    }

    /// Which set of plugins this is: it grows with every change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// This set with the deployed `plugin` in place of the one deployed under its name before
    /// (kept as retired), or added after the others.
    pub(crate) fn with_deployed(&self, plugin: Arc<Plugin>) -> Plugins {
        let mut next = self.clone();
        next.generation += 1;
        let name = plugin.info().name.clone();
        match next.installed.iter_mut().find(|(p, _)| p.info().name == name) {
            Some(slot) => {
                let old = std::mem::replace(slot, (plugin, Origin::Deployed));
                next.retired.push(old.0);
            }
            None => next.installed.push((plugin, Origin::Deployed)),
        }
        next
    }

    /// The plugin `name` with the component of `digest` (hex), the installed one or one it
    /// replaced; any version when `digest` is None.
    pub fn with_digest(&self, name: &str, digest: Option<&str>) -> Option<&Arc<Plugin>> {
        let current = self.get(name);
        match digest {
            None => current,
            Some(digest) => current
                .filter(|p| p.digest().hex() == digest)
                .or_else(|| self.retired.iter().find(|p| p.info().name == name && p.digest().hex() == digest))
                .or(current),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.find(name).map(|(plugin, _)| plugin)
    }

    /// The plugin named `name` and where it came from.
    pub fn find(&self, name: &str) -> Option<(&Arc<Plugin>, &Origin)> {
        self.installed.iter().find(|(p, _)| p.info().name == name).map(|(p, origin)| (p, origin))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.installed.iter().map(|(plugin, _)| plugin)
    }

    /// Every plugin with where it came from.
    pub fn installed(&self) -> impl Iterator<Item = (&Arc<Plugin>, &Origin)> {
        self.installed.iter().map(|(plugin, origin)| (plugin, origin))
    }
}

/// Validation resolves task types against exactly the plugins the scheduler dispatches to.
impl sluice_flow::TaskCatalog for Plugins {
    fn plugins(&self) -> Vec<String> {
        self.iter().map(|p| p.info().name.clone()).collect()
    }

    fn tasks_of(&self, plugin: &str) -> Option<Vec<String>> {
        self.get(plugin).map(|p| p.info().tasks.iter().map(|t| t.name.clone()).collect())
    }

    fn task(&self, plugin: &str, task: &str) -> Option<sluice_flow::CatalogTask> {
        let plugin = self.get(plugin)?;
        let info = plugin.info().task(task)?;
        Some(sluice_flow::CatalogTask {
            digest: plugin.digest().hex().to_owned(),
            description: info.description.clone(),
            config_schema: info.config_schema.clone(),
            output_schema: info.output_schema.clone(),
        })
    }
}
