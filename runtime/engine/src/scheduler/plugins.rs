//! The installed plugins by name, as the scheduler dispatches to them.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_sandbox::Plugin;

/// Installed plugins, one per name.
#[derive(Clone, Default)]
pub struct Plugins {
    by_name: BTreeMap<String, Arc<Plugin>>,
}

impl Plugins {
    /// Fails with the name when two plugins share it: a task type must resolve to one component.
    pub fn new(plugins: impl IntoIterator<Item = Arc<Plugin>>) -> Result<Self, String> {
        let mut by_name = BTreeMap::new();
        for plugin in plugins {
            let name = plugin.info().name.clone();
            if by_name.insert(name.clone(), plugin).is_some() {
                return Err(format!("two installed plugins are named `{name}`; remove one of them"));
            }
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.by_name.values()
    }
}

/// Validation resolves task types against exactly the plugins the scheduler dispatches to.
impl sluice_flow::TaskCatalog for Plugins {
    fn plugins(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
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
