//! A catalog double for tests: the plugins described in `tests/fixtures/*.json`, in the form
//! `sluice plugin describe <name> --json` prints (core's is the real one, copied).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sluice_flow::{CatalogTask, TaskCatalog};

pub struct FixtureCatalog {
    plugins: BTreeMap<String, Value>,
}

impl FixtureCatalog {
    pub fn load() -> FixtureCatalog {
        let mut plugins = BTreeMap::new();
        for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let plugin: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                plugins.insert(plugin["name"].as_str().unwrap().to_string(), plugin);
            }
        }
        FixtureCatalog { plugins }
    }

    pub fn digest(&self, plugin: &str) -> String {
        self.plugins[plugin]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string()
    }
}

impl TaskCatalog for FixtureCatalog {
    fn plugins(&self) -> Vec<String> {
        self.plugins.keys().cloned().collect()
    }

    fn tasks_of(&self, plugin: &str) -> Option<Vec<String>> {
        let tasks = self.plugins.get(plugin)?["tasks"].as_array()?;
        Some(tasks.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect())
    }

    fn task(&self, plugin: &str, task: &str) -> Option<CatalogTask> {
        let found = self.plugins.get(plugin)?;
        let info = found["tasks"].as_array()?.iter().find(|t| t["name"] == task)?;
        Some(CatalogTask {
            digest: self.digest(plugin),
            description: info["description"].as_str().unwrap().to_string(),
            config_schema: info["configSchema"].clone(),
            output_schema: info["outputSchema"].clone(),
        })
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The workspace's `tests/ui` directory of golden files.
pub fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui")
}
