//! A problem found in a flow before (or while) it runs, tied to a node of the document.
//! Positions are resolved through the parse's `SourceMap` when the diagnostic is rendered, so
//! every stage can report by JSON pointer without knowing about YAML.

use serde::Serialize;

use crate::model::Pointer;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The node the problem is about (`/tasks/2/dependsOn/0`); `""` is the whole document.
    pub pointer: Pointer,
    /// Point at the mapping key of the node rather than its value (unknown keys, duplicates).
    pub at_key: bool,
    /// What is wrong, as one sentence without a trailing period.
    pub message: String,
    /// What would fix it ("did you mean `dependsOn`?").
    pub hint: Option<String>,
    /// A position the parser knew directly (YAML syntax errors), 1-based `(line, column)`;
    /// overrides the pointer's position.
    pub position: Option<(usize, usize)>,
}

impl Diagnostic {
    pub fn at(pointer: impl Into<Pointer>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), at_key: false, message: message.into(), hint: None, position: None }
    }

    pub fn at_key(pointer: impl Into<Pointer>, message: impl Into<String>) -> Self {
        Self { at_key: true, ..Self::at(pointer, message) }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
