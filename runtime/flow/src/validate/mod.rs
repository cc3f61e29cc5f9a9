//! Checks on the typed flow that the parse cannot make alone: ids unique across the flow,
//! `dependsOn` between siblings without cycles, plugin tasks that exist with a config their
//! schema accepts, and (through `template`) every templated field.

mod depends;
mod ids;
mod plugins;

use crate::diagnostic::Diagnostic;
use crate::parse::Parsed;

/// What the validator needs to know about the installed plugins.
pub trait TaskCatalog {
    /// The installed plugins' names.
    fn plugins(&self) -> Vec<String>;
    /// The task names of an installed plugin (`log` for `core.log`); `None` if not installed.
    fn tasks_of(&self, plugin: &str) -> Option<Vec<String>>;
    fn task(&self, plugin: &str, task: &str) -> Option<CatalogTask>;
}

/// One task type of an installed plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTask {
    /// Hex sha256 of the plugin's component.
    pub digest: String,
    pub description: String,
    /// JSON Schema of the task's config (the non-common keys of the task).
    pub config_schema: serde_json::Value,
    pub output_schema: serde_json::Value,
}

/// Every problem found; empty when the flow may run.
pub fn validate(parsed: &Parsed, catalog: &dyn TaskCatalog) -> Vec<Diagnostic> {
    let flow = &parsed.flow;
    let mut out = Vec::new();
    ids::check(flow, &parsed.source, &mut out);
    depends::check(flow, &mut out);
    plugins::check(flow, catalog, &mut out);
    out.extend(crate::template::check_flow(flow));
    out
}
