//! Parse + validate: the locked flow, the only form the engine reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::model::{Flow, TaskKind};
use crate::parse::parse_partial;
use crate::source_map::SourceMap;
use crate::validate::{TaskCatalog, validate};

/// A valid flow with every plugin task resolved to the digest of the installed component.
#[derive(Debug, Clone)]
pub struct LockedFlow {
    pub flow: Arc<Flow>,
    pub source: Arc<SourceMap>,
    /// Task id -> hex sha256 of the component that runs it, for every plugin task.
    pub digests: BTreeMap<String, String>,
}

/// Parses and validates a flow file. All the problems found are returned together: those of
/// the parse, and those of the validation of what could be parsed.
pub fn load(file_name: &str, text: &str, catalog: &dyn TaskCatalog) -> Result<LockedFlow, Vec<Diagnostic>> {
    let (parsed, mut diagnostics) = parse_partial(file_name, text);
    let Some(parsed) = parsed else { return Err(diagnostics) };
    diagnostics.extend(validate(&parsed, catalog));
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut digests = BTreeMap::new();
    for task in parsed.flow.all_tasks() {
        if let TaskKind::Plugin { task_type, .. } = &task.kind
            && let Some(found) = catalog.task(&task_type.plugin, &task_type.task)
        {
            digests.insert(task.id.clone(), found.digest);
        }
    }
    Ok(LockedFlow { flow: Arc::new(parsed.flow), source: Arc::new(parsed.source), digests })
}
