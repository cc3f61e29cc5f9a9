//! YAML text -> typed [`Flow`], with every problem of the file collected at once.

mod flow;
mod input;
pub(crate) mod keys;
mod policy;
pub(crate) mod reader;
pub(crate) mod task;
pub(crate) mod trigger;
mod yaml;

use crate::diagnostic::Diagnostic;
use crate::model::Flow;
use crate::source_map::SourceMap;

pub(crate) use input::{item_type_names as input_item_type_names, type_names as input_type_names};

/// A flow read from a file, with where each of its nodes is in that file.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub flow: Flow,
    pub source: SourceMap,
}

/// Parses a flow file. On error, every problem found is returned (render them with
/// [`crate::render`], which sorts them by position).
pub fn parse(file_name: &str, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let (parsed, diagnostics) = parse_partial(file_name, text);
    match parsed {
        Some(parsed) if diagnostics.is_empty() => Ok(parsed),
        _ => Err(diagnostics),
    }
}

/// The flow as far as it could be read (broken parts replaced by placeholders, so that later
/// checks can still report on the rest), and the problems found. `None` when the text is not
/// YAML or not a mapping.
pub(crate) fn parse_partial(file_name: &str, text: &str) -> (Option<Parsed>, Vec<Diagnostic>) {
    let source = SourceMap::new(file_name, text);
    let document = match yaml::load(&source) {
        Ok(document) => document,
        Err(diagnostics) => return (None, diagnostics),
    };
    let mut reader = reader::Reader::default();
    let flow = flow::flow(&mut reader, &document);
    (flow.map(|flow| Parsed { flow, source }), reader.diagnostics)
}
